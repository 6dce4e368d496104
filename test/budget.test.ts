import { describe, expect, it } from "@effect/vitest"
import { Clock, Effect, TestClock } from "effect"
import { DEMO_RATE_LIMIT, demoIntegration, startDemo } from "../src/demo.js"
import type { IntegrationConfig } from "../src/config/ConfigFile.js"
import { startSimulatorScoped } from "../src/simulator/layer.js"
import type { RunningSimulator } from "../src/simulator/server.js"
import { KEY_ENV, planeIntegration } from "./support/app.js"
import { type Client, waitFor, waitForStatus } from "./support/http.js"
import { expectMirrorEqualsSource, sourceCounts, total } from "./support/source.js"
import { pumpClock, virtualApp, virtualNow } from "./support/virtual.js"

/**
 * The request budget: it follows what the source advertises, long waits show in the job
 * (`waiting`, a log line) while they last, and a stop or pause does not wait for a request
 * that was never sent. The server runs on TestClock; where no pump moves it, time stands
 * still, so anything that had to wait for time would never finish.
 */
const promise = <A>(f: () => Promise<A>) => Effect.promise(f)

const statsOf = (sim: RunningSimulator) => sim.stats() as unknown as { requests: number; byStatus: Record<string, number> }

const logsOf = (api: Client, jobId: string) =>
  promise(async () => (await api.get(`/api/sync/jobs/${jobId}/logs?limit=1000`)).body.logs.map((l: any) => l.message) as Array<string>)

const detailOf = (api: Client, jobId: string) => promise(async () => (await api.get(`/api/sync/jobs/${jobId}`)).body)

const createJob = (api: Client, body: Record<string, unknown>) =>
  promise(async () => {
    const r = await api.post("/api/sync/jobs", body)
    expect(r.status, JSON.stringify(r.body)).toBe(200)
    return r.body.jobId as string
  })

/** Polls the job detail (real time) until it shows a wait. */
const waitingOf = (api: Client, jobId: string) =>
  promise(() =>
    waitFor(`job ${jobId} to show a wait`, async () => {
      const job = (await api.get(`/api/sync/jobs/${jobId}`)).body
      return job.waiting !== undefined ? job : undefined
    }, 20_000))

/** An integration whose `requestsPerMinute` is unset: it follows the source. */
const followingSource = (id: string, sim: RunningSimulator, slug: string): IntegrationConfig => {
  const { requestsPerMinute: _unset, ...config } = planeIntegration(id, sim, slug)
  return config
}

const iso = (ms: number) => new Date(ms).toISOString()

