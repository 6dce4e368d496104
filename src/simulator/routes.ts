/**
 * Routing and handlers of the simulated Plane v1 API (GET side, what a sync needs).
 *
 * Route matching mimics Django's URL resolver: paths are registered with a trailing
 * slash, ids use the `<uuid:...>` converter (lowercase canonical UUIDs only, anything else
 * is "no route"), and the `issues/` aliases mirror the `work-items/` routes. Which route
 * matched decides nothing about auth; server.ts runs auth and throttling before calling
 * `handleApi`.
 */
import type { Entity, RecordData, Row } from "./model.js"
import { userLite } from "./model.js"
import { resolveOrdering, shuffleTies } from "./ordering.js"
import type { Ordering } from "./ordering.js"
import { isPaginationError, parsePageRequest, queryParam, renderPage } from "./paginate.js"
import type { OversizedPerPage, PageRequest } from "./paginate.js"
import type { PageHooks } from "./mutations.js"
import { parseNameList, renderRow } from "./serialize.js"
import type { RenderOptions } from "./serialize.js"
import type { SimulatorStore } from "./store.js"
import { parseTimestamp } from "./time.js"
import type { Workspace } from "./workspace.js"

export type RouteName =
  | "users.me"
  | "workspace.members"
  | "projects.list"
  | "projects.detail"
  | "project.members"
  | "states.list"
  | "states.detail"
  | "labels.list"
  | "labels.detail"
  | "cycles.list"
  | "cycles.detail"
  | "cycles.archived"
  | "cycle.work_items"
  | "modules.list"
  | "modules.detail"
  | "modules.archived"
  | "module.work_items"
  | "work_items.list"
  | "work_items.detail"
  | "work_items.by_key"

export interface RouteMatch {
  readonly name: RouteName
  readonly slug: string
  readonly project: string
  readonly id: string
  /** `PROJ-123` of the by-key route. */
  readonly key: string
}

export type WorkItemsRoute = "both" | "issues-only"

/** Mutable settings of the API behaviour. */
export interface ApiSettings {
  maxPerPage: number
  /** A `per_page` above `maxPerPage`: `"reject"` is Plane's 400, `"clamp"` serves pages of `maxPerPage` rows. */
  oversizedPerPage: OversizedPerPage
  workItemsRoute: WorkItemsRoute
  /** Detail of an archived work item: `"ok"` returns it with `archived_at` set, `"not-found"` is CE's 404. */
  archivedWorkItemDetail: "ok" | "not-found"
}

export interface ApiResponse {
  readonly status: number
  readonly body: string
  readonly contentType?: string
}

const json = (status: number, body: unknown): ApiResponse => ({ status, body: JSON.stringify(body) })

export const PAGE_NOT_FOUND = json(404, { error: "Page not found." })
export const OBJECT_NOT_FOUND = json(404, { error: "The requested resource does not exist." })
export const NO_PERMISSION = json(403, { detail: "You do not have permission to perform this action." })
export const SERVER_ERROR = json(500, { error: "Something went wrong please try again later" })
export const NOT_AUTHENTICATED = json(401, { detail: "Authentication credentials were not provided." })
export const INVALID_TOKEN = json(403, { detail: "Given API token is not valid" })
export const methodNotAllowed = (method: string): ApiResponse => json(405, { detail: `Method "${method}" not allowed.` })

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

const LIST_ROUTES: Readonly<Record<string, RouteName>> = {
  states: "states.list",
  labels: "labels.list",
  cycles: "cycles.list",
  modules: "modules.list",
  "archived-cycles": "cycles.archived",
  "archived-modules": "modules.archived",
  members: "project.members",
  "project-members": "project.members",
  "work-items": "work_items.list",
  issues: "work_items.list"
}

const DETAIL_ROUTES: Readonly<Record<string, RouteName>> = {
  states: "states.detail",
  labels: "labels.detail",
  cycles: "cycles.detail",
  modules: "modules.detail",
  "work-items": "work_items.detail",
  issues: "work_items.detail"
}

/**
 * Resolves a request path to a route, or `undefined` when no route matches. The path
 * must carry the trailing slash; server.ts redirects when only the slashed form matches.
 */
