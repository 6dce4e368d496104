/**
 * Record shapes of the simulated Plane v1 API.
 *
 * Each entity is stored as the plain JSON object the API returns, with every key present
 * and in the order Plane's serializers emit them (plane-api.md §2 and §6). The templates
 * below define that order and the defaults of a new record; the workspace store keeps one
 * such object per record and only ever replaces values of existing keys.
 */

/** A JSON value. */
export type Json = null | boolean | number | string | ReadonlyArray<Json> | { readonly [key: string]: Json }

/** One record as the API serialises it (mutable inside the store). */
export type RecordData = { [key: string]: Json }

/** The entity types the simulator stores, named as the admin API and the sync engine name them. */
export const ENTITIES = ["projects", "states", "labels", "cycles", "modules", "work_items"] as const
export type Entity = (typeof ENTITIES)[number]

export const isEntity = (name: string): name is Entity => (ENTITIES as ReadonlyArray<string>).includes(name)

/** Entities that have an `archived_at` of their own (work items: a date; the others: a datetime). */
export const ARCHIVABLE: ReadonlySet<Entity> = new Set<Entity>(["projects", "cycles", "modules", "work_items"])

/**
 * A stored record. `seq` is the insertion order, the hidden secondary sort key that makes
 * every ordering stable (a database returns rows with equal sort keys in a consistent
 * order as long as nothing changes). `json` caches the plain serialisation.
 */
export interface Row {
  readonly id: string
  readonly entity: Entity
  readonly seq: number
  /** Owning project id (`null` for projects). */
  readonly project: string | null
  data: RecordData
  json: string | undefined
}

/** Plane's UserLite. */
export interface User {
  readonly id: string
  readonly first_name: string
  readonly last_name: string
  readonly email: string
  readonly avatar: string
  readonly avatar_url: string | null
  readonly display_name: string
}

export const userLite = (u: User): RecordData => ({
  id: u.id,
  first_name: u.first_name,
  last_name: u.last_name,
  email: u.email,
  avatar: u.avatar,
  avatar_url: u.avatar_url,
  display_name: u.display_name
})

/** State groups in Plane's workflow order (used by the `state__group` ordering). */
export const STATE_GROUP_ORDER = ["backlog", "unstarted", "started", "completed", "cancelled"] as const

/** Priorities in urgency order (used by the `priority` ordering). */
export const PRIORITY_ORDER = ["urgent", "high", "medium", "low", "none"] as const

/** Fields whose values are datetimes or dates (compared as instants when sorting). */
export const TEMPORAL_FIELDS: ReadonlySet<string> = new Set([
  "created_at",
  "updated_at",
  "deleted_at",
  "completed_at",
  "archived_at",
  "start_date",
  "target_date",
  "end_date"
])

/** Annotation fields computed at serialisation time (read-only through the admin API). */
export const COMPUTED_FIELDS: Readonly<Record<Entity, ReadonlyArray<string>>> = {
  projects: ["total_members", "total_cycles", "total_modules"],
  cycles: ["total_issues", "cancelled_issues", "completed_issues", "started_issues", "unstarted_issues", "backlog_issues"],
  modules: ["total_issues", "cancelled_issues", "completed_issues", "started_issues", "unstarted_issues", "backlog_issues"],
  states: [],
  labels: [],
  work_items: []
}

/** Fields that identify a record and never change. */
export const IMMUTABLE_FIELDS: ReadonlySet<string> = new Set(["id", "project", "workspace"])

/** Common values every new record gets. */
export interface RecordBase {
  readonly id: string
  readonly workspace: string
  readonly created_at: string
  readonly created_by: string | null
}

const issueCounts = (): RecordData => ({
  total_issues: 0,
  cancelled_issues: 0,
  completed_issues: 0,
  started_issues: 0,
  unstarted_issues: 0,
  backlog_issues: 0
})

