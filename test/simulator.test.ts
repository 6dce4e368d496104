/**
 * The Plane v1 API simulator, exercised over real HTTP on ephemeral ports.
 */
import { Effect, Either, Schema } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { startSimulatorScoped } from "../src/simulator/layer.js"
import { startSimulator } from "../src/simulator/server.js"
import type { RunningSimulator, SimulatorOptions } from "../src/simulator/server.js"
import type { Entity, Json as RecordJson, Row } from "../src/simulator/model.js"
import { STATE_GROUP_ORDER } from "../src/simulator/model.js"
import { mutateRandomly } from "../src/simulator/mutations.js"
import { resolveOrdering, sortRows } from "../src/simulator/ordering.js"
import { Rng } from "../src/simulator/random.js"
import { SimulatorStore } from "../src/simulator/store.js"
import { SimClock } from "../src/simulator/time.js"
import type { Workspace } from "../src/simulator/workspace.js"

// ------------------------------------------------------------------ helpers

type Json = any // response bodies are checked field by field below

const START = Date.UTC(2026, 0, 15, 12, 0, 0)
const DATETIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{6})?Z$/
const DATE = /^\d{4}-\d{2}-\d{2}$/

interface Client {
  readonly sim: RunningSimulator
  get(path: string, init?: { key?: string | null; signal?: AbortSignal }): Promise<Response>
  getJson(path: string): Promise<Json>
  admin(method: string, path: string, body?: unknown): Promise<Json>
}

const client = (sim: RunningSimulator): Client => ({
  sim,
  get: (path, init = {}) => {
    const key = init.key === undefined ? sim.apiKey : init.key
    return fetch(`${sim.url}${path}`, {
      headers: key === null ? {} : { "X-API-Key": key },
      redirect: "manual",
      ...(init.signal ? { signal: init.signal } : {})
    })
  },
  getJson: async (path) => {
    const res = await fetch(`${sim.url}${path}`, { headers: { "X-API-Key": sim.apiKey } })
    expect(res.status, `GET ${path}`).toBe(200)
    return res.json()
  },
  admin: async (method, path, body) => {
    const res = await fetch(`${sim.url}/__admin${path}`, {
      method,
      headers: { "Content-Type": "application/json" },
      ...(body === undefined ? {} : { body: JSON.stringify(body) })
    })
    const json = await res.json()
    if (!res.ok) throw new Error(`${method} /__admin${path} → ${res.status} ${JSON.stringify(json)}`)
    return json
  }
})

const withSim = async <A>(options: SimulatorOptions, f: (c: Client) => Promise<A>): Promise<A> => {
  const sim = await startSimulator(options)
  try {
    return await f(client(sim))
  } finally {
    await sim.close()
  }
}

const v1 = (slug: string, rest = "") => `/api/v1/workspaces/${slug}/${rest}`

/** Walks every page of a list with `per_page`, returning all results. */
const walk = async (c: Client, path: string, perPage: number, extra = ""): Promise<Array<Json>> => {
  const out: Array<Json> = []
  for (let page = 0; ; page++) {
    const body = await c.getJson(`${path}?per_page=${perPage}&cursor=${perPage}:${page}:0${extra}`)
    out.push(...body.results)
    if (!body.next_page_results) return out
  }
}

const projectIds = async (c: Client, slug: string): Promise<Array<string>> =>
  (await c.getJson(`${v1(slug, "projects/")}?per_page=100`)).results.map((p: Json) => p.id)

const micros = (s: string): number => {
  const m = /^(.*?)(?:\.(\d{6}))?Z$/.exec(s)!
  return Date.parse(`${m[1]}Z`) * 1000 + Number(m[2] ?? 0)
}

// ------------------------------------------------------------------ shared simulator (read-only tests)

let shared: Client
let pagProject: string

beforeAll(async () => {
  const sim = await startSimulator({
    now: () => START,
    workspaces: [
      { slug: "acme", projects: 3, workItems: 600, seed: 1 },
      { slug: "pag", projects: 1, workItems: 250, seed: 2 }
    ]
  })
  shared = client(sim)
  pagProject = (await projectIds(shared, "pag"))[0]!
})

afterAll(async () => {
  await shared?.sim.close()
})

