import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Layer, Logger, LogLevel, TestClock } from "effect"
import { makeEngineLayer } from "../src/app.js"
import { defaultEngineConfig, type IntegrationConfig, parseConfig } from "../src/config/ConfigFile.js"
import { IntegrationSource, Secrets } from "../src/config/Settings.js"
import { ENTITY_TYPES } from "../src/domain/entities.js"
import { integrationStream } from "../src/domain/events.js"
import { Integrations } from "../src/engine/Integrations.js"
import { JobLog } from "../src/engine/JobLog.js"
import { Jobs } from "../src/engine/Jobs.js"
import { nextSyncAt, Scheduler } from "../src/engine/Scheduler.js"
import { EventStore } from "../src/eventlog/EventStore.js"
import { Views } from "../src/eventlog/Views.js"
import { Mirror } from "../src/mirror/Mirror.js"
import { presentIntegration, presentJob } from "../src/engine/presenters.js"
import { startSimulatorScoped } from "../src/simulator/layer.js"
import type { RunningSimulator } from "../src/simulator/server.js"
import { KEY_ENV, planeIntegration, tempDir } from "./support/app.js"

/**
 * Cron schedules, full-sync schedules and sync windows under TestClock: virtual time drives the
 * scheduler, the jobs it queues run for real against the simulator over HTTP, on a SQLite file.
 * Between clock moves the test waits (in real time) for the jobs to settle.
 */
const realSleep = (ms: number) => Effect.promise(() => new Promise((r) => setTimeout(r, ms)))

const settle = Effect.gen(function*() {
  const views = yield* Views
  for (let i = 0; i < 600; i++) {
    yield* realSleep(25)
    const active = yield* views.withStatus(["queued", "running", "stopping"])
    if (active.length === 0) return
  }
  throw new Error("jobs did not settle")
})

const waitForStatus = (jobId: string, status: string) =>
  Effect.gen(function*() {
    const views = yield* Views
    for (let i = 0; i < 600; i++) {
      const job = yield* views.job(jobId)
      if (job?.status === status) return job
      yield* realSleep(25)
    }
    throw new Error(`job ${jobId} never became ${status}`)
  })

const engineOn = (dbPath: string, sim: RunningSimulator, integrations: ReadonlyArray<IntegrationConfig>) =>
  makeEngineLayer({
    dbPath,
    mode: "file",
    engine: { ...defaultEngineConfig, requestTimeout: 3600, jobStallTimeout: 86_400 },
    integrations: IntegrationSource.fixed("file", integrations),
    secrets: Secrets.make({ values: { [KEY_ENV]: sim.apiKey } }),
    autoInitialize: false
  }).pipe(Layer.provide(Logger.minimumLogLevel(LogLevel.Warning)))

const withTempDb = Effect.acquireRelease(Effect.sync(() => tempDir()), (tmp) => Effect.sync(tmp.remove))

const jobsOf = (integrationId: string) =>
  Effect.flatMap(Views, (v) => Effect.map(v.jobs({ integrationId, limit: 100, offset: 0 }), (r) => [...r.docs].reverse()))

const boot = Effect.gen(function*() {
  yield* (yield* Integrations).initialize
  yield* (yield* Scheduler).start
  yield* realSleep(50)
})

/** Moves the clock to `iso` and lets the jobs started there finish. */
const runUntil = (iso: string) => Effect.zipRight(TestClock.setTime(Date.parse(iso)), settle)

/** An integration without `syncInterval`: its schedule is given as `schedule`. */
const scheduled = (base: IntegrationConfig, fields: Partial<IntegrationConfig>): IntegrationConfig => {
  const { syncInterval: _, ...rest } = base
  return { ...rest, ...fields }
}

const created = (jobs: ReadonlyArray<{ readonly type: string; readonly createdAt: string }>) =>
  jobs.map((j) => `${j.type}@${j.createdAt}`)

