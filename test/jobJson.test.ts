import { describe, expect, it } from "vitest"
import type { JobDoc } from "../src/eventlog/jobProjection.js"
import { makeJobJson } from "../src/engine/jobJson.js"

/** The API reuses a job's JSON while its view's version is unchanged (src/http/JobJson.ts). */
const doc = (id: string, version: number, status: string) =>
  ({
    id,
    version,
    integrationId: "plane-integration-456",
    type: "full_sync",
    status,
    progress: 50,
    stage: "syncing_work_items",
    trigger: "manual",
    attempt: 1,
    createdAt: "2026-11-29T07:00:00.000Z",
    startedAt: "2026-11-29T07:00:01.000Z",
    completedAt: status === "completed" ? "2026-11-29T07:00:03.500Z" : null,
    estimatedCompletion: null,
    estimatedDuration: 60,
    stats: { processed: 10, created: 10, updated: 0, deleted: 0, errors: 0 },
    error: null,
    options: { batchSize: 50 }
  }) as unknown as JobDoc

describe("job JSON by view version", () => {
  it("serves a presented version until the job's view has a new one", () => {
    const jobJson = makeJobJson()
    expect(jobJson.cached("sync-job-a", 3)).toBeUndefined()
    const running = JSON.parse(jobJson.present(doc("sync-job-a", 3, "running")))
    expect(running).toMatchObject({ id: "sync-job-a", status: "running", stage: "syncing_work_items" })
    expect(running.duration).toBeUndefined()
    expect(JSON.parse(jobJson.cached("sync-job-a", 3)!)).toEqual(running)
    // The next version is not served from the cache; presented, it replaces the old one.
    expect(jobJson.cached("sync-job-a", 4)).toBeUndefined()
    const done = JSON.parse(jobJson.present(doc("sync-job-a", 4, "completed")))
    expect(done).toMatchObject({ status: "completed", duration: 2500, result: { created: 10 } })
    expect(done.stage).toBeUndefined()
    expect(jobJson.cached("sync-job-a", 3)).toBeUndefined()
    expect(JSON.parse(jobJson.cached("sync-job-a", 4)!)).toEqual(done)
  })

  it("keeps at most its capacity, dropping the least recently served", () => {
    const jobJson = makeJobJson(2)
    jobJson.present(doc("a", 1, "running"))
    jobJson.present(doc("b", 1, "running"))
    expect(jobJson.cached("a", 1)).toBeDefined() // a is now the most recent
    jobJson.present(doc("c", 1, "running")) // evicts b
    expect(jobJson.cached("a", 1)).toBeDefined()
    expect(jobJson.cached("b", 1)).toBeUndefined()
    expect(jobJson.cached("c", 1)).toBeDefined()
  })
})
