import { Effect, PubSub, type Queue, type Scope } from "effect"
import type { WaitReason } from "../connectors/Connector.js"

/** A job's request waiting to be sent, as the job view shows it. */
interface JobWait {
  readonly reason: WaitReason
  /** Epoch milliseconds. */
  readonly until: number
}

/** Waits shorter than this are ordinary pacing: not shown, not logged. */
export const LONG_WAIT_MS = 2_000

/**
 * The long waits of running jobs, in memory only: a wait is transient (it ends, or the process
 * does), so it is not an event and never part of the job's view or its cached JSON; the API
 * adds it to a job it presents while the wait lasts.
 */
export class JobWaits extends Effect.Service<JobWaits>()("synclog/JobWaits", {
  effect: Effect.gen(function*() {
    // Several requests of one job can wait at once (pages asked ahead): one entry per wait.
    const waits = new Map<string, Set<JobWait>>()
    /** The id of a job whose waits changed (live streams push its progress). */
    const changed = yield* PubSub.sliding<string>(1024)

    /** Runs `effect` (the wait) with `wait` registered for `jobId` until it ends, however it ends. */
    const during = <A, E, R>(jobId: string, wait: JobWait, effect: Effect.Effect<A, E, R>) =>
      Effect.acquireUseRelease(
        Effect.sync(() => {
          let set = waits.get(jobId)
          if (set === undefined) waits.set(jobId, (set = new Set()))
          set.add(wait)
          changed.unsafeOffer(jobId)
        }),
        () => effect,
        () =>
          Effect.sync(() => {
            const set = waits.get(jobId)
            set?.delete(wait)
            if (set?.size === 0) waits.delete(jobId)
            changed.unsafeOffer(jobId)
          })
      )

    /** The job's wait that ends first (the next moment it can move), if any. */
    const current = (jobId: string): JobWait | undefined => {
      const set = waits.get(jobId)
      if (set === undefined) return undefined
      let first: JobWait | undefined
      for (const w of set) if (first === undefined || w.until < first.until) first = w
      return first
    }

    /** Whether the job already has a long wait for this reason (one log line per spell). */
    const has = (jobId: string, reason: WaitReason) => {
      for (const w of waits.get(jobId) ?? []) if (w.reason === reason) return true
      return false
    }

    /** Ids of jobs whose waits start or end, from now on. */
    const changes: Effect.Effect<Queue.Dequeue<string>, never, Scope.Scope> = PubSub.subscribe(changed)

    return { during, current, has, changes } as const
  })
}) {}
