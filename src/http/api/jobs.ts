/** The jobs group: list, create, inspect, stop, pause, resume, retry, logs. */
import { HttpApiEndpoint, HttpApiGroup, OpenApi } from "@effect/platform"
import { Schema } from "effect"
import { MAX_INTERVAL, MIN_INTERVAL } from "../../config/ConfigFile.js"
import { IntegrationNotFound, InvalidTransition, JobConflict, JobNotFound } from "../../domain/errors.js"
import { Authorization } from "../Authorization.js"
import {
  Counters,
  JobOptions,
  JobStatus,
  JobTrigger,
  JobType,
  JobTypeInput,
  PauseReason,
  Stage
} from "../../domain/job.js"
import { EntityName, IntFromString, JobEventData, StatusFilter, Timestamp, opt, optionalBody } from "./common.js"

export const LogLine = Schema.Struct({
  timestamp: Timestamp,
  level: Schema.Literal("debug", "info", "warn", "error"),
  message: Schema.String
})

/** A request of the job waiting longer than 2 s to be sent; shown while the wait lasts. */
const JobWaiting = Schema.Struct({
  reason: Schema.Literal("rate_limit_budget", "retry_after", "backoff"),
  until: Timestamp
}).annotations({ identifier: "JobWaiting" })

export const JobView = Schema.Struct({
  id: Schema.String,
  integrationId: Schema.String,
  type: JobType,
  status: JobStatus,
  progress: Schema.Int,
  stage: opt(Stage),
  trigger: JobTrigger,
  attempt: Schema.Int,
  createdAt: Timestamp,
  startedAt: opt(Timestamp),
  completedAt: opt(Timestamp),
  duration: opt(Schema.Int),
  estimatedCompletion: opt(Timestamp),
  waiting: opt(JobWaiting),
  estimatedDuration: Schema.NullOr(Schema.Int),
  stats: Counters,
  result: opt(Counters),
  error: opt(Schema.String),
  /** While paused: `request` (the API), `shutdown` (the server stopped) or `window` (the sync window ended). */
  pauseReason: opt(PauseReason),
  options: JobOptions
}).annotations({ identifier: "Job" })
export type JobView = typeof JobView.Type

export const JobDetail = Schema.Struct({ ...JobView.fields, logs: Schema.Array(LogLine) }).annotations({
  identifier: "JobDetail"
})

export const jobIdPath = Schema.Struct({ jobId: Schema.String })

export const RequestedOptions = Schema.Struct({
  force: opt(Schema.Boolean),
  includeArchived: opt(Schema.Boolean),
  batchSize: opt(Schema.Int.pipe(Schema.between(1, 1000, { message: () => "batchSize must be between 1 and 1000" }))),
  entities: opt(Schema.Array(EntityName)),
  excludeEntities: opt(Schema.Array(EntityName)),
  projects: opt(Schema.Array(Schema.String)),
  excludeProjects: opt(Schema.Array(Schema.String))
})

export const CreateJobRequest = Schema.Struct({
  integrationId: Schema.String,
  type: JobTypeInput,
  options: opt(RequestedOptions)
})

const CommandResponse = Schema.Struct({
  success: Schema.Literal(true),
  jobId: Schema.String,
  status: JobStatus,
  message: Schema.String
})

