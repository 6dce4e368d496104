// Long by design: every event of the log's schema in one file, so the persisted format reads (and is versioned) in one place.
import { Schema } from "effect"
import { EntityType } from "./entities.js"
import {
  Checkpoint,
  Counters,
  JobOptions,
  JobTrigger,
  JobType,
  PauseReason,
  Position,
  ResumeReason,
  Stage
} from "./job.js"

/**
 * Every state change is one of these events. Fields are plain JSON values (no transforming
 * schemas), so the encoded and decoded shapes are the same: replay can fold stored payloads
 * without a decode step, and `replay --verify` still decodes each one with these schemas.
 * A new version of an event gets an upcaster in eventlog/upcasters.ts; history is never edited.
 */
const at = Schema.String.annotations({ description: "ISO-8601 UTC with milliseconds", jsonSchema: { format: "date-time" } })

// ---- job stream: job-<jobId> ----------------------------------------------------------------
export class JobQueued extends Schema.TaggedClass<JobQueued>()("JobQueued", {
  jobId: Schema.String,
  integrationId: Schema.String,
  jobType: JobType,
  options: JobOptions,
  trigger: JobTrigger,
  estimatedDuration: Schema.NullOr(Schema.Number),
  at
}) {}

export class JobStarted extends Schema.TaggedClass<JobStarted>()("JobStarted", {
  jobId: Schema.String,
  run: Schema.Int,
  at
}) {}

export class StageStarted extends Schema.TaggedClass<StageStarted>()("StageStarted", {
  jobId: Schema.String,
  stage: Stage,
  projectIds: Schema.Array(Schema.String),
  at
}) {}

export class BatchCommitted extends Schema.TaggedClass<BatchCommitted>()("BatchCommitted", {
  jobId: Schema.String,
  stage: Stage,
  entity: Schema.NullOr(EntityType),
  deltas: Counters,
  /** Where the next batch starts. */
  next: Position,
  /** Projects stage: the project ids this batch found, to walk in the later stages. */
  discovered: Schema.optionalWith(Schema.Array(Schema.String), { exact: true }),
  /** Set on the batch that finished a project's work-item walk: the walk's start time. */
  watermark: Schema.optionalWith(Schema.Struct({ projectId: Schema.String, at: Schema.String }), { exact: true }),
  progress: Schema.Int,
  estimatedCompletion: Schema.NullOr(Schema.String),
  at
}) {}

export class EstimateChanged extends Schema.TaggedClass<EstimateChanged>()("EstimateChanged", {
  jobId: Schema.String,
  estimatedCompletion: Schema.NullOr(Schema.String),
  reason: Schema.String,
  at
}) {}

export class PauseRequested extends Schema.TaggedClass<PauseRequested>()("PauseRequested", {
  jobId: Schema.String,
  at
}) {}

export class JobPaused extends Schema.TaggedClass<JobPaused>()("JobPaused", {
  jobId: Schema.String,
  reason: PauseReason,
  at
}) {}

export class StopRequested extends Schema.TaggedClass<StopRequested>()("StopRequested", {
  jobId: Schema.String,
  graceful: Schema.Boolean,
  at
}) {}

export class JobStopped extends Schema.TaggedClass<JobStopped>()("JobStopped", {
  jobId: Schema.String,
  reason: Schema.String,
  at
}) {}

export class JobCompleted extends Schema.TaggedClass<JobCompleted>()("JobCompleted", {
  jobId: Schema.String,
  at
}) {}

export class JobFailed extends Schema.TaggedClass<JobFailed>()("JobFailed", {
  jobId: Schema.String,
  error: Schema.String,
  retryable: Schema.Boolean,
  at
}) {}

export class JobResumed extends Schema.TaggedClass<JobResumed>()("JobResumed", {
  jobId: Schema.String,
  reason: ResumeReason,
  from: Schema.NullOr(Checkpoint),
  at
}) {}

export class JobDeleted extends Schema.TaggedClass<JobDeleted>()("JobDeleted", {
  jobId: Schema.String,
  deleteLogs: Schema.Boolean,
  at
}) {}

export const JobEvent = Schema.Union(
  JobQueued,
  JobStarted,
  StageStarted,
  BatchCommitted,
  EstimateChanged,
  PauseRequested,
  JobPaused,
  StopRequested,
  JobStopped,
  JobCompleted,
  JobFailed,
  JobResumed,
  JobDeleted
)
export type JobEvent = typeof JobEvent.Type

