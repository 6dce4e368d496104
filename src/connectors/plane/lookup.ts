import { Effect } from "effect"
import type { EntityType } from "../../domain/entities.js"
import type { Lookup, PageRequest, SourceError, SourcePage } from "../Connector.js"
import type { PlaneClient } from "./client.js"
import { hasArchivedList, type Routes } from "./routes.js"
import { isSourceRecord, toSourceRecord } from "./schemas.js"

/** Single records by id, for the finalizing sweep: found, gone, hidden from the key, or invalid. */
export const makeLookup = (
  client: PlaneClient,
  routes: Routes,
  listPage: (req: PageRequest) => Effect.Effect<SourcePage, SourceError>
) => {
  const { checkStatus, getJson } = client

  /** Plane's cycle and module details answer 404 for archived ones: look in the archived list. */
  const findArchived = (entity: EntityType, projectId: string, id: string) =>
    Effect.gen(function*() {
      for (let page = 0; ; page++) {
        const result = yield* listPage({ entity, projectId, feed: "archived", page, perPage: 100, order: "created" })
        const found = result.records.find((r) => r.id === id)
        if (found) return { _tag: "Found", record: found } as const
        if (!result.hasMore) return { _tag: "Gone" } as const
      }
    }).pipe(Effect.catchTag("SourceNotFound", (e) => e.scope === "project" ? Effect.succeed({ _tag: "Gone" } as const) : Effect.fail(e)))

  /**
   * Whether the key's owner is not a member of a project. Plane answers the labels of such a
   * project with an empty list and 404s instead of a 403: a missing label there is hidden,
   * not deleted.
   */
  const notAMember = (projectId: string) =>
    Effect.map(
      Effect.flatMap(getJson(routes.projectUrl(projectId), {}), checkStatus),
      (reply) => reply.status === 200 && (reply.body as { is_member?: unknown } | null)?.is_member === false
    )

  return (entity: EntityType, projectId: string, id: string): Effect.Effect<Lookup, SourceError> =>
    Effect.gen(function*() {
      const reply = yield* Effect.flatMap(getJson(routes.detailUrl(entity, projectId, id), {}), checkStatus)
      if (reply.status === 404) {
        if (hasArchivedList(entity)) return yield* findArchived(entity, projectId, id)
        if (entity === "labels" && (yield* notAMember(projectId))) return { _tag: "Hidden" } as const
        return { _tag: "Gone" } as const
      }
      const r = toSourceRecord(entity, reply.body)
      return isSourceRecord(r) ? { _tag: "Found", record: r } as const : { _tag: "Invalid", invalid: r } as const
    }).pipe(
      // The key may no longer read the record's project (or workspace): Plane hid it, it did
      // not delete it, so the mirror keeps it as it was.
      Effect.catchTag("SourceForbidden", () => Effect.succeed({ _tag: "Hidden" } as const))
    )
}
