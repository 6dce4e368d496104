/**
 * The views' docs (a job, an integration, the system) as read back from their tables: parsed and
 * checked, never cast. A doc that is not JSON or lacks its view's shape (a hand edit, a bug in a
 * projection) throws `CorruptView`; `Views` reads inside `Effect.map`, so it is a defect: the API
 * answers 500 and the log says which doc, what is wrong in it and how to rebuild the views.
 *
 * The checks are written by hand, not with Schema: the status endpoint reads every integration's
 * doc and each batch append reads its job's, and `Schema.decodeUnknown` of a job doc cost about
 * 40 µs (JSON.parse: 6 µs) against 1 to 3 µs here. Each check states the type it proves, and
 * `Check` is invariant in it, so a field added to a view, or a type changed, does not compile
 * until it is checked here.
 */
import { Schema } from "effect"
import { EntityType } from "../domain/entities.js"
import { IntegrationOrigin, IntegrationSettings, type ScheduleSpec, type SyncWindowSpec } from "../domain/events.js"
import { type Checkpoint, type Counters, JobOptions, JobStatus, JobTrigger, JobType, PauseReason, Stage } from "../domain/job.js"
import {
  anything,
  arrayOf,
  bool,
  byKey,
  type Check,
  int,
  isObject,
  literal,
  nullOr,
  num,
  optional,
  recordOf,
  str,
  struct
} from "./docChecks.js"
import type { SystemDoc } from "./projection.js"
import type { IntegrationDoc } from "./integrationProjection.js"
import type { JobDoc } from "./jobProjection.js"

/** A view's row whose doc is not what its projection writes. Internal: never sent as it is. */
export class CorruptView extends Schema.TaggedError<CorruptView>()("CorruptView", { message: Schema.String }) {}

// ---- the views' shapes (docChecks.ts: the checks) -----------------------------------------------

const counters: Check<Counters> = struct({ processed: int, created: int, updated: int, deleted: int, errors: int })

const checkpoint: Check<Checkpoint> = struct({
  stage: literal(Stage.literals),
  projectIds: arrayOf(str),
  position: struct({
    projectIndex: int,
    feed: int,
    page: int,
    perPage: optional(int),
    walkStartedAt: optional(str)
  })
})

const jobOptions: Check<typeof JobOptions.Type> = struct({
  force: bool,
  includeArchived: bool,
  batchSize: int,
  entities: arrayOf(literal(EntityType.literals)),
  projects: optional(arrayOf(str)),
  excludeProjects: optional(arrayOf(str))
})

const jobDoc: Check<JobDoc> = struct({
  id: str,
  integrationId: str,
  type: literal(JobType.literals),
  status: literal(JobStatus.literals),
  trigger: literal(JobTrigger.literals),
  options: jobOptions,
  progress: num,
  stage: nullOr(literal(Stage.literals)),
  createdAt: str,
  queuedAt: str,
  startedAt: nullOr(str),
  completedAt: nullOr(str),
  estimatedDuration: nullOr(num),
  estimatedCompletion: nullOr(str),
  stats: counters,
  error: nullOr(str),
  retryable: bool,
  checkpoint: nullOr(checkpoint),
  watermarks: recordOf(str),
  runs: int,
  attempt: int,
  pauseRequested: bool,
  pauseReason: nullOr(literal(PauseReason.literals)),
  stopGraceful: nullOr(bool),
  deleted: bool,
  deleteLogs: bool,
  version: int
})

const schedule: Check<ScheduleSpec> = byKey({
  every: struct({ every: int }),
  cron: struct({ cron: str, timezone: optional(str) })
})

const syncWindow: Check<SyncWindowSpec> = struct({ start: str, end: str, timezone: optional(str) })

