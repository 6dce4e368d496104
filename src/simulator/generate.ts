/**
 * Deterministic seeded generation of a workspace's data.
 *
 * Every id and every value comes from `Rng` streams derived from the workspace seed, so
 * the same spec and seed always give the same records (ids, names, distribution).
 * Timestamps are placed relative to the clock's "now" at generation time: projects about
 * a year back, work items spread between their project's creation and now.
 *
 * Plane has no tie-breaker in its orderings, so about 1% of work items deliberately share
 * `created_at` with their predecessor; a sync engine must cope with ties.
 */
import { newRecord } from "./model.js"
import type { Json, RecordData, User } from "./model.js"
import { hashSeed, Rng } from "./random.js"
import { formatDate, formatDateTime, MICROS_PER_DAY, SimClock } from "./time.js"
import { Workspace } from "./workspace.js"
import type { Member } from "./workspace.js"

/** What to generate for one workspace. */
export interface WorkspaceSpec {
  readonly slug: string
  readonly projects?: number | undefined
  readonly workItems?: number | undefined
  readonly seed?: number | undefined
  /** `false`: the key's owner is not a member, so the v1 API refuses the workspace (403). */
  readonly keyOwnerIsMember?: boolean | undefined
}

export const DEFAULT_WORKSPACE = { slug: "acme", projects: 10, workItems: 5000, seed: 1 } as const satisfies WorkspaceSpec

const FIRST_NAMES = ["Jane", "Omar", "Priya", "Lukas", "Mei", "Carlos", "Aisha", "Tomás", "Ingrid", "Kenji", "Zara", "Noah"]
const LAST_NAMES = ["Doe", "Haddad", "Sharma", "Becker", "Chen", "Alvarez", "Okafor", "Silva", "Larsen", "Sato", "Khan", "Meyer"]
const PROJECT_NAMES = [
  "Web App",
  "Mobile",
  "Platform",
  "Billing",
  "Growth",
  "Design System",
  "Data Pipeline",
  "Infrastructure",
  "Support Tools",
  "Onboarding",
  "Search",
  "Integrations"
]
const LABELS: ReadonlyArray<readonly [string, string]> = [
  ["bug", "#ff4444"],
  ["feature", "#3b82f6"],
  ["improvement", "#10b981"],
  ["documentation", "#a855f7"],
  ["security", "#ef4444"],
  ["performance", "#f59e0b"],
  ["ux", "#ec4899"],
  ["backend", "#6366f1"],
  ["frontend", "#14b8a6"],
  ["tech-debt", "#78716c"]
]
const MODULE_NAMES = ["Auth revamp", "Payments v2", "Reporting", "Notifications", "Offline mode", "Public API", "Search relevance"]
const MODULE_STATUSES = ["backlog", "planned", "in-progress", "paused", "completed", "cancelled"]
const VERBS = ["Fix", "Add", "Improve", "Refactor", "Remove", "Investigate", "Document", "Speed up", "Migrate", "Polish"]
const NOUNS = [
  "login redirect",
  "invoice export",
  "search results",
  "notification settings",
  "dashboard filters",
  "file upload",
  "password reset",
  "webhook retries",
  "audit log",
  "dark mode",
  "CSV import",
  "team invites",
  "rate limiter",
  "session timeout"
]
const CONTEXTS = ["on mobile", "for admins", "in Safari", "after signup", "for large workspaces", "in the API", "", "", ""]
const SENTENCES = [
  "Steps to reproduce are listed below; it happens on every attempt.",
  "Customers reported this twice this week through the support inbox.",
  "The current behaviour is confusing and blocks the release checklist.",
  "We should align this with the design review from last sprint.",
  "Logs show a timeout after roughly thirty seconds under load.",
  "Acceptance criteria: the flow works without a page reload.",
  "This touches the shared component library, so coordinate with design.",
  "Make sure the change is covered by an integration test.",
  "A feature flag would let us roll this out gradually.",
  "Expected result: the value is saved and shown after refresh."
]
const PRIORITY_WEIGHTS: ReadonlyArray<readonly [string, number]> = [
  ["urgent", 0.05],
  ["high", 0.15],
  ["medium", 0.3],
  ["low", 0.25],
  ["none", 0.25]
]
/** Weights of the five listed default states (Backlog, Todo, In Progress, Done, Cancelled). */
const STATE_WEIGHTS = [0.2, 0.25, 0.2, 0.25, 0.1]

