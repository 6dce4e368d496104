import { HttpApi, HttpApiEndpoint, HttpApiGroup, HttpApiSchema, OpenApi } from "@effect/platform"
import { ParseResult, Schema } from "effect"
import pkg from "../../package.json" with { type: "json" }
import { MAX_INTERVAL, MIN_INTERVAL } from "../config/ConfigFile.js"
import { ENTITY_TYPES, EntityType, isEntityType } from "../domain/entities.js"
import { ApiIntegrationConfig } from "../config/apiIntegration.js"
import { IntegrationOrigin, IntegrationSettings, JobEvent, ScheduleSpec, SyncWindowSpec } from "../domain/events.js"
import {
  IntegrationConflict,
  IntegrationNotFound,
  InternalError,
  InvalidTransition,
  JobConflict,
  JobNotFound,
  MalformedJson,
  NotFound,
  PayloadTooLarge,
  RecordNotFound,
  StorageUnavailable,
  Unauthorized,
  UnsupportedMediaType,
  NotReady,
  ReadinessReason,
  Unhealthy,
  ValidationError
} from "../domain/errors.js"
import { Authorization, StreamAuthorization } from "./Authorization.js"
import {
  Counters,
  JOB_STATUSES,
  JobOptions,
  JobStatus,
  JobTrigger,
  JobType,
  JobTypeInput,
  PauseReason,
  Stage
} from "../domain/job.js"
import { finishOpenApiDocument } from "./openApiDocument.js"

/**
 * The HTTP contract of `../shared/spec/sync-api.txt` plus CONTRACT.md's extras, shared by the
 * server and the typed client (`HttpApiClient.make(SyncApi)`). No implementation here.
 */

const opt = <S extends Schema.Schema.Any>(s: S) => Schema.optionalWith(s, { exact: true })

/**
 * A body every field of which is optional: an empty body (or none) is `{}`. The OpenAPI document
 * lists such a body as not required (openApiDocument.ts recognises it by the `null` it accepts).
 */
const optionalBody = <F extends Schema.Struct.Fields>(fields: F) => {
  const struct = Schema.Struct(fields)
  return Schema.transform(Schema.Union(struct, Schema.Null), Schema.typeSchema(struct), {
    strict: false,
    decode: (value) => value ?? {},
    encode: (value) => value
  })
}

/** A whole-number query parameter; documented as an integer with its bounds, as clients send it. */
const IntFromString = (name: string, min: number, max: number) =>
  Schema.NumberFromString.pipe(
    Schema.int({ message: () => `${name} must be a whole number` }),
    Schema.between(min, max, { message: () => `${name} must be between ${min} and ${max}` })
  ).annotations({ jsonSchema: { type: "integer", minimum: min, maximum: max } })

const BooleanFromString = Schema.transformOrFail(Schema.String, Schema.Boolean, {
  strict: true,
  decode: (s, _, ast) =>
    s === "true" || s === "1" ? ParseResult.succeed(true)
    : s === "false" || s === "0" ? ParseResult.succeed(false)
    : ParseResult.fail(new ParseResult.Type(ast, s, "expected true or false")),
  encode: (b) => ParseResult.succeed(String(b))
}).annotations({ jsonSchema: { type: "boolean", description: "true or false (1 and 0 work too)" } })

/**
 * `status=running`, `status=queued,running` or `status=queued&status=running` (what generated
 * clients send for an array by default); `pending` means queued.
 */
const StatusFilter = Schema.transformOrFail(Schema.Union(Schema.String, Schema.Array(Schema.String)), Schema.Array(JobStatus), {
  strict: true,
  decode: (given, _, ast) => {
    const s = typeof given === "string" ? given : given.join(",")
    const out: Array<JobStatus> = []
    for (const part of s.split(",").map((p) => p.trim()).filter((p) => p !== "")) {
      const status = part === "pending" ? "queued" : part
      if (!(JOB_STATUSES as ReadonlyArray<string>).includes(status)) {
        return ParseResult.fail(
          new ParseResult.Type(ast, s, `unknown status '${part}'; valid: pending, ${JOB_STATUSES.join(", ")}`)
        )
      }
      out.push(status as JobStatus)
    }
    return ParseResult.succeed(out)
  },
  encode: (statuses) => ParseResult.succeed(statuses.join(","))
}).annotations({
  jsonSchema: {
    type: "array",
    items: { type: "string", enum: ["pending", ...JOB_STATUSES] },
    description: "one status or a comma list (pending = queued)"
  }
})

