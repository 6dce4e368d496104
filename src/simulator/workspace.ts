/**
 * The in-memory data of one simulated Plane workspace.
 *
 * Records live in one `Collection` per entity type: an insertion-ordered array, an id
 * map and per-project arrays. Soft-deleted records stay in the store with `deleted_at`
 * set (Plane's soft delete), so admin tools can still inspect them.
 *
 * Visibility follows Plane's managers and view filters (plane-api.md §2, §8.6):
 * deleted, archived, draft and triage work items are not listed; cycles and modules
 * lists exclude archived ones; the states list hides triage states; states, labels and
 * work items of an archived project are empty (its cycles and modules are still listed);
 * children of a project the key owner is not a member of (or that does not exist) answer
 * 403, except labels, which answer an empty list (routes.ts).
 *
 * Sorted views of visible rows are cached per (project, ordering) and patched with the rows
 * that changed since (see `Collection.sorted`); cycle and module issue counts are counted
 * once per owner and then kept up to date by deltas; each row caches its JSON text until
 * it changes.
 */
import { ARCHIVABLE, COMPUTED_FIELDS, FIELD_NAMES, IMMUTABLE_FIELDS, newRecord, STATE_GROUP_ORDER } from "./model.js"
import type { Entity, Json, RecordData, Row, User } from "./model.js"
import { compareValues } from "./ordering.js"
import type { Ordering, OrderingLookups, SortValue } from "./ordering.js"
import { Rng } from "./random.js"
import { formatDate, formatDateTime, parseTimestamp } from "./time.js"

/** An error of an admin-API operation, with the HTTP status it maps to. */
export class SimulatorError extends Error {
  constructor(
    readonly status: number,
    message: string
  ) {
    super(message)
    this.name = "SimulatorError"
  }
}

/** A workspace member: UserLite plus the workspace role (20 admin, 15 member, 5 guest). */
export interface Member extends User {
  readonly role: number
}

/** What a caller may see below a project. */
export type ProjectAccess = "ok" | "archived" | "forbidden"

/** Rows in order, with their sort values and `seq`s. */
interface Sorted {
  rows: Array<Row>
  values: Array<SortValue>
  seqs: Array<number>
}

/**
 * A sorted view of the rows of one scope that pass `include`, with the sort value and
 * `seq` of each row (`values[i]` and `seqs[i]` belong to `rows[i]`): merging changes then
 * reads these arrays only, not the row objects scattered over a large heap.
 * `seen` is how much of the scope's change log it has absorbed. `rows` is never mutated:
 * a change produces a new array, so a caller may keep the one it got (page hooks change
 * data while holding a served list).
 */
interface SortedView extends Sorted {
  seen: number
  readonly include: (row: Row) => boolean
  readonly ordering: Ordering
}

/** The cached views of one scope and the rows changed since some view last caught up. */
interface ScopeViews {
  readonly views: Map<string, SortedView>
  log: Array<Row>
}

/** The records of one entity type. */
export class Collection {
  readonly rows: Array<Row> = []
  readonly byId = new Map<string, Row>()
  private readonly byProject = new Map<string, Array<Row>>()
  private readonly scopes = new Map<string, ScopeViews>()

  constructor(readonly entity: Entity) {}

  add(row: Row): void {
    this.rows.push(row)
    this.byId.set(row.id, row)
    const scope = row.project ?? ""
    let list = this.byProject.get(scope)
    if (list === undefined) this.byProject.set(scope, (list = []))
    list.push(row)
    this.touch(row)
  }

  /** Every row of a project (all rows for projects, scope `""`), deleted ones included. */
  inScope(scope: string): ReadonlyArray<Row> {
    return this.byProject.get(scope) ?? []
  }

