import { describe, expect, it } from "@effect/vitest"
import { Context, Deferred, Effect, TestClock } from "effect"
import { type JobOutcome, JobOutcomes } from "../src/engine/JobOutcomes.js"
import { JobSupervisor } from "../src/engine/JobSupervisor.js"
import { Views } from "../src/eventlog/Views.js"
import { startSimulatorScoped } from "../src/simulator/layer.js"
import type { RunningSimulator } from "../src/simulator/server.js"
import { planeIntegration } from "./support/app.js"
import { type Client, waitFor, waitForStatus } from "./support/http.js"
import { sourceCounts, total } from "./support/source.js"
import { virtualApp } from "./support/virtual.js"

/**
 * The job actor through real jobs: the real server on an ephemeral port, a SQLite file and the
 * simulator over HTTP, on TestClock so that grace periods pass when the test says. What each
 * run's end publishes on JobOutcomes is watched from inside the server.
 */
const promise = <A>(f: () => Promise<A>) => Effect.promise(f)
const realSleep = (ms: number) => Effect.promise(() => new Promise<void>((r) => setTimeout(r, ms)))

/** What a subscriber saw when an outcome reached it. */
interface Seen extends JobOutcome {
  readonly statusInLog: string | undefined
  readonly stillRunning: boolean
}

/** The server, with a subscriber that records every outcome (and waits for `gate` when given). */
const actorApp = (sim: RunningSimulator, gate?: Deferred.Deferred<void>) =>
  Effect.gen(function*() {
    const { api, context } = yield* virtualApp({
      apiKey: sim.apiKey,
      // Clock jumps must not trip request timeouts or the stall watchdog.
      engine: { requestTimeout: 3600, jobStallTimeout: 86_400 },
      integrations: [planeIntegration("acme", sim, "acme")]
    })
    const views = Context.get(context, Views)
    const supervisor = Context.get(context, JobSupervisor)
    const seen: Array<Seen> = []
    const reached = yield* Deferred.make<void>()
    yield* Context.get(context, JobOutcomes).subscribe((outcome) =>
      Effect.gen(function*() {
        const doc = yield* views.job(outcome.jobId)
        seen.push({ ...outcome, statusInLog: doc?.status, stillRunning: supervisor.isRunning(outcome.jobId) })
        yield* Deferred.succeed(reached, undefined)
        if (gate) yield* Deferred.await(gate)
      }).pipe(Effect.orDie)
    )
    return { api, seen, reached }
  })

const startJob = (api: Client, body: Record<string, unknown>) =>
  promise(async () => {
    const r = await api.post("/api/sync/jobs", body)
    expect(r.status, JSON.stringify(r.body)).toBe(200)
    return r.body.jobId as string
  })

const statusOf = (api: Client, jobId: string) =>
  promise(async () => (await api.get(`/api/sync/jobs/${jobId}`)).body.status as string)

const logsOf = (api: Client, jobId: string) =>
  promise(async () => (await api.get(`/api/sync/jobs/${jobId}/logs?limit=1000`)).body.logs.map((l: any) => l.message) as Array<string>)