export const matchRoute = (path: string, mode: WorkItemsRoute): RouteMatch | undefined => {
  const prefix = "/api/v1/"
  if (!path.startsWith(prefix) || !path.endsWith("/")) return undefined
  let seg: Array<string>
  try {
    seg = path.slice(prefix.length, -1).split("/").map(decodeURIComponent)
  } catch {
    return undefined
  }
  if (seg.some((s) => s === "")) return undefined
  const itemsSegment = (s: string | undefined) => s === "issues" || (s === "work-items" && mode === "both")
  const m = (name: RouteName, slug = "", project = "", id = "", key = ""): RouteMatch => ({ name, slug, project, id, key })
  const n = seg.length

  if (n === 2 && seg[0] === "users" && seg[1] === "me") return m("users.me")
  if (seg[0] !== "workspaces" || n < 3) return undefined
  const slug = seg[1]!
  if (n === 3 && seg[2] === "members") return m("workspace.members", slug)
  if (n === 3 && seg[2] === "projects") return m("projects.list", slug)
  if (n === 4 && itemsSegment(seg[2]) && /^.+-.+$/.test(seg[3]!)) return m("work_items.by_key", slug, "", "", seg[3]!)
  if (seg[2] !== "projects" || n < 4 || !UUID.test(seg[3]!)) return undefined
  const project = seg[3]!
  if (n === 4) return m("projects.detail", slug, project)
  const resource = seg[4]!
  if ((resource === "work-items" || resource === "issues") && !itemsSegment(resource)) return undefined
  if (n === 5) {
    const name = LIST_ROUTES[resource]
    return name === undefined ? undefined : m(name, slug, project)
  }
  if (!UUID.test(seg[5]!)) return undefined
  if (n === 6) {
    const name = DETAIL_ROUTES[resource]
    return name === undefined ? undefined : m(name, slug, project, seg[5]!)
  }
  if (n === 7 && resource === "cycles" && seg[6] === "cycle-issues") return m("cycle.work_items", slug, project, seg[5]!)
  if (n === 7 && resource === "modules" && seg[6] === "module-issues") return m("module.work_items", slug, project, seg[5]!)
  return undefined
}

/** Everything a handler needs. */
export interface ApiContext {
  readonly store: SimulatorStore
  readonly settings: ApiSettings
  readonly hooks: PageHooks
  readonly query: URLSearchParams
  /** Per-record fault hook (bad records). */
  readonly corrupt: ((record: RecordData) => RecordData) | undefined
  /** Current time in ms (for `cycle_view`). */
  readonly nowMs: number
}

/** Fixed orderings of the lists that ignore `order_by`. */
const FIXED_ORDER: Readonly<Partial<Record<Entity, string>>> = {
  states: "sequence",
  labels: "-created_at",
  cycles: "-created_at",
  modules: "-created_at"
}

const renderOptions = (ctx: ApiContext): RenderOptions => ({
  fields: parseNameList(queryParam(ctx.query, "fields")),
  expand: parseNameList(queryParam(ctx.query, "expand")),
  corrupt: ctx.corrupt
})

/** One object response (detail routes). */
const detail = (ctx: ApiContext, ws: Workspace, row: Row): ApiResponse => ({
  status: 200,
  body: renderRow(ws, row, renderOptions(ctx))
})

/**
 * A paginated list: paging parameters are validated first (400), then the ordering
 * (500 on an unknown field), then `rows(ordering, page)` builds the ordered result set.
 */
const paginated = (
  ctx: ApiContext,
  ws: Workspace,
  entity: Entity,
  orderParam: string,
  special: boolean,
  rows: (ordering: Ordering, page: PageRequest) => ReadonlyArray<Row>,
  hook?: { readonly scope: string }
): ApiResponse => {
  const page = parsePageRequest(ctx.query, ctx.settings.maxPerPage, ctx.settings.oversizedPerPage)
  if (isPaginationError(page)) return json(page.status, page.body)
  const ordering = resolveOrdering(orderParam, entity, ws, special)
  if (ordering === undefined) return SERVER_ERROR
  const all = rows(ordering, page)
  const opts = renderOptions(ctx)
  const body = renderPage(page, all, (row) => renderRow(ws, row, opts))
  if (hook !== undefined && ctx.hooks.pending(entity)) ctx.hooks.afterPage(ws, entity, hook.scope, page.page, all)
  return { status: 200, body }
}

