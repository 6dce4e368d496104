import { describe, expect, it } from "@effect/vitest"
import Database from "better-sqlite3"
import { Effect, TestClock } from "effect"
import type { FaultSettings } from "../src/simulator/faults.js"
import { startSimulatorScoped } from "../src/simulator/layer.js"
import type { RunningSimulator } from "../src/simulator/server.js"
import { KEY_ENV, planeIntegration } from "./support/app.js"
import { type Client, waitFor, waitForStatus } from "./support/http.js"
import { expectMirrorEqualsSource, sourceCounts, total } from "./support/source.js"
import { pumpClock, virtualApp, virtualNow } from "./support/virtual.js"

/**
 * A misbehaving source never breaks a sync. The server runs inside the test on TestClock:
 * every backoff, Retry-After, pacing wait and timeout is virtual time, moved by a pump.
 */
const promise = <A>(f: () => Promise<A>) => Effect.promise(f)

const runJob = (api: Client, body: Record<string, unknown>, statuses = ["completed", "failed"]) =>
  promise(async () => {
    const r = await api.post("/api/sync/jobs", body)
    expect(r.status, JSON.stringify(r.body)).toBe(200)
    return waitForStatus(api, r.body.jobId, statuses, 60_000)
  })

const logsOf = (api: Client, jobId: string) =>
  promise(async () => (await api.get(`/api/sync/jobs/${jobId}/logs?limit=1000`)).body.logs.map((l: any) => l.message) as Array<string>)

const eventsOf = (api: Client, jobId: string) =>
  promise(async () => (await api.get(`/api/sync/jobs/${jobId}/events`)).body.events as Array<{ type: string; data: any }>)

const statsOf = (sim: RunningSimulator) => sim.stats() as unknown as { requests: number; byStatus: Record<string, number> }

const retrying = { retry: { maxAttempts: 12, baseDelay: 1, maxDelay: 60, maxRateLimitWaits: 200 } }

