import { BACKLOG, BACKLOG_RATE, backlogSlot } from "../src/notifications/backlogPacing.js"
import { NodeHttpClient } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Clock, Effect, Fiber, Layer, Option, Schema, TestClock } from "effect"
import { Secrets } from "../src/config/Settings.js"
import { CircuitOpened, JobCompleted, JobFailed, JobStopped } from "../src/domain/events.js"
import type { StoredEvent } from "../src/eventlog/EventStore.js"
import type { JobDoc } from "../src/eventlog/jobProjection.js"
import { maskUrl, NotificationEndpointConfig } from "../src/notifications/config.js"
import { deliverOnce } from "../src/notifications/delivery.js"
import { formatBody } from "../src/notifications/format.js"
import { emptyWatchState, notificationsOf, testNotification, wants } from "../src/notifications/notifications.js"
import { backoffDelay, deliverWithRetry, type RetryPolicy } from "../src/notifications/retry.js"
import { type Receiver, startReceiver } from "./support/receiver.js"

const realSleep = (ms: number) => Effect.promise(() => new Promise((r) => setTimeout(r, ms)))
/** Lets the event loop run I/O (the real HTTP exchange) once. */
const tick = Effect.promise(() => new Promise((r) => setImmediate(r)))

const receiverScoped = (mode: { status: number }) =>
  Effect.acquireRelease(Effect.promise(() => startReceiver({ mode })), (r: Receiver) => Effect.promise(r.close))

const transport = Layer.mergeAll(NodeHttpClient.layerUndici, Secrets.make({}))

const DAY = 86_400_000

/**
 * Runs a delivery with retries against a real receiver on TestClock: whenever the delivery
 * waits out its backoff, moves virtual time to exactly the end of that wait. Returns the
 * outcome, the virtual time of every attempt and every wait the retry loop announced.
 */
const runOnTestClock = (receiver: Receiver, policy: RetryPolicy, failingSince: number | null = null) =>
  Effect.gen(function*() {
    const endpoint = Schema.decodeUnknownSync(NotificationEndpointConfig)({ url: `${receiver.url}/hook` })
    const attempts: Array<number> = []
    const waits: Array<number> = []
    const attempt = Effect.zipRight(
      Effect.flatMap(Clock.currentTimeMillis, (t) => Effect.sync(() => void attempts.push(t))),
      deliverOnce(endpoint, testNotification("unit", 0))
    )
    const fiber = yield* deliverWithRetry(attempt, policy, {
      failingSince,
      onFailure: (f) => Effect.sync(() => void (f.retryInMs !== null && waits.push(f.retryInMs)))
    }).pipe(Effect.provide(transport), Effect.fork)
    while (Option.isNone(yield* Fiber.poll(fiber))) {
      const now = yield* Clock.currentTimeMillis
      const wait = waits.at(-1)
      const backingOff = waits.length === attempts.length && wait !== undefined &&
        Chunk.some(yield* TestClock.sleeps(), (at) => at === now + wait)
      if (backingOff) yield* TestClock.adjust(wait)
      else yield* tick
    }
    return { settled: yield* Fiber.join(fiber), attempts, waits }
  })

