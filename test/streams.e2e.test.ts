import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type RunningSimulator, startSimulator } from "../src/simulator/server.js"
import { type AppHandle, planeIntegration, startApp, tempDir } from "./support/app.js"
import { type Client, client, waitForStatus } from "./support/http.js"
import { connectSse, type SseMessage } from "./support/sse.js"

/** Live streams (SSE) through the real server, resumed across a restart on the same database. */
describe("live event streams", () => {
  let sim: RunningSimulator
  let app: AppHandle
  let api: Client
  const tmp = tempDir()
  const TOKEN = "stream-token-1"

  const boot = () =>
    startApp({
      dbPath: tmp.dbPath,
      apiKey: sim.apiKey,
      apiToken: TOKEN,
      integrations: [planeIntegration("plane-integration-456", sim, "acme"), planeIntegration("other", sim, "beta")]
    })

  const authed = (base: string): Client => {
    const inner = client(base)
    const headers = { authorization: `Bearer ${TOKEN}` }
    const send = async (method: string, path: string, body?: unknown) => {
      const res = await fetch(base + path, {
        method,
        headers: { ...headers, ...(body !== undefined ? { "content-type": "application/json" } : {}) },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {})
      })
      const text = await res.text()
      return { status: res.status, body: text === "" ? null : JSON.parse(text) }
    }
    return { ...inner, get: (p) => send("GET", p), post: (p, b) => send("POST", p, b), put: (p, b) => send("PUT", p, b), del: (p, b) => send("DELETE", p, b) }
  }

  beforeAll(async () => {
    sim = await startSimulator({
      workspaces: [{ slug: "acme", projects: 2, workItems: 300, seed: 3 }, { slug: "beta", projects: 1, workItems: 20, seed: 4 }]
    })
    app = await boot()
    api = authed(app.url)
  })

  afterAll(async () => {
    await app?.close()
    await sim?.close()
    tmp.remove()
  })

  const jobEvents = async (jobId: string) =>
    (await api.get(`/api/sync/jobs/${jobId}/events`)).body.events as Array<{ position: number; type: string; version: number }>

  it("streams one job's events in order with a progress message after each, and ends after its terminal event", async () => {
    sim.setFaults({ latencyMs: 5 })
    try {
      const created = await api.post("/api/sync/jobs", { integrationId: "plane-integration-456", type: "full", options: { batchSize: 20 } })
      expect(created.status).toBe(200)
      const jobId = created.body.jobId as string
      const sse = await connectSse(`${app.url}/api/sync/jobs/${jobId}/stream`, { authorization: `Bearer ${TOKEN}` })
      expect(sse.status).toBe(200)
      expect(sse.headers.get("content-type")).toContain("text/event-stream")
      await sse.ended
      const events = sse.messages.filter((m) => m.event !== "progress")
      const progress = sse.messages.filter((m) => m.event === "progress")
      // Exactly the job's log, in order, ids = log positions.
      const log = await jobEvents(jobId)
      expect(events.map((m) => [Number(m.id), m.event])).toEqual(log.map((e) => [e.position, e.type]))
      expect(events.at(-1)!.event).toBe("JobCompleted")
      expect(events.map((m) => m.data.version)).toEqual(log.map((e) => e.version))
      // A progress message follows every event; progress never decreases and ends at 100.
      expect(progress.length).toBe(events.length)
      const values = progress.map((m) => m.data.progress as number)
      expect(values.every((v, i) => i === 0 || v >= values[i - 1]!)).toBe(true)
      expect(progress.at(-1)!.data).toMatchObject({ jobId, status: "completed", progress: 100 })
      expect(sse.messages.some((m) => m.event === "BatchCommitted")).toBe(true)
    } finally {
      sim.setFaults({})
    }
  })

  it("pushes a progress message with `waiting` when a Retry-After wait starts, and without it when it ends", async () => {
    // Every 10th request answers 429 with Retry-After: 3 (a wait over 2 s is shown).
    sim.setFaults({ burst429: { every: 10, count: 1, retryAfter: 3 } })
    try {
      const created = await api.post("/api/sync/jobs", { integrationId: "other", type: "full", options: { force: true, batchSize: 2 } })
      const jobId = created.body.jobId as string
      const sse = await connectSse(`${app.url}/api/sync/jobs/${jobId}/stream`, { authorization: `Bearer ${TOKEN}` })
      await sse.ended
      const progress = sse.messages.filter((m) => m.event === "progress").map((m) => m.data)
      const waiting = progress.findIndex((p) => p.waiting?.reason === "retry_after")
      expect(waiting, JSON.stringify(progress.slice(0, 5))).toBeGreaterThanOrEqual(0)
      expect(Date.parse(progress[waiting].waiting.until)).toBeGreaterThan(Date.now() - 60_000)
      // The wait ended: a later message has no `waiting`, and the job completed.
      expect(progress.slice(waiting + 1).some((p) => p.waiting === undefined)).toBe(true)
      expect(progress.at(-1)).toMatchObject({ status: "completed", progress: 100 })
    } finally {
      sim.setFaults({})
    }
  })

  it("answers 204 for a finished job with nothing after Last-Event-ID, and 404 for an unknown job", async () => {
    const jobs = (await api.get("/api/sync/jobs?status=completed")).body.jobs
    const jobId = jobs[0].id as string
    const last = (await jobEvents(jobId)).at(-1)!.position
    const done = await fetch(`${app.url}/api/sync/jobs/${jobId}/stream`, { headers: { authorization: `Bearer ${TOKEN}`, "last-event-id": String(last) } })
    expect(done.status).toBe(204)
    const missing = await fetch(`${app.url}/api/sync/jobs/sync-job-nope/stream`, { headers: { authorization: `Bearer ${TOKEN}` } })
    expect(missing.status).toBe(404)
    expect(await missing.json()).toMatchObject({ success: false, error: "JobNotFound" })
  })

  it("needs the token, and takes it as ?access_token= for EventSource", async () => {
    const none = await fetch(`${app.url}/api/sync/stream`)
    expect(none.status).toBe(401)
    expect(await none.json()).toMatchObject({ success: false, error: "Unauthorized" })
    const wrong = await fetch(`${app.url}/api/sync/stream?access_token=nope`)
    expect(wrong.status).toBe(401)
    const viaQuery = await connectSse(`${app.url}/api/sync/stream?access_token=${TOKEN}`)
    expect(viaQuery.status).toBe(200)
    viaQuery.close()
    // Only the stream routes take the query parameter.
    expect((await fetch(`${app.url}/api/sync/jobs?access_token=${TOKEN}`)).status).toBe(401)
  })

  it("filters the global stream by integration and type, and refuses unknown types", async () => {
    const bad = await api.get("/api/sync/stream?types=JobCompleted,Nope")
    expect(bad.status).toBe(400)
    expect(bad.body.message).toContain("Nope")
    const headers = { authorization: `Bearer ${TOKEN}` }
    const all = await connectSse(`${app.url}/api/sync/stream`, headers)
    const mine = await connectSse(`${app.url}/api/sync/stream?integrationId=other`, headers)
    const ends = await connectSse(`${app.url}/api/sync/stream?types=JobCompleted,JobQueued`, headers)
    const a = await api.post("/api/sync/jobs", { integrationId: "plane-integration-456", type: "full", options: { force: true } })
    const b = await api.post("/api/sync/jobs", { integrationId: "other", type: "full", options: { force: true } })
    await waitForStatus(api, a.body.jobId, ["completed"])
    await waitForStatus(api, b.body.jobId, ["completed"])
    const completedOf = (jobId: string) => (m: ReadonlyArray<SseMessage>) => m.some((x) => x.event === "JobCompleted" && x.data.data.jobId === jobId)
    await all.until("both completions", (m) => completedOf(a.body.jobId)(m) && completedOf(b.body.jobId)(m))
    await mine.until("other's completion", completedOf(b.body.jobId))
    await ends.until("both completions", (m) => completedOf(a.body.jobId)(m) && completedOf(b.body.jobId)(m))
    for (const c of [all, mine, ends]) c.close()

    expect(mine.messages.length).toBeGreaterThan(2)
    expect(mine.messages.every((m) => m.data.streamId === `job-${b.body.jobId}` || m.data.streamId === "integration-other")).toBe(true)
    expect(new Set(ends.messages.map((m) => m.event))).toEqual(new Set(["JobQueued", "JobCompleted"]))
    // The unfiltered stream: contiguous positions from where it started, no gap, no duplicate.
    const ids = all.messages.map((m) => Number(m.id))
    expect(ids).toEqual(Array.from({ length: ids.length }, (_, i) => ids[0]! + i))
  })

  it("resumes with Last-Event-ID across a server restart: exactly the events in between", async () => {
    sim.setFaults({ latencyMs: 50 })
    const created = await api.post("/api/sync/jobs", { integrationId: "plane-integration-456", type: "full", options: { force: true, batchSize: 5 } })
    const jobId = created.body.jobId as string
    const first = await connectSse(`${app.url}/api/sync/jobs/${jobId}/stream`, { authorization: `Bearer ${TOKEN}` })
    await first.until("a few batches", (m) => m.filter((x) => x.event === "BatchCommitted").length >= 3)
    expect(first.messages.some((m) => m.event === "JobCompleted")).toBe(false)
    first.close()
    const seen = first.messages.filter((m) => m.id !== undefined)
    const lastId = Number(seen.at(-1)!.id)

    await app.close() // graceful: the job pauses at a batch boundary; the next start resumes it
    sim.setFaults({})
    app = await boot()
    api = authed(app.url)

    const second = await connectSse(`${app.url}/api/sync/jobs/${jobId}/stream`, {
      authorization: `Bearer ${TOKEN}`,
      "last-event-id": String(lastId)
    })
    await second.ended
    const log = await jobEvents(jobId)
    const resumed = second.messages.filter((m) => m.id !== undefined)
    expect(resumed.map((m) => [Number(m.id), m.event])).toEqual(log.filter((e) => e.position > lastId).map((e) => [e.position, e.type]))
    expect(resumed.map((m) => m.event)).toContain("JobResumed")
    expect(resumed.at(-1)!.event).toBe("JobCompleted")
    // Both connections together: the whole log of the job, once.
    expect([...seen, ...resumed].map((m) => Number(m.id))).toEqual(log.map((e) => e.position))
  })
})