describe("auth and routing", () => {
  it("answers 401 without a key and 403 with a wrong one, with Plane's bodies", async () => {
    const none = await shared.get("/api/v1/users/me/", { key: null })
    expect(none.status).toBe(401)
    expect(await none.json()).toEqual({ detail: "Authentication credentials were not provided." })
    const bad = await shared.get("/api/v1/users/me/", { key: "plane_api_00000000000000000000000000000000" })
    expect(bad.status).toBe(403)
    expect(await bad.json()).toEqual({ detail: "Given API token is not valid" })
    expect(bad.headers.get("x-ratelimit-remaining")).toBeNull()

    const me = await shared.getJson("/api/v1/users/me/")
    expect(Object.keys(me)).toEqual(["id", "first_name", "last_name", "email", "avatar", "avatar_url", "display_name"])
    expect(shared.sim.apiKey).toMatch(/^plane_api_[0-9a-f]{32}$/)
  })

  it("accepts the keys PUT /__admin/api-keys names (a rotation) and counts requests per key", async () => {
    await withSim({ workspaces: [{ slug: "keys", projects: 1, workItems: 1, seed: 5 }] }, async (c) => {
      const next = "plane_api_11111111111111111111111111111111"
      expect((await c.get("/api/v1/users/me/", { key: next })).status).toBe(403)
      await c.admin("PUT", "/api-keys", { keys: [c.sim.apiKey, next] })
      expect((await c.get("/api/v1/users/me/", { key: next })).status).toBe(200)
      expect((await c.get("/api/v1/users/me/")).status).toBe(200)
      const revoked = await c.admin("PUT", "/api-keys", { keys: [next] })
      expect(revoked).toEqual({ keys: [next], requestsByKey: { [c.sim.apiKey]: 1, [next]: 1 } })
      expect((await c.get("/api/v1/users/me/")).status).toBe(403)
      expect((await c.get("/api/v1/users/me/", { key: next })).status).toBe(200)
      await expect(c.admin("PUT", "/api-keys", { keys: [] })).rejects.toThrow("400")
    })
  })

  it("redirects a GET without trailing slash with 301 to the slash URL", async () => {
    const res = await shared.get(`${v1("acme", "projects")}?per_page=5`)
    expect(res.status).toBe(301)
    expect(res.headers.get("location")).toBe(`${v1("acme", "projects/")}?per_page=5`)
  })

  it("answers 404 bodies for unknown routes, malformed UUIDs and missing objects", async () => {
    const pageNotFound = { error: "Page not found." }
    const missing = { error: "The requested resource does not exist." }
    const [project] = await projectIds(shared, "acme")
    const cases: Array<[string, unknown, string | null]> = [
      ["/api/v1/nothing/here/", pageNotFound, null], // no route: before auth
      [v1("acme", "projects/not-a-uuid/work-items/"), pageNotFound, null],
      [v1("acme", `projects/${project!.toUpperCase()}/states/`), pageNotFound, null],
      [v1("acme", `projects/${project}/work-items/00000000-0000-4000-8000-000000000000/`), missing, shared.sim.apiKey],
      [v1("acme", `projects/00000000-0000-4000-8000-000000000000/`), missing, shared.sim.apiKey]
    ]
    for (const [path, body, key] of cases) {
      const res = await shared.get(path, { key })
      expect(res.status, path).toBe(404)
      expect(await res.json(), path).toEqual(body)
    }
    // Children of a project the key owner cannot see: Plane's permission check answers 403.
    const forbidden = await shared.get(v1("acme", "projects/00000000-0000-4000-8000-000000000000/work-items/"))
    expect(forbidden.status).toBe(403)
    expect(await forbidden.json()).toEqual({ detail: "You do not have permission to perform this action." })
    // An unknown workspace fails Plane's workspace-membership check like a foreign one: 403.
    for (const path of [v1("nope", "projects/"), v1("nope", `projects/${project}/labels/`), v1("nope", "members/")]) {
      const res = await shared.get(path)
      expect(res.status, path).toBe(403)
      expect(await res.json(), path).toEqual({ detail: "You do not have permission to perform this action." })
    }
  })

  it("serves members as bare arrays and details of every entity", async () => {
    const members = await shared.getJson(v1("acme", "members/"))
    expect(Array.isArray(members)).toBe(true)
    expect(members[0]).toMatchObject({ role: 20, id: shared.sim.store.owner.id })
    const [project] = await projectIds(shared, "acme")
    const projectMembers = await shared.getJson(v1("acme", `projects/${project}/members/`))
    expect(Array.isArray(projectMembers)).toBe(true)
    expect(projectMembers[0]).not.toHaveProperty("role")

    for (const resource of ["states", "labels", "cycles", "modules", "work-items"]) {
      const list = await shared.getJson(`${v1("acme", `projects/${project}/${resource}/`)}?per_page=2`)
      const first = list.results[0]
      const one = await shared.getJson(v1("acme", `projects/${project}/${resource}/${first.id}/`))
      expect(one, resource).toEqual(first)
    }
  })
})

describe("records", () => {
  it("have every key of Plane's shapes, Django timestamps and date-only archived_at on work items", async () => {
    const [project] = await projectIds(shared, "acme")
    const item = (await shared.getJson(`${v1("acme", `projects/${project}/work-items/`)}?per_page=1`)).results[0]
    expect(Object.keys(item)).toEqual([
      "id", "type_id", "created_at", "updated_at", "deleted_at", "point", "name", "description_html",
      "description_binary", "priority", "start_date", "target_date", "sequence_id", "sort_order", "completed_at",
      "archived_at", "is_draft", "external_source", "external_id", "created_by", "updated_by", "project",
      "workspace", "parent", "state", "estimate_point", "type", "assignees", "labels"
    ])
    expect(item.created_at).toMatch(DATETIME)
    expect(micros(item.updated_at)).toBeGreaterThanOrEqual(micros(item.created_at))
    expect(micros(item.created_at)).toBeLessThanOrEqual(START * 1000)
    expect(item.description_html.length).toBeGreaterThan(150)

    const states = await shared.getJson(v1("acme", `projects/${project}/states/`))
    expect(states.results.map((s: Json) => [s.name, s.sequence, s.group, s.default])).toEqual([
      ["Backlog", 15000, "backlog", true],
      ["Todo", 25000, "unstarted", false],
      ["In Progress", 35000, "started", false],
      ["Done", 45000, "completed", false],
      ["Cancelled", 55000, "cancelled", false]
    ])
    const cycles = await shared.getJson(v1("acme", `projects/${project}/cycles/`))
    expect(cycles.results[0]).toHaveProperty("total_issues")
    const projects = await shared.getJson(v1("acme", "projects/"))
    expect(projects.results[0]).toMatchObject({ is_member: true, archived_at: null, identifier: expect.stringMatching(/^PRJ\d+$/) })
  })

  it("honours fields (allow-list, unknown names ignored) and expand", async () => {
    const [project] = await projectIds(shared, "acme")
    const path = `${v1("acme", `projects/${project}/work-items/`)}?per_page=3`
    const slim = await shared.getJson(`${path}&fields=id,name,bogus`)
    expect(slim.results.every((r: Json) => Object.keys(r).join() === "id,name")).toBe(true)
    const expanded = await shared.getJson(`${path}&expand=state`)
    expect(Object.keys(expanded.results[0].state)).toEqual(["id", "name", "color", "group"])
  })
})

