import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type RunningSimulator, startSimulator } from "../src/simulator/server.js"
import { type AppHandle, planeIntegration, startApp, tempDir } from "./support/app.js"
import { type Client, client, waitForStatus } from "./support/http.js"
import { admin, expectMirrorEqualsSource, mirrorRecords, sourceCounts, sourceRecords } from "./support/source.js"

/** What each sync type guarantees (README), through the real server, SQLite and simulator. */
describe("sync semantics", () => {
  let sim: RunningSimulator
  let app: AppHandle
  let api: Client
  const tmp = tempDir()
  const sa = () => admin(sim)

  const run = async (body: Record<string, unknown>) => {
    const r = await api.post("/api/sync/jobs", body)
    expect(r.status, JSON.stringify(r.body)).toBe(200)
    const job = await waitForStatus(api, r.body.jobId, ["completed", "failed", "stopped"])
    expect(job.status, job.error).toBe("completed")
    return job
  }
  const full = (integrationId: string, options: Record<string, unknown> = {}) =>
    run({ integrationId, type: "full_sync", options: { force: true, ...options } })
  const entityDeltas = async (jobId: string, entity: string) => {
    const events = (await api.get(`/api/sync/jobs/${jobId}/events`)).body.events as Array<{ type: string; data: any }>
    const out = { processed: 0, created: 0, updated: 0, deleted: 0, errors: 0 }
    for (const e of events) {
      if (e.type !== "BatchCommitted" || e.data.entity !== entity) continue
      for (const k of Object.keys(out) as Array<keyof typeof out>) out[k] += e.data.deltas[k]
    }
    return out
  }

  beforeAll(async () => {
    sim = await startSimulator({
      workspaces: [
        { slug: "acme", projects: 3, workItems: 90, seed: 41 },
        { slug: "shift", projects: 1, workItems: 50, seed: 42 },
        { slug: "dup", projects: 1, workItems: 20, seed: 44 }
      ]
    })
    app = await startApp({
      dbPath: tmp.dbPath,
      apiKey: sim.apiKey,
      integrations: [
        planeIntegration("acme", sim, "acme"),
        planeIntegration("shift", sim, "shift"),
        planeIntegration("dup", sim, "dup")
      ]
    })
    api = client(app.url)
  })

  afterAll(async () => {
    await app?.close()
    await sim?.close()
    tmp.remove()
  })

  it("reads the mirror with cursor pagination, filters and single lookups", async () => {
    await full("acme")
    const counts = await sourceCounts(sim, "acme")
    const seen = new Set<string>()
    let cursor: string | null = null
    let pages = 0
    let lastId = ""
    do {
      const q: string = cursor ? `&cursor=${cursor}` : ""
      const r = await api.get(`/api/sync/integrations/acme/records?entity=work_items&limit=25${q}`)
      expect(r.status).toBe(200)
      expect(r.body.total).toBe(counts.work_items)
      for (const rec of r.body.records) {
        expect(seen.has(rec.id)).toBe(false)
        seen.add(rec.id)
        expect(rec.id > lastId).toBe(true)
        lastId = rec.id
        expect(rec).toMatchObject({ entity: "work_items", deletedAt: null, archivedAt: null })
        expect(rec.payload.id).toBe(rec.id)
        expect(typeof rec.firstSeenAt).toBe("string")
      }
      cursor = r.body.nextCursor
      pages++
    } while (cursor)
    expect(seen.size).toBe(counts.work_items)
    expect(pages).toBe(Math.ceil(counts.work_items / 25))

    const since = [...(await mirrorRecords(api, "acme", "work_items"))].sort((a: any, b: any) => a.updatedAt.localeCompare(b.updatedAt))
    const pivot = since[Math.floor(since.length / 2)] as any
    const recent = await api.get(`/api/sync/integrations/acme/records?entity=work_items&limit=1000&updatedSince=${encodeURIComponent(pivot.updatedAt)}`)
    expect(recent.body.total).toBe(since.filter((r: any) => r.updatedAt >= pivot.updatedAt).length)

    const one = await api.get(`/api/sync/integrations/acme/records/work_items/${pivot.id}`)
    expect(one.status).toBe(200)
    expect(one.body.payload).toEqual(pivot.payload)
    expect((await api.get(`/api/sync/integrations/acme/records/work_items/00000000-0000-4000-8000-000000000000`)).body.error).toBe("RecordNotFound")
    expect((await api.get(`/api/sync/integrations/nope/records?entity=work_items`)).status).toBe(404)
    for (const q of ["entity=pages", "entity=work_items&cursor=garbage", "entity=work_items&updatedSince=yesterday", "entity=work_items&limit=0", ""]) {
      const bad = await api.get(`/api/sync/integrations/acme/records?${q}`)
      expect(bad.status, q).toBe(400)
      expect(bad.body.error).toBe("ValidationError")
    }
  })

  it("selective sync touches and counts only its selection and never tombstones outside it", async () => {
    const projects = await sourceRecords(sim, "acme", "projects")
    const [p1, p2] = projects.map((p) => p.id)
    const labels = await sourceRecords(sim, "acme", "labels")
    const inP1 = labels.filter((l) => l.project === p1)
    const inP2 = labels.filter((l) => l.project === p2)
    await sa().patch(`/records/labels/${inP1[0]!.id}?workspace=acme`, { name: "renamed in p1" })
    await sa().patch(`/records/labels/${inP2[0]!.id}?workspace=acme`, { name: "renamed in p2" })
    await sa().del(`/records/labels/${inP1[1]!.id}?workspace=acme`)
    await sa().del(`/records/labels/${inP2[1]!.id}?workspace=acme`)
    const item = (await sourceRecords(sim, "acme", "work_items")).find((w) => w.project === p1)!
    await sa().patch(`/records/work_items/${item.id}?workspace=acme`, { name: "not selected" })

    const job = await run({
      integrationId: "acme",
      type: "selective",
      options: { entities: ["labels"], projects: [p1] }
    })
    expect(job.options).toMatchObject({ entities: ["labels"], projects: [p1] })
    expect(job.result).toEqual({ processed: inP1.length, created: 0, updated: 1, deleted: 1, errors: 0 })
    const mirror = new Map((await api.get(`/api/sync/integrations/acme/records?entity=labels&includeDeleted=true&limit=1000`)).body.records.map((r: any) => [r.id, r]))
    expect((mirror.get(inP1[1]!.id) as any).deletedAt).not.toBeNull()
    expect((mirror.get(inP2[1]!.id) as any).deletedAt).toBeNull()
    expect((mirror.get(inP2[0]!.id) as any).payload.name).not.toBe("renamed in p2")
    const untouched = await api.get(`/api/sync/integrations/acme/records/work_items/${item.id}`)
    expect(untouched.body.payload.name).not.toBe("not selected")

    const excluded = await run({ integrationId: "acme", type: "selective", options: { excludeEntities: ["labels", "work_items"], excludeProjects: [p1] } })
    expect(await entityDeltas(excluded.id, "labels")).toMatchObject({ processed: 0 })
    expect(await entityDeltas(excluded.id, "work_items")).toMatchObject({ processed: 0 })
    await full("acme")
    await expectMirrorEqualsSource(api, "acme", sim, "acme")
  })

  it("never tombstones a record that offset pagination skipped during the walk", async () => {
    await full("shift", { batchSize: 10 })
    const [project] = await sourceRecords(sim, "shift", "projects")
    const byCreated = (await sourceRecords(sim, "shift", "work_items")).sort((a, b) =>
      String(a.created_at).localeCompare(String(b.created_at))
    )
    // Right after page 0 of the work items is served, its first row is deleted at the source:
    // every later row moves up one place and the row at offset 10 is never listed.
    await sa().post("/hooks", { workspace: "shift", entity: "work_items", project: project!.id, afterPage: 0, action: "delete", count: 1, target: "first" })
    const job = await full("shift", { batchSize: 10 })
    const hooks = await sa().get("/hooks")
    expect(hooks[0].fired).toBe(true)
    const deletedId = hooks[0].affected[0] as string
    expect(deletedId).toBe(byCreated[0]!.id)
    const skipped = byCreated[10]!
    // The skipped row was a deletion candidate, confirmed at the source (200) and kept.
    expect(job.result).toMatchObject({ created: 0, deleted: 0, errors: 0 })
    const kept = (await api.get(`/api/sync/integrations/shift/records/work_items/${skipped.id}`)).body
    expect(kept.deletedAt).toBeNull()
    expect(Date.parse(kept.lastSeenAt)).toBeGreaterThanOrEqual(Date.parse(job.startedAt))
    // The deleted row was listed before it was deleted; the next full sync finds it gone.
    const next = await full("shift", { batchSize: 10 })
    expect(next.result).toMatchObject({ created: 0, deleted: 1, errors: 0 })
    const gone = await api.get(`/api/sync/integrations/shift/records/work_items/${deletedId}`)
    expect(gone.body.deletedAt).not.toBeNull()
    await expectMirrorEqualsSource(api, "shift", sim, "shift")
    await sa().del("/hooks")
  })

  it("counts a record listed twice during a first sync once (rows shifted by an insert)", async () => {
    // Labels are listed newest first: one created after page 0 was served pushes every row
    // down a place, so page 1 starts with the row page 0 ended with. The mirror has no labels
    // yet, so the job inserts without looking rows up first; the repeat must still count once.
    const [project] = await sourceRecords(sim, "dup", "projects")
    const labels = await sourceRecords(sim, "dup", "labels")
    expect(labels.length).toBeGreaterThan(2)
    await sa().post("/hooks", { workspace: "dup", entity: "labels", project: project!.id, afterPage: 0, action: "create", count: 1 })
    const job = await run({ integrationId: "dup", type: "full_sync", options: { batchSize: 2 } })
    const hooks = await sa().get("/hooks")
    expect(hooks[0].fired).toBe(true)
    const deltas = await entityDeltas(job.id, "labels")
    // Every label that was there before the walk, once; the new one sits on page 0, already read.
    expect(deltas).toMatchObject({ created: labels.length, updated: 0, errors: 0 })
    expect(deltas.processed).toBe(labels.length + 1)
    const mirrored = await mirrorRecords(api, "dup", "labels")
    expect(mirrored.length).toBe(labels.length)
    const counts = await sourceCounts(sim, "dup")
    expect(job.result.created).toBe(Object.values(counts).reduce((a, b) => a + b, 0) - 1)
    // The next full sync picks up the new label, and nothing else changes.
    const next = await full("dup")
    expect(next.result).toMatchObject({ created: 1, updated: 0, deleted: 0, errors: 0 })
    await expectMirrorEqualsSource(api, "dup", sim, "dup")
    await sa().del("/hooks")
  })

  it("incremental sync catches late and tied updated_at values, once", async () => {
    await full("shift")
    const items = await sourceRecords(sim, "shift", "work_items")
    // A write that committed late: its updated_at is a little before the last walk began.
    const late = new Date(Date.now() - 60_000).toISOString()
    await sa().patch(`/records/work_items/${items[0]!.id}?workspace=shift`, { name: "late write", updated_at: late })
    await sa().patch(`/records/work_items/${items[1]!.id}?workspace=shift`, { name: "tie a", updated_at: late })
    await sa().patch(`/records/work_items/${items[2]!.id}?workspace=shift`, { name: "tie b", updated_at: late })
    const inc = await run({ integrationId: "shift", type: "incremental_sync", options: { batchSize: 2 } })
    expect(await entityDeltas(inc.id, "work_items")).toMatchObject({ updated: 3, created: 0 })
    // Run again: the overlap window fetches them again, but nothing changed, so nothing counts.
    const again = await run({ integrationId: "shift", type: "incremental_sync", options: { batchSize: 2 } })
    expect(again.result).toMatchObject({ created: 0, updated: 0, deleted: 0 })
    await expectMirrorEqualsSource(api, "shift", sim, "shift")
  })
})