const weighted = <A>(rng: Rng, items: ReadonlyArray<A>, weights: ReadonlyArray<number>): A => {
  let r = rng.next()
  for (let i = 0; i < items.length; i++) {
    r -= weights[i]!
    if (r < 0) return items[i]!
  }
  return items[items.length - 1]!
}

const makeUser = (rng: Rng, index: number): User => {
  const first = rng.pick(FIRST_NAMES)
  const last = rng.pick(LAST_NAMES)
  const handle = `${first}.${last}${index > 0 ? index : ""}`.toLowerCase().replace(/[^a-z0-9.]/g, "")
  return {
    id: rng.uuid(),
    first_name: first,
    last_name: last,
    email: `${handle}@example.com`,
    avatar: "",
    avatar_url: null,
    display_name: handle.replace(".", "")
  }
}

/** The owner of an API key (the same user in every workspace, as Plane tokens are per user). */
export const keyOwner = (apiKey: string): User => makeUser(Rng.from("key-owner", apiKey), 0)

/** Splits `total` into `parts` uneven but deterministic non-negative integers summing to `total`. */
export const distribute = (rng: Rng, total: number, parts: number): Array<number> => {
  if (parts <= 0) return []
  const weights = Array.from({ length: parts }, () => 0.2 + rng.next() * 1.8)
  const sum = weights.reduce((a, b) => a + b, 0)
  const exact = weights.map((w) => (w / sum) * total)
  const counts = exact.map(Math.floor)
  let rest = total - counts.reduce((a, b) => a + b, 0)
  const byFraction = exact.map((x, i) => ({ i, f: x - Math.floor(x) })).sort((a, b) => b.f - a.f || a.i - b.i)
  for (let k = 0; rest > 0; k = (k + 1) % parts, rest--) counts[byFraction[k]!.i]!++
  return counts
}

const description = (rng: Rng): string => {
  const a = rng.pick(SENTENCES)
  const b = rng.pick(SENTENCES)
  const c = rng.pick(SENTENCES)
  return `<p>${a} ${b}</p><ul><li><p>${c}</p></li><li><p>Reference ${rng.hex(8)}</p></li></ul>`
}

/**
 * Generates a workspace: users, `projects` projects each with Plane's default states (and
 * the hidden Triage state), labels, cycles and modules, and exactly `workItems` work items
 * spread unevenly over the projects.
 */