describe("pagination (§3.1)", () => {
  const list = () => v1("pag", `projects/${pagProject}/work-items/`)

  it("reproduces the worked example: 250 rows, per_page=100", async () => {
    const first = await shared.getJson(`${list()}?per_page=100`)
    expect(Object.keys(first)).toEqual([
      "grouped_by", "sub_grouped_by", "total_count", "next_cursor", "prev_cursor", "next_page_results",
      "prev_page_results", "count", "total_pages", "total_results", "extra_stats", "results"
    ])
    expect(first).toMatchObject({
      grouped_by: null, sub_grouped_by: null, extra_stats: null, total_count: 250, total_results: 250, total_pages: 3,
      count: 100, next_cursor: "100:1:0", next_page_results: true, prev_cursor: "100:-1:1", prev_page_results: false
    })
    const second = await shared.getJson(`${list()}?per_page=100&cursor=100:1:0`)
    expect(second).toMatchObject({
      count: 100, next_cursor: "100:2:0", next_page_results: true, prev_cursor: "100:0:1", prev_page_results: true
    })
    const third = await shared.getJson(`${list()}?per_page=100&cursor=100:2:0`)
    expect(third).toMatchObject({
      count: 50, next_cursor: "100:3:0", next_page_results: false, prev_cursor: "100:1:1", prev_page_results: true
    })
    const beyond = await shared.getJson(`${list()}?per_page=100&cursor=100:3:0`)
    expect(beyond).toMatchObject({ count: 0, results: [], next_cursor: "100:4:0", next_page_results: false, total_count: 250 })
    const ids = new Set([...first.results, ...second.results, ...third.results].map((r: Json) => r.id))
    expect(ids.size).toBe(250)

    // An exactly full last page still says there is nothing more (the per_page + 1 fetch).
    const fullLast = await shared.getJson(`${list()}?per_page=125&cursor=125:1:0`)
    expect(fullLast).toMatchObject({ count: 125, next_page_results: false, total_pages: 2, next_cursor: "125:2:0" })
  })

  it("defaults to 1000 per page and ignores the cursor's value part", async () => {
    expect((await shared.getJson(list())).count).toBe(250)
    // cursor=100:1:0 without per_page means page 1 of 1000-row pages: empty.
    const skipped = await shared.getJson(`${list()}?cursor=100:1:0`)
    expect(skipped).toMatchObject({ count: 0, next_cursor: "1000:2:0", prev_cursor: "1000:0:1", total_pages: 1 })
  })

  it("rejects bad per_page and cursor values with Plane's bodies", async () => {
    const cases: Array<[string, number, unknown]> = [
      ["per_page=1001", 400, { detail: "Invalid per_page value. Cannot exceed 1000." }],
      ["per_page=abc", 400, { detail: "Invalid per_page parameter." }],
      ["per_page=1.5", 400, { detail: "Invalid per_page parameter." }],
      ["per_page=10&cursor=garbage", 400, { detail: "Invalid cursor parameter." }],
      ["per_page=10&cursor=10:x:0", 400, { detail: "Invalid cursor parameter." }],
      ["per_page=100&cursor=100:-1:1", 400, { detail: "Error in parsing" }],
      ["per_page=0", 500, { error: "Something went wrong please try again later" }]
    ]
    for (const [query, status, body] of cases) {
      const res = await shared.get(`${list()}?${query}`)
      expect(res.status, query).toBe(status)
      expect(await res.json(), query).toEqual(body)
    }
  })

  it("walking every page returns exactly counts.work_items distinct ids", async () => {
    const counts = await shared.admin("GET", "/counts?workspace=acme")
    const ids = new Set<string>()
    for (const project of await projectIds(shared, "acme")) {
      for (const item of await walk(shared, v1("acme", `projects/${project}/work-items/`), 97)) ids.add(item.id)
    }
    expect(counts.work_items).toBe(600)
    expect(ids.size).toBe(counts.work_items)
    const records: Array<Json> = await shared.admin("GET", "/records/work_items?workspace=acme")
    expect(new Set(records.map((r) => r.id))).toEqual(ids)
  })

  it("honours a configurable maximum", async () => {
    await withSim({ maxPerPage: 100, workspaces: [{ slug: "w", projects: 1, workItems: 150 }] }, async (c) => {
      const [p] = await projectIds(c, "w")
      const res = await c.get(`${v1("w", `projects/${p}/work-items/`)}?per_page=101`)
      expect(await res.json()).toEqual({ detail: "Invalid per_page value. Cannot exceed 100." })
      expect((await c.getJson(v1("w", `projects/${p}/work-items/`))).count).toBe(100)
    })
  })

  it("with oversizedPerPage clamp, serves a larger per_page as pages of the maximum", async () => {
    await withSim({ maxPerPage: 20, oversizedPerPage: "clamp", workspaces: [{ slug: "w", projects: 1, workItems: 50 }] }, async (c) => {
      const [p] = await projectIds(c, "w")
      const path = v1("w", `projects/${p}/work-items/`)
      const first = await c.getJson(`${path}?per_page=50&order_by=created_at`)
      expect(first).toMatchObject({ count: 20, next_page_results: true, next_cursor: "20:1:0", total_pages: 3, total_count: 50 })
      // The offset is counted in the served size: page 1 of "50" is rows 20..39.
      const second = await c.getJson(`${path}?per_page=50&cursor=50:1:0&order_by=created_at`)
      const exact = await c.getJson(`${path}?per_page=20&cursor=20:1:0&order_by=created_at`)
      expect(second.results.map((r: Json) => r.id)).toEqual(exact.results.map((r: Json) => r.id))
      expect((await c.admin("PUT", "/settings", { oversizedPerPage: "reject" })).oversizedPerPage).toBe("reject")
      expect((await c.get(`${path}?per_page=50`)).status).toBe(400)
    })
  })
})

