import { Effect, Logger, LogLevel, Schedule } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import {
  IntegrationSource,
  Jobs,
  makeEngineConfig,
  makeEngineLayer,
  makeIntegrationConfig,
  MirrorReader,
  presentJob,
  Scheduler,
  Secrets,
  Views
} from "../src/index.js"
import { type RunningSimulator, startSimulator } from "../src/simulator/server.js"
import { tempDir } from "./support/app.js"

/**
 * The engine inside another Effect program, with no HTTP: the code of the README's "Embedding"
 * section, pointed at the simulator (over real HTTP) and a SQLite file in a temp folder.
 */
describe("embedding the engine", () => {
  let sim: RunningSimulator
  const tmp = tempDir()

  beforeAll(async () => {
    sim = await startSimulator({ workspaces: [{ slug: "acme", projects: 2, workItems: 45, seed: 17 }] })
  })
  afterAll(async () => {
    await sim?.close()
    tmp.remove()
  })

  it("starts like the server, runs a full sync through the services and reads the mirror", async () => {
    // ---- as in README.md, "Embedding" ----
    const integration = makeIntegrationConfig({
      id: "acme",
      name: "Acme on Plane",
      type: "plane",
      baseUrl: sim.url, // https://api.plane.so or your self-hosted URL
      workspaceSlug: "acme",
      apiKeyEnv: "ACME_PLANE_API_KEY",
      syncInterval: 3600,
      initialSync: "scheduled" // the program below starts the first sync itself
    })

    const engine = makeEngineLayer({
      dbPath: tmp.dbPath,
      integrations: IntegrationSource.fixed("file", [integration]),
      engine: makeEngineConfig({ maxConcurrentJobs: 2 }),
      // API keys by variable name: these values first, then the environment (the default).
      secrets: Secrets.make({ values: { ACME_PLANE_API_KEY: sim.apiKey } })
    })

    const program = Effect.gen(function*() {
      const jobs = yield* Jobs
      const views = yield* Views
      const mirror = yield* MirrorReader

      const { jobId } = yield* jobs.create({ integrationId: "acme", type: "full_sync", options: {}, trigger: "manual" })
      // Poll the job's view until it ends (or watch its events: EventStore.readStream).
      yield* views.job(jobId).pipe(
        Effect.repeat({
          schedule: Schedule.spaced("100 millis"),
          until: (job) => job?.status === "completed" || job?.status === "failed"
        })
      )
      const job = presentJob((yield* views.job(jobId))!) // the API's job view

      const firstPage = yield* mirror.list({ integrationId: "acme", entity: "work_items", includeDeleted: false, limit: 30 })
      const nextPage = yield* mirror.list({
        integrationId: "acme",
        entity: "work_items",
        includeDeleted: false,
        limit: 30,
        cursor: firstPage.nextCursor ?? undefined
      })
      // ---- end of the README's code ----
      return {
        job,
        firstPage,
        nextPage,
        integration: yield* views.integration("acme"),
        scheduler: yield* (yield* Scheduler).status
      }
    })

    const quiet = Logger.minimumLogLevel(process.env.SYNCLOG_TEST_LOGS ? LogLevel.Debug : LogLevel.Warning)
    const result = await Effect.runPromise(program.pipe(Effect.provide(engine), Effect.provide(quiet)))

    // Building the layer did the start-up work: the integration is registered and scheduled.
    expect(result.scheduler).toBe("running")
    expect(result.integration?.active).toBe(true)
    expect(result.integration?.nextRunAt).not.toBeNull()

    const workspace = sim.store.workspace("acme")
    const source = sim.store.records(workspace, "work_items", false)
    expect(source.length).toBe(45)
    expect(result.job).toMatchObject({ status: "completed", type: "full_sync", trigger: "manual", progress: 100 })
    expect(result.job.result?.errors).toBe(0)

    const mirrored = [...result.firstPage.records, ...result.nextPage.records]
    expect(result.firstPage.total).toBe(45)
    expect(result.firstPage.records.length).toBe(30)
    expect(result.nextPage.nextCursor).toBeNull()
    expect(mirrored.map((r) => r.id).sort()).toEqual(source.map((r) => r.id).sort())
    const sample = source[0]!
    const record = mirrored.find((r) => r.id === sample.id)!
    expect(record.payload).toMatchObject({ id: sample.id, name: (sample.data as { name: string }).name })
    expect(record.deletedAt).toBeNull()
  })

  it("refuses a bad integration with a message naming the field", () => {
    expect(() =>
      makeIntegrationConfig({
        id: "acme",
        name: "Acme",
        type: "plane",
        baseUrl: "ftp://example",
        workspaceSlug: "acme",
        apiKeyEnv: "KEY",
        syncInterval: 5
      })
    ).toThrow(/baseUrl[\s\S]*syncInterval|syncInterval[\s\S]*baseUrl/)
    expect(makeEngineConfig().maxConcurrentJobs).toBe(4)
  })
})
