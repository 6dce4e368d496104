// A little over 300 lines: the one scheduling fiber and the per-tick decisions it makes (due
// runs, circuit probes, retries, sync windows) read best together; the time arithmetic is in
// domain/schedules.ts.
import { type Cause, Clock, Effect, Fiber, Queue, Ref } from "effect"
import { EngineSettings } from "../config/Settings.js"
import { CircuitHalfOpened, ScheduledRun } from "../domain/events.js"
import type { JobType } from "../domain/job.js"
import { isPausedByWindow, isRetryable } from "../domain/jobDecider.js"
import { EventStore } from "../eventlog/EventStore.js"
import type { SyncWindowSpec } from "../domain/events.js"
import {
  deferToWindow,
  fullSyncDue,
  insideWindow,
  nextOccurrence,
  nextWindowEnd,
  nextWindowStart
} from "../domain/schedules.js"
import { effectiveSchedule, type IntegrationDoc } from "../eventlog/integrationProjection.js"
import { Views } from "../eventlog/Views.js"
import { JobLog } from "./JobLog.js"
import { JobOutcomes } from "./JobOutcomes.js"
import { Jobs } from "./Jobs.js"
import { JobSupervisor } from "./JobSupervisor.js"
import { Placement } from "./Placement.js"
import { isoAt } from "../domain/time.js"

const HOUR = 3_600_000

/**
 * Cluster: the loop runs on one runner (a cluster Singleton) while schedules change through any
 * runner, whose wake-up cannot reach it; it looks again at least this often.
 */
const CLUSTER_RECHECK = 2_000

/**
 * A pass queues its due ticks this many to a write transaction: one wait for the writers' lock
 * per chunk instead of two per job (on PostgreSQL each wait queues behind the running jobs'
 * commits), while one chunk holds that lock only briefly.
 */
const TICKS_PER_TRANSACTION = 50

/** Full when there is no baseline or the full-sync schedule is due; else incremental. */
const scheduledType = (doc: IntegrationDoc, now: number): { type: JobType; reason: string } => {
  if (!doc.hasBaseline) return { type: "full_sync", reason: "no baseline yet: full sync" }
  if (fullSyncDue(doc.settings, doc.lastFullSyncCompletedAt, now)) {
    return { type: "full_sync", reason: "fullSyncSchedule due: full sync" }
  }
  return { type: "incremental_sync", reason: "schedule: incremental sync" }
}

/** When the integration's next scheduled job is due: its next run (or probe), moved into its sync window. */
export const nextSyncAt = (doc: IntegrationDoc): number | null => {
  const window = doc.settings.syncWindow
  if (!doc.active || !doc.settings.enabled) return null
  if (doc.circuit.state !== "closed") {
    return doc.circuit.probeAt === null ? null : deferToWindow(window, Date.parse(doc.circuit.probeAt))
  }
  if (doc.nextRunAt === null) return null
  return deferToWindow(window, Date.parse(doc.nextRunAt))
}

/**
 * One fiber for every integration: it sleeps until the earliest due time (a next run, a circuit
 * probe, an automatic retry, a sync window's start or end) and wakes early when a schedule changes. Time comes from Clock, so
 * TestClock drives it in tests.
 */
