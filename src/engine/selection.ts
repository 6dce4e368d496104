import type { EntityType } from "../domain/entities.js"
import type { IntegrationSettings } from "../domain/events.js"

/** The selection fields of a job request, and of an integration's default `selection`. */
export interface Selection {
  readonly entities?: ReadonlyArray<EntityType> | undefined
  readonly excludeEntities?: ReadonlyArray<EntityType> | undefined
  readonly projects?: ReadonlyArray<string> | undefined
  readonly excludeProjects?: ReadonlyArray<string> | undefined
}

const SELECTION_FIELDS = ["entities", "excludeEntities", "projects", "excludeProjects"] as const

/** The selection fields a request names itself. */
export const namedSelectionFields = (requested: Selection) => SELECTION_FIELDS.filter((k) => requested[k] !== undefined)

/**
 * Which selection a job walks: its own when it names any selection field (the integration's
 * default is then ignored as a whole, so a job's selection reads the same on every
 * integration), else the integration's default `selection`, else everything.
 */
export const chooseSelection = (
  requested: Selection,
  settings: IntegrationSettings
): { readonly selection: Selection; readonly from: "job" | "integration" | "none" } => {
  if (namedSelectionFields(requested).length > 0) return { selection: requested, from: "job" }
  if (settings.selection !== undefined) return { selection: settings.selection, from: "integration" }
  return { selection: {}, from: "none" }
}

/** A log line naming a default selection, so the job's logs say why it walked a subset. */
export const describeSelection = (s: Selection): string =>
  [
    s.entities ? `entities ${s.entities.join(", ")}` : undefined,
    s.excludeEntities ? `without ${s.excludeEntities.join(", ")}` : undefined,
    s.projects ? `projects ${s.projects.join(", ")}` : undefined,
    s.excludeProjects ? `excluding projects ${s.excludeProjects.join(", ")}` : undefined
  ].filter((part) => part !== undefined).join("; ")
