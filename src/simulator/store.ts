/**
 * The simulator's data: every workspace, the API key's owner, and the whole-workspace
 * queries the admin API offers (counts and record dumps that match a full walk of the
 * public list endpoints).
 */
import { generateWorkspace, keyOwner } from "./generate.js"
import type { WorkspaceSpec } from "./generate.js"
import type { Entity, Row, User } from "./model.js"
import type { SimClock } from "./time.js"
import { SimulatorError } from "./workspace.js"
import type { Workspace } from "./workspace.js"

/** Per-entity numbers. */
export interface EntityCounts {
  readonly projects: number
  readonly states: number
  readonly labels: number
  readonly cycles: number
  readonly modules: number
  readonly work_items: number
}

/**
 * Counts of a workspace. The top-level numbers are exactly what a full walk of the list
 * endpoints returns (projects include archived ones, as Plane lists them; children of
 * archived or forbidden projects are not counted: a sync does not walk them, though Plane
 * still lists the cycles and modules of an archived project). `archived` counts what the
 * `archived-*` lists return plus archived work items and projects; `deleted` counts
 * soft-deleted records.
 */
export interface WorkspaceCounts extends EntityCounts {
  readonly archived: { readonly projects: number; readonly cycles: number; readonly modules: number; readonly work_items: number }
  readonly deleted: EntityCounts
}

const CHILD_ENTITIES = ["states", "labels", "cycles", "modules", "work_items"] as const

export class SimulatorStore {
  readonly workspaces = new Map<string, Workspace>()
  readonly owner: User
  /** The keys the v1 API accepts (`apiKey` at first); `PUT /__admin/api-keys` replaces them, to test a key rotation. */
  acceptedKeys: ReadonlySet<string>
  /** Requests per key that passed the key check, counted since the start. */
  readonly requestsByKey = new Map<string, number>()

  constructor(
    readonly apiKey: string,
    readonly clock: SimClock
  ) {
    this.owner = keyOwner(apiKey)
    this.acceptedKeys = new Set([apiKey])
  }

  /** Generates and registers a workspace; the slug must be new. */
  addWorkspace(spec: WorkspaceSpec): Workspace {
    if (spec.slug === "" || spec.slug.includes("/")) throw new SimulatorError(400, `invalid workspace slug "${spec.slug}"`)
    if (this.workspaces.has(spec.slug)) throw new SimulatorError(409, `workspace "${spec.slug}" already exists`)
    const ws = generateWorkspace(spec, this.owner, this.clock)
    this.workspaces.set(ws.slug, ws)
    return ws
  }

  get slugs(): Array<string> {
    return [...this.workspaces.keys()]
  }

  /** The workspace of `slug`, or the first one when `slug` is absent. */
  workspace(slug: string | null | undefined): Workspace {
    const ws = slug === null || slug === undefined ? this.workspaces.values().next().value : this.workspaces.get(slug)
    if (ws === undefined) throw new SimulatorError(404, `unknown workspace "${slug ?? ""}"`)
    return ws
  }

  /** Finds the workspace holding a record id (for admin calls without `workspace=`). */
  workspaceOf(entity: Entity, id: string, slug: string | null): Workspace {
    if (slug !== null) return this.workspace(slug)
    for (const ws of this.workspaces.values()) if (ws.collection(entity).byId.has(id)) return ws
    throw new SimulatorError(404, `no ${entity} record ${id} in any workspace`)
  }

  counts(ws: Workspace): WorkspaceCounts {
    const listed = { states: 0, labels: 0, cycles: 0, modules: 0, work_items: 0 }
    const archived = { projects: 0, cycles: 0, modules: 0, work_items: 0 }
    const deleted = { projects: 0, states: 0, labels: 0, cycles: 0, modules: 0, work_items: 0 }
    let projects = 0
    for (const p of ws.projects.rows) {
      if (p.data.deleted_at !== null) {
        deleted.projects++
        continue
      }
      projects++
      if (p.data.archived_at !== null) archived.projects++
    }
    for (const entity of CHILD_ENTITIES) {
      for (const row of ws.collection(entity).rows) {
        if (row.data.deleted_at !== null) {
          deleted[entity]++
          continue
        }
        if (row.project === null || ws.projectAccess(row.project) !== "ok") continue
        if (ws.isListed(row)) listed[entity]++
        else if (entity !== "states" && entity !== "labels" && ws.isArchivedListed(row)) archived[entity]++
      }
    }
    return { projects, ...listed, archived, deleted }
  }

  /**
   * Every current record of `entity`, as a full walk of the list endpoints sees them
   * (insertion order, grouped by project). With `includeArchived`, archived cycles,
   * modules and work items (of visible projects) are included too. `project` narrows
   * to one project.
   */
  records(ws: Workspace, entity: Entity, includeArchived: boolean, project?: string): Array<Row> {
    if (entity === "projects") {
      return ws.projects.rows.filter((r) => r.data.deleted_at === null && (project === undefined || r.id === project))
    }
    const out: Array<Row> = []
    for (const p of ws.projects.rows) {
      if (project !== undefined && p.id !== project) continue
      if (ws.projectAccess(p.id) !== "ok") continue
      for (const row of ws.collection(entity).inScope(p.id)) {
        if (ws.isListed(row) || (includeArchived && ws.isArchivedListed(row))) out.push(row)
      }
    }
    return out
  }
}
