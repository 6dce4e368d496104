/**
 * Turning stored rows into the JSON the v1 API returns.
 *
 * - Computed annotations (a project's `total_*`, a cycle's or module's `*_issues`) are
 *   filled in at serialisation time; other rows are stored exactly as served, and their
 *   JSON text is cached on the row until it changes.
 * - `fields=a,b` is an allow-list in serializer key order; unknown names are ignored
 *   (so a list of only unknown names gives `{}`, as Plane's BaseSerializer does).
 * - `expand=` replaces ids by objects following Plane's mapping (plane-api.md §2);
 *   unknown names are ignored.
 * - The bad-record fault hook sees each record last and may return a broken copy.
 */
import { userLite } from "./model.js"
import type { Json, RecordData, Row } from "./model.js"
import type { Workspace } from "./workspace.js"

export interface RenderOptions {
  readonly fields?: ReadonlySet<string> | undefined
  readonly expand?: ReadonlySet<string> | undefined
  readonly corrupt?: ((record: RecordData) => RecordData) | undefined
}

/** Parses a comma-separated query parameter (`fields`, `expand`); empty → undefined. */
export const parseNameList = (value: string | null): ReadonlySet<string> | undefined => {
  if (value === null) return undefined
  const names = value.split(",").filter((n) => n !== "")
  return names.length === 0 ? undefined : new Set(names)
}

/** The API object of a row, computed annotations included. May return `row.data` itself: do not mutate. */
export const recordObject = (ws: Workspace, row: Row): RecordData => {
  switch (row.entity) {
    case "projects":
      return { ...row.data, ...ws.projectCounts(row.id) }
    case "cycles":
    case "modules":
      return { ...row.data, ...ws.issueCounts(row.entity, row.id) }
    default:
      return row.data
  }
}

const hasComputedFields = (row: Row): boolean =>
  row.entity === "projects" || row.entity === "cycles" || row.entity === "modules"

/** Plain JSON text of a row (cached where the row has no computed fields). */
export const rowJson = (ws: Workspace, row: Row): string => {
  if (hasComputedFields(row)) return JSON.stringify(recordObject(ws, row))
  if (row.json === undefined) row.json = JSON.stringify(row.data)
  return row.json
}

const USER_FIELDS = new Set(["created_by", "updated_by", "owned_by", "lead", "project_lead", "default_assignee"])
const USER_LIST_FIELDS = new Set(["assignees", "members"])

const userOrNull = (ws: Workspace, id: Json | undefined): Json => {
  if (typeof id !== "string") return null
  const u = ws.usersById.get(id)
  return u === undefined ? id : userLite(u)
}

/** The expanded value of `field`, or undefined when there is no expansion for it. */
const expandField = (ws: Workspace, row: Row, field: string, value: Json | undefined): Json | undefined => {
  if (USER_FIELDS.has(field)) return userOrNull(ws, value)
  if (USER_LIST_FIELDS.has(field) && Array.isArray(value)) return value.map((id) => userOrNull(ws, id))
  switch (field) {
    case "state": {
      const s = typeof value === "string" ? ws.states.byId.get(value) : undefined
      return s === undefined ? null : { id: s.id, name: s.data.name!, color: s.data.color!, group: s.data.group! }
    }
    case "labels":
      if (!Array.isArray(value)) return undefined
      return value.flatMap((id) => {
        const l = typeof id === "string" ? ws.labels.byId.get(id) : undefined
        return l === undefined ? [] : [l.data]
      })
    case "project": {
      const p = typeof value === "string" ? ws.projects.byId.get(value) : undefined
      if (p === undefined) return null
      const d = p.data
      return {
        id: p.id,
        identifier: d.identifier!,
        name: d.name!,
        cover_image: d.cover_image!,
        icon_prop: d.icon_prop!,
        emoji: d.emoji!,
        description: d.description!,
        cover_image_url: d.cover_image_url!
      }
    }
    case "workspace":
      return { name: ws.name, slug: ws.slug, id: ws.id }
    case "parent": {
      if (typeof value !== "string") return null
      if (row.entity === "work_items") {
        const p = ws.workItems.byId.get(value)
        return p === undefined ? null : { id: p.id, sequence_id: p.data.sequence_id!, project_id: p.project }
      }
      if (row.entity === "labels") return ws.labels.byId.get(value)?.data ?? null
      return undefined
    }
    default:
      return undefined
  }
}

/** JSON text of a row for a request with `fields`/`expand`/fault options. */
export const renderRow = (ws: Workspace, row: Row, opts: RenderOptions): string => {
  const { fields, expand, corrupt } = opts
  if (fields === undefined && expand === undefined) {
    if (corrupt === undefined) return rowJson(ws, row)
    const base = recordObject(ws, row)
    const out = corrupt(base)
    return out === base ? rowJson(ws, row) : JSON.stringify(out)
  }
  const base = recordObject(ws, row)
  let obj: RecordData = {}
  for (const key of Object.keys(base)) {
    if (fields !== undefined && !fields.has(key)) continue
    let value: Json = base[key] ?? null
    if (expand !== undefined && expand.has(key)) {
      const expanded = expandField(ws, row, key, value)
      if (expanded !== undefined) value = expanded
    }
    obj[key] = value
  }
  if (corrupt !== undefined) obj = corrupt(obj)
  return JSON.stringify(obj)
}
