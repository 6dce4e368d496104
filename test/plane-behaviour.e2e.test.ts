import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type RunningSimulator, type SimulatorOptions, startSimulator } from "../src/simulator/server.js"
import { type AppHandle, planeIntegration, startApp, tempDir } from "./support/app.js"
import { type Client, client, waitFor, waitForStatus } from "./support/http.js"
import { admin, expectMirrorEqualsSource, mirrorRecords, sourceCounts, sourceRecords, total } from "./support/source.js"

/**
 * Plane as its real server behaves (plane-api.md, issue 10): the simulator reproduces each
 * behaviour, and a sync through the real server, SQLite and the simulator copes with it.
 */

const OTHER_KEY_ENV = "SYNCLOG_TEST_OTHER_KEY"

/** One simulator and one app for a describe block, with the helpers every test uses. */
const harness = (
  options: SimulatorOptions,
  integrations: (sim: RunningSimulator) => Parameters<typeof startApp>[0]["integrations"]
) => {
  const h = {} as { sim: RunningSimulator; app: AppHandle; api: Client }
  const tmp = tempDir()
  const boot = () =>
    startApp({
      dbPath: tmp.dbPath,
      apiKey: h.sim.apiKey,
      integrations: integrations(h.sim),
      secrets: { [OTHER_KEY_ENV]: "plane_api_00000000000000000000000000000000" }
    })
  beforeAll(async () => {
    h.sim = await startSimulator(options)
    h.app = await boot()
    h.api = client(h.app.url)
  })
  afterAll(async () => {
    await h.app?.close()
    await h.sim?.close()
    tmp.remove()
  })
  const settle = (jobId: string) => waitForStatus(h.api, jobId, ["completed", "failed", "stopped"])
  const start = async (integrationId: string, type: string, options: Record<string, unknown>) => {
    const r = await h.api.post("/api/sync/jobs", { integrationId, type, options: { force: true, ...options } })
    expect(r.status, JSON.stringify(r.body)).toBe(200)
    return r.body.jobId as string
  }
  const run = async (integrationId: string, type: string, options: Record<string, unknown> = {}) => {
    const job = await settle(await start(integrationId, type, options))
    expect(job.status, job.error).toBe("completed")
    return job
  }
  const restart = async () => {
    await h.app.close()
    h.app = await boot()
    h.api = client(h.app.url)
  }
  const logs = async (jobId: string) =>
    ((await h.api.get(`/api/sync/jobs/${jobId}/logs?limit=1000`)).body.logs as Array<{ message: string }>).map((l) => l.message)
  return { h, start, settle, run, restart, logs, sa: () => admin(h.sim) }
}

describe("projects spanning several pages", () => {
  const t = harness({ workspaces: [{ slug: "many", projects: 12, workItems: 60, seed: 11 }] }, (sim) => [
    planeIntegration("many", sim, "many")
  ])

  it("walks every project once although Plane's default project order has only ties", async () => {
    // Every project has the same sort_order, and the simulator, like PostgreSQL, returns
    // ties in a different order per page: without an explicit order_by, pages of 5 would
    // repeat some projects and never list others.
    const job = await t.run("many", "full_sync", { batchSize: 5 })
    const counts = await sourceCounts(t.h.sim, "many")
    expect(counts.projects).toBe(12)
    expect(job.result).toEqual({ processed: total(counts), created: total(counts), updated: 0, deleted: 0, errors: 0 })
    await expectMirrorEqualsSource(t.h.api, "many", t.h.sim, "many")
    const again = await t.run("many", "full_sync", { batchSize: 5 })
    expect(again.result).toEqual({ processed: total(counts), created: 0, updated: 0, deleted: 0, errors: 0 })
  })
})