describe("ordering (§8.5)", () => {
  const items = () => v1("pag", `projects/${pagProject}/work-items/`)

  it("sorts work items by -created_at by default and by any order_by field", async () => {
    const byDefault = await walk(shared, items(), 100)
    for (let i = 1; i < byDefault.length; i++) {
      expect(micros(byDefault[i - 1].created_at)).toBeGreaterThanOrEqual(micros(byDefault[i].created_at))
    }
    const byUpdated = await walk(shared, items(), 100, "&order_by=-updated_at")
    expect(byUpdated).toHaveLength(250)
    for (let i = 1; i < byUpdated.length; i++) {
      expect(micros(byUpdated[i - 1].updated_at)).toBeGreaterThanOrEqual(micros(byUpdated[i].updated_at))
    }
    const bySeq = await walk(shared, items(), 100, "&order_by=sequence_id")
    expect(bySeq.map((r) => r.sequence_id)).toEqual(Array.from({ length: 250 }, (_, i) => i + 1))
    const urgency = ["urgent", "high", "medium", "low", "none"]
    const byPriority = (await shared.getJson(`${items()}?order_by=priority`)).results.map((r: Json) => urgency.indexOf(r.priority))
    expect(byPriority).toEqual([...byPriority].sort((a, b) => a - b))
  })

  it("sorts work items by their largest label name and assignee first name (relational order_by)", async () => {
    const labels = await walk(shared, v1("pag", `projects/${pagProject}/labels/`), 100)
    const nameOf = new Map(labels.map((l) => [l.id as string, l.name as string]))
    const largest = (r: Json) => {
      const names = (r.labels as Array<string>).map((id) => nameOf.get(id)).filter((n): n is string => n !== undefined)
      return names.length === 0 ? null : names.sort().at(-1)!
    }
    const byLabel = (await walk(shared, items(), 100, "&order_by=labels__name")).map(largest)
    expect(byLabel).toHaveLength(250)
    // Ascending, with items without labels (NULL) last, as PostgreSQL sorts them.
    const named = byLabel.filter((n) => n !== null)
    expect(byLabel.slice(0, named.length)).toEqual([...named].sort())
    expect(byLabel.slice(named.length).every((n) => n === null)).toBe(true)
    const byAssignee = await walk(shared, items(), 100, "&order_by=-assignees__first_name")
    expect(new Set(byAssignee.map((r) => r.id))).toEqual(new Set((await walk(shared, items(), 100)).map((r) => r.id)))
  })

  it("returns the same order on repeated calls (ties broken consistently)", async () => {
    const a = await shared.getJson(`${items()}?order_by=priority&per_page=250`)
    const b = await shared.getJson(`${items()}?order_by=priority&per_page=250`)
    expect(a.results.map((r: Json) => r.id)).toEqual(b.results.map((r: Json) => r.id))
  })

  it("answers 500 for an unknown order_by field on work items", async () => {
    const res = await shared.get(`${items()}?order_by=-no_such_field`)
    expect(res.status).toBe(500)
    expect(await res.json()).toEqual({ error: "Something went wrong please try again later" })
  })

  it("orders projects by sort_order by default, the same for every project, so pages repeat and skip", async () => {
    await withSim({ workspaces: [{ slug: "many", projects: 12, workItems: 0, seed: 5 }] }, async (c) => {
      const path = v1("many", "projects/")
      const all: Array<Json> = await c.admin("GET", "/records/projects?workspace=many")
      expect(new Set(all.map((p) => p.sort_order))).toEqual(new Set([65535]))
      const byDefault = await walk(c, path, 5)
      expect(byDefault).toHaveLength(12)
      // Ties come back in a different order on each page: some project is listed twice, another never.
      expect(new Set(byDefault.map((p) => p.id)).size).toBeLessThan(12)
      // The same page asked again is the same (deterministic, like one query plan).
      expect(await walk(c, path, 5)).toEqual(byDefault)
      const byCreated = await walk(c, path, 5, "&order_by=created_at")
      expect(new Set(byCreated.map((p) => p.id))).toEqual(new Set(all.map((p) => p.id)))
      const created = byCreated.map((p) => micros(p.created_at))
      expect(created).toEqual([...created].sort((a, b) => a - b))
    })
  })

  it("ignores order_by on labels (fixed -created_at)", async () => {
    const [project] = await projectIds(shared, "acme")
    const path = v1("acme", `projects/${project}/labels/`)
    const plain = (await shared.getJson(path)).results
    const asked = (await shared.getJson(`${path}?order_by=name`)).results
    const bogus = (await shared.getJson(`${path}?order_by=nonsense`)).results
    expect(asked.map((l: Json) => l.id)).toEqual(plain.map((l: Json) => l.id))
    expect(bogus.map((l: Json) => l.id)).toEqual(plain.map((l: Json) => l.id))
    const created = plain.map((l: Json) => micros(l.created_at))
    expect(created).toEqual([...created].sort((a, b) => b - a))
  })
})

describe("work-items routes", () => {
  it("serves the issues/ alias with the same data", async () => {
    const a = await shared.getJson(`${v1("pag", `projects/${pagProject}/work-items/`)}?per_page=20`)
    const b = await shared.getJson(`${v1("pag", `projects/${pagProject}/issues/`)}?per_page=20`)
    expect(b).toEqual(a)
    const one = a.results[0]
    expect(await shared.getJson(v1("pag", `projects/${pagProject}/issues/${one.id}/`))).toEqual(one)
    expect(await shared.getJson(v1("pag", `work-items/PRJ1-${one.sequence_id}/`))).toEqual(one)
  })

  it("in issues-only mode (CE v1.0.0) answers 404 Page not found for work-items/", async () => {
    await withSim({ workItemsRoute: "issues-only", workspaces: [{ slug: "old", projects: 1, workItems: 20 }] }, async (c) => {
      const [p] = await projectIds(c, "old")
      const res = await c.get(v1("old", `projects/${p}/work-items/`))
      expect(res.status).toBe(404)
      expect(await res.json()).toEqual({ error: "Page not found." })
      expect((await c.getJson(v1("old", `projects/${p}/issues/`))).total_count).toBe(20)
    })
  })
})

describe("visibility of projects the key's owner has not joined, and of archived projects", () => {
  it("refuses every route of a workspace the key's owner is not a member of with 403", async () => {
    const workspaces = [
      { slug: "own", projects: 1, workItems: 3 },
      { slug: "other", projects: 1, workItems: 3, keyOwnerIsMember: false }
    ]
    await withSim({ workspaces }, async (c) => {
      const [p] = (await c.admin("GET", "/records/projects?workspace=other")).map((r: Json) => r.id)
      const paths = [v1("other", "projects/"), v1("other", "members/"), v1("other", `projects/${p}/labels/`), v1("other", `projects/${p}/`)]
      for (const path of paths) {
        const res = await c.get(path)
        expect(res.status, path).toBe(403)
        expect(await res.json(), path).toEqual({ detail: "You do not have permission to perform this action." })
      }
      expect((await c.getJson(v1("own", "projects/"))).count).toBe(1)
      expect((await c.getJson("/api/v1/users/me/")).id).toBe(c.sim.store.owner.id)
    })
  })

  it("answers labels of a project the owner has not joined with an empty list and 404, its other children with 403", async () => {
    await withSim({ workspaces: [{ slug: "v", projects: 2, workItems: 20 }] }, async (c) => {
      const [p] = await projectIds(c, "v")
      const labels = (await c.getJson(v1("v", `projects/${p}/labels/`))).results
      expect(labels.length).toBeGreaterThan(0)
      await c.admin("PATCH", `/records/projects/${p}?workspace=v`, { is_member: false })
      const list = await c.getJson(`${v1("v", `projects/${p}/labels/`)}?per_page=10`)
      expect(list).toMatchObject({ count: 0, total_count: 0, next_page_results: false, results: [] })
      const detail = await c.get(v1("v", `projects/${p}/labels/${labels[0].id}/`))
      expect(detail.status).toBe(404)
      expect(await detail.json()).toEqual({ error: "The requested resource does not exist." })
      for (const resource of ["states", "cycles", "modules", "work-items"]) {
        const res = await c.get(v1("v", `projects/${p}/${resource}/`))
        expect(res.status, resource).toBe(403)
      }
      // Still listed, with is_member false.
      const project = (await c.getJson(`${v1("v", "projects/")}?per_page=10`)).results.find((r: Json) => r.id === p)
      expect(project.is_member).toBe(false)
    })
  })

  it("still lists cycles and modules of an archived project, and nothing else below it", async () => {
    await withSim({ workspaces: [{ slug: "a", projects: 1, workItems: 20 }] }, async (c) => {
      const [p] = await projectIds(c, "a")
      const before: Record<string, Array<Json>> = {}
      for (const resource of ["states", "labels", "cycles", "modules", "work-items"]) {
        before[resource] = (await c.getJson(v1("a", `projects/${p}/${resource}/`))).results
        expect(before[resource]!.length, resource).toBeGreaterThan(0)
      }
      const archivedCycle = before.cycles![0]
      await c.admin("POST", `/records/cycles/${archivedCycle.id}/archive?workspace=a`)
      await c.admin("POST", `/records/projects/${p}/archive?workspace=a`)
      for (const resource of ["states", "labels", "work-items"]) {
        expect((await c.getJson(v1("a", `projects/${p}/${resource}/`))).results, resource).toEqual([])
      }
      const cycles = (await c.getJson(v1("a", `projects/${p}/cycles/`))).results
      expect(cycles.map((r: Json) => r.id).sort()).toEqual(before.cycles!.slice(1).map((r: Json) => r.id).sort())
      const modules = (await c.getJson(v1("a", `projects/${p}/modules/`))).results
      expect(modules.map((r: Json) => r.id)).toEqual(before.modules!.map((r: Json) => r.id))
      expect((await c.getJson(v1("a", `projects/${p}/archived-cycles/`))).results.map((r: Json) => r.id)).toEqual([archivedCycle.id])
      expect((await c.getJson(v1("a", `projects/${p}/cycles/${cycles[0].id}/`))).id).toBe(cycles[0].id)
      expect((await c.get(v1("a", `projects/${p}/work-items/${before["work-items"]![0].id}/`))).status).toBe(404)
    })
  })

  it("answers an archived work item's detail with archived_at (Cloud) or 404 (archivedWorkItemDetail not-found, CE)", async () => {
    for (const mode of ["ok", "not-found"] as const) {
      await withSim({ archivedWorkItemDetail: mode, workspaces: [{ slug: "e", projects: 1, workItems: 5 }] }, async (c) => {
        const [p] = await projectIds(c, "e")
        const [item] = (await c.getJson(v1("e", `projects/${p}/work-items/`))).results
        await c.admin("POST", `/records/work_items/${item.id}/archive?workspace=e`)
        const res = await c.get(v1("e", `projects/${p}/work-items/${item.id}/`))
        expect(res.status, mode).toBe(mode === "ok" ? 200 : 404)
        if (mode === "ok") expect(((await res.json()) as Json).archived_at).toMatch(DATE)
      })
    }
  })
})