const settings: Check<typeof IntegrationSettings.Type> = struct({
  name: str,
  connector: literal(IntegrationSettings.fields.connector.literals),
  baseUrl: str,
  workspaceSlug: str,
  apiKeyEnv: nullOr(str),
  syncInterval: nullOr(int),
  fullSyncInterval: nullOr(int),
  requestsPerMinute: nullOr(int),
  enabled: bool,
  schedule: optional(schedule),
  fullSyncSchedule: optional(schedule),
  syncWindow: optional(syncWindow),
  batchSize: optional(int),
  includeArchived: optional(bool),
  maxConcurrentJobs: optional(int),
  retry: optional(struct({
    maxAttempts: optional(int),
    baseDelay: optional(num),
    maxDelay: optional(num),
    maxRateLimitWaits: optional(int)
  })),
  autoRetry: optional(struct({ maxAttempts: optional(int), delay: optional(int) })),
  circuitBreaker: optional(struct({ failureThreshold: optional(int), cooldown: optional(int), maxCooldown: optional(int) })),
  selection: optional(struct({
    entities: optional(arrayOf(literal(EntityType.literals))),
    excludeEntities: optional(arrayOf(literal(EntityType.literals))),
    projects: optional(arrayOf(str)),
    excludeProjects: optional(arrayOf(str))
  }))
})

const durations = arrayOf(num)

const integrationDoc: Check<IntegrationDoc> = struct({
  id: str,
  settings,
  registeredAt: str,
  source: literal(IntegrationOrigin.literals),
  config: nullOr(recordOf(anything)),
  removed: bool,
  credential: nullOr(struct({ fingerprint: str, updatedAt: str })),
  active: bool,
  stoppedAt: nullOr(str),
  intervalOverride: nullOr(int),
  nextRunAt: nullOr(str),
  lastScheduledRunAt: nullOr(str),
  lastSync: nullOr(str),
  lastSuccessfulSync: nullOr(str),
  lastFullSyncCompletedAt: nullOr(str),
  hasBaseline: bool,
  watermarks: recordOf(str),
  stats: struct({ totalJobs: int, completed: int, failed: int, completedDurationMs: num }),
  recentDurations: struct({ full_sync: durations, incremental_sync: durations, selective_sync: durations }),
  circuit: struct({
    state: literal(["closed", "open", "half_open"]),
    consecutiveFailures: int,
    openedAt: nullOr(str),
    probeAt: nullOr(str),
    cooldownSeconds: nullOr(num),
    reason: nullOr(str),
    probeJobId: nullOr(str)
  }),
  version: int
})

const systemDoc: Check<SystemDoc> = struct({ initializedAt: nullOr(str), integrationsFound: int, version: int })

// ---- reading a row ----------------------------------------------------------------------------

/**
 * Fields the integration view gained with integrations over the API; a doc written before has
 * none of them and reads as what they mean for it (from the config file, never removed, no
 * stored key), as the projection of its events would give.
 */
const LATER_INTEGRATION_FIELDS = { source: "config", config: null, removed: false, credential: null } as const

const withLaterFields = (u: unknown): unknown =>
  isObject(u) && !("source" in u) ? { ...LATER_INTEGRATION_FIELDS, ...u } : u

const MAX_QUOTED = 60

const quote = (actual: unknown): string => {
  if (actual === undefined) return "nothing"
  const text = JSON.stringify(actual)
  return text.length > MAX_QUOTED ? `${text.slice(0, MAX_QUOTED)}...` : text
}

const corrupt = (view: string, id: string | undefined, what: string) =>
  new CorruptView({
    message: `The ${view} view holds a malformed doc${id === undefined ? "" : ` for '${id}'`}: ${what}. ` +
      "Stop the server and rebuild the views from the event log (npm run replay)."
  })

const reader = <A>(view: string, check: Check<A>, prepare: (u: unknown) => unknown = (u) => u) => (text: string): A => {
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch {
    throw corrupt(view, undefined, "it is not JSON")
  }
  const doc = prepare(parsed)
  const p = check.run(doc)
  if (p === undefined) return doc as A
  const id = isObject(doc) && typeof doc.id === "string" ? doc.id : undefined
  const where = p.path.length === 0 ? "the doc" : p.path.join(".")
  throw corrupt(view, id, `${where}: expected ${p.expected}, found ${quote(p.actual)}`)
}

/** A job view's doc from its row's text; throws CorruptView when it is not one. */
export const jobDocFrom: (text: string) => JobDoc = reader("jobs", jobDoc)

/** An integration view's doc from its row's text; throws CorruptView when it is not one. */
export const integrationDocFrom: (text: string) => IntegrationDoc = reader("integrations", integrationDoc, withLaterFields)

/** The system view's doc from its row's text; throws CorruptView when it is not one. */
export const systemDocFrom: (text: string) => SystemDoc = reader("system", systemDoc)
