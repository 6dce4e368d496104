import type {
  IntegrationEvent,
  IntegrationOrigin,
  IntegrationRegistered,
  IntegrationSettings,
  JobEvent,
  ScheduleSpec
} from "../domain/events.js"
import type { JobType } from "../domain/job.js"
import { scheduleOf } from "../domain/schedules.js"
import { durationOf, type JobDoc } from "./jobProjection.js"

export type CircuitState = "closed" | "open" | "half_open"

/** The integration view: its settings, schedule, circuit breaker and job statistics. */
export interface IntegrationDoc {
  readonly id: string
  readonly settings: IntegrationSettings
  readonly registeredAt: string
  /** Where it is defined: the config file, or the API (`POST /api/sync/integrations`). */
  readonly source: IntegrationOrigin
  /** Created over the API: its input (config-file keys), which `PATCH` merges into; null for the file's. */
  readonly config: Readonly<Record<string, unknown>> | null
  /** Removed over the API: in no view the API or the scheduler reads; its events stay. */
  readonly removed: boolean
  /** The stored API key's fingerprint (never the key), or null when none is stored. */
  readonly credential: { readonly fingerprint: string; readonly updatedAt: string } | null
  /** Scheduled by the scheduler (started and not stopped). */
  readonly active: boolean
  /** Set when stopped through the API: `initialize` leaves such an integration stopped. */
  readonly stoppedAt: string | null
  /** Set by `PUT /jobs/:jobId/interval`; survives restarts until the config file's interval changes. */
  readonly intervalOverride: number | null
  readonly nextRunAt: string | null
  readonly lastScheduledRunAt: string | null
  readonly lastSync: string | null
  readonly lastSuccessfulSync: string | null
  readonly lastFullSyncCompletedAt: string | null
  readonly hasBaseline: boolean
  /** Per project: the start of the last completed work-item walk (incremental sync watermark). */
  readonly watermarks: Readonly<Record<string, string>>
  readonly stats: {
    readonly totalJobs: number
    readonly completed: number
    readonly failed: number
    readonly completedDurationMs: number
  }
  /** Durations (ms) of the last completed jobs per type, newest last. */
  readonly recentDurations: Readonly<Record<JobType, ReadonlyArray<number>>>
  readonly circuit: {
    readonly state: CircuitState
    readonly consecutiveFailures: number
    readonly openedAt: string | null
    readonly probeAt: string | null
    readonly cooldownSeconds: number | null
    readonly reason: string | null
    readonly probeJobId: string | null
  }
  readonly version: number
}

const RECENT = 10

const closedCircuit = (consecutiveFailures: number): IntegrationDoc["circuit"] => ({
  state: "closed",
  consecutiveFailures,
  openedAt: null,
  probeAt: null,
  cooldownSeconds: null,
  reason: null,
  probeJobId: null
})

export type IntegrationDraft = { -readonly [K in keyof IntegrationDoc]: IntegrationDoc[K] }

const registered = (event: IntegrationRegistered): IntegrationDraft => ({
  id: event.integrationId,
  settings: event.settings,
  registeredAt: event.at,
  source: "config",
  config: null,
  removed: false,
  credential: null,
  active: false,
  stoppedAt: null,
  intervalOverride: null,
  nextRunAt: null,
  lastScheduledRunAt: null,
  lastSync: null,
  lastSuccessfulSync: null,
  lastFullSyncCompletedAt: null,
  hasBaseline: false,
  watermarks: {},
  stats: { totalJobs: 0, completed: 0, failed: 0, completedDurationMs: 0 },
  recentDurations: { full_sync: [], incremental_sync: [], selective_sync: [] },
  circuit: closedCircuit(0),
  version: 0
})

/**
 * The integration view's one projection, shared by the live append and replay. It takes the
 * integration's own stream, whose events count in its version, and the job events that change
 * its statistics (`affectsIntegration`; `job` is the job view after the event), which belong
 * to the job's stream and leave the version alone. Live callers keep the doc they passed (a
 * copy is returned); replay passes `inPlace` and folds its own doc. Nested values are replaced,
 * never mutated, so nothing another doc shares is ever changed.
 */
