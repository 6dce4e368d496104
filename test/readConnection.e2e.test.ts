import Sqlite from "better-sqlite3"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type RunningSimulator, startSimulator } from "../src/simulator/server.js"
import { type AppHandle, planeIntegration, startApp, tempDir } from "./support/app.js"
import { type Client, client, waitForStatus } from "./support/http.js"

/**
 * The job list, a job's detail and the integrations' status read the committed state on a
 * read-only connection of their own (eventlog/ReadConnection.ts), and reuse what they checked or
 * presented before (a job's JSON by version, an integration's doc by its text). Here another
 * connection to the same SQLite file changes a job, its log and an integration inside a
 * transaction: nothing of it shows while the transaction is open, all of it right after COMMIT.
 */
describe("the API's committed reads", () => {
  let sim: RunningSimulator
  let app: AppHandle
  let api: Client
  const tmp = tempDir()
  let jobId: string
  const integrationId = "plane-integration-456"

  beforeAll(async () => {
    sim = await startSimulator({ workspaces: [{ slug: "acme", projects: 2, workItems: 20, seed: 11 }] })
    app = await startApp({ dbPath: tmp.dbPath, apiKey: sim.apiKey, integrations: [planeIntegration(integrationId, sim, "acme")] })
    api = client(app.url)
    const job = await api.post("/api/sync/jobs", { integrationId, type: "full_sync", options: { force: true } })
    expect(job.status, JSON.stringify(job.body)).toBe(200)
    jobId = job.body.jobId
    await waitForStatus(api, jobId, ["completed"])
  }, 60_000)

  afterAll(async () => {
    await app?.close()
    await sim?.close()
    tmp.remove()
  })

  const read = async () => {
    const [detail, list, status] = await Promise.all([
      api.get(`/api/sync/jobs/${jobId}`),
      api.get("/api/sync/jobs?limit=20"),
      api.get("/api/sync/integrations/status")
    ])
    for (const r of [detail, list, status]) expect(r.status, JSON.stringify(r.body)).toBe(200)
    return {
      detail: detail.body,
      listed: list.body.jobs.find((j: { id: string }) => j.id === jobId),
      integration: status.body.integrations.find((i: { integrationId: string }) => i.integrationId === integrationId)
    }
  }

  it("show a write once it is committed, never while its transaction is open", async () => {
    const before = await read()
    expect(before.detail.stats.errors).toBe(0)
    expect(before.listed).toEqual(Object.fromEntries(Object.entries(before.detail).filter(([k]) => k !== "logs")))

    const other = new Sqlite(tmp.dbPath)
    try {
      other.pragma("busy_timeout = 5000")
      other.exec("BEGIN IMMEDIATE")
      // A job's view changes with its version (the API's JSON of a job is reused by version).
      other.prepare(`UPDATE jobs SET doc = json_set(doc, '$.stats.errors', 7, '$.version', version + 1), version = version + 1
        WHERE id = ?`).run(jobId)
      other.prepare("INSERT INTO job_logs (job_id, timestamp, level, message) VALUES (?, ?, 'warn', 'written in a transaction')")
        .run(jobId, new Date().toISOString())
      other.prepare("UPDATE integrations SET doc = json_set(doc, '$.settings.name', 'Renamed in a transaction') WHERE id = ?")
        .run(integrationId)

      const during = await read()
      expect(during).toEqual(before)

      other.exec("COMMIT")
      const after = await read()
      expect(after.detail.stats.errors).toBe(7)
      expect(after.detail.result.errors).toBe(7)
      expect(after.detail.logs.at(-1)).toMatchObject({ level: "warn", message: "written in a transaction" })
      expect(after.detail.logs.length).toBe(before.detail.logs.length + 1)
      expect(after.listed.stats.errors).toBe(7)
      expect(after.integration.name).toBe("Renamed in a transaction")

      // An integration's doc is re-read whenever its text changes, not only with a new version.
      other.prepare("UPDATE integrations SET doc = json_set(doc, '$.settings.name', 'Renamed again') WHERE id = ?").run(integrationId)
      expect((await read()).integration.name).toBe("Renamed again")
    } finally {
      if (other.inTransaction) other.exec("ROLLBACK")
      other.close()
    }
  })
})