/**
 * Archived records, against both editions: Plane Cloud answers an archived work item's detail
 * with `archived_at`; self-hosted Plane CE answers 404, as for a deleted one (README).
 */
describe.each([
  ["Plane Cloud", "ok"],
  ["self-hosted Plane CE", "not-found"]
] as const)("archived records (%s)", (_, archivedWorkItemDetail) => {
  let sim: RunningSimulator
  let app: AppHandle
  let api: Client
  const tmp = tempDir()
  const sa = () => admin(sim)
  const cloud = archivedWorkItemDetail === "ok"

  const full = async (options: Record<string, unknown> = {}) => {
    const r = await api.post("/api/sync/jobs", { integrationId: "arch", type: "full_sync", options: { force: true, ...options } })
    expect(r.status, JSON.stringify(r.body)).toBe(200)
    const job = await waitForStatus(api, r.body.jobId, ["completed", "failed", "stopped"])
    expect(job.status, job.error).toBe("completed")
    return job
  }

  beforeAll(async () => {
    sim = await startSimulator({ archivedWorkItemDetail, workspaces: [{ slug: "arch", projects: 2, workItems: 30, seed: 43 }] })
    app = await startApp({ dbPath: tmp.dbPath, apiKey: sim.apiKey, integrations: [planeIntegration("arch", sim, "arch")] })
    api = client(app.url)
  })

  afterAll(async () => {
    await app?.close()
    await sim?.close()
    tmp.remove()
  })

  it(cloud ? "marks archived records archived, not deleted; includeArchived mirrors them" : "tombstones an archived work item (CE cannot tell it from a deleted one), marks an archived cycle archived", async () => {
    await full()
    const items = await sourceRecords(sim, "arch", "work_items")
    const cycles = await sourceRecords(sim, "arch", "cycles")
    await sa().post(`/records/work_items/${items[0]!.id}/archive?workspace=arch`, {})
    await sa().post(`/records/cycles/${cycles[0]!.id}/archive?workspace=arch`, {})
    const job = await full()
    expect(job.result.deleted).toBe(cloud ? 0 : 1)
    expect(job.result.updated).toBeGreaterThanOrEqual(cloud ? 2 : 1)
    const item = (await api.get(`/api/sync/integrations/arch/records/work_items/${items[0]!.id}`)).body
    if (cloud) {
      expect(item.archivedAt).not.toBeNull()
      expect(item.deletedAt).toBeNull()
    } else {
      expect(item.deletedAt).not.toBeNull()
      expect(item.payload.archived_at).toBeNull() // its last active payload
    }
    const cycle = (await api.get(`/api/sync/integrations/arch/records/cycles/${cycles[0]!.id}`)).body
    expect(cycle.archivedAt).not.toBeNull()
    expect(cycle.deletedAt).toBeNull()
    // The active set equals the source's active set.
    await expectMirrorEqualsSource(api, "arch", sim, "arch")

    const withArchived = await full({ includeArchived: true })
    expect(withArchived.result.deleted).toBe(0)
    const archivedCycle = (await api.get(`/api/sync/integrations/arch/records/cycles/${cycles[0]!.id}`)).body
    expect(archivedCycle.payload.archived_at).not.toBeNull()
    const archivedItem = (await api.get(`/api/sync/integrations/arch/records/work_items/${items[0]!.id}`)).body
    if (cloud) {
      expect(archivedItem.payload.archived_at).not.toBeNull()
      expect(archivedItem.deletedAt).toBeNull()
    } else {
      // CE has no archived work-items list: the item stays a tombstone.
      expect(archivedItem.deletedAt).not.toBeNull()
    }
  })
})