  /**
   * The rows of `scope` that pass `include`, sorted by `ordering` (ties in insertion
   * order), cached under `key`. `candidates` lists the rows a fresh build considers
   * (default: the whole scope). After changes, only the changed rows are re-filtered,
   * re-keyed and merged in: rebuilding a 5,000-row view after each edit is what made
   * lists slow after mutations. This relies on `include` and the sort value of a row
   * depending only on that row, unless a change of what else they read invalidates the
   * view (see `Workspace.changed`).
   */
  sorted(
    scope: string,
    key: string,
    include: (row: Row) => boolean,
    ordering: Ordering,
    candidates?: () => Iterable<Row>
  ): Array<Row> {
    let entry = this.scopes.get(scope)
    if (entry === undefined) this.scopes.set(scope, (entry = { views: new Map(), log: [] }))
    let view = entry.views.get(key)
    if (view === undefined) {
      const rows: Array<Row> = []
      for (const row of candidates === undefined ? this.inScope(scope) : candidates()) if (include(row)) rows.push(row)
      // The log of a scope may hold rows of other projects (see `Workspace.membershipView`):
      // only views with their own candidates may take those.
      const filter = candidates === undefined ? (row: Row) => (row.project ?? "") === scope && include(row) : include
      view = { ...sortWithValues(rows, ordering), seen: entry.log.length, include: filter, ordering }
      entry.views.set(key, view)
    } else if (view.seen < entry.log.length) {
      mergeChanges(view, new Set(entry.log.slice(view.seen)))
      view.seen = entry.log.length
    }
    this.trimLog(scope, entry)
    return view.rows
  }

  /**
   * Forgets the log once every view has absorbed it. A view nobody reads any more would
   * pin an ever-growing log: once the log outgrows the scope (merging it would cost as
   * much as a rebuild), views still behind are dropped instead.
   */
  private trimLog(scope: string, entry: ScopeViews): void {
    const n = entry.log.length
    if (n === 0) return
    const tooLong = n > this.logLimit(scope)
    let behind = false
    for (const [key, v] of entry.views) {
      if (v.seen === n) continue
      if (tooLong) entry.views.delete(key)
      else behind = true
    }
    if (behind) return
    entry.log = []
    for (const v of entry.views.values()) v.seen = 0
  }

  private logLimit(scope: string): number {
    return 256 + this.inScope(scope).length
  }

  /** Records that `row` changed, for the views of `scope` (default: its own project). */
  touch(row: Row, scope: string = row.project ?? ""): void {
    const entry = this.scopes.get(scope)
    if (entry === undefined || entry.views.size === 0) return
    entry.log.push(row)
    // Bounds the log of a scope whose views are never read again.
    if (entry.log.length > 2 * this.logLimit(scope)) this.scopes.delete(scope)
  }

  invalidate(scope: string): void {
    this.scopes.delete(scope)
  }

  invalidateAll(): void {
    this.scopes.clear()
  }
}

/** Adds `sign` times a work item in `bucket` (see `Workspace.issueBucket`) to issue counts. */
const addToCounts = (counts: Array<number>, bucket: number, sign: 1 | -1): void => {
  if (bucket < 0) return
  counts[0]! += sign
  if (bucket > 0) counts[bucket]! += sign
}

/** Ascending comparison of (value, seq) pairs in the direction of `ordering`. */
const compareEntries = (desc: boolean, va: SortValue, sa: number, vb: SortValue, sb: number): number =>
  (desc ? -compareValues(va, vb) : compareValues(va, vb)) || sa - sb

/** `sortRows`, also returning the sort value and `seq` of each row. */
const sortWithValues = (rows: ReadonlyArray<Row>, ordering: Ordering): Sorted => {
  const decorated = rows.map((row) => ({ row, value: ordering.valueOf(row), seq: row.seq }))
  decorated.sort((a, b) => compareEntries(ordering.desc, a.value, a.seq, b.value, b.seq))
  return { rows: decorated.map((d) => d.row), values: decorated.map((d) => d.value), seqs: decorated.map((d) => d.seq) }
}

/**
 * Brings a view up to date with `changed` rows: drops them, then merges back those that
 * still pass the filter, at the place their current sort value gives them. The (value,
 * seq) order is total, so the result is exactly what a fresh sort would give.
 */
