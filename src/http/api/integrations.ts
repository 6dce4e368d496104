/** The integrations group: status, control, mirrored records. */
import { HttpApiEndpoint, HttpApiGroup, OpenApi } from "@effect/platform"
import { Schema } from "effect"
import { EntityType } from "../../domain/entities.js"
import { ScheduleSpec, SyncWindowSpec } from "../../domain/events.js"
import { IntegrationNotFound, JobConflict, RecordNotFound } from "../../domain/errors.js"
import { Authorization } from "../Authorization.js"
import { JobStatus } from "../../domain/job.js"
import { BooleanFromString, EntityName, IntFromString, SourcePayload, SourceTimestamp, Timestamp, opt, optionalBody } from "./common.js"

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

export const integrationPath = Schema.Struct({ integrationId: Schema.String })

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
