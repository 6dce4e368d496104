import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { ENTITY_TYPES, type EntityType } from "../src/domain/entities.js"
import { type RunningSimulator, startSimulator } from "../src/simulator/server.js"
import { overlappingStarts } from "./support/activeIntervals.js"
import { type AppHandle, planeIntegration, startApp, tempDir } from "./support/app.js"
import { type Client, client, waitFor, waitForStatus } from "./support/http.js"
import { admin, expectMirrorEqualsSource, sourceRecords } from "./support/source.js"

/**
 * Random sequences of source mutations, syncs of every type, pauses, stops, resumes and
 * restarts. After every job: its counters equal the changes the mirror shows between before
 * and after it. After every sequence (closed by a full sync): mirror == source.
 */

type Interrupt = "none" | "pause" | "stopGraceful" | "stopImmediate" | "restart"

export type Action =
  | { readonly kind: "mutate"; readonly entity: EntityType; readonly updates: number; readonly creates: number; readonly deletes: number; readonly archives: number; readonly seed: number }
  | {
    readonly kind: "sync"
    readonly type: "full" | "incremental" | "selective"
    readonly entities: ReadonlyArray<EntityType>
    readonly projectFilter: "none" | "only-first" | "exclude-first"
    readonly interrupt: Interrupt
    readonly afterBatches: number
    readonly mutateWhileInterrupted: boolean
    readonly batchSize: number
  }

const mutateArb = fc.record({
  kind: fc.constant("mutate" as const),
  entity: fc.constantFrom<EntityType>("work_items", "work_items", "labels", "cycles", "states"),
  updates: fc.integer({ min: 0, max: 4 }),
  creates: fc.integer({ min: 0, max: 3 }),
  deletes: fc.integer({ min: 0, max: 2 }),
  archives: fc.integer({ min: 0, max: 1 }),
  seed: fc.integer({ min: 1, max: 1_000_000 })
})

const syncArb = fc.record({
  kind: fc.constant("sync" as const),
  type: fc.constantFrom("full" as const, "incremental" as const, "selective" as const),
  entities: fc.subarray([...ENTITY_TYPES], { minLength: 1 }),
  projectFilter: fc.constantFrom("none" as const, "only-first" as const, "exclude-first" as const),
  interrupt: fc.constantFrom<Interrupt>("none", "pause", "stopGraceful", "stopImmediate", "restart"),
  afterBatches: fc.integer({ min: 1, max: 6 }),
  mutateWhileInterrupted: fc.boolean(),
  batchSize: fc.constantFrom(3, 5, 8)
})

interface MirrorState {
  readonly payload: string
  readonly deleted: boolean
  readonly archived: boolean
}

const snapshot = async (api: Client, integrationId: string) => {
  const out = new Map<string, MirrorState>()
  for (const entity of ENTITY_TYPES) {
    let cursor: string | null = null
    do {
      const q: string = cursor ? `&cursor=${cursor}` : ""
      const r = await api.get(`/api/sync/integrations/${integrationId}/records?entity=${entity}&includeDeleted=true&limit=1000${q}`)
      for (const rec of r.body.records) {
        out.set(`${entity}:${rec.id}`, {
          payload: JSON.stringify(rec.payload),
          deleted: rec.deletedAt !== null,
          archived: rec.archivedAt !== null
        })
      }
      cursor = r.body.nextCursor
    } while (cursor)
  }
  return out
}

/** What the mirror shows a job did: records that appeared, changed and were tombstoned. */
const changes = (before: Map<string, MirrorState>, after: Map<string, MirrorState>) => {
  let created = 0
  let updated = 0
  let deleted = 0
  for (const [key, now] of after) {
    const was = before.get(key)
    if (!now.deleted && (was === undefined || was.deleted)) created++
    else if (was && !was.deleted && now.deleted) deleted++
    else if (was && !was.deleted && !now.deleted && (was.payload !== now.payload || was.archived !== now.archived)) updated++
  }
  return { created, updated, deleted }
}

const interrupted: Record<string, number> = {}

