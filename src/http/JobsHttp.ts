import { HttpApiBuilder } from "@effect/platform"
import { Effect } from "effect"
import { IntegrationCommands } from "../engine/IntegrationCommands.js"
import { JobCommands } from "../engine/JobCommands.js"
import { presentJob } from "../engine/presenters.js"
import { Queries } from "../engine/Queries.js"
import { type JobView, SyncApi } from "./Api.js"
import { jsonText } from "./jsonText.js"

// The list and detail bodies are JSON strings built from the engine's presentation (the hot
// path, cached by job version; see engine/jobJson.ts): it must be the contract's Job.
presentJob satisfies (doc: never) => JobView

/** Handlers only translate HTTP to the engine's commands and queries. */
export const JobsHttpLive = HttpApiBuilder.group(SyncApi, "jobs", (handlers) =>
  Effect.gen(function*() {
    const queries = yield* Queries
    const commands = yield* JobCommands
    const integrationCommands = yield* IntegrationCommands

    return handlers
      .handle("list", ({ urlParams }) =>
        Effect.map(
          queries.jobList({
            statuses: urlParams.status,
            integrationId: urlParams.integrationId,
            type: urlParams.type,
            limit: urlParams.limit ?? 20,
            offset: urlParams.offset ?? 0
          }),
          jsonText
        ))
      .handle("create", ({ payload }) =>
        commands.create({ integrationId: payload.integrationId, type: payload.type, options: payload.options ?? {} }).pipe(
          Effect.map((created) => ({ success: true as const, ...created }))
        ))
      .handle("stopAll", ({ payload }) =>
        Effect.map(commands.stopAll(payload.integrationId), (ids) => ({ success: true as const, stoppedJobs: ids.length, jobs: ids })))
      .handle("get", ({ path }) => Effect.map(queries.jobDetail(path.jobId), jsonText))
      .handle("logs", ({ path, urlParams }) => queries.jobLogs(path.jobId, urlParams.limit ?? 100, urlParams.offset ?? 0))
      .handle("events", ({ path }) => queries.jobEvents(path.jobId))
      .handle("resume", ({ path }) => Effect.map(commands.resume(path.jobId), (r) => ({ success: true as const, ...r })))
      .handle("stop", ({ path, payload }) =>
        Effect.map(commands.stop(path.jobId, payload.graceful ?? true), (r) => ({ success: true as const, ...r })))
      .handle("pause", ({ path }) => Effect.map(commands.pause(path.jobId), (r) => ({ success: true as const, ...r })))
      .handle("interval", ({ path, payload }) =>
        Effect.map(integrationCommands.changeInterval(path.jobId, payload.interval), (r) => ({
          success: true as const,
          jobId: r.jobId,
          oldInterval: r.oldInterval,
          newInterval: r.newInterval,
          nextRun: r.nextRun
        })))
      .handle("delete", ({ path, payload }) =>
        Effect.as(commands.remove(path.jobId, payload.deleteLogs ?? false), { success: true as const, deleted: path.jobId }))
  }))
