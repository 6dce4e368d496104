import { SqlClient } from "@effect/sql"
import { Effect } from "effect"
import { IN_PROGRESS_STATUSES, type JobStatus, type JobType } from "../domain/job.js"
import type { IntegrationDoc } from "./integrationProjection.js"
import type { JobDoc } from "./jobProjection.js"
import { committedReader, committedRows } from "./ReadConnection.js"
import { integrationDocFrom, jobDocFrom, systemDocFrom } from "./viewDocs.js"

interface JobFilter {
  readonly statuses?: ReadonlyArray<JobStatus>
  readonly integrationId?: string
  readonly type?: JobType
  readonly limit: number
  readonly offset: number
}

/** A job's id and the version of its view (its doc's `version`). */
export interface JobVersion {
  readonly id: string
  readonly version: number
}

// Each doc is checked as it is read (viewDocs.ts): a malformed one is a CorruptView defect.
const parseJob = (row: { doc: string }) => jobDocFrom(row.doc)
const parseIntegration = (row: { doc: string }) => integrationDocFrom(row.doc)

/**
 * Docs checked once per text: the status endpoint reads every integration's doc and every
 * in-progress job's on each request, and mostly reads the same texts again. A doc whose row
 * holds the text it was checked from is the doc it was (the text is compared whole, so any
 * change to the row, a hand edit included, is parsed and checked anew). The docs are shared:
 * read only (the projections fold copies of their own). Bounded: it starts over past `capacity`.
 */
const checkedOnce = <A>(read: (text: string) => A, capacity: number) => {
  const seen = new Map<string, { readonly text: string; readonly doc: A }>()
  return (row: { readonly id: string; readonly doc: string }): A => {
    const hit = seen.get(row.id)
    if (hit !== undefined && hit.text === row.doc) return hit.doc
    const doc = read(row.doc)
    if (seen.size >= capacity) seen.clear()
    seen.set(row.id, { text: row.doc, doc })
    return doc
  }
}

/**
 * Read side: the job, integration and system views. The one reader of their docs (the event
 * store reads through it too). Deleted jobs and removed integrations are in no list.
 */