const EMPTY: ReadonlyArray<Row> = []

/** The row of a project-scoped detail route, or undefined. */
const childRow = (ws: Workspace, entity: Entity, match: RouteMatch): Row | undefined => {
  const row = ws.live(entity, match.id)
  return row !== undefined && row.project === match.project ? row : undefined
}

/** Whether a work item may be shown by a detail route (Plane's `issue_objects`, plus archived ones if configured). */
const workItemVisible = (ctx: ApiContext, ws: Workspace, row: Row): boolean =>
  ws.isListed(row) || (ctx.settings.archivedWorkItemDetail === "ok" && ws.isArchivedListed(row))

const cycleViewFilter = (view: string | null, nowMs: number): ((row: Row) => boolean) | undefined => {
  const now = nowMs * 1000
  const time = (v: unknown) => (typeof v === "string" ? parseTimestamp(v) : undefined)
  switch (view) {
    case "current":
      return (r) => {
        const s = time(r.data.start_date)
        const e = time(r.data.end_date)
        return s !== undefined && e !== undefined && s <= now && now <= e
      }
    case "upcoming":
      return (r) => (time(r.data.start_date) ?? -Infinity) > now
    case "completed":
      return (r) => (time(r.data.end_date) ?? Infinity) < now
    case "draft":
      return (r) => r.data.start_date === null && r.data.end_date === null
    case "incomplete":
      return (r) => r.data.end_date === null || (time(r.data.end_date) ?? Infinity) >= now
    default:
      return undefined
  }
}

