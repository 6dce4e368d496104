import { Clock, Effect, Random } from "effect"
import type { Attempt } from "./delivery.js"

export interface RetryPolicy {
  readonly baseDelayMs: number
  readonly maxDelayMs: number
  /** Measured from the delivery's first failure. */
  readonly giveUpAfterMs: number
}

/** ±20% around the capped exponential delay, so receivers coming back are not hit in step. */
const JITTER = { min: 0.8, max: 1.2 } as const

/** The wait after the `failures`-th failed attempt in a row: base × 2^(failures−1), capped. */
export const backoffDelay = (policy: RetryPolicy, failures: number, jitter: number): number =>
  Math.round(Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (failures - 1)) * jitter)

type Settled =
  | { readonly _tag: "Delivered"; readonly status: number; readonly at: number }
  | { readonly _tag: "GivenUp"; readonly reason: string; readonly at: number; readonly failingSince: number }

interface FailedAttempt {
  readonly reason: string
  readonly at: number
  readonly failingSince: number
  /** The wait before the next attempt; null when this failure gave the delivery up. */
  readonly retryInMs: number | null
}

/**
 * Repeats `attempt` until it succeeds, waiting a capped exponential backoff with jitter between
 * failures, or gives up on the first failure at least `giveUpAfterMs` after the first one.
 * `failingSince` carries the first failure over a restart, so a restart does not reset the
 * give-up clock. Every wait is on Effect's Clock.
 */
export const deliverWithRetry = <R, E = never>(
  attempt: Effect.Effect<Attempt, never, R>,
  policy: RetryPolicy,
  options: {
    readonly failingSince: number | null
    readonly onFailure: (failure: FailedAttempt) => Effect.Effect<void, E>
  }
): Effect.Effect<Settled, E, R> =>
  Effect.gen(function*() {
    let failingSince = options.failingSince
    let failures = 0
    while (true) {
      const result = yield* attempt
      const now = yield* Clock.currentTimeMillis
      if (result.ok) return { _tag: "Delivered", status: result.status, at: now } as const
      failures++
      failingSince ??= now
      if (now - failingSince >= policy.giveUpAfterMs) {
        yield* options.onFailure({ reason: result.reason, at: now, failingSince, retryInMs: null })
        return { _tag: "GivenUp", reason: result.reason, at: now, failingSince } as const
      }
      const delay = backoffDelay(policy, failures, yield* Random.nextRange(JITTER.min, JITTER.max))
      yield* options.onFailure({ reason: result.reason, at: now, failingSince, retryInMs: delay })
      yield* Effect.sleep(delay)
    }
  })
