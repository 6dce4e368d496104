// Slightly over 300 lines: the mirror's one write path (batched upserts, seen-marks, deletion sweep) with the SQL it caches.
import { SqlClient } from "@effect/sql"
import { Effect } from "effect"
import { hash } from "node:crypto"
import type { SourceRecord } from "../connectors/Connector.js"
import type { EntityType } from "../domain/entities.js"

interface ApplyResult {
  readonly created: number
  readonly updated: number
  readonly unchanged: number
}

interface ApplyInput {
  readonly integrationId: string
  readonly entity: EntityType
  readonly jobId: string
  readonly at: string
  readonly includeArchived: boolean
  readonly records: ReadonlyArray<SourceRecord>
  /**
   * Mark unchanged records as seen by this job. Full and selective syncs need the marks to
   * find what they did not see; an incremental sync does not, and skips rewriting the rows.
   */
  readonly markSeen: boolean
  /**
   * The caller expects none of these records in the mirror (the entity had no rows when the
   * run started). They are inserted without looking them up first; any that turn out to exist
   * (a row seen twice when offset pages shift) take the normal path and are counted by it.
   */
  readonly expectNew?: boolean
}

export interface MirrorRow {
  readonly integration_id: string
  readonly entity: string
  readonly source_id: string
  readonly project_id: string | null
  readonly payload: string
  readonly hash: string
  readonly source_updated_at: string | null
  readonly first_seen_at: string
  readonly last_seen_at: string
  readonly last_seen_job: string
  readonly archived_at: string | null
  readonly deleted_at: string | null
}

interface Candidate {
  readonly sourceId: string
  readonly projectId: string
}

// The one-shot form: no Hash object per record.
const hashOf = (json: string) => hash("sha1", json, "base64url")

/**
 * The hot statements of a page, as SQL text per row count (memoised): a page of 1000 records
 * builds no query with the tagged-template compiler, it only binds parameters.
 */
const memo = (build: (n: number) => string) => {
  const cache = new Map<number, string>()
  return (n: number) => {
    let text = cache.get(n)
    if (text === undefined) cache.set(n, (text = build(n)))
    return text
  }
}
const marks = (n: number, width: number) => {
  const one = `(${Array(width).fill("?").join(", ")})`
  return Array(n).fill(one).join(", ")
}
const COLUMNS = [
  "integration_id",
  "entity",
  "source_id",
  "project_id",
  "payload",
  "hash",
  "source_updated_at",
  "first_seen_at",
  "last_seen_at",
  "last_seen_job",
  "archived_at",
  "deleted_at"
] as const
const upsertSql = memo((n) =>
  `INSERT INTO mirror_records (${COLUMNS.join(", ")}) VALUES ${marks(n, COLUMNS.length)}
   ON CONFLICT (integration_id, entity, source_id) DO UPDATE SET
     project_id = excluded.project_id, payload = excluded.payload, hash = excluded.hash,
     source_updated_at = excluded.source_updated_at, last_seen_at = excluded.last_seen_at,
     last_seen_job = excluded.last_seen_job, archived_at = excluded.archived_at, deleted_at = NULL,
     first_seen_at = CASE WHEN mirror_records.deleted_at IS NULL THEN mirror_records.first_seen_at ELSE excluded.first_seen_at END`
)
const insertNewSql = memo((n) =>
  `INSERT INTO mirror_records (${COLUMNS.join(", ")}) VALUES ${marks(n, COLUMNS.length)}
   ON CONFLICT (integration_id, entity, source_id) DO NOTHING RETURNING source_id`
)
const existingSql = memo((n) =>
  `SELECT source_id, hash, archived_at, deleted_at FROM mirror_records
   WHERE integration_id = ? AND entity = ? AND source_id IN (${Array(n).fill("?").join(", ")})`
)
const touchSql = memo((n) =>
  `UPDATE mirror_records SET last_seen_at = ?, last_seen_job = ?
   WHERE integration_id = ? AND entity = ? AND source_id IN (${Array(n).fill("?").join(", ")})`
)

/** SQLite allows 32766 bound variables; stay well below with chunks. */
const CHUNK = 500

/**
 * The local copy of the source: the latest payload of every record per integration and entity
 * type, with a content hash, first/last seen and tombstones. Every write happens inside the
 * caller's transaction, next to the BatchCommitted event that counts it.
 */