const mergeChanges = (view: SortedView, changed: ReadonlySet<Row>): void => {
  const desc = view.ordering.desc
  const changedSeqs = new Set<number>()
  for (const row of changed) changedSeqs.add(row.seq)
  const added = sortWithValues([...changed].filter(view.include), view.ordering)
  const n = view.rows.length
  const rows: Array<Row> = []
  const values: Array<SortValue> = []
  const seqs: Array<number> = []
  let j = 0
  const take = (from: Sorted, k: number) => {
    rows.push(from.rows[k]!)
    values.push(from.values[k] as SortValue)
    seqs.push(from.seqs[k]!)
  }
  for (let i = 0; i < n; i++) {
    const seq = view.seqs[i]!
    if (changedSeqs.has(seq)) continue
    const value = view.values[i] as SortValue
    while (j < added.rows.length && compareEntries(desc, added.values[j] as SortValue, added.seqs[j]!, value, seq) < 0) {
      take(added, j++)
    }
    take(view, i)
  }
  while (j < added.rows.length) take(added, j++)
  view.rows = rows
  view.values = values
  view.seqs = seqs
}

export interface WorkspaceIdentity {
  readonly slug: string
  readonly id: string
  readonly name: string
  readonly seed: number
  readonly owner: User
  readonly members: ReadonlyArray<Member>
}

export class Workspace implements OrderingLookups {
  readonly slug: string
  readonly id: string
  readonly name: string
  readonly seed: number
  /** The API key's owner, an admin of this workspace. */
  readonly owner: User
  readonly members: ReadonlyArray<Member>
  readonly usersById: ReadonlyMap<string, Member>
  /**
   * Whether the key's owner belongs to the workspace (default). When not, every v1 route of
   * the workspace answers 403 like Plane's; the data stays reachable through the admin API.
   */
  keyOwnerIsMember = true

  readonly projects = new Collection("projects")
  readonly states = new Collection("states")
  readonly labels = new Collection("labels")
  readonly cycles = new Collection("cycles")
  readonly modules = new Collection("modules")
  readonly workItems = new Collection("work_items")

  /** Project id → ids of its members (UserLite list of the project-members endpoint). */
  readonly projectMembers = new Map<string, Array<string>>()
  /** Cycle membership: a work item is in at most one cycle. */
  readonly cycleOfItem = new Map<string, string>()
  readonly itemsOfCycle = new Map<string, Set<string>>()
  /** Module membership: a work item can be in several modules. */
  readonly modulesOfItem = new Map<string, Set<string>>()
  readonly itemsOfModule = new Map<string, Set<string>>()

  private insertions = 0
  /** Issue counts by `kind:ownerId`: the total, then one per STATE_GROUP_ORDER group. */
  private readonly issueCountsCache = new Map<string, Array<number>>()
  /** Work item id → the bucket the cached counts hold it in (see `issueBucket`). */
  private readonly countedBucket = new Map<string, number>()
  private readonly lastSequenceId = new Map<string, number>()
  private mutationRounds = 0

  constructor(
    identity: WorkspaceIdentity,
    /** Current time in epoch microseconds (the simulator clock). */
    readonly nowMicros: () => number
  ) {
    this.slug = identity.slug
    this.id = identity.id
    this.name = identity.name
    this.seed = identity.seed
    this.owner = identity.owner
    this.members = identity.members
    this.usersById = new Map(identity.members.map((m) => [m.id, m]))
  }

  collection(entity: Entity): Collection {
    switch (entity) {
      case "projects":
        return this.projects
      case "states":
        return this.states
      case "labels":
        return this.labels
      case "cycles":
        return this.cycles
      case "modules":
        return this.modules
      case "work_items":
        return this.workItems
    }
  }

  /** A deterministic random stream for the next `mutate` call without an explicit seed. */
  nextMutationRng(seed: number | undefined): Rng {
    return seed === undefined ? Rng.from(this.seed, "mutate", this.mutationRounds++) : Rng.from(this.seed, "mutate-seed", seed)
  }

  // ---------------------------------------------------------------- lookups

  stateGroup(stateId: string): string | undefined {
    const g = this.states.byId.get(stateId)?.data.group
    return typeof g === "string" ? g : undefined
  }

  labelName(labelId: string): string | undefined {
    const n = this.labels.byId.get(labelId)?.data.name
    return typeof n === "string" ? n : undefined
  }

  userFirstName(userId: string): string | undefined {
    return this.usersById.get(userId)?.first_name
  }

  /** A live (not deleted) record, or undefined. */
  live(entity: Entity, id: string): Row | undefined {
    const row = this.collection(entity).byId.get(id)
    return row === undefined || row.data.deleted_at !== null ? undefined : row
  }