describe("access to the workspace", () => {
  const t = harness({
    workspaces: [
      { slug: "acme", projects: 1, workItems: 5 },
      { slug: "foreign", projects: 1, workItems: 5, keyOwnerIsMember: false }
    ]
  }, (sim) => [
    planeIntegration("wrong-slug", sim, "acme-typo"),
    planeIntegration("not-member", sim, "foreign"),
    planeIntegration("wrong-key", sim, "acme", { apiKeyEnv: OTHER_KEY_ENV })
  ])

  const failed = async (integrationId: string) => {
    const job = await t.settle(await t.start(integrationId, "full_sync", {}))
    expect(job.status).toBe("failed")
    const events = (await t.h.api.get(`/api/sync/jobs/${job.id}/events`)).body.events as Array<{ type: string; data: any }>
    return { job, failure: events.find((e) => e.type === "JobFailed")!.data }
  }

  it("explains a 403 on the workspace (unknown slug, or the key's owner not a member) and does not retry it", async () => {
    const { job, failure } = await failed("wrong-slug")
    expect(job.error).toBe(
      "Plane refused access to workspace 'acme-typo': check workspaceSlug and that the key's owner is a member"
    )
    expect(failure.retryable).toBe(false)
    const foreign = await failed("not-member")
    expect(foreign.job.error).toBe(
      "Plane refused access to workspace 'foreign': check workspaceSlug and that the key's owner is a member"
    )
    expect(foreign.failure.retryable).toBe(false)
  })

  it("tells it apart from a refused API key", async () => {
    const { job, failure } = await failed("wrong-key")
    expect(job.error).toContain("Plane refused the API key (403: Given API token is not valid)")
    expect(job.error).toContain(OTHER_KEY_ENV)
    expect(failure.retryable).toBe(false)
  })
})

describe("projects the key's owner has not joined, and archived projects", () => {
  const t = harness(
    {
      workspaces: [
        { slug: "member", projects: 2, workItems: 30, seed: 21 },
        { slug: "arch", projects: 2, workItems: 30, seed: 22 }
      ]
    },
    (sim) => [planeIntegration("member", sim, "member"), planeIntegration("arch", sim, "arch")]
  )

  const mirrored = async (integrationId: string, entity: "labels" | "states" | "cycles" | "modules" | "work_items", project: string) =>
    (await t.h.api.get(`/api/sync/integrations/${integrationId}/records?entity=${entity}&includeDeleted=true&limit=1000`)).body.records
      .filter((r: any) => r.projectId === project)

  it("neither fails nor tombstones anything of a project whose labels Plane answers empty", async () => {
    await t.run("member", "full_sync")
    const [left, stays] = (await sourceRecords(t.h.sim, "member", "projects")).map((p) => p.id)
    const before = {
      labels: await mirrored("member", "labels", left!),
      states: await mirrored("member", "states", left!),
      work_items: await mirrored("member", "work_items", left!)
    }
    expect(before.labels.length).toBeGreaterThan(0)
    // The key's owner leaves one project (Plane still lists it, with is_member false: its
    // labels answer an empty list and 404s, the rest 403). A label of the other project is
    // really deleted.
    await t.sa().patch(`/records/projects/${left}?workspace=member`, { is_member: false })
    const doomed = (await sourceRecords(t.h.sim, "member", "labels")).find((l) => l.project === stays)!
    await t.sa().del(`/records/labels/${doomed.id}?workspace=member`)

    // A labels-only sync does not refresh the mirrored project: its labels are looked up.
    const labelsOnly = await t.run("member", "selective", { entities: ["labels"] })
    expect(labelsOnly.result).toMatchObject({ deleted: 1, errors: 0 })
    await t.sa().post("/stats/reset", {})
    const full = await t.run("member", "full_sync")
    expect(full.result).toMatchObject({ deleted: 0, errors: 0 })
    // The mirrored project says the owner is not a member: its records are kept without lookups.
    const { byRoute, byStatus } = (await t.sa().get("/stats")) as { byRoute: Record<string, number>; byStatus: Record<string, number> }
    expect(Object.keys(byRoute).filter((route) => route.endsWith(".detail"))).toEqual([])
    expect(byStatus["403"]).toBeUndefined()
    expect((await t.logs(full.id)).some((m) => m.includes(`Project ${left} is public but the API key's owner is not a member`))).toBe(true)
    for (const entity of ["labels", "states", "work_items"] as const) {
      const now = await mirrored("member", entity, left!)
      expect(now.map((r: any) => r.id).sort(), entity).toEqual(before[entity].map((r: any) => r.id).sort())
      expect(now.every((r: any) => r.deletedAt === null), entity).toBe(true)
    }
    const gone = (await t.h.api.get(`/api/sync/integrations/member/records/labels/${doomed.id}`)).body
    expect(gone.deletedAt).not.toBeNull()

    // Back in the project: everything is walked again and nothing has changed.
    await t.sa().patch(`/records/projects/${left}?workspace=member`, { is_member: true })
    const back = await t.run("member", "full_sync")
    expect(back.result).toMatchObject({ created: 0, updated: 1, deleted: 0, errors: 0 })
    await expectMirrorEqualsSource(t.h.api, "member", t.h.sim, "member")
  })

  it("keeps the records of an archived project, whose cycles and modules Plane still lists", async () => {
    await t.run("arch", "full_sync")
    const [archived] = (await sourceRecords(t.h.sim, "arch", "projects")).map((p) => p.id)
    const cycles = await mirrored("arch", "cycles", archived!)
    const modules = await mirrored("arch", "modules", archived!)
    expect(cycles.length + modules.length).toBeGreaterThan(0)
    await t.sa().post(`/records/projects/${archived}/archive?workspace=arch`, {})
    for (const options of [{}, { includeArchived: true }]) {
      const job = await t.run("arch", "full_sync", options)
      expect(job.result, JSON.stringify(options)).toMatchObject({ deleted: 0, errors: 0 })
      for (const entity of ["cycles", "modules", "labels", "work_items"] as const) {
        expect((await mirrored("arch", entity, archived!)).every((r: any) => r.deletedAt === null), entity).toBe(true)
      }
    }
    const project = (await t.h.api.get(`/api/sync/integrations/arch/records/projects/${archived}`)).body
    expect(project.archivedAt).not.toBeNull()
    expect((await mirrored("arch", "cycles", archived!)).map((r: any) => r.id).sort()).toEqual(cycles.map((r: any) => r.id).sort())
  })
})

