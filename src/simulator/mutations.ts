/**
 * Scripted data changes for tests and benchmarks:
 *
 * - `mutateRandomly`: N deterministic random updates, creates, deletes and archives.
 * - `PageHooks`: one-shot actions that run right after a given page of a list has been
 *   served, to reproduce the offset-pagination hazards of a live source (a row deleted
 *   from an already-served page shifts later rows back by one, so a walk skips one; a row
 *   created or moved to the front shifts them forward, so a walk sees one twice).
 */
import { ARCHIVABLE, PRIORITY_ORDER } from "./model.js"
import type { Entity, Json, Row } from "./model.js"
import { Rng } from "./random.js"
import { SimulatorError } from "./workspace.js"
import type { Workspace } from "./workspace.js"

// ------------------------------------------------------------------ random mutations

export interface MutateSpec {
  readonly entity?: Entity
  readonly seed?: number
  readonly updates?: number
  readonly creates?: number
  readonly deletes?: number
  readonly archives?: number
}

export interface MutateResult {
  readonly updated: Array<string>
  readonly created: Array<string>
  readonly deleted: Array<string>
  readonly archived: Array<string>
}

/** Live, listed rows of `entity` in projects whose children are visible. */
const candidates = (ws: Workspace, entity: Entity): Array<Row> => {
  if (entity === "projects") return ws.projects.rows.filter((r) => r.data.deleted_at === null && r.data.archived_at === null)
  return ws.collection(entity).rows.filter((r) => r.project !== null && ws.projectAccess(r.project) === "ok" && ws.isListed(r))
}

/** A random but plausible edit of a record. */
const randomPatch = (ws: Workspace, row: Row, rng: Rng): Record<string, Json> => {
  if (row.entity !== "work_items") return { name: `${String(row.data.name)} (rev ${rng.hex(4)})` }
  const project = row.project ?? ""
  switch (rng.int(4)) {
    case 0:
      return { priority: rng.pick(PRIORITY_ORDER) }
    case 1: {
      const states = ws.states.inScope(project).filter((s) => ws.isListed(s))
      return states.length > 0 ? { state: rng.pick(states).id } : { priority: rng.pick(PRIORITY_ORDER) }
    }
    case 2: {
      const labels = ws.labels.inScope(project).filter((l) => ws.isListed(l))
      return { labels: rng.sample(labels, rng.int(3)).map((l) => l.id) }
    }
    default:
      return { name: `${String(row.data.name).replace(/ \(rev [0-9a-f]{4}\)$/, "")} (rev ${rng.hex(4)})` }
  }
}

/** Applies deterministic random changes; each existing record is touched at most once. */
export const mutateRandomly = (ws: Workspace, spec: MutateSpec): MutateResult => {
  const entity = spec.entity ?? "work_items"
  const count = (n: number | undefined, name: string): number => {
    if (n === undefined) return 0
    if (!Number.isInteger(n) || n < 0) throw new SimulatorError(400, `"${name}" must be a non-negative integer`)
    return n
  }
  const updates = count(spec.updates, "updates")
  const creates = count(spec.creates, "creates")
  const deletes = count(spec.deletes, "deletes")
  const archives = count(spec.archives, "archives")
  if (archives > 0 && !ARCHIVABLE.has(entity)) throw new SimulatorError(400, `${entity} cannot be archived`)

  const rng = ws.nextMutationRng(spec.seed)
  const pool = rng.sample(candidates(ws, entity), updates + deletes + archives)
  const result: MutateResult = { updated: [], created: [], deleted: [], archived: [] }
  let next = 0
  for (let i = 0; i < updates && next < pool.length; i++) {
    const row = pool[next++]!
    ws.update(entity, row.id, randomPatch(ws, row, rng))
    result.updated.push(row.id)
  }
  for (let i = 0; i < deletes && next < pool.length; i++) {
    const row = pool[next++]!
    ws.remove(entity, row.id)
    result.deleted.push(row.id)
  }
  for (let i = 0; i < archives && next < pool.length; i++) {
    const row = pool[next++]!
    ws.setArchived(entity, row.id, true)
    result.archived.push(row.id)
  }
  const projects = candidates(ws, "projects")
  for (let i = 0; i < creates; i++) {
    if (entity !== "projects" && projects.length === 0) break
    const body: Record<string, Json> = entity === "projects" ? {} : { project: rng.pick(projects).id }
    result.created.push(ws.create(entity, body, rng).id)
  }
  return result
}

