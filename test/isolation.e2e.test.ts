import { Effect, Layer } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { ConnectorFactory } from "../src/connectors/ConnectorFactory.js"
import { type RunningSimulator, startSimulator } from "../src/simulator/server.js"
import { type AppHandle, planeIntegration, startApp, tempDir } from "./support/app.js"
import { type Client, client, waitForStatus } from "./support/http.js"
import { expectMirrorEqualsSource } from "./support/source.js"

/**
 * A defect (a bug, not a source error) in one job fails that job with a readable message and
 * nothing else. A real source cannot produce a defect on demand, so this test wraps the real
 * Plane connector and makes it die for one integration's labels: the only test double here.
 */
const faulty = Layer.effect(
  ConnectorFactory,
  Effect.map(ConnectorFactory, (real) => ({
    make: (settings, policy) =>
      Effect.map(real.make(settings, policy), (connector) =>
        settings.integrationId !== "plane-broken"
          ? connector
          : {
            ...connector,
            listPage: (req) =>
              req.entity === "labels"
                ? Effect.die(new TypeError("Cannot read properties of undefined (reading 'color')"))
                : connector.listPage(req)
          })
  }))
).pipe(Layer.provide(ConnectorFactory.Default))

describe("a defect in one job", () => {
  let sim: RunningSimulator
  let app: AppHandle
  let api: Client
  const tmp = tempDir()

  beforeAll(async () => {
    sim = await startSimulator({ workspaces: [{ slug: "acme", projects: 2, workItems: 80, seed: 31 }] })
    app = await startApp({
      dbPath: tmp.dbPath,
      apiKey: sim.apiKey,
      connectors: faulty,
      integrations: [
        planeIntegration("plane-broken", sim, "acme"),
        planeIntegration("plane-fine", sim, "acme")
      ]
    })
    api = client(app.url)
  })

  afterAll(async () => {
    await app?.close()
    await sim?.close()
    tmp.remove()
  })

  it("fails only that job, with a readable message; the engine goes on", async () => {
    const broken = await api.post("/api/sync/jobs", { integrationId: "plane-broken", type: "full_sync" })
    const fine = await api.post("/api/sync/jobs", { integrationId: "plane-fine", type: "full_sync" })
    const failed = await waitForStatus(api, broken.body.jobId, ["failed", "completed"])
    expect(failed.status).toBe("failed")
    expect(failed.error).toBe("Internal error while running the job: Cannot read properties of undefined (reading 'color')")
    expect(failed.logs.at(-1).message).toContain("Job failed: Internal error")
    expect(JSON.stringify(failed)).not.toMatch(/\.ts:\d+/)
    const ok = await waitForStatus(api, fine.body.jobId, ["failed", "completed"])
    expect(ok.status).toBe("completed")
    await expectMirrorEqualsSource(api, "plane-fine", sim, "acme")

    // The supervisor, the API and other integrations keep working.
    const again = await api.post("/api/sync/jobs", { integrationId: "plane-fine", type: "incremental_sync" })
    expect((await waitForStatus(api, again.body.jobId, ["completed", "failed"])).status).toBe("completed")
    expect((await api.get("/healthz")).status).toBe(200)
  })
})
