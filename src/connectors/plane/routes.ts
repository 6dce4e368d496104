import type { EntityType } from "../../domain/entities.js"
import type { Feed } from "../SourcePlan.js"
import { PLANE_PLAN } from "./plan.js"

/** Each entity's path segment under a project (plane-api.md §2). */
const segment: Record<EntityType, string> = {
  projects: "projects",
  states: "states",
  labels: "labels",
  cycles: "cycles",
  modules: "modules",
  work_items: "work-items"
}

/** The lists of archived rows, for the streams the plan says have them (archived-cycles/, archived-modules/). */
const archivedSegment: Partial<Record<EntityType, string>> = Object.fromEntries(
  PLANE_PLAN.streams.filter((s) => s.archivedFeed).map((s) => [s.name, `archived-${segment[s.name]}`])
)

export const hasArchivedList = (entity: EntityType) => archivedSegment[entity] !== undefined

/**
 * The URLs of one workspace's lists and records. `work-items/` falls back to `issues/` for
 * good once a CE version without it answered 404 (plane-api.md §2).
 */
export const makeRoutes = (baseUrl: string, workspaceSlug: string) => {
  const base = `${baseUrl.replace(/\/+$/, "")}/api/v1/workspaces/${encodeURIComponent(workspaceSlug)}`
  let workItems = segment.work_items
  const segmentOf = (entity: EntityType) => (entity === "work_items" ? workItems : segment[entity])

  return {
    listUrl: (entity: EntityType, projectId: string | null, feed: Feed) =>
      entity === "projects"
        ? `${base}/projects/`
        : `${base}/projects/${projectId}/${feed === "archived" ? archivedSegment[entity]! : segmentOf(entity)}/`,
    detailUrl: (entity: EntityType, projectId: string, id: string) =>
      entity === "projects" ? `${base}/projects/${id}/` : `${base}/projects/${projectId}/${segmentOf(entity)}/${id}/`,
    projectUrl: (projectId: string) => `${base}/projects/${projectId}/`,
    /** Switches work items to `issues/`; false when it already had. */
    fallBackToIssues: () => {
      if (workItems === "issues") return false
      workItems = "issues"
      return true
    }
  }
}

export type Routes = ReturnType<typeof makeRoutes>