// ---- integration stream: integration-<integrationId> ----------------------------------------
/** When scheduled jobs are due: every n seconds, or at a cron expression's times in a time zone. */
export const ScheduleSpec = Schema.Union(
  Schema.Struct({ every: Schema.Int }),
  Schema.Struct({ cron: Schema.String, timezone: Schema.optionalWith(Schema.String, { exact: true }) })
)
export type ScheduleSpec = typeof ScheduleSpec.Type

/** Local times of day (HH:MM) between which scheduled jobs may run. */
export const SyncWindowSpec = Schema.Struct({
  start: Schema.String,
  end: Schema.String,
  timezone: Schema.optionalWith(Schema.String, { exact: true })
})
export type SyncWindowSpec = typeof SyncWindowSpec.Type

export const IntegrationSettings = Schema.Struct({
  name: Schema.String,
  connector: Schema.Literal("plane"),
  baseUrl: Schema.String,
  workspaceSlug: Schema.String,
  /** null: no variable named (an integration created over the API may use a stored credential only). */
  apiKeyEnv: Schema.NullOr(Schema.String),
  /** `schedule.every` when the schedule is an interval, else null (older events: the only schedule). */
  syncInterval: Schema.NullOr(Schema.Int),
  fullSyncInterval: Schema.NullOr(Schema.Int),
  /** null: follow what the source advertises (older events always carry a number). */
  requestsPerMinute: Schema.NullOr(Schema.Int),
  enabled: Schema.Boolean,
  // Added later, so optional: an older event reads as `{every: syncInterval}`, no window and
  // the engine-wide values (domain/schedules.ts reads both shapes).
  schedule: Schema.optionalWith(ScheduleSpec, { exact: true }),
  fullSyncSchedule: Schema.optionalWith(ScheduleSpec, { exact: true }),
  syncWindow: Schema.optionalWith(SyncWindowSpec, { exact: true }),
  batchSize: Schema.optionalWith(Schema.Int, { exact: true }),
  includeArchived: Schema.optionalWith(Schema.Boolean, { exact: true }),
  maxConcurrentJobs: Schema.optionalWith(Schema.Int, { exact: true }),
  retry: Schema.optionalWith(
    Schema.Struct({
      maxAttempts: Schema.optionalWith(Schema.Int, { exact: true }),
      baseDelay: Schema.optionalWith(Schema.Number, { exact: true }),
      maxDelay: Schema.optionalWith(Schema.Number, { exact: true }),
      maxRateLimitWaits: Schema.optionalWith(Schema.Int, { exact: true })
    }),
    { exact: true }
  ),
  autoRetry: Schema.optionalWith(
    Schema.Struct({
      maxAttempts: Schema.optionalWith(Schema.Int, { exact: true }),
      delay: Schema.optionalWith(Schema.Int, { exact: true })
    }),
    { exact: true }
  ),
  circuitBreaker: Schema.optionalWith(
    Schema.Struct({
      failureThreshold: Schema.optionalWith(Schema.Int, { exact: true }),
      cooldown: Schema.optionalWith(Schema.Int, { exact: true }),
      maxCooldown: Schema.optionalWith(Schema.Int, { exact: true })
    }),
    { exact: true }
  ),
  /** The default selection of jobs that name none (config-file keys; see Jobs' normalize). */
  selection: Schema.optionalWith(
    Schema.Struct({
      entities: Schema.optionalWith(Schema.Array(EntityType), { exact: true }),
      excludeEntities: Schema.optionalWith(Schema.Array(EntityType), { exact: true }),
      projects: Schema.optionalWith(Schema.Array(Schema.String), { exact: true }),
      excludeProjects: Schema.optionalWith(Schema.Array(Schema.String), { exact: true })
    }),
    { exact: true }
  )
})
export type IntegrationSettings = typeof IntegrationSettings.Type

/** Where an integration is defined; absent on older events, which all came from the config file. */
export const IntegrationOrigin = Schema.Literal("config", "api")
export type IntegrationOrigin = typeof IntegrationOrigin.Type

/** An integration as the API received it (the config file's keys, encoded); never holds a key. */
const IntegrationInput = Schema.Record({ key: Schema.String, value: Schema.Unknown })

