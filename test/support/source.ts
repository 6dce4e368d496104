import { expect } from "vitest"
import type { EntityType } from "../../src/domain/entities.js"
import { ENTITY_TYPES } from "../../src/domain/entities.js"
import type { RunningSimulator } from "../../src/simulator/server.js"
import type { Client } from "./http.js"

export type Counts = Record<EntityType, number>

/** What a full walk of the simulator's list endpoints returns, per entity type. */
export const sourceCounts = async (sim: RunningSimulator, workspace: string): Promise<Counts> => {
  const body = (await adminGet(`${sim.url}/__admin/counts?workspace=${workspace}`)) as Record<string, unknown>
  return Object.fromEntries(ENTITY_TYPES.map((e) => [e, body[e] as number])) as Counts
}

export const total = (counts: Counts) => ENTITY_TYPES.reduce((n, e) => n + counts[e], 0)

/**
 * A read of the simulator's admin routes. A pooled keep-alive socket that the simulator closed
 * just as it was reused answers ECONNRESET (seen once in CI on a machine at load 29): such a read
 * is safe to repeat, so it is, twice at most.
 */
const adminGet = async (url: string): Promise<unknown> => {
  for (let attempt = 1; ; attempt++) {
    try {
      const res = await fetch(url)
      return await res.json()
    } catch (error) {
      if (attempt >= 3) throw error
    }
  }
}

export const sourceRecords = async (sim: RunningSimulator, workspace: string, entity: EntityType) =>
  (await adminGet(`${sim.url}/__admin/records/${entity}?workspace=${workspace}`)) as Array<Record<string, unknown> & { id: string }>

export const admin = (sim: RunningSimulator) => ({
  post: async (path: string, body: unknown) => {
    const res = await fetch(`${sim.url}/__admin${path}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body)
    })
    return (await res.json()) as any
  },
  patch: async (path: string, body: unknown) => {
    const res = await fetch(`${sim.url}/__admin${path}`, {
      method: "PATCH",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body)
    })
    return (await res.json()) as any
  },
  put: async (path: string, body: unknown) => {
    const res = await fetch(`${sim.url}/__admin${path}`, {
      method: "PUT",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body)
    })
    return (await res.json()) as any
  },
  del: async (path: string) => {
    const res = await fetch(`${sim.url}/__admin${path}`, { method: "DELETE" })
    return res.status
  },
  get: async (path: string) => (await (await fetch(`${sim.url}/__admin${path}`)).json()) as any
})

/** Every active mirrored record of one entity type, through the records API. */
export const mirrorRecords = async (api: Client, integrationId: string, entity: EntityType) => {
  const out: Array<{ id: string; payload: unknown; deletedAt: string | null; archivedAt: string | null }> = []
  let cursor: string | null = null
  do {
    const q: string = cursor ? `&cursor=${cursor}` : ""
    const r = await api.get(`/api/sync/integrations/${integrationId}/records?entity=${entity}&limit=1000${q}`)
    expect(r.status).toBe(200)
    out.push(...r.body.records)
    cursor = r.body.nextCursor
  } while (cursor)
  return out
}

/** The mirror equals the source record for record: same ids, same payloads, no extras. */
export const expectMirrorEqualsSource = async (
  api: Client,
  integrationId: string,
  sim: RunningSimulator,
  workspace: string,
  entities: ReadonlyArray<EntityType> = ENTITY_TYPES
) => {
  for (const entity of entities) {
    const source = await sourceRecords(sim, workspace, entity)
    const mirror = (await mirrorRecords(api, integrationId, entity)).filter((r) => r.archivedAt === null)
    const sourceById = new Map(source.map((r) => [r.id, r]))
    const mirrorIds = new Set(mirror.map((r) => r.id))
    const missing = source.filter((r) => !mirrorIds.has(r.id)).map((r) => r.id)
    const extra = mirror.filter((r) => !sourceById.has(r.id)).map((r) => r.id)
    expect(
      mirror.length,
      `${entity}: mirrored ${mirror.length}, source has ${source.length}; missing ${JSON.stringify(missing)}, extra ${JSON.stringify(extra)}`
    ).toBe(source.length)
    for (const record of mirror) {
      expect(sourceById.get(record.id), `${entity} ${record.id} is not in the source`).toBeDefined()
      expect(record.payload, `${entity} ${record.id} differs from the source`).toEqual(sourceById.get(record.id))
    }
  }
}