describe("admin API", () => {
  it("creates, updates, deletes and archives records, visible in lists and counts", async () => {
    let now = START
    await withSim({ now: () => now, workspaces: [{ slug: "m", projects: 2, workItems: 40, seed: 5 }] }, async (c) => {
      const [p1, p2] = await projectIds(c, "m")
      const items = v1("m", `projects/${p1}/work-items/`)
      const before = await c.admin("GET", "/counts?workspace=m")
      expect(before).toMatchObject({ projects: 2, states: 10, work_items: 40, archived: { work_items: 0 }, deleted: { work_items: 0 } })

      // create: newest first in the default ordering
      now += 1000
      const created = await c.admin("POST", "/records/work_items?workspace=m", { project: p1, name: "Fresh", priority: "high" })
      expect(created).toMatchObject({ name: "Fresh", priority: "high", project: p1, archived_at: null })
      expect(created.created_at).toBe(created.updated_at)
      expect((await c.getJson(items)).results[0].id).toBe(created.id)

      // update: bumps updated_at to now → first under -updated_at; explicit updated_at is kept
      const victim = (await c.getJson(`${items}?order_by=updated_at&per_page=1`)).results[0]
      now += 5000
      const updated = await c.admin("PATCH", `/records/work_items/${victim.id}?workspace=m`, { name: "Renamed" })
      expect(micros(updated.updated_at)).toBeGreaterThan(micros(victim.updated_at))
      expect((await c.getJson(`${items}?order_by=-updated_at&per_page=1`)).results[0]).toMatchObject({ id: victim.id, name: "Renamed" })
      const tied = await c.admin("PATCH", `/records/work_items/${victim.id}`, { updated_at: created.updated_at })
      expect(tied.updated_at).toBe(created.updated_at)

      // delete: gone from lists and detail
      await c.admin("DELETE", `/records/work_items/${created.id}?workspace=m`)
      expect((await c.get(`${items}${created.id}/`)).status).toBe(404)

      // archive: gone from lists, detail shows a date archived_at
      await c.admin("POST", `/records/work_items/${victim.id}/archive?workspace=m`)
      const archived = await c.getJson(`${items}${victim.id}/`)
      expect(archived.archived_at).toMatch(DATE)
      expect((await walk(c, items, 100)).map((r) => r.id)).not.toContain(victim.id)
      const mid = await c.admin("GET", "/counts?workspace=m")
      expect(mid).toMatchObject({ work_items: 39, archived: { work_items: 1 }, deleted: { work_items: 1 } })
      const withArchived: Array<Json> = await c.admin("GET", "/records/work_items?workspace=m&includeArchived=true")
      expect(withArchived.map((r) => r.id)).toContain(victim.id)
      await c.admin("POST", `/records/work_items/${victim.id}/unarchive?workspace=m`)
      expect((await c.admin("GET", "/counts?workspace=m")).work_items).toBe(40)

      // cycles: archived ones move to archived-cycles/ with a datetime
      const cycle = (await c.getJson(v1("m", `projects/${p1}/cycles/`))).results[0]
      await c.admin("POST", `/records/cycles/${cycle.id}/archive`)
      expect((await c.getJson(v1("m", `projects/${p1}/cycles/`))).results.map((x: Json) => x.id)).not.toContain(cycle.id)
      const archivedCycles = await c.getJson(v1("m", `projects/${p1}/archived-cycles/`))
      expect(archivedCycles.results[0]).toMatchObject({ id: cycle.id, archived_at: expect.stringMatching(DATETIME) })

      // archived project: still listed, its children are empty and uncounted
      const p2Items = (await c.getJson(v1("m", `projects/${p2}/work-items/`))).total_count
      await c.admin("POST", `/records/projects/${p2}/archive`)
      const projects = (await c.getJson(v1("m", "projects/"))).results
      expect(projects.find((x: Json) => x.id === p2).archived_at).toMatch(DATETIME)
      expect(await c.getJson(v1("m", `projects/${p2}/work-items/`))).toMatchObject({ total_count: 0, results: [] })
      const after = await c.admin("GET", "/counts?workspace=m")
      expect(after).toMatchObject({ projects: 2, states: 5, work_items: 40 - p2Items, archived: { projects: 1 } })

      // random mutations are deterministic and reported
      const result = await c.admin("POST", "/mutate?workspace=m", { seed: 7, updates: 2, creates: 1, deletes: 1, archives: 1 })
      expect([result.updated.length, result.created.length, result.deleted.length, result.archived.length]).toEqual([2, 1, 1, 1])
    })
  })

  it("runs a page hook right after a page is served (offset pagination skips a row)", async () => {
    await withSim({ now: () => START, workspaces: [{ slug: "h", projects: 1, workItems: 250, seed: 3 }] }, async (c) => {
      const [p] = await projectIds(c, "h")
      const hook = await c.admin("POST", "/hooks", { workspace: "h", entity: "work_items", afterPage: 0, action: "delete" })
      const walked = await walk(c, v1("h", `projects/${p}/work-items/`), 100)
      const [fired] = await c.admin("GET", "/hooks")
      expect(fired).toMatchObject({ id: hook.id, fired: true })
      expect(fired.affected).toHaveLength(1)
      const current: Array<Json> = await c.admin("GET", "/records/work_items?workspace=h")
      const seen = new Set(walked.map((r) => r.id))
      expect(current).toHaveLength(249)
      expect(current.filter((r) => !seen.has(r.id))).toHaveLength(1) // one live row was never served
      expect(seen.has(fired.affected[0])).toBe(true) // the deleted row was served before it went
    })
  })
})

