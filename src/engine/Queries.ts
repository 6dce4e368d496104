import { SqlClient } from "@effect/sql"
import { Effect } from "effect"
import { AppMode } from "../config/Settings.js"
import { RateLimiter } from "../connectors/RateLimiter.js"
import type { EntityType } from "../domain/entities.js"
import { IntegrationNotFound, JobNotFound, NotReady, type ReadinessReason, RecordNotFound, Unhealthy } from "../domain/errors.js"
import { jobStream } from "../domain/events.js"
import type { JobStatus, JobType } from "../domain/job.js"
import { isoAt } from "../domain/time.js"
import * as Database from "../eventlog/Database.js"
import { EventStore } from "../eventlog/EventStore.js"
import { type JobVersion, Views } from "../eventlog/Views.js"
import { MirrorReader, type RecordQuery } from "../mirror/MirrorReader.js"
import { orDieOnStorage } from "./boundary.js"
import { Integrations } from "./Integrations.js"
import { makeJobJson } from "./jobJson.js"
import { JobLog } from "./JobLog.js"
import { JobSupervisor } from "./JobSupervisor.js"
import { JobWaits } from "./JobWaits.js"
import { Placement } from "./Placement.js"
import { presentIntegration, presentSettings } from "./presenters.js"
import { Scheduler } from "./Scheduler.js"

export interface JobListQuery {
  readonly statuses?: ReadonlyArray<JobStatus> | undefined
  readonly integrationId?: string | undefined
  readonly type?: JobType | undefined
  readonly limit: number
  readonly offset: number
}

/** The latest log lines a job's detail carries. */
const LATEST_LOGS = 100

/**
 * The read side of the engine's front door: everything the API shows, as it shows it (see
 * presenters.ts). Storage failures die here (boundary.ts); the errors left are the API's.
 */