  // ---------------------------------------------------------------- visibility

  /** Whether the caller may list the children of `projectId` (see `ProjectAccess`). */
  projectAccess(projectId: string): ProjectAccess {
    const project = this.live("projects", projectId)
    if (project === undefined || project.data.is_member === false) return "forbidden"
    return project.data.archived_at === null ? "ok" : "archived"
  }

  /** Whether a row appears in its normal (non-archived) list, ignoring its project. */
  isListed(row: Row): boolean {
    const d = row.data
    if (d.deleted_at !== null) return false
    switch (row.entity) {
      case "work_items": {
        if (d.archived_at !== null || d.is_draft === true) return false
        const state = typeof d.state === "string" ? this.states.byId.get(d.state) : undefined
        return state === undefined || state.data.is_triage !== true
      }
      case "states":
        return d.is_triage !== true
      case "cycles":
      case "modules":
        return d.archived_at === null
      case "projects":
      case "labels":
        return true
    }
  }

  /** Whether a row appears in an `archived-*` list (or is an archived work item). */
  isArchivedListed(row: Row): boolean {
    const d = row.data
    if (d.deleted_at !== null || d.archived_at === null || d.archived_at === undefined) return false
    if (row.entity === "work_items") {
      const state = typeof d.state === "string" ? this.states.byId.get(d.state) : undefined
      return d.is_draft !== true && (state === undefined || state.data.is_triage !== true)
    }
    return ARCHIVABLE.has(row.entity)
  }

  /** Sorted visible rows of a list (cached, see `Collection.sorted`). */
  listView(entity: Entity, scope: string, ordering: Ordering): Array<Row> {
    return this.collection(entity).sorted(scope, `list:${ordering.key}`, this.isListedFn, ordering)
  }

  /** Sorted rows of an `archived-*` list. */
  archivedView(entity: Entity, scope: string, ordering: Ordering): Array<Row> {
    return this.collection(entity).sorted(scope, `archived:${ordering.key}`, this.isArchivedListedFn, ordering)
  }

  /**
   * Sorted visible work items of a cycle or module (`cycle-issues/`, `module-issues/`),
   * cached in the owner's project. Membership may cross projects (the admin API allows
   * it), so membership changes and changes of member items are also reported to the
   * owner's project (`touchOwnerView`).
   */
  membershipView(kind: "cycles" | "modules", ownerId: string, scope: string, ordering: Ordering): Array<Row> {
    const isMember =
      kind === "cycles"
        ? (row: Row) => this.cycleOfItem.get(row.id) === ownerId
        : (row: Row) => this.modulesOfItem.get(row.id)?.has(ownerId) === true
    return this.workItems.sorted(
      scope,
      `${kind}:${ownerId}:${ordering.key}`,
      (row) => isMember(row) && this.isListed(row),
      ordering,
      () => this.itemRows(this.membersOf(kind, ownerId))
    )
  }

  private readonly isListedFn = (row: Row): boolean => this.isListed(row)
  private readonly isArchivedListedFn = (row: Row): boolean => this.isArchivedListed(row)

  private *itemRows(ids: ReadonlySet<string> | undefined): Iterable<Row> {
    if (ids === undefined) return
    for (const id of ids) {
      const row = this.workItems.byId.get(id)
      if (row !== undefined) yield row
    }
  }

  // ---------------------------------------------------------------- computed annotations

  /**
   * Visible work items of a cycle or module counted per state group. Counted once per
   * owner, then kept up to date by deltas (`changed`, `setCycle`, `setModules`): walking
   * the members on every cycles/modules list was what made those lists slow.
   */
  issueCounts(kind: "cycles" | "modules", ownerId: string): RecordData {
    const key = `${kind}:${ownerId}`
    let c = this.issueCountsCache.get(key)
    if (c === undefined) {
      c = [0, 0, 0, 0, 0, 0]
      for (const id of this.membersOf(kind, ownerId) ?? []) addToCounts(c, this.countedBucketOf(id), 1)
      this.issueCountsCache.set(key, c)
    }
    return {
      total_issues: c[0]!,
      cancelled_issues: c[5]!,
      completed_issues: c[4]!,
      started_issues: c[3]!,
      unstarted_issues: c[2]!,
      backlog_issues: c[1]!
    }
  }

