import { Schema } from "effect"
import type { Counters as ApiCounters } from "./apiShapes.js"
import { ENTITY_TYPES, EntityType } from "./entities.js"

export const JOB_TYPES = ["full_sync", "incremental_sync", "selective_sync"] as const
export const JobType = Schema.Literal(...JOB_TYPES)
export type JobType = typeof JobType.Type

/** Accepts `full`, `incremental`, `selective` too; always decodes to the `_sync` form. */
export const JobTypeInput = Schema.transform(
  Schema.Literal("full", "incremental", "selective", ...JOB_TYPES),
  JobType,
  {
    strict: true,
    decode: (s) => (s.endsWith("_sync") ? s : `${s}_sync`) as JobType,
    encode: (s) => s
  }
).annotations({ description: "full_sync | incremental_sync | selective_sync (or full | incremental | selective)" })

export const JOB_STATUSES = ["queued", "running", "paused", "stopping", "stopped", "completed", "failed"] as const
export const JobStatus = Schema.Literal(...JOB_STATUSES)
export type JobStatus = typeof JobStatus.Type

/**
 * One set per meaning (the job decider, domain/jobDecider.ts, states the rules in terms of them):
 * - live: an actor runs the job and holds a runner slot; only a live job completes, fails, or
 *   ends on a stop or pause;
 * - in progress: queued or live; the integration is busy with it (a scheduled tick is skipped,
 *   a second full sync waits, the job cannot be deleted nor its integration removed);
 * - terminal: ended (completed, failed or stopped); a failed or stopped job may be resumed.
 */
const LIVE_STATUSES: ReadonlyArray<JobStatus> = ["running", "stopping"]
export const IN_PROGRESS_STATUSES: ReadonlyArray<JobStatus> = ["queued", ...LIVE_STATUSES]
export const TERMINAL_STATUSES: ReadonlyArray<JobStatus> = ["completed", "failed", "stopped"]
export const isLive = (s: JobStatus) => LIVE_STATUSES.includes(s)
export const isInProgress = (s: JobStatus) => IN_PROGRESS_STATUSES.includes(s)
export const isTerminal = (s: JobStatus) => TERMINAL_STATUSES.includes(s)

/** The schema of the API's `Counters` (apiShapes.ts, which the browser reads); `satisfies` keeps the two the same. */
export const Counters = Schema.Struct({
  processed: Schema.Int,
  created: Schema.Int,
  updated: Schema.Int,
  deleted: Schema.Int,
  errors: Schema.Int
}) satisfies Schema.Schema<ApiCounters>
export type Counters = typeof Counters.Type
export const zeroCounters: Counters = { processed: 0, created: 0, updated: 0, deleted: 0, errors: 0 }
export const addCounters = (a: Counters, b: Counters): Counters => ({
  processed: a.processed + b.processed,
  created: a.created + b.created,
  updated: a.updated + b.updated,
  deleted: a.deleted + b.deleted,
  errors: a.errors + b.errors
})

/** A stage per entity stream of the plan, in its order (`syncing_<entity>`), then the sweep. */
export type Stage = `syncing_${EntityType}` | "finalizing"
export const stageOf = (entity: EntityType): Stage => `syncing_${entity}`
export const STAGES = [...ENTITY_TYPES.map(stageOf), "finalizing"] as unknown as readonly [Stage, ...ReadonlyArray<Stage>]
export const Stage = Schema.Literal(...STAGES)
export const entityOf = (stage: Stage): EntityType | undefined =>
  stage === "finalizing" ? undefined : (stage.slice("syncing_".length) as EntityType)

/** Options as stored on a job, after defaults were applied. */
export const JobOptions = Schema.Struct({
  force: Schema.Boolean,
  includeArchived: Schema.Boolean,
  batchSize: Schema.Int,
  entities: Schema.Array(EntityType),
  projects: Schema.optionalWith(Schema.Array(Schema.String), { exact: true }),
  excludeProjects: Schema.optionalWith(Schema.Array(Schema.String), { exact: true })
})
export type JobOptions = typeof JobOptions.Type

/** Where the next batch starts: the stage, the project within it, the list (active or archived) and the page. */
export const Position = Schema.Struct({
  projectIndex: Schema.Int,
  feed: Schema.Int,
  page: Schema.Int,
  /** The page size `page` counts in, when it is not the job's batchSize (incremental walks). */
  perPage: Schema.optionalWith(Schema.Int, { exact: true }),
  walkStartedAt: Schema.optionalWith(Schema.String, { exact: true })
})
export type Position = typeof Position.Type
export const startPosition: Position = { projectIndex: 0, feed: 0, page: 0 }

export const Checkpoint = Schema.Struct({
  stage: Stage,
  projectIds: Schema.Array(Schema.String),
  position: Position
})
export type Checkpoint = typeof Checkpoint.Type

const JOB_TRIGGERS = ["manual", "schedule", "integration_start", "retry"] as const
export const JobTrigger = Schema.Literal(...JOB_TRIGGERS)
export type JobTrigger = typeof JobTrigger.Type

/** `window`: a scheduled job reached the end of its integration's sync window. */
export const PauseReason = Schema.Literal("request", "shutdown", "window")
export type PauseReason = typeof PauseReason.Type

export const ResumeReason = Schema.Literal("request", "restart", "recovery", "retry", "window")
export type ResumeReason = typeof ResumeReason.Type
