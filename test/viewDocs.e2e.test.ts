import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { CorruptView, integrationDocFrom, jobDocFrom, systemDocFrom } from "../src/eventlog/viewDocs.js"
import { type RunningSimulator, startSimulator } from "../src/simulator/server.js"
import { type AppHandle, planeIntegration, startApp, tempDir } from "./support/app.js"
import { type Client, client, waitForStatus } from "./support/http.js"

/**
 * Views reads every doc through a checked decoder (eventlog/viewDocs.ts) instead of a cast. The
 * docs here are the ones a real server wrote (a full sync, an integration created over the API
 * with most optional settings); each is then broken one field at a time.
 */
describe("view docs", () => {
  let sim: RunningSimulator
  let app: AppHandle
  let api: Client
  const tmp = tempDir()
  let jobId: string

  const rows = (table: string) => app.sql<{ doc: string }>(`SELECT doc FROM ${table}`)

  beforeAll(async () => {
    sim = await startSimulator({ workspaces: [{ slug: "acme", projects: 2, workItems: 30, seed: 5 }] })
    app = await startApp({
      dbPath: tmp.dbPath,
      apiKey: sim.apiKey,
      integrations: [planeIntegration("plane-integration-456", sim, "acme")]
    })
    api = client(app.url)
    const created = await api.post("/api/sync/integrations", {
      id: "plane-api",
      name: "Over the API",
      type: "plane",
      baseUrl: sim.url,
      workspaceSlug: "acme",
      schedule: { cron: "0 3 * * *", timezone: "Europe/Berlin" },
      syncWindow: { start: "01:00", end: "05:00" },
      retry: { maxAttempts: 2, baseDelay: 0.5 },
      selection: { entities: ["projects", "work_items"] },
      batchSize: 20,
      initialSync: "scheduled"
    })
    expect(created.status, JSON.stringify(created.body)).toBe(201)
    const job = await api.post("/api/sync/jobs", { integrationId: "plane-integration-456", type: "full_sync", options: { force: true } })
    expect(job.status, JSON.stringify(job.body)).toBe(200)
    jobId = job.body.jobId
    await waitForStatus(api, jobId, ["completed"])
  }, 60_000)

  afterAll(async () => {
    await app?.close()
    await sim?.close()
    tmp.remove()
  })

  /** Every primitive in `value` (array items and record values included), with its path. */
  const leaves = (value: unknown, path: ReadonlyArray<string> = []): Array<ReadonlyArray<string>> =>
    typeof value === "object" && value !== null && Object.keys(value).length > 0
      ? Object.entries(value).flatMap(([k, v]) => leaves(v, [...path, k]))
      : [path]

  /** A value of another JSON type than `value`, which no field's check accepts in its place. */
  const wrongFor = (value: unknown): unknown =>
    typeof value === "number" || typeof value === "boolean" ? String(value) : value === null ? [[]] : 42

  const replaced = (doc: any, path: ReadonlyArray<string>, value: unknown): any => {
    const copy = structuredClone(doc)
    let at = copy
    for (const key of path.slice(0, -1)) at = at[key]
    at[path[path.length - 1]!] = value
    return copy
  }

  const refusal = (read: () => unknown): CorruptView => {
    try {
      read()
    } catch (e) {
      expect(e).toBeInstanceOf(CorruptView)
      return e as CorruptView
    }
    throw new Error("the doc was accepted")
  }

  it("reads back every doc the server wrote, as it was written", async () => {
    const jobs = await rows("jobs")
    const integrations = await rows("integrations")
    const [system] = await rows("system_view")
    expect(jobs.length).toBeGreaterThan(0)
    expect(integrations.map((r) => JSON.parse(r.doc).source).sort()).toEqual(["api", "config"])
    for (const { doc } of jobs) expect(jobDocFrom(doc)).toEqual(JSON.parse(doc))
    for (const { doc } of integrations) expect(integrationDocFrom(doc)).toEqual(JSON.parse(doc))
    expect(systemDocFrom(system!.doc)).toEqual(JSON.parse(system!.doc))
  })

  it("refuses a doc with any field of the wrong type, naming the field", async () => {
    const job = JSON.parse((await rows("jobs")).find((r) => JSON.parse(r.doc).id === jobId)!.doc)
    const jobPaths = leaves(job)
    expect(jobPaths.length).toBeGreaterThan(30)
    for (const path of jobPaths) {
      const broken = replaced(job, path, wrongFor(path.reduce((v: any, k) => v[k], job)))
      const error = refusal(() => jobDocFrom(JSON.stringify(broken)))
      expect(error.message).toContain(`: ${path.join(".")}: expected `)
      expect(error.message).toContain("npm run replay")
    }
    for (const { doc } of await rows("integrations")) {
      const integration = JSON.parse(doc)
      // An API integration's `config` is its input as it came: any JSON object.
      for (const path of leaves(integration).filter((p) => p[0] !== "config" || integration.config === null)) {
        const broken = replaced(integration, path, wrongFor(path.reduce((v: any, k) => v[k], integration)))
        expect(refusal(() => integrationDocFrom(JSON.stringify(broken))).message).toContain(`: ${path.join(".")}: expected `)
      }
    }
  })

  it("refuses a doc that lacks a field or is not JSON; an integration doc older than API integrations reads with their defaults", async () => {
    const job = JSON.parse((await rows("jobs"))[0]!.doc)
    for (const key of Object.keys(job)) {
      const { [key]: _dropped, ...rest } = job
      expect(refusal(() => jobDocFrom(JSON.stringify(rest))).message).toContain(`${key}: expected `)
    }
    expect(refusal(() => jobDocFrom(`${JSON.stringify(job).slice(0, 40)}`)).message).toContain("is not JSON")
    expect(refusal(() => jobDocFrom("[]")).message).toContain("the doc: expected an object")

    const fromFile = JSON.parse((await rows("integrations")).find((r) => JSON.parse(r.doc).source === "config")!.doc)
    const { source: _s, config: _c, removed: _r, credential: _k, ...older } = fromFile
    expect(integrationDocFrom(JSON.stringify(older))).toEqual({ ...older, source: "config", config: null, removed: false, credential: null })
    const { config: _config, ...lacking } = fromFile
    expect(refusal(() => integrationDocFrom(JSON.stringify(lacking))).message).toContain("config: expected an object or null, found nothing")
  })

  it("answers a 500 that names nothing of the doc when a view's doc is malformed", async () => {
    const other = await api.post("/api/sync/jobs", { integrationId: "plane-integration-456", type: "incremental_sync" })
    expect(other.status, JSON.stringify(other.body)).toBe(200)
    await waitForStatus(api, other.body.jobId, ["completed"])
    // Never presented at this version (the cache is by version): the detail reads the doc.
    await app.sql(`UPDATE jobs SET doc = json_set(doc, '$.stats.processed', 'many'), version = version + 100 WHERE id = '${jobId}'`)
    for (const path of [`/api/sync/jobs/${jobId}`, `/api/sync/jobs/${jobId}/logs`, "/api/sync/jobs"]) {
      const r = await api.get(path)
      expect(r.status, path).toBe(500)
      expect(r.body).toEqual({
        success: false,
        error: "InternalError",
        message: "Internal error; it has been logged. Please report it if it persists."
      })
    }
    // The other job and the integrations still read.
    expect((await api.get(`/api/sync/jobs/${other.body.jobId}`)).status).toBe(200)
    expect((await api.get("/api/sync/integrations/status")).status).toBe(200)

    await app.sql(`UPDATE integrations SET doc = json_set(doc, '$.circuit.state', 'ajar') WHERE id = 'plane-api'`)
    const status = await api.get("/api/sync/integrations/status")
    expect(status.status).toBe(500)
    expect(status.body.error).toBe("InternalError")
    expect(JSON.stringify(status.body)).not.toContain("ajar")
  })
})
