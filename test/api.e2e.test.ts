import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type RunningSimulator, startSimulator } from "../src/simulator/server.js"
import { type AppHandle, planeIntegration, startApp, tempDir } from "./support/app.js"
import { runCli } from "./support/cli.js"
import { copyDatabase, execute, queryRows } from "./support/database.js"
import { type Client, client, waitFor, waitForStatus } from "./support/http.js"
import { sourceCounts, total } from "./support/source.js"

/** Every endpoint of the spec and CONTRACT.md, every documented status and error body. */
describe("sync API", () => {
  let sim: RunningSimulator
  let app: AppHandle
  let api: Client
  const tmp = tempDir()

  /** On the server's own connection: quick enough that a running job does not slip a batch in between. */
  const eventCount = async () => (await app.sql<{ n: number }>("SELECT COUNT(*) AS n FROM events"))[0]!.n

  /** Bad input must answer 4xx and leave the database as it was. */
  const expectRejected = async (send: () => Promise<{ status: number; body: any }>, status: number, error: string) => {
    const before = await eventCount()
    const r = await send()
    expect(r.status, JSON.stringify(r.body)).toBe(status)
    expect(r.body.success).toBe(false)
    expect(r.body.error).toBe(error)
    expect(typeof r.body.message).toBe("string")
    expect(r.body.message.length).toBeGreaterThan(10)
    expect(JSON.stringify(r.body)).not.toMatch(/at .*\.ts:\d+|stack/i)
    expect(await eventCount()).toBe(before)
    return r.body
  }

  beforeAll(async () => {
    sim = await startSimulator({
      workspaces: [
        { slug: "acme", projects: 2, workItems: 60, seed: 21 },
        { slug: "other", projects: 1, workItems: 20, seed: 22 }
      ]
    })
    app = await startApp({
      dbPath: tmp.dbPath,
      apiKey: sim.apiKey,
      secrets: { WRONG_KEY: "plane_api_00000000000000000000000000000000" },
      integrations: [
        planeIntegration("plane-integration-456", sim, "acme"),
        planeIntegration("plane-integration-789", sim, "other"),
        planeIntegration("plane-disabled", sim, "acme", { enabled: false }),
        planeIntegration("plane-badkey", sim, "acme", { apiKeyEnv: "WRONG_KEY" }),
        planeIntegration("plane-nokey", sim, "acme", { apiKeyEnv: "SYNCLOG_UNSET_VARIABLE" })
      ]
    })
    api = client(app.url)
  })

  afterAll(async () => {
    await app?.close()
    await sim?.close()
    tmp.remove()
  })

  it("initializes idempotently", async () => {
    const first = await api.post("/api/sync/initialize")
    expect(first.status).toBe(200)
    expect(first.body).toMatchObject({
      success: true,
      message: "Sync system initialized",
      schedulerStatus: "running",
      integrationsFound: 5,
      registered: [],
      updated: []
    })
    const statusBefore = (await api.get("/api/sync/integrations/status")).body
    const second = await api.post("/api/sync/initialize")
    expect(second.body).toEqual(first.body)
    expect((await api.get("/api/sync/integrations/status")).body).toEqual(statusBefore)
  })

  it("shows every integration's status before any sync", async () => {
    const r = await api.get("/api/sync/integrations/status")
    expect(r.status).toBe(200)
    const byId = Object.fromEntries(r.body.integrations.map((i: any) => [i.integrationId, i]))
    expect(Object.keys(byId).sort()).toEqual(["plane-badkey", "plane-disabled", "plane-integration-456", "plane-integration-789", "plane-nokey"])
    const main = byId["plane-integration-456"]
    expect(main).toMatchObject({
      name: "Test plane-integration-456",
      status: "active",
      lastSync: null,
      syncInterval: 3600,
      currentJob: null,
      stats: { totalJobs: 0, successRate: null, averageDuration: null }
    })
    expect(Date.parse(main.nextSync)).toBeGreaterThan(Date.now())
    expect(byId["plane-disabled"]).toMatchObject({ status: "disabled", nextSync: null })
  })

  it("rejects bad input with a clear 4xx and changes nothing", async () => {
    await expectRejected(() => api.raw("POST", "/api/sync/jobs", "{not json", "application/json"), 400, "MalformedJson")
    const missing = await expectRejected(() => api.post("/api/sync/jobs", { type: "full_sync" }), 400, "ValidationError")
    expect(missing.issues.map((i: any) => i.path)).toContain("integrationId")
    const wrongType = await expectRejected(
      () => api.post("/api/sync/jobs", { integrationId: "plane-integration-456", type: "bogus" }),
      400,
      "ValidationError"
    )
    expect(wrongType.message).toContain("full_sync")
    await expectRejected(() => api.post("/api/sync/jobs", { integrationId: 42, type: "full_sync" }), 400, "ValidationError")
    for (const batchSize of [0, 1001, "fifty", 2.5]) {
      const b = await expectRejected(
        () => api.post("/api/sync/jobs", { integrationId: "plane-integration-456", type: "full_sync", options: { batchSize } }),
        400,
        "ValidationError"
      )
      expect(b.issues.map((i: any) => i.path)).toContain("options.batchSize")
    }
    const entity = await expectRejected(
      () =>
        api.post("/api/sync/jobs", {
          integrationId: "plane-integration-456",
          type: "selective",
          options: { entities: ["work_items", "pages"] }
        }),
      400,
      "ValidationError"
    )
    expect(entity.message).toContain("projects, states, labels, cycles, modules, work_items")
    await expectRejected(
      () => api.post("/api/sync/jobs", { integrationId: "plane-integration-456", type: "full_sync", options: { entities: ["labels"] } }),
      400,
      "ValidationError"
    )
    await expectRejected(
      () => api.post("/api/sync/jobs", { integrationId: "nope", type: "full_sync" }),
      404,
      "IntegrationNotFound"
    )
    await expectRejected(
      () => api.post("/api/sync/jobs", { integrationId: "plane-disabled", type: "full_sync" }),
      409,
      "IntegrationDisabled"
    )
    await expectRejected(
      () => api.raw("POST", "/api/sync/jobs", JSON.stringify({ integrationId: "x", pad: "x".repeat(2 * 1024 * 1024) }), "application/json"),
      413,
      "PayloadTooLarge"
    )
    for (const q of ["limit=0", "limit=501", "limit=abc", "offset=-1", "status=sleeping", "type=partial"]) {
      await expectRejected(() => api.get(`/api/sync/jobs?${q}`), 400, "ValidationError")
    }
    await expectRejected(() => api.get("/api/sync/jobs/sync-job-doesnotexist"), 404, "JobNotFound")
    await expectRejected(() => api.post("/api/sync/jobs/sync-job-doesnotexist/resume"), 404, "JobNotFound")
    await expectRejected(() => api.post("/api/sync/jobs/sync-job-doesnotexist/stop"), 404, "JobNotFound")
    await expectRejected(() => api.put("/api/sync/jobs/sync-job-doesnotexist/interval", { interval: 600 }), 404, "JobNotFound")
    await expectRejected(() => api.del("/api/sync/jobs/sync-job-doesnotexist"), 404, "JobNotFound")
    await expectRejected(() => api.post("/api/sync/integrations/nope/start"), 404, "IntegrationNotFound")
    await expectRejected(() => api.post("/api/sync/integrations/nope/stop"), 404, "IntegrationNotFound")
    await expectRejected(() => api.post("/api/sync/jobs/stop-all", { integrationId: "nope" }), 404, "IntegrationNotFound")
    await expectRejected(() => api.get("/api/sync/nothing-here"), 404, "NotFound")
  })

  it("reads a JSON body sent without a JSON content type, as curl -d does", async () => {
    const r = await api.raw(
      "POST",
      "/api/sync/jobs",
      JSON.stringify({ integrationId: "plane-integration-456", type: "incremental_sync" }),
      "application/x-www-form-urlencoded"
    )
    // Parsed and understood: refused for lack of a baseline, not for its shape.
    expect(r.status).toBe(409)
    expect(r.body).toMatchObject({ success: false, error: "BaselineRequired", integrationId: "plane-integration-456" })
  })

  let fullJobId = ""

  it("creates, lists, filters and reads jobs", async () => {
    const counts = await sourceCounts(sim, "acme")
    const created = await api.post("/api/sync/jobs", {
      integrationId: "plane-integration-456",
      type: "full_sync",
      options: { force: false, includeArchived: false, batchSize: 50 }
    })
    expect(created.status).toBe(200)
    expect(Object.keys(created.body).sort()).toEqual(["estimatedDuration", "jobId", "status", "success"])
    fullJobId = created.body.jobId
    const done = await waitForStatus(api, fullJobId, ["completed", "failed"])
    expect(done.result.created).toBe(total(counts))

    // The spec's manual sync example now works: there is a baseline.
    const inc = await api.post("/api/sync/jobs", { integrationId: "plane-integration-456", type: "incremental_sync" })
    expect(inc.status).toBe(200)
    await waitForStatus(api, inc.body.jobId, ["completed"])
    const other = await api.post("/api/sync/jobs", { integrationId: "plane-integration-789", type: "full" })
    await waitForStatus(api, other.body.jobId, ["completed"])

    const all = await api.get("/api/sync/jobs")
    expect(all.status).toBe(200)
    expect(all.body.total).toBe(3)
    expect(all.body.jobs.map((j: any) => j.id)).toEqual([other.body.jobId, inc.body.jobId, fullJobId])
    const first = all.body.jobs[2]
    for (const key of ["id", "integrationId", "type", "status", "progress", "createdAt", "startedAt", "completedAt", "duration", "result"]) {
      expect(first).toHaveProperty(key)
    }
    expect(first).not.toHaveProperty("logs")

    const paged = await api.get("/api/sync/jobs?limit=1&offset=1")
    expect(paged.body.total).toBe(3)
    expect(paged.body.jobs.map((j: any) => j.id)).toEqual([inc.body.jobId])
    expect((await api.get("/api/sync/jobs?integrationId=plane-integration-789")).body.total).toBe(1)
    expect((await api.get("/api/sync/jobs?type=incremental")).body.jobs.map((j: any) => j.id)).toEqual([inc.body.jobId])
    expect((await api.get("/api/sync/jobs?status=completed")).body.total).toBe(3)
    expect((await api.get("/api/sync/jobs?status=pending")).body.total).toBe(0)
    expect((await api.get("/api/sync/jobs?status=queued,running")).body.total).toBe(0)

    const one = await api.get(`/api/sync/jobs/${fullJobId}`)
    expect(one.body.logs.length).toBeGreaterThan(3)
    expect(one.body.logs[0]).toEqual({ timestamp: expect.any(String), level: "info", message: expect.stringContaining("Queued") })
    const logs = await api.get(`/api/sync/jobs/${fullJobId}/logs?limit=2&offset=1`)
    expect(logs.body.logs).toEqual(one.body.logs.slice(1, 3))
    expect(logs.body.total).toBe(one.body.logs.length)
    const events = await api.get(`/api/sync/jobs/${fullJobId}/events`)
    const types = events.body.events.map((e: any) => e.type)
    expect(types[0]).toBe("JobQueued")
    expect(types[1]).toBe("JobStarted")
    expect(types[types.length - 1]).toBe("JobCompleted")
    expect(events.body.events.map((e: any) => e.version)).toEqual(types.map((_: string, i: number) => i + 1))

    const status = (await api.get("/api/sync/integrations/status")).body.integrations.find(
      (i: any) => i.integrationId === "plane-integration-456"
    )
    expect(status.stats.totalJobs).toBe(2)
    expect(status.stats.successRate).toBe(1)
    expect(status.stats.averageDuration).toBeGreaterThanOrEqual(0)
    expect(status.lastSync).toBe(inc.body.jobId && (await api.get(`/api/sync/jobs/${inc.body.jobId}`)).body.createdAt)
  })

  it("refuses transitions the state forbids, naming both states", async () => {
    const resume = await api.post(`/api/sync/jobs/${fullJobId}/resume`)
    expect(resume.status).toBe(409)
    expect(resume.body).toMatchObject({ success: false, error: "InvalidTransition", status: "completed", requested: "resume" })
    expect(resume.body.message).toContain("completed")
    const stop = await api.post(`/api/sync/jobs/${fullJobId}/stop`)
    expect(stop.status).toBe(409)
    const pause = await api.post(`/api/sync/jobs/${fullJobId}/pause`)
    expect(pause.status).toBe(409)
  })

  it("fails a job at once on a refused API key, says which variable to check, and resumes it on request", async () => {
    const created = await api.post("/api/sync/jobs", { integrationId: "plane-badkey", type: "full_sync" })
    const failed = await waitForStatus(api, created.body.jobId, ["failed"])
    expect(failed.error).toContain("Check the API key in environment variable WRONG_KEY")
    expect(JSON.stringify(failed)).not.toContain("plane_api_0000")
    const noKey = await api.post("/api/sync/jobs", { integrationId: "plane-nokey", type: "full_sync" })
    const failedToo = await waitForStatus(api, noKey.body.jobId, ["failed"])
    expect(failedToo.error).toContain("SYNCLOG_UNSET_VARIABLE")

    // The spec's "Resume Failed Job" example.
    const resumed = await api.post(`/api/sync/jobs/${created.body.jobId}/resume`)
    expect(resumed.status).toBe(200)
    expect(resumed.body).toMatchObject({ success: true, jobId: created.body.jobId, message: expect.stringContaining("resumed") })
    const again = await waitForStatus(api, created.body.jobId, ["failed"])
    expect(again.error).toContain("WRONG_KEY")
    const status = (await api.get("/api/sync/integrations/status")).body.integrations.find(
      (i: any) => i.integrationId === "plane-badkey"
    )
    expect(status.stats).toMatchObject({ totalJobs: 1, successRate: 0, averageDuration: null })
  })

  it("changes the interval of a job's integration", async () => {
    const bad = await expectRejected(() => api.put(`/api/sync/jobs/${fullJobId}/interval`, { interval: 10 }), 400, "ValidationError")
    expect(bad.message).toContain("30")
    await expectRejected(() => api.put(`/api/sync/jobs/${fullJobId}/interval`, { interval: 31 * 24 * 3600 }), 400, "ValidationError")
    await expectRejected(() => api.put(`/api/sync/jobs/${fullJobId}/interval`, { interval: "600" }), 400, "ValidationError")
    await expectRejected(() => api.put(`/api/sync/jobs/${fullJobId}/interval`), 400, "ValidationError")

    const before = Date.now()
    const r = await api.put(`/api/sync/jobs/${fullJobId}/interval`, { interval: 600 })
    expect(r.status).toBe(200)
    expect(r.body).toMatchObject({ success: true, jobId: fullJobId, oldInterval: 3600, newInterval: 600 })
    // No scheduled run yet: now + interval.
    const next = Date.parse(r.body.nextRun)
    expect(next).toBeGreaterThanOrEqual(before + 600_000)
    expect(next).toBeLessThanOrEqual(Date.now() + 600_000)
    const status = (await api.get("/api/sync/integrations/status")).body.integrations.find(
      (i: any) => i.integrationId === "plane-integration-456"
    )
    expect(status.syncInterval).toBe(600)
    expect(status.nextSync).toBe(r.body.nextRun)
    const second = await api.put(`/api/sync/jobs/${fullJobId}/interval`, { interval: 900 })
    expect(second.body.oldInterval).toBe(600)
  })

  it("stops every active job, of one integration or of all", async () => {
    sim.setFaults({ latencyMs: 150 })
    try {
      const a = await api.post("/api/sync/jobs", { integrationId: "plane-integration-456", type: "full_sync", options: { force: true, batchSize: 5 } })
      const b = await api.post("/api/sync/jobs", { integrationId: "plane-integration-789", type: "full_sync", options: { force: true, batchSize: 5 } })
      const queued = await api.post("/api/sync/jobs", { integrationId: "plane-integration-789", type: "full_sync", options: { force: true } })
      await waitForStatus(api, a.body.jobId, ["running"])
      await waitForStatus(api, b.body.jobId, ["running"])
      expect((await api.get(`/api/sync/jobs/${queued.body.jobId}`)).body.status).toBe("queued")

      const one = await api.post("/api/sync/jobs/stop-all", { integrationId: "plane-integration-789" })
      expect(one.status).toBe(200)
      expect(one.body.success).toBe(true)
      expect([...one.body.jobs].sort()).toEqual([b.body.jobId, queued.body.jobId].sort())
      expect(one.body.stoppedJobs).toBe(2)
      expect((await api.get(`/api/sync/jobs/${queued.body.jobId}`)).body.status).toBe("stopped")
      await waitForStatus(api, b.body.jobId, ["stopped"])
      expect((await api.get(`/api/sync/jobs/${a.body.jobId}`)).body.status).toBe("running")

      // The spec's "Stop All Syncs" example: no body, no content type.
      const all = await fetch(`${app.url}/api/sync/jobs/stop-all`, { method: "POST" })
      expect(all.status).toBe(200)
      expect(await all.json()).toEqual({ success: true, stoppedJobs: 1, jobs: [a.body.jobId] })
      await waitForStatus(api, a.body.jobId, ["stopped"])
    } finally {
      sim.setFaults({})
    }
  })

  it("deletes finished jobs, keeping or erasing their logs; refuses active ones", async () => {
    // Slow source answers: the running job appends nothing while its first request waits, so
    // the refused delete is the only thing that could change the log then.
    sim.setFaults({ latencyMs: 1500 })
    let active = ""
    try {
      active = (await api.post("/api/sync/jobs", { integrationId: "plane-integration-789", type: "full_sync", options: { force: true, batchSize: 5 } })).body.jobId
      await waitFor(`job ${active} to run its first stage`, async () => (await api.get(`/api/sync/jobs/${active}`)).body.stage)
      const refused = await expectRejected(() => api.del(`/api/sync/jobs/${active}`), 409, "InvalidTransition")
      expect(refused).toMatchObject({ status: "running", requested: "delete" })
      await api.post(`/api/sync/jobs/${active}/stop`, { graceful: false })
      await waitForStatus(api, active, ["stopped"])
    } finally {
      sim.setFaults({})
    }
    const totalBefore = (await api.get("/api/sync/jobs")).body.total
    const keep = await api.del(`/api/sync/jobs/${fullJobId}`, { deleteLogs: false })
    expect(keep.status).toBe(200)
    expect(keep.body).toEqual({ success: true, deleted: fullJobId })
    expect((await api.get(`/api/sync/jobs/${fullJobId}`)).status).toBe(404)
    expect((await api.get("/api/sync/jobs")).body.total).toBe(totalBefore - 1)
    const kept = await api.get(`/api/sync/jobs/${fullJobId}/logs`)
    expect(kept.status).toBe(200)
    expect(kept.body.total).toBeGreaterThan(3)
    const audit = await api.get(`/api/sync/jobs/${fullJobId}/events`)
    expect(audit.body.events.at(-1).type).toBe("JobDeleted")
    expect((await api.del(`/api/sync/jobs/${fullJobId}`)).status).toBe(404)

    // Without a body, logs are kept too; with deleteLogs: true they are erased.
    const erase = await api.del(`/api/sync/jobs/${active}`, { deleteLogs: true })
    expect(erase.status).toBe(200)
    expect((await api.get(`/api/sync/jobs/${active}/logs`)).body).toEqual({ jobId: active, logs: [], total: 0 })
    // Deleted jobs still count in the integration's totals.
    const status = (await api.get("/api/sync/integrations/status")).body.integrations.find(
      (i: any) => i.integrationId === "plane-integration-456"
    )
    expect(status.stats.totalJobs).toBeGreaterThanOrEqual(3)
  })

  it("starts and stops an integration", async () => {
    const stop = await api.post("/api/sync/integrations/plane-integration-789/stop")
    expect(stop.status).toBe(200)
    expect(stop.body).toMatchObject({
      success: true,
      integrationId: "plane-integration-789",
      activeJobsStopped: 0,
      message: "Integration sync stopped"
    })
    let status = (await api.get("/api/sync/integrations/status")).body.integrations.find((i: any) => i.integrationId === "plane-integration-789")
    expect(status).toMatchObject({ status: "stopped", nextSync: null })

    const later = await api.post("/api/sync/integrations/plane-integration-789/start", { scheduleImmediate: false })
    expect(later.body).toMatchObject({ success: true, integrationId: "plane-integration-789", jobId: null })
    status = (await api.get("/api/sync/integrations/status")).body.integrations.find((i: any) => i.integrationId === "plane-integration-789")
    expect(status.status).toBe("active")
    expect(Date.parse(status.nextSync)).toBeGreaterThan(Date.now())

    const now = await api.post("/api/sync/integrations/plane-integration-789/start", { syncType: "incremental", scheduleImmediate: true })
    expect(now.status).toBe(200)
    expect(now.body).toMatchObject({ success: true, integrationId: "plane-integration-789", message: "Sync started" })
    const job = await waitForStatus(api, now.body.jobId, ["completed"])
    expect(job.type).toBe("incremental_sync")
    expect(job.trigger).toBe("integration_start")

    await expectRejected(() => api.post("/api/sync/integrations/plane-disabled/start"), 409, "IntegrationDisabled")
  })

  it("serves health, OpenAPI and docs", async () => {
    const health = await api.get("/healthz")
    expect(health.body).toMatchObject({ status: "ok", database: "ok", scheduler: "running", mode: "file" })
    const spec = await api.get("/openapi.json")
    expect(spec.status).toBe(200)
    const paths = Object.keys(spec.body.paths)
    for (const p of [
      "/api/sync/jobs",
      "/api/sync/jobs/{jobId}",
      "/api/sync/jobs/{jobId}/logs",
      "/api/sync/jobs/{jobId}/events",
      "/api/sync/jobs/{jobId}/resume",
      "/api/sync/jobs/{jobId}/stop",
      "/api/sync/jobs/{jobId}/pause",
      "/api/sync/jobs/{jobId}/interval",
      "/api/sync/jobs/stop-all",
      "/api/sync/integrations/status",
      "/api/sync/integrations/{integrationId}/start",
      "/api/sync/integrations/{integrationId}/stop",
      "/api/sync/integrations/{integrationId}/records",
      "/api/sync/initialize",
      "/healthz"
    ]) expect(paths).toContain(p)
    const docs = await fetch(`${app.url}/docs`)
    expect(docs.status).toBe(200)
    expect(await docs.text()).toContain("<html")
  })

  it("rebuilds every view from the log with no difference (replay --verify)", async () => {
    const ok = runCli(["replay", "--verify", "--db", tmp.dbPath])
    expect(ok.stderr).toBe("")
    expect(ok.code).toBe(0)
    expect(ok.stdout).toMatch(/^OK: \d+ events replayed/)

    // A view that no longer matches its log is reported, with exit code 1.
    const dir = tempDir()
    const copy = await copyDatabase(tmp.dbPath, dir.dir)
    try {
      const row = queryRows<{ id: string; doc: string }>(copy.location, "SELECT id, doc FROM jobs LIMIT 1")[0]!
      const doc = JSON.parse(row.doc)
      doc.stats.created += 1
      execute(copy.location, "UPDATE jobs SET doc = ? WHERE id = ?", [JSON.stringify(doc), row.id])
      const bad = runCli(["replay", "--verify", "--db", copy.location])
      expect(bad.code).toBe(1)
      expect(bad.stderr).toContain(`job ${row.id}: stats.created`)
    } finally {
      copy.drop()
      dir.remove()
    }
  })
})

describe("API token", () => {
  it("requires the token on /api/ when SYNC_API_TOKEN is set", async () => {
    const sim = await startSimulator({ workspaces: [{ slug: "acme", projects: 1, workItems: 5 }] })
    const tmp = tempDir()
    const app = await startApp({
      dbPath: tmp.dbPath,
      apiKey: sim.apiKey,
      apiToken: "s3cret-token",
      integrations: [planeIntegration("plane-integration-456", sim, "acme")]
    })
    try {
      const none = await fetch(`${app.url}/api/sync/jobs`)
      expect(none.status).toBe(401)
      expect(await none.json()).toMatchObject({ success: false, error: "Unauthorized" })
      const wrong = await fetch(`${app.url}/api/sync/jobs`, { headers: { authorization: "Bearer nope" } })
      expect(wrong.status).toBe(401)
      const right = await fetch(`${app.url}/api/sync/jobs`, { headers: { authorization: "Bearer s3cret-token" } })
      expect(right.status).toBe(200)
      expect((await fetch(`${app.url}/healthz`)).status).toBe(200)
    } finally {
      await app.close()
      await sim.close()
      tmp.remove()
    }
  })
})