export class Scheduler extends Effect.Service<Scheduler>()("synclog/Scheduler", {
  scoped: Effect.gen(function*() {
    const views = yield* Views
    const store = yield* EventStore
    const jobs = yield* Jobs
    const supervisor = yield* JobSupervisor
    const outcomes = yield* JobOutcomes
    const jobLog = yield* JobLog
    const engine = yield* EngineSettings
    const wakeUp = yield* Queue.sliding<void>(1)
    const loopFiber = yield* Ref.make<Fiber.RuntimeFiber<never> | null>(null)
    const scope = yield* Effect.scope
    const placement = yield* Placement
    const clustered = placement.runner !== null
    let started = false

    const wake = Queue.offer(wakeUp, undefined).pipe(Effect.asVoid)

    // A failed job may be retried: look at the schedules again (the pass waits for the circuit
    // breaker's decision on the same outcome, see runDue).
    yield* outcomes.subscribe(({ outcome }) => (outcome === "failed" ? wake : Effect.void))

    /**
     * The interval tick of one integration: queue a job, or skip when one is still active.
     * Returns the integration when it queued one; the pass starts its jobs once they committed.
     */
    const tick = (doc: IntegrationDoc, now: number) =>
      Effect.gen(function*() {
        const nextRunAt = isoAt(nextOccurrence(effectiveSchedule(doc), now))
        const current = yield* views.currentJob(doc.id)
        if (current !== undefined) {
          yield* store.appendIntegration(doc.id, doc.version, [
            new ScheduledRun({
              integrationId: doc.id,
              outcome: "skipped",
              jobId: current.id,
              reason: `job ${current.id} is still ${current.status}`,
              nextRunAt,
              at: isoAt(now)
            })
          ])
          yield* Effect.logInfo(`Scheduled sync of ${doc.id} skipped: job ${current.id} is still ${current.status}`)
          yield* jobLog.write(current.id, "info", `Scheduled sync skipped: this job is still ${current.status}`)
          return null
        }
        const { reason, type } = scheduledType(doc, now)
        const created = yield* jobs.create({ integrationId: doc.id, type, options: {}, trigger: "schedule", dispatch: false })
        const latest = yield* views.integration(doc.id)
        yield* store.appendIntegration(doc.id, latest!.version, [
          new ScheduledRun({ integrationId: doc.id, outcome: "queued", jobId: created.jobId, reason, nextRunAt, at: isoAt(now) })
        ])
        return doc.id
      })

    /** After the cool-down: one probe job, the circuit half-open while it runs. */
    const probe = (doc: IntegrationDoc, now: number) =>
      Effect.gen(function*() {
        const { type } = scheduledType(doc, now)
        const created = yield* jobs.create({ integrationId: doc.id, type, options: {}, trigger: "schedule" })
        const latest = yield* views.integration(doc.id)
        yield* store.appendIntegration(doc.id, latest!.version, [
          new CircuitHalfOpened({ integrationId: doc.id, probeJobId: created.jobId, at: isoAt(now) })
        ])
        yield* jobLog.write(created.jobId, "info", `Probe job of the circuit breaker of ${doc.id} (half-open)`)
      })

    /** A failed job with a transient cause is resumed from its checkpoint after `autoRetry.delay`. */
    const retryDue = (doc: IntegrationDoc, now: number) =>
      Effect.gen(function*() {
        if (doc.circuit.state !== "closed") return null
        const latest = yield* views.latestJob(doc.id)
        if (!latest || !isRetryable(latest)) return null
        const autoRetry = { ...engine.autoRetry, ...doc.settings.autoRetry }
        if (latest.attempt >= autoRetry.maxAttempts) return null
        const due = Date.parse(latest.completedAt!) + autoRetry.delay * 1000
        if (now < due) return due
        yield* supervisor.resume(
          latest.id,
          "retry",
          `Automatic retry ${latest.attempt + 1} of ${autoRetry.maxAttempts} after a transient failure, from the last checkpoint`
        ).pipe(
          // Resumed, stopped or deleted meanwhile: there is nothing to retry.
          Effect.catchTags({ InvalidTransition: () => Effect.void, JobNotFound: () => Effect.void })
        )
        return null
      })

    /**
     * The sync window: outside it, running scheduled jobs pause at their next batch boundary;
     * inside it (or once the window is removed), the jobs it paused resume. Returns the next
     * boundary to wake at.
     */
    const enforceWindow = (doc: IntegrationDoc, window: SyncWindowSpec | undefined, now: number) =>
      Effect.gen(function*() {
        const inside = window === undefined || insideWindow(window, now)
        for (const job of yield* views.withStatus(inside ? ["paused"] : ["running"], doc.id)) {
          if (inside && isPausedByWindow(job)) {
            yield* Effect.logInfo(`Sync window of ${doc.id} open: resuming job ${job.id}`)
            yield* supervisor.resume(job.id, "window")
          } else if (!inside && job.trigger === "schedule" && !job.pauseRequested) {
            yield* Effect.logInfo(`Sync window of ${doc.id} closed: pausing job ${job.id} at its next batch boundary`)
            yield* supervisor.pause(job.id, "window")
          }
        }
        if (window === undefined) return null
        return inside ? nextWindowEnd(window, now) : nextWindowStart(window, now)
      })

    /**
     * One integration's due work but its interval tick; returns when it is due next, and whether
     * its tick is due (the pass runs the due ticks together, see runDue).
     */
    const runIntegration = (doc: IntegrationDoc, now: number, windowPaused: ReadonlySet<string>) =>
      Effect.gen(function*() {
        let next = now + HOUR
        const window = doc.settings.syncWindow
        // Without a window only jobs an earlier window paused need a look (the window was removed).
        if (window !== undefined || windowPaused.has(doc.id)) {
          const boundary = yield* enforceWindow(doc, window, now)
          if (boundary !== null) next = Math.min(next, boundary)
        }
        const retryAt = yield* retryDue(doc, now)
        if (retryAt !== null) next = Math.min(next, retryAt)
        if (doc.circuit.state === "open") {
          const probeAt = deferToWindow(window, Date.parse(doc.circuit.probeAt!))
          if (probeAt <= now) yield* probe(doc, now)
          else next = Math.min(next, probeAt)
          return { next, tickDue: false }
        }
        if (doc.circuit.state === "half_open" || doc.nextRunAt === null) return { next, tickDue: false }
        // A due time outside the window waits for the window's next start.
        const due = deferToWindow(window, Date.parse(doc.nextRunAt))
        if (due > now) return { next: Math.min(next, due), tickDue: false }
        return { next: Math.min(next, deferToWindow(window, nextOccurrence(effectiveSchedule(doc), now))), tickDue: true }
      }).pipe(
        // One integration's trouble never stops the others' schedules.
        Effect.catchAllCause((cause) => Effect.as(schedulingFailed(doc.id, cause), { next: now + 60_000, tickDue: false }))
      )

    const schedulingFailed = (integrationId: string, cause: Cause.Cause<unknown>) =>
      Effect.logError(`Scheduling ${integrationId} failed; trying again in a minute`, cause)

    /**
     * The due ticks of a pass, a chunk per write transaction: each tick in a savepoint of its own
     * (one integration's failure rolls back its tick only, and it is tried again in a minute),
     * then the chunk's new jobs start, or their runners are woken, once it committed: beside the
     * next chunk's transaction, and before the pass ends. Returns the integrations whose tick failed.
     */
    const runTicks = (due: ReadonlyArray<IntegrationDoc>, now: number) =>
      Effect.gen(function*() {
        const failed = new Set<string>()
        const starting: Array<Fiber.RuntimeFiber<void>> = []
        for (let i = 0; i < due.length; i += TICKS_PER_TRANSACTION) {
          const chunk = due.slice(i, i + TICKS_PER_TRANSACTION)
          const queued: ReadonlyArray<string | null> = yield* store.inOneTransaction(Effect.forEach(chunk, (doc) =>
            store.inOneTransaction(tick(doc, now)).pipe(
              Effect.catchAllCause((cause) => {
                failed.add(doc.id)
                return Effect.as(schedulingFailed(doc.id, cause), null)
              })
            ))).pipe(
              Effect.catchAllCause((cause) => {
                // The commit itself failed: none of the chunk's ticks happened.
                for (const doc of chunk) failed.add(doc.id)
                return Effect.as(
                  Effect.logError(`Scheduling ${chunk.map((d) => d.id).join(", ")} failed; trying again in a minute`, cause),
                  []
                )
              })
            )
          const start = supervisor.dispatchFor(queued.filter((id): id is string => id !== null)).pipe(
            Effect.catchAllCause((cause) => Effect.logWarning("Starting the scheduled jobs failed; they start at the next dispatch", cause))
          )
          // In the service's scope: a pass interrupted (the Singleton moving) leaves a start it began alone.
          starting.push(yield* Effect.forkIn(start, scope))
        }
        yield* Fiber.joinAll(starting)
        return failed
      })

    /** Runs whatever is due; returns when to look again. */
    const runDue = Effect.gen(function*() {
      // Never a pass on a job's end half-decided: the circuit breaker handles each outcome side
      // by side with this scheduler's wake-up, and the pass must see whether it opened the circuit.
      yield* outcomes.settled
      const now = yield* Clock.currentTimeMillis
      let next = now + HOUR
      const windowPaused = new Set(
        (yield* views.withStatus(["paused"])).flatMap((j) => isPausedByWindow(j) ? [j.integrationId] : [])
      )
      const due: Array<IntegrationDoc> = []
      const nextOf = new Map<string, number>()
      for (const doc of yield* views.integrations) {
        if (!doc.active || !doc.settings.enabled) continue
        const result = yield* runIntegration(doc, now, windowPaused)
        nextOf.set(doc.id, result.next)
        if (result.tickDue) due.push(doc)
      }
      for (const id of yield* runTicks(due, now)) nextOf.set(id, now + 60_000)
      for (const at of nextOf.values()) next = Math.min(next, at)
      return next
    })

    const loop = Effect.gen(function*() {
      while (true) {
        const next = yield* runDue.pipe(
          Effect.catchAllCause((cause) =>
            Effect.as(Effect.logError("Scheduler pass failed; trying again in a minute", cause), -1)
          )
        )
        const now = yield* Clock.currentTimeMillis
        const delay = next < 0 ? 60_000 : Math.max(0, next - now)
        yield* Effect.raceFirst(Effect.sleep(clustered ? Math.min(delay, CLUSTER_RECHECK) : delay), Queue.take(wakeUp))
      }
    })

    /**
     * Starts the loop once; later calls wake it so it re-reads every schedule. On a cluster the
     * loop is the scheduler Singleton's (src/cluster/), wherever it runs: this only marks it started.
     */
    const start = Effect.gen(function*() {
      if (clustered) {
        started = true
        return yield* wake
      }
      const fiber = yield* Ref.get(loopFiber)
      if (fiber !== null) return yield* wake
      const forked = yield* Effect.forkIn(loop as Effect.Effect<never>, scope)
      yield* Ref.set(loopFiber, forked)
    })

    const status = Effect.map(Ref.get(loopFiber), (f) => (f === null && !started ? "stopped" as const : "running" as const))

    /** The loop itself, for the cluster's scheduler Singleton (runs until interrupted). */
    const run = loop as Effect.Effect<never>

    return { start, wake, status, runDue, run } as const
  })
}) {}