describe("the request budget", () => {
  it.scoped("follows the limit the source advertises: 300 a minute, not the default 60, and never a 429", () =>
    Effect.gen(function*() {
      virtualNow.ms = 0
      const sim = yield* startSimulatorScoped({
        workspaces: [{ slug: "acme", projects: 5, workItems: 600, seed: 61 }],
        rateLimitPerMinute: 300,
        now: () => virtualNow.ms
      })
      const { api } = yield* virtualApp({ apiKey: sim.apiKey, integrations: [followingSource("acme", sim, "acme")] })
      const start = yield* Clock.currentTimeMillis
      const jobId = yield* createJob(api, { integrationId: "acme", type: "full_sync", options: { batchSize: 2 } })
      // Time stands still: the job sends what the source's minute allows, then waits for the next.
      const job = yield* waitingOf(api, jobId)
      expect(job.waiting).toEqual({ reason: "rate_limit_budget", until: iso(start + 61_000) })
      expect(statsOf(sim).requests).toBe(300)
      const status = yield* promise(() => api.get("/api/sync/integrations/status"))
      expect(status.body.integrations[0].rateLimit).toMatchObject({ requestsPerMinute: 300, remaining: 0 })
      expect(yield* logsOf(api, jobId)).toContain(
        `Waiting 61 s, until ${iso(start + 61_000)}: the request budget of 300 a minute is used up`
      )

      yield* pumpClock(1000)
      const done = yield* promise(() => waitForStatus(api, jobId, ["completed", "failed"], 60_000))
      expect(done.status, done.error).toBe("completed")
      const stats = statsOf(sim)
      expect(stats.requests).toBeGreaterThan(300)
      expect(stats.byStatus["429"] ?? 0).toBe(0)
      yield* promise(() => expectMirrorEqualsSource(api, "acme", sim, "acme"))
    }), 60_000)

  it.scoped("shows a long Retry-After in the job while it lasts, logs its reason and end, then clears it", () =>
    Effect.gen(function*() {
      const sim = yield* startSimulatorScoped({ workspaces: [{ slug: "acme", projects: 3, workItems: 60, seed: 62 }], seed: 5 })
      const { api } = yield* virtualApp({ apiKey: sim.apiKey, integrations: [planeIntegration("acme", sim, "acme")] })
      sim.setFaults({ burst429: { every: 8, count: 1, retryAfter: 30 } }, 5)
      const start = yield* Clock.currentTimeMillis
      const jobId = yield* createJob(api, { integrationId: "acme", type: "full_sync", options: { batchSize: 10 } })
      const waiting = yield* waitingOf(api, jobId)
      expect(waiting.status).toBe("running")
      expect(waiting.waiting).toEqual({ reason: "retry_after", until: iso(start + 30_000) })
      // The list shows it too (the cached JSON of the job never carries it).
      const list = yield* promise(() => api.get("/api/sync/jobs"))
      expect(list.body.jobs.find((j: any) => j.id === jobId).waiting).toEqual(waiting.waiting)
      const logs = yield* logsOf(api, jobId)
      expect(logs).toContain(
        `Rate limited: rate limited by Plane (429); waiting 30 s as Retry-After asks, until ${iso(start + 30_000)}`
      )

      sim.setFaults({})
      // Not a moment before Retry-After: 29 s later it still waits.
      yield* TestClock.adjust("29 seconds")
      expect((yield* detailOf(api, jobId)).waiting).toEqual(waiting.waiting)
      yield* TestClock.adjust("1 second")
      const done = yield* promise(() => waitForStatus(api, jobId, ["completed", "failed"], 30_000))
      expect(done.status, done.error).toBe("completed")
      expect(done.waiting).toBeUndefined()
      expect(statsOf(sim).byStatus["429"]).toBe(1)
      yield* promise(() => expectMirrorEqualsSource(api, "acme", sim, "acme"))
    }), 60_000)

  it.scoped("shows a budget wait with a log line and an ETA past it; a graceful stop or a pause during it ends at once", () =>
    Effect.gen(function*() {
      virtualNow.ms = 0
      const sim = yield* startSimulatorScoped({
        workspaces: [{ slug: "acme", projects: 3, workItems: 40, seed: 63 }],
        rateLimitPerMinute: 10,
        now: () => virtualNow.ms
      })
      const { api } = yield* virtualApp({ apiKey: sim.apiKey, integrations: [followingSource("acme", sim, "acme")] })
      const start = yield* Clock.currentTimeMillis
      const jobId = yield* createJob(api, { integrationId: "acme", type: "full_sync", options: { batchSize: 10 } })
      // Ten requests fill the source's minute (learned from its headers); the next waits for it.
      const job = yield* waitingOf(api, jobId)
      const until = start + 61_000
      expect(job.waiting).toEqual({ reason: "rate_limit_budget", until: iso(until) })
      expect(statsOf(sim).requests).toBe(10)
      const logs = yield* logsOf(api, jobId)
      expect(logs.filter((m) => m.startsWith("Waiting "))).toEqual([
        `Waiting 61 s, until ${iso(until)}: the request budget of 10 a minute is used up`
      ])
      // The ETA counts the budget's time for the requests still to make (no pace to go by yet).
      expect(Date.parse(job.estimatedCompletion)).toBeGreaterThan(until)

      // A graceful stop: nothing was sent, so nothing to commit; no grace period passes.
      const stop = yield* promise(() => api.post(`/api/sync/jobs/${jobId}/stop`, { graceful: true }))
      expect(stop.status).toBe(200)
      const stopped = yield* promise(() => waitForStatus(api, jobId, ["stopped"], 10_000))
      expect(stopped.completedAt).toBe(iso(start))
      expect(stopped.waiting).toBeUndefined()

      // The same for a pause after a resume (the budget is still used up).
      expect((yield* promise(() => api.post(`/api/sync/jobs/${jobId}/resume`))).status).toBe(200)
      yield* promise(() =>
        waitFor("the resumed job to wait for the budget again", async () => {
          const j = (await api.get(`/api/sync/jobs/${jobId}`)).body
          return j.status === "running" && j.waiting?.reason === "rate_limit_budget"
        }, 20_000))
      expect((yield* promise(() => api.post(`/api/sync/jobs/${jobId}/pause`))).status).toBe(200)
      const paused = yield* promise(() => waitForStatus(api, jobId, ["paused"], 10_000))
      expect(paused.waiting).toBeUndefined()
      expect(yield* Clock.currentTimeMillis).toBe(start)
      expect(statsOf(sim).requests).toBe(10)

      // Resumed with time moving, it completes exactly, never having provoked a 429.
      yield* pumpClock(1000)
      expect((yield* promise(() => api.post(`/api/sync/jobs/${jobId}/resume`))).status).toBe(200)
      const done = yield* promise(() => waitForStatus(api, jobId, ["completed", "failed"], 60_000))
      expect(done.status, done.error).toBe("completed")
      const counts = yield* promise(() => sourceCounts(sim, "acme"))
      expect(done.result).toEqual({ processed: total(counts), created: total(counts), updated: 0, deleted: 0, errors: 0 })
      expect(statsOf(sim).byStatus["429"] ?? 0).toBe(0)
    }), 90_000)

  it.scoped("refuses to delete a stopping job with a message saying to retry once it is stopped", () =>
    Effect.gen(function*() {
      const sim = yield* startSimulatorScoped({ workspaces: [{ slug: "acme", projects: 1, workItems: 10, seed: 64 }] })
      const { api } = yield* virtualApp({
        apiKey: sim.apiKey,
        engine: { requestTimeout: 3600 },
        integrations: [planeIntegration("acme", sim, "acme")]
      })
      // Requests that never answer: the stop waits for the one on the wire.
      sim.setFaults({ timeoutRate: 1 })
      const jobId = yield* createJob(api, { integrationId: "acme", type: "full_sync" })
      yield* promise(() => waitFor("a request on the wire", async () => statsOf(sim).requests > 0))
      const stop = yield* promise(() => api.post(`/api/sync/jobs/${jobId}/stop`, { graceful: true }))
      expect(stop.body.status).toBe("stopping")
      const refused = yield* promise(() => api.del(`/api/sync/jobs/${jobId}`))
      expect(refused.status).toBe(409)
      expect(refused.body).toMatchObject({
        success: false,
        error: "InvalidTransition",
        status: "stopping",
        message: `Cannot delete job ${jobId}: it is stopping. Retry once it is stopped (GET /api/sync/jobs/${jobId} shows its status).`
      })
      // The grace period ends the request on the wire; then the delete goes through.
      yield* TestClock.adjust("30 seconds")
      yield* promise(() => waitForStatus(api, jobId, ["stopped"], 10_000))
      sim.setFaults({})
      expect((yield* promise(() => api.del(`/api/sync/jobs/${jobId}`))).status).toBe(200)
    }), 60_000)
})

