import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Logger, LogLevel } from "effect"
import { makeEngineLayer } from "../src/app.js"
import { defaultEngineConfig, type IntegrationConfig } from "../src/config/ConfigFile.js"
import { IntegrationSource, Secrets } from "../src/config/Settings.js"
import { Integrations } from "../src/engine/Integrations.js"
import { Jobs } from "../src/engine/Jobs.js"
import { Placement, type PlacementShape } from "../src/engine/Placement.js"
import { Scheduler } from "../src/engine/Scheduler.js"
import { Views } from "../src/eventlog/Views.js"
import { startSimulatorScoped } from "../src/simulator/layer.js"
import type { RunningSimulator } from "../src/simulator/server.js"
import { KEY_ENV, planeIntegration, tempDir } from "./support/app.js"

/**
 * The cluster's wake-ups (issue 15's queueing cost): a runner asks another runner to start
 * jobs only for the jobs it just queued of that runner's integrations, once per integration,
 * and a job's end starts this runner's own queue without waking anyone. The engine runs as one
 * runner whose Placement (a Context.Reference) hosts half of the integrations and counts the
 * wake-ups sent for the other half; its own jobs run for real against the simulator.
 */

const realSleep = (ms: number) => Effect.promise(() => new Promise((r) => setTimeout(r, ms)))

const HERE = ["int-0", "int-1", "int-2"]
const ELSEWHERE = ["int-3", "int-4", "int-5"]

const countingPlacement = (wakes: Array<string>): PlacementShape => ({
  runner: "127.0.0.1:7101",
  owns: (integrationId) => HERE.includes(integrationId),
  deliver: null,
  wake: (integrationId) => Effect.sync(() => void wakes.push(integrationId)),
  shards: Effect.succeed(32)
})

const engine = (sim: RunningSimulator, integrations: ReadonlyArray<IntegrationConfig>, wakes: Array<string>) => {
  const tmp = tempDir()
  return makeEngineLayer({
    dbPath: tmp.dbPath,
    mode: "file",
    engine: { ...defaultEngineConfig, requestTimeout: 3600, jobStallTimeout: 86_400 },
    integrations: IntegrationSource.fixed("file", integrations),
    secrets: Secrets.make({ values: { [KEY_ENV]: sim.apiKey } }),
    autoInitialize: false
  }).pipe(
    Layer.provide(Layer.succeed(Placement, countingPlacement(wakes))),
    Layer.provide(Logger.minimumLogLevel(LogLevel.Warning)),
    Layer.tap(() => Effect.addFinalizer(() => Effect.sync(tmp.remove)))
  )
}

const statusOf = (integrationIds: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const views = yield* Views
    const out: Array<string> = []
    for (const integrationId of integrationIds) {
      const { docs } = yield* views.jobs({ integrationId, limit: 100, offset: 0 })
      out.push(...docs.map((j) => `${integrationId}:${j.status}`))
    }
    return out
  })

/** Waits (in real time) until this runner's `count` jobs have all completed. */
const localJobsCompleted = (count: number) =>
  Effect.gen(function*() {
    for (let i = 0; i < 400; i++) {
      const statuses = yield* statusOf(HERE)
      if (statuses.length === count && statuses.every((s) => s.endsWith(":completed"))) return
      yield* realSleep(25)
    }
    throw new Error(`this runner's jobs did not complete: ${(yield* statusOf(HERE)).join(", ")}`)
  })

describe("cluster dispatch: whom a runner wakes", () => {
  it.scoped("a scheduler pass wakes each other runner's integration once; a job's end wakes nobody", () =>
    Effect.gen(function*() {
      const workspaces = [...HERE, ...ELSEWHERE].map((_, i) => ({ slug: `w${i}`, projects: 1, workItems: 5, seed: i + 1 }))
      const sim = yield* startSimulatorScoped({ workspaces })
      const wakes: Array<string> = []
      const integrations = [...HERE, ...ELSEWHERE].map((id, i) =>
        planeIntegration(id, sim, `w${i}`, { syncInterval: 60, initialSync: "immediate" })
      )
      yield* Effect.gen(function*() {
        yield* (yield* Integrations).initialize
        // All six are due now; one pass queues them (the loop is the cluster Singleton's, not started here).
        yield* (yield* Scheduler).runDue
        const afterPass = [...wakes].sort()
        // (Asserted once this runner's jobs ended: the engine's shutdown would wait on the test clock.)
        yield* localJobsCompleted(HERE.length)
        const afterEnds = [...wakes].sort()
        // Before this change every queued job woke every integration queued elsewhere (1 + 2 + 3),
        // and so did every job's end.
        expect(afterPass).toEqual(ELSEWHERE)
        // This runner's three job ends started its own queue only: no more wake-ups.
        expect(afterEnds).toEqual(ELSEWHERE)
        // The other runner's jobs wait for their owner; none started here.
        expect(yield* statusOf(ELSEWHERE)).toEqual(ELSEWHERE.map((id) => `${id}:queued`))

        // A job queued through the API (Jobs.create) wakes its own integration's owner, once,
        // though the other two integrations still have queued jobs there; one of an integration
        // hosted here starts here and wakes nobody.
        const jobs = yield* Jobs
        yield* jobs.create({ integrationId: "int-3", type: "full_sync", options: { force: true }, trigger: "manual" })
        const created = yield* jobs.create({ integrationId: "int-0", type: "incremental_sync", options: {}, trigger: "manual" })
        const startedHere = (yield* (yield* Views).job(created.jobId))?.status
        yield* localJobsCompleted(HERE.length + 1)
        expect(wakes.slice(ELSEWHERE.length)).toEqual(["int-3"])
        expect(startedHere).not.toBe("queued")
      }).pipe(Effect.provide(engine(sim, integrations, wakes)))
    }), 60_000)
})