export class JobsGroup extends HttpApiGroup.make("jobs")
  .annotate(OpenApi.Description, "Sync jobs: list and inspect them, start, stop, pause, resume and delete them")
  .add(
    HttpApiEndpoint.get("list", "/api/sync/jobs")
      .setUrlParams(Schema.Struct({
        status: opt(StatusFilter),
        integrationId: opt(Schema.String),
        type: opt(JobTypeInput),
        limit: opt(IntFromString("limit", 1, 500)),
        offset: opt(IntFromString("offset", 0, Number.MAX_SAFE_INTEGER))
      }))
      .addSuccess(Schema.Struct({ jobs: Schema.Array(JobView), total: Schema.Int }))
      .annotate(OpenApi.Summary, "List sync jobs, newest first")
  )
  .add(
    HttpApiEndpoint.post("create", "/api/sync/jobs")
      .setPayload(CreateJobRequest)
      .addSuccess(
        Schema.Struct({
          success: Schema.Literal(true),
          jobId: Schema.String,
          status: Schema.Literal("queued"),
          estimatedDuration: Schema.NullOr(Schema.Int)
        })
      )
      .addError(IntegrationNotFound)
      .addError(JobConflict)
      .annotate(OpenApi.Summary, "Create a sync job (queued)")
      .annotate(
        OpenApi.Description,
        "options.entities, excludeEntities, projects and excludeProjects are for selective_sync. A job that names none of them walks its integration's default selection (the integration's selection setting), whatever its type; the job's options show the selection it walks."
      )
  )
  .add(
    HttpApiEndpoint.post("stopAll", "/api/sync/jobs/stop-all")
      .setPayload(optionalBody({ integrationId: opt(Schema.String) }))
      .addSuccess(Schema.Struct({ success: Schema.Literal(true), stoppedJobs: Schema.Int, jobs: Schema.Array(Schema.String) }))
      .addError(IntegrationNotFound)
      .annotate(OpenApi.Summary, "Stop every queued and running job (of one integration)")
  )
  .add(
    HttpApiEndpoint.get("get", "/api/sync/jobs/:jobId")
      .setPath(jobIdPath)
      .addSuccess(JobDetail)
      .addError(JobNotFound)
      .annotate(OpenApi.Summary, "A job with live progress, stage, ETA, counters and its latest 100 log lines")
  )
  .add(
    HttpApiEndpoint.get("logs", "/api/sync/jobs/:jobId/logs")
      .setPath(jobIdPath)
      .setUrlParams(Schema.Struct({
        limit: opt(IntFromString("limit", 1, 1000)),
        offset: opt(IntFromString("offset", 0, Number.MAX_SAFE_INTEGER))
      }))
      .addSuccess(Schema.Struct({ jobId: Schema.String, logs: Schema.Array(LogLine), total: Schema.Int }))
      .addError(JobNotFound)
      .annotate(OpenApi.Summary, "Page through all of a job's log lines, oldest first")
  )
  .add(
    HttpApiEndpoint.get("events", "/api/sync/jobs/:jobId/events")
      .setPath(jobIdPath)
      .addSuccess(
        Schema.Struct({
          jobId: Schema.String,
          events: Schema.Array(Schema.Struct({
            position: Schema.Int,
            version: Schema.Int,
            type: Schema.String,
            schemaVersion: Schema.Int,
            recordedAt: Timestamp,
            data: JobEventData
          }))
        })
      )
      .addError(JobNotFound)
      .annotate(OpenApi.Summary, "The job's events in order, for audit (deleted jobs too)")
  )
  .add(
    HttpApiEndpoint.post("resume", "/api/sync/jobs/:jobId/resume")
      .setPath(jobIdPath)
      .addSuccess(CommandResponse)
      .addError(JobNotFound)
      .addError(InvalidTransition)
      .annotate(OpenApi.Summary, "Resume a paused, stopped or failed job from its last checkpoint")
  )
  .add(
    HttpApiEndpoint.post("stop", "/api/sync/jobs/:jobId/stop")
      .setPath(jobIdPath)
      .setPayload(optionalBody({ graceful: opt(Schema.Boolean) }))
      .addSuccess(CommandResponse)
      .addError(JobNotFound)
      .addError(InvalidTransition)
      .annotate(OpenApi.Summary, "Stop a job: graceful (default) lets the batch in flight commit")
  )
  .add(
    HttpApiEndpoint.post("pause", "/api/sync/jobs/:jobId/pause")
      .setPath(jobIdPath)
      .addSuccess(CommandResponse)
      .addError(JobNotFound)
      .addError(InvalidTransition)
      .annotate(OpenApi.Summary, "Pause a running job at its next batch boundary")
  )
  .add(
    HttpApiEndpoint.put("interval", "/api/sync/jobs/:jobId/interval")
      .setPath(jobIdPath)
      .setPayload(Schema.Struct({
        // Checked by IntegrationControl (embedders get the same check); documented here.
        interval: Schema.Number.annotations({
          jsonSchema: { type: "integer", minimum: MIN_INTERVAL, maximum: MAX_INTERVAL },
          description: "seconds, 30 (30 s) to 2592000 (30 days)"
        })
      }))
      .addSuccess(
        Schema.Struct({
          success: Schema.Literal(true),
          jobId: Schema.String,
          oldInterval: Schema.NullOr(Schema.Int).annotations({ description: "null when the schedule was a cron expression" }),
          newInterval: Schema.Int,
          nextRun: Timestamp
        })
      )
      .addError(JobNotFound)
      .addError(IntegrationNotFound)
      .annotate(OpenApi.Summary, "Change the sync interval (seconds) of the job's integration")
  )
  .add(
    HttpApiEndpoint.del("delete", "/api/sync/jobs/:jobId")
      .setPath(jobIdPath)
      .setPayload(optionalBody({ deleteLogs: opt(Schema.Boolean) }))
      .addSuccess(Schema.Struct({ success: Schema.Literal(true), deleted: Schema.String }))
      .addError(JobNotFound)
      .addError(InvalidTransition)
      .annotate(OpenApi.Summary, "Delete a finished job; its events stay in the log")
  )
  .middleware(Authorization)
  .annotate(OpenApi.Title, "Sync jobs")
{}

// ---- integrations --------------------------------------------------------------------------------