describe("webhook retries on TestClock", () => {
  const policy: RetryPolicy = { baseDelayMs: 1_000, maxDelayMs: 3_600_000, giveUpAfterMs: DAY }

  it.scoped("backs off exponentially with ±20% jitter, capped at maxDelay, and gives up 24 h after the first failure", () =>
    Effect.gen(function*() {
      const receiver = yield* receiverScoped({ status: 503 })
      const { attempts, settled, waits } = yield* runOnTestClock(receiver, policy)

      expect(settled._tag).toBe("GivenUp")
      if (settled._tag === "GivenUp") {
        expect(settled.reason).toBe("the receiver answered 503: receiver trouble")
        expect(settled.failingSince).toBe(0)
      }
      expect(receiver.received.length).toBe(attempts.length)
      // Each wait: base × 2^n, capped, within the jitter; the next attempt comes exactly then.
      for (const [i, wait] of waits.entries()) {
        const nominal = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** i)
        expect(wait).toBeGreaterThanOrEqual(Math.floor(nominal * 0.8))
        expect(wait).toBeLessThanOrEqual(Math.ceil(nominal * 1.2))
        expect(attempts[i + 1]! - attempts[i]!).toBe(wait)
      }
      expect(Math.max(...waits)).toBeLessThanOrEqual(policy.maxDelayMs * 1.2)
      expect(waits.slice(12).every((w) => w >= policy.maxDelayMs * 0.8)).toBe(true) // 2^12 s > 1 h: capped
      expect(waits.length).toBeGreaterThan(13)
      // Given up on the first failure at least 24 h after the first one, and not before.
      expect(attempts.at(-1)!).toBeGreaterThanOrEqual(DAY)
      expect(attempts.at(-2)!).toBeLessThan(DAY)
      expect(waits.length).toBe(attempts.length - 1)
    }))

  it.scoped("keeps the give-up clock of a delivery that was failing before a restart", () =>
    Effect.gen(function*() {
      const receiver = yield* receiverScoped({ status: 500 })
      yield* TestClock.setTime(DAY + 5_000)
      const { attempts, settled } = yield* runOnTestClock(receiver, policy, 5_000)
      expect(settled._tag).toBe("GivenUp")
      expect(attempts).toEqual([DAY + 5_000])
    }))

  it.scoped("delivers once the receiver answers 2xx, after backing off", () =>
    Effect.gen(function*() {
      const receiver = yield* receiverScoped({ status: 502 })
      const fiber = yield* Effect.fork(runOnTestClock(receiver, policy))
      while (receiver.received.length < 3) yield* realSleep(1)
      receiver.mode = { status: 204 }
      const { attempts, settled, waits } = yield* Fiber.join(fiber)
      expect(settled._tag).toBe("Delivered")
      expect(attempts.length).toBeGreaterThanOrEqual(4)
      expect(waits.length).toBe(attempts.length - 1)
    }))

  it("computes the nominal backoff: doubling from baseDelay, capped", () => {
    const p: RetryPolicy = { baseDelayMs: 1_000, maxDelayMs: 60_000, giveUpAfterMs: DAY }
    expect([1, 2, 3, 4, 5, 6, 7, 8].map((n) => backoffDelay(p, n, 1))).toEqual(
      [1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000]
    )
    expect(backoffDelay(p, 3, 0.8)).toBe(3_200)
    expect(backoffDelay(p, 3, 1.2)).toBe(4_800)
  })
})