/** A source that serves at most 20 rows per page, with batches of 50: exact counts either way. */
describe.each([
  ["refuses a larger per_page with a 400", "reject"],
  ["serves fewer rows than asked and says there are more", "clamp"]
] as const)("a source that %s", (_, oversizedPerPage) => {
  const t = harness(
    { maxPerPage: 20, oversizedPerPage, workspaces: [{ slug: "small", projects: 3, workItems: 300, seed: 31 }] },
    (sim) => [planeIntegration("small", sim, "small")]
  )

  it("is read in the page size it accepts, with exact counters and checkpoints across a restart", async () => {
    const counts = await sourceCounts(t.h.sim, "small")
    const first = await t.run("small", "full_sync", { batchSize: 50 })
    expect(first.result).toEqual({ processed: total(counts), created: total(counts), updated: 0, deleted: 0, errors: 0 })
    expect((await t.logs(first.id)).filter((m) => m.includes("reading pages of 20 records from now on"))).toHaveLength(1)
    await expectMirrorEqualsSource(t.h.api, "small", t.h.sim, "small")

    // A restart mid-walk: the new connector learns the size again at a checkpoint whose offset
    // (a multiple of 50) is not one of 20, and the resumed job neither skips nor repeats.
    await t.sa().post("/mutate?workspace=small", { entity: "work_items", updates: 30, seed: 3 })
    t.h.sim.setFaults({ latencyMs: 30 })
    const jobId = await t.start("small", "full_sync", { batchSize: 50 })
    await waitFor("work items under way", async () => {
      const job = (await t.h.api.get(`/api/sync/jobs/${jobId}`)).body
      return job.stage === "syncing_work_items" && job.stats.processed > total(counts) - counts.work_items + 50
    })
    await t.restart()
    t.h.sim.setFaults({})
    const resumed = await t.settle(jobId)
    expect(resumed.status, resumed.error).toBe("completed")
    // (Updated work items also change the issue counts of their cycles and modules.)
    expect(resumed.result).toMatchObject({ processed: total(counts), created: 0, deleted: 0, errors: 0 })
    const events = (await t.h.api.get(`/api/sync/jobs/${jobId}/events`)).body.events as Array<{ type: string; data: any }>
    expect(events.some((e) => e.type === "JobResumed")).toBe(true)
    const items = { processed: 0, updated: 0 }
    for (const e of events) {
      if (e.type !== "BatchCommitted" || e.data.entity !== "work_items") continue
      expect(e.data.deltas.processed).toBeLessThanOrEqual(50)
      items.processed += e.data.deltas.processed
      items.updated += e.data.deltas.updated
    }
    expect(items).toEqual({ processed: counts.work_items, updated: 30 })
    await expectMirrorEqualsSource(t.h.api, "small", t.h.sim, "small")
    expect((await mirrorRecords(t.h.api, "small", "work_items")).length).toBe(counts.work_items)
  })
})
