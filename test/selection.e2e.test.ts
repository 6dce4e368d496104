import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { ENTITY_TYPES, type EntityType } from "../src/domain/entities.js"
import { type RunningSimulator, startSimulator } from "../src/simulator/server.js"
import { type AppHandle, planeIntegration, startApp, tempDir } from "./support/app.js"
import { runCliAsync } from "./support/cli.js"
import { type Client, client, waitFor, waitForStatus } from "./support/http.js"
import { expectMirrorEqualsSource, mirrorRecords, sourceRecords } from "./support/source.js"

/**
 * An integration's default selection (`selection`), through the real server, a SQLite file and
 * the simulator over HTTP: its scheduled jobs walk only that selection, a job's own selection
 * fields replace it, PATCH changes it, and incremental cursors never claim what was skipped.
 */
describe("an integration's default selection", () => {
  let sim: RunningSimulator
  let app: AppHandle
  let api: Client
  const tmp = tempDir()

  beforeAll(async () => {
    sim = await startSimulator({ workspaces: [{ slug: "acme", projects: 2, workItems: 60, seed: 71 }] })
    app = await startApp({
      dbPath: tmp.dbPath,
      apiKey: sim.apiKey,
      integrations: [
        planeIntegration("file-sel", sim, "acme", { selection: { excludeEntities: ["work_items", "labels"] } })
      ]
    })
    api = client(app.url)
  })

  afterAll(async () => {
    await app.close()
    await sim.close()
    tmp.remove()
  })

  const mirrored = async (id: string) =>
    Object.fromEntries(
      await Promise.all(ENTITY_TYPES.map(async (e) => [e, (await mirrorRecords(api, id, e)).length] as const))
    ) as Record<EntityType, number>

  const runJob = async (body: Record<string, unknown>) => {
    const r = await api.post("/api/sync/jobs", body)
    expect(r.status, JSON.stringify(r.body)).toBe(200)
    const job = await waitForStatus(api, r.body.jobId, ["completed", "failed"])
    expect(job.status, JSON.stringify(job)).toBe("completed")
    return job
  }

  it("scheduled jobs walk only the selection; a job's own fields replace it; PATCH changes it", async () => {
    const created = await api.post("/api/sync/integrations", {
      id: "sel",
      name: "Selection",
      type: "plane",
      baseUrl: sim.url,
      workspaceSlug: "acme",
      apiKeyEnv: "SYNCLOG_TEST_PLANE_KEY",
      syncInterval: 3600,
      requestsPerMinute: 0,
      initialSync: "immediate",
      selection: { entities: ["projects", "states"] }
    })
    expect(created.status, JSON.stringify(created.body)).toBe(201)
    expect(created.body.integration.selection).toEqual({ entities: ["projects", "states"] })

    // The initial sync, queued by the scheduler: a full sync of projects and states only.
    const first = await waitFor("the initial sync", async () => {
      const list = (await api.get("/api/sync/jobs?integrationId=sel")).body.jobs
      return list.length === 1 && ["completed", "failed"].includes(list[0].status) ? list[0] : undefined
    })
    expect(first).toMatchObject({ type: "full_sync", trigger: "schedule", status: "completed" })
    expect(first.options.entities).toEqual(["projects", "states"])
    const detail = (await api.get(`/api/sync/jobs/${first.id}`)).body
    expect(detail.logs.map((l: any) => l.message)).toContain("Selection from the integration's settings: entities projects, states")
    await expectMirrorEqualsSource(api, "sel", sim, "acme", ["projects", "states"])
    expect(await mirrored("sel")).toMatchObject({ labels: 0, cycles: 0, modules: 0, work_items: 0 })

    // A job's own selection fields replace the default as a whole.
    const labels = await runJob({ integrationId: "sel", type: "selective_sync", options: { entities: ["labels"] } })
    expect(labels.options.entities).toEqual(["labels"])
    await expectMirrorEqualsSource(api, "sel", sim, "acme", ["labels"])

    // A manual incremental without selection fields gets the default: still no work items.
    const incremental = await runJob({ integrationId: "sel", type: "incremental_sync" })
    expect(incremental.options.entities).toEqual(["projects", "states"])
    expect((await mirrored("sel")).work_items).toBe(0)

    // PATCH: work items of the first project only.
    const [p1, p2] = (await sourceRecords(sim, "acme", "projects")).map((p) => p.id)
    const patched = await api.patch("/api/sync/integrations/sel", { selection: { entities: ["work_items"], projects: [p1] } })
    expect(patched.status, JSON.stringify(patched.body)).toBe(200)
    expect(patched.body.changed).toEqual(["selection"])
    expect(patched.body.integration.selection).toEqual({ entities: ["work_items"], projects: [p1] })
    const narrow = await runJob({ integrationId: "sel", type: "incremental_sync" })
    expect(narrow.options).toMatchObject({ entities: ["work_items"], projects: [p1] })
    // The earlier runs skipped work items, so no cursor says they were synced: this incremental
    // walks the project's work items whole.
    const items = await mirrorRecords(api, "sel", "work_items")
    const sourceItems = await sourceRecords(sim, "acme", "work_items")
    const ofP1 = sourceItems.filter((w) => w.project === p1).map((w) => w.id).sort()
    expect(ofP1.length).toBeGreaterThan(0)
    expect(items.map((w) => w.id).sort()).toEqual(ofP1)

    // Unset: everything again; the second project's work items have no cursor either.
    const unset = await api.patch("/api/sync/integrations/sel", { selection: null })
    expect(unset.body.integration.selection).toBeUndefined()
    const all = await runJob({ integrationId: "sel", type: "incremental_sync" })
    expect(all.options.entities).toEqual([...ENTITY_TYPES])
    expect(sourceItems.some((w) => w.project === p2)).toBe(true)
    await expectMirrorEqualsSource(api, "sel", sim, "acme")
  })

  it("a config-file integration's selection applies to its jobs, and replay rebuilds it", async () => {
    const settings = (await api.get("/api/sync/integrations/file-sel")).body
    expect(settings.selection).toEqual({ excludeEntities: ["work_items", "labels"] })
    const started = await api.post("/api/sync/integrations/file-sel/start", { syncType: "full" })
    expect(started.status, JSON.stringify(started.body)).toBe(200)
    const job = await waitForStatus(api, started.body.jobId, ["completed", "failed"])
    expect(job).toMatchObject({ type: "full_sync", status: "completed", trigger: "integration_start" })
    expect(job.options.entities).toEqual(["projects", "states", "cycles", "modules"])
    await expectMirrorEqualsSource(api, "file-sel", sim, "acme", ["projects", "states", "cycles", "modules"])
    expect(await mirrored("file-sel")).toMatchObject({ labels: 0, work_items: 0 })

    // The settings events carry the selection: a replay of the log rebuilds the same views.
    const verify = await runCliAsync(["replay", "--verify", "--db", tmp.dbPath])
    expect(verify.stdout, verify.stderr).toMatch(/OK: \d+ events replayed/)
  })

  it("refuses a bad selection with a 400 naming the field", async () => {
    const base = {
      id: "bad-sel",
      name: "Bad",
      type: "plane",
      baseUrl: sim.url,
      workspaceSlug: "acme",
      syncInterval: 3600,
      initialSync: "scheduled"
    }
    const unknown = await api.post("/api/sync/integrations", { ...base, selection: { entities: ["projects", "epics"] } })
    expect(unknown.status).toBe(400)
    expect(unknown.body).toMatchObject({ success: false, error: "ValidationError" })
    const issue = unknown.body.issues.find((i: any) => i.path === "selection.entities.1")
    expect(issue?.message).toContain(`unknown entity type 'epics'; valid: ${ENTITY_TYPES.join(", ")}`)
    expect(unknown.body.message).toContain("selection.entities.1")

    const empty = await api.post("/api/sync/integrations", { ...base, selection: { excludeEntities: [...ENTITY_TYPES] } })
    expect(empty.status).toBe(400)
    expect(empty.body.issues).toEqual([{ path: "selection.excludeEntities", message: "the selection leaves no entity type to sync" }])

    const none = await api.post("/api/sync/integrations", { ...base, selection: {} })
    expect(none.status).toBe(400)
    expect(none.body.issues[0].path).toBe("selection")

    const typo = await api.post("/api/sync/integrations", { ...base, selection: { entity: ["states"] } })
    expect(typo.status).toBe(400)
    expect(typo.body.issues.map((i: any) => i.path)).toContain("selection.entity")

    // PATCH checks the same way, and changes nothing on a 400.
    const ok = await api.post("/api/sync/integrations", { ...base, selection: { entities: ["states"] } })
    expect(ok.status).toBe(201)
    const patch = await api.patch("/api/sync/integrations/bad-sel", { selection: { entities: ["work-items"] } })
    expect(patch.status).toBe(400)
    expect(patch.body.issues[0].path).toBe("selection.entities.0")
    expect((await api.get("/api/sync/integrations/bad-sel")).body.selection).toEqual({ entities: ["states"] })
  })
})
