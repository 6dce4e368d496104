import { sourcePlan } from "../SourcePlan.js"

/**
 * What a sync of a Plane workspace walks, in order (plane-api.md): its projects, then per
 * project the small lists (states, labels, cycles, modules; cycles and modules keep archived
 * rows in a list of their own) and the work items, the only list long enough to page through
 * and the only one Plane sorts by `updated_at`, so the only one an incremental sync narrows.
 */
export const PLANE_PLAN = sourcePlan({
  sourceName: "Plane",
  streams: [
    { name: "projects", scope: "workspace", fetch: "paged", incremental: null, archivedFeed: false, typicalPerProject: 1 },
    { name: "states", scope: "project", fetch: "whole", incremental: null, archivedFeed: false, typicalPerProject: 5 },
    { name: "labels", scope: "project", fetch: "whole", incremental: null, archivedFeed: false, typicalPerProject: 4 },
    { name: "cycles", scope: "project", fetch: "whole", incremental: null, archivedFeed: true, typicalPerProject: 3 },
    { name: "modules", scope: "project", fetch: "whole", incremental: null, archivedFeed: true, typicalPerProject: 2 },
    { name: "work_items", scope: "project", fetch: "paged", incremental: "updated_at", archivedFeed: false, typicalPerProject: 100 }
  ],
  // An archived project's lists are read-only history; a public project the key's owner has not
  // joined lists but answers its items with 403s.
  unwalked: (project) =>
    project.archived
      ? { level: "info", message: `Project ${project.id} is archived: its items are not walked` }
      : project.payload.is_member === false
      ? { level: "warn", message: `Project ${project.id} is public but the API key's owner is not a member: skipped` }
      : null
})

export type PlaneEntity = (typeof PLANE_PLAN.streams)[number]["name"]
