import { SqlClient } from "@effect/sql"
import { Cause, Clock, Deferred, Effect, Exit, Fiber, FiberId, Schema } from "effect"
import { EngineSettings } from "../config/Settings.js"
import {
  type Feed,
  type InvalidRecord,
  isPermanent,
  RequestObserver,
  type SourceError,
  type SourcePage,
  type SourceRecord,
  type WaitReason
} from "../connectors/Connector.js"
import { budgetTimeMs, RateLimiter } from "../connectors/RateLimiter.js"
import { ENTITY_TYPES, type EntityType } from "../domain/entities.js"
import { BatchCommitted, EstimateChanged, StageStarted } from "../domain/events.js"
import { type Counters, entityOf, isLive, type PauseReason, type Position, type Stage } from "../domain/job.js"
import { decidedOrNothing } from "../domain/jobDecider.js"
import { DatabaseFile } from "../eventlog/Database.js"
import { EventStore } from "../eventlog/EventStore.js"
import type { IntegrationDoc } from "../eventlog/integrationProjection.js"
import type { JobDoc } from "../eventlog/jobProjection.js"
import { describeStorageFailure } from "../eventlog/storageErrors.js"
import { Views } from "../eventlog/Views.js"
import { countRecords } from "../metrics/metrics.js"
import { Mirror } from "../mirror/Mirror.js"
import { Integrations } from "./Integrations.js"
import { JobLog } from "./JobLog.js"
import { JobWaits, LONG_WAIT_MS } from "./JobWaits.js"
import { estimateCompletion, planOf, progressOf, requestsLeft, stageWeights } from "./plan.js"

/** What a job is asked to do between batches. */
export type Command =
  | { readonly _tag: "Pause"; readonly reason: PauseReason }
  | { readonly _tag: "Stop" }

/**
 * A running job's mailbox. Commands are read between batches. When a graceful command has
 * waited `graceExpired` long enough for the batch in flight, the supervisor interrupts the
 * requests in `inflight` and the batch is abandoned (nothing of it was committed). A request
 * still waiting to be sent (budget, Retry-After, backoff) ends as soon as `commanded` is done.
 */
export interface Mailbox {
  command: Command | undefined
  graceExpired: boolean
  readonly inflight: Set<Fiber.RuntimeFiber<unknown, unknown>>
  readonly commanded: Deferred.Deferred<void>
}

export const makeMailbox = (): Mailbox => ({
  command: undefined,
  graceExpired: false,
  inflight: new Set(),
  commanded: Deferred.unsafeMake(FiberId.none)
})

/** Hands a graceful command to the job (the first one wins) and ends its requests' waits. */
export const deliver = (mailbox: Mailbox, command: Command) =>
  Effect.suspend(() => {
    mailbox.command ??= command
    return Deferred.succeed(mailbox.commanded, undefined)
  })

/** After a graceful command's grace period: abandon the requests in flight. */
export const expireGrace = (mailbox: Mailbox) =>
  Effect.suspend(() => {
    mailbox.graceExpired = true
    return Effect.forEach([...mailbox.inflight], (fiber) => Fiber.interruptFork(fiber), { discard: true })
  })

export type Outcome = "completed" | "paused" | "stopped" | "failed"

/** A job that made no progress for `jobStallTimeout`. */
class Stalled extends Schema.TaggedError<Stalled>()("Stalled", { message: Schema.String }) {}

/** Marks the end of a run on a command; not a failure. */
class Interrupted {
  readonly _tag = "Interrupted"
  constructor(readonly command: Command) {}
}

/** Projects whose small lists (states, labels, cycles, modules) a walk requests ahead. */
const SMALL_LIST_LOOKAHEAD = 4

/** First page size of an incremental work-item walk (it grows while pages stay newer). */
const INCREMENTAL_FIRST_PAGE = 100

const plural = (entity: EntityType) => entity.replace("_", " ")