describe("when the source misbehaves", () => {
  const profiles: ReadonlyArray<{ name: string; faults: FaultSettings; log?: RegExp; status?: string }> = [
    { name: "5xx errors", faults: { errorRate: { "500": 0.1, "502": 0.1, "503": 0.1 } }, log: /retry \d+ in/, status: "503" },
    { name: "429 bursts with Retry-After", faults: { burst429: { every: 6, count: 2, retryAfter: 5 } }, log: /Rate limited: rate limited by Plane \(429\); waiting 5 s/, status: "429" },
    { name: "latency and latency spikes", faults: { latencyMs: 3, latencySpikes: { rate: 0.2, ms: 60 } } },
    { name: "requests that never answer", faults: { timeoutRate: 0.08 }, log: /no answer within 30s/ },
    { name: "truncated JSON bodies", faults: { truncatedRate: 0.15 }, log: /response broken off|unparsable JSON/ }
  ]

  for (const profile of profiles) {
    it.scoped(`completes exactly through ${profile.name}`, () =>
      Effect.gen(function*() {
        const sim = yield* startSimulatorScoped({ workspaces: [{ slug: "acme", projects: 3, workItems: 120, seed: 51 }], seed: 9 })
        const { api } = yield* virtualApp({ apiKey: sim.apiKey, engine: retrying, integrations: [planeIntegration("acme", sim, "acme")] })
        yield* pumpClock()
        sim.setFaults(profile.faults, 9)
        const job = yield* runJob(api, { integrationId: "acme", type: "full_sync", options: { batchSize: 10 } })
        expect(job.status, job.error).toBe("completed")
        const counts = yield* promise(() => sourceCounts(sim, "acme"))
        expect(job.result).toEqual({ processed: total(counts), created: total(counts), updated: 0, deleted: 0, errors: 0 })
        if (profile.status) expect(statsOf(sim).byStatus[profile.status] ?? 0).toBeGreaterThan(0)
        if (profile.log) expect((yield* logsOf(api, job.id)).some((m) => profile.log!.test(m))).toBe(true)
        if (profile.status === "429") {
          // The wait moved the ETA out instead of failing the job.
          const events = yield* eventsOf(api, job.id)
          expect(events.some((e) => e.type === "EstimateChanged" && e.data.reason === "rate limited")).toBe(true)
          // Retry-After was honoured: the job took at least the waits it was told to make.
          expect(job.duration).toBeGreaterThanOrEqual(5_000 * (statsOf(sim).byStatus["429"] ?? 0) / 2)
        }
        sim.setFaults({})
        yield* promise(() => expectMirrorEqualsSource(api, "acme", sim, "acme"))
      }), 60_000)
  }

  it.scoped("never provokes a 429 under Plane's 60/min throttle, and takes the time the budget implies", () =>
    Effect.gen(function*() {
      virtualNow.ms = 0
      const sim = yield* startSimulatorScoped({
        workspaces: [{ slug: "acme", projects: 20, workItems: 600, seed: 52 }],
        rateLimitPerMinute: 60,
        now: () => virtualNow.ms
      })
      const { api } = yield* virtualApp({
        apiKey: sim.apiKey,
        integrations: [planeIntegration("acme", sim, "acme", { requestsPerMinute: 60 })]
      })
      yield* pumpClock(200)
      const job = yield* runJob(api, { integrationId: "acme", type: "full_sync", options: { batchSize: 5 } })
      expect(job.status, job.error).toBe("completed")
      const stats = statsOf(sim)
      expect(stats.requests).toBeGreaterThanOrEqual(200)
      expect(stats.byStatus["429"] ?? 0).toBe(0)
      // n requests at 60 a minute: the last window opens after floor((n - 1) / 60) minutes.
      const minutes = Math.floor((stats.requests - 1) / 60)
      expect(job.duration).toBeGreaterThanOrEqual(minutes * 60_000)
      expect(job.duration).toBeLessThan((minutes + 1) * 60_000)
      const status = yield* promise(() => api.get("/api/sync/integrations/status"))
      expect(status.body.integrations[0].rateLimit).toMatchObject({ requestsPerMinute: 60 })
      expect(status.body.integrations[0].rateLimit.remaining).toBeLessThanOrEqual(60)
    }), 60_000)

  it.scoped("fails at once on permanent faults, with a message saying what to fix, and does not retry them", () =>
    Effect.gen(function*() {
      const sim = yield* startSimulatorScoped({ workspaces: [{ slug: "acme", projects: 2, workItems: 40, seed: 53 }] })
      const { api } = yield* virtualApp({
        apiKey: sim.apiKey,
        integrations: [
          planeIntegration("acme", sim, "acme"),
          planeIntegration("nowhere", sim, "no-such-workspace")
        ]
      })
      yield* pumpClock()
      sim.setFaults({ unauthorizedAfter: 3 })
      const job = yield* runJob(api, { integrationId: "acme", type: "full_sync", options: { batchSize: 5 } })
      expect(job.status).toBe("failed")
      expect(job.error).toBe(
        `Plane refused the API key (401: Authentication credentials were not provided.). Check the API key in environment variable ${KEY_ENV}.`
      )
      const logs = yield* logsOf(api, job.id)
      expect(logs.some((m) => m.includes("retry"))).toBe(false)
      sim.setFaults({})
      const missing = yield* runJob(api, { integrationId: "nowhere", type: "full_sync" })
      // Plane answers an unknown workspace slug with 403, like one the key's owner is not a member of.
      expect(missing.error).toBe(
        "Plane refused access to workspace 'no-such-workspace': check workspaceSlug and that the key's owner is a member"
      )
      // Permanent failures are not retried automatically.
      yield* TestClock.adjust("10 minutes")
      expect((yield* promise(() => api.get(`/api/sync/jobs/${job.id}`))).body).toMatchObject({ status: "failed", attempt: 1 })
      expect((yield* promise(() => api.get(`/api/sync/jobs/${missing.id}`))).body).toMatchObject({ status: "failed", attempt: 1 })
    }), 60_000)

  it.scoped("skips records that break the schema, logs them by id, and fails past maxErrorRatio", () =>
    Effect.gen(function*() {
      const sim = yield* startSimulatorScoped({ workspaces: [{ slug: "acme", projects: 2, workItems: 150, seed: 54 }], seed: 3 })
      const { api } = yield* virtualApp({ apiKey: sim.apiKey, integrations: [planeIntegration("acme", sim, "acme")] })
      yield* pumpClock()
      sim.setFaults({ badRecordRate: 0.03 }, 3)
      const job = yield* runJob(api, { integrationId: "acme", type: "full_sync" })
      expect(job.status).toBe("completed")
      const counts = yield* promise(() => sourceCounts(sim, "acme"))
      expect(job.result.errors).toBeGreaterThan(0)
      expect(job.result.processed).toBe(total(counts))
      expect(job.result.created).toBe(total(counts) - job.result.errors)
      const skipped = (yield* logsOf(api, job.id)).filter((m) => m.startsWith("Skipped "))
      expect(skipped.length).toBe(job.result.errors)
      expect(skipped[0]).toMatch(/^Skipped \w+ (\S+): invalid \w+ record: /)

      sim.setFaults({ badRecordRate: 0.4 }, 3)
      const failed = yield* runJob(api, { integrationId: "acme", type: "full_sync", options: { force: true } })
      expect(failed.status).toBe("failed")
      expect(failed.error).toMatch(/^\d+ of \d+ records \([\d.]+%\) could not be applied, above maxErrorRatio 0\.1/)

      sim.setFaults({})
      yield* runJob(api, { integrationId: "acme", type: "full_sync", options: { force: true } })
      yield* promise(() => expectMirrorEqualsSource(api, "acme", sim, "acme"))
    }), 60_000)

  it.scoped("fails a job that makes no progress for jobStallTimeout instead of hanging", () =>
    Effect.gen(function*() {
      const sim = yield* startSimulatorScoped({ workspaces: [{ slug: "acme", projects: 1, workItems: 10, seed: 55 }] })
      const { api } = yield* virtualApp({
        apiKey: sim.apiKey,
        engine: { requestTimeout: 3600, jobStallTimeout: 120 },
        integrations: [planeIntegration("acme", sim, "acme")]
      })
      yield* pumpClock(200)
      sim.setFaults({ timeoutRate: 1 })
      const job = yield* runJob(api, { integrationId: "acme", type: "full_sync" })
      expect(job.status).toBe("failed")
      expect(job.error).toContain("made no progress for 120 s (jobStallTimeout)")
      expect(job.duration).toBeGreaterThanOrEqual(120_000)
    }), 60_000)

  it.scoped("retries a transiently failed job automatically from its checkpoint, a bounded number of times", () =>
    Effect.gen(function*() {
      const sim = yield* startSimulatorScoped({ workspaces: [{ slug: "acme", projects: 1, workItems: 10, seed: 56 }] })
      const { api } = yield* virtualApp({
        apiKey: sim.apiKey,
        engine: {
          retry: { maxAttempts: 2, baseDelay: 1, maxDelay: 5, maxRateLimitWaits: 5 },
          autoRetry: { maxAttempts: 3, delay: 30 },
          circuitBreaker: { failureThreshold: 10, cooldown: 300, maxCooldown: 3600 }
        },
        integrations: [planeIntegration("acme", sim, "acme")]
      })
      yield* pumpClock()
      sim.setFaults({ errorRate: { "503": 1 } })
      const job = yield* runJob(api, { integrationId: "acme", type: "full_sync" }, ["failed"])
      expect(job.error).toContain("Plane request failed 2 times, last: Plane answered 503")
      const third = yield* promise(() =>
        waitFor("three attempts", async () => {
          const j = (await api.get(`/api/sync/jobs/${job.id}`)).body
          return j.attempt === 3 && j.status === "failed" ? j : undefined
        }, 30_000))
      expect(third.error).toContain("503")
      const logs = yield* logsOf(api, job.id)
      expect(logs.filter((m) => m.startsWith("Automatic retry")).map((m) => m.slice(0, 22))).toEqual([
        "Automatic retry 2 of 3",
        "Automatic retry 3 of 3"
      ])
      // No fourth attempt; a request resumes it, and with the source healthy it completes.
      yield* TestClock.adjust("5 minutes")
      expect((yield* promise(() => api.get(`/api/sync/jobs/${job.id}`))).body.attempt).toBe(3)
      sim.setFaults({})
      yield* promise(() => api.post(`/api/sync/jobs/${job.id}/resume`))
      const done = yield* promise(() => waitForStatus(api, job.id, ["completed"], 30_000))
      expect(done.result.created).toBe(total(yield* promise(() => sourceCounts(sim, "acme"))))
    }), 60_000)
})