describe("schedules", () => {
  it.scoped("cron ticks in Europe/Berlin across the spring-forward change", () =>
    Effect.gen(function*() {
      const sim = yield* startSimulatorScoped({ workspaces: [{ slug: "acme", projects: 1, workItems: 8, seed: 11 }] })
      const tmp = yield* withTempDb
      yield* TestClock.setTime(Date.parse("2026-03-28T20:30:00.000Z")) // 21:30 CET
      yield* Effect.gen(function*() {
        const views = yield* Views
        yield* boot
        // Every two hours in Berlin: 22:00 CET is 21:00 UTC.
        expect((yield* views.integration("cron"))!.nextRunAt).toBe("2026-03-28T21:00:00.000Z")
        yield* runUntil("2026-03-28T21:00:00.000Z")
        yield* runUntil("2026-03-28T23:00:00.000Z") // 00:00 CET
        // 02:00 does not exist on 29 March in Berlin: the tick runs at the first instant after
        // the jump, 03:00 CEST = 01:00 UTC, and 04:00 CEST = 02:00 UTC is only an hour later.
        expect(nextSyncAt((yield* views.integration("cron"))!)).toBe(Date.parse("2026-03-29T01:00:00.000Z"))
        yield* runUntil("2026-03-29T01:00:00.000Z")
        expect((yield* views.integration("cron"))!.nextRunAt).toBe("2026-03-29T02:00:00.000Z")
        yield* runUntil("2026-03-29T02:00:00.000Z")
        yield* runUntil("2026-03-29T04:00:00.000Z") // 06:00 CEST
        // Nothing between ticks.
        yield* runUntil("2026-03-29T05:59:59.000Z")
        // Re-reading the same config registers nothing anew (POST /api/sync/initialize is idempotent).
        const again = yield* (yield* Integrations).initialize
        expect([again.registered, again.updated, again.started]).toEqual([[], [], []])
        expect(created(yield* jobsOf("cron"))).toEqual([
          "full_sync@2026-03-28T21:00:00.000Z",
          "incremental_sync@2026-03-28T23:00:00.000Z",
          "incremental_sync@2026-03-29T01:00:00.000Z",
          "incremental_sync@2026-03-29T02:00:00.000Z",
          "incremental_sync@2026-03-29T04:00:00.000Z"
        ])
      }).pipe(
        Effect.provide(engineOn(tmp.dbPath, sim, [
          scheduled(planeIntegration("cron", sim, "acme"), {
            schedule: { cron: "0 */2 * * *", timezone: "Europe/Berlin" }
          })
        ]))
      )
    }))

  it.scoped("a scheduled run is full when fullSyncSchedule is due, else incremental", () =>
    Effect.gen(function*() {
      const sim = yield* startSimulatorScoped({ workspaces: [{ slug: "acme", projects: 1, workItems: 8, seed: 12 }] })
      const tmp = yield* withTempDb
      // Sunday 11 January 2026, 01:30 in Berlin.
      yield* TestClock.setTime(Date.parse("2026-01-11T00:30:00.000Z"))
      yield* Effect.gen(function*() {
        yield* boot
        yield* settle
        yield* runUntil("2026-01-11T01:00:00.000Z")
        yield* runUntil("2026-01-11T02:00:00.000Z") // Sunday 03:00 in Berlin: the full schedule is due
        yield* runUntil("2026-01-11T03:00:00.000Z")
        yield* runUntil("2026-01-11T04:00:00.000Z")
        expect(created(yield* jobsOf("weekly"))).toEqual([
          "full_sync@2026-01-11T00:30:00.000Z", // no baseline yet
          "incremental_sync@2026-01-11T01:00:00.000Z",
          "full_sync@2026-01-11T02:00:00.000Z",
          "incremental_sync@2026-01-11T03:00:00.000Z",
          "incremental_sync@2026-01-11T04:00:00.000Z"
        ])
        const events = yield* (yield* EventStore).readStream(integrationStream("weekly"))
        const reasons = events.flatMap((e) => e.payload._tag === "ScheduledRun" ? [e.payload.reason] : [])
        expect(reasons[2]).toBe("fullSyncSchedule due: full sync")
        expect(reasons[3]).toBe("schedule: incremental sync")
      }).pipe(
        Effect.provide(engineOn(tmp.dbPath, sim, [
          scheduled(planeIntegration("weekly", sim, "acme"), {
            schedule: { cron: "0 * * * *" },
            fullSyncSchedule: { cron: "0 3 * * 0", timezone: "Europe/Berlin" },
            initialSync: "immediate"
          })
        ]))
      )
    }))

  it.scoped(
    "a window's end pauses the running scheduled job, the next start resumes it, across a restart and without overlap",
    () =>
      Effect.gen(function*() {
        const sim = yield* startSimulatorScoped({ workspaces: [{ slug: "acme", projects: 2, workItems: 120, seed: 13 }] })
        const tmp = yield* withTempDb
        const integration = planeIntegration("night", sim, "acme", {
          syncInterval: 3600,
          syncWindow: { start: "22:00", end: "06:00", timezone: "Europe/Berlin" },
          initialSync: "immediate",
          batchSize: 10
        })
        // 05:59 in Berlin: inside the window.
        yield* TestClock.setTime(Date.parse("2026-01-10T04:59:00.000Z"))
        const jobId = yield* Effect.gen(function*() {
          const views = yield* Views
          sim.setFaults({ latencyMs: 100 })
          yield* boot
          const [job] = yield* jobsOf("night")
          expect(job!.status).toBe("running")
          expect(job!.options.batchSize).toBe(10) // the integration's own batch size
          // The hourly tick at 05:59 UTC falls outside the window: deferred to 22:00 Berlin.
          const doc = (yield* views.integration("night"))!
          expect(doc.nextRunAt).toBe("2026-01-10T05:59:00.000Z")
          expect(nextSyncAt(doc)).toBe(Date.parse("2026-01-10T21:00:00.000Z"))

          // 06:00 in Berlin: the window ends and the job pauses at its next batch boundary.
          yield* TestClock.setTime(Date.parse("2026-01-10T05:00:00.000Z"))
          const paused = yield* waitForStatus(job!.id, "paused")
          expect(paused.pauseReason).toBe("window")
          expect(presentJob(paused)).toMatchObject({ status: "paused", pauseReason: "window" })
          expect(paused.progress).toBeLessThan(100)
          const lines = (yield* (yield* JobLog).latest(job!.id, 100)).map((l) => l.message)
          expect(lines.some((l) => l.startsWith("The sync window ends"))).toBe(true)
          expect(lines.some((l) => l.startsWith("Paused at the end of the sync window"))).toBe(true)
          // Manual jobs are not restricted by the window.
          const manual = yield* (yield* Jobs).create({ integrationId: "night", type: "full_sync", options: { force: true }, trigger: "manual" })
          yield* waitForStatus(manual.jobId, "running")
          yield* TestClock.setTime(Date.parse("2026-01-10T05:00:30.000Z"))
          yield* realSleep(200)
          expect((yield* views.job(manual.jobId))!.status).toBe("running")
          yield* (yield* Jobs).stopAll("night")
          yield* settle
          expect((yield* views.job(job!.id))!.status).toBe("paused")
          return job!.id
        }).pipe(Effect.provide(engineOn(tmp.dbPath, sim, [integration])), Effect.scoped)

        // The server restarts while the job waits for the window: same database, same clock.
        sim.setFaults({})
        yield* TestClock.setTime(Date.parse("2026-01-10T12:00:00.000Z"))
        yield* Effect.gen(function*() {
          const views = yield* Views
          yield* boot
          yield* realSleep(200)
          const waiting = (yield* views.job(jobId))!
          expect([waiting.status, waiting.pauseReason]).toEqual(["paused", "window"])
          expect(nextSyncAt((yield* views.integration("night"))!)).toBe(Date.parse("2026-01-10T21:00:00.000Z"))
          // The status endpoint's view: nextSync is the window's start, with the schedule and window.
          expect(presentIntegration((yield* views.integration("night"))!, undefined, null)).toMatchObject({
            nextSync: "2026-01-10T21:00:00.000Z",
            syncInterval: 3600,
            schedule: { every: 3600 },
            syncWindow: { start: "22:00", end: "06:00", timezone: "Europe/Berlin" }
          })

          // 22:00 in Berlin: resumed from its checkpoint; the tick due then is skipped, no overlap.
          yield* runUntil("2026-01-10T21:00:00.000Z")
          const done = (yield* views.job(jobId))!
          expect(done.status).toBe("completed")
          const lines = (yield* (yield* JobLog).latest(jobId, 200)).map((l) => l.message)
          expect(lines).toContain("The sync window opened: resuming from the last checkpoint")
          const scheduled = (yield* jobsOf("night")).filter((j) => j.trigger === "schedule")
          expect(scheduled.map((j) => j.id)).toEqual([jobId])
          const events = yield* (yield* EventStore).readStream(integrationStream("night"))
          const ticks = events.flatMap((e) => e.payload._tag === "ScheduledRun" ? [[e.payload.outcome, e.payload.at]] : [])
          expect(ticks).toEqual([["queued", "2026-01-10T04:59:00.000Z"], ["skipped", "2026-01-10T21:00:00.000Z"]])
          const jobEvents = (yield* (yield* EventStore).readStream(`job-${jobId}`)).map((e) => e.payload)
          expect(jobEvents.flatMap((e) => e._tag === "JobPaused" || e._tag === "JobResumed" ? [`${e._tag}:${e.reason}`] : []))
            .toEqual(["JobPaused:window", "JobResumed:window"])
          // Outside the window again, the next run waits for tomorrow's 22:00 (Berlin).
          yield* runUntil("2026-01-11T05:30:00.000Z")
          expect(nextSyncAt((yield* views.integration("night"))!)).toBe(Date.parse("2026-01-11T21:00:00.000Z"))
        }).pipe(Effect.provide(engineOn(tmp.dbPath, sim, [integration])), Effect.scoped)
      })
  )

  it.scoped("maxConcurrentJobs lets an integration run that many jobs at once; the default stays one", () =>
    Effect.gen(function*() {
      const sim = yield* startSimulatorScoped({ workspaces: [{ slug: "acme", projects: 2, workItems: 80, seed: 14 }] })
      const tmp = yield* withTempDb
      yield* Effect.gen(function*() {
        const views = yield* Views
        const jobs = yield* Jobs
        sim.setFaults({ latencyMs: 100 })
        yield* boot
        const full = (integrationId: string) =>
          Effect.map(jobs.create({ integrationId, type: "full_sync", options: { force: true }, trigger: "manual" }), (c) => c.jobId)
        const wide = [yield* full("wide"), yield* full("wide")]
        const narrow = [yield* full("narrow"), yield* full("narrow")]
        yield* realSleep(100)
        const statuses = (ids: ReadonlyArray<string>) => Effect.forEach(ids, (id) => Effect.map(views.job(id), (j) => j!.status))
        expect(yield* statuses(wide)).toEqual(["running", "running"])
        expect(yield* statuses(narrow)).toEqual(["running", "queued"])
        // The integration's own retry and circuit-breaker values are stored with it.
        const doc = (yield* views.integration("wide"))!
        expect(doc.settings).toMatchObject({ maxConcurrentJobs: 2, retry: { maxAttempts: 2 }, circuitBreaker: { failureThreshold: 7 } })
        sim.setFaults({})
        yield* settle
        expect(yield* statuses([...wide, ...narrow])).toEqual(["completed", "completed", "completed", "completed"])
      }).pipe(
        Effect.provide(engineOn(tmp.dbPath, sim, [
          planeIntegration("wide", sim, "acme", { maxConcurrentJobs: 2, retry: { maxAttempts: 2 }, circuitBreaker: { failureThreshold: 7 } }),
          planeIntegration("narrow", sim, "acme")
        ]))
      )
    }))

  it.scoped("an integration's circuitBreaker values override the engine's", () =>
    Effect.gen(function*() {
      const sim = yield* startSimulatorScoped({ workspaces: [{ slug: "acme", projects: 1, workItems: 5, seed: 15 }] })
      const tmp = yield* withTempDb
      yield* Effect.gen(function*() {
        const views = yield* Views
        const jobs = yield* Jobs
        sim.setFaults({ unauthorizedAfter: 0 })
        yield* boot
        for (const id of ["strict", "lenient"]) {
          yield* jobs.create({ integrationId: id, type: "full_sync", options: { force: true }, trigger: "manual" })
        }
        yield* settle
        yield* realSleep(100) // the circuit breaker reacts to the outcome after the job ends
        const strict = (yield* views.integration("strict"))!
        const lenient = (yield* views.integration("lenient"))!
        // One failure opens the circuit of "strict" (failureThreshold 1, cooldown 600 s); the
        // engine's threshold (3) still applies to "lenient".
        expect(strict.circuit).toMatchObject({ state: "open", consecutiveFailures: 1, cooldownSeconds: 600 })
        expect(lenient.circuit).toMatchObject({ state: "closed", consecutiveFailures: 1 })
        expect(nextSyncAt(strict)).toBe(Date.parse(strict.circuit.openedAt!) + 600_000)
        sim.setFaults({})
      }).pipe(
        Effect.provide(engineOn(tmp.dbPath, sim, [
          planeIntegration("strict", sim, "acme", { circuitBreaker: { failureThreshold: 1, cooldown: 600 } }),
          planeIntegration("lenient", sim, "acme")
        ]))
      )
    }))

  it.scoped("scheduled runs walk the integration's default selection; another integration walks everything", () =>
    Effect.gen(function*() {
      const sim = yield* startSimulatorScoped({ workspaces: [{ slug: "acme", projects: 2, workItems: 20, seed: 16 }] })
      const tmp = yield* withTempDb
      yield* TestClock.setTime(Date.parse("2026-02-02T10:00:00.000Z"))
      yield* Effect.gen(function*() {
        const mirror = yield* Mirror
        yield* boot
        yield* settle
        yield* runUntil("2026-02-02T11:00:00.000Z")
        const picky = yield* jobsOf("picky")
        expect(created(picky)).toEqual(["full_sync@2026-02-02T10:00:00.000Z", "incremental_sync@2026-02-02T11:00:00.000Z"])
        for (const job of picky) {
          expect([job.trigger, job.status, job.options.entities]).toEqual(["schedule", "completed", ["projects", "states"]])
        }
        const counts = yield* mirror.counts("picky")
        expect(counts.states).toBeGreaterThan(0)
        expect([counts.labels ?? 0, counts.cycles ?? 0, counts.modules ?? 0, counts.work_items ?? 0]).toEqual([0, 0, 0, 0])
        // The scheduled runs of an integration without a selection still walk everything.
        const everything = yield* jobsOf("everything")
        expect(everything.map((j) => j.options.entities)).toEqual([[...ENTITY_TYPES], [...ENTITY_TYPES]])
        expect((yield* mirror.counts("everything")).work_items).toBeGreaterThan(0)
      }).pipe(
        Effect.provide(engineOn(tmp.dbPath, sim, [
          planeIntegration("picky", sim, "acme", { initialSync: "immediate", selection: { entities: ["projects", "states"] } }),
          planeIntegration("everything", sim, "acme", { initialSync: "immediate" })
        ]))
      )
    }))

  it("rejects bad schedules and windows, naming each field", () => {
    const doc = (fields: Record<string, unknown>) =>
      JSON.stringify({
        integrations: [{
          id: "x",
          name: "X",
          type: "plane",
          baseUrl: "https://api.plane.so",
          workspaceSlug: "w",
          apiKeyEnv: "K",
          ...fields
        }]
      })
    const message = (fields: Record<string, unknown>) =>
      Either.match(parseConfig("c.json", doc(fields)), { onLeft: (e) => e.message, onRight: () => "valid" })
    expect(message({ schedule: { cron: "0 */2 * * *", timezone: "Europe/Berlin" } })).toBe("valid")
    expect(message({ syncInterval: 300, fullSyncSchedule: { every: 86_400 } })).toBe("valid")
    expect(message({ schedule: { cron: "every day" } })).toContain("integrations.0.schedule.cron: invalid cron expression")
    expect(message({ schedule: { cron: "0 * * * *", timezone: "Mars/Olympus" } })).toContain(
      "integrations.0.schedule.timezone: unknown time zone 'Mars/Olympus'"
    )
    expect(message({ syncInterval: 300, schedule: { every: 300 } })).toContain("integrations.0.schedule: give either")
    expect(message({})).toContain("integrations.0.schedule: required")
    expect(message({ syncInterval: 300, syncWindow: { start: "25:00", end: "06:00" } })).toContain(
      "integrations.0.syncWindow.start: expected a time of day HH:MM"
    )
    expect(message({ syncInterval: 300, maxConcurrentJobs: 0 })).toContain("integrations.0.maxConcurrentJobs")
    expect(message({ syncInterval: 300, selection: { projects: ["p-1"], excludeEntities: ["work_items"] } })).toBe("valid")
    expect(message({ syncInterval: 300, selection: { entities: ["issues"] } })).toContain(
      "integrations.0.selection.entities.0: unknown entity type 'issues'; valid: projects, states, labels, cycles, modules, work_items"
    )
  })
})