/** Answers an authenticated, allowed GET on a matched route. */
export const handleApi = (match: RouteMatch, ctx: ApiContext): ApiResponse => {
  const { store, query } = ctx
  if (match.name === "users.me") return json(200, userLite(store.owner))

  // Every workspace route first checks that the key's owner is a member of the workspace
  // (Plane's permission classes): an unknown slug fails that check like a foreign one, 403.
  const ws = store.workspaces.get(match.slug)
  if (ws === undefined || !ws.keyOwnerIsMember) return NO_PERMISSION

  switch (match.name) {
    case "workspace.members":
      return json(
        200,
        ws.members.map((m) => ({ ...userLite(m), role: m.role }))
      )
    case "projects.list":
      // Default order: the caller's `sort_order`, the same for every project it has not
      // reordered, and no tie-breaker: ties come back in a different order on every page.
      return paginated(
        ctx,
        ws,
        "projects",
        queryParam(query, "order_by") ?? "sort_order",
        false,
        (o, page) => {
          const rows = ws.listView("projects", "", o)
          return o.key === "sort_order" || o.key === "-sort_order" ? shuffleTies(rows, o, `${page.perPage}:${page.page}`) : rows
        },
        { scope: "" }
      )
    case "projects.detail": {
      const row = ws.live("projects", match.project)
      return row === undefined ? OBJECT_NOT_FOUND : detail(ctx, ws, row)
    }
    case "work_items.by_key": {
      const dash = match.key.lastIndexOf("-")
      const identifier = match.key.slice(0, dash)
      const sequence = match.key.slice(dash + 1)
      const project = ws.projects.rows.find((p) => p.data.deleted_at === null && p.data.identifier === identifier)
      if (project === undefined) return OBJECT_NOT_FOUND
      if (ws.projectAccess(project.id) === "forbidden") return NO_PERMISSION
      if (!/^\d+$/.test(sequence) || ws.projectAccess(project.id) === "archived") return OBJECT_NOT_FOUND
      const seq = Number(sequence)
      const row = ws.workItems.inScope(project.id).find((r) => r.data.sequence_id === seq && r.data.deleted_at === null)
      return row === undefined || !workItemVisible(ctx, ws, row) ? OBJECT_NOT_FOUND : detail(ctx, ws, row)
    }
    default:
      break
  }

  // Everything below is project-scoped: ProjectEntityPermission first. Labels are the
  // exception: their views only check workspace membership (ProjectMemberPermission) and
  // filter rows by project membership, so a project the key's owner has not joined (or
  // that does not exist) has an empty label list and no label details.
  const access = ws.projectAccess(match.project)
  if (access === "forbidden") {
    if (match.name === "labels.list") return paginated(ctx, ws, "labels", FIXED_ORDER.labels!, false, () => EMPTY)
    return match.name === "labels.detail" ? OBJECT_NOT_FOUND : NO_PERMISSION
  }
  // States, labels and work items of an archived project are hidden; its cycles and modules
  // are still listed (their views do not filter on the project's `archived_at`).
  const archivedProject = access === "archived"
  const scope = match.project

  switch (match.name) {
    case "project.members":
      return json(
        200,
        (ws.projectMembers.get(scope) ?? []).flatMap((id) => {
          const u = ws.usersById.get(id)
          return u === undefined ? [] : [userLite(u)]
        })
      )

    case "states.list":
    case "labels.list":
    case "modules.list": {
      const entity: Entity = match.name === "states.list" ? "states" : match.name === "labels.list" ? "labels" : "modules"
      const rows = (o: Ordering) => (archivedProject && entity !== "modules" ? EMPTY : ws.listView(entity, scope, o))
      return paginated(ctx, ws, entity, FIXED_ORDER[entity]!, false, rows, { scope })
    }
    case "cycles.list": {
      const filter = cycleViewFilter(queryParam(query, "cycle_view"), ctx.nowMs)
      if (queryParam(query, "cycle_view") === "current") {
        const ordering = resolveOrdering("-created_at", "cycles", ws, false)!
        const rows = ws.listView("cycles", scope, ordering).filter(filter!)
        const opts = renderOptions(ctx)
        return { status: 200, body: `[${rows.map((r) => renderRow(ws, r, opts)).join(",")}]` }
      }
      return paginated(
        ctx,
        ws,
        "cycles",
        "-created_at",
        false,
        (o) => {
          const rows = ws.listView("cycles", scope, o)
          return filter === undefined ? rows : rows.filter(filter)
        },
        { scope }
      )
    }
    case "cycles.archived":
    case "modules.archived": {
      const entity: Entity = match.name === "cycles.archived" ? "cycles" : "modules"
      return paginated(ctx, ws, entity, "-created_at", false, (o) => ws.archivedView(entity, scope, o))
    }

    case "work_items.list": {
      const externalId = queryParam(query, "external_id")
      const externalSource = queryParam(query, "external_source")
      if (externalId !== null && externalId !== "" && externalSource !== null && externalSource !== "") {
        // Plane looks this up with `Issue.objects`: archived and draft items are found too.
        const row = ws.workItems
          .inScope(scope)
          .find((r) => r.data.deleted_at === null && r.data.external_id === externalId && r.data.external_source === externalSource)
        return row === undefined ? OBJECT_NOT_FOUND : detail(ctx, ws, row)
      }
      return paginated(
        ctx,
        ws,
        "work_items",
        queryParam(query, "order_by") ?? "-created_at",
        true,
        (o) => (archivedProject ? EMPTY : ws.listView("work_items", scope, o)),
        { scope }
      )
    }
    case "cycle.work_items":
    case "module.work_items": {
      const kind = match.name === "cycle.work_items" ? "cycles" : "modules"
      const owner = childRow(ws, kind, match)
      if (owner === undefined) return OBJECT_NOT_FOUND
      // Work items of an archived project are hidden everywhere (Plane's `issue_objects`).
      return paginated(ctx, ws, "work_items", queryParam(query, "order_by") ?? "created_at", false, (o) =>
        archivedProject ? EMPTY : ws.membershipView(kind, owner.id, scope, o)
      )
    }

    case "states.detail":
    case "labels.detail":
    case "cycles.detail":
    case "modules.detail":
    case "work_items.detail": {
      const entity = match.name.slice(0, match.name.indexOf(".")) as Entity
      if (archivedProject && entity !== "cycles" && entity !== "modules") return OBJECT_NOT_FOUND
      const row = childRow(ws, entity, match)
      if (row === undefined) return OBJECT_NOT_FOUND
      const visible = entity === "work_items" ? workItemVisible(ctx, ws, row) : ws.isListed(row)
      return visible ? detail(ctx, ws, row) : OBJECT_NOT_FOUND
    }
    default:
      return PAGE_NOT_FOUND
  }
}
