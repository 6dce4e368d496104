import { SqlClient } from "@effect/sql"
import { Cause, Clock, Effect, Schema } from "effect"
import { EngineSettings } from "../config/Settings.js"
import { isPermanent } from "../connectors/Connector.js"
import { RateLimiter } from "../connectors/RateLimiter.js"
import { isLive } from "../domain/job.js"
import { decidedOrNothing } from "../domain/jobDecider.js"
import { DatabaseFile } from "../eventlog/Database.js"
import { EventStore } from "../eventlog/EventStore.js"
import type { IntegrationDoc } from "../eventlog/integrationProjection.js"
import type { JobDoc } from "../eventlog/jobProjection.js"
import { isRunSuperseded } from "../eventlog/runFence.js"
import { describeStorageFailure } from "../eventlog/storageErrors.js"
import { Views } from "../eventlog/Views.js"
import { Mirror } from "../mirror/Mirror.js"
import { Integrations } from "./Integrations.js"
import { JobLog } from "./JobLog.js"
import { JobWaits } from "./JobWaits.js"
import { planOf, stageWeights } from "./plan.js"
import { startStage } from "./run/commit.js"
import { log, type RunContext, type RunServices } from "./run/context.js"
import type { Outcome } from "./JobOutcomes.js"
import type { RunCommand, RunControl } from "./run/control.js"
import { makeRequestPool } from "./run/requestPool.js"
import { walkStage } from "./run/stages.js"
import { nowIso } from "../domain/time.js"

/** A job that made no progress for `jobStallTimeout`. */
class Stalled extends Schema.TaggedError<Stalled>()("Stalled", { message: Schema.String }) {}

/**
 * The body of a JobActor: runs one job from its checkpoint to the end, a page at a time. Each
 * page's mirror writes and its BatchCommitted event commit in one transaction, so a crash or
 * an immediate stop loses at most the page in flight, and a resume neither repeats nor skips.
 *
 * This file is the loop: the run's outcome (completed, failed, paused, stopped) and its stages
 * in order. The steps are in run/: the walks (projectsWalk.ts, walk.ts with the page arithmetic
 * of paging.ts), the batch commit (commit.ts), the sweep (sweep.ts), the source requests
 * (requestPool.ts), all taking the run's RunContext (context.ts).
 */
