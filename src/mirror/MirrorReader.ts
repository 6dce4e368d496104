import { SqlClient } from "@effect/sql"
import { Effect } from "effect"
import { normalizeTimestamp } from "../connectors/timestamps.js"
import type { MirroredRecord as MirroredRecordOf } from "../domain/apiShapes.js"
import { type EntityType, WORKSPACE_ENTITY } from "../domain/entities.js"
import { ValidationError } from "../domain/errors.js"
import type { MirrorRow } from "./Mirror.js"

export interface RecordQuery {
  readonly integrationId: string
  readonly entity: EntityType
  /** An ISO-8601 date-time (any zone); only records whose source `updated_at` is at or after it. */
  readonly updatedSince?: string | undefined
  readonly includeDeleted: boolean
  readonly limit: number
  /** The previous page's `nextCursor`, unchanged (none for the first page). */
  readonly cursor?: string | undefined
}

export type MirroredRecord = MirroredRecordOf<EntityType>

const toRecord = (row: MirrorRow): MirroredRecord => ({
  entity: row.entity as EntityType,
  id: row.source_id,
  projectId: row.entity === WORKSPACE_ENTITY ? null : row.project_id,
  updatedAt: row.source_updated_at,
  firstSeenAt: row.first_seen_at,
  lastSeenAt: row.last_seen_at,
  archivedAt: row.archived_at,
  deletedAt: row.deleted_at,
  payload: JSON.parse(row.payload)
})

/** Cursors are opaque to clients: the last id of a page, base64url-encoded with a version tag. */
const encodeCursor = (id: string) => Buffer.from(`v1:${id}`).toString("base64url")
const decodeCursor = (s: string): string | undefined => {
  const text = Buffer.from(s, "base64url").toString("utf8")
  return text.startsWith("v1:") && text.length > 3 ? text.slice(3) : undefined
}

/** Reading the mirror for users: ordered by source id (the unique key), with a keyset cursor. */
export class MirrorReader extends Effect.Service<MirrorReader>()("synclog/MirrorReader", {
  effect: Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient

    const filter = (q: RecordQuery) =>
      sql.and([
        sql`integration_id = ${q.integrationId}`,
        sql`entity = ${q.entity}`,
        ...(q.includeDeleted ? [] : [sql`deleted_at IS NULL`]),
        ...(q.updatedSince !== undefined ? [sql`source_updated_at >= ${q.updatedSince}`] : [])
      ])

    /** A page of records; the filters are checked as the API checks them (ValidationError). */
    const list = (query: RecordQuery) =>
      Effect.gen(function*() {
        // Mirror times are normalised UTC strings, so the bound must be one too to compare.
        const updatedSince = query.updatedSince === undefined ? undefined : normalizeTimestamp(query.updatedSince)
        if (updatedSince === null) {
          return yield* Effect.fail(
            new ValidationError({
              message: `updatedSince must be an ISO-8601 date-time such as 2024-01-01T12:00:00.000Z; got '${query.updatedSince}'`,
              issues: [{ path: "updatedSince", message: "expected an ISO-8601 date-time" }]
            })
          )
        }
        const q: RecordQuery = { ...query, updatedSince }
        const lastId = q.cursor === undefined ? undefined : decodeCursor(q.cursor)
        if (q.cursor !== undefined && lastId === undefined) {
          return yield* Effect.fail(
            new ValidationError({
              message: "cursor is not one this API returned; pass nextCursor from the previous page unchanged",
              issues: [{ path: "cursor", message: "unrecognised cursor" }]
            })
          )
        }
        const after = lastId !== undefined ? sql`AND source_id > ${lastId}` : sql``
        const rows = yield* sql<MirrorRow>`SELECT * FROM mirror_records WHERE ${filter(q)} ${after}
          ORDER BY source_id LIMIT ${q.limit + 1}`
        const [{ n }] = yield* sql<{ n: number }>`SELECT COUNT(*) AS n FROM mirror_records WHERE ${filter(q)}`
        const page = rows.slice(0, q.limit)
        const last = page[page.length - 1]
        return {
          records: page.map(toRecord),
          total: n!,
          nextCursor: rows.length > q.limit && last ? encodeCursor(last.source_id) : null
        }
      })

    const get = (integrationId: string, entity: EntityType, id: string) =>
      Effect.map(
        sql<MirrorRow>`SELECT * FROM mirror_records WHERE integration_id = ${integrationId} AND entity = ${entity} AND source_id = ${id}`,
        (rows) => (rows[0] ? toRecord(rows[0]) : undefined)
      )

    return { list, get } as const
  })
}) {}
