import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Logger, LogLevel, TestClock } from "effect"
import { makeEngineLayer } from "../src/app.js"
import { defaultEngineConfig, type EngineConfig, type IntegrationConfig } from "../src/config/ConfigFile.js"
import { IntegrationSource, Secrets } from "../src/config/Settings.js"
import { integrationStream } from "../src/domain/events.js"
import { IntegrationControl } from "../src/engine/IntegrationControl.js"
import { JobLog } from "../src/engine/JobLog.js"
import { Integrations } from "../src/engine/Integrations.js"
import { Scheduler } from "../src/engine/Scheduler.js"
import { EventStore } from "../src/eventlog/EventStore.js"
import { Views } from "../src/eventlog/Views.js"
import { startSimulatorScoped } from "../src/simulator/layer.js"
import type { RunningSimulator } from "../src/simulator/server.js"
import { KEY_ENV, planeIntegration, tempDir } from "./support/app.js"

/**
 * The scheduler under TestClock: virtual time drives its ticks, while the jobs it queues run
 * for real against the simulator over HTTP. Between clock moves the test waits (in real time)
 * for those jobs to settle; request timeouts are set high so a clock jump never trips them.
 */
const realSleep = (ms: number) => Effect.promise(() => new Promise((r) => setTimeout(r, ms)))

const settle = Effect.gen(function*() {
  const views = yield* Views
  for (let i = 0; i < 400; i++) {
    yield* realSleep(25)
    const active = yield* views.withStatus(["queued", "running", "stopping"])
    if (active.length === 0) return
  }
  throw new Error("jobs did not settle")
})

const engine = (sim: RunningSimulator, integrations: ReadonlyArray<IntegrationConfig>, overrides: Partial<EngineConfig> = {}) => {
  const tmp = tempDir()
  return makeEngineLayer({
    dbPath: tmp.dbPath,
    mode: "file",
    engine: { ...defaultEngineConfig, requestTimeout: 3600, jobStallTimeout: 86_400, ...overrides },
    integrations: IntegrationSource.fixed("file", integrations),
    secrets: Secrets.make({ values: { [KEY_ENV]: sim.apiKey } }),
    autoInitialize: false
  }).pipe(
    Layer.provide(Logger.minimumLogLevel(LogLevel.Warning)),
    Layer.tap(() => Effect.addFinalizer(() => Effect.sync(tmp.remove)))
  )
}

const jobsOf = (integrationId: string) =>
  Effect.flatMap(Views, (v) => Effect.map(v.jobs({ integrationId, limit: 100, offset: 0 }), (r) => [...r.docs].reverse()))

const boot = Effect.gen(function*() {
  yield* (yield* Integrations).initialize
  yield* (yield* Scheduler).start
  yield* realSleep(50)
})

const at = (seconds: number) => new Date(seconds * 1000).toISOString()