export class Queries extends Effect.Service<Queries>()("synclog/Queries", {
  effect: Effect.gen(function*() {
    const views = yield* Views
    const store = yield* EventStore
    const jobLog = yield* JobLog
    const waits = yield* JobWaits
    const limiter = yield* RateLimiter
    const reader = yield* MirrorReader
    const integrations = yield* Integrations
    const scheduler = yield* Scheduler
    const supervisor = yield* JobSupervisor
    const mode = yield* AppMode
    const placement = yield* Placement
    const probe = Database.probe.pipe(
      Effect.provideService(SqlClient.SqlClient, yield* SqlClient.SqlClient),
      Effect.provideService(Database.DatabaseFile, yield* Database.DatabaseFile)
    )

    // ---- jobs: the hot path, served from each job's JSON while its version is unchanged ----
    const jobJson = makeJobJson()

    /**
     * A long wait is live state, not part of the job's view (nor of its cached JSON): it is
     * added to the job's JSON while it lasts, so it can never be served stale.
     */
    const withWaiting = (id: string, json: string) => {
      const wait = waits.current(id)
      if (wait === undefined) return json
      return `${json.slice(0, -1)},"waiting":${JSON.stringify({ reason: wait.reason, until: isoAt(wait.until) })}}`
    }

    /** Each job's API JSON: from the cache when its version was presented before. */
    const presented = (rows: ReadonlyArray<JobVersion>) =>
      Effect.gen(function*() {
        const hits = rows.map((r) => jobJson.cached(r.id, r.version))
        const docs = yield* views.jobDocs(rows.filter((_, i) => hits[i] === undefined).map((r) => r.id))
        // A doc read after its version may be newer still: presenting it is as current as the read.
        return rows.flatMap((r, i) => {
          const doc = docs.get(r.id)
          const json = hits[i] ?? (doc !== undefined ? jobJson.present(doc) : undefined)
          return json === undefined ? [] : [withWaiting(r.id, json)]
        })
      })

    /** A job, deleted ones included (their events and logs stay readable for audit). */
    const knownJob = (jobId: string) =>
      Effect.flatMap(views.jobIncludingDeleted(jobId), (doc) => (doc ? Effect.succeed(doc) : Effect.fail(JobNotFound.of(jobId))))

    /** `{"jobs": [...], "total": n}` as JSON, newest first; `total` counts every match. */
    const jobList = (query: JobListQuery) =>
      Effect.gen(function*() {
        const { rows, total } = yield* views.jobVersions({
          ...(query.statuses && query.statuses.length > 0 ? { statuses: query.statuses } : {}),
          ...(query.integrationId !== undefined ? { integrationId: query.integrationId } : {}),
          ...(query.type !== undefined ? { type: query.type } : {}),
          limit: query.limit,
          offset: query.offset
        })
        const json = yield* presented(rows)
        return `{"jobs":[${json.join(",")}],"total":${total}}`
      }).pipe(orDieOnStorage)

    /** One job's JSON with its latest log lines as `logs`, its last field. */
    const jobDetail = (jobId: string) =>
      Effect.gen(function*() {
        const row = yield* views.jobVersion(jobId)
        if (row === undefined) return yield* Effect.fail(JobNotFound.of(jobId))
        const [job] = yield* presented([row])
        if (job === undefined) return yield* Effect.fail(JobNotFound.of(jobId))
        const logs = yield* jobLog.latest(jobId, LATEST_LOGS)
        return `${job.slice(0, -1)},"logs":${JSON.stringify(logs)}}`
      }).pipe(orDieOnStorage)

    const jobLogs = (jobId: string, limit: number, offset: number) =>
      Effect.gen(function*() {
        yield* knownJob(jobId)
        const { lines, total } = yield* jobLog.page(jobId, limit, offset)
        return { jobId, logs: lines, total }
      }).pipe(orDieOnStorage)

    /** The job's events in order, each with its position, version and schema version. */
    const jobEvents = (jobId: string) =>
      Effect.gen(function*() {
        yield* knownJob(jobId)
        const events = yield* store.readStream(jobStream(jobId))
        return {
          jobId,
          events: events.map((e) => ({
            position: e.position,
            version: e.version,
            type: e.type,
            schemaVersion: e.schemaVersion,
            recordedAt: e.recordedAt,
            data: e.payload
          }))
        }
      }).pipe(orDieOnStorage)

    // ---- integrations and their mirrors ----
    const knownIntegration = (integrationId: string) =>
      Effect.flatMap(views.integration(integrationId), (doc) =>
        doc ? Effect.succeed(doc) : Effect.fail(IntegrationNotFound.of(integrationId)))

    /** Every integration's status, with its current job and its request budget. */
    const integrationStatuses = Effect.gen(function*() {
      const docs = yield* views.integrations
      const current = yield* views.currentJobs
      return yield* Effect.forEach(docs, (doc) =>
        Effect.map(limiter.budget(doc.id), (budget) => presentIntegration(doc, current.get(doc.id), budget)))
    }).pipe(orDieOnStorage)

    const integrationSettings = Effect.map(views.integrations, (docs) => docs.map(presentSettings)).pipe(orDieOnStorage)

    const integrationSettingsOf = (integrationId: string) =>
      Effect.map(knownIntegration(integrationId), presentSettings).pipe(orDieOnStorage)

    const records = (query: RecordQuery) =>
      Effect.zipRight(knownIntegration(query.integrationId), reader.list(query)).pipe(orDieOnStorage)

    const record = (integrationId: string, entity: EntityType, id: string) =>
      Effect.gen(function*() {
        yield* knownIntegration(integrationId)
        const found = yield* reader.get(integrationId, entity, id)
        if (found === undefined) {
          return yield* Effect.fail(
            new RecordNotFound({ entity, id, message: `The mirror of ${integrationId} has no ${entity} record '${id}'` })
          )
        }
        return found
      }).pipe(orDieOnStorage)

    // ---- the server itself ----
    /** Ready: the database takes writes, the scheduler runs, recovery is done; else NotReady. */
    const readiness = Effect.gen(function*() {
      const failing: Array<ReadinessReason> = []
      const problem = yield* probe
      if (problem !== undefined) failing.push({ check: "database", message: problem.message })
      if ((yield* scheduler.status) !== "running") {
        failing.push({ check: "scheduler", message: "the scheduler is not running: POST /api/sync/initialize starts it" })
      }
      if (!(yield* supervisor.recovered)) {
        failing.push({ check: "recovery", message: "start-up recovery of interrupted jobs has not finished" })
      }
      if (failing.length > 0) {
        return yield* Effect.fail(
          new NotReady({ message: failing.map((r) => r.message).join("; "), status: "failing", reasons: failing })
        )
      }
      // Integration trouble does not make the server unready: it is reported, one reason each.
      const degraded: Array<ReadinessReason> = []
      for (const doc of yield* views.integrations) {
        if (!doc.settings.enabled) continue
        const missing = yield* integrations.missingKey(doc)
        const c = doc.circuit
        const message = missing !== undefined
          ? missing
          : c.state !== "closed"
          ? `circuit ${c.state.replace("_", " ")} after ${c.consecutiveFailures} failed job(s)${c.reason ? `: ${c.reason}` : ""}`
          : c.consecutiveFailures > 0
          ? `its last ${c.consecutiveFailures} job(s) failed${c.reason ? `: ${c.reason}` : ""}`
          : undefined
        if (message !== undefined) degraded.push({ check: "integration", integrationId: doc.id, message })
      }
      const status = degraded.length > 0 ? "degraded" as const : "ok" as const
      // A runner of a cluster says which it is and how many shards it holds.
      if (placement.runner === null) return { status, reasons: degraded }
      return { status, reasons: degraded, runner: { address: placement.runner, shards: yield* placement.shards } }
    }).pipe(orDieOnStorage)

    /** Healthy: the database takes writes and has room (not only a read: see Database.probe). */
    const health = Effect.gen(function*() {
      const problem = yield* probe
      const state = { scheduler: yield* scheduler.status, runningJobs: yield* supervisor.running, mode }
      if (problem !== undefined) {
        return yield* Effect.fail(new Unhealthy({ message: problem.message, status: "failing", database: "failing", ...state }))
      }
      return { status: "ok" as const, database: "ok" as const, ...state }
    })

    return {
      jobList,
      jobDetail,
      jobLogs,
      jobEvents,
      integrationStatuses,
      integrationSettings,
      integrationSettingsOf,
      records,
      record,
      readiness,
      health
    } as const
  })
}) {}
