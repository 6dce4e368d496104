/**
 * The admin API under `/__admin/`: no auth, JSON in and out, never rate-limited, never
 * faulted, not counted in the stats. Tests and benchmarks use it to inspect and change
 * the simulated data and the simulator's behaviour.
 *
 *   GET    /__admin                                   info: url, apiKey, workspaces, now, settings
 *   GET    /__admin/workspaces                        [{slug, counts}]
 *   POST   /__admin/workspaces                        {slug, projects?, workItems?, seed?, keyOwnerIsMember?} → generate one more
 *   GET    /__admin/counts?workspace=                 WorkspaceCounts
 *   GET    /__admin/records/:entity?workspace=&includeArchived=&project=   every current record (streamed)
 *   POST   /__admin/records/:entity?workspace=        {project?, ...fields} → created record
 *   GET    /__admin/records/:entity/:id               one record, whatever its state
 *   PATCH  /__admin/records/:entity/:id               {...fields} → updated record
 *   DELETE /__admin/records/:entity/:id               soft delete → record
 *   POST   /__admin/records/:entity/:id/archive       → record (work items: date; others: datetime)
 *   POST   /__admin/records/:entity/:id/unarchive     → record
 *   POST   /__admin/mutate?workspace=                 {entity?, seed?, updates?, creates?, deletes?, archives?}
 *   GET|POST|DELETE /__admin/hooks                    page hooks (list / add / clear)
 *   GET|PUT /__admin/faults                           FaultSettings (+ seed); PUT replaces and restarts the sequence
 *   GET|PUT /__admin/rate-limit                       {requestsPerMinute, reset?}
 *   GET    /__admin/stats, POST /__admin/stats/reset
 *   GET|POST /__admin/clock                           {advanceMs} or {now: iso | ms}
 *   GET|PUT /__admin/api-keys                         {keys: [...]} the accepted API keys (a rotation); GET adds requestsByKey
 *   GET|PUT /__admin/settings                         {maxPerPage?, oversizedPerPage?, workItemsRoute?, archivedWorkItemDetail?}
 */
import type { IncomingMessage, ServerResponse } from "node:http"
import { parseFaultSettings } from "./faults.js"
import type { FaultInjector } from "./faults.js"
import { isEntity } from "./model.js"
import type { Entity, Json, Row } from "./model.js"
import { mutateRandomly } from "./mutations.js"
import type { MutateSpec, PageHooks, PageHookSpec } from "./mutations.js"
import type { SlidingWindowLimiter } from "./rateLimit.js"
import type { ApiSettings } from "./routes.js"
import { recordObject, rowJson } from "./serialize.js"
import type { RequestStats } from "./stats.js"
import type { SimulatorStore } from "./store.js"
import { parseTimestamp } from "./time.js"
import type { SimClock } from "./time.js"
import { SimulatorError } from "./workspace.js"
import type { Workspace } from "./workspace.js"

export interface AdminContext {
  readonly store: SimulatorStore
  readonly hooks: PageHooks
  readonly faults: FaultInjector
  readonly limiter: SlidingWindowLimiter
  readonly stats: RequestStats
  readonly clock: SimClock
  readonly settings: ApiSettings
  readonly url: () => string
}

const MAX_BODY_BYTES = 5 * 1024 * 1024

const ENTITY_ALIASES: Readonly<Record<string, Entity>> = {
  "work-items": "work_items",
  workItems: "work_items",
  issues: "work_items"
}

const entityOf = (name: string): Entity => {
  const e = ENTITY_ALIASES[name] ?? name
  if (!isEntity(e)) throw new SimulatorError(404, `unknown entity "${name}" (projects, states, labels, cycles, modules, work_items)`)
  return e
}