export class Views extends Effect.Service<Views>()("synclog/Views", {
  effect: Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    // The API's reads (below: the job list and detail, the status) run on the read connection
    // when the store has one (ReadConnection.ts): committed state, never inside a transaction.
    const committed = yield* committedReader
    const committedIntegration = checkedOnce(integrationDocFrom, 10_000)
    const committedJob = checkedOnce(jobDocFrom, 1_000)

    const job = (id: string) =>
      Effect.map(sql<{ doc: string }>`SELECT doc FROM jobs WHERE id = ${id} AND deleted = 0`, (rows) =>
        rows[0] ? parseJob(rows[0]) : undefined)

    /** Includes deleted jobs: their events and (unless erased) logs stay readable for audit. */
    const jobIncludingDeleted = (id: string) =>
      Effect.map(sql<{ doc: string }>`SELECT doc FROM jobs WHERE id = ${id}`, (rows) =>
        rows[0] ? parseJob(rows[0]) : undefined)

    const where = (filter: Omit<JobFilter, "limit" | "offset">) => {
      const clauses: Array<ReturnType<typeof sql.in>> = [sql.unsafe("deleted = 0")]
      if (filter.statuses && filter.statuses.length > 0) clauses.push(sql.in("status", filter.statuses))
      if (filter.integrationId !== undefined) clauses.push(sql`integration_id = ${filter.integrationId}`)
      if (filter.type !== undefined) clauses.push(sql`type = ${filter.type}`)
      return sql.and(clauses)
    }

    /** `total` from the projection's counts: no scan of the job history. */
    const countJobs = (filter: Omit<JobFilter, "limit" | "offset">, rows: typeof committed = undefined) => {
      const clauses = []
      if (filter.statuses && filter.statuses.length > 0) clauses.push(sql.in("status", filter.statuses))
      if (filter.integrationId !== undefined) clauses.push(sql`integration_id = ${filter.integrationId}`)
      if (filter.type !== undefined) clauses.push(sql`type = ${filter.type}`)
      return Effect.map(
        committedRows(rows, sql<{ n: number | null }>`SELECT SUM(n) AS n FROM job_counts ${clauses.length > 0 ? sql`WHERE ${sql.and(clauses)}` : sql``}`),
        (r) => r[0]?.n ?? 0
      )
    }

    /** Newest first (ids are time-sortable); `total` counts every match. */
    const jobs = (filter: JobFilter) =>
      Effect.all({
        docs: Effect.map(
          sql<{ doc: string }>`SELECT doc FROM jobs WHERE ${where(filter)} ORDER BY id DESC LIMIT ${filter.limit} OFFSET ${filter.offset}`,
          (rows) => rows.map(parseJob)
        ),
        total: countJobs(filter)
      })

    /**
     * As `jobs`, but only each job's id and view version (no doc): the API presents each
     * (id, version) once and reuses the JSON; `jobDocs` reads the docs it has not seen.
     * Committed state (see `committed` above), like the other reads of the API's hot path.
     */
    const jobVersions = (filter: JobFilter) =>
      Effect.zipWith(
        committedRows(
          committed,
          sql<JobVersion>`SELECT id, version FROM jobs WHERE ${where(filter)} ORDER BY id DESC LIMIT ${filter.limit} OFFSET ${filter.offset}`
        ),
        countJobs(filter, committed),
        (rows, total) => ({ rows, total })
      )

    /** One job's id and view version (see `jobVersions`). */
    const jobVersion = (id: string) =>
      Effect.map(committedRows(committed, sql<JobVersion>`SELECT id, version FROM jobs WHERE id = ${id} AND deleted = 0`), (rows) => rows[0])

    /** Docs by id (any that exist), committed state. */
    const jobDocs = (ids: ReadonlyArray<string>) =>
      ids.length === 0
        ? Effect.succeed(new Map<string, JobDoc>())
        : Effect.map(
          committedRows(committed, sql<{ doc: string }>`SELECT doc FROM jobs WHERE ${sql.in("id", ids)}`),
          (rows) =>
            new Map(rows.map((row) => {
              const doc = parseJob(row)
              return [doc.id, doc] as const
            }))
        )

    /** Jobs waiting to run, in the order they were queued (ids only: the dispatcher reads it often). */
    const queued = Effect.map(
      sql<{ id: string; integration_id: string }>`SELECT id, integration_id FROM jobs
        WHERE status = 'queued' ORDER BY queued_at, id`,
      (rows) => rows.map((r) => ({ id: r.id, integrationId: r.integration_id }))
    )

    const withStatus = (statuses: ReadonlyArray<JobStatus>, integrationId?: string) =>
      Effect.map(
        sql<{ doc: string }>`SELECT doc FROM jobs WHERE ${sql.in("status", statuses)}
          ${integrationId === undefined ? sql`` : sql`AND integration_id = ${integrationId}`} ORDER BY id`,
        (rows) => rows.map(parseJob)
      )

    /** The job an integration is busy with: running or stopping first, else the next queued. */
    const currentJob = (integrationId: string) =>
      Effect.map(
        sql<{ doc: string }>`SELECT doc FROM jobs WHERE integration_id = ${integrationId}
          AND ${sql.in("status", IN_PROGRESS_STATUSES)}
          ORDER BY CASE status WHEN 'queued' THEN 1 ELSE 0 END, queued_at LIMIT 1`,
        (rows) => (rows[0] ? parseJob(rows[0]) : undefined)
      )

    /**
     * Every integration's current job (as `currentJob`), in one query: active jobs are few.
     * Committed state, for the status endpoint; each doc checked once per text (`checkedOnce`).
     */
    const currentJobs = Effect.map(
      committedRows(
        committed,
        sql<{ id: string; doc: string }>`SELECT id, doc FROM jobs WHERE ${sql.in("status", IN_PROGRESS_STATUSES)}
          ORDER BY CASE status WHEN 'queued' THEN 1 ELSE 0 END, queued_at`
      ),
      (rows) => {
        const byIntegration = new Map<string, JobDoc>()
        for (const row of rows) {
          const doc = committedJob(row)
          if (!byIntegration.has(doc.integrationId)) byIntegration.set(doc.integrationId, doc)
        }
        return byIntegration
      }
    )

    /** The integration's newest job that is not deleted. */
    const latestJob = (integrationId: string) =>
      Effect.map(
        sql<{ doc: string }>`SELECT doc FROM jobs WHERE integration_id = ${integrationId} AND deleted = 0
          ORDER BY id DESC LIMIT 1`,
        (rows) => (rows[0] ? parseJob(rows[0]) : undefined)
      )

    /** Includes a removed integration: its view stays for audit, replay and a later re-creation. */
    const integrationIncludingRemoved = (id: string) =>
      Effect.map(sql<{ doc: string }>`SELECT doc FROM integrations WHERE id = ${id}`, (rows) =>
        rows[0] ? parseIntegration(rows[0]) : undefined)

    const integrationsIncludingRemoved = Effect.map(
      sql<{ doc: string }>`SELECT doc FROM integrations ORDER BY id`,
      (rows) => rows.map(parseIntegration)
    )

    /** Removed integrations are in neither of these. */
    const integration = (id: string) =>
      Effect.map(integrationIncludingRemoved(id), (doc) => (doc?.removed === true ? undefined : doc))

    const integrations = Effect.map(integrationsIncludingRemoved, (docs) => docs.filter((doc) => !doc.removed))

    /**
     * As `integrations`, as committed, for the API's reads outside any transaction (the status,
     * the settings): each doc checked once per text (`checkedOnce`).
     */
    const committedIntegrations = Effect.map(
      committedRows(committed, sql<{ id: string; doc: string }>`SELECT id, doc FROM integrations ORDER BY id`),
      (rows) => {
        const docs: Array<IntegrationDoc> = []
        for (const row of rows) {
          const doc = committedIntegration(row)
          if (!doc.removed) docs.push(doc)
        }
        return docs
      }
    )

    /** The system view (when the config was last read), if the system stream has an event. */
    const system = Effect.map(
      sql<{ doc: string }>`SELECT doc FROM system_view WHERE key = 'system'`,
      (rows) => (rows[0] ? systemDocFrom(rows[0].doc) : undefined)
    )

    return {
      job,
      jobIncludingDeleted,
      jobs,
      jobVersions,
      jobVersion,
      jobDocs,
      queued,
      withStatus,
      currentJob,
      currentJobs,
      latestJob,
      integration,
      integrationIncludingRemoved,
      integrations,
      committedIntegrations,
      integrationsIncludingRemoved,
      system
    } as const
  })
}) {}