  private membersOf(kind: "cycles" | "modules", ownerId: string): ReadonlySet<string> | undefined {
    return (kind === "cycles" ? this.itemsOfCycle : this.itemsOfModule).get(ownerId)
  }

  /**
   * Where a work item counts (see `addToCounts`): -1 nowhere (missing or not listed),
   * 0 in the total only (no known group), 1 + i in the total and group i of STATE_GROUP_ORDER.
   */
  private issueBucket(itemId: string): number {
    const row = this.workItems.byId.get(itemId)
    if (row === undefined || !this.isListed(row)) return -1
    const group = typeof row.data.state === "string" ? this.stateGroup(row.data.state) : undefined
    return group === undefined ? 0 : (STATE_GROUP_ORDER as ReadonlyArray<string>).indexOf(group) + 1
  }

  /**
   * The bucket a work item is counted in by the cached owners. Remembered from the first
   * time it is counted, so that `changed` can move it from its old bucket to its new one.
   */
  private countedBucketOf(itemId: string): number {
    let bucket = this.countedBucket.get(itemId)
    if (bucket === undefined) this.countedBucket.set(itemId, (bucket = this.issueBucket(itemId)))
    return bucket
  }

  /** Adds (`sign` 1) or removes (-1) a work item to or from the cached counts of one owner. */
  private recount(itemId: string, kind: "cycles" | "modules", ownerId: string, sign: 1 | -1): void {
    const c = this.issueCountsCache.get(`${kind}:${ownerId}`)
    if (c !== undefined) addToCounts(c, this.countedBucketOf(itemId), sign)
  }

  /** After a change of a work item's data: moves it to its new bucket in its owners' counts. */
  private recountChanged(itemId: string): void {
    const old = this.countedBucket.get(itemId)
    if (old === undefined) return // no cached count includes it
    const bucket = this.issueBucket(itemId)
    if (bucket === old) return
    const cycle = this.cycleOfItem.get(itemId)
    if (cycle !== undefined) this.recount(itemId, "cycles", cycle, -1)
    for (const m of this.modulesOfItem.get(itemId) ?? []) this.recount(itemId, "modules", m, -1)
    this.countedBucket.set(itemId, bucket)
    if (cycle !== undefined) this.recount(itemId, "cycles", cycle, 1)
    for (const m of this.modulesOfItem.get(itemId) ?? []) this.recount(itemId, "modules", m, 1)
  }

  /** `total_members`, `total_cycles`, `total_modules` of a project. */
  projectCounts(projectId: string): RecordData {
    const liveIn = (col: Collection) => {
      let n = 0
      for (const r of col.inScope(projectId)) if (r.data.deleted_at === null) n++
      return n
    }
    return {
      total_members: this.projectMembers.get(projectId)?.length ?? 0,
      total_cycles: liveIn(this.cycles),
      total_modules: liveIn(this.modules)
    }
  }

  // ---------------------------------------------------------------- primitive writes

  /** Appends a fully formed record (used by the generator and by `create`). */
  insert(entity: Entity, data: RecordData): Row {
    const id = data.id
    if (typeof id !== "string") throw new SimulatorError(500, "record without id")
    const project = entity === "projects" ? null : typeof data.project === "string" ? data.project : null
    const row: Row = { id, entity, seq: this.insertions++, project, data, json: undefined }
    this.collection(entity).add(row)
    if (entity === "work_items" && project !== null) {
      const seqId = typeof data.sequence_id === "number" ? data.sequence_id : 0
      if (seqId > (this.lastSequenceId.get(project) ?? 0)) this.lastSequenceId.set(project, seqId)
    }
    this.changed(row)
    return row
  }