// ------------------------------------------------------------------ page hooks

export type HookAction = "create" | "delete" | "update"

export interface PageHookSpec {
  readonly workspace?: string
  readonly entity: Entity
  /** Only lists of this project (default: any project). */
  readonly project?: string
  /** 0-based page number (the cursor's middle part) after which the action runs. */
  readonly afterPage: number
  readonly action: HookAction
  readonly count?: number
  /**
   * Which rows of the list as just ordered an update or delete takes: the first `count`
   * (page 0, default for delete) or the last `count` (default for update, so that under
   * `-updated_at` the edited row jumps from an unread page to the front).
   */
  readonly target?: "first" | "last"
}

export interface PageHook {
  readonly id: number
  readonly workspace: string
  readonly entity: Entity
  readonly project: string | null
  readonly afterPage: number
  readonly action: HookAction
  readonly count: number
  readonly target: "first" | "last"
  fired: boolean
  /** Ids of the records the action created, updated or deleted. */
  affected: Array<string>
}

export class PageHooks {
  private hooks: Array<PageHook> = []
  private nextId = 1

  add(workspace: string, spec: PageHookSpec): PageHook {
    if (!Number.isInteger(spec.afterPage) || spec.afterPage < 0) {
      throw new SimulatorError(400, `"afterPage" must be an integer >= 0`)
    }
    if (!["create", "delete", "update"].includes(spec.action)) {
      throw new SimulatorError(400, `"action" must be create, delete or update`)
    }
    const count = spec.count ?? 1
    if (!Number.isInteger(count) || count < 1) throw new SimulatorError(400, `"count" must be an integer >= 1`)
    if (spec.target !== undefined && spec.target !== "first" && spec.target !== "last") {
      throw new SimulatorError(400, `"target" must be first or last`)
    }
    const hook: PageHook = {
      id: this.nextId++,
      workspace,
      entity: spec.entity,
      project: spec.project ?? null,
      afterPage: spec.afterPage,
      action: spec.action,
      count,
      target: spec.target ?? (spec.action === "update" ? "last" : "first"),
      fired: false,
      affected: []
    }
    this.hooks.push(hook)
    return hook
  }

  list(): ReadonlyArray<PageHook> {
    return this.hooks
  }

  clear(): void {
    this.hooks = []
  }

  /** True when a pending hook could match lists of `entity` (cheap pre-check). */
  pending(entity: Entity): boolean {
    return this.hooks.some((h) => !h.fired && h.entity === entity)
  }

  /**
   * Runs the pending hooks matching a list page that has just been served.
   * `scope` is the list's project id (`""` for the projects list), `rows` the whole list
   * in the order it was served.
   */
  afterPage(ws: Workspace, entity: Entity, scope: string, page: number, rows: ReadonlyArray<Row>): void {
    for (const hook of this.hooks) {
      if (hook.fired || hook.workspace !== ws.slug || hook.entity !== entity || hook.afterPage !== page) continue
      if (hook.project !== null && hook.project !== scope) continue
      hook.fired = true
      const rng = Rng.from(ws.seed, "hook", hook.id)
      if (hook.action === "create") {
        for (let i = 0; i < hook.count; i++) {
          const body: Record<string, Json> = entity === "projects" ? {} : { project: scope }
          hook.affected.push(ws.create(entity, body, rng).id)
        }
        continue
      }
      const targets = hook.target === "first" ? rows.slice(0, hook.count) : rows.slice(Math.max(0, rows.length - hook.count))
      for (const row of targets) {
        if (hook.action === "delete") ws.remove(entity, row.id)
        else ws.update(entity, row.id, randomPatch(ws, row, rng))
        hook.affected.push(row.id)
      }
    }
  }
}