const EntityName = Schema.transformOrFail(Schema.String, EntityType, {
  strict: true,
  decode: (s, _, ast) =>
    isEntityType(s)
      ? ParseResult.succeed(s)
      : ParseResult.fail(new ParseResult.Type(ast, s, `unknown entity type '${s}'; valid: ${ENTITY_TYPES.join(", ")}`)),
  encode: ParseResult.succeed
}).annotations({ jsonSchema: { type: "string", enum: ENTITY_TYPES } })

const Timestamp = Schema.String.annotations({ description: "ISO-8601 UTC, milliseconds", jsonSchema: { format: "date-time" } })
/** A time the source gave, normalised to UTC (the source's precision: microseconds for Plane). */
const SourceTimestamp = Schema.String.annotations({
  description: "ISO-8601 UTC, the source's time (microseconds for Plane)",
  jsonSchema: { format: "date-time" }
})

/**
 * Served as stored, so not re-validated at run time; documented as the shapes of the current
 * schema version (`schemaVersion`), each a component named after its event type.
 */
const JobEventData = Schema.Unknown.annotations({
  jsonSchema: {
    anyOf: JobEvent.members.map((event) => ({ $ref: `#/components/schemas/${event.identifier}` })),
    description: "the event's payload; its shape is given by `type` and `schemaVersion`"
  }
})

/** The record as the source sent it, every field kept. */
const SourcePayload = Schema.Unknown.annotations({
  jsonSchema: {
    type: "object",
    additionalProperties: true,
    description: "the record as the source sent it (Plane's JSON, every field kept)"
  }
})

// ---- jobs ---------------------------------------------------------------------------------------
export const LogLine = Schema.Struct({
  timestamp: Timestamp,
  level: Schema.Literal("debug", "info", "warn", "error"),
  message: Schema.String
})

