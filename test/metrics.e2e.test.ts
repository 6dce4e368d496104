import { spawnSync } from "node:child_process"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type RunningSimulator, startSimulator } from "../src/simulator/server.js"
import { type AppHandle, planeIntegration, startApp, tempDir } from "./support/app.js"
import { type Client, client, waitForStatus } from "./support/http.js"

/** Samples of a Prometheus text exposition: `name{labels}` → value. */
const parse = (text: string) => {
  const samples = new Map<string, number>()
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue
    const at = line.lastIndexOf(" ")
    samples.set(line.slice(0, at), Number(line.slice(at + 1)))
  }
  return samples
}

const sumOf = (samples: Map<string, number>, name: string, labels: Record<string, string>) => {
  let total = 0
  for (const [key, value] of samples) {
    if (!key.startsWith(`${name}{`) && key !== name) continue
    if (Object.entries(labels).every(([k, v]) => key.includes(`${k}="${v}"`))) total += value
  }
  return total
}

describe("Prometheus metrics", () => {
  let sim: RunningSimulator
  let app: AppHandle
  let api: Client
  const tmp = tempDir()
  // A unique integration id: the metric registry is process-wide, so assert on this one's series.
  const integrationId = `metrics-${Date.now().toString(36)}`

  beforeAll(async () => {
    sim = await startSimulator({ workspaces: [{ slug: "acme", projects: 3, workItems: 120, seed: 9 }] })
    app = await startApp({ dbPath: tmp.dbPath, apiKey: sim.apiKey, integrations: [planeIntegration(integrationId, sim, "acme")] })
    api = client(app.url)
  })

  afterAll(async () => {
    await app?.close()
    await sim?.close()
    tmp.remove()
  })

  const scrape = async () => {
    const res = await fetch(`${app.url}/metrics`)
    expect(res.status).toBe(200)
    expect(res.headers.get("content-type")).toContain("text/plain")
    return res.text()
  }

  it("moves the counters by exactly what a sync did, and passes promtool's checks", async () => {
    const before = parse(await scrape())
    const created = await api.post("/api/sync/jobs", { integrationId, type: "full" })
    const job = await waitForStatus(api, created.body.jobId, ["completed", "failed"])
    expect(job.status).toBe("completed")
    const text = await scrape()
    const after = parse(text)
    const delta = (name: string, labels: Record<string, string> = {}) =>
      sumOf(after, name, { integration: integrationId, ...labels }) - sumOf(before, name, { integration: integrationId, ...labels })

    expect(delta("synclog_records_processed_total")).toBe(job.result.processed)
    expect(delta("synclog_records_created_total")).toBe(job.result.created)
    expect(delta("synclog_records_updated_total")).toBe(job.result.updated)
    expect(delta("synclog_records_deleted_total")).toBe(job.result.deleted)
    expect(delta("synclog_records_created_total", { entity: "work_items" })).toBe(120)
    expect(delta("synclog_jobs_total", { type: "full_sync", status: "completed" })).toBe(1)
    expect(delta("synclog_source_requests_total", { status_class: "2xx" })).toBeGreaterThan(5)
    expect(sumOf(after, "synclog_job_duration_seconds_count", { type: "full_sync" })).toBeGreaterThanOrEqual(1)
    expect(after.get(`synclog_circuit_state{integration="${integrationId}"}`)).toBe(0)
    expect(after.get("synclog_jobs_running")).toBe(0)
    expect(after.get("synclog_event_log_position")).toBeGreaterThan(0)
    expect(after.get("synclog_database_size_bytes")).toBeGreaterThan(0)
    expect(sumOf(after, "synclog_http_requests_total", { route: "/api/sync/jobs/:jobId", status: "200" })).toBeGreaterThan(0)
    // Bounded labels: no job id anywhere.
    expect(text).not.toContain(job.id)

    const check = spawnSync("promtool", ["check", "metrics"], { input: text, encoding: "utf8" })
    expect(check.error).toBeUndefined()
    expect(`${check.stdout}${check.stderr}`.trim(), "promtool check metrics").toBe("")
    expect(check.status).toBe(0)
  })
})
