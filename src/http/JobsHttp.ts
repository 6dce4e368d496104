import { HttpApiBuilder, HttpServerResponse } from "@effect/platform"
import { Effect } from "effect"
import { JobNotFound } from "../domain/errors.js"
import { jobStream } from "../domain/events.js"
import { IntegrationControl } from "../engine/IntegrationControl.js"
import { JobLog } from "../engine/JobLog.js"
import { Jobs } from "../engine/Jobs.js"
import { JobSupervisor } from "../engine/JobSupervisor.js"
import { EventStore } from "../eventlog/EventStore.js"
import { Views } from "../eventlog/Views.js"
import { SyncApi } from "./Api.js"
import { orDieInfra } from "./infra.js"
import { presentJob, presentJobDetail } from "./presenters.js"

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

    const found = (jobId: string, includeDeleted = false) =>
      Effect.flatMap(
        includeDeleted ? views.jobIncludingDeleted(jobId) : views.job(jobId),
        (doc) => (doc ? Effect.succeed(doc) : Effect.fail(JobNotFound.of(jobId)))
      )

    return handlers
      .handle("list", ({ urlParams }) =>
        views.jobs({
          ...(urlParams.status ? { statuses: urlParams.status } : {}),
          ...(urlParams.integrationId !== undefined ? { integrationId: urlParams.integrationId } : {}),
          ...(urlParams.type !== undefined ? { type: urlParams.type } : {}),
          limit: urlParams.limit ?? 20,
          offset: urlParams.offset ?? 0
        }).pipe(
          // Hot read path: the presenters build the declared shape; skip re-encoding it.
          Effect.map(({ docs, total }) => HttpServerResponse.unsafeJson({ jobs: docs.map(presentJob), total })),
          Effect.orDie
        ))
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
          const doc = yield* found(path.jobId)
          const logs = yield* jobLog.latest(path.jobId, LATEST_LOGS)
          return HttpServerResponse.unsafeJson(presentJobDetail(doc, logs))
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