describe("cached views and counts", () => {
  // The workspace patches its sorted views with changed rows and keeps cycle/module
  // issue counts by deltas; after any sequence of admin mutations both must equal a
  // computation from scratch.
  const ids = (rows: ReadonlyArray<Row>) => rows.map((r) => r.id)

  const freshCounts = (ws: Workspace, kind: "cycles" | "modules", ownerId: string) => {
    const members = (kind === "cycles" ? ws.itemsOfCycle : ws.itemsOfModule).get(ownerId) ?? new Set<string>()
    const c: Record<string, number> = { total_issues: 0 }
    for (const g of STATE_GROUP_ORDER) c[`${g}_issues`] = 0
    for (const id of members) {
      const row = ws.workItems.byId.get(id)
      if (row === undefined || !ws.isListed(row)) continue
      c.total_issues!++
      const group = typeof row.data.state === "string" ? ws.stateGroup(row.data.state) : undefined
      if (group !== undefined && `${group}_issues` in c) c[`${group}_issues`]!++
    }
    return c
  }

  // Not labels__name / assignees__first_name: resolveOrdering detaches ws.labelName and
  // ws.userFirstName from `this`, so those orderings throw (a 500) already.
  const WORK_ITEM_ORDERS = [
    "-created_at",
    "-updated_at",
    "updated_at",
    "priority",
    "-priority",
    "state__group",
    "completed_at",
    "-completed_at",
    "name",
    "-target_date"
  ]

  /** Reads every cached view and count, and checks each against a fresh computation. */
  const check = (ws: Workspace, step: string) => {
    for (const project of ws.projects.rows) {
      const scope = project.id
      const fresh = (entity: Entity, include: (r: Row) => boolean, order: string, special: boolean) => {
        const o = resolveOrdering(order, entity, ws, special)!
        return ids(sortRows(ws.collection(entity).inScope(scope).filter(include), o))
      }
      for (const order of WORK_ITEM_ORDERS) {
        const o = resolveOrdering(order, "work_items", ws, true)!
        expect(ids(ws.listView("work_items", scope, o)), `${step}: work_items ${order}`).toEqual(
          fresh("work_items", (r) => ws.isListed(r), order, true)
        )
      }
      for (const entity of ["states", "labels", "cycles", "modules"] as const) {
        const o = resolveOrdering("-created_at", entity, ws, false)!
        const expected = fresh(entity, (r) => ws.isListed(r), "-created_at", false)
        expect(ids(ws.listView(entity, scope, o)), `${step}: ${entity}`).toEqual(expected)
      }
      for (const entity of ["cycles", "modules", "work_items"] as const) {
        const o = resolveOrdering("-created_at", entity, ws, false)!
        expect(ids(ws.archivedView(entity, scope, o)), `${step}: archived ${entity}`).toEqual(
          fresh(entity, (r) => ws.isArchivedListed(r), "-created_at", false)
        )
      }
      for (const kind of ["cycles", "modules"] as const) {
        for (const owner of ws.collection(kind).inScope(scope)) {
          const counts = freshCounts(ws, kind, owner.id)
          expect(ws.issueCounts(kind, owner.id), `${step}: counts of ${kind} ${owner.id}`).toEqual(counts)
          for (const order of ["created_at", "-updated_at"]) {
            const o = resolveOrdering(order, "work_items", ws, false)!
            const members = (kind === "cycles" ? ws.itemsOfCycle : ws.itemsOfModule).get(owner.id) ?? new Set<string>()
            const expected = sortRows(
              [...members].flatMap((id) => {
                const row = ws.workItems.byId.get(id)
                return row !== undefined && ws.isListed(row) ? [row] : []
              }),
              o
            )
            expect(ids(ws.membershipView(kind, owner.id, scope, o)), `${step}: ${kind}-issues ${order}`).toEqual(ids(expected))
          }
        }
      }
    }
  }

  it.each([1, 2, 3])("match a fresh computation after any admin mutation (seed %i)", (seed) => {
    const store = new SimulatorStore("key", new SimClock(() => START))
    const ws = store.addWorkspace({ slug: "c", projects: 3, workItems: 300, seed: 10 + seed })
    const rng = Rng.from("cache-test", seed)
    const live = (entity: Entity) => ws.collection(entity).rows.filter((r) => r.data.deleted_at === null)
    const items = () => live("work_items")
    check(ws, "initial")
    const served = ws.listView("work_items", ws.projects.rows[0]!.id, resolveOrdering("-updated_at", "work_items", ws, true)!)
    const servedIds = ids(served)

    const ops: Array<[string, () => void]> = [
      ["mutate", () => mutateRandomly(ws, { updates: 20, creates: 3, deletes: 2, archives: 2 })],
      ["mutate cycles", () => mutateRandomly(ws, { entity: "cycles", updates: 1, archives: 1 })],
      ["mutate modules", () => mutateRandomly(ws, { entity: "modules", updates: 1, deletes: 1 })],
      [
        "move between cycles and modules (across projects too)",
        () => {
          for (const item of rng.sample(items(), 10)) {
            const cycles = live("cycles")
            const modules = live("modules")
            const patch: Record<string, RecordJson> = {
              cycle_id: rng.chance(0.2) || cycles.length === 0 ? null : rng.pick(cycles).id,
              module_ids: rng.sample(modules, rng.int(3)).map((m) => m.id)
            }
            if (rng.chance(0.5)) patch.state = rng.pick(ws.states.inScope(item.project!)).id
            ws.update("work_items", item.id, patch)
          }
        }
      ],
      [
        "create with memberships",
        () => {
          const project = rng.pick(live("projects"))
          const cycles = live("cycles").filter((c) => c.project === project.id)
          ws.create(
            "work_items",
            { project: project.id, ...(cycles.length > 0 ? { cycle_id: rng.pick(cycles).id } : {}), module_ids: [] },
            rng
          )
        }
      ],
      [
        "archive, unarchive, draft, delete",
        () => {
          const item = rng.pick(items())
          if (item.data.archived_at !== null) ws.setArchived("work_items", item.id, false)
          else if (rng.chance(0.3)) ws.setArchived("work_items", item.id, true)
          else if (rng.chance(0.5)) ws.update("work_items", item.id, { is_draft: item.data.is_draft !== true })
          else ws.remove("work_items", item.id)
        }
      ],
      [
        "tie on updated_at",
        () => {
          const [a, b] = rng.sample(items(), 2)
          if (a !== undefined && b !== undefined) ws.update("work_items", a.id, { updated_at: b.data.updated_at ?? null })
        }
      ],
      [
        "change a state (group, triage)",
        () => {
          const state = rng.pick(live("states"))
          const patch = rng.chance(0.5) ? { group: rng.pick(STATE_GROUP_ORDER) } : { is_triage: !state.data.is_triage }
          ws.update("states", state.id, patch)
        }
      ],
      ["rename a label", () => ws.update("labels", rng.pick(live("labels")).id, { name: `L${rng.hex(3)}` })],
      [
        // Reading some views only leaves the others behind on the change log.
        "read one view",
        () => {
          const ordering = resolveOrdering(rng.pick(WORK_ITEM_ORDERS), "work_items", ws, true)!
          ws.listView("work_items", rng.pick(ws.projects.rows).id, ordering)
        }
      ],
      [
        // Logs longer than a scope: views behind are dropped and rebuilt.
        "burst",
        () => {
          for (let i = rng.between(2, 12); i > 0; i--) mutateRandomly(ws, { updates: 250 })
        }
      ]
    ]
    for (let step = 0; step < 150; step++) {
      const [name, op] = rng.pick(ops)
      op()
      if (step % 2 === 0) check(ws, `step ${step} (${name})`)
    }
    check(ws, "final")
    // Arrays already handed out are never changed in place (page hooks walk them while mutating).
    expect(ids(served)).toEqual(servedIds)
  })

  it("serves issue counts and -updated_at order that follow admin mutations over HTTP", async () => {
    await withSim({ now: () => START, workspaces: [{ slug: "k", projects: 2, workItems: 200, seed: 4 }] }, async (c) => {
      const [p1] = await projectIds(c, "k")
      const cyclesPath = v1("k", `projects/${p1}/cycles/`)
      const itemsPath = v1("k", `projects/${p1}/work-items/?order_by=-updated_at&per_page=1000`)
      const expectFresh = async () => {
        const records: Array<Json> = await c.admin("GET", `/records/work_items?workspace=k&project=${p1}`)
        const byUpdated = [...records].sort((a, b) => micros(b.updated_at) - micros(a.updated_at))
        const served = (await c.getJson(itemsPath)).results
        expect(served.map((r: Json) => r.updated_at)).toEqual(byUpdated.map((r) => r.updated_at))
        expect(new Set(served.map((r: Json) => r.id))).toEqual(new Set(records.map((r) => r.id)))
        for (const cycle of (await c.getJson(cyclesPath)).results) {
          const detail = await c.admin("GET", `/records/cycles/${cycle.id}`)
          expect(cycle.total_issues).toBe(detail.total_issues)
        }
      }
      await expectFresh()
      const cycle = (await c.getJson(cyclesPath)).results[0]
      await c.admin("POST", "/mutate?workspace=k", { seed: 3, updates: 30, archives: 3, deletes: 3 })
      await expectFresh()
      const item = (await c.getJson(itemsPath)).results.at(-1)
      await c.admin("PATCH", `/records/work_items/${item.id}`, { cycle_id: cycle.id })
      const joined = (await c.getJson(cyclesPath)).results.find((x: Json) => x.id === cycle.id).total_issues
      await c.admin("POST", `/records/work_items/${item.id}/archive`)
      const left = (await c.getJson(cyclesPath)).results.find((x: Json) => x.id === cycle.id).total_issues
      expect(left).toBe(joined - 1)
      expect((await c.getJson(itemsPath)).results.map((r: Json) => r.id)).not.toContain(item.id)
      await expectFresh()
    })
  })
})