describe("log events to notifications", () => {
  const at = "2026-11-30T10:00:00.000Z"
  const job = (over: Partial<JobDoc> = {}): JobDoc => ({
    id: "sync-job-1",
    integrationId: "acme",
    type: "full_sync",
    status: "failed",
    trigger: "manual",
    options: { force: false, includeArchived: false, batchSize: 50, entities: [] },
    progress: 40,
    stage: null,
    createdAt: at,
    queuedAt: at,
    startedAt: at,
    completedAt: "2026-11-30T10:00:02.000Z",
    estimatedDuration: null,
    estimatedCompletion: null,
    stats: { processed: 10, created: 8, updated: 1, deleted: 0, errors: 1 },
    error: "Plane refused the API key (401)",
    retryable: false,
    checkpoint: null,
    watermarks: {},
    runs: 1,
    attempt: 2,
    pauseRequested: false,
    pauseReason: null,
    stopGraceful: null,
    deleted: false,
    deleteLogs: false,
    version: 5,
    ...over
  })
  const stored = (position: number, payload: StoredEvent["payload"]): StoredEvent => ({
    position,
    streamId: "x",
    version: 5,
    type: payload._tag,
    schemaVersion: 1,
    payload,
    recordedAt: at
  })
  const failed = (position: number) =>
    stored(position, new JobFailed({ jobId: "sync-job-1", error: "Plane refused the API key (401)", retryable: false, at }))
  const completed = (position: number) => stored(position, new JobCompleted({ jobId: "sync-job-1", at }))
  const context = { job: job(), integrationName: "Acme Plane" }
  const done = { job: job({ status: "completed", error: null }), integrationName: "Acme Plane" }

  it("makes integration.recovered of the first success after failures, and only of that one", () => {
    const a = notificationsOf(failed(10), context, emptyWatchState)
    expect(a.notifications.map((n) => n.event)).toEqual(["job.failed"])
    expect(a.notifications[0]).toMatchObject({
      id: "10",
      position: 10,
      integration: { id: "acme", name: "Acme Plane" },
      job: { id: "sync-job-1", attempt: 2, error: "Plane refused the API key (401)", link: "/api/sync/jobs/sync-job-1", durationMs: 2000 }
    })
    const b = notificationsOf(failed(11), context, a.state)
    expect(b.state.failures).toEqual({ acme: 2 })
    const c = notificationsOf(completed(12), done, b.state)
    expect(c.notifications.map((n) => n.event)).toEqual(["job.completed", "integration.recovered"])
    expect(c.notifications[1]).toMatchObject({ id: "12", failedJobsBefore: 2 })
    expect(c.state.failures).toEqual({})
    expect(notificationsOf(completed(13), done, c.state).notifications.map((n) => n.event)).toEqual(["job.completed"])
    // A stop is not a finished job: it neither counts as a failure nor as a recovery.
    const stopped = notificationsOf(stored(14, new JobStopped({ jobId: "sync-job-1", reason: "stopped by request", at })), context, b.state)
    expect(stopped.notifications[0]).toMatchObject({ event: "job.stopped", job: { stopReason: "stopped by request" } })
    expect(stopped.state).toBe(b.state)
  })

  it("filters by event and integration", () => {
    const circuit = notificationsOf(
      stored(20, new CircuitOpened({ integrationId: "acme", consecutiveFailures: 3, reason: "401", probeAt: at, cooldownSeconds: 300, at })),
      { integrationName: "Acme Plane" },
      emptyWatchState
    ).notifications[0]!
    expect(circuit).toMatchObject({ event: "circuit.opened", circuit: { state: "open", consecutiveFailures: 3, cooldownSeconds: 300 } })
    const onlyFailures = { events: ["job.failed"] as const }
    expect(wants(onlyFailures, circuit)).toBe(false)
    expect(wants({ events: ["circuit.opened"] }, circuit)).toBe(true)
    expect(wants({ events: ["circuit.opened"], integrationIds: ["other"] as any }, circuit)).toBe(false)
    expect(wants({ events: ["circuit.opened"], integrationIds: ["acme"] as any }, circuit)).toBe(true)
  })

  it("formats Slack text with markup escaped, and masks secrets in URLs", () => {
    const n = notificationsOf(
      stored(30, new JobFailed({ jobId: "sync-job-1", error: "bad <tag> & more", retryable: false, at })),
      { job: job({ error: "bad <tag> & more" }), integrationName: "Acme" },
      emptyWatchState
    ).notifications[0]!
    const slack = JSON.parse(formatBody(n, "slack"))
    expect(Object.keys(slack)).toEqual(["text"])
    expect(slack.text).toBe(
      "synclog: Job sync-job-1 (full_sync) of Acme failed (attempt 2): bad &lt;tag&gt; &amp; more (/api/sync/jobs/sync-job-1)"
    )
    expect(JSON.parse(formatBody(n, "json"))).toEqual(JSON.parse(JSON.stringify(n)))
    expect(maskUrl("https://u:p@hooks.slack.com/services/T000/B000/XXXXXXXXXXXXXXXXXXXXXXXX?a=1&b=2"))
      .toBe("https://***@hooks.slack.com/services/T000/B000/***?a=***&b=***")
    expect(maskUrl("http://127.0.0.1:8080/hook")).toBe("http://127.0.0.1:8080/hook")
  })
})

describe("backlog pacing", () => {
  it("never holds back live notifications, or a backlog while no job runs", () => {
    expect(backlogSlot({ now: 1_000, nextSlot: 5_000, queued: BACKLOG - 1, runningJobs: 3 })).toEqual({ startAt: 1_000, nextSlot: 5_000 })
    expect(backlogSlot({ now: 1_000, nextSlot: 5_000, queued: 500, runningJobs: 0 })).toEqual({ startAt: 1_000, nextSlot: 5_000 })
  })

  it("spaces a backlog's deliveries, over all endpoints together, while a job runs", () => {
    const gap = 1000 / BACKLOG_RATE
    let nextSlot = 0
    const starts: Array<number> = []
    // Three endpoints asking at the same moment, twice each.
    for (let i = 0; i < 6; i++) {
      const slot = backlogSlot({ now: 10_000, nextSlot, queued: 100, runningJobs: 1 })
      starts.push(slot.startAt)
      nextSlot = slot.nextSlot
    }
    expect(starts).toEqual([0, 1, 2, 3, 4, 5].map((k) => 10_000 + k * gap))
    // A slot in the past does not let a burst through later.
    expect(backlogSlot({ now: 20_000, nextSlot, queued: 100, runningJobs: 1 })).toEqual({ startAt: 20_000, nextSlot: 20_000 + gap })
  })
})
