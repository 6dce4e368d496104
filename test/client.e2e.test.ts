import { FetchHttpClient } from "@effect/platform"
import { Effect } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { makeClient } from "../src/index.js"
import { type RunningSimulator, startSimulator } from "../src/simulator/server.js"
import { type AppHandle, planeIntegration, startApp, tempDir } from "./support/app.js"

/** The library surface: another Effect service drives synclog through the typed client. */
describe("typed client", () => {
  let sim: RunningSimulator
  let app: AppHandle
  const tmp = tempDir()

  beforeAll(async () => {
    sim = await startSimulator({ workspaces: [{ slug: "acme", projects: 1, workItems: 15, seed: 61 }] })
    app = await startApp({ dbPath: tmp.dbPath, apiKey: sim.apiKey, integrations: [planeIntegration("acme", sim, "acme")] })
  })
  afterAll(async () => {
    await app?.close()
    await sim?.close()
    tmp.remove()
  })

  it("creates, polls and reads a job, and decodes errors into their classes", async () => {
    const program = Effect.gen(function*() {
      const client = yield* makeClient(app.url)
      const created = yield* client.jobs.create({ payload: { integrationId: "acme", type: "full_sync" } })
      expect(created.status).toBe("queued")
      let job = yield* client.jobs.get({ path: { jobId: created.jobId } })
      while (job.status !== "completed" && job.status !== "failed") {
        yield* Effect.sleep(20)
        job = yield* client.jobs.get({ path: { jobId: created.jobId } })
      }
      expect(job.status).toBe("completed")
      expect(job.result?.created).toBeGreaterThan(15)
      const list = yield* client.jobs.list({ urlParams: { status: ["completed"] } })
      expect(list.total).toBe(1)
      const status = yield* client.integrations.status()
      expect(status.integrations[0]!.stats.successRate).toBe(1)

      const missing = yield* client.jobs.get({ path: { jobId: "sync-job-nope" } }).pipe(Effect.flip)
      expect(missing._tag).toBe("JobNotFound")
      const conflict = yield* client.jobs.create({ payload: { integrationId: "acme", type: "full_sync" } }).pipe(Effect.flip)
      expect(conflict._tag === "JobConflict" && conflict.error).toBe("FullSyncTooRecent")
    })
    await Effect.runPromise(program.pipe(Effect.provide(FetchHttpClient.layer)))
  })
})
