import type { SqlError } from "@effect/sql"
import { Clock, Effect } from "effect"
import type { InvalidRecord, SourceRecord } from "../../connectors/Connector.js"
import { budgetTimeMs } from "../../connectors/RateLimiter.js"
import type { EntityType } from "../../domain/entities.js"
import { BatchCommitted, StageStarted } from "../../domain/events.js"
import type { Counters, Position, Stage } from "../../domain/job.js"
import { countRecords } from "../../metrics/metrics.js"
import { estimateCompletion, progressOf, requestsLeft } from "../plan.js"
import { emptyAtStart, log, plural, type RunContext } from "./context.js"
import { isoAt, nowIso } from "../../domain/time.js"

/** One page's worth of work for `commit`: records to mirror, and where the next batch starts. */
interface Batch {
  readonly stage: Stage
  readonly entity: EntityType | null
  readonly records: ReadonlyArray<SourceRecord>
  readonly invalid: ReadonlyArray<InvalidRecord>
  readonly next: Position
  /** How much of the stage is done once this batch is. */
  readonly fraction: number
  readonly extra?: Partial<Counters>
  /** More writes in the batch's transaction (the sweep's tombstones). */
  readonly write?: (at: string) => Effect.Effect<void, SqlError.SqlError>
  readonly discovered?: ReadonlyArray<string>
  readonly watermark?: { readonly projectId: string; readonly at: string }
  readonly mirror: boolean
  /** A quiet log line about the batch, written in its transaction (no commit of its own). */
  readonly note?: string
}

/**
 * This run's own pace, but never sooner than the request budget allows for the requests
 * still to make (a walk that has not yet used up its budget runs faster than it will).
 */
const etaAt = (ctx: RunContext, now: number, progress: number, stageIndex: number, fraction: number, discovered: number) =>
  Effect.map(ctx.services.limiter.budget(ctx.integration.id), (budget) => {
    const paced = estimateCompletion(now, ctx.runStartedAt, ctx.progressAtRunStart, progress)
    const waitMs = budgetTimeMs(
      requestsLeft({
        plan: ctx.plan,
        incremental: ctx.initial.type === "incremental_sync",
        counts: ctx.counts,
        projectCount: (ctx.state.doc.checkpoint?.projectIds.length ?? 0) + discovered,
        perPage: ctx.perPage,
        includeArchived: ctx.includeArchived,
        stageIndex,
        fraction
      }),
      budget,
      now
    )
    if (waitMs === 0) return paced
    return Math.max(paced ?? 0, now + waitMs)
  })

/**
 * One transaction: the page's mirror writes (`Mirror.apply`, the fast path of a first sync
 * included) and the BatchCommitted event that counts them and moves the checkpoint.
 */
export const commit = (ctx: RunContext, batch: Batch) =>
  Effect.gen(function*() {
  const { jobId, integration, plan, state } = ctx
  const { jobLog, mirror, store } = ctx.services
  const now = yield* Clock.currentTimeMillis
  const at = isoAt(now)
  const stageIndex = plan.stages.indexOf(batch.stage)
  const progress = Math.max(state.doc.progress, progressOf(state.weights, stageIndex, batch.fraction))
  const eta = yield* etaAt(ctx, now, progress, stageIndex, batch.fraction, batch.discovered?.length ?? 0)
  const [next, deltas] = yield* Effect.gen(function*() {
    const applied = batch.mirror && batch.entity !== null && batch.records.length > 0
      ? yield* mirror.apply({
        integrationId: integration.id,
        entity: batch.entity,
        jobId,
        at,
        includeArchived: ctx.includeArchived,
        records: batch.records,
        markSeen: plan.sweep,
        expectNew: emptyAtStart(ctx, batch.entity)
      })
      : { created: 0, updated: 0, unchanged: batch.records.length }
    if (batch.write) yield* batch.write(at)
    const deltas: Counters = {
      processed: (batch.mirror ? batch.records.length + batch.invalid.length : 0) + (batch.extra?.processed ?? 0),
      created: applied.created + (batch.extra?.created ?? 0),
      updated: applied.updated + (batch.extra?.updated ?? 0),
      deleted: batch.extra?.deleted ?? 0,
      errors: (batch.mirror ? batch.invalid.length : 0) + (batch.extra?.errors ?? 0)
    }
    for (const bad of batch.mirror ? batch.invalid : []) {
      yield* jobLog.write(jobId, "warn", `Skipped ${batch.entity ?? "record"} ${bad.id ?? "(no id)"}: ${bad.message}`)
    }
    if (batch.note) yield* jobLog.write(jobId, "info", batch.note, true, { ...deltas, entity: batch.entity })
    // The event is stamped here, once the page is in the mirror and just before the event is
    // appended: its `at` (the log's `recordedAt`) is when the batch was recorded, not when its
    // page started to be written (tens of ms for 1,000 rows), which is what a log reader and
    // the stream's delay from commit to delivery expect.
    return yield* store.updateJob(jobId, () =>
      Effect.map(Clock.currentTimeMillis, (recordedAt) => [
        [
          new BatchCommitted({
            jobId,
            stage: batch.stage,
            entity: batch.entity,
            deltas,
            next: batch.next,
            ...(batch.discovered ? { discovered: batch.discovered } : {}),
            ...(batch.watermark ? { watermark: batch.watermark } : {}),
            progress,
            estimatedCompletion: eta === null ? null : isoAt(eta),
            at: isoAt(recordedAt)
          })
        ],
        deltas
      ] as const))
    // One transaction; the live feed hands the event over once it committed (inOneTransaction).
  }).pipe(store.inOneTransaction)
  state.doc = next!
  ctx.lastProgress.at = now
  // Counted once committed: a batch rolled back by an immediate stop counts nowhere.
  yield* countRecords(integration.id, batch.entity, deltas)
})

/** Appends StageStarted (with the projects the stage walks) and logs the stage's start. */
export const startStage = (ctx: RunContext, stage: Stage, projectIds: ReadonlyArray<string>) =>
  Effect.gen(function*() {
  const { jobId, plan, state } = ctx
  const at = yield* nowIso
  const [next] = yield* ctx.services.store.updateJob(jobId, () =>
    Effect.succeed([[new StageStarted({ jobId, stage, projectIds, at })], undefined] as const))
  state.doc = next!
  const stream = plan.streams[plan.stages.indexOf(stage)]
  yield* log(
    ctx,
    "info",
    !stream
      ? plan.sweep ? "Finalizing: confirming records the walk did not see" : "Finalizing"
      : stream.scope === "workspace"
      ? `Syncing ${plural(stream.name)}`
      : `Syncing ${plural(stream.name)} of ${projectIds.length} project${projectIds.length === 1 ? "" : "s"}`
  )
})