  /** Updates every cache a change of `row` can affect. */
  changed(row: Row): void {
    row.json = undefined
    this.collection(row.entity).touch(row)
    switch (row.entity) {
      case "work_items": {
        this.recountChanged(row.id)
        const cycle = this.cycleOfItem.get(row.id)
        if (cycle !== undefined) this.touchOwnerView(row, "cycles", cycle)
        for (const m of this.modulesOfItem.get(row.id) ?? []) this.touchOwnerView(row, "modules", m)
        break
      }
      case "states":
      case "labels":
        // Work-item visibility (triage) and orderings (state group, label name) read states
        // and labels, by id and possibly across projects: rebuild every work-item view.
        this.workItems.invalidateAll()
        if (row.entity === "states") {
          // Visibility and groups of many items may move: count again from scratch.
          this.issueCountsCache.clear()
          this.countedBucket.clear()
        }
        break
      default:
        break
    }
  }

  /**
   * Reports a change of work item `row` to the membership views of a cycle or module it
   * is (or was) in. Those live in the owner's project, which membership may cross (the
   * admin API allows it); the row's own project hears of its changes anyway.
   */
  private touchOwnerView(row: Row, kind: "cycles" | "modules", ownerId: string): void {
    const owner = this.collection(kind).byId.get(ownerId)
    if (owner !== undefined && owner.project !== row.project) this.workItems.touch(row, owner.project ?? "")
  }

  /** The next `sequence_id` of a project (never reused, like Plane's). */
  nextSequenceId(projectId: string): number {
    const next = (this.lastSequenceId.get(projectId) ?? 0) + 1
    this.lastSequenceId.set(projectId, next)
    return next
  }

  /** Puts a work item into a cycle (or none). */
  setCycle(itemId: string, cycleId: string | null): void {
    const previous = this.cycleOfItem.get(itemId)
    this.membershipChanging(itemId, "cycles", previous === undefined ? [] : [previous], cycleId === null ? [] : [cycleId])
    if (previous !== undefined) this.itemsOfCycle.get(previous)?.delete(itemId)
    if (cycleId === null) {
      this.cycleOfItem.delete(itemId)
      return
    }
    this.cycleOfItem.set(itemId, cycleId)
    let set = this.itemsOfCycle.get(cycleId)
    if (set === undefined) this.itemsOfCycle.set(cycleId, (set = new Set()))
    set.add(itemId)
  }

  /** Replaces the modules of a work item. */
  setModules(itemId: string, moduleIds: ReadonlyArray<string>): void {
    this.membershipChanging(itemId, "modules", this.modulesOfItem.get(itemId) ?? [], new Set(moduleIds))
    for (const m of this.modulesOfItem.get(itemId) ?? []) this.itemsOfModule.get(m)?.delete(itemId)
    const set = new Set(moduleIds)
    this.modulesOfItem.set(itemId, set)
    for (const m of set) {
      let items = this.itemsOfModule.get(m)
      if (items === undefined) this.itemsOfModule.set(m, (items = new Set()))
      items.add(itemId)
    }
  }

  /**
   * Before a work item moves from the owners `from` to the owners `to`: moves it in their
   * cached counts (in its bucket as counted so far: `changed` follows when its data
   * changed too) and reports it to the item's and the owners' views.
   */
  private membershipChanging(itemId: string, kind: "cycles" | "modules", from: Iterable<string>, to: Iterable<string>): void {
    const row = this.workItems.byId.get(itemId)
    if (row !== undefined) this.workItems.touch(row)
    for (const ownerId of from) {
      this.recount(itemId, kind, ownerId, -1)
      if (row !== undefined) this.touchOwnerView(row, kind, ownerId)
    }
    for (const ownerId of to) {
      this.recount(itemId, kind, ownerId, 1)
      if (row !== undefined) this.touchOwnerView(row, kind, ownerId)
    }
  }

  // ---------------------------------------------------------------- admin writes

