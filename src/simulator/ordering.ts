/**
 * `order_by` as Plane's v1 views apply it (plane-api.md §5.1, §8.5).
 *
 * A plain field name (optionally prefixed with `-`) sorts by that model field, the way
 * Django's `queryset.order_by(param)` does on PostgreSQL: NULLs sort as the largest value
 * (last ascending, first descending), datetimes as instants. An unknown name makes Django
 * raise, which Plane turns into a 500; `resolveOrdering` returns `undefined` for it.
 *
 * The work-item list also has Plane's special orderings: `priority` (urgency order),
 * `state__group`/`state__name` (workflow order of the state's group), and
 * `labels__name`/`assignees__first_name` (maximum related value).
 *
 * Plane adds no tie-breaker. The simulator breaks ties by insertion order, which is what
 * a database scan returns consistently while nothing changes.
 */
import { FIELD_NAMES, PRIORITY_ORDER, STATE_GROUP_ORDER, TEMPORAL_FIELDS } from "./model.js"
import type { Entity, Json, Row } from "./model.js"
import { hashSeed } from "./random.js"
import { parseTimestamp } from "./time.js"

/** A comparable value: numbers sort before strings; `null` is larger than everything. */
export type SortValue = number | string | null

export interface Ordering {
  /** Canonical name, used as the cache key of sorted views (e.g. `-created_at`). */
  readonly key: string
  readonly desc: boolean
  readonly valueOf: (row: Row) => SortValue
}

/** Lookups the relational orderings need. */
export interface OrderingLookups {
  readonly stateGroup: (stateId: string) => string | undefined
  readonly labelName: (labelId: string) => string | undefined
  readonly userFirstName: (userId: string) => string | undefined
}

/** Foreign-key fields, which Django also accepts as `<field>_id`. */
const FOREIGN_KEYS: ReadonlySet<string> = new Set([
  "project",
  "workspace",
  "created_by",
  "updated_by",
  "state",
  "parent",
  "estimate_point",
  "type",
  "default_assignee",
  "project_lead",
  "owned_by",
  "lead",
  "default_state",
  "estimate",
  "cover_image_asset"
])

/** Turns a stored JSON value into something `compareValues` understands. */
export const toSortValue = (field: string, value: Json | undefined): SortValue => {
  if (value === null || value === undefined) return null
  if (typeof value === "number") return value
  if (typeof value === "boolean") return value ? 1 : 0
  if (typeof value === "string") {
    if (TEMPORAL_FIELDS.has(field)) return parseTimestamp(value) ?? value
    return value
  }
  if (Array.isArray(value)) {
    // A many-to-many field: Django joins, we take the largest related value.
    let max: string | null = null
    for (const v of value) if (typeof v === "string" && (max === null || v > max)) max = v
    return max
  }
  return JSON.stringify(value)
}

/** Ascending comparison with PostgreSQL's NULL placement (NULL is the largest value). */
export const compareValues = (a: SortValue, b: SortValue): number => {
  if (a === b) return 0
  if (a === null) return 1
  if (b === null) return -1
  if (typeof a === "number" && typeof b === "number") return a - b
  if (typeof a === "number") return -1
  if (typeof b === "number") return 1
  return a < b ? -1 : a > b ? 1 : 0
}

const fieldOrdering = (key: string, field: string, desc: boolean): Ordering => ({
  key,
  desc,
  valueOf: (row) => toSortValue(field, row.data[field])
})

/**
 * Resolves an `order_by` parameter for a list of `entity`, or `undefined` when Django
 * would fail on it (the caller answers 500). `special` enables the work-item list's
 * custom orderings; elsewhere (cycle and module work-item lists) the parameter goes
 * straight to `order_by`.
 */