describe("demo mode", () => {
  const key = (sim: RunningSimulator) => ({ "X-API-Key": sim.apiKey })

  it.scoped("throttles like Plane: rate-limit headers on every answer, 429 with Retry-After past its limit", () =>
    Effect.gen(function*() {
      const { simulator: sim } = yield* startDemo(0)
      const url = `${sim.url}/api/v1/workspaces/acme/projects/?per_page=1`
      const first = yield* promise(() => fetch(url, { headers: key(sim) }))
      expect(first.status).toBe(200)
      expect(first.headers.get("x-ratelimit-remaining")).toBe(String(DEMO_RATE_LIMIT - 1))
      const reset = Number(first.headers.get("x-ratelimit-reset"))
      expect(reset * 1000).toBeGreaterThan(Date.now() + 50_000)
      let last: Response = first
      for (let i = 1; i < DEMO_RATE_LIMIT; i++) last = yield* promise(() => fetch(url, { headers: key(sim) }))
      expect(last.status).toBe(200)
      expect(last.headers.get("x-ratelimit-remaining")).toBe("0")
      const refused = yield* promise(() => fetch(url, { headers: key(sim) }))
      expect(refused.status).toBe(429)
      expect(Number(refused.headers.get("retry-after"))).toBeGreaterThan(0)
      expect(refused.headers.get("x-ratelimit-remaining")).toBeNull()
      expect(yield* promise(() => refused.json())).toEqual({ error_code: 5900, error_message: "RATE_LIMIT_EXCEEDED" })
    }), 60_000)

  it.scoped("a full sync of the demo workspace at batchSize 1 never waits for its budget", () =>
    Effect.gen(function*() {
      const demo = yield* startDemo(0)
      const sim = demo.simulator
      const { api } = yield* virtualApp({
        apiKey: sim.apiKey,
        integrations: [{
          ...demoIntegration("plane-integration-456", "Plane.so Integration", sim.url, "acme"),
          apiKeyEnv: KEY_ENV,
          initialSync: "scheduled"
        }]
      })
      // Time stands still: a job that had to wait for its budget would never finish.
      const jobId = yield* createJob(api, { integrationId: "plane-integration-456", type: "full_sync", options: { batchSize: 1 } })
      const job = yield* promise(() => waitForStatus(api, jobId, ["completed", "failed"], 60_000))
      expect(job.status, job.error).toBe("completed")
      expect(job.duration).toBe(0)
      const stats = statsOf(sim)
      expect(stats.requests).toBeLessThan(DEMO_RATE_LIMIT)
      expect(stats.byStatus["429"] ?? 0).toBe(0)
      const status = yield* promise(() => api.get("/api/sync/integrations/status"))
      expect(status.body.integrations[0].rateLimit.requestsPerMinute).toBe(DEMO_RATE_LIMIT)
      yield* promise(() => expectMirrorEqualsSource(api, "plane-integration-456", sim, "acme"))
    }), 60_000)
})