  /**
   * Creates a record from admin input: defaults filled in, a new id,
   * `created_at = updated_at = now` unless given. `project` is required except for projects.
   */
  create(entity: Entity, body: Readonly<Record<string, Json>>, rng: Rng): Row {
    const now = formatDateTime(this.nowMicros())
    let project = ""
    if (entity !== "projects") {
      const p = body.project
      if (typeof p !== "string" || this.live("projects", p) === undefined) {
        throw new SimulatorError(400, `"project" must be the id of a live project of workspace ${this.slug}`)
      }
      project = p
    }
    const createdAt = typeof body.created_at === "string" ? body.created_at : now
    // A seeded generator replays its ids when a seed is reused: never hand out a taken one.
    let id = rng.uuid()
    while (this.collection(entity).byId.has(id)) id = rng.uuid()
    const data = newRecord(entity, { id, workspace: this.id, created_at: createdAt, created_by: this.owner.id }, project)
    const fields = this.validatedFields(entity, body, true)

    switch (entity) {
      case "projects": {
        const n = this.projects.rows.length + 1
        data.name = `Project ${n}`
        data.identifier = `PRJ${n}`
        data.project_lead = this.owner.id
        break
      }
      case "work_items": {
        data.name = `New work item ${this.workItems.rows.length + 1}`
        data.sequence_id = this.nextSequenceId(project)
        data.state = this.defaultStateOf(project)
        break
      }
      case "states":
        data.name = `State ${this.states.inScope(project).length + 1}`
        break
      default:
        data.name = `New ${entity.slice(0, -1)} ${this.collection(entity).inScope(project).length + 1}`
    }
    for (const [k, v] of Object.entries(fields)) data[k] = v
    if (!("updated_at" in fields)) data.updated_at = createdAt
    if (entity === "states" && data.slug === "" && typeof data.name === "string") data.slug = slugify(data.name)
    if (entity === "work_items") {
      if (!("sort_order" in fields)) data.sort_order = this.nextSortOrder(project, data.state)
      if (!("completed_at" in fields)) data.completed_at = this.isCompletedState(data.state) ? now : null
    }

    const row = this.insert(entity, data)
    if (entity === "projects") this.seedProject(row, rng)
    if (entity === "work_items") this.applyMembership(row.id, body)
    return row
  }

  /**
   * Updates fields of a live record. `updated_at` moves to now unless the patch sets it
   * (tests use that to craft ties); `updated_by` becomes the key owner unless given.
   */
  update(entity: Entity, id: string, patch: Readonly<Record<string, Json>>): Row {
    const row = this.requireLive(entity, id)
    const fields = this.validatedFields(entity, patch, false)
    const nowMicros = this.nowMicros()
    const previousState = row.data.state
    for (const [k, v] of Object.entries(fields)) row.data[k] = v
    if (entity === "work_items" && !("completed_at" in fields) && row.data.state !== previousState) {
      row.data.completed_at = this.isCompletedState(row.data.state) ? formatDateTime(nowMicros) : null
    }
    if (!("updated_at" in fields)) row.data.updated_at = formatDateTime(nowMicros)
    if (!("updated_by" in fields)) row.data.updated_by = this.owner.id
    if (entity === "work_items") this.applyMembership(row.id, patch)
    this.changed(row)
    return row
  }

  /** Soft delete: the record disappears from lists and details (`deleted_at` set). */
  remove(entity: Entity, id: string): Row {
    const row = this.requireLive(entity, id)
    const now = formatDateTime(this.nowMicros())
    row.data.deleted_at = now
    row.data.updated_at = now
    this.changed(row)
    if (entity === "projects") this.invalidateChildren(row.id)
    return row
  }

  /** Archives (work items get a date, the others a datetime) or unarchives a record. */
  setArchived(entity: Entity, id: string, archived: boolean): Row {
    if (!ARCHIVABLE.has(entity)) throw new SimulatorError(400, `${entity} cannot be archived`)
    const row = this.requireLive(entity, id)
    const micros = this.nowMicros()
    row.data.archived_at = archived ? (entity === "work_items" ? formatDate(micros) : formatDateTime(micros)) : null
    row.data.updated_at = formatDateTime(micros) // Plane archives through save(): auto_now bumps it
    this.changed(row)
    if (entity === "projects") this.invalidateChildren(row.id)
    return row
  }

  requireLive(entity: Entity, id: string): Row {
    const row = this.live(entity, id)
    if (row === undefined) throw new SimulatorError(404, `no live ${entity} record ${id} in workspace ${this.slug}`)
    return row
  }

  /** The project's default state (the `default: true` one, else the first listed). */
  defaultStateOf(projectId: string): string | null {
    const states = this.states.inScope(projectId).filter((r) => this.isListed(r))
    return (states.find((r) => r.data.default === true) ?? states[0])?.id ?? null
  }

  // ---------------------------------------------------------------- helpers