describe("circuit breaker", () => {
  const realSleep = (ms: number) => Effect.promise(() => new Promise((r) => setTimeout(r, ms)))
  const at = (s: number) => new Date(s * 1000).toISOString()

  it.scoped("opens after consecutive failures, probes after a cool-down, reopens with a doubled one, closes on success", () =>
    Effect.gen(function*() {
      const sim = yield* startSimulatorScoped({ workspaces: [{ slug: "acme", projects: 1, workItems: 8, seed: 57 }] })
      const { api, dbPath } = yield* virtualApp({
        apiKey: sim.apiKey,
        engine: { circuitBreaker: { failureThreshold: 3, cooldown: 120, maxCooldown: 400 }, autoRetry: { maxAttempts: 1, delay: 30 } },
        integrations: [planeIntegration("acme", sim, "acme", { syncInterval: 60, initialSync: "immediate" })]
      })
      sim.setFaults({ unauthorizedAfter: 0 })
      const status = () => promise(async () => (await api.get("/api/sync/integrations/status")).body.integrations[0])
      const jobs = () => promise(async () => (await api.get("/api/sync/jobs?limit=100")).body.jobs as Array<any>)
      /** Waits (real time) until `n` jobs exist and none is active any more. */
      const settle = (n: number) =>
        Effect.gen(function*() {
          for (let i = 0; i < 3000; i++) {
            const all = yield* jobs()
            if (all.length === n && all.every((j) => j.status === "failed" || j.status === "completed")) {
              yield* realSleep(20) // let the circuit breaker react to the last outcome
              return
            }
            yield* realSleep(10)
          }
          const all = yield* jobs()
          throw new Error(`expected ${n} settled jobs, have ${JSON.stringify(all.map((j) => [j.status, j.createdAt, j.error]))}`)
        })
      yield* settle(1)
      yield* TestClock.adjust("60 seconds")
      yield* settle(2)
      expect((yield* status()).circuitBreaker).toMatchObject({ state: "closed", consecutiveFailures: 2 })
      yield* TestClock.adjust("60 seconds")
      yield* settle(3)
      let s = yield* status()
      expect(s.status).toBe("circuit_open")
      expect(s.circuitBreaker).toMatchObject({ state: "open", consecutiveFailures: 3, openedAt: at(120), nextProbeAt: at(240) })
      expect(s.nextSync).toBe(at(240))
      expect(s.circuitBreaker.reason).toContain("Check the API key")

      // Refused by hand unless forced.
      const refused = yield* promise(() => api.post("/api/sync/jobs", { integrationId: "acme", type: "full_sync" }))
      expect(refused.status).toBe(409)
      expect(refused.body.error).toBe("CircuitOpen")
      expect(refused.body.message).toContain("force")

      // No scheduled jobs while open.
      yield* TestClock.adjust("60 seconds")
      yield* settle(3)
      expect((yield* jobs()).length).toBe(3)

      // The probe at t=240 fails: open again, the cool-down doubled.
      yield* TestClock.adjust("60 seconds")
      yield* settle(4)
      expect((yield* jobs()).length).toBe(4)
      s = yield* status()
      expect(s.circuitBreaker).toMatchObject({ state: "open", nextProbeAt: at(480) })

      // The source recovers; the probe at t=480 succeeds and closes the circuit.
      sim.setFaults({})
      yield* TestClock.adjust("240 seconds")
      yield* settle(5)
      s = yield* status()
      expect(s.status).toBe("active")
      expect(s.circuitBreaker).toMatchObject({ state: "closed", consecutiveFailures: 0, nextProbeAt: null })
      const all = yield* jobs()
      expect(all[0].status).toBe("completed")
      // Opening and closing are events on the integration's stream.
      const db = new Database(dbPath, { readonly: true })
      const types = db.prepare("SELECT type FROM events WHERE stream_id = 'integration-acme' AND type LIKE 'Circuit%' ORDER BY version").all()
      db.close()
      expect(types.map((r: any) => r.type)).toEqual(["CircuitOpened", "CircuitHalfOpened", "CircuitOpened", "CircuitHalfOpened", "CircuitClosed"])
    }), 60_000)
})