describe("rate limiting (§4)", () => {
  it("throttles per key with a sliding window and Plane's headers", async () => {
    let now = START
    await withSim({ now: () => now, rateLimitPerMinute: 5, workspaces: [{ slug: "r", projects: 1, workItems: 5 }] }, async (c) => {
      const remaining: Array<string | null> = []
      for (let i = 0; i < 5; i++) {
        const res = await c.get("/api/v1/users/me/")
        expect(res.status).toBe(200)
        expect(res.headers.get("x-ratelimit-reset")).toBe(String(START / 1000 + 60))
        remaining.push(res.headers.get("x-ratelimit-remaining"))
      }
      expect(remaining).toEqual(["4", "3", "2", "1", "0"])

      // auth is checked before the throttle
      expect((await c.get("/api/v1/users/me/", { key: null })).status).toBe(401)

      const sixth = await c.get("/api/v1/users/me/")
      expect(sixth.status).toBe(429)
      expect(await sixth.json()).toEqual({ error_code: 5900, error_message: "RATE_LIMIT_EXCEEDED" })
      expect(sixth.headers.get("retry-after")).toBe("60")
      expect(sixth.headers.get("x-ratelimit-remaining")).toBeNull()
      expect(sixth.headers.get("x-ratelimit-reset")).toBeNull()

      // the admin API is never limited, and moves the simulator clock
      await c.admin("POST", "/clock", { advanceMs: 45_000 })
      const later = await c.get("/api/v1/users/me/")
      expect(later.status).toBe(429)
      expect(later.headers.get("retry-after")).toBe("15")
      await c.admin("POST", "/clock", { advanceMs: 15_000 })
      const again = await c.get("/api/v1/users/me/")
      expect(again.status).toBe(200)
      expect(again.headers.get("x-ratelimit-remaining")).toBe("4")

      // headers also on a 404 past auth
      const missing = await c.get(v1("r", "projects/00000000-0000-4000-8000-000000000000/"))
      expect(missing.status).toBe(404)
      expect(missing.headers.get("x-ratelimit-remaining")).toBe("3")
      expect((await c.admin("GET", "/stats")).byStatus).toMatchObject({ "200": 6, "401": 1, "429": 2, "404": 1 })
    })
  })
})