export const resolveOrdering = (
  param: string,
  entity: Entity,
  lookups: OrderingLookups,
  special: boolean
): Ordering | undefined => {
  const desc = param.startsWith("-")
  const name = desc ? param.slice(1) : param

  if (special && entity === "work_items") {
    if (name === "priority") {
      const order: ReadonlyArray<string> = desc ? [...PRIORITY_ORDER].reverse() : PRIORITY_ORDER
      // Plane annotates the position as a CharField and sorts it ascending.
      return {
        key: param,
        desc: false,
        valueOf: (row) => {
          const i = order.indexOf(String(row.data.priority))
          return i < 0 ? null : String(i)
        }
      }
    }
    if (name === "state__name" || name === "state__group") {
      const order: ReadonlyArray<string> = desc ? [...STATE_GROUP_ORDER].reverse() : STATE_GROUP_ORDER
      return {
        key: desc ? "-state__group" : "state__group",
        desc: false,
        valueOf: (row) => {
          const state = row.data.state
          const group = typeof state === "string" ? lookups.stateGroup(state) : undefined
          const i = group === undefined ? -1 : order.indexOf(group)
          return String(i < 0 ? order.length : i)
        }
      }
    }
    if (name === "labels__name" || name === "assignees__first_name") {
      const [listField, lookup] =
        name === "labels__name"
          ? (["labels", (id: string) => lookups.labelName(id)] as const)
          : (["assignees", (id: string) => lookups.userFirstName(id)] as const)
      return {
        key: param,
        desc,
        valueOf: (row) => {
          const ids = row.data[listField]
          let max: string | null = null
          if (Array.isArray(ids)) {
            for (const id of ids) {
              const v = typeof id === "string" ? lookup(id) : undefined
              if (v !== undefined && (max === null || v > max)) max = v
            }
          }
          return max
        }
      }
    }
  }

  const fields = FIELD_NAMES[entity]
  if (name === "pk") return fieldOrdering(desc ? "-id" : "id", "id", desc)
  if (fields.has(name)) return fieldOrdering(param, name, desc)
  if (name.endsWith("_id")) {
    const fk = name.slice(0, -3)
    if (FOREIGN_KEYS.has(fk) && fields.has(fk)) return fieldOrdering(desc ? `-${fk}` : fk, fk, desc)
  }
  return undefined
}

/** Returns `rows` sorted by `ordering`, ties kept in insertion order. Does not mutate `rows`. */
export const sortRows = (rows: ReadonlyArray<Row>, ordering: Ordering): Array<Row> => {
  const decorated = rows.map((row) => ({ row, value: ordering.valueOf(row) }))
  const sign = ordering.desc ? -1 : 1
  decorated.sort((a, b) => sign * compareValues(a.value, b.value) || a.row.seq - b.row.seq)
  return decorated.map((d) => d.row)
}

/**
 * `rows` (already sorted by `ordering`) with each run of equal sort values put in an order
 * that depends on `salt`. PostgreSQL returns tied rows of an `ORDER BY ... LIMIT ... OFFSET`
 * in whatever order its plan produces, and that order differs between queries with
 * different offsets: Plane's projects list, ordered by the member's `sort_order` (the same
 * value for every project), can repeat or skip projects from one page to the next. Salting
 * with the page reproduces that deterministically.
 */
export const shuffleTies = (rows: ReadonlyArray<Row>, ordering: Ordering, salt: string): ReadonlyArray<Row> => {
  let out: Array<Row> | undefined
  for (let i = 0; i < rows.length; ) {
    const value = ordering.valueOf(rows[i]!)
    let j = i + 1
    while (j < rows.length && compareValues(ordering.valueOf(rows[j]!), value) === 0) j++
    if (j - i > 1) {
      out ??= [...rows]
      const run = rows.slice(i, j).map((row) => ({ row, key: hashSeed(salt, row.id) }))
      run.sort((a, b) => a.key - b.key)
      for (let k = 0; k < run.length; k++) out[i + k] = run[k]!.row
    }
    i = j
  }
  return out ?? rows
}