  private invalidateChildren(projectId: string): void {
    for (const e of ["states", "labels", "cycles", "modules", "work_items"] as const) this.collection(e).invalidate(projectId)
  }

  private isCompletedState(state: Json | undefined): boolean {
    return typeof state === "string" && this.stateGroup(state) === "completed"
  }

  private nextSortOrder(projectId: string, state: Json | undefined): number {
    let max: number | undefined
    for (const r of this.workItems.inScope(projectId)) {
      if (r.data.state === state && typeof r.data.sort_order === "number" && (max === undefined || r.data.sort_order > max)) {
        max = r.data.sort_order
      }
    }
    return max === undefined ? 65535 : max + 10000
  }

  /** Checks admin input keys: known, writable fields only (plus work-item membership keys). */
  private validatedFields(entity: Entity, body: Readonly<Record<string, Json>>, creating: boolean): Record<string, Json> {
    const known = FIELD_NAMES[entity]
    const computed = COMPUTED_FIELDS[entity]
    const out: Record<string, Json> = {}
    for (const [k, v] of Object.entries(body)) {
      if (entity === "work_items" && (k === "cycle_id" || k === "module_ids")) continue
      if (k === "project" && creating) continue
      if (!known.has(k)) throw new SimulatorError(400, `unknown field "${k}" for ${entity}`)
      if (computed.includes(k)) throw new SimulatorError(400, `"${k}" is computed and read-only`)
      if (IMMUTABLE_FIELDS.has(k)) throw new SimulatorError(400, `"${k}" cannot be changed`)
      out[k] = v
    }
    return out
  }

  /** Applies the admin-only `cycle_id` / `module_ids` keys of a work-item write. */
  private applyMembership(itemId: string, body: Readonly<Record<string, Json>>): void {
    const cycle = body.cycle_id
    if (cycle !== undefined) {
      if (cycle !== null && (typeof cycle !== "string" || this.live("cycles", cycle) === undefined)) {
        throw new SimulatorError(400, `"cycle_id" must be null or a live cycle id`)
      }
      this.setCycle(itemId, cycle)
    }
    const modules = body.module_ids
    if (modules !== undefined) {
      if (!Array.isArray(modules) || modules.some((m) => typeof m !== "string" || this.live("modules", m) === undefined)) {
        throw new SimulatorError(400, `"module_ids" must be an array of live module ids`)
      }
      this.setModules(itemId, modules as ReadonlyArray<string>)
    }
  }

  /** A new project gets Plane's default states (plus the hidden Triage state) and its creator as member. */
  seedProject(project: Row, rng: Rng): void {
    const createdMicros = parseTimestamp(String(project.data.created_at)) ?? this.nowMicros()
    DEFAULT_STATES.forEach((s, i) => {
      const data = newRecord(
        "states",
        { id: rng.uuid(), workspace: this.id, created_at: formatDateTime(createdMicros + i + 1), created_by: this.owner.id },
        project.id
      )
      Object.assign(data, { name: s.name, color: s.color, slug: slugify(s.name), sequence: s.sequence, group: s.group })
      data.default = s.default === true
      data.is_triage = s.group === "triage"
      this.insert("states", data)
    })
    if (!this.projectMembers.has(project.id)) this.projectMembers.set(project.id, [this.owner.id])
  }
}

/** Plane's default states of a new project (plane-api.md §2), plus the hidden Triage state. */
export const DEFAULT_STATES: ReadonlyArray<{
  readonly name: string
  readonly color: string
  readonly sequence: number
  readonly group: (typeof STATE_GROUP_ORDER)[number] | "triage"
  readonly default?: boolean
}> = [
  { name: "Backlog", color: "#60646C", sequence: 15000, group: "backlog", default: true },
  { name: "Todo", color: "#60646C", sequence: 25000, group: "unstarted" },
  { name: "In Progress", color: "#F59E0B", sequence: 35000, group: "started" },
  { name: "Done", color: "#46A758", sequence: 45000, group: "completed" },
  { name: "Cancelled", color: "#9AA4BC", sequence: 55000, group: "cancelled" },
  { name: "Triage", color: "#4E5355", sequence: 65000, group: "triage" }
]

export const slugify = (name: string): string =>
  name
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-|-$/g, "")