/**
 * The body of a JobActor: runs one job from its checkpoint to the end, a page at a time. Each
 * page's mirror writes and its BatchCommitted event commit in one transaction, so a crash or
 * an immediate stop loses at most the page in flight, and a resume neither repeats nor skips.
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

    /** A full disk, a read-only or locked file, as one sentence naming the file and the fix. */
    const storageFailure = (jobId: string, error: unknown) =>
      describeStorageFailure(error, database.path, `resume job ${jobId} (POST /api/sync/jobs/${jobId}/resume)`)?.message

    const nowIso = Effect.map(Clock.currentTimeMillis, (ms) => new Date(ms).toISOString())

    const run = (jobId: string, mailbox: Mailbox): Effect.Effect<Outcome> =>
      Effect.gen(function*() {
        const initial = yield* views.job(jobId)
        if (initial === undefined || !isLive(initial.status)) return "failed" as Outcome
        const integration = yield* views.integration(initial.integrationId)
        if (integration === undefined) {
          return yield* fail(jobId, `Integration ${initial.integrationId} is not registered`, false)
        }
        const lastProgress = { at: yield* Clock.currentTimeMillis }
        const work = execute(initial, integration, mailbox, lastProgress).pipe(
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
          Effect.logError(
            `Job failed: ${message} (the failure could not be recorded: ${storageFailure(jobId, defect) ?? String(defect)})`
          ).pipe(Effect.annotateLogs({ jobId }), Effect.as("failed" as Outcome))
        )
      )

    const execute = (
      initial: JobDoc,
      integration: IntegrationDoc,
      mailbox: Mailbox,
      lastProgress: { at: number }
    ) =>
      Effect.gen(function*() {
        const jobId = initial.id
        const connector = yield* integrations.connectorFor(integration)
        const plan = planOf(initial.type, initial.options)
        const perPage = initial.options.batchSize
        const includeArchived = initial.options.includeArchived
        let doc = initial
        const counts = yield* mirror.counts(integration.id)
        // Entities with no rows when this run started: every row this run writes for them is
        // new (no lookup first), and carries this job's mark, so the sweep has no candidates.
        const emptyAtStart = (entity: EntityType) => (counts[entity] ?? 0) === 0
        let weights = stageWeights(plan, counts, doc.checkpoint?.projectIds.length ?? 0)
        const runStartedAt = yield* Clock.currentTimeMillis
        const progressAtRunStart = doc.progress

        const log = (level: "info" | "warn" | "error", message: string, quiet = false, fields?: Readonly<Record<string, unknown>>) =>
          jobLog.write(jobId, level, message, quiet, fields)

        // Between batches: a command from the mailbox, or one recorded in the log (a stop or a
        // pause requested before a restart is still honoured after it).
        const pending = (): Command | undefined =>
          mailbox.command ??
            (doc.status === "stopping"
              ? { _tag: "Stop" }
              : doc.pauseRequested
              ? { _tag: "Pause", reason: "request" }
              : undefined)

        const checkMailbox = Effect.suspend(() => {
          const command = pending()
          return command ? Effect.fail(new Interrupted(command)) : Effect.void
        })

        /** Sleeps until `untilMs`, or fails the request fiber with an interruption on a command. */
        const waitOrCommand = (untilMs: number) =>
          Effect.gen(function*() {
            const now = yield* Clock.currentTimeMillis
            const commanded = yield* Effect.raceFirst(
              Effect.as(Effect.sleep(Math.max(0, untilMs - now)), false),
              Effect.as(Deferred.await(mailbox.commanded), true)
            )
            // Not sent yet, so nothing to commit: end the request now (settle turns it into the command).
            if (commanded) return yield* Effect.interrupt
          })

        // A retry's backoff and this job's own 429s have their log line already (with the time).
        let retryAfterLoggedUntil = 0
        const logged = (reason: WaitReason, untilMs: number) =>
          reason === "backoff" || waits.has(jobId, reason) || (reason === "retry_after" && untilMs <= retryAfterLoggedUntil)

        const observer = RequestObserver.of({
          retrying: (reason, attempt, delayMs, untilMs) =>
            log(
              "warn",
              `Request to Plane failed (${reason}); retry ${attempt} in ${(delayMs / 1000).toFixed(1)} s, at ${new Date(untilMs).toISOString()}`
            ),
          wait: (reason, untilMs, detail) =>
            Effect.gen(function*() {
              const now = yield* Clock.currentTimeMillis
              if (untilMs - now <= LONG_WAIT_MS) return yield* waitOrCommand(untilMs)
              // Long enough to look like a hang: say so in the log (once for requests waiting
              // together) and show it in the job view while it lasts.
              const line = logged(reason, untilMs)
                ? undefined
                : `Waiting ${Math.ceil((untilMs - now) / 1000)} s, until ${new Date(untilMs).toISOString()}: ${detail}`
              if (reason === "retry_after") retryAfterLoggedUntil = Math.max(retryAfterLoggedUntil, untilMs)
              yield* waits.during(
                jobId,
                { reason, until: untilMs },
                Effect.zipRight(line ? log("info", line) : Effect.void, waitOrCommand(untilMs))
              )
            }),
          throttled: (waitMs, reason, untilMs) =>
            Effect.gen(function*() {
              retryAfterLoggedUntil = Math.max(retryAfterLoggedUntil, untilMs)
              yield* log("warn", `Rate limited: ${reason}`)
              const at = yield* nowIso
              const [next] = yield* store.updateJob(jobId, (d) => {
                if (!d || d.status !== "running" || d.estimatedCompletion === null) return Effect.succeed([[], undefined] as const)
                const moved = new Date(Date.parse(d.estimatedCompletion) + waitMs).toISOString()
                return Effect.succeed(
                  [[new EstimateChanged({ jobId, estimatedCompletion: moved, reason: "rate limited", at })], undefined] as const
                )
              }).pipe(Effect.orDie)
              if (next) doc = next
            }),
          pageSizeLimited: (accepted, reason) =>
            log("warn", `${reason}; reading pages of ${accepted} records from now on (checkpoints and counters keep batches of ${perPage})`)
        })

        /**
         * Source requests run in their own fiber, tracked in the mailbox so that an expired grace
         * period can interrupt them; `settle` turns that interruption into the command.
         */
        const start = <A>(
          effect: Effect.Effect<A, SourceError>
        ): Effect.Effect<Fiber.RuntimeFiber<A, SourceError>, Interrupted> =>
          Effect.suspend(() => {
            if (mailbox.graceExpired) return Effect.fail(new Interrupted(mailbox.command ?? { _tag: "Stop" }))
            return Effect.tap(
              Effect.fork(Effect.provideService(effect, RequestObserver, observer)),
              (fiber) => Effect.sync(() => void mailbox.inflight.add(fiber as Fiber.RuntimeFiber<unknown, unknown>))
            )
          })
        const settle = <A>(fiber: Fiber.RuntimeFiber<A, SourceError>) =>
          Effect.flatMap(Fiber.await(fiber), (exit): Effect.Effect<A, SourceError | Interrupted> => {
            mailbox.inflight.delete(fiber as Fiber.RuntimeFiber<unknown, unknown>)
            return Exit.isFailure(exit) && Cause.isInterruptedOnly(exit.cause)
              ? Effect.fail(new Interrupted(mailbox.command ?? { _tag: "Stop" }))
              : exit
          })
        const fetch = <A>(effect: Effect.Effect<A, SourceError>) => Effect.flatMap(start(effect), settle)
        /** A request whose answer is no longer wanted. */
        const cancel = <A>(fiber: Fiber.RuntimeFiber<A, SourceError>) =>
          Effect.suspend(() => {
            mailbox.inflight.delete(fiber as Fiber.RuntimeFiber<unknown, unknown>)
            return Fiber.interrupt(fiber)
          })

        interface Batch {
          readonly stage: Stage
          readonly entity: EntityType | null
          readonly records: ReadonlyArray<SourceRecord>
          readonly invalid: ReadonlyArray<InvalidRecord>
          readonly next: Position
          readonly fraction: number
          readonly extra?: Partial<Counters>
          readonly write?: (at: string) => Effect.Effect<void, import("@effect/sql").SqlError.SqlError>
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
        const etaAt = (now: number, progress: number, stageIndex: number, fraction: number, discovered: number) =>
          Effect.map(limiter.budget(integration.id), (budget) => {
            const paced = estimateCompletion(now, runStartedAt, progressAtRunStart, progress)
            const waitMs = budgetTimeMs(
              requestsLeft({
                plan,
                incremental: initial.type === "incremental_sync",
                counts,
                projectCount: (doc.checkpoint?.projectIds.length ?? 0) + discovered,
                perPage,
                feeds: (entity) => connector.feeds(entity, includeArchived).length,
                stageIndex,
                fraction
              }),
              budget,
              now
            )
            if (waitMs === 0) return paced
            return Math.max(paced ?? 0, now + waitMs)
          })

        /** One transaction: the page's mirror writes and the BatchCommitted event that counts them. */
        const commit = (batch: Batch) =>
          Effect.gen(function*() {
            const now = yield* Clock.currentTimeMillis
            const at = new Date(now).toISOString()
            const stageIndex = plan.stages.indexOf(batch.stage)
            const progress = Math.max(doc.progress, progressOf(weights, stageIndex, batch.fraction))
            const eta = yield* etaAt(now, progress, stageIndex, batch.fraction, batch.discovered?.length ?? 0)
            const [next, deltas] = yield* Effect.gen(function*() {
              const applied = batch.mirror && batch.entity !== null && batch.records.length > 0
                ? yield* mirror.apply({
                  integrationId: integration.id,
                  entity: batch.entity,
                  jobId,
                  at,
                  includeArchived,
                  records: batch.records,
                  markSeen: plan.sweep,
                  expectNew: emptyAtStart(batch.entity)
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
              return yield* store.updateJob(jobId, () =>
                Effect.succeed([
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
                      estimatedCompletion: eta === null ? null : new Date(eta).toISOString(),
                      at
                    })
                  ],
                  deltas
                ] as const))
            }).pipe(sql.withTransaction)
            doc = next!
            lastProgress.at = now
            // Counted once committed: a batch rolled back by an immediate stop counts nowhere.
            yield* countRecords(integration.id, batch.entity, deltas)
          })

        const startStage = (stage: Stage, projectIds: ReadonlyArray<string>) =>
          Effect.gen(function*() {
            const at = yield* nowIso
            const [next] = yield* store.updateJob(jobId, () =>
              Effect.succeed([[new StageStarted({ jobId, stage, projectIds, at })], undefined] as const))
            doc = next!
            const entity = entityOf(stage)
            yield* log(
              "info",
              stage === "finalizing"
                ? plan.sweep ? "Finalizing: confirming records the walk did not see" : "Finalizing"
                : stage === "syncing_projects"
                ? "Syncing projects"
                : `Syncing ${plural(entity!)} of ${projectIds.length} project${projectIds.length === 1 ? "" : "s"}`
            )
          })

        // ---- stage: projects (always walked: it finds the projects the other stages visit) --
        const projectsStage = Effect.gen(function*() {
          const mirrored = plan.mirrored.has("projects")
          let page = doc.checkpoint?.position.page ?? 0
          let totalPages: number | null = null
          while (true) {
            yield* checkMailbox
            const result: SourcePage = yield* fetch(connector.listPage({
              entity: "projects",
              projectId: null,
              feed: "active",
              page,
              perPage,
              order: "created"
            }))
            totalPages = result.totalPages ?? totalPages
            const selected = result.records.filter((r) => plan.includesProject(r.id))
            const discovered: Array<string> = []
            const known = new Set(doc.checkpoint?.projectIds ?? [])
            for (const r of selected) {
              // Offset pages can list a project twice when the list shifts: walk it once.
              if (known.has(r.id)) continue
              known.add(r.id)
              if (r.archived) yield* log("info", `Project ${r.id} is archived: its items are not walked`)
              else if (r.payload.is_member === false) {
                yield* log("warn", `Project ${r.id} is public but the API key's owner is not a member: skipped`)
              } else discovered.push(r.id)
            }
            const last = !result.hasMore
            yield* commit({
              stage: "syncing_projects",
              entity: "projects",
              records: selected,
              invalid: result.invalid,
              next: { projectIndex: 0, feed: 0, page: page + 1 },
              fraction: totalPages ? (page + 1) / totalPages : last ? 1 : 0.5,
              discovered,
              mirror: mirrored,
              ...(mirrored ? { note: `Processed ${selected.length + result.invalid.length} projects (page ${page + 1})` } : {})
            })
            if (last) return
            page++
          }
        })

        // ---- stages: states, labels, cycles, modules, work items; one project after another --
        const projectScopedStage = (stage: Stage, entity: EntityType) =>
          Effect.gen(function*() {
            const projectIds = doc.checkpoint!.projectIds
            const feeds: ReadonlyArray<Feed> = connector.feeds(entity, includeArchived)
            const incremental = initial.type === "incremental_sync" && entity === "work_items"
            const overlapMs = engine.incrementalOverlap * 1000
            const projects = Math.max(1, projectIds.length)
            const thresholdOf = (projectId: string) => {
              const watermark = integration.watermarks[projectId]
              return incremental && watermark !== undefined
                ? new Date(Date.parse(watermark) - overlapMs).toISOString().replace("Z", "000Z")
                : null
            }
            // An incremental walk usually ends on its first page: start small, double while
            // every row is still newer than the watermark (offsets stay aligned), up to batchSize.
            const sizeOf = (pos: Position) =>
              pos.perPage ?? (incremental && pos.page === 0 ? Math.min(perPage, INCREMENTAL_FIRST_PAGE) : perPage)
            const fetchAt = (pos: Position) =>
              connector.listPage({
                entity,
                projectId: projectIds[pos.projectIndex]!,
                feed: feeds[pos.feed]!,
                page: pos.page,
                perPage: sizeOf(pos),
                order: incremental ? "updated_desc" : "created"
              }).pipe(
                Effect.map((p) => ({ _tag: "Page" as const, page: p })),
                Effect.catchTags({
                  SourceForbidden: (e) => Effect.succeed({ _tag: "Skip" as const, reason: e.message }),
                  SourceNotFound: (e) =>
                    e.scope === "project" ? Effect.succeed({ _tag: "Skip" as const, reason: e.message }) : Effect.fail(e)
                })
              )
            const walkStart = entity === "work_items" ? nowIso : Effect.succeed(undefined)

            // Small lists take one request per project, so their walk is mostly round trips:
            // ask for the next projects' first pages ahead (still committed in order). Work
            // items are not asked ahead: their pages are large, and the prefetch keeps up.
            const lookahead = entity !== "work_items" ? SMALL_LIST_LOOKAHEAD : 0
            type Fetched = Effect.Effect.Success<ReturnType<typeof fetchAt>>
            const ahead = new Map<number, Fiber.RuntimeFiber<Fetched, SourceError>>()
            const startAt = (at: Position) => {
              const early = at.feed === 0 && at.page === 0 ? ahead.get(at.projectIndex) : undefined
              if (early === undefined) return start(fetchAt(at))
              ahead.delete(at.projectIndex)
              return Effect.succeed(early)
            }
            const fetchAhead = (from: number) =>
              Effect.gen(function*() {
                for (let i = from + 1; i <= Math.min(from + lookahead, projectIds.length - 1); i++) {
                  if (!ahead.has(i)) ahead.set(i, yield* start(fetchAt({ projectIndex: i, feed: 0, page: 0 })))
                }
              })
            const dropAhead = Effect.suspend(() => {
              const fibers = [...ahead.values()]
              ahead.clear()
              return Effect.forEach(fibers, cancel, { discard: true })
            })

            return yield* Effect.gen(function*() {
              let pos: Position = doc.checkpoint!.position
              if (pos.projectIndex >= projectIds.length) return
              yield* checkMailbox
              let walkStartedAt = pos.walkStartedAt ?? (yield* walkStart)
              let inflight = yield* start(fetchAt(pos))
              yield* fetchAhead(pos.projectIndex)
              while (true) {
                const outcome = yield* settle(inflight)
                const projectId = projectIds[pos.projectIndex]!
                const nextProject: Position = { projectIndex: pos.projectIndex + 1, feed: 0, page: 0 }
                let records: ReadonlyArray<SourceRecord> = []
                let invalid: ReadonlyArray<InvalidRecord> = []
                let next = nextProject
                let fraction = (pos.projectIndex + 1) / projects
                if (outcome._tag === "Skip") {
                  yield* log("warn", `Skipped ${plural(entity)} of project ${projectId}: ${outcome.reason}`)
                } else {
                  const result = outcome.page
                  const threshold = thresholdOf(projectId)
                  records = threshold === null ? result.records : result.records.filter((r) => r.updatedAt >= threshold)
                  invalid = result.invalid
                  const lastOfFeed = !result.hasMore || records.length < result.records.length
                  if (!lastOfFeed) {
                    const size = sizeOf(pos)
                    const offset = (pos.page + 1) * size
                    const grown = incremental && size * 2 <= perPage && offset % (size * 2) === 0 ? size * 2 : size
                    next = {
                      projectIndex: pos.projectIndex,
                      feed: pos.feed,
                      page: offset / grown,
                      ...(grown !== perPage ? { perPage: grown } : {}),
                      ...(walkStartedAt ? { walkStartedAt } : {})
                    }
                    const pages = result.totalPages ? Math.min(1, (pos.page + 1) / result.totalPages) : 0.5
                    fraction = (pos.projectIndex + (pos.feed + pages) / feeds.length) / projects
                  } else if (pos.feed < feeds.length - 1) {
                    next = { projectIndex: pos.projectIndex, feed: pos.feed + 1, page: 0, ...(walkStartedAt ? { walkStartedAt } : {}) }
                    fraction = (pos.projectIndex + (pos.feed + 1) / feeds.length) / projects
                  }
                }
                const projectDone = next.projectIndex > pos.projectIndex
                // Fetch the next page while this one commits: the source works while SQLite does.
                const nextWalkStartedAt = projectDone ? yield* walkStart : walkStartedAt
                const prefetch = next.projectIndex < projectIds.length ? yield* startAt(next) : undefined
                if (prefetch) yield* fetchAhead(next.projectIndex)
                yield* commit({
                  stage,
                  entity,
                  records,
                  invalid,
                  next,
                  fraction,
                  ...(projectDone && outcome._tag === "Page" && walkStartedAt ? { watermark: { projectId, at: walkStartedAt } } : {}),
                  mirror: true,
                  ...(records.length + invalid.length > 0
                    ? {
                      note: `Processed ${records.length + invalid.length} ${plural(entity)} (project ${pos.projectIndex + 1}/${projectIds.length}, page ${pos.page + 1})`
                    }
                    : {})
                }).pipe(Effect.onError(() => (prefetch ? cancel(prefetch) : Effect.void)))
                if (prefetch === undefined) return
                const command = pending()
                if (command) {
                  yield* cancel(prefetch)
                  return yield* Effect.fail(new Interrupted(command))
                }
                pos = next
                walkStartedAt = nextWalkStartedAt
                inflight = prefetch
              }
            }).pipe(Effect.ensuring(dropAhead))
          })

        // ---- stage: finalizing; confirm before tombstoning ----------------------------------
        const sweepEntity = (entity: EntityType) =>
          Effect.gen(function*() {
            const walked = new Set(doc.checkpoint?.projectIds ?? [])
            const projectsAlsoSwept = plan.mirrored.has("projects")
            let total = 0
            while (true) {
              yield* checkMailbox
              const candidates = yield* mirror.unseen({
                integrationId: integration.id,
                entity,
                jobId,
                projects: initial.options.projects,
                excludeProjects: initial.options.excludeProjects,
                includeArchived,
                limit: perPage
              })
              if (candidates.length === 0) return total
              const projectState = entity === "projects" ? new Map() : yield* mirror.projectStates(integration.id)
              const gone: Array<string> = []
              const found: Array<SourceRecord> = []
              const invalid: Array<InvalidRecord> = []
              const untouched: Array<string> = []
              for (const c of candidates) {
                const state = projectState.get(c.projectId)
                if (entity !== "projects" && (state === "deleted" || (projectsAlsoSwept && state === undefined))) {
                  gone.push(c.sourceId)
                  continue
                }
                if (entity !== "projects" && (state === "archived" || state === "hidden") && !walked.has(c.projectId)) {
                  // Items of an archived project, or of one the key's owner is not a member of,
                  // stay as they were: Plane hides them from this key, it did not delete them.
                  untouched.push(c.sourceId)
                  continue
                }
                const lookup = yield* fetch(connector.lookup(entity, c.projectId, c.sourceId))
                if (lookup._tag === "Gone") gone.push(c.sourceId)
                else if (lookup._tag === "Found") found.push(lookup.record)
                else if (lookup._tag === "Hidden") untouched.push(c.sourceId)
                else invalid.push(lookup.invalid)
              }
              yield* commit({
                stage: "finalizing",
                entity,
                records: found,
                invalid,
                next: { projectIndex: 0, feed: 0, page: 0 },
                fraction: 0.5,
                extra: { deleted: gone.length, processed: gone.length + untouched.length },
                write: (at) =>
                  Effect.zipRight(
                    mirror.tombstone(integration.id, entity, gone, at, jobId),
                    mirror.touch(integration.id, entity, [...untouched, ...invalid.flatMap((i) => i.id ? [i.id] : [])], at, jobId)
                  ),
                mirror: true
              })
              total += gone.length
              if (gone.length > 0) {
                yield* log("info", `Deleted ${gone.length} ${plural(entity)} that Plane no longer has (confirmed one by one)`)
              }
            }
          })

        const finalizing = Effect.gen(function*() {
          if (!plan.sweep) {
            if (plan.mirrored.has("work_items")) {
              yield* log("info", "Incremental sync cannot see deletions in Plane; the next full sync (fullSyncInterval) finds them")
            }
            return
          }
          for (const entity of ENTITY_TYPES) {
            if (plan.mirrored.has(entity) && !emptyAtStart(entity)) yield* sweepEntity(entity)
          }
        })

        // ---- the run --------------------------------------------------------------------------
        const body = Effect.gen(function*() {
          if (doc.checkpoint === null) {
            yield* log("info", `Starting ${initial.type.replace("_", " ")} (batch size ${perPage})`)
          } else {
            const p = doc.checkpoint.position
            yield* log(
              "info",
              `Resuming from checkpoint: ${doc.checkpoint.stage}, project ${p.projectIndex + 1}, page ${p.page + 1} (counters so far: ${doc.stats.processed} processed)`
            )
          }
          const startIndex = doc.checkpoint ? plan.stages.indexOf(doc.checkpoint.stage) : 0
          for (let si = Math.max(0, startIndex); si < plan.stages.length; si++) {
            const stage = plan.stages[si]!
            if (doc.checkpoint === null || doc.checkpoint.stage !== stage) {
              yield* startStage(stage, stage === "syncing_projects" ? [] : doc.checkpoint?.projectIds ?? [])
              if (si === 1) weights = stageWeights(plan, counts, doc.checkpoint?.projectIds.length ?? 0)
            }
            const run = stage === "syncing_projects"
              ? projectsStage
              : stage === "finalizing"
              ? finalizing
              : projectScopedStage(stage, entityOf(stage)!)
            yield* Effect.annotateLogs(run, { stage })
          }
          return yield* finish
        })

        const finish = Effect.gen(function*() {
          const s = doc.stats
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
          doc = next!
          yield* log(
            "info",
            `Completed: ${s.processed} processed, ${s.created} created, ${s.updated} updated, ${s.deleted} deleted, ${s.errors} errors`,
            false,
            { ...s }
          )
          return "completed" as Outcome
        })

        return yield* body.pipe(
          Effect.catchIf((e): e is Interrupted => e instanceof Interrupted, (e) => honour(jobId, e.command))
        )
      })

    /** Ends the run on a command, at a batch boundary: the last commit is the checkpoint. */
    const honour = (jobId: string, command: Command) =>
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
            ? command._tag === "Pause" && command.reason === "shutdown"
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