describe("property: counters are what the mirror shows, and the mirror ends equal to the source", () => {
  it("holds for random sequences of mutations, syncs, pauses, stops, resumes and restarts", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.oneof(mutateArb, syncArb, syncArb), { minLength: 2, maxLength: 6 }), async (actions) => {
        const sim: RunningSimulator = await startSimulator({ workspaces: [{ slug: "prop", projects: 2, workItems: 36, seed: 7 }] })
        const tmp = tempDir()
        const integration = planeIntegration("prop", sim, "prop")
        const boot = () => startApp({ dbPath: tmp.dbPath, apiKey: sim.apiKey, integrations: [integration] })
        let app: AppHandle = await boot()
        let api = client(app.url)
        const sa = admin(sim)
        const projects = (await sourceRecords(sim, "prop", "projects")).map((p) => p.id)
        let mutations = 1_000_000
        try {
          for (const action of actions) {
            if (action.kind === "mutate") {
              const { kind: _, entity, ...spec } = action
              await sa.post(`/mutate?workspace=prop`, { entity, ...spec })
              continue
            }
            const options: Record<string, unknown> = { force: true, batchSize: action.batchSize }
            let type: string = `${action.type}_sync`
            if (action.type === "selective") {
              options.entities = action.entities
              if (action.projectFilter === "only-first") options.projects = [projects[0]]
              if (action.projectFilter === "exclude-first") options.excludeProjects = [projects[0]]
            }
            const before = await snapshot(api, "prop")
            let created = await api.post("/api/sync/jobs", { integrationId: "prop", type, options })
            if (created.status === 409 && created.body.error === "BaselineRequired") {
              type = "full_sync"
              created = await api.post("/api/sync/jobs", { integrationId: "prop", type, options })
            }
            expect(created.status, JSON.stringify(created.body)).toBe(200)
            const jobId = created.body.jobId as string

            if (action.interrupt !== "none") {
              sim.setFaults({ latencyMs: 15 })
              await waitFor("batches", async () => {
                const j = (await api.get(`/api/sync/jobs/${jobId}`)).body
                return j.status === "completed" || j.stats.processed >= action.afterBatches * action.batchSize
              })
              if (action.interrupt === "restart") {
                await app.close() // graceful shutdown: the job pauses at a batch boundary
                if (action.mutateWhileInterrupted) await sa.post(`/mutate?workspace=prop`, { entity: "work_items", updates: 2, creates: 1, deletes: 1, seed: ++mutations })
                app = await boot() // and is resumed at start
                api = client(app.url)
              } else {
                const path = action.interrupt === "pause" ? "pause" : "stop"
                const r = await api.post(`/api/sync/jobs/${jobId}/${path}`, path === "stop" ? { graceful: action.interrupt === "stopGraceful" } : undefined)
                if (r.status === 200) {
                  const landed = await waitForStatus(api, jobId, ["paused", "stopped", "completed"])
                  interrupted[landed.status] = (interrupted[landed.status] ?? 0) + 1
                  if (action.mutateWhileInterrupted) await sa.post(`/mutate?workspace=prop`, { entity: "work_items", updates: 2, creates: 1, deletes: 1, seed: ++mutations })
                  const resumed = await api.post(`/api/sync/jobs/${jobId}/resume`)
                  expect([200, 409]).toContain(resumed.status) // 409: it completed before the command
                } else expect(r.status).toBe(409)
              }
              sim.setFaults({})
            }
            const job = await waitForStatus(api, jobId, ["completed", "failed"], 60_000)
            expect(job.status, job.error).toBe("completed")
            const after = await snapshot(api, "prop")
            const shown = changes(before, after)
            expect({ created: job.result.created, updated: job.result.updated, deleted: job.result.deleted }, JSON.stringify(action)).toEqual(shown)
            expect(job.result.errors).toBe(0)
          }
          const last = await api.post("/api/sync/jobs", { integrationId: "prop", type: "full_sync", options: { force: true } })
          expect((await waitForStatus(api, last.body.jobId, ["completed", "failed"])).status).toBe("completed")
          // Through every stop, pause, resume and restart above: never two active jobs at once.
          expect(overlappingStarts(tmp.dbPath)).toEqual([])
          try {
            await expectMirrorEqualsSource(api, "prop", sim, "prop")
          } catch (e) {
            if (process.env.SYNCLOG_PROPERTY_STATS) {
              const ids = /missing (\[[^\]]*\])/.exec((e as Error).message)
              for (const id of ids ? JSON.parse(ids[1]!) as Array<string> : []) {
                console.log("MISSING", id, JSON.stringify((await api.get(`/api/sync/integrations/prop/records/work_items/${id}`)).body).slice(0, 300))
                console.log("SOURCE", JSON.stringify(await sa.get(`/records/work_items/${id}`)).slice(0, 400))
              }
              const src = await sourceRecords(sim, "prop", "work_items")
              const seenIds = new Map<string, number>()
              for (const r of src) seenIds.set(r.id, (seenIds.get(r.id) ?? 0) + 1)
              for (const [id, n] of seenIds) if (n > 1) console.log("DUP", id, n, JSON.stringify(src.filter((r) => r.id === id).map((r) => [r.name, r.updated_at, r.deleted_at])))
              const jobs = (await api.get(`/api/sync/jobs?limit=50`)).body.jobs
              for (const j of jobs) console.log("JOB", j.id, j.type, j.status, JSON.stringify(j.result), JSON.stringify(j.options))
            }
            throw e
          }
        } finally {
          await app.close()
          await sim.close()
          tmp.remove()
        }
      }),
      { numRuns: Number(process.env.SYNCLOG_PROPERTY_RUNS ?? 10), endOnFailure: true, ...(process.env.SYNCLOG_PROPERTY_SEED ? { seed: Number(process.env.SYNCLOG_PROPERTY_SEED) } : {}),
        ...(process.env.SYNCLOG_PROPERTY_PATH ? { path: process.env.SYNCLOG_PROPERTY_PATH } : {}) }
    )
    if (process.env.SYNCLOG_PROPERTY_STATS) console.log("interrupts landed", interrupted)
  }, 240_000)
})
