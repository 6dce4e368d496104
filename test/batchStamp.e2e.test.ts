import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type RunningSimulator, startSimulator } from "../src/simulator/server.js"
import { type AppHandle, planeIntegration, startApp, tempDir } from "./support/app.js"
import { type Client, client, waitForStatus } from "./support/http.js"

/**
 * A BatchCommitted is stamped when it is appended, after its page went into the mirror (same
 * transaction): its `recordedAt` is when the batch was recorded (what a reader of the log, and
 * the live stream's delay from commit, expect), not when the page started to be written. The
 * page's rows keep the time their write started (`lastSeenAt`), so each batch's rows are told
 * apart by that stamp, and the event's time can be compared with it.
 */
describe("BatchCommitted's time", () => {
  let sim: RunningSimulator
  let app: AppHandle
  let api: Client
  const tmp = tempDir()

  beforeAll(async () => {
    sim = await startSimulator({ workspaces: [{ slug: "pages", projects: 1, workItems: 2_500, seed: 12 }] })
    app = await startApp({ dbPath: tmp.dbPath, apiKey: sim.apiKey, integrations: [planeIntegration("pages", sim, "pages")] })
    api = client(app.url)
  })

  afterAll(async () => {
    await app?.close()
    await sim?.close()
    tmp.remove()
  })

  it("is taken once the page is in the mirror, and is the event's recordedAt", async () => {
    const r = await api.post("/api/sync/jobs", { integrationId: "pages", type: "full_sync", options: { batchSize: 1000 } })
    expect(r.status, JSON.stringify(r.body)).toBe(200)
    const job = await waitForStatus(api, r.body.jobId, ["completed", "failed", "stopped"])
    expect(job.status, job.error).toBe("completed")

    // The work items' rows, counted by the time their page's write started.
    const rowsAt = new Map<string, number>()
    let cursor: string | null = null
    do {
      const page: { body: { records: Array<{ lastSeenAt: string }>; nextCursor: string | null } } = await api.get(
        `/api/sync/integrations/pages/records?entity=work_items&limit=1000${cursor ? `&cursor=${cursor}` : ""}`
      )
      for (const rec of page.body.records) rowsAt.set(rec.lastSeenAt, (rowsAt.get(rec.lastSeenAt) ?? 0) + 1)
      cursor = page.body.nextCursor
    } while (cursor)
    const pageStarts = [...rowsAt.keys()].sort()

    const events = (await api.get(`/api/sync/jobs/${r.body.jobId}/events`)).body.events as Array<
      { type: string; recordedAt: string; data: { at: string; entity: string | null; deltas: { created: number } } }
    >
    const batches = events.filter((e) => e.type === "BatchCommitted" && e.data.entity === "work_items" && e.data.deltas.created > 0)
    expect(batches.map((b) => b.data.deltas.created)).toEqual([1000, 1000, 500])
    expect(pageStarts).toHaveLength(3)
    const later: Array<boolean> = []
    batches.forEach((batch, i) => {
      expect(batch.recordedAt).toBe(batch.data.at)
      // The i-th page's rows were written before its event, and after the page before's event.
      const start = pageStarts[i]!
      expect(rowsAt.get(start)).toBe(batch.data.deltas.created)
      expect(Date.parse(batch.recordedAt)).toBeGreaterThanOrEqual(Date.parse(start))
      if (i > 0) expect(Date.parse(start)).toBeGreaterThanOrEqual(Date.parse(batches[i - 1]!.recordedAt))
      later.push(Date.parse(batch.recordedAt) > Date.parse(start))
    })
    // Writing 1,000 rows takes milliseconds: stamped before the write (as before), every batch's
    // time would equal its rows' stamp.
    expect(later).toContain(true)
  }, 60_000)
})