describe("faults", () => {
  const small = { workspaces: [{ slug: "f", projects: 1, workItems: 30 }] }
  const me = "/api/v1/users/me/"

  it("injects 503 pages and counts statuses in the stats", async () => {
    await withSim({ ...small, faults: { errorRate: { "503": 1 } } }, async (c) => {
      for (let i = 0; i < 3; i++) {
        const res = await c.get(me)
        expect(res.status).toBe(503)
        expect(res.headers.get("content-type")).toContain("text/html")
        expect(await res.text()).toContain("503")
      }
      await c.admin("PUT", "/faults", {})
      expect((await c.get(me)).status).toBe(200)
      expect(await c.admin("GET", "/stats")).toMatchObject({ requests: 4, byStatus: { "503": 3, "200": 1 } })
      await c.admin("POST", "/stats/reset")
      expect((await c.admin("GET", "/stats")).requests).toBe(0)
    })
  })

  it("truncates bodies so they cannot be parsed", async () => {
    await withSim({ ...small, faults: { truncatedRate: 1 } }, async (c) => {
      const [p] = (c.sim.store.workspace("f").projects.rows).map((r) => r.id)
      const res = await c.get(v1("f", `projects/${p}/work-items/`))
      expect(res.status).toBe(200)
      const outcome = await res.text().then(
        (text) => {
          try {
            JSON.parse(text)
            return "parsed"
          } catch {
            return "unparsable"
          }
        },
        () => "stream error"
      )
      expect(outcome).not.toBe("parsed")
    })
  })

  it("serves bad records that a strict schema rejects, while the store stays valid", async () => {
    const WorkItem = Schema.Struct({ id: Schema.UUID, name: Schema.String, updated_at: Schema.DateTimeUtc })
    await withSim({ ...small, faults: { badRecordRate: 1 } }, async (c) => {
      const [p] = await c.admin("GET", "/records/projects?workspace=f").then((r: Array<Json>) => r.map((x) => x.id))
      const page = await c.getJson(v1("f", `projects/${p}/work-items/`))
      expect(page.count).toBe(30)
      for (const record of page.results) {
        expect(Either.isLeft(Schema.decodeUnknownEither(WorkItem)(record))).toBe(true)
      }
      const stored: Array<Json> = await c.admin("GET", "/records/work_items?workspace=f")
      for (const record of stored) expect(Either.isRight(Schema.decodeUnknownEither(WorkItem)(record))).toBe(true)
    })
  })

  it("turns every request after N into 401 (unauthorizedAfter)", async () => {
    await withSim({ ...small, faults: { unauthorizedAfter: 3 } }, async (c) => {
      const statuses: Array<number> = []
      for (let i = 0; i < 4; i++) statuses.push((await c.get(me)).status)
      expect(statuses).toEqual([200, 200, 200, 401])
      const res = await c.get(me)
      expect(await res.json()).toEqual({ detail: "Authentication credentials were not provided." })
    })
  })

  it("answers 429 bursts with Retry-After", async () => {
    await withSim({ ...small, faults: { burst429: { every: 3, count: 2, retryAfter: 7 } } }, async (c) => {
      const statuses: Array<number> = []
      for (let i = 0; i < 8; i++) {
        const res = await c.get(me)
        statuses.push(res.status)
        if (res.status === 429) expect(res.headers.get("retry-after")).toBe("7")
      }
      expect(statuses).toEqual([200, 200, 200, 429, 429, 200, 200, 200])
    })
  })

  it("holds timed-out requests open, and close() still returns promptly", async () => {
    const sim = await startSimulator({ ...small, faults: { timeoutRate: 1 } })
    const c = client(sim)
    await expect(c.get(me, { signal: AbortSignal.timeout(300) })).rejects.toThrow()
    const pending = c.get(me).catch(() => "socket closed") // still held when we close
    await new Promise((r) => setTimeout(r, 50))
    const started = Date.now()
    await sim.close()
    expect(Date.now() - started).toBeLessThan(1000)
    expect(await pending).toBe("socket closed")
  })

  it("is deterministic: the same seed gives the same status sequence", async () => {
    const faults = { errorRate: { "500": 0.2, "502": 0.1, "503": 0.2 } }
    const run = (seed: number) =>
      withSim({ ...small, seed, faults }, async (c) => {
        const statuses: Array<number> = []
        for (let i = 0; i < 40; i++) statuses.push((await c.get(me)).status)
        return statuses
      })
    const a = await run(11)
    const b = await run(11)
    const other = await run(12)
    expect(a).toEqual(b)
    expect(new Set(a).size).toBeGreaterThan(2)
    expect(other).not.toEqual(a)
  })
})

describe("determinism and Effect integration", () => {
  it("generates identical records for identical seeds", async () => {
    const spec = { now: () => START, workspaces: [{ slug: "d", projects: 2, workItems: 120, seed: 9 }] }
    const dump = (o: SimulatorOptions) =>
      withSim(o, async (c) => ({
        key: c.sim.apiKey,
        items: (await c.admin("GET", "/records/work_items?workspace=d")) as Array<Json>,
        labels: (await c.admin("GET", "/records/labels?workspace=d")) as Array<Json>
      }))
    const a = await dump(spec)
    const b = await dump(spec)
    expect(b.key).toBe(a.key)
    expect(b.items.map((r) => r.id)).toEqual(a.items.map((r) => r.id))
    expect(b.items).toEqual(a.items)
    expect(b.labels).toEqual(a.labels)
    const c = await dump({ ...spec, workspaces: [{ slug: "d", projects: 2, workItems: 120, seed: 10 }] })
    expect(c.items.map((r) => r.id)).not.toEqual(a.items.map((r) => r.id))
  })

  it("startSimulatorScoped closes the server with its scope", async () => {
    const url = await Effect.runPromise(
      Effect.scoped(
        Effect.gen(function* () {
          const sim = yield* startSimulatorScoped({ workspaces: [{ slug: "e", projects: 1, workItems: 3 }] })
          const res = yield* Effect.promise(() => fetch(`${sim.url}/api/v1/users/me/`, { headers: { "X-API-Key": sim.apiKey } }))
          expect(res.status).toBe(200)
          return sim.url
        })
      )
    )
    await expect(fetch(`${url}/__admin`)).rejects.toThrow()
  })
})