/** A request of the job waiting longer than 2 s to be sent; shown while the wait lasts. */
export const JobWaiting = Schema.Struct({
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

const jobIdPath = Schema.Struct({ jobId: Schema.String })

const RequestedOptions = Schema.Struct({
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
export const IntegrationStatusView = Schema.Struct({
  integrationId: Schema.String,
  name: Schema.String,
  type: Schema.Literal("plane"),
  status: Schema.Literal("active", "stopped", "circuit_open", "disabled"),
  lastSync: Schema.NullOr(Timestamp),
  lastSuccessfulSync: Schema.NullOr(Timestamp),
  nextSync: Schema.NullOr(Timestamp),
  syncInterval: Schema.NullOr(Schema.Int).annotations({ description: "schedule.every; null for a cron schedule" }),
  fullSyncInterval: Schema.NullOr(Schema.Int),
  schedule: ScheduleSpec,
  fullSyncSchedule: Schema.NullOr(ScheduleSpec),
  syncWindow: Schema.NullOr(SyncWindowSpec),
  currentJob: Schema.NullOr(Schema.Struct({ id: Schema.String, status: JobStatus, progress: Schema.Int })),
  stats: Schema.Struct({
    totalJobs: Schema.Int,
    successRate: Schema.NullOr(Schema.Number),
    averageDuration: Schema.NullOr(Schema.Int)
  }),
  circuitBreaker: Schema.Struct({
    state: Schema.Literal("closed", "open", "half_open"),
    consecutiveFailures: Schema.Int,
    openedAt: Schema.NullOr(Timestamp),
    nextProbeAt: Schema.NullOr(Timestamp),
    reason: Schema.NullOr(Schema.String)
  }),
  rateLimit: Schema.NullOr(Schema.Struct({
    requestsPerMinute: Schema.Int,
    remaining: Schema.Int,
    resetAt: Schema.NullOr(Timestamp),
    blockedUntil: Schema.NullOr(Timestamp)
  }))
}).annotations({ identifier: "IntegrationStatus" })
export type IntegrationStatusView = typeof IntegrationStatusView.Type

const integrationPath = Schema.Struct({ integrationId: Schema.String })

export const MirrorRecordView = Schema.Struct({
  entity: EntityType,
  id: Schema.String,
  projectId: Schema.NullOr(Schema.String),
  updatedAt: Schema.NullOr(SourceTimestamp),
  firstSeenAt: Timestamp,
  lastSeenAt: Timestamp,
  archivedAt: Schema.NullOr(Schema.String.annotations({
    description: "the source's archived_at, as it sent it",
    jsonSchema: { format: "date-time" }
  })),
  deletedAt: Schema.NullOr(Timestamp),
  payload: SourcePayload
}).annotations({ identifier: "MirrorRecord" })

export class IntegrationsGroup extends HttpApiGroup.make("integrations")
  .annotate(OpenApi.Description, "Integrations: their status and schedule, and the mirror of their data")
  .add(
    HttpApiEndpoint.get("status", "/api/sync/integrations/status")
      .addSuccess(Schema.Struct({ integrations: Schema.Array(IntegrationStatusView) }))
      .annotate(OpenApi.Summary, "Sync status of every integration")
  )
  .add(
    HttpApiEndpoint.post("start", "/api/sync/integrations/:integrationId/start")
      .setPath(integrationPath)
      .setPayload(optionalBody({
        syncType: opt(Schema.Literal("full", "incremental", "selective", "full_sync", "incremental_sync", "selective_sync")),
        scheduleImmediate: opt(Schema.Boolean)
      }))
      .addSuccess(
        Schema.Struct({
          success: Schema.Literal(true),
          integrationId: Schema.String,
          jobId: Schema.NullOr(Schema.String),
          message: Schema.String
        })
      )
      .addError(IntegrationNotFound)
      .addError(JobConflict)
      .annotate(OpenApi.Summary, "Activate the integration's schedule and (by default) sync now")
  )
  .add(
    HttpApiEndpoint.post("stop", "/api/sync/integrations/:integrationId/stop")
      .setPath(integrationPath)
      .addSuccess(
        Schema.Struct({
          success: Schema.Literal(true),
          integrationId: Schema.String,
          activeJobsStopped: Schema.Int,
          jobs: Schema.Array(Schema.String),
          message: Schema.String
        })
      )
      .addError(IntegrationNotFound)
      .annotate(OpenApi.Summary, "Stop the integration's schedule and its queued and running jobs")
  )
  .add(
    HttpApiEndpoint.get("records", "/api/sync/integrations/:integrationId/records")
      .setPath(integrationPath)
      .setUrlParams(Schema.Struct({
        entity: EntityName,
        updatedSince: opt(Schema.String.annotations({
          description: "only records the source updated at or after this ISO-8601 time",
          jsonSchema: { format: "date-time" }
        })),
        includeDeleted: opt(BooleanFromString),
        limit: opt(IntFromString("limit", 1, 1000)),
        cursor: opt(Schema.String)
      }))
      .addSuccess(
        Schema.Struct({ records: Schema.Array(MirrorRecordView), total: Schema.Int, nextCursor: Schema.NullOr(Schema.String) })
      )
      .addError(IntegrationNotFound)
      .annotate(OpenApi.Summary, "Read the mirror: records of one entity type, cursor-paginated")
  )
  .add(
    HttpApiEndpoint.get("record", "/api/sync/integrations/:integrationId/records/:entity/:id")
      .setPath(Schema.Struct({ integrationId: Schema.String, entity: EntityName, id: Schema.String }))
      .addSuccess(MirrorRecordView)
      .addError(IntegrationNotFound)
      .addError(RecordNotFound)
      .annotate(OpenApi.Summary, "One mirrored record")
  )
  .middleware(Authorization)
  .annotate(OpenApi.Title, "Integrations")
{}

// ---- integration settings (created, changed, removed over the API) -------------------------------
const { connector: _connector, ...settingsFields } = IntegrationSettings.fields

export const IntegrationSettingsView = Schema.Struct({
  id: Schema.String,
  source: IntegrationOrigin.annotations({ description: "config: from the config file (edit the file to change it); api: created over the API" }),
  type: Schema.Literal("plane"),
  ...settingsFields,
  credential: Schema.NullOr(Schema.Struct({
    fingerprint: Schema.String.annotations({ description: "4 hex characters of the stored key's SHA-256 (never the key)" }),
    updatedAt: Timestamp
  })),
  registeredAt: Timestamp
}).annotations({ identifier: "IntegrationSettings" })
export type IntegrationSettingsView = typeof IntegrationSettingsView.Type

/**
 * Checked by IntegrationAdmin (every bad key named, unknown keys refused, as in the config
 * file); documented here with the config file's schema.
 */
const IntegrationInputBody = Schema.Record({ key: Schema.String, value: Schema.Unknown }).annotations({
  jsonSchema: { $ref: "#/components/schemas/IntegrationInput" },
  description: "an integration with the config file's keys"
})
const IntegrationPatchBody = Schema.Record({ key: Schema.String, value: Schema.Unknown }).annotations({
  jsonSchema: { type: "object", description: "any keys of IntegrationInput but id; null unsets an optional key" }
})
export const IntegrationInputSchema = ApiIntegrationConfig.annotations({ identifier: "IntegrationInput" })

export class IntegrationSettingsGroup extends HttpApiGroup.make("integrationSettings")
  .annotate(OpenApi.Description, "Integrations created, changed and removed at run time, and their stored API keys")
  .add(
    HttpApiEndpoint.get("list", "/api/sync/integrations")
      .addSuccess(Schema.Struct({ integrations: Schema.Array(IntegrationSettingsView) }))
      .annotate(OpenApi.Summary, "Every integration's settings (never a key), from the config file and the API")
  )
  .add(
    HttpApiEndpoint.post("create", "/api/sync/integrations")
      .setPayload(IntegrationInputBody)
      .addSuccess(Schema.Struct({ success: Schema.Literal(true), integration: IntegrationSettingsView }), { status: 201 })
      .addError(IntegrationConflict)
      .annotate(OpenApi.Summary, "Create an integration (the config file's keys; apiKeyEnv optional)")
  )
  .add(
    HttpApiEndpoint.get("get", "/api/sync/integrations/:integrationId")
      .setPath(integrationPath)
      .addSuccess(IntegrationSettingsView)
      .addError(IntegrationNotFound)
      .annotate(OpenApi.Summary, "One integration's settings (never a key)")
  )
  .add(
    HttpApiEndpoint.patch("update", "/api/sync/integrations/:integrationId")
      .setPath(integrationPath)
      .setPayload(IntegrationPatchBody)
      .addSuccess(Schema.Struct({
        success: Schema.Literal(true),
        changed: Schema.Array(Schema.String),
        integration: IntegrationSettingsView
      }))
      .addError(IntegrationNotFound)
      .addError(IntegrationConflict)
      .annotate(OpenApi.Summary, "Change an API integration's settings; a running job keeps its settings, the next job uses the new ones")
  )
  .add(
    HttpApiEndpoint.del("remove", "/api/sync/integrations/:integrationId")
      .setPath(integrationPath)
      .setUrlParams(Schema.Struct({ purgeMirror: opt(BooleanFromString) }))
      .addSuccess(Schema.Struct({ success: Schema.Literal(true), deleted: Schema.String, purgedRecords: Schema.Int }))
      .addError(IntegrationNotFound)
      .addError(IntegrationConflict)
      .annotate(OpenApi.Summary, "Remove an API integration (409 while it has a queued or running job); its events stay")
  )
  .add(
    HttpApiEndpoint.put("putCredentials", "/api/sync/integrations/:integrationId/credentials")
      .setPath(integrationPath)
      .setPayload(Schema.Struct({
        apiKey: Schema.String.pipe(
          Schema.minLength(1, { message: () => "expected the API key (not empty)" }),
          Schema.maxLength(4096, { message: () => "expected at most 4096 characters" })
        )
      }))
      .addSuccess(Schema.Struct({
        success: Schema.Literal(true),
        integrationId: Schema.String,
        credential: Schema.Struct({ fingerprint: Schema.String, updatedAt: Timestamp }),
        message: Schema.String
      }))
      .addError(IntegrationNotFound)
      .addError(IntegrationConflict)
      .annotate(OpenApi.Summary, "Store (or rotate) the integration's API key, encrypted at rest; needs SYNC_MASTER_KEY")
      .annotate(
        OpenApi.Description,
        "The key is used from the next request on, by jobs already running too; a variable named by apiKeyEnv wins when it is set."
      )
  )
  .add(
    HttpApiEndpoint.del("deleteCredentials", "/api/sync/integrations/:integrationId/credentials")
      .setPath(integrationPath)
      .addSuccess(Schema.Struct({ success: Schema.Literal(true), integrationId: Schema.String, removed: Schema.Boolean }))
      .addError(IntegrationNotFound)
      .annotate(OpenApi.Summary, "Delete the integration's stored API key")
      .annotate(OpenApi.Description, "A running job that uses it fails at its next request, saying how to store a key; resume it after storing one.")
  )
  .middleware(Authorization)
  .annotate(OpenApi.Title, "Integration settings")
{}

// ---- live streams ------------------------------------------------------------------------------------
/** A Server-Sent Events body: `id:` the event's log position, `event:` its type, `data:` JSON. */
export const EventStreamBody = HttpApiSchema.Text({ contentType: "text/event-stream" }).annotations({
  description: "Server-Sent Events. Each event: `id: <log position>`, `event: <type>`, `data: {position, streamId, " +
    "version, type, schemaVersion, recordedAt, data}`. `: heartbeat` comments every 15 s. A client that falls " +
    "too far behind gets `event: overflow` and is disconnected; reconnect with `Last-Event-ID`."
})

const streamResume = {
  after: opt(IntFromString("after", 0, Number.MAX_SAFE_INTEGER).annotations({
    description: "Start after this log position (the SSE id); `Last-Event-ID` wins when both are given"
  }))
}
const streamHeaders = Schema.Struct({ "last-event-id": opt(Schema.String) })

export class StreamsGroup extends HttpApiGroup.make("streams")
  .add(
    HttpApiEndpoint.get("events", "/api/sync/stream")
      .setUrlParams(Schema.Struct({
        ...streamResume,
        integrationId: opt(Schema.String),
        jobId: opt(Schema.String),
        types: opt(Schema.String.annotations({ description: "Comma list of event types, e.g. JobFailed,JobCompleted" }))
      }))
      .setHeaders(streamHeaders)
      .addSuccess(EventStreamBody)
      .annotate(OpenApi.Summary, "Live stream of every job and integration event (SSE), resumable by position")
  )
  .add(
    HttpApiEndpoint.get("job", "/api/sync/jobs/:jobId/stream")
      .setPath(jobIdPath)
      .setUrlParams(Schema.Struct(streamResume))
      .setHeaders(streamHeaders)
      .addSuccess(EventStreamBody)
      .addError(JobNotFound)
      .annotate(
        OpenApi.Summary,
        "Live stream of one job (SSE): its events and a `progress` message after each; ends after its terminal event"
      )
  )
  .middleware(StreamAuthorization)
  .annotate(OpenApi.Title, "Live streams")
{}

// ---- metrics -----------------------------------------------------------------------------------------
export class MetricsGroup extends HttpApiGroup.make("metrics")
  .add(
    HttpApiEndpoint.get("scrape", "/metrics")
      .addSuccess(HttpApiSchema.Text({ contentType: "text/plain; version=0.0.4" }).annotations({
        description: "Prometheus text exposition format; every name starts with synclog_"
      }))
      .annotate(OpenApi.Summary, "Prometheus metrics (jobs, records, source requests, budgets, circuits, HTTP, webhooks)")
  )
  // Scrapers send the token like any client (Prometheus: `authorization: {credentials: ...}`);
  // the read-only token is enough.
  .middleware(Authorization)
  .annotate(OpenApi.Title, "Metrics")
{}

// ---- system ----------------------------------------------------------------------------------------
export class SystemGroup extends HttpApiGroup.make("system")
  .annotate(OpenApi.Description, "Configuration reload and health")
  .add(
    HttpApiEndpoint.post("initialize", "/api/sync/initialize")
      .addSuccess(
        Schema.Struct({
          success: Schema.Literal(true),
          message: Schema.String,
          schedulerStatus: Schema.Literal("running", "stopped"),
          integrationsFound: Schema.Int,
          registered: Schema.Array(Schema.String),
          updated: Schema.Array(Schema.String)
        })
      )
      .annotate(OpenApi.Summary, "(Re)read the config file, register integrations, (re)start the scheduler")
  )
  // Endpoints above need the token; /healthz below is public (liveness probes carry no token).
  .middlewareEndpoints(Authorization)
  .add(
    HttpApiEndpoint.get("health", "/healthz")
      .addSuccess(
        Schema.Struct({
          status: Schema.Literal("ok"),
          database: Schema.Literal("ok"),
          scheduler: Schema.Literal("running", "stopped"),
          runningJobs: Schema.Int,
          mode: Schema.Literal("file", "demo")
        })
      )
      .addError(Unhealthy)
      .annotate(OpenApi.Summary, "Liveness and readiness")
  )
  .add(
    HttpApiEndpoint.get("ready", "/readyz")
      .addSuccess(
        Schema.Struct({
          status: Schema.Literal("ok", "degraded"),
          reasons: Schema.Array(ReadinessReason)
        })
      )
      .addError(NotReady)
      .annotate(
        OpenApi.Summary,
        "Readiness: 503 when the database cannot be written, the scheduler is not running or recovery has not finished; " +
          "200 `degraded` with one reason per integration in trouble (circuit open, failed jobs, missing API key)"
      )
  )
  .annotate(OpenApi.Title, "System")
{}

// ---- notifications (webhooks) ---------------------------------------------------------------------
export const NotificationEndpointView = Schema.Struct({
  id: Schema.String,
  url: Schema.String.annotations({ description: "User info, query values and long path segments masked as ***" }),
  events: Schema.Array(Schema.String),
  integrationIds: Schema.NullOr(Schema.Array(Schema.String)),
  format: Schema.Literal("json", "slack"),
  signed: Schema.Boolean,
  state: Schema.Struct({
    position: Schema.Int,
    pending: Schema.Int,
    lastSuccessAt: Schema.NullOr(Timestamp),
    lastErrorAt: Schema.NullOr(Timestamp),
    lastError: Schema.NullOr(Schema.String),
    givenUp: Schema.Int
  })
}).annotations({ identifier: "NotificationEndpoint" })

export class NotificationsGroup extends HttpApiGroup.make("notifications")
  .add(
    HttpApiEndpoint.get("list", "/api/sync/notifications")
      .addSuccess(Schema.Struct({ endpoints: Schema.Array(NotificationEndpointView) }))
      .annotate(OpenApi.Summary, "Webhook endpoints with their delivery state")
  )
  .add(
    HttpApiEndpoint.post("test", "/api/sync/notifications/test")
      .setPayload(optionalBody({ endpointId: opt(Schema.String) }))
      .addSuccess(
        Schema.Struct({
          success: Schema.Literal(true),
          results: Schema.Array(Schema.Struct({
            endpointId: Schema.String,
            delivered: Schema.Boolean,
            status: Schema.NullOr(Schema.Int),
            error: Schema.NullOr(Schema.String)
          }))
        })
      )
      .annotate(OpenApi.Summary, "Send a test notification now to every endpoint (or one), and report each outcome")
  )
  .middleware(Authorization)
  .annotate(OpenApi.Title, "Notifications")
{}

export class SyncApi extends HttpApi.make("synclog")
  .add(JobsGroup)
  .add(IntegrationsGroup)
  .add(IntegrationSettingsGroup)
  .add(StreamsGroup)
  .add(MetricsGroup)
  .add(SystemGroup)
  .add(NotificationsGroup)
  .addError(ValidationError)
  .addError(Unauthorized)
  .addError(NotFound)
  // Sent by the edge before any handler runs; the document lists them only on methods with a body.
  .addError(MalformedJson)
  .addError(PayloadTooLarge)
  .addError(UnsupportedMediaType)
  .addError(InternalError)
  .addError(StorageUnavailable)
  .annotate(OpenApi.Title, "synclog")
  .annotate(HttpApi.AdditionalSchemas, [...JobEvent.members, IntegrationInputSchema])
  .annotate(OpenApi.Version, pkg.version)
  .annotate(OpenApi.License, { name: pkg.license, url: `https://spdx.org/licenses/${pkg.license}.html` })
  .annotate(OpenApi.Servers, [{ url: "/", description: "the server that serves this document" }])
  .annotate(OpenApi.Description, "Sync jobs that mirror a Plane workspace into a local store, with an event log for audit.")
  .annotate(OpenApi.Transform, finishOpenApiDocument)
{}

export { HttpApiSchema }
