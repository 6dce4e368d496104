import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Logger, TestClock } from "effect"
import { type JobOutcome, JobOutcomes } from "../src/engine/JobOutcomes.js"
import { ask, fork, join, makeRunControl, received } from "../src/engine/run/control.js"

/**
 * The job actor's own decisions, without a server: how a run takes commands and grace periods
 * (run/control.ts, grace timers on TestClock), and how job outcomes reach their subscribers
 * (JobOutcomes). test/jobActor.test.ts runs the same through real jobs.
 */
const graceExpired = (control: { readonly graceExpired: Deferred.Deferred<void> }) => Deferred.isDone(control.graceExpired)

describe("run control", () => {
  it.scoped("keeps the first command, and a second graceful one does not extend the grace period", () =>
    Effect.gen(function*() {
      const control = yield* makeRunControl
      expect(yield* received(control)).toBeUndefined()
      yield* ask(control, { _tag: "Pause", reason: "request" }, 30_000)
      yield* TestClock.adjust("10 seconds")
      yield* ask(control, { _tag: "Stop" }, 30_000)
      // The run sees the first command; the stop is in the job's log, where the decider settles it.
      expect(yield* received(control)).toEqual({ _tag: "Pause", reason: "request" })
      yield* TestClock.adjust("19 seconds")
      expect(yield* graceExpired(control)).toBe(false)
      // 30 s after the first command, not after the second.
      yield* TestClock.adjust("1 second")
      expect(yield* graceExpired(control)).toBe(true)
    }))

  it.scoped("lets a later command with a shorter grace period (a shutdown's) cut it short", () =>
    Effect.gen(function*() {
      const control = yield* makeRunControl
      yield* ask(control, { _tag: "Stop" }, 30_000)
      yield* TestClock.adjust("5 seconds")
      yield* ask(control, { _tag: "Pause", reason: "shutdown" }, 10_000)
      yield* TestClock.adjust("9 seconds")
      expect(yield* graceExpired(control)).toBe(false)
      yield* TestClock.adjust("1 second")
      expect(yield* graceExpired(control)).toBe(true)
      expect(yield* received(control)).toEqual({ _tag: "Stop" })
    }))

  it.scoped("answers a request that completes within the grace period: the batch in flight can commit", () =>
    Effect.gen(function*() {
      const control = yield* makeRunControl
      const request = yield* fork(control, Effect.as(Effect.sleep("10 seconds"), "page 3"))
      yield* ask(control, { _tag: "Stop" }, 30_000)
      yield* TestClock.adjust("10 seconds")
      expect(yield* join(control, request)).toBe("page 3")
      // At the batch boundary the run finds the command.
      expect(yield* received(control)).toEqual({ _tag: "Stop" })
    }))

  it.scoped("interrupts the requests in flight when the grace period runs out, and refuses new ones", () =>
    Effect.gen(function*() {
      const control = yield* makeRunControl
      const sent = yield* Deferred.make<void>()
      const abandoned = yield* Deferred.make<void>()
      const request = yield* fork(
        control,
        Effect.zipRight(Deferred.succeed(sent, undefined), Effect.as(Effect.sleep("1 hour"), "page 3")).pipe(
          Effect.onInterrupt(() => Deferred.succeed(abandoned, undefined))
        )
      )
      yield* Deferred.await(sent)
      yield* ask(control, { _tag: "Pause", reason: "window" }, 30_000)
      yield* TestClock.adjust("29 seconds")
      expect(yield* Deferred.isDone(abandoned)).toBe(false)
      yield* TestClock.adjust("1 second")
      // The run gets the command instead of the page: nothing of the page is committed.
      const ended = yield* Effect.flip(join(control, request))
      expect(ended).toMatchObject({ _tag: "Interrupted", command: { _tag: "Pause", reason: "window" } })
      expect(yield* Deferred.isDone(abandoned)).toBe(true)
      const refused = yield* Effect.flip(fork(control, Effect.succeed("page 4")))
      expect(refused).toMatchObject({ _tag: "Interrupted", command: { _tag: "Pause", reason: "window" } })
    }))

  it.effect("ends the grace timers and the requests with the run's scope", () =>
    Effect.gen(function*() {
      const abandoned = yield* Deferred.make<void>()
      const control = yield* Effect.scoped(Effect.gen(function*() {
        const control = yield* makeRunControl
        yield* fork(control, Effect.never.pipe(Effect.onInterrupt(() => Deferred.succeed(abandoned, undefined))))
        yield* ask(control, { _tag: "Stop" }, 30_000)
        return control
      }))
      expect(yield* Deferred.isDone(abandoned)).toBe(true)
      // No timer is left to fire after the run ended.
      yield* TestClock.adjust("1 minute")
      expect(yield* graceExpired(control)).toBe(false)
    }))
})

const outcome = (jobId: string, result: JobOutcome["outcome"]): JobOutcome => ({ jobId, integrationId: "int-a", outcome: result })

describe("job outcomes", () => {
  it.scoped("returns from publish only once every subscriber has handled the outcome", () =>
    Effect.gen(function*() {
      const outcomes = yield* JobOutcomes
      const seen: Array<string> = []
      const gate = yield* Deferred.make<void>()
      const entered = yield* Deferred.make<void>()
      yield* outcomes.subscribe((o) => Effect.sync(() => void seen.push(`fast ${o.jobId}`)))
      yield* outcomes.subscribe((o) =>
        Effect.gen(function*() {
          yield* Deferred.succeed(entered, undefined)
          yield* Deferred.await(gate)
          seen.push(`slow ${o.jobId}`)
        })
      )
      const publishing = yield* Effect.fork(outcomes.publish(outcome("job-1", "failed")))
      const settled = yield* Effect.fork(outcomes.settled)
      yield* Deferred.await(entered)
      expect(publishing.unsafePoll()).toBeNull()
      expect(settled.unsafePoll()).toBeNull()
      yield* Deferred.succeed(gate, undefined)
      yield* Fiber.join(publishing)
      yield* Fiber.join(settled)
      expect(seen.sort()).toEqual(["fast job-1", "slow job-1"])
    }).pipe(Effect.provide(JobOutcomes.Default)))

  it.scoped("is not held up by a subscriber that fails, or by one that unsubscribed while handling", () =>
    Effect.gen(function*() {
      const outcomes = yield* JobOutcomes
      const seen: Array<string> = []
      yield* outcomes.subscribe(() => Effect.die(new Error("a broken subscriber")))
      yield* outcomes.subscribe((o) => Effect.sync(() => void seen.push(o.jobId)))
      const subscribed = yield* Deferred.make<void>()
      const entered = yield* Deferred.make<void>()
      const leaving = yield* Effect.fork(Effect.scoped(Effect.gen(function*() {
        yield* outcomes.subscribe(() => Effect.zipRight(Deferred.succeed(entered, undefined), Effect.never))
        yield* Deferred.succeed(subscribed, undefined)
        yield* Deferred.await(entered)
      })))
      yield* Deferred.await(subscribed)
      const publishing = yield* Effect.fork(outcomes.publish(outcome("job-2", "completed")))
      // The hanging subscriber's scope closes: the outcome no longer waits for it.
      yield* Fiber.join(leaving)
      yield* Fiber.join(publishing)
      yield* outcomes.publish(outcome("job-3", "stopped"))
      expect(seen).toEqual(["job-2", "job-3"])
    }).pipe(Effect.provide(JobOutcomes.Default), Effect.provide(Logger.remove(Logger.defaultLogger))))
})