const readBody = (req: IncomingMessage): Promise<Record<string, Json>> =>
  new Promise((resolve, reject) => {
    const chunks: Array<Buffer> = []
    let size = 0
    req.on("data", (chunk: Buffer) => {
      size += chunk.length
      if (size > MAX_BODY_BYTES) {
        reject(new SimulatorError(413, "body too large"))
        req.destroy()
        return
      }
      chunks.push(chunk)
    })
    req.on("error", reject)
    req.on("end", () => {
      const text = Buffer.concat(chunks).toString("utf8").trim()
      if (text === "") return resolve({})
      try {
        const value: unknown = JSON.parse(text)
        if (value === null || typeof value !== "object" || Array.isArray(value)) {
          return reject(new SimulatorError(400, "body must be a JSON object"))
        }
        resolve(value as Record<string, Json>)
      } catch {
        reject(new SimulatorError(400, "body is not valid JSON"))
      }
    })
  })

const sendJson = (res: ServerResponse, status: number, value: unknown): void => {
  const body = JSON.stringify(value)
  res.writeHead(status, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(body) })
  res.end(body)
}

/** Streams a JSON array of rows without building one huge string. */
const streamRows = async (res: ServerResponse, ws: Workspace, rows: ReadonlyArray<Row>): Promise<void> => {
  res.writeHead(200, { "Content-Type": "application/json" })
  res.write("[")
  const batch = 500
  for (let i = 0; i < rows.length; i += batch) {
    const part = rows
      .slice(i, i + batch)
      .map((r) => rowJson(ws, r))
      .join(",")
    const ok = res.write(i === 0 ? part : `,${part}`)
    if (!ok) {
      await new Promise<void>((resolve) => {
        const done = () => {
          res.off("drain", done)
          res.off("close", done)
          resolve()
        }
        res.on("drain", done)
        res.on("close", done)
      })
      if (res.destroyed) return
    }
  }
  res.end("]")
}

const numberField = (body: Record<string, Json>, name: string): number | undefined => {
  const v = body[name]
  if (v === undefined) return undefined
  if (typeof v !== "number" || !Number.isFinite(v)) throw new SimulatorError(400, `"${name}" must be a number`)
  return v
}

const workspaceSummary = (store: SimulatorStore, ws: Workspace) => ({ slug: ws.slug, id: ws.id, counts: store.counts(ws) })

/** Handles one `/__admin` request. */
export const handleAdmin = async (req: IncomingMessage, res: ServerResponse, url: URL, ctx: AdminContext): Promise<void> => {
  try {
    await route(req, res, url, ctx)
  } catch (error) {
    if (res.headersSent) {
      res.destroy()
      return
    }
    if (error instanceof SimulatorError) sendJson(res, error.status, { error: error.message })
    else sendJson(res, 500, { error: error instanceof Error ? error.message : String(error) })
  }
}

