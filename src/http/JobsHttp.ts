import { HttpApiBuilder, HttpServerResponse } from "@effect/platform"
import { Effect } from "effect"
import { JobNotFound } from "../domain/errors.js"
import { jobStream } from "../domain/events.js"
import { IntegrationControl } from "../engine/IntegrationControl.js"
import { JobLog } from "../engine/JobLog.js"
import { Jobs } from "../engine/Jobs.js"
import { JobSupervisor } from "../engine/JobSupervisor.js"
import { JobWaits } from "../engine/JobWaits.js"
import { EventStore } from "../eventlog/EventStore.js"
import { type JobVersion, Views } from "../eventlog/Views.js"
import { SyncApi } from "./Api.js"
import { orDieInfra } from "./infra.js"
import { makeJobJson } from "./JobJson.js"
import { isoAt } from "../domain/time.js"

const LATEST_LOGS = 100

/** Handlers only translate HTTP to engine calls; infrastructure errors are defects (500). */
export const JobsHttpLive = HttpApiBuilder.group(SyncApi, "jobs", (handlers) =>
  Effect.gen(function*() {
    const views = yield* Views
    const jobs = yield* Jobs
    const supervisor = yield* JobSupervisor
    const control = yield* IntegrationControl
    const jobLog = yield* JobLog
    const store = yield* EventStore
    const waits = yield* JobWaits

    const jobJson = makeJobJson()
    const jsonResponse = (body: string) => HttpServerResponse.text(body, { contentType: "application/json" })

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

    const found = (jobId: string, includeDeleted = false) =>
      Effect.flatMap(
        includeDeleted ? views.jobIncludingDeleted(jobId) : views.job(jobId),
        (doc) => (doc ? Effect.succeed(doc) : Effect.fail(JobNotFound.of(jobId)))
      )

    return handlers
      .handle("list", ({ urlParams }) =>
        Effect.gen(function*() {
          const { rows, total } = yield* views.jobVersions({
            ...(urlParams.status ? { statuses: urlParams.status } : {}),
            ...(urlParams.integrationId !== undefined ? { integrationId: urlParams.integrationId } : {}),
            ...(urlParams.type !== undefined ? { type: urlParams.type } : {}),
            limit: urlParams.limit ?? 20,
            offset: urlParams.offset ?? 0
          })
          const json = yield* presented(rows)
          // Hot read path: the presenters build the declared shape (JobJson); no re-encoding.
          return jsonResponse(`{"jobs":[${json.join(",")}],"total":${total}}`)
        }).pipe(Effect.orDie))
      .handle("create", ({ payload }) =>
        jobs.create({
          integrationId: payload.integrationId,
          type: payload.type,
          options: payload.options ?? {},
          trigger: "manual"
        }).pipe(
          Effect.map((c) => ({ success: true as const, jobId: c.jobId, status: c.status, estimatedDuration: c.estimatedDuration })),
          orDieInfra
        ))
      .handle("stopAll", ({ payload }) =>
        jobs.stopAll(payload.integrationId).pipe(
          Effect.map((ids) => ({ success: true as const, stoppedJobs: ids.length, jobs: ids })),
          orDieInfra
        ))
      .handle("get", ({ path }) =>
        Effect.gen(function*() {
          const row = yield* views.jobVersion(path.jobId)
          if (row === undefined) return yield* Effect.fail(JobNotFound.of(path.jobId))
          const [job] = yield* presented([row])
          const logs = yield* jobLog.latest(path.jobId, LATEST_LOGS)
          // The job's JSON object with `logs` added as its last field.
          return jsonResponse(`${job!.slice(0, -1)},"logs":${JSON.stringify(logs)}}`)
        }).pipe(orDieInfra))
      .handle("logs", ({ path, urlParams }) =>
        Effect.gen(function*() {
          yield* found(path.jobId, true)
          const { lines, total } = yield* jobLog.page(path.jobId, urlParams.limit ?? 100, urlParams.offset ?? 0)
          return { jobId: path.jobId, logs: lines, total }
        }).pipe(orDieInfra))
      .handle("events", ({ path }) =>
        Effect.gen(function*() {
          yield* found(path.jobId, true)
          const events = yield* store.readStream(jobStream(path.jobId))
          return {
            jobId: path.jobId,
            events: events.map((e) => ({
              position: e.position,
              version: e.version,
              type: e.type,
              schemaVersion: e.schemaVersion,
              recordedAt: e.recordedAt,
              data: e.payload
            }))
          }
        }).pipe(orDieInfra))
      .handle("resume", ({ path }) =>
        supervisor.resume(path.jobId).pipe(
          Effect.map((r) => ({ success: true as const, ...r })),
          orDieInfra
        ))
      .handle("stop", ({ path, payload }) =>
        supervisor.stop(path.jobId, payload.graceful ?? true).pipe(
          Effect.map((r) => ({ success: true as const, ...r })),
          orDieInfra
        ))
      .handle("pause", ({ path }) =>
        supervisor.pause(path.jobId).pipe(
          Effect.map((r) => ({ success: true as const, ...r })),
          orDieInfra
        ))
      .handle("interval", ({ path, payload }) =>
        control.changeInterval(path.jobId, payload.interval).pipe(
          Effect.map((r) => ({
            success: true as const,
            jobId: r.jobId,
            oldInterval: r.oldInterval,
            newInterval: r.newInterval,
            nextRun: r.nextRun
          })),
          orDieInfra
        ))
      .handle("delete", ({ path, payload }) =>
        jobs.remove(path.jobId, payload.deleteLogs ?? false).pipe(
          Effect.as({ success: true as const, deleted: path.jobId }),
          orDieInfra
        ))
  }))
