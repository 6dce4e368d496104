import { describe, expect, it } from "@effect/vitest"
import { Chunk, Clock, Duration, Effect, Either, Fiber, Random, Schedule, TestClock } from "effect"
import { type NextAttempt, type RequestPolicy, retrying, retrySchedule, Transient } from "../src/connectors/retryPolicy.js"

/**
 * The connectors' retry policy as a Schedule (src/connectors/retryPolicy.ts): capped
 * exponential backoff with jitter for transient failures, Retry-After for 429s, each with its
 * own count; and `retrying`, which hands each delay to the caller's wait (the job's observer)
 * instead of sleeping itself. Time is TestClock's, randomness a fixed sequence.
 */

const policy: RequestPolicy = {
  requestTimeout: Duration.seconds(30),
  maxAttempts: 5,
  baseDelay: Duration.seconds(1),
  maxDelay: Duration.seconds(5),
  maxRateLimitWaits: 3
}

const failed = (status = 500) => new Transient(`Plane answered ${status}`)
const limited = (seconds: number) => new Transient("rate limited by Plane (429)", seconds * 1000)

/** The policy's decision after each failure in turn (the last one may be "no more"). */
const decisions = (failures: ReadonlyArray<Transient>, random: number, settings = policy) =>
  Schedule.run(retrySchedule(settings), 0, failures).pipe(
    Effect.map((out) => Chunk.toReadonlyArray(out).map((n: NextAttempt) => [n.attempt, n.delayMs] as const)),
    Effect.withRandom(Random.fixed([random]))
  )

describe("the retry schedule", () => {
  it.effect("doubles the delay from baseDelay, caps it at maxDelay and stops after maxAttempts attempts", () =>
    Effect.gen(function*() {
      // random 0.5: a jitter factor of exactly 1.
      expect(yield* decisions([failed(), failed(), failed(), failed(), failed()], 0.5)).toEqual([
        [1, 1000],
        [2, 2000],
        [3, 4000],
        [4, 5000],
        // The fifth failure is the fifth attempt: no more ("failed 5 times").
        [5, 0]
      ])
    }))

  it.effect("jitters each delay by ±20% after the cap, in whole milliseconds", () =>
    Effect.gen(function*() {
      const low = yield* decisions([failed(), failed(), failed(), failed()], 0)
      expect(low.map(([, ms]) => ms)).toEqual([800, 1600, 3200, 4000])
      const high = yield* decisions([failed(), failed(), failed(), failed()], 0.75)
      expect(high.map(([, ms]) => ms)).toEqual([1100, 2200, 4400, 5500])
    }))

  it.effect("waits a 429's Retry-After, without spending an attempt or growing the backoff", () =>
    Effect.gen(function*() {
      expect(yield* decisions([limited(30), failed(), limited(7), failed(), failed()], 0.5)).toEqual([
        [1, 30_000],
        [1, 1000],
        [2, 7000],
        [2, 2000],
        [3, 4000]
      ])
    }))

  it.effect("stops after maxRateLimitWaits 429s, and at once when maxAttempts is 1", () =>
    Effect.gen(function*() {
      const waits = yield* decisions([limited(1), failed(), limited(1), limited(1), limited(1), failed()], 0.5)
      // Three waits, then the fourth 429 ends it (the failure after it is never asked about).
      expect(waits).toEqual([[1, 1000], [1, 1000], [2, 1000], [3, 1000], [4, 0]])
      expect(yield* decisions([failed(), failed()], 0.5, { ...policy, maxAttempts: 1 })).toEqual([[1, 0]])
      expect(yield* decisions([limited(5)], 0.5, { ...policy, maxRateLimitWaits: 0 })).toEqual([[1, 0]])
    }))
})

describe("retrying", () => {
  /** An attempt that answers with `results` in turn, counting its calls. */
  const scripted = (results: ReadonlyArray<Either.Either<string, Transient | "permanent">>) => {
    let calls = 0
    const attempt = Effect.suspend(() => {
      const result = results[Math.min(calls++, results.length - 1)]!
      return Either.isRight(result) ? Effect.succeed(result.right) : Effect.fail(result.left)
    })
    return { attempt, calls: () => calls }
  }
  const giveUp = (last: NextAttempt) => `gave up after ${last.attempt} (${last.failure.reason})` as const

  it.effect("waits only as the caller's wait says: the schedule itself never sleeps", () =>
    Effect.gen(function*() {
      const { attempt, calls } = scripted([Either.left(failed(503)), Either.left(limited(30)), Either.left(failed()), Either.right("ok")])
      const seen: Array<readonly [number, number, string]> = []
      // The caller records the waits and does not sleep: the retries then take no time at all.
      const result = yield* retrying(policy, (next) =>
        Effect.sync(() => void seen.push([next.attempt, next.delayMs, next.failure.reason])), giveUp)(attempt).pipe(
          Effect.withRandom(Random.fixed([0.5]))
        )
      expect(result).toBe("ok")
      expect(calls()).toBe(4)
      expect(seen).toEqual([
        [1, 1000, "Plane answered 503"],
        [1, 30_000, "rate limited by Plane (429)"],
        [2, 2000, "Plane answered 500"]
      ])
      expect(yield* Clock.currentTimeMillis).toBe(0)
    }))

  it.effect("sleeps exactly the backoff when the caller's wait is a sleep, and gives up after maxAttempts", () =>
    Effect.gen(function*() {
      const { attempt, calls } = scripted([Either.left(failed())])
      const fiber = yield* retrying({ ...policy, maxAttempts: 3 }, (next) => Effect.sleep(next.delayMs), giveUp)(attempt).pipe(
        Effect.withRandom(Random.fixed([0.5])),
        Effect.either,
        Effect.fork
      )
      yield* TestClock.adjust("999 millis")
      expect(calls()).toBe(1)
      yield* TestClock.adjust("1 millis")
      expect(calls()).toBe(2)
      yield* TestClock.adjust("2 seconds")
      const outcome = yield* Fiber.join(fiber)
      expect(calls()).toBe(3)
      expect(outcome).toEqual(Either.left("gave up after 3 (Plane answered 500)"))
    }))

  it.effect("passes any other failure through at once, without a retry", () =>
    Effect.gen(function*() {
      const { attempt, calls } = scripted([Either.left("permanent")])
      let waits = 0
      const outcome = yield* retrying(policy, () => Effect.sync(() => void waits++), giveUp)(attempt).pipe(Effect.either)
      expect(outcome).toEqual(Either.left("permanent"))
      expect(calls()).toBe(1)
      expect(waits).toBe(0)
    }))
})
