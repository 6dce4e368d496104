import Database from "better-sqlite3"
import { randomBytes } from "node:crypto"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type RunningSimulator, startSimulator } from "../src/simulator/server.js"
import { type AppHandle, planeIntegration, startApp, tempDir } from "./support/app.js"
import { runCliAsync } from "./support/cli.js"
import { type Client, client, waitForStatus } from "./support/http.js"

/** An integration as a client creates it over the API: the config file's keys. */
const apiIntegration = (id: string, sim: RunningSimulator, workspaceSlug: string, extra: Record<string, unknown> = {}) => ({
  id,
  name: `API ${id}`,
  type: "plane",
  baseUrl: sim.url,
  workspaceSlug,
  syncInterval: 3600,
  requestsPerMinute: 0,
  initialSync: "scheduled",
  ...extra
})

/** The integration's stream as stored (read-only, beside the running server). */
const integrationEvents = (dbPath: string, id: string) => {
  const db = new Database(dbPath, { readonly: true })
  try {
    return db.prepare("SELECT type, payload FROM events WHERE stream_id = ? ORDER BY version").all(`integration-${id}`) as Array<
      { type: string; payload: string }
    >
  } finally {
    db.close()
  }
}

describe("integrations over the API", () => {
  let sim: RunningSimulator
  let app: AppHandle
  let api: Client
  const tmp = tempDir()

  beforeAll(async () => {
    sim = await startSimulator({
      workspaces: [
        { slug: "acme", projects: 2, workItems: 40, seed: 31 },
        { slug: "other", projects: 1, workItems: 20, seed: 32 }
      ]
    })
    app = await startApp({
      dbPath: tmp.dbPath,
      apiKey: sim.apiKey,
      masterKey: randomBytes(32).toString("base64"),
      integrations: [planeIntegration("from-file", sim, "acme")]
    })
    api = client(app.url)
  })

  afterAll(async () => {
    await app.close()
    await sim.close()
    tmp.remove()
  })

  it("creates, lists, reads and changes an integration, each change an event", async () => {
    const created = await api.post("/api/sync/integrations", apiIntegration("api-one", sim, "other", { apiKeyEnv: "SYNCLOG_TEST_PLANE_KEY" }))
    expect(created.status).toBe(201)
    expect(created.body).toMatchObject({
      success: true,
      integration: { id: "api-one", source: "api", type: "plane", apiKeyEnv: "SYNCLOG_TEST_PLANE_KEY", syncInterval: 3600, enabled: true, credential: null }
    })

    const list = await api.get("/api/sync/integrations")
    expect(list.status).toBe(200)
    const byId = Object.fromEntries(list.body.integrations.map((i: any) => [i.id, i]))
    expect(byId["from-file"]).toMatchObject({ source: "config", apiKeyEnv: "SYNCLOG_TEST_PLANE_KEY" })
    expect(byId["api-one"]).toMatchObject({ source: "api", workspaceSlug: "other" })

    const again = await api.post("/api/sync/integrations", apiIntegration("api-one", sim, "other"))
    expect(again.status).toBe(409)
    expect(again.body).toMatchObject({ success: false, error: "IntegrationExists" })

    const patched = await api.patch("/api/sync/integrations/api-one", { name: "Renamed", syncInterval: 600 })
    expect(patched.status).toBe(200)
    expect(patched.body.changed.sort()).toEqual(["name", "syncInterval"])
    expect(patched.body.integration).toMatchObject({ name: "Renamed", syncInterval: 600 })
    const got = await api.get("/api/sync/integrations/api-one")
    expect(got.body).toMatchObject({ id: "api-one", name: "Renamed", syncInterval: 600, source: "api" })
    const status = (await api.get("/api/sync/integrations/status")).body.integrations.find((i: any) => i.integrationId === "api-one")
    expect(status).toMatchObject({ name: "Renamed", syncInterval: 600, status: "active" })

    const unchanged = await api.patch("/api/sync/integrations/api-one", { name: "Renamed" })
    expect(unchanged.body.changed).toEqual([])

    // Disabled over the API: off the schedule; enabled again: back on it.
    const off = await api.patch("/api/sync/integrations/api-one", { enabled: false })
    expect(off.body.changed).toEqual(["enabled"])
    const offStatus = (await api.get("/api/sync/integrations/status")).body.integrations.find((i: any) => i.integrationId === "api-one")
    expect(offStatus).toMatchObject({ status: "disabled", nextSync: null })
    const refused = await api.post("/api/sync/jobs", { integrationId: "api-one", type: "full_sync" })
    expect(refused.status).toBe(409)
    expect(refused.body.message).toContain("PATCH /api/sync/integrations/api-one")
    const on = await api.patch("/api/sync/integrations/api-one", { enabled: null })
    expect(on.body).toMatchObject({ changed: ["enabled"], integration: { enabled: true } })
    const onStatus = (await api.get("/api/sync/integrations/status")).body.integrations.find((i: any) => i.integrationId === "api-one")
    expect(onStatus.status).toBe("active")
    expect(onStatus.nextSync).not.toBeNull()

    // A job runs with the API integration's settings.
    const job = await api.post("/api/sync/jobs", { integrationId: "api-one", type: "full_sync" })
    expect(job.status).toBe(200)
    const done = await waitForStatus(api, job.body.jobId, ["completed", "failed"])
    expect(done.status).toBe("completed")
    expect(done.stats.created).toBeGreaterThan(0)
    const projects = () => api.get("/api/sync/integrations/api-one/records?entity=projects").then((r) => r.body.total)
    expect(await projects()).toBe(1)

    // A changed source applies from the next job.
    const moved = await api.patch("/api/sync/integrations/api-one", { workspaceSlug: "acme" })
    expect(moved.body.changed).toEqual(["workspaceSlug"])
    const next = await api.post("/api/sync/jobs", { integrationId: "api-one", type: "full_sync", options: { force: true } })
    expect((await waitForStatus(api, next.body.jobId, ["completed", "failed"])).status).toBe("completed")
    expect(await projects()).toBe(2)
    await api.patch("/api/sync/integrations/api-one", { workspaceSlug: "other" })
  })

  it("names each bad field, refuses unknown keys, and never answers 500", async () => {
    const bad = await api.post("/api/sync/integrations", {
      id: "bad one",
      name: "",
      type: "jira",
      baseUrl: "ftp://x",
      workspaceSlug: "acme",
      syncInterval: 5,
      colour: "red"
    })
    expect(bad.status).toBe(400)
    expect(bad.body).toMatchObject({ success: false, error: "ValidationError" })
    const paths = bad.body.issues.map((i: any) => i.path)
    for (const path of ["id", "name", "type", "baseUrl", "syncInterval", "colour"]) expect(paths).toContain(path)

    expect((await api.post("/api/sync/integrations", [1, 2])).status).toBe(400)
    expect((await api.post("/api/sync/integrations", apiIntegration("status", sim, "acme"))).status).toBe(400)
    const badPatch = await api.patch("/api/sync/integrations/api-one", { syncInterval: "soon", id: "other-id" })
    expect(badPatch.status).toBe(400)
    expect(badPatch.body.issues.map((i: any) => i.path)).toContain("id")
    const badPatch2 = await api.patch("/api/sync/integrations/api-one", { syncInterval: "soon" })
    expect(badPatch2.status).toBe(400)
    expect(badPatch2.body.issues.map((i: any) => i.path)).toEqual(["syncInterval"])
    expect((await api.patch("/api/sync/integrations/nope", { name: "x" })).status).toBe(404)
    expect((await api.get("/api/sync/integrations/nope")).status).toBe(404)
  })

  it("leaves the config file's integrations to the file", async () => {
    const patch = await api.patch("/api/sync/integrations/from-file", { name: "x" })
    expect(patch.status).toBe(409)
    expect(patch.body).toMatchObject({ success: false, error: "IntegrationManagedByConfig" })
    expect(patch.body.message).toContain("config file")
    const del = await api.del("/api/sync/integrations/from-file")
    expect(del.status).toBe(409)
    const clash = await api.post("/api/sync/integrations", apiIntegration("from-file", sim, "acme"))
    expect(clash.status).toBe(409)
    // initialize stays idempotent and leaves the API's integrations alone.
    const init = await api.post("/api/sync/initialize")
    expect(init.body).toMatchObject({ registered: [], updated: [] })
    const again = await api.post("/api/sync/initialize")
    expect(again.body).toMatchObject({ registered: [], updated: [] })
    expect((await api.get("/api/sync/integrations/api-one")).body).toMatchObject({ enabled: true, source: "api" })
  })

  it("refuses to delete while a job is running, then removes it, purging the mirror on request", async () => {
    sim.setFaults({ latencyMs: 150 })
    try {
      const job = await api.post("/api/sync/jobs", { integrationId: "api-one", type: "full_sync", options: { force: true } })
      expect(job.status).toBe(200)
      await waitForStatus(api, job.body.jobId, ["running"])
      const busy = await api.del("/api/sync/integrations/api-one")
      expect(busy.status).toBe(409)
      expect(busy.body).toMatchObject({ success: false, error: "IntegrationBusy" })
      expect(busy.body.message).toContain(job.body.jobId)
      await api.post("/api/sync/integrations/api-one/stop")
      await waitForStatus(api, job.body.jobId, ["stopped", "completed"])
    } finally {
      sim.setFaults({})
    }
    const records = await api.get("/api/sync/integrations/api-one/records?entity=work_items")
    expect(records.body.total).toBeGreaterThan(0)
    const removed = await api.del("/api/sync/integrations/api-one?purgeMirror=true")
    expect(removed.status).toBe(200)
    expect(removed.body).toMatchObject({ success: true, deleted: "api-one" })
    expect(removed.body.purgedRecords).toBeGreaterThan(0)
    expect((await api.get("/api/sync/integrations/api-one")).status).toBe(404)
    expect((await api.get("/api/sync/integrations")).body.integrations.map((i: any) => i.id)).toEqual(["from-file"])
    expect((await api.get("/api/sync/integrations/status")).body.integrations.map((i: any) => i.integrationId)).toEqual(["from-file"])
    expect((await api.post("/api/sync/jobs", { integrationId: "api-one", type: "full_sync" })).status).toBe(404)
    // Its jobs' events stay readable.
    const jobs = await api.get("/api/sync/jobs?integrationId=api-one")
    expect(jobs.body.jobs.length).toBeGreaterThan(0)

    // Re-created with the same id: a new registration on the same stream, a full sync again.
    const recreated = await api.post("/api/sync/integrations", apiIntegration("api-one", sim, "other", { apiKeyEnv: "SYNCLOG_TEST_PLANE_KEY" }))
    expect(recreated.status).toBe(201)
    const job = await api.post("/api/sync/jobs", { integrationId: "api-one", type: "incremental_sync" })
    expect(job.status).toBe(409) // no baseline: the purge took it
    expect(job.body.error).toBe("BaselineRequired")
  })

  it("records what changed on the integration's stream, and replay rebuilds the same views", async () => {
    const events = integrationEvents(tmp.dbPath, "api-one")
    const types = events.map((e) => e.type)
    expect(types).toContain("IntegrationRegistered")
    expect(types).toContain("IntegrationSettingsChanged")
    expect(types).toContain("IntegrationRemoved")
    const change = JSON.parse(events.find((e) => e.type === "IntegrationSettingsChanged")!.payload)
    expect(change.changes).toEqual({ name: "Renamed", syncInterval: 600 })
    expect(events.some((e) => e.type === "IntegrationSettingsChanged" && JSON.parse(e.payload).changes.enabled === false)).toBe(true)
    const verify = await runCliAsync(["replay", "--verify", "--db", tmp.dbPath])
    expect(verify.stdout + verify.stderr).toMatch(/OK: \d+ events replayed/)
    expect(verify.code).toBe(0)
  })

  it("keeps API integrations across a restart, and lets the config file take over an id it names", async () => {
    await api.post("/api/sync/integrations", apiIntegration("api-two", sim, "acme"))
    await app.close()
    app = await startApp({
      dbPath: tmp.dbPath,
      apiKey: sim.apiKey,
      integrations: [planeIntegration("from-file", sim, "acme"), planeIntegration("api-one", sim, "acme", { name: "From the file" })]
    })
    api = client(app.url)
    expect((await api.get("/api/sync/integrations/api-two")).body).toMatchObject({ source: "api", name: "API api-two", enabled: true })
    expect((await api.get("/api/sync/integrations/api-one")).body).toMatchObject({ source: "config", name: "From the file", workspaceSlug: "acme" })
    expect((await api.patch("/api/sync/integrations/api-one", { name: "x" })).status).toBe(409)
    const status = (await api.get("/api/sync/integrations/status")).body.integrations
    expect(status.find((i: any) => i.integrationId === "api-two").status).toBe("active")
  })
})