export const generateWorkspace = (spec: WorkspaceSpec, owner: User, clock: SimClock): Workspace => {
  const slug = spec.slug
  const seed = spec.seed ?? DEFAULT_WORKSPACE.seed
  const projectCount = Math.max(0, Math.floor(spec.projects ?? DEFAULT_WORKSPACE.projects))
  const itemCount = Math.max(0, Math.floor(spec.workItems ?? DEFAULT_WORKSPACE.workItems))
  const base = hashSeed(seed, slug)
  const idRng = Rng.from(base, "ids")
  const rng = Rng.from(base, "values")

  const others: Array<Member> = Array.from({ length: 5 }, (_, i) => ({
    ...makeUser(Rng.from(base, "user", i), i + 1),
    role: i === 3 ? 5 : 15
  }))
  const members: Array<Member> = [{ ...owner, role: 20 }, ...others]
  const ws = new Workspace(
    { slug, id: idRng.uuid(), name: slug.charAt(0).toUpperCase() + slug.slice(1), seed, owner, members },
    () => clock.nowMicros()
  )
  ws.keyOwnerIsMember = spec.keyOwnerIsMember ?? true

  const nowMicros = clock.now() * 1000
  const yearAgo = nowMicros - 365 * MICROS_PER_DAY
  const at = (micros: number) => formatDateTime(Math.floor(micros))
  const rec = (entity: Parameters<typeof newRecord>[0], createdMicros: number, project: string, createdBy: string) =>
    newRecord(entity, { id: idRng.uuid(), workspace: ws.id, created_at: at(createdMicros), created_by: createdBy }, project)

  const perProject = distribute(Rng.from(base, "distribution"), itemCount, projectCount)
  // Drawn but unused since every project gets Plane's default sort_order (below): keeps
  // the seeded stream, and so every value generated after this, as it was.
  rng.sample(
    Array.from({ length: projectCount }, (_, i) => i),
    projectCount
  )

  for (let p = 0; p < projectCount; p++) {
    // ---- project
    const projectCreated = yearAgo - rng.next() * 30 * MICROS_PER_DAY
    const project = rec("projects", projectCreated, "", owner.id)
    const round = Math.floor(p / PROJECT_NAMES.length)
    Object.assign(project, {
      // The caller's per-member sort order: Plane's default, the same for every project
      // nobody reordered, which is what the projects list orders by when asked nothing.
      sort_order: 65535,
      name: PROJECT_NAMES[p % PROJECT_NAMES.length]! + (round > 0 ? ` ${round + 1}` : ""),
      description: `Work of the ${PROJECT_NAMES[p % PROJECT_NAMES.length]!} team.`,
      network: rng.chance(0.8) ? 2 : 0,
      identifier: `PRJ${p + 1}`,
      project_lead: owner.id,
      updated_at: at(projectCreated + rng.next() * 10 * MICROS_PER_DAY)
    } satisfies RecordData)
    const projectRow = ws.insert("projects", project)
    const projectId = projectRow.id
    const projectMemberIds = [owner.id, ...rng.sample(others, rng.between(2, 4)).map((u) => u.id)]
    ws.projectMembers.set(projectId, projectMemberIds)
    ws.seedProject(projectRow, idRng)
    const stateIds = ws.states
      .inScope(projectId)
      .filter((s) => s.data.is_triage !== true)
      .map((s) => s.id)
    const completedState = stateIds[3]!

    // ---- labels
    const labelIds: Array<string> = []
    rng.sample(LABELS, rng.between(3, 5)).forEach(([name, color], i) => {
      const label = rec("labels", projectCreated + (i + 1) * 3_600_000_000 + rng.next() * MICROS_PER_DAY, projectId, owner.id)
      Object.assign(label, { name, color, sort_order: 65535 + i * 10000 })
      label.updated_at = label.created_at!
      labelIds.push(ws.insert("labels", label).id)
    })

    // ---- cycles: two-week sprints, the last one current
    const cycleIds: Array<string> = []
    const cycleCount = rng.between(2, 4)
    const today = Math.floor(nowMicros / MICROS_PER_DAY) * MICROS_PER_DAY
    for (let c = 0; c < cycleCount; c++) {
      const start = today - (cycleCount - 1 - c) * 14 * MICROS_PER_DAY - 7 * MICROS_PER_DAY
      const created = Math.max(projectCreated + 1, start - 3 * MICROS_PER_DAY - rng.next() * MICROS_PER_DAY)
      const cycle = rec("cycles", created, projectId, owner.id)
      Object.assign(cycle, {
        name: `Sprint ${c + 1}`,
        description: `Sprint ${c + 1} of ${String(project.name)}`,
        start_date: formatDateTime(start),
        end_date: formatDateTime(start + 14 * MICROS_PER_DAY - 1_000_000),
        sort_order: 65535 + c * 10000,
        updated_at: at(created + rng.next() * MICROS_PER_DAY)
      } satisfies RecordData)
      cycleIds.push(ws.insert("cycles", cycle).id)
    }

    // ---- modules
    const moduleIds: Array<string> = []
    rng.sample(MODULE_NAMES, rng.between(1, 3)).forEach((name, i) => {
      const created = projectCreated + rng.next() * 200 * MICROS_PER_DAY
      const module = rec("modules", created, projectId, owner.id)
      const start = created + rng.next() * 10 * MICROS_PER_DAY
      Object.assign(module, {
        name,
        description: `${name} for ${String(project.name)}`,
        start_date: formatDate(start),
        target_date: formatDate(start + (20 + rng.int(60)) * MICROS_PER_DAY),
        status: rng.pick(MODULE_STATUSES),
        sort_order: 65535 + i * 10000,
        lead: rng.pick(projectMemberIds),
        members: rng.sample(projectMemberIds, rng.between(1, 3)) as Array<Json>,
        updated_at: at(created + rng.next() * 5 * MICROS_PER_DAY)
      } satisfies RecordData)
      moduleIds.push(ws.insert("modules", module).id)
    })

    // ---- work items, created in chronological order (sequence_id follows creation)
    const n = perProject[p]!
    const from = projectCreated + 3_600_000_000
    const span = Math.max(0, nowMicros - 60_000_000 - from)
    const created = Array.from({ length: n }, () => Math.floor(from + rng.next() * span)).sort((a, b) => a - b)
    for (let k = 1; k < n; k++) if (rng.chance(0.01)) created[k] = created[k - 1]!
    const sortOrders = new Map<string, number>()
    const itemIds: Array<string> = []

    for (let k = 0; k < n; k++) {
      const createdAt = created[k]!
      const createdBy = rng.pick(projectMemberIds)
      const item = rec("work_items", createdAt, projectId, createdBy)
      const state = weighted(rng, stateIds, STATE_WEIGHTS)
      const nextSort = (sortOrders.get(state) ?? 55535) + 10000
      sortOrders.set(state, nextSort)
      const edited = rng.chance(0.65)
      const updatedAt = edited ? createdAt + Math.floor(rng.next() * (nowMicros - createdAt)) : createdAt
      const hasDates = rng.chance(0.3)
      const startDate = createdAt + rng.next() * 10 * MICROS_PER_DAY
      const context = rng.pick(CONTEXTS)
      Object.assign(item, {
        name: `${rng.pick(VERBS)} ${rng.pick(NOUNS)}${context === "" ? "" : ` ${context}`}`,
        description_html: description(rng),
        priority: weighted(
          rng,
          PRIORITY_WEIGHTS.map(([p]) => p),
          PRIORITY_WEIGHTS.map(([, w]) => w)
        ),
        start_date: hasDates ? formatDate(startDate) : null,
        target_date: hasDates ? formatDate(startDate + (1 + rng.int(30)) * MICROS_PER_DAY) : null,
        sequence_id: k + 1,
        sort_order: nextSort,
        completed_at: state === completedState ? at(createdAt + (updatedAt - createdAt) * (0.5 + rng.next() / 2)) : null,
        updated_at: at(updatedAt),
        updated_by: edited ? rng.pick(projectMemberIds) : null,
        parent: itemIds.length > 0 && rng.chance(0.05) ? rng.pick(itemIds) : null,
        state,
        assignees: rng.sample(projectMemberIds, rng.int(3)) as Array<Json>,
        labels: rng.sample(labelIds, rng.int(3)) as Array<Json>
      } satisfies RecordData)
      const row = ws.insert("work_items", item)
      itemIds.push(row.id)
      if (cycleIds.length > 0 && rng.chance(0.45)) ws.setCycle(row.id, rng.pick(cycleIds))
      if (moduleIds.length > 0 && rng.chance(0.25)) ws.setModules(row.id, [rng.pick(moduleIds)])
    }
  }
  return ws
}