export const evolveIntegration = (
  doc: IntegrationDoc | undefined,
  event: IntegrationEvent | JobEvent,
  inPlace = false,
  job?: JobDoc
): IntegrationDoc => {
  if (doc === undefined && event._tag !== "IntegrationRegistered") {
    throw new Error(`${event._tag} for ${"jobId" in event ? `job ${event.jobId}` : "an integration"} before registration`)
  }
  const d: IntegrationDraft = doc === undefined
    ? registered(event as IntegrationRegistered)
    : inPlace
    ? (doc as IntegrationDraft)
    : { ...doc }
  switch (event._tag) {
    case "JobQueued":
      d.lastSync = event.at
      d.stats = { ...d.stats, totalJobs: d.stats.totalJobs + 1 }
      return d
    case "JobCompleted": {
      if (job === undefined) throw new Error(`JobCompleted for job ${event.jobId} without its job view`)
      const duration = durationOf(job) ?? 0
      const isFull = job.type === "full_sync"
      d.lastSuccessfulSync = event.at
      if (isFull) d.lastFullSyncCompletedAt = event.at
      d.hasBaseline = d.hasBaseline || isFull
      d.watermarks = { ...d.watermarks, ...job.watermarks }
      d.stats = { ...d.stats, completed: d.stats.completed + 1, completedDurationMs: d.stats.completedDurationMs + duration }
      d.recentDurations = { ...d.recentDurations, [job.type]: [...d.recentDurations[job.type], duration].slice(-RECENT) }
      if (d.circuit.state === "closed") d.circuit = closedCircuit(0)
      return d
    }
    case "JobFailed":
      d.stats = { ...d.stats, failed: d.stats.failed + 1 }
      d.circuit = { ...d.circuit, consecutiveFailures: d.circuit.consecutiveFailures + 1 }
      return d
    case "IntegrationRegistered":
      d.source = event.source ?? "config"
      d.config = event.config ?? null
      d.removed = false
      applySettings(d, event.settings)
      break
    case "IntegrationStarted":
      d.active = true
      d.stoppedAt = null
      d.nextRunAt = event.nextRunAt
      break
    case "IntegrationSettingsChanged":
      d.config = mergeConfig(d.config, event.changes)
      applySettings(d, event.settings)
      break
    case "IntegrationRemoved":
      d.removed = true
      d.active = false
      d.nextRunAt = null
      d.credential = null
      // A purged mirror is no baseline: a re-created integration starts with a full sync.
      if (event.purgeMirror) {
        d.hasBaseline = false
        d.watermarks = {}
        d.lastFullSyncCompletedAt = null
      }
      break
    case "IntegrationCredentialChanged":
      d.credential = event.fingerprint === null ? null : { fingerprint: event.fingerprint, updatedAt: event.at }
      break
    case "IntegrationStopped":
      d.active = false
      d.stoppedAt = event.at
      d.nextRunAt = null
      break
    case "SyncIntervalChanged":
      d.intervalOverride = event.newInterval
      if (d.active) d.nextRunAt = event.nextRunAt
      break
    case "ScheduledRun":
      d.lastScheduledRunAt = event.at
      d.nextRunAt = event.nextRunAt
      break
    case "CircuitOpened":
      d.circuit = {
        state: "open",
        consecutiveFailures: event.consecutiveFailures,
        openedAt: event.at,
        probeAt: event.probeAt,
        cooldownSeconds: event.cooldownSeconds,
        reason: event.reason,
        probeJobId: null
      }
      break
    case "CircuitHalfOpened":
      d.circuit = { ...d.circuit, state: "half_open", probeJobId: event.probeJobId }
      break
    case "CircuitClosed":
      d.circuit = closedCircuit(0)
      break
    default:
      // The other job events leave the integration's view as it is.
      return d
  }
  d.version++
  return d
}

/** A PATCH's changes applied to an API integration's input: null unsets a key. */
export const mergeConfig = (
  config: Readonly<Record<string, unknown>> | null,
  changes: Readonly<Record<string, unknown>>
): Readonly<Record<string, unknown>> => {
  const next: Record<string, unknown> = { ...config }
  for (const [key, value] of Object.entries(changes)) {
    if (value === null) delete next[key]
    else next[key] = value
  }
  return next
}

export const affectsIntegration = (event: JobEvent): boolean =>
  event._tag === "JobQueued" || event._tag === "JobCompleted" || event._tag === "JobFailed"

/** New settings (at registration or changed later); disabled stops scheduling at once. */
const applySettings = (d: IntegrationDraft, settings: IntegrationSettings): void => {
  // A changed schedule in the settings replaces an interval set through the API.
  if (!sameSchedule(d.settings, settings)) d.intervalOverride = null
  d.settings = settings
  if (!settings.enabled) {
    d.active = false
    d.nextRunAt = null
  }
}

const sameSchedule = (a: IntegrationSettings, b: IntegrationSettings) =>
  JSON.stringify(scheduleOf(a)) === JSON.stringify(scheduleOf(b))

/** The schedule the scheduler uses: an interval set through the API, else the settings'. */
export const effectiveSchedule = (doc: IntegrationDoc): ScheduleSpec =>
  doc.intervalOverride !== null ? { every: doc.intervalOverride } : scheduleOf(doc.settings)

/** The interval in seconds of an `every` schedule; null for a cron schedule. */
export const effectiveInterval = (doc: IntegrationDoc): number | null => {
  const schedule = effectiveSchedule(doc)
  return "every" in schedule ? schedule.every : null
}

/** Where a disabled integration is enabled again: its config file, or the API that created it. */
export const howToEnable = (doc: IntegrationDoc): string =>
  doc.source === "api"
    ? `(over the API); enable it with PATCH /api/sync/integrations/${doc.id} {"enabled": true}`
    : `in the config file; set "enabled": true and POST /api/sync/initialize`