export class JobRunner extends Effect.Service<JobRunner>()("synclog/JobRunner", {
  effect: Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const store = yield* EventStore
    const views = yield* Views
    const mirror = yield* Mirror
    const jobLog = yield* JobLog
    const integrations = yield* Integrations
    const engine = yield* EngineSettings
    const limiter = yield* RateLimiter
    const waits = yield* JobWaits
    const database = yield* DatabaseFile
    const services: RunServices = { sql, store, mirror, jobLog, engine, limiter, waits }

    /** A full disk, a read-only or locked file, as one sentence naming the file and the fix. */
    const storageFailure = (jobId: string, error: unknown) =>
      describeStorageFailure(error, database.path, `resume job ${jobId} (POST /api/sync/jobs/${jobId}/resume)`)?.message

    const run = (jobId: string, control: RunControl): Effect.Effect<Outcome> =>
      Effect.gen(function*() {
        const initial = yield* views.job(jobId)
        if (initial === undefined || !isLive(initial.status)) return "failed" as Outcome
        const integration = yield* views.integration(initial.integrationId)
        if (integration === undefined) {
          return yield* fail(jobId, `Integration ${initial.integrationId} is not registered`, false)
        }
        const lastProgress = { at: yield* Clock.currentTimeMillis }
        const work = execute(initial, integration, control, lastProgress).pipe(
          Effect.annotateLogs({ integrationId: integration.id })
        )
        const watchdog = Effect.gen(function*() {
          const limit = engine.jobStallTimeout * 1000
          while (true) {
            yield* Effect.sleep(Math.min(limit, 30_000))
            const now = yield* Clock.currentTimeMillis
            if (now - lastProgress.at >= limit) {
              return yield* new Stalled({
                message: `The job made no progress for ${engine.jobStallTimeout} s (jobStallTimeout) and was failed instead of hanging as running; resume it to continue from its checkpoint.`
              })
            }
          }
        })
        return yield* Effect.raceFirst(work, watchdog)
      }).pipe(
        Effect.catchAll((e) => {
          switch (e._tag) {
            case "Stalled":
              return fail(jobId, e.message, true)
            case "MissingApiKey":
              return fail(jobId, e.message, false)
            case "SqlError":
              return fail(jobId, storageFailure(jobId, e) ?? `Database error while syncing: ${e.message}`, true)
            case "ConcurrencyConflict":
              return fail(jobId, `Another writer changed the job's stream (${e.streamId}) while it ran`, true)
            default:
              return fail(jobId, e.message, !isPermanent(e))
          }
        }),
        Effect.catchAllDefect((defect) => {
          // Another runner took the job over (eventlog/runFence.ts): this run ends without a trace.
          if (isRunSuperseded(defect)) return superseded(jobId)
          // A COMMIT that fails (a full disk) dies inside @effect/sql: still a storage failure.
          const storage = storageFailure(jobId, defect)
          if (storage !== undefined) return fail(jobId, storage, true)
          const message = `Internal error while running the job: ${defect instanceof Error ? defect.message : String(defect)}`
          // The stack is for whoever debugs it (debug level); the operator log gets the message.
          return Effect.logDebug("job defect", Cause.die(defect)).pipe(
            Effect.zipRight(Effect.logError(message)),
            Effect.annotateLogs({ jobId }),
            Effect.zipRight(fail(jobId, message, false))
          )
        }),
        Effect.annotateLogs({ jobId })
      )

    /** Ends a run whose job another run took over: nothing is appended, no outcome published. */
    const superseded = (jobId: string) =>
      Effect.logWarning("Another runner took this job over; this run stops and commits nothing more").pipe(
        Effect.annotateLogs({ jobId }),
        Effect.zipRight(Effect.interrupt)
      )

    const fail = (jobId: string, message: string, retryable: boolean): Effect.Effect<Outcome> =>
      Effect.gen(function*() {
        const at = yield* nowIso
        yield* store.updateJob(jobId, decidedOrNothing({ _tag: "Fail", jobId, error: message, retryable }, at))
        yield* jobLog.write(jobId, "error", `Job failed: ${message}`)
        return "failed" as Outcome
      }).pipe(
        Effect.orDie,
        // When even the failure cannot be recorded (the disk is still full), the process log
        // still says why; the job is resumed from its checkpoint at the next start.
        Effect.catchAllDefect((defect) =>
          isRunSuperseded(defect) ? superseded(jobId) : Effect.logError(
            `Job failed: ${message} (the failure could not be recorded: ${storageFailure(jobId, defect) ?? String(defect)})`
          ).pipe(Effect.annotateLogs({ jobId }), Effect.as("failed" as Outcome))
        )
      )

    /** The run's context, then its stages in order from the checkpoint, then the end. */
    const execute = (initial: JobDoc, integration: IntegrationDoc, control: RunControl, lastProgress: { at: number }) =>
      Effect.gen(function*() {
        const connector = yield* integrations.connectorFor(integration)
        const plan = planOf(connector.plan, initial.type, initial.options)
        const counts = yield* mirror.counts(integration.id)
        const ctx: RunContext = {
          services,
          jobId: initial.id,
          initial,
          integration,
          connector,
          control,
          plan,
          perPage: initial.options.batchSize,
          includeArchived: initial.options.includeArchived,
          counts,
          runStartedAt: yield* Clock.currentTimeMillis,
          progressAtRunStart: initial.progress,
          lastProgress,
          state: {
            doc: initial,
            weights: stageWeights(plan, counts, initial.checkpoint?.projectIds.length ?? 0),
            retryAfterLoggedUntil: 0
          }
        }
        return yield* stages(ctx).pipe(Effect.catchTag("Interrupted", (e) => honour(ctx.jobId, e.command)))
      })

    /** The stages of the job's plan, from the checkpoint's on; each one's start is an event. */
    const stages = (ctx: RunContext) =>
      Effect.gen(function*() {
        const { initial, plan, state } = ctx
        const pool = makeRequestPool(ctx)
        if (state.doc.checkpoint === null) {
          yield* log(ctx, "info", `Starting ${initial.type.replace("_", " ")} (batch size ${ctx.perPage})`)
        } else {
          const p = state.doc.checkpoint.position
          yield* log(
            ctx,
            "info",
            `Resuming from checkpoint: ${state.doc.checkpoint.stage}, project ${p.projectIndex + 1}, page ${p.page + 1} (counters so far: ${state.doc.stats.processed} processed)`
          )
        }
        const startIndex = state.doc.checkpoint ? plan.stages.indexOf(state.doc.checkpoint.stage) : 0
        for (let si = Math.max(0, startIndex); si < plan.stages.length; si++) {
          const stage = plan.stages[si]!
          if (state.doc.checkpoint === null || state.doc.checkpoint.stage !== stage) {
            yield* startStage(ctx, stage, plan.streams[si] === plan.projects ? [] : state.doc.checkpoint?.projectIds ?? [])
            // The projects are known now: weigh the stages by their count.
            if (si === 1) state.weights = stageWeights(plan, ctx.counts, state.doc.checkpoint?.projectIds.length ?? 0)
          }
          yield* Effect.annotateLogs(walkStage(ctx, pool, si), { stage })
        }
        return yield* finish(ctx)
      })

    /** Completed, or failed when too many records could not be applied. */
    const finish = (ctx: RunContext) =>
      Effect.gen(function*() {
        const { jobId, state } = ctx
        const s = state.doc.stats
        const ratio = s.processed === 0 ? 0 : s.errors / s.processed
        if (s.errors > 0 && ratio > engine.maxErrorRatio) {
          return yield* fail(
            jobId,
            `${s.errors} of ${s.processed} records (${(ratio * 100).toFixed(1)}%) could not be applied, above maxErrorRatio ${engine.maxErrorRatio}; the job's logs name each skipped record`,
            false
          )
        }
        const at = yield* nowIso
        const [next] = yield* store.updateJob(jobId, decidedOrNothing({ _tag: "Complete", jobId }, at))
        state.doc = next!
        yield* log(
          ctx,
          "info",
          `Completed: ${s.processed} processed, ${s.created} created, ${s.updated} updated, ${s.deleted} deleted, ${s.errors} errors`,
          false,
          { ...s }
        )
        return "completed" as Outcome
      })

    /** Ends the run on a command, at a batch boundary: the last commit is the checkpoint. */
    const honour = (jobId: string, command: RunCommand) =>
      Effect.gen(function*() {
        const at = yield* nowIso
        const [doc, events] = yield* store.updateJob(
          jobId,
          decidedOrNothing({ _tag: "Halt", jobId, pause: command._tag === "Pause" ? command.reason : null }, at)
        )
        // Not live any more (stopped at once meanwhile): it ended stopped.
        const outcome: Outcome = events[0]?._tag === "JobPaused" ? "paused" : "stopped"
        const where = doc?.checkpoint ? ` at ${doc.checkpoint.stage}, page ${doc.checkpoint.position.page + 1}` : ""
        yield* jobLog.write(
          jobId,
          "info",
          outcome === "paused"
            ? command._tag === "Pause" && command.handOver === true
              ? `Paused for the hand-over to another runner${where}; the runner that hosts its integration now resumes it from this checkpoint`
              : command._tag === "Pause" && command.reason === "shutdown"
              ? `Paused for server shutdown${where}; it resumes from this checkpoint at the next start`
              : command._tag === "Pause" && command.reason === "window"
              ? `Paused at the end of the sync window${where}; it resumes from this checkpoint when the window opens again`
              : `Paused${where}; resume with POST /api/sync/jobs/${jobId}/resume`
            : `Stopped${where}; the last committed batch is the checkpoint a resume continues from`
        )
        return outcome
      })

    return { run } as const
  })
}) {}
