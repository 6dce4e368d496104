import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type RunningSimulator, startSimulator } from "../src/simulator/server.js"
import { type AppHandle, planeIntegration, startApp, tempDir } from "./support/app.js"
import { type Client, client, waitFor, waitForStatus } from "./support/http.js"
import { overlappingStarts } from "./support/activeIntervals.js"
import { admin, expectMirrorEqualsSource, sourceCounts, total } from "./support/source.js"

/**
 * A job's life end to end: the real server on an ephemeral port, a SQLite file in a temp folder,
 * the Plane simulator over HTTP.
 */
describe("job lifecycle", () => {
  let sim: RunningSimulator
  let app: AppHandle
  let api: Client
  const tmp = tempDir()

  beforeAll(async () => {
    sim = await startSimulator({
      workspaces: [
        { slug: "acme", projects: 3, workItems: 240, seed: 11 },
        { slug: "slow", projects: 2, workItems: 400, seed: 12 }
      ],
      seed: 5
    })
    app = await startApp({
      dbPath: tmp.dbPath,
      apiKey: sim.apiKey,
      integrations: [
        planeIntegration("plane-integration-456", sim, "acme"),
        planeIntegration("plane-slow", sim, "slow")
      ]
    })
    api = client(app.url)
  })

  afterAll(async () => {
    // Over the whole history of this file (stops of both kinds, pauses, resumes, failures):
    // no integration ever had two active jobs.
    expect(overlappingStarts(tmp.dbPath)).toEqual([])
    await app?.close()
    await sim?.close()
    tmp.remove()
  })

  it("runs a full sync from queued to completed with counters equal to the source", async () => {
    const counts = await sourceCounts(sim, "acme")
    const created = await api.post("/api/sync/jobs", { integrationId: "plane-integration-456", type: "full_sync" })
    expect(created.status).toBe(200)
    expect(created.body).toMatchObject({ success: true, status: "queued", estimatedDuration: null })
    expect(created.body.jobId).toMatch(/^sync-job-[0-9a-z]+$/)

    const job = await waitForStatus(api, created.body.jobId, ["completed", "failed"])
    expect(job.status).toBe("completed")
    expect(job.progress).toBe(100)
    expect(job.result).toEqual({ processed: total(counts), created: total(counts), updated: 0, deleted: 0, errors: 0 })
    expect(job.stats).toEqual(job.result)
    expect(job.duration).toBe(Date.parse(job.completedAt) - Date.parse(job.startedAt))
    expect(job.stage).toBeUndefined()
    expect(job.estimatedCompletion).toBeUndefined()
    expect(job.logs.some((l: { message: string }) => l.message.startsWith("Completed:"))).toBe(true)
    await expectMirrorEqualsSource(api, "plane-integration-456", sim, "acme")

    // The same data again: nothing created or updated, only examined.
    const again = await api.post("/api/sync/jobs", {
      integrationId: "plane-integration-456",
      type: "full",
      options: { force: true }
    })
    expect(again.status).toBe(200)
    expect(again.body.estimatedDuration).toBe(job.duration)
    const second = await waitForStatus(api, again.body.jobId, ["completed", "failed"])
    expect(second.result).toEqual({ processed: total(counts), created: 0, updated: 0, deleted: 0, errors: 0 })
  })

  it("refuses an overlapping full sync and a too recent one unless forced", async () => {
    const recent = await api.post("/api/sync/jobs", { integrationId: "plane-integration-456", type: "full_sync" })
    expect(recent.status).toBe(409)
    expect(recent.body).toMatchObject({ success: false, error: "FullSyncTooRecent", integrationId: "plane-integration-456" })
    expect(recent.body.message).toContain("force")
  })

  it("syncs only what changed incrementally, and sees deletions only in a full sync", async () => {
    const sa = admin(sim)
    const items = await sa.get("/records/work_items?workspace=acme")
    const [a, b, c] = items as Array<{ id: string; project: string }>
    await sa.patch(`/records/work_items/${a!.id}?workspace=acme`, { name: "Renamed by the test" })
    await sa.patch(`/records/work_items/${b!.id}?workspace=acme`, { priority: "urgent" })
    await sa.post("/records/work_items?workspace=acme", { project: c!.project, name: "Brand new item" })
    await sa.del(`/records/work_items/${c!.id}?workspace=acme`)

    const inc = await api.post("/api/sync/jobs", { integrationId: "plane-integration-456", type: "incremental_sync" })
    expect(inc.status).toBe(200)
    const done = await waitForStatus(api, inc.body.jobId, ["completed", "failed"])
    expect(done.status).toBe("completed")
    // Per entity type, from the job's own events: exactly the two edits and the new item.
    const events = (await api.get(`/api/sync/jobs/${inc.body.jobId}/events`)).body.events as Array<{ type: string; data: any }>
    const workItems = events.filter((e) => e.type === "BatchCommitted" && e.data.entity === "work_items")
    expect(workItems.reduce((n, e) => n + e.data.deltas.created, 0)).toBe(1)
    expect(workItems.reduce((n, e) => n + e.data.deltas.updated, 0)).toBe(2)
    // An incremental walk stops at the watermark: far fewer work items examined than exist.
    expect(workItems.reduce((n, e) => n + e.data.deltas.processed, 0)).toBeLessThan(20)
    expect(done.result.deleted).toBe(0)
    expect(done.logs.some((l: { message: string }) => l.message.includes("cannot see deletions"))).toBe(true)

    const full = await api.post("/api/sync/jobs", {
      integrationId: "plane-integration-456",
      type: "full_sync",
      options: { force: true }
    })
    const swept = await waitForStatus(api, full.body.jobId, ["completed", "failed"])
    expect(swept.result).toMatchObject({ created: 0, updated: 0, deleted: 1, errors: 0 })
    await expectMirrorEqualsSource(api, "plane-integration-456", sim, "acme")
    const gone = await api.get(`/api/sync/integrations/plane-integration-456/records/work_items/${c!.id}`)
    expect(gone.status).toBe(200)
    expect(gone.body.deletedAt).not.toBeNull()
  })

  it("requires a baseline for incremental sync", async () => {
    const r = await api.post("/api/sync/jobs", { integrationId: "plane-slow", type: "incremental" })
    expect(r.status).toBe(409)
    expect(r.body.error).toBe("BaselineRequired")
  })

  it("stops gracefully: the batch in flight commits, then the job stops; resume continues from the checkpoint", async () => {
    sim.setFaults({ latencyMs: 120 })
    try {
      const created = await api.post("/api/sync/jobs", {
        integrationId: "plane-slow",
        type: "full_sync",
        options: { batchSize: 20 }
      })
      const jobId = created.body.jobId as string
      await waitFor("work items to flow", async () => {
        const r = await api.get(`/api/sync/jobs/${jobId}`)
        return r.body.stage === "syncing_work_items" && r.body.stats.processed > 60 ? r.body : undefined
      })
      const stop = await api.post(`/api/sync/jobs/${jobId}/stop`, { graceful: true })
      expect(stop.status).toBe(200)
      expect(stop.body).toMatchObject({ success: true, jobId, status: "stopping", message: "Job stop requested" })
      const stopped = await waitForStatus(api, jobId, ["stopped"])
      expect(stopped.result).toEqual(stopped.stats)

      const events = (await api.get(`/api/sync/jobs/${jobId}/events`)).body.events as Array<{ type: string }>
      const types = events.map((e) => e.type)
      const requested = types.indexOf("StopRequested")
      expect(requested).toBeGreaterThan(0)
      // The batch that was in flight when the stop came committed before the job stopped.
      expect(types.slice(requested)).toContain("BatchCommitted")
      expect(types[types.length - 1]).toBe("JobStopped")

      // Resume: same job id, counters carried over, no record created twice.
      const resumed = await api.post(`/api/sync/jobs/${jobId}/resume`)
      expect(resumed.status).toBe(200)
      expect(resumed.body).toMatchObject({ success: true, jobId, message: "Job resumed" })
      expect(["running", "queued"]).toContain(resumed.body.status)
      const done = await waitForStatus(api, jobId, ["completed", "failed"])
      const counts = await sourceCounts(sim, "slow")
      expect(done.result).toEqual({ processed: total(counts), created: total(counts), updated: 0, deleted: 0, errors: 0 })
      const after = (await api.get(`/api/sync/jobs/${jobId}/events`)).body.events as Array<{ type: string; data: any }>
      const resumedAt = after.findIndex((e) => e.type === "JobResumed")
      // It did not start over: no second projects stage after the resume.
      expect(after.slice(resumedAt).some((e) => e.type === "StageStarted" && e.data.stage === "syncing_projects")).toBe(false)
      expect(done.logs.some((l: { message: string }) => l.message.startsWith("Resuming from checkpoint"))).toBe(true)
      await expectMirrorEqualsSource(api, "plane-slow", sim, "slow")
    } finally {
      sim.setFaults({})
    }
  })

  it("stops immediately without leaving half a batch, and resumes exactly", async () => {
    const sa = admin(sim)
    // New records so the walk has work to create.
    const items = (await sa.get("/records/work_items?workspace=slow")) as Array<{ project: string }>
    for (let i = 0; i < 30; i++) await sa.post("/records/work_items?workspace=slow", { project: items[0]!.project, name: `extra ${i}` })
    sim.setFaults({ latencyMs: 120 })
    try {
      const created = await api.post("/api/sync/jobs", {
        integrationId: "plane-slow",
        type: "selective_sync",
        options: { entities: ["work_items"], batchSize: 10 }
      })
      const jobId = created.body.jobId as string
      await waitFor("a few batches", async () => {
        const r = await api.get(`/api/sync/jobs/${jobId}`)
        return r.body.stats.processed >= 30 ? r.body : undefined
      })
      const stop = await api.post(`/api/sync/jobs/${jobId}/stop`, { graceful: false })
      expect(stop.status).toBe(200)
      const stopped = await waitForStatus(api, jobId, ["stopped"])
      const events = (await api.get(`/api/sync/jobs/${jobId}/events`)).body.events as Array<{ type: string; data: any }>
      const committed = events.filter((e) => e.type === "BatchCommitted")
      const sum = committed.reduce((n, e) => n + e.data.deltas.processed, 0)
      // Counters are exactly the sum of committed batches: the interrupted one left no trace.
      expect(stopped.stats.processed).toBe(sum)
      expect(events.findIndex((e) => e.type === "StopRequested")).toBeGreaterThan(events.findLastIndex((e) => e.type === "BatchCommitted"))

      const resumed = await api.post(`/api/sync/jobs/${jobId}/resume`)
      expect(resumed.status).toBe(200)
      const done = await waitForStatus(api, jobId, ["completed", "failed"])
      expect(done.status).toBe("completed")
      const counts = await sourceCounts(sim, "slow")
      expect(done.result.processed).toBe(counts.work_items)
      expect(done.result.created).toBe(30)
      await expectMirrorEqualsSource(api, "plane-slow", sim, "slow")
    } finally {
      sim.setFaults({})
    }
  })

  it("releases an integration only after the stopped job's terminal event is committed", async () => {
    sim.setFaults({ latencyMs: 40 })
    try {
      const full = { integrationId: "plane-slow", type: "full", options: { force: true, batchSize: 5 } }
      const jobs: Array<string> = []
      for (const graceful of [false, false, true, false, false, true, false]) {
        const running = await api.post("/api/sync/jobs", full)
        const queued = await api.post("/api/sync/jobs", full)
        expect([running.status, queued.status]).toEqual([200, 200])
        jobs.push(running.body.jobId, queued.body.jobId)
        await waitFor("the first job to commit a batch", async () => {
          const r = await api.get(`/api/sync/jobs/${running.body.jobId}`)
          return r.body.status === "running" && r.body.stats.processed > 0
        })
        expect((await api.post(`/api/sync/jobs/${running.body.jobId}/stop`, { graceful })).status).toBe(200)
        await waitForStatus(api, running.body.jobId, ["stopped"])
        await waitFor("the queued job to start", async () => {
          const r = await api.get(`/api/sync/jobs/${queued.body.jobId}`)
          return r.body.status !== "queued"
        })
        expect((await api.post(`/api/sync/jobs/${queued.body.jobId}/stop`, { graceful: false })).status).toBe(200)
        await waitForStatus(api, queued.body.jobId, ["stopped"])
      }
      expect(overlappingStarts(tmp.dbPath)).toEqual([])
    } finally {
      sim.setFaults({})
    }
  })

  it("pauses at a batch boundary and resumes from there", async () => {
    sim.setFaults({ latencyMs: 100 })
    try {
      const created = await api.post("/api/sync/jobs", {
        integrationId: "plane-slow",
        type: "full_sync",
        options: { batchSize: 10, force: true }
      })
      const jobId = created.body.jobId as string
      await waitForStatus(api, jobId, ["running"])
      const pause = await api.post(`/api/sync/jobs/${jobId}/pause`)
      expect(pause.status).toBe(200)
      expect(pause.body).toMatchObject({ success: true, jobId })
      const paused = await waitForStatus(api, jobId, ["paused"])
      expect(paused.result).toBeUndefined()
      expect(paused.stage).toBeUndefined()

      const again = await api.post(`/api/sync/jobs/${jobId}/pause`)
      expect(again.status).toBe(409)
      expect(again.body).toMatchObject({ error: "InvalidTransition", status: "paused", requested: "pause" })

      const resumed = await api.post(`/api/sync/jobs/${jobId}/resume`)
      expect(resumed.status).toBe(200)
      const running = await api.post(`/api/sync/jobs/${jobId}/resume`)
      expect(running.status).toBe(409)
      expect(running.body.message).toContain("running")
      const done = await waitForStatus(api, jobId, ["completed"])
      expect(done.result.created).toBe(0)
      expect(done.result.processed).toBe(total(await sourceCounts(sim, "slow")))
    } finally {
      sim.setFaults({})
    }
  })
  it("counts each record once when a full sync ran while another was paused", async () => {
    sim.setFaults({ latencyMs: 50 })
    try {
      const first = await api.post("/api/sync/jobs", {
        integrationId: "plane-slow",
        type: "full_sync",
        options: { batchSize: 10, force: true }
      })
      const paused = first.body.jobId as string
      await waitFor("the first full sync past its first pages", async () =>
        ((await api.get(`/api/sync/jobs/${paused}`)).body.stats?.processed ?? 0) > 200)
      await api.post(`/api/sync/jobs/${paused}/pause`)
      await waitForStatus(api, paused, ["paused"])
      sim.setFaults({})
      // A paused job does not hold the integration: a second full sync runs to the end meanwhile
      // and marks every record as seen by itself, those the paused one had walked included.
      const second = await api.post("/api/sync/jobs", { integrationId: "plane-slow", type: "full_sync", options: { force: true } })
      expect((await waitForStatus(api, second.body.jobId, ["completed", "failed"])).status).toBe("completed")
      await api.post(`/api/sync/jobs/${paused}/resume`)
      const done = await waitForStatus(api, paused, ["completed", "failed"])
      // Its sweep does not take the records the other job saw for unseen: no lookup, no second count.
      expect(done.result).toMatchObject({ processed: total(await sourceCounts(sim, "slow")), deleted: 0, errors: 0 })
      await expectMirrorEqualsSource(api, "plane-slow", sim, "slow")
    } finally {
      sim.setFaults({})
    }
  })
})