describe("scheduler", () => {
  it.scoped("runs a full sync without a baseline, then incremental syncs every syncInterval", () =>
    Effect.gen(function*() {
      const sim = yield* startSimulatorScoped({ workspaces: [{ slug: "acme", projects: 1, workItems: 12, seed: 3 }] })
      yield* Effect.gen(function*() {
        const views = yield* Views
        yield* boot
        yield* settle
        let jobs = yield* jobsOf("int-a")
        expect(jobs.map((j) => [j.type, j.trigger, j.status])).toEqual([["full_sync", "schedule", "completed"]])
        let doc = (yield* views.integration("int-a"))!
        expect(doc.lastSync).toBe(at(0))
        expect(doc.nextRunAt).toBe(at(60))

        // Nothing before the interval has passed.
        yield* TestClock.adjust("59 seconds")
        yield* settle
        expect((yield* jobsOf("int-a")).length).toBe(1)

        yield* TestClock.adjust("1 second")
        yield* settle
        jobs = yield* jobsOf("int-a")
        expect(jobs.map((j) => j.type)).toEqual(["full_sync", "incremental_sync"])
        expect(jobs[1]!.createdAt).toBe(at(60))
        doc = (yield* views.integration("int-a"))!
        expect(doc.lastSync).toBe(at(60))
        expect(doc.nextRunAt).toBe(at(120))

        // fullSyncInterval (180 s) has passed since the full sync completed at t=0: full again.
        yield* TestClock.adjust("60 seconds")
        yield* settle
        yield* TestClock.adjust("60 seconds")
        yield* settle
        jobs = yield* jobsOf("int-a")
        expect(jobs.map((j) => `${j.type}@${Date.parse(j.createdAt) / 1000}`)).toEqual([
          "full_sync@0",
          "incremental_sync@60",
          "incremental_sync@120",
          "full_sync@180"
        ])
      }).pipe(
        Effect.provide(engine(sim, [
          planeIntegration("int-a", sim, "acme", { syncInterval: 60, fullSyncInterval: 180, initialSync: "immediate" })
        ]))
      )
    }))

  it.scoped("skips a tick while the integration's job is still active, and logs it", () =>
    Effect.gen(function*() {
      const sim = yield* startSimulatorScoped({ workspaces: [{ slug: "acme", projects: 2, workItems: 60, seed: 4 }] })
      yield* Effect.gen(function*() {
        const views = yield* Views
        const store = yield* EventStore
        sim.setFaults({ latencyMs: 150 })
        yield* boot
        const [first] = yield* jobsOf("int-b")
        expect(first!.status).toBe("running")
        yield* TestClock.adjust("60 seconds")
        yield* realSleep(100)
        // Still the one job: the tick was skipped, not queued behind it.
        expect((yield* jobsOf("int-b")).length).toBe(1)
        const events = yield* store.readStream(integrationStream("int-b"))
        const ticks = events.map((e) => e.payload).filter((e) => e._tag === "ScheduledRun")
        expect(ticks.map((t) => t._tag === "ScheduledRun" && [t.outcome, t.jobId, t.at])).toEqual([
          ["queued", first!.id, at(0)],
          ["skipped", first!.id, at(60)]
        ])
        expect((yield* views.integration("int-b"))!.nextRunAt).toBe(at(120))
        const lines = yield* (yield* JobLog).latest(first!.id, 100)
        expect(lines.map((l) => l.message)).toContain("Scheduled sync skipped: this job is still running")
        sim.setFaults({})
        yield* settle
        yield* TestClock.adjust("60 seconds")
        yield* settle
        const jobs = yield* jobsOf("int-b")
        expect(jobs.map((j) => [j.type, j.status])).toEqual([["full_sync", "completed"], ["incremental_sync", "completed"]])
        // At most one job of an integration at a time: their runs never overlapped.
        expect(Date.parse(jobs[1]!.startedAt!)).toBeGreaterThanOrEqual(Date.parse(jobs[0]!.completedAt!))
      }).pipe(
        Effect.provide(engine(sim, [
          planeIntegration("int-b", sim, "acme", { syncInterval: 60, initialSync: "immediate" })
        ]))
      )
    }))

  it.scoped("applies a new interval from the next tick on, and never ticks a stopped integration", () =>
    Effect.gen(function*() {
      const sim = yield* startSimulatorScoped({ workspaces: [{ slug: "acme", projects: 1, workItems: 5, seed: 5 }] })
      yield* Effect.gen(function*() {
        const control = yield* IntegrationControl
        yield* boot
        yield* settle
        const [job] = yield* jobsOf("int-c")
        const changed = yield* control.changeInterval(job!.id, 300)
        // Last scheduled run (t=0) + the new interval.
        expect(changed).toMatchObject({ oldInterval: 60, newInterval: 300, nextRun: at(300) })
        yield* TestClock.adjust("299 seconds")
        yield* settle
        expect((yield* jobsOf("int-c")).length).toBe(1)
        yield* TestClock.adjust("1 second")
        yield* settle
        expect((yield* jobsOf("int-c")).length).toBe(2)

        yield* control.stop("int-c")
        yield* TestClock.adjust("3600 seconds")
        yield* settle
        expect((yield* jobsOf("int-c")).length).toBe(2)

        // Starting again without an immediate run schedules one interval later.
        const started = yield* control.start("int-c", "incremental", false)
        expect(started.jobId).toBeNull()
        const views = yield* Views
        expect((yield* views.integration("int-c"))!.nextRunAt).toBe(at(3900 + 300))
      }).pipe(
        Effect.provide(engine(sim, [
          planeIntegration("int-c", sim, "acme", { syncInterval: 60, initialSync: "immediate" })
        ]))
      )
    }))
})
