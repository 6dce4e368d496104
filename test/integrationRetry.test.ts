import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { startSimulatorScoped } from "../src/simulator/layer.js"
import type { RunningSimulator } from "../src/simulator/server.js"
import { planeIntegration } from "./support/app.js"
import { type Client, waitFor, waitForStatus } from "./support/http.js"
import { pumpClock, virtualApp, virtualNow } from "./support/virtual.js"

/**
 * An integration's own `retry` and `autoRetry` values, against the simulator's injected 500s,
 * with the real server on TestClock (every backoff and retry delay is virtual time): the
 * integration that sets them gets them, the other one keeps the engine-wide values.
 */
const promise = <A>(f: () => Promise<A>) => Effect.promise(f)

const requests = (sim: RunningSimulator) => sim.stats().requests

const jobOf = (api: Client, jobId: string) => promise(async () => (await api.get(`/api/sync/jobs/${jobId}`)).body)

/** The virtual times of the job's failures and automatic resumes, in order. */
const attemptsOf = (api: Client, jobId: string) =>
  promise(async () => {
    const events = (await api.get(`/api/sync/jobs/${jobId}/events`)).body.events as Array<{ type: string; data: any }>
    return {
      failed: events.filter((e) => e.type === "JobFailed").map((e) => Date.parse(e.data.at)),
      retried: events.filter((e) => e.type === "JobResumed" && e.data.reason === "retry").map((e) => Date.parse(e.data.at))
    }
  })

/** Runs a full sync until its last automatic retry failed, and a while longer. */
const failForGood = (api: Client, integrationId: string, attempts: number, quietMs: number) =>
  Effect.gen(function*() {
    const created = yield* promise(() => api.post("/api/sync/jobs", { integrationId, type: "full_sync" }))
    expect(created.status, JSON.stringify(created.body)).toBe(200)
    const jobId: string = created.body.jobId
    yield* promise(() => waitForStatus(api, jobId, ["failed"], 60_000))
    const last = yield* promise(() =>
      waitFor(`attempt ${attempts} of ${integrationId}'s job to fail`, async () => {
        const j = (await api.get(`/api/sync/jobs/${jobId}`)).body
        return j.attempt === attempts && j.status === "failed" ? j : undefined
      }, 60_000))
    // Long enough (virtual time) for another retry to have come, were one due.
    const until = Date.parse(last.completedAt) + quietMs
    yield* promise(() => waitFor("virtual time to pass", async () => virtualNow.ms > until, 60_000))
    return jobId
  })

describe("an integration's own retry and autoRetry values", () => {
  it.scoped("apply to that integration only; another keeps the engine-wide ones", () =>
    Effect.gen(function*() {
      const sim = yield* startSimulatorScoped({ workspaces: [{ slug: "acme", projects: 1, workItems: 10, seed: 81 }] })
      const month = 30 * 24 * 3600 // no scheduled run during the test
      const { api } = yield* virtualApp({
        apiKey: sim.apiKey,
        // Engine-wide: retry 5 attempts, autoRetry 3 attempts 30 s apart (the defaults); the
        // circuit breaker stays out of the way.
        engine: { circuitBreaker: { failureThreshold: 100, cooldown: 300, maxCooldown: 3600 } },
        integrations: [
          planeIntegration("own", sim, "acme", {
            syncInterval: month,
            retry: { maxAttempts: 1 },
            autoRetry: { maxAttempts: 2, delay: 600 }
          }),
          planeIntegration("engine-wide", sim, "acme", { syncInterval: month })
        ]
      })
      yield* pumpClock(1000)
      sim.setFaults({ errorRate: { "500": 1 } })

      // "own": one request per attempt, one automatic retry 600 s after the failure.
      const before = requests(sim)
      const own = yield* failForGood(api, "own", 2, 650_000)
      expect(requests(sim) - before).toBe(2)
      const ownJob = yield* jobOf(api, own)
      expect(ownJob.error).toContain("Plane request failed 1 times, last: Plane answered 500")
      const ownTimes = yield* attemptsOf(api, own)
      expect(ownTimes.failed).toHaveLength(2)
      expect(ownTimes.retried).toHaveLength(1)
      expect(ownTimes.retried[0]! - ownTimes.failed[0]!).toBeGreaterThanOrEqual(600_000)
      expect(ownTimes.retried[0]! - ownTimes.failed[0]!).toBeLessThan(660_000)
      const ownLogs = (yield* promise(() => api.get(`/api/sync/jobs/${own}/logs?limit=1000`))).body.logs.map((l: any) => l.message)
      expect(ownLogs.filter((m: string) => m.startsWith("Automatic retry")).map((m: string) => m.slice(0, 22))).toEqual([
        "Automatic retry 2 of 2"
      ])

      // "engine-wide": five requests per attempt, two automatic retries 30 s after each failure.
      const middle = requests(sim)
      const other = yield* failForGood(api, "engine-wide", 3, 120_000)
      expect(requests(sim) - middle).toBe(15)
      expect((yield* jobOf(api, other)).error).toContain("Plane request failed 5 times, last: Plane answered 500")
      const otherTimes = yield* attemptsOf(api, other)
      expect(otherTimes.failed).toHaveLength(3)
      expect(otherTimes.retried).toHaveLength(2)
      for (const [i, at] of otherTimes.retried.entries()) {
        expect(at - otherTimes.failed[i]!).toBeGreaterThanOrEqual(30_000)
        expect(at - otherTimes.failed[i]!).toBeLessThan(90_000)
      }
      sim.setFaults({})
    }), 120_000)
})