export class IntegrationRegistered extends Schema.TaggedClass<IntegrationRegistered>()("IntegrationRegistered", {
  integrationId: Schema.String,
  settings: IntegrationSettings,
  source: Schema.optionalWith(IntegrationOrigin, { exact: true }),
  /** Created over the API: its input, which `PATCH` merges into. */
  config: Schema.optionalWith(IntegrationInput, { exact: true }),
  at
}) {}

/** `PATCH /integrations/:id`: the changed keys with their new values (null: unset), and the result. */
export class IntegrationSettingsChanged extends Schema.TaggedClass<IntegrationSettingsChanged>()("IntegrationSettingsChanged", {
  integrationId: Schema.String,
  changes: IntegrationInput,
  settings: IntegrationSettings,
  at
}) {}

/** Removed over the API: off the schedule and out of the views; its events stay. */
export class IntegrationRemoved extends Schema.TaggedClass<IntegrationRemoved>()("IntegrationRemoved", {
  integrationId: Schema.String,
  purgeMirror: Schema.Boolean,
  at
}) {}

/** A stored API key was set (its fingerprint: 4 hex characters of its SHA-256) or removed (null). Never the key. */
export class IntegrationCredentialChanged extends Schema.TaggedClass<IntegrationCredentialChanged>()("IntegrationCredentialChanged", {
  integrationId: Schema.String,
  fingerprint: Schema.NullOr(Schema.String),
  at
}) {}

export class IntegrationStarted extends Schema.TaggedClass<IntegrationStarted>()("IntegrationStarted", {
  integrationId: Schema.String,
  nextRunAt: Schema.String,
  at
}) {}

export class IntegrationStopped extends Schema.TaggedClass<IntegrationStopped>()("IntegrationStopped", {
  integrationId: Schema.String,
  at
}) {}

export class SyncIntervalChanged extends Schema.TaggedClass<SyncIntervalChanged>()("SyncIntervalChanged", {
  integrationId: Schema.String,
  /** null: the schedule was a cron expression. */
  oldInterval: Schema.NullOr(Schema.Int),
  newInterval: Schema.Int,
  nextRunAt: Schema.String,
  at
}) {}

/** The scheduler's tick for one integration: a job was queued, or the tick was skipped. */
export class ScheduledRun extends Schema.TaggedClass<ScheduledRun>()("ScheduledRun", {
  integrationId: Schema.String,
  outcome: Schema.Literal("queued", "skipped"),
  jobId: Schema.NullOr(Schema.String),
  reason: Schema.String,
  nextRunAt: Schema.String,
  at
}) {}

export class CircuitOpened extends Schema.TaggedClass<CircuitOpened>()("CircuitOpened", {
  integrationId: Schema.String,
  consecutiveFailures: Schema.Int,
  reason: Schema.String,
  probeAt: Schema.String,
  cooldownSeconds: Schema.Int,
  at
}) {}

export class CircuitHalfOpened extends Schema.TaggedClass<CircuitHalfOpened>()("CircuitHalfOpened", {
  integrationId: Schema.String,
  probeJobId: Schema.String,
  at
}) {}

export class CircuitClosed extends Schema.TaggedClass<CircuitClosed>()("CircuitClosed", {
  integrationId: Schema.String,
  at
}) {}

export const IntegrationEvent = Schema.Union(
  IntegrationRegistered,
  IntegrationSettingsChanged,
  IntegrationRemoved,
  IntegrationCredentialChanged,
  IntegrationStarted,
  IntegrationStopped,
  SyncIntervalChanged,
  ScheduledRun,
  CircuitOpened,
  CircuitHalfOpened,
  CircuitClosed
)
export type IntegrationEvent = typeof IntegrationEvent.Type

// ---- system stream ------------------------------------------------------------------------
export class SystemInitialized extends Schema.TaggedClass<SystemInitialized>()("SystemInitialized", {
  integrationsFound: Schema.Int,
  at
}) {}

export const SystemEvent = Schema.Union(SystemInitialized)
export type SystemEvent = typeof SystemEvent.Type

export const DomainEvent = Schema.Union(JobEvent, IntegrationEvent, SystemEvent)
export type DomainEvent = typeof DomainEvent.Type

/** Current schema version of every event type; bump it with an upcaster when a shape changes. */
export const EVENT_VERSION = 1

export const jobStream = (jobId: string) => `job-${jobId}`
export const integrationStream = (integrationId: string) => `integration-${integrationId}`
export const SYSTEM_STREAM = "system"