export class Mirror extends Effect.Service<Mirror>()("synclog/Mirror", {
  effect: Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient

    const existing = (integrationId: string, entity: EntityType, ids: ReadonlyArray<string>) =>
      Effect.map(
        Effect.forEach(chunks(ids), (part) =>
          sql.unsafe<{ source_id: string; hash: string; archived_at: string | null; deleted_at: string | null }>(
            existingSql(part.length),
            [integrationId, entity, ...part]
          )),
        (parts) => new Map(parts.flat().map((row) => [row.source_id, row]))
      )

    /**
     * Applies one page. New records are created; records whose content changed (or that come
     * back after a tombstone) are updated; the rest only get their last-seen marks. Archived
     * records outside `includeArchived` are marked archived and keep their last payload.
     */
    const apply = (input: ApplyInput): Effect.Effect<ApplyResult, import("@effect/sql").SqlError.SqlError> =>
      Effect.gen(function*() {
        const { at, entity, integrationId, jobId } = input
        const byId = new Map<string, SourceRecord>()
        for (const r of input.records) byId.set(r.id, r)
        if (byId.size === 0) return { created: 0, updated: 0, unchanged: 0 }
        if (input.expectNew) {
          const inserted = yield* insertNew(input, byId)
          if (byId.size === 0) return { created: inserted, updated: 0, unchanged: 0 }
          // Some were there after all: the rest go through the lookup below.
          const rest = yield* apply({ ...input, records: [...byId.values()], expectNew: false })
          return { created: inserted + rest.created, updated: rest.updated, unchanged: rest.unchanged }
        }
        const known = yield* existing(integrationId, entity, [...byId.keys()])
        let created = 0
        let updated = 0
        const upserts: Array<ReadonlyArray<unknown>> = []
        const touched: Array<string> = []
        const archivedNow: Array<string> = []
        for (const r of byId.values()) {
          const row = known.get(r.id)
          if (r.archived && !input.includeArchived) {
            if (row === undefined) continue
            if (row.archived_at === null && row.deleted_at === null) {
              archivedNow.push(r.id)
              updated++
            } else touched.push(r.id)
            continue
          }
          const json = JSON.stringify(r.payload)
          const hash = hashOf(json)
          const archivedAt = r.archived ? String(r.payload.archived_at) : null
          if (row === undefined || row.deleted_at !== null) created++
          else if (row.hash !== hash || row.archived_at !== archivedAt) updated++
          else {
            touched.push(r.id)
            continue
          }
          // In COLUMNS order.
          upserts.push([integrationId, entity, r.id, r.projectId, json, hash, r.updatedAt, at, at, jobId, archivedAt, null])
        }
        for (const part of chunks(upserts, Math.floor(CHUNK / 2))) {
          yield* sql.unsafe(upsertSql(part.length), part.flat())
        }
        if (input.markSeen) yield* touch(integrationId, entity, touched, at, jobId)
        for (const part of chunks(archivedNow)) {
          yield* sql`UPDATE mirror_records SET archived_at = ${at}, last_seen_at = ${at}, last_seen_job = ${jobId}
            WHERE integration_id = ${integrationId} AND entity = ${entity} AND ${sql.in("source_id", part)}`
        }
        return { created, updated, unchanged: byId.size - created - updated }
      })

    /**
     * Inserts the page's active records that are not in the mirror yet and removes them from
     * `byId`; returns how many were inserted. Archived ones (outside `includeArchived`) stay
     * in `byId` for the normal path, which knows what to do with them.
     */
    const insertNew = (input: ApplyInput, byId: Map<string, SourceRecord>) =>
      Effect.gen(function*() {
        const { at, entity, integrationId, jobId } = input
        const rowsPerStatement = Math.floor(CHUNK / 2)
        let inserted = 0
        let params: Array<unknown> = []
        let rows = 0
        const flush = Effect.suspend(() => {
          const statement = sql.unsafe<{ source_id: string }>(insertNewSql(rows), params)
          params = []
          rows = 0
          return Effect.map(statement, (done) => {
            for (const row of done) byId.delete(row.source_id)
            inserted += done.length
          })
        })
        // Parameters are laid out flat as they are made (in COLUMNS order): no array per row.
        for (const r of [...byId.values()]) {
          if (r.archived) continue
          const json = JSON.stringify(r.payload)
          params.push(integrationId, entity, r.id, r.projectId, json, hashOf(json), r.updatedAt, at, at, jobId, null, null)
          if (++rows === rowsPerStatement) yield* flush
        }
        if (rows > 0) yield* flush
        return inserted
      })

    /**
     * Records a full or selective walk did not see: candidates for deletion, to be confirmed
     * at the source before anything is tombstoned (offset pagination can skip rows). A record
     * another job saw after this job first started (a job that ran while this one was paused,
     * or beside it) was in the source then too, as those this walk saw before its pause: it is
     * not a candidate, or the sweep would look it up and count it a second time.
     */
    const unseen = (input: {
      readonly integrationId: string
      readonly entity: EntityType
      readonly jobId: string
      /** When the job first started (its marks, and other jobs' later ones, count as seen). */
      readonly startedAt: string
      readonly projects?: ReadonlyArray<string> | undefined
      readonly excludeProjects?: ReadonlyArray<string> | undefined
      readonly includeArchived: boolean
      readonly limit: number
    }) =>
      Effect.map(
        sql<{ source_id: string; project_id: string | null }>`
          SELECT source_id, project_id FROM mirror_records
          WHERE integration_id = ${input.integrationId} AND entity = ${input.entity}
            AND deleted_at IS NULL AND last_seen_job != ${input.jobId} AND last_seen_at < ${input.startedAt}
            ${input.includeArchived ? sql`` : sql`AND archived_at IS NULL`}
            ${input.projects === undefined ? sql`` : sql`AND ${sql.in("project_id", input.projects)}`}
            ${input.excludeProjects === undefined || input.excludeProjects.length === 0 ? sql`` : sql`AND project_id NOT IN ${sql.in(input.excludeProjects)}`}
          ORDER BY source_id LIMIT ${input.limit}`,
        (rows): ReadonlyArray<Candidate> => rows.map((r) => ({ sourceId: r.source_id, projectId: r.project_id ?? r.source_id }))
      )

    const tombstone = (integrationId: string, entity: EntityType, ids: ReadonlyArray<string>, at: string, jobId: string) =>
      Effect.forEach(chunks(ids), (part) =>
        sql`UPDATE mirror_records SET deleted_at = ${at}, last_seen_job = ${jobId}
            WHERE integration_id = ${integrationId} AND entity = ${entity} AND deleted_at IS NULL
              AND ${sql.in("source_id", part)}`, { discard: true })

    /** Marks records as seen without changing them (a lookup found them unchanged elsewhere). */
    const touch = (integrationId: string, entity: EntityType, ids: ReadonlyArray<string>, at: string, jobId: string) =>
      Effect.forEach(chunks(ids), (part) => sql.unsafe(touchSql(part.length), [at, jobId, integrationId, entity, ...part]), {
        discard: true
      })

    /**
     * How the mirror holds each project: deleted, archived, hidden (its payload says the key's
     * owner is not a member, so Plane does not show its children to this key) or active. A
     * child of a deleted project needs no lookup to be tombstoned, nor one of an archived or
     * hidden project to be kept.
     */
    const isMemberFalse = sql.onDialectOrElse({
      pg: () => sql.unsafe(`CASE WHEN (payload::jsonb -> 'is_member') = 'false'::jsonb THEN 1 ELSE 0 END`),
      orElse: () => sql.unsafe(`json_extract(payload, '$.is_member') = 0`)
    })
    const projectStates = (integrationId: string) =>
      Effect.map(
        sql<{ source_id: string; deleted_at: string | null; archived_at: string | null; hidden: number | null }>`
          SELECT source_id, deleted_at, archived_at, ${isMemberFalse} AS hidden FROM mirror_records
          WHERE integration_id = ${integrationId} AND entity = 'projects'`,
        (rows) =>
          new Map(
            rows.map((r) =>
              [
                r.source_id,
                r.deleted_at !== null ? "deleted" : r.archived_at !== null ? "archived" : r.hidden === 1 ? "hidden" : "active"
              ] as const
            )
          )
      )

    /** Records per entity type (tombstones included): weights for progress estimates, from an index alone. */
    const counts = (integrationId: string) =>
      Effect.map(
        sql<{ entity: EntityType; n: number }>`SELECT entity, COUNT(*) AS n FROM mirror_records
          WHERE integration_id = ${integrationId} GROUP BY entity`,
        (rows) => Object.fromEntries(rows.map((r) => [r.entity, r.n])) as Partial<Record<EntityType, number>>
      )

    /** Active, non-archived project ids in the mirror. */
    const activeProjects = (integrationId: string) =>
      Effect.map(
        sql<{ source_id: string }>`SELECT source_id FROM mirror_records
          WHERE integration_id = ${integrationId} AND entity = 'projects' AND deleted_at IS NULL AND archived_at IS NULL
          ORDER BY source_id`,
        (rows) => rows.map((r) => r.source_id)
      )

    /** Deletes every mirrored record of an integration (`DELETE /integrations/:id?purgeMirror=true`); how many. */
    const purge = (integrationId: string) =>
      Effect.gen(function*() {
        const rows = yield* sql.onDialectOrElse({
          pg: () =>
            sql<{ n: number }>`WITH gone AS (DELETE FROM mirror_records WHERE integration_id = ${integrationId} RETURNING 1)
              SELECT COUNT(*) AS n FROM gone`,
          orElse: () =>
            Effect.zipRight(
              sql`DELETE FROM mirror_records WHERE integration_id = ${integrationId}`,
              sql<{ n: number }>`SELECT changes() AS n`
            )
        })
        return rows[0]?.n ?? 0
      }).pipe(sql.withTransaction)

    return { apply, unseen, tombstone, touch, projectStates, counts, activeProjects, purge } as const
  })
}) {}

function chunks<A>(items: ReadonlyArray<A>, size = CHUNK): Array<ReadonlyArray<A>> {
  const out: Array<ReadonlyArray<A>> = []
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size))
  return out
}
