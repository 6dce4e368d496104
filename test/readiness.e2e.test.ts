import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type RunningSimulator, startSimulator } from "../src/simulator/server.js"
import { type AppHandle, planeIntegration, startApp, tempDir } from "./support/app.js"
import { type Client, client, waitFor, waitForStatus } from "./support/http.js"

/** /readyz: 503 with reasons when the server cannot work, `degraded` when an integration cannot. */
describe("readiness", () => {
  let sim: RunningSimulator
  let app: AppHandle
  let api: Client
  const tmp = tempDir()

  beforeAll(async () => {
    sim = await startSimulator({ workspaces: [{ slug: "acme", projects: 1, workItems: 10 }] })
    app = await startApp({
      dbPath: tmp.dbPath,
      apiKey: sim.apiKey,
      // One failed job opens the circuit; no automatic retry.
      engine: { circuitBreaker: { failureThreshold: 1, cooldown: 3600, maxCooldown: 3600 }, autoRetry: { maxAttempts: 1, delay: 30 } },
      integrations: [
        planeIntegration("healthy", sim, "acme"),
        planeIntegration("no-key", sim, "acme", { apiKeyEnv: "SYNCLOG_TEST_UNSET_KEY" }),
        // A workspace Plane refuses (403): its job fails for good.
        planeIntegration("refused", sim, "not-a-workspace")
      ]
    })
    api = client(app.url)
  })

  afterAll(async () => {
    await app?.close()
    await sim?.close()
    tmp.remove()
  })

  it("names an integration without its API key from the start, while /healthz stays a plain liveness check", async () => {
    const health = await api.get("/healthz")
    expect(health.status).toBe(200)
    const ready = await api.get("/readyz")
    expect(ready.status).toBe(200)
    expect(ready.body.status).toBe("degraded")
    expect(ready.body.reasons.map((r: { integrationId: string }) => r.integrationId)).toEqual(["no-key"])
  })

  it("reports a missing key and an open circuit as `degraded` (still 200), one reason per integration", async () => {
    const failed = await api.post("/api/sync/jobs", { integrationId: "refused", type: "full" })
    await waitForStatus(api, failed.body.jobId, ["failed"])
    const ready = await waitFor("the circuit to open", async () => {
      const r = await api.get("/readyz")
      return r.body.reasons?.some((x: { integrationId: string }) => x.integrationId === "refused") ? r : undefined
    })
    expect(ready.status).toBe(200)
    expect(ready.body.status).toBe("degraded")
    const byId = Object.fromEntries(ready.body.reasons.map((r: { integrationId: string; message: string }) => [r.integrationId, r]))
    expect(Object.keys(byId).sort()).toEqual(["no-key", "refused"])
    expect(byId["no-key"]).toMatchObject({ check: "integration", message: expect.stringContaining("SYNCLOG_TEST_UNSET_KEY") })
    expect(byId["refused"].message).toMatch(/^circuit open after 1 failed job/)
    expect(byId["refused"].message).toContain("not-a-workspace")
  })

  it("answers 503 with the reason while the database cannot be written, and recovers", async () => {
    await app.sql("PRAGMA query_only = 1")
    try {
      const r = await api.get("/readyz")
      expect(r.status).toBe(503)
      expect(r.body).toMatchObject({ success: false, error: "NotReady", status: "failing" })
      expect(r.body.reasons[0]).toMatchObject({ check: "database", message: expect.stringContaining("cannot be written") })
    } finally {
      await app.sql("PRAGMA query_only = 0")
    }
    expect((await api.get("/readyz")).status).toBe(200)
  })

  it("answers 503 while the scheduler is not running (SYNC_AUTO_INITIALIZE=false), until it is initialized", async () => {
    const other = tempDir()
    const waiting = await startApp({ dbPath: other.dbPath, apiKey: sim.apiKey, autoInitialize: false, integrations: [planeIntegration("healthy", sim, "acme")] })
    try {
      const waitingApi = client(waiting.url)
      const r = await waitingApi.get("/readyz")
      expect(r.status).toBe(503)
      expect(r.body.reasons).toEqual([{ check: "scheduler", message: expect.stringContaining("POST /api/sync/initialize") }])
      expect((await waitingApi.post("/api/sync/initialize")).status).toBe(200)
      expect(await waitingApi.get("/readyz")).toMatchObject({ status: 200, body: { status: "ok", reasons: [] } })
    } finally {
      await waiting.close()
      other.remove()
    }
  })
})