describe("stored credentials without SYNC_MASTER_KEY", () => {
  let sim: RunningSimulator
  let app: AppHandle
  const tmp = tempDir()

  beforeAll(async () => {
    sim = await startSimulator({ workspaces: [{ slug: "acme", projects: 1, workItems: 5 }] })
    app = await startApp({ dbPath: tmp.dbPath, apiKey: sim.apiKey, integrations: [planeIntegration("from-file", sim, "acme")] })
  })

  afterAll(async () => {
    await app.close()
    await sim.close()
    tmp.remove()
  })

  it("answers 409 saying how to enable them", async () => {
    const api = client(app.url)
    const r = await api.put("/api/sync/integrations/from-file/credentials", { apiKey: "plane_api_secret_value_1234" })
    expect(r.status).toBe(409)
    expect(r.body).toMatchObject({ success: false, error: "CredentialsDisabled" })
    expect(r.body.message).toContain("SYNC_MASTER_KEY")
    expect(JSON.stringify(r.body)).not.toContain("plane_api_secret_value_1234")
    expect((await api.put("/api/sync/integrations/nope/credentials", { apiKey: "x" })).status).toBe(404)
    // A body that is not JSON is refused without quoting it back (V8's message would).
    const malformed = await api.raw("PUT", "/api/sync/integrations/from-file/credentials", '{"apiKey": plane_api_secret_value_1234}', "application/json")
    expect(malformed.status).toBe(400)
    expect(malformed.body).toMatchObject({ success: false, error: "MalformedJson" })
    expect(JSON.stringify(malformed.body)).not.toContain("plane_api")
  })
})
