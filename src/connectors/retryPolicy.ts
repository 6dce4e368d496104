import { Duration, Effect, Either, Schedule, ScheduleDecision, ScheduleIntervals } from "effect"

/** How a connector's requests are timed out and retried: the integration's `retry` settings. */
export interface RequestPolicy {
  readonly requestTimeout: Duration.Duration
  /** Attempts per request for transient failures (5xx, timeouts, resets, unparsable bodies). */
  readonly maxAttempts: number
  readonly baseDelay: Duration.Duration
  readonly maxDelay: Duration.Duration
  /** How many 429s one request may wait out before the job gives up. */
  readonly maxRateLimitWaits: number
}

/** A failure worth another attempt; `retryAfterMs` when the source said how long to wait (a 429). */
export class Transient {
  constructor(readonly reason: string, readonly retryAfterMs?: number) {}
}

/** What the policy decided after a failure: the `attempt`-th retry of its kind, `delayMs` from now. */
export interface NextAttempt {
  readonly failure: Transient
  /** 1 for the first retry after a failure of this kind (a 429, or any other). */
  readonly attempt: number
  readonly delayMs: number
}

/**
 * Transient failures: `baseDelay`·2ⁿ, capped at `maxDelay`, then ±20% jitter (so a capped delay
 * may exceed `maxDelay` by up to a fifth), in whole milliseconds; `maxAttempts` attempts in
 * all. Outputs the retry's number.
 */
const backoff = (policy: RequestPolicy): Schedule.Schedule<number, Transient> =>
  Schedule.exponential(policy.baseDelay).pipe(
    Schedule.modifyDelay((_, delay) => Duration.min(delay, policy.maxDelay)),
    Schedule.jittered,
    Schedule.modifyDelay((_, delay) => Math.round(Duration.toMillis(delay))),
    Schedule.intersect(Schedule.recurs(policy.maxAttempts - 1)),
    Schedule.map(([, retries]) => retries + 1)
  )

/** 429s: as long as each one's `Retry-After` says, at most `maxRateLimitWaits` times. */
const retryAfter = (policy: RequestPolicy): Schedule.Schedule<number, Transient> =>
  Schedule.identity<Transient>().pipe(
    Schedule.intersect(Schedule.recurs(policy.maxRateLimitWaits)),
    Schedule.modifyDelay(([failure]) => failure.retryAfterMs ?? 0),
    Schedule.map(([, waits]) => waits + 1)
  )

/**
 * Feeds each failure to the schedule of its kind, each with its own state: a 429 neither
 * spends an attempt nor grows the backoff, and a 5xx does not spend a Retry-After wait.
 */
const byKind = (
  rateLimited: Schedule.Schedule<number, Transient>,
  failed: Schedule.Schedule<number, Transient>
): Schedule.Schedule<NextAttempt, Transient> =>
  Schedule.makeWithState(
    { rateLimited: rateLimited.initial, failed: failed.initial },
    (now, failure: Transient, state) => {
      const limited = failure.retryAfterMs !== undefined
      return Effect.map(
        limited ? rateLimited.step(now, failure, state.rateLimited) : failed.step(now, failure, state.failed),
        ([next, attempt, decision]) =>
          [
            limited ? { ...state, rateLimited: next } : { ...state, failed: next },
            {
              failure,
              attempt,
              delayMs: ScheduleDecision.isDone(decision) ? 0 : ScheduleIntervals.start(decision.intervals) - now
            },
            decision
          ] as const
      )
    }
  )

/** The retry policy of a connector's requests, from the integration's `retry` settings. */
export const retrySchedule = (policy: RequestPolicy): Schedule.Schedule<NextAttempt, Transient> =>
  byKind(retryAfter(policy), backoff(policy))

/**
 * Retries an attempt on transient failures as `retrySchedule` decides, and fails with
 * `giveUp`'s error once it says no more; other failures end it at once. Each wait is
 * `beforeRetry`'s, not `Effect.retry`'s own sleep: a request's waits go through the job's
 * observer (shown as the job's `waiting`, logged, and ended at once by a stop, as nothing was
 * sent), which a schedule's sleep cannot do; so the policy's delay is handed to it and the
 * schedule itself then sleeps for nothing. Built once per connector, applied to each request.
 */
export const retrying = <E, R2>(
  policy: RequestPolicy,
  beforeRetry: (next: NextAttempt) => Effect.Effect<void, never, R2>,
  giveUp: (last: NextAttempt) => E
) => {
  const schedule = retrySchedule(policy).pipe(
    Schedule.onDecision((next, decision) => ScheduleDecision.isDone(decision) ? Effect.void : beforeRetry(next)),
    Schedule.modifyDelay(() => Duration.zero)
  )
  return <A, E1, R>(attempt: Effect.Effect<A, E1 | Transient, R>): Effect.Effect<A, E | E1, R | R2> =>
    Effect.retryOrElse(
      // Only transient failures reach the schedule: the others pass it in the success channel.
      Effect.catchIf(
        Effect.map(attempt, Either.right),
        (e): e is E1 => !(e instanceof Transient),
        (e) => Effect.succeed(Either.left(e))
      ) as Effect.Effect<Either.Either<A, E1>, Transient, R>,
      schedule,
      (_, last) => Effect.fail(giveUp(last))
    ).pipe(Effect.flatMap((result) => result))
}