const route = async (req: IncomingMessage, res: ServerResponse, url: URL, ctx: AdminContext): Promise<void> => {
  const { store } = ctx
  const method = req.method ?? "GET"
  const parts = url.pathname
    .slice("/__admin".length)
    .split("/")
    .filter((p) => p !== "")
    .map(decodeURIComponent)
  const q = url.searchParams
  const slug = q.get("workspace")
  const [head, a, b, c] = parts
  const is = (m: string, n: number) => method === m && parts.length === n

  if (head === undefined && method === "GET") {
    return sendJson(res, 200, {
      url: ctx.url(),
      apiKey: store.apiKey,
      workspaces: store.slugs,
      now: new Date(ctx.clock.now()).toISOString(),
      settings: ctx.settings,
      rateLimit: { requestsPerMinute: ctx.limiter.requestsPerMinute },
      faults: ctx.faults.settings
    })
  }

  switch (head) {
    case "workspaces": {
      if (is("GET", 1)) return sendJson(res, 200, [...store.workspaces.values()].map((ws) => workspaceSummary(store, ws)))
      if (is("POST", 1)) {
        const body = await readBody(req)
        if (typeof body.slug !== "string") throw new SimulatorError(400, `"slug" is required`)
        const projects = numberField(body, "projects")
        const workItems = numberField(body, "workItems")
        const seed = numberField(body, "seed")
        const ws = store.addWorkspace({
          slug: body.slug,
          ...(projects === undefined ? {} : { projects }),
          ...(workItems === undefined ? {} : { workItems }),
          ...(seed === undefined ? {} : { seed }),
          ...(body.keyOwnerIsMember === false ? { keyOwnerIsMember: false } : {})
        })
        return sendJson(res, 201, workspaceSummary(store, ws))
      }
      break
    }

    case "counts":
      if (is("GET", 1)) return sendJson(res, 200, store.counts(store.workspace(slug)))
      break

    case "records": {
      if (a === undefined) break
      const entity = entityOf(a)
      if (is("GET", 2)) {
        const ws = store.workspace(slug)
        const includeArchived = q.get("includeArchived") === "true" || q.get("includeArchived") === "1"
        const project = q.get("project") ?? undefined
        return streamRows(res, ws, store.records(ws, entity, includeArchived, project))
      }
      if (is("POST", 2)) {
        const ws = store.workspace(slug)
        const body = await readBody(req)
        const row = ws.create(entity, body, ws.nextMutationRng(undefined))
        return sendJson(res, 201, recordObject(ws, row))
      }
      if (b === undefined) break
      const ws = store.workspaceOf(entity, b, slug)
      if (is("GET", 3)) {
        const row = ws.collection(entity).byId.get(b)
        if (row === undefined) throw new SimulatorError(404, `no ${entity} record ${b}`)
        return sendJson(res, 200, recordObject(ws, row))
      }
      if (is("PATCH", 3)) return sendJson(res, 200, recordObject(ws, ws.update(entity, b, await readBody(req))))
      if (is("DELETE", 3)) return sendJson(res, 200, recordObject(ws, ws.remove(entity, b)))
      if (is("POST", 4) && (c === "archive" || c === "unarchive")) {
        return sendJson(res, 200, recordObject(ws, ws.setArchived(entity, b, c === "archive")))
      }
      break
    }

    case "mutate":
      if (is("POST", 1)) {
        const ws = store.workspace(slug)
        const body = await readBody(req)
        const spec: { -readonly [K in keyof MutateSpec]: MutateSpec[K] } = {}
        if (body.entity !== undefined) spec.entity = entityOf(String(body.entity))
        for (const k of ["seed", "updates", "creates", "deletes", "archives"] as const) {
          const v = numberField(body, k)
          if (v !== undefined) spec[k] = v
        }
        return sendJson(res, 200, mutateRandomly(ws, spec))
      }
      break

    case "hooks":
      if (is("GET", 1)) return sendJson(res, 200, ctx.hooks.list())
      if (is("DELETE", 1)) {
        const cleared = ctx.hooks.list().length
        ctx.hooks.clear()
        return sendJson(res, 200, { cleared })
      }
      if (is("POST", 1)) {
        const body = await readBody(req)
        const ws = store.workspace(typeof body.workspace === "string" ? body.workspace : slug)
        const afterPage = numberField(body, "afterPage")
        const count = numberField(body, "count")
        if (afterPage === undefined) throw new SimulatorError(400, `"afterPage" is required`)
        const spec: PageHookSpec = {
          entity: entityOf(String(body.entity ?? "work_items")),
          afterPage,
          action: String(body.action) as PageHookSpec["action"],
          ...(typeof body.project === "string" ? { project: body.project } : {}),
          ...(count === undefined ? {} : { count }),
          ...(body.target === "first" || body.target === "last" ? { target: body.target } : {})
        }
        if (body.target !== undefined && spec.target === undefined) throw new SimulatorError(400, `"target" must be first or last`)
        return sendJson(res, 201, ctx.hooks.add(ws.slug, spec))
      }
      break

    case "faults":
      if (is("GET", 1)) return sendJson(res, 200, { ...ctx.faults.settings, seed: ctx.faults.seed })
      if (is("PUT", 1)) {
        const body = await readBody(req)
        let settings
        try {
          settings = parseFaultSettings(body)
        } catch (e) {
          throw new SimulatorError(400, e instanceof Error ? e.message : String(e))
        }
        const seed = numberField(body, "seed")
        ctx.faults.replace(settings, seed)
        return sendJson(res, 200, { ...ctx.faults.settings, seed: ctx.faults.seed })
      }
      break

    case "rate-limit":
      if (is("GET", 1)) return sendJson(res, 200, { requestsPerMinute: ctx.limiter.requestsPerMinute })
      if (is("PUT", 1)) {
        const body = await readBody(req)
        const n = numberField(body, "requestsPerMinute")
        if (n === undefined || n < 0) throw new SimulatorError(400, `"requestsPerMinute" must be a number >= 0`)
        ctx.limiter.setLimit(n)
        if (body.reset === true) ctx.limiter.reset()
        return sendJson(res, 200, { requestsPerMinute: ctx.limiter.requestsPerMinute })
      }
      break

    case "stats":
      if (is("GET", 1)) return sendJson(res, 200, ctx.stats.snapshot())
      if (is("POST", 2) && a === "reset") {
        ctx.stats.reset()
        return sendJson(res, 200, ctx.stats.snapshot())
      }
      break

    case "clock": {
      const show = () => sendJson(res, 200, { now: new Date(ctx.clock.now()).toISOString(), nowMs: ctx.clock.now() })
      if (is("GET", 1)) return show()
      if (is("POST", 1)) {
        const body = await readBody(req)
        const advance = numberField(body, "advanceMs")
        if (advance !== undefined) ctx.clock.advance(advance)
        else if (typeof body.now === "number") ctx.clock.set(body.now)
        else if (typeof body.now === "string") {
          const micros = parseTimestamp(body.now)
          if (micros === undefined) throw new SimulatorError(400, `"now" is not a datetime`)
          ctx.clock.set(Math.floor(micros / 1000))
        } else throw new SimulatorError(400, `send {"advanceMs": n} or {"now": iso}`)
        return show()
      }
      break
    }

    case "api-keys": {
      const show = () =>
        sendJson(res, 200, { keys: [...store.acceptedKeys], requestsByKey: Object.fromEntries(store.requestsByKey) })
      if (is("GET", 1)) return show()
      if (is("PUT", 1)) {
        const body = await readBody(req)
        const keys = body.keys
        if (!Array.isArray(keys) || keys.length === 0 || !keys.every((k) => typeof k === "string" && k !== "")) {
          throw new SimulatorError(400, `send {"keys": ["<key>", ...]}: at least one non-empty key`)
        }
        store.acceptedKeys = new Set(keys as Array<string>)
        return show()
      }
      break
    }

    case "settings":
      if (is("GET", 1)) return sendJson(res, 200, ctx.settings)
      if (is("PUT", 1)) {
        const body = await readBody(req)
        const max = numberField(body, "maxPerPage")
        if (max !== undefined) {
          if (!Number.isInteger(max) || max < 1) throw new SimulatorError(400, `"maxPerPage" must be an integer >= 1`)
          ctx.settings.maxPerPage = max
        }
        if (body.oversizedPerPage !== undefined) {
          if (body.oversizedPerPage !== "reject" && body.oversizedPerPage !== "clamp") {
            throw new SimulatorError(400, `"oversizedPerPage" must be reject or clamp`)
          }
          ctx.settings.oversizedPerPage = body.oversizedPerPage
        }
        if (body.workItemsRoute !== undefined) {
          if (body.workItemsRoute !== "both" && body.workItemsRoute !== "issues-only") {
            throw new SimulatorError(400, `"workItemsRoute" must be both or issues-only`)
          }
          ctx.settings.workItemsRoute = body.workItemsRoute
        }
        if (body.archivedWorkItemDetail !== undefined) {
          if (body.archivedWorkItemDetail !== "ok" && body.archivedWorkItemDetail !== "not-found") {
            throw new SimulatorError(400, `"archivedWorkItemDetail" must be ok or not-found`)
          }
          ctx.settings.archivedWorkItemDetail = body.archivedWorkItemDetail
        }
        return sendJson(res, 200, ctx.settings)
      }
      break
  }
  throw new SimulatorError(404, `no admin route ${method} ${url.pathname}`)
}