describe("the job actor", () => {
  it.scoped("publishes a run's end once it is in the log, and starts the integration's next job only after subscribers handled it", () =>
    Effect.gen(function*() {
      const sim = yield* startSimulatorScoped({ workspaces: [{ slug: "acme", projects: 2, workItems: 30, seed: 61 }] })
      const gate = yield* Deferred.make<void>()
      const { api, reached, seen } = yield* actorApp(sim, gate)
      // Should an assertion fail, the server still closes (the subscriber is not left waiting).
      yield* Effect.addFinalizer(() => Deferred.succeed(gate, undefined))
      const first = yield* startJob(api, { integrationId: "acme", type: "full_sync", options: { batchSize: 10 } })
      // One job of an integration at a time: the second waits for the first's slot.
      const second = yield* startJob(api, { integrationId: "acme", type: "full_sync", options: { force: true } })
      yield* Deferred.await(reached)
      expect(seen).toEqual([
        { jobId: first, integrationId: "acme", outcome: "completed", statusInLog: "completed", stillRunning: true }
      ])
      // While the outcome is being handled the first job keeps its slot.
      for (let i = 0; i < 5; i++) {
        yield* realSleep(40)
        expect(yield* statusOf(api, second)).toBe("queued")
      }
      yield* Deferred.succeed(gate, undefined)
      yield* promise(() => waitForStatus(api, second, ["completed"]))
      yield* promise(() => waitFor("the second outcome", async () => seen.length === 2))
      expect(seen[1]).toEqual({ jobId: second, integrationId: "acme", outcome: "completed", statusInLog: "completed", stillRunning: true })
    }))

  it.scoped("abandons the request in flight when the grace period runs out: the job pauses, and resumes to an exact result", () =>
    Effect.gen(function*() {
      const sim = yield* startSimulatorScoped({ workspaces: [{ slug: "acme", projects: 2, workItems: 25, seed: 62 }] })
      const { api, reached, seen } = yield* actorApp(sim)
      // The source takes requests and never answers them: the first page stays in flight.
      sim.setFaults({ timeoutRate: 1 })
      const jobId = yield* startJob(api, { integrationId: "acme", type: "full_sync", options: { batchSize: 10 } })
      yield* promise(() => waitFor("the first request", async () => (sim.stats().byStatus["timeout"] ?? 0) > 0))
      const paused = yield* promise(() => api.post(`/api/sync/jobs/${jobId}/pause`))
      expect(paused.body).toMatchObject({ success: true, status: "running" })
      // The batch in flight has the grace period (stopGracePeriod, 30 s) to commit.
      yield* TestClock.adjust("29 seconds")
      yield* realSleep(100)
      expect(yield* statusOf(api, jobId)).toBe("running")
      expect(seen).toEqual([])
      yield* TestClock.adjust("1 second")
      yield* Deferred.await(reached)
      expect(seen).toEqual([{ jobId, integrationId: "acme", outcome: "paused", statusInLog: "paused", stillRunning: true }])
      expect((yield* logsOf(api, jobId)).some((m) => m.startsWith("Paused"))).toBe(true)

      sim.setFaults({})
      yield* promise(() => api.post(`/api/sync/jobs/${jobId}/resume`))
      const done = yield* promise(() => waitForStatus(api, jobId, ["completed"]))
      const expected = total(yield* promise(() => sourceCounts(sim, "acme")))
      expect(done.result).toMatchObject({ processed: expected, created: expected, updated: 0, deleted: 0, errors: 0 })
    }))

  it.scoped("ends a run stopped when a graceful stop follows a pending pause (the first command ends the run, the log's stop wins)", () =>
    Effect.gen(function*() {
      const sim = yield* startSimulatorScoped({ workspaces: [{ slug: "acme", projects: 1, workItems: 10, seed: 63 }] })
      const { api, reached, seen } = yield* actorApp(sim)
      sim.setFaults({ timeoutRate: 1 })
      const jobId = yield* startJob(api, { integrationId: "acme", type: "full_sync" })
      yield* promise(() => waitFor("the first request", async () => (sim.stats().byStatus["timeout"] ?? 0) > 0))
      expect((yield* promise(() => api.post(`/api/sync/jobs/${jobId}/pause`))).body.status).toBe("running")
      yield* TestClock.adjust("10 seconds")
      const stopping = yield* promise(() => api.post(`/api/sync/jobs/${jobId}/stop`, { graceful: true }))
      expect(stopping.body).toMatchObject({ success: true, status: "stopping", message: "Job stop requested" })
      // The stop does not restart the pause's grace period: it ends 30 s after the pause.
      yield* TestClock.adjust("20 seconds")
      yield* Deferred.await(reached)
      expect(seen).toEqual([{ jobId, integrationId: "acme", outcome: "stopped", statusInLog: "stopped", stillRunning: true }])
      expect((yield* logsOf(api, jobId)).some((m) => m.startsWith("Stopped"))).toBe(true)
      sim.setFaults({})
    }))

  it.scoped("publishes an immediate stop's end once its JobStopped is in the log", () =>
    Effect.gen(function*() {
      const sim = yield* startSimulatorScoped({ workspaces: [{ slug: "acme", projects: 1, workItems: 10, seed: 64 }] })
      const { api, seen } = yield* actorApp(sim)
      sim.setFaults({ timeoutRate: 1 })
      const jobId = yield* startJob(api, { integrationId: "acme", type: "full_sync" })
      yield* promise(() => waitFor("the first request", async () => (sim.stats().byStatus["timeout"] ?? 0) > 0))
      const stopped = yield* promise(() => api.post(`/api/sync/jobs/${jobId}/stop`, { graceful: false }))
      expect(stopped.body).toMatchObject({ success: true, status: "stopped" })
      // Published before the stop's answer: the interrupted actor settles and publishes first.
      expect(seen).toEqual([{ jobId, integrationId: "acme", outcome: "stopped", statusInLog: "stopped", stillRunning: true }])
      sim.setFaults({})
    }))
})