/** Full templates (every key, in serializer order) with Plane's defaults. */
export const templates = {
  projects: (b: RecordBase): RecordData => ({
    id: b.id,
    total_members: 0,
    total_cycles: 0,
    total_modules: 0,
    is_member: true,
    sort_order: 65535,
    member_role: 20,
    is_deployed: false,
    cover_image_url: null,
    created_at: b.created_at,
    updated_at: b.created_at,
    deleted_at: null,
    name: "",
    description: "",
    description_text: null,
    description_html: null,
    network: 2,
    identifier: "",
    emoji: null,
    icon_prop: null,
    module_view: true,
    cycle_view: true,
    issue_views_view: true,
    page_view: true,
    intake_view: false,
    is_time_tracking_enabled: false,
    is_issue_type_enabled: false,
    guest_view_all_features: false,
    cover_image: null,
    archive_in: 0,
    close_in: 0,
    logo_props: {},
    archived_at: null,
    timezone: "UTC",
    external_source: null,
    external_id: null,
    created_by: b.created_by,
    updated_by: null,
    workspace: b.workspace,
    default_assignee: null,
    project_lead: null,
    cover_image_asset: null,
    estimate: null,
    default_state: null
  }),
  states: (b: RecordBase, project: string): RecordData => ({
    id: b.id,
    created_at: b.created_at,
    updated_at: b.created_at,
    deleted_at: null,
    name: "",
    description: "",
    color: "#60646C",
    slug: "",
    sequence: 65535,
    group: "backlog",
    is_triage: false,
    default: false,
    external_source: null,
    external_id: null,
    created_by: b.created_by,
    updated_by: null,
    project,
    workspace: b.workspace
  }),
  labels: (b: RecordBase, project: string): RecordData => ({
    id: b.id,
    created_at: b.created_at,
    updated_at: b.created_at,
    deleted_at: null,
    name: "",
    description: "",
    color: "#000000",
    sort_order: 65535,
    external_source: null,
    external_id: null,
    created_by: b.created_by,
    updated_by: null,
    workspace: b.workspace,
    project,
    parent: null
  }),
  cycles: (b: RecordBase, project: string): RecordData => ({
    id: b.id,
    ...issueCounts(),
    created_at: b.created_at,
    updated_at: b.created_at,
    deleted_at: null,
    name: "",
    description: "",
    start_date: null,
    end_date: null,
    view_props: {},
    sort_order: 65535,
    external_source: null,
    external_id: null,
    progress_snapshot: {},
    archived_at: null,
    logo_props: {},
    timezone: "UTC",
    version: 1,
    created_by: b.created_by,
    updated_by: null,
    project,
    workspace: b.workspace,
    owned_by: b.created_by
  }),
  modules: (b: RecordBase, project: string): RecordData => ({
    id: b.id,
    ...issueCounts(),
    created_at: b.created_at,
    updated_at: b.created_at,
    deleted_at: null,
    name: "",
    description: "",
    description_text: null,
    description_html: null,
    start_date: null,
    target_date: null,
    status: "planned",
    view_props: {},
    sort_order: 65535,
    external_source: null,
    external_id: null,
    archived_at: null,
    logo_props: {},
    created_by: b.created_by,
    updated_by: null,
    project,
    workspace: b.workspace,
    lead: null,
    members: []
  }),
  work_items: (b: RecordBase, project: string): RecordData => ({
    id: b.id,
    type_id: null,
    created_at: b.created_at,
    updated_at: b.created_at,
    deleted_at: null,
    point: null,
    name: "",
    description_html: "<p></p>",
    description_binary: null,
    priority: "none",
    start_date: null,
    target_date: null,
    sequence_id: 0,
    sort_order: 65535,
    completed_at: null,
    archived_at: null,
    is_draft: false,
    external_source: null,
    external_id: null,
    created_by: b.created_by,
    updated_by: null,
    project,
    workspace: b.workspace,
    parent: null,
    state: null,
    estimate_point: null,
    type: null,
    assignees: [],
    labels: []
  })
} as const

/** The key set of each entity's records (to validate admin writes). */
export const FIELD_NAMES: Readonly<Record<Entity, ReadonlySet<string>>> = (() => {
  const base: RecordBase = { id: "", workspace: "", created_at: "", created_by: null }
  return {
    projects: new Set(Object.keys(templates.projects(base))),
    states: new Set(Object.keys(templates.states(base, ""))),
    labels: new Set(Object.keys(templates.labels(base, ""))),
    cycles: new Set(Object.keys(templates.cycles(base, ""))),
    modules: new Set(Object.keys(templates.modules(base, ""))),
    work_items: new Set(Object.keys(templates.work_items(base, "")))
  }
})()

/** A new record of `entity` with defaults (`project` is ignored for projects). */
export const newRecord = (entity: Entity, base: RecordBase, project: string): RecordData =>
  entity === "projects" ? templates.projects(base) : templates[entity](base, project)
