import { HttpApiSchema } from "@effect/platform"
import { Schema } from "effect"

/**
 * Every error answers as `{"success": false, "error": "<Tag>", "message": "...", ...fields}`
 * (CONTRACT.md). The classes below are that wire shape; `_tag` is a getter, not a field, so
 * `Effect.catchTag` works on them and it never reaches the wire.
 */
const base = <const Tag extends string>(tag: Tag) => ({
  success: Schema.Literal(false).pipe(Schema.propertySignature, Schema.withConstructorDefault(() => false as const)),
  error: Schema.Literal(tag).pipe(Schema.propertySignature, Schema.withConstructorDefault(() => tag)),
  message: Schema.String
})

export const Issue = Schema.Struct({ path: Schema.String, message: Schema.String })
export type Issue = typeof Issue.Type

export class ValidationError extends Schema.Class<ValidationError>("ValidationError")(
  { ...base("ValidationError"), issues: Schema.optionalWith(Schema.Array(Issue), { exact: true }) },
  HttpApiSchema.annotations({ status: 400, description: "The request is malformed or a field is invalid" })
) {
  get _tag() {
    return "ValidationError" as const
  }
}

/** The edge's answer to a request body that is not JSON (before any handler runs). */
export class MalformedJson extends Schema.Class<MalformedJson>("MalformedJson")(
  base("MalformedJson"),
  HttpApiSchema.annotations({ status: 400, description: "The request body is not valid JSON" })
) {
  get _tag() {
    return "MalformedJson" as const
  }
}

export class Unauthorized extends Schema.Class<Unauthorized>("Unauthorized")(
  base("Unauthorized"),
  HttpApiSchema.annotations({ status: 401 })
) {
  get _tag() {
    return "Unauthorized" as const
  }
}

export class Forbidden extends Schema.Class<Forbidden>("Forbidden")(
  base("Forbidden"),
  HttpApiSchema.annotations({ status: 403 })
) {
  get _tag() {
    return "Forbidden" as const
  }
}

export class JobNotFound extends Schema.Class<JobNotFound>("JobNotFound")(
  { ...base("JobNotFound"), jobId: Schema.String },
  HttpApiSchema.annotations({ status: 404 })
) {
  get _tag() {
    return "JobNotFound" as const
  }
  static of(jobId: string) {
    return new JobNotFound({ jobId, message: `No sync job with id '${jobId}'. List jobs with GET /api/sync/jobs.` })
  }
}

export class IntegrationNotFound extends Schema.Class<IntegrationNotFound>("IntegrationNotFound")(
  { ...base("IntegrationNotFound"), integrationId: Schema.String },
  HttpApiSchema.annotations({ status: 404 })
) {
  get _tag() {
    return "IntegrationNotFound" as const
  }
  static of(integrationId: string) {
    return new IntegrationNotFound({
      integrationId,
      message:
        `No integration '${integrationId}'. Configured integrations are listed by GET /api/sync/integrations/status; add new ones to the config file and POST /api/sync/initialize, or create them with POST /api/sync/integrations.`
    })
  }
}

export class RecordNotFound extends Schema.Class<RecordNotFound>("RecordNotFound")(
  { ...base("RecordNotFound"), entity: Schema.String, id: Schema.String },
  HttpApiSchema.annotations({ status: 404 })
) {
  get _tag() {
    return "RecordNotFound" as const
  }
}

/** A transition the job's current state forbids: names both states. */
export class InvalidTransition extends Schema.Class<InvalidTransition>("InvalidTransition")(
  { ...base("InvalidTransition"), jobId: Schema.String, status: Schema.String, requested: Schema.String },
  HttpApiSchema.annotations({ status: 409 })
) {
  get _tag() {
    return "InvalidTransition" as const
  }
}

/** Reasons a new job is refused although the request is well formed. */
const CONFLICT_REASONS = [
  "FullSyncTooRecent",
  "FullSyncAlreadyActive",
  "BaselineRequired",
  "CircuitOpen",
  "IntegrationDisabled"
] as const

export class JobConflict extends Schema.Class<JobConflict>("JobConflict")(
  {
    success: base("x").success,
    error: Schema.Literal(...CONFLICT_REASONS),
    message: Schema.String,
    integrationId: Schema.String,
    jobId: Schema.optionalWith(Schema.String, { exact: true })
  },
  HttpApiSchema.annotations({ status: 409 })
) {
  get _tag() {
    return "JobConflict" as const
  }
}

export class PayloadTooLarge extends Schema.Class<PayloadTooLarge>("PayloadTooLarge")(
  base("PayloadTooLarge"),
  HttpApiSchema.annotations({ status: 413 })
) {
  get _tag() {
    return "PayloadTooLarge" as const
  }
}

/** The edge's answer to a body sent with a content type other than JSON. */
export class UnsupportedMediaType extends Schema.Class<UnsupportedMediaType>("UnsupportedMediaType")(
  base("UnsupportedMediaType"),
  HttpApiSchema.annotations({ status: 415, description: "The request body is not JSON (send Content-Type: application/json)" })
) {
  get _tag() {
    return "UnsupportedMediaType" as const
  }
}

export class InternalError extends Schema.Class<InternalError>("InternalError")(
  base("InternalError"),
  HttpApiSchema.annotations({ status: 500 })
) {
  get _tag() {
    return "InternalError" as const
  }
}

export class NotFound extends Schema.Class<NotFound>("NotFound")(
  base("NotFound"),
  HttpApiSchema.annotations({ status: 404 })
) {
  get _tag() {
    return "NotFound" as const
  }
}

/** The database cannot take the request now (a full disk, a read-only or locked file): 503. */
export class StorageUnavailable extends Schema.Class<StorageUnavailable>("StorageUnavailable")(
  base("StorageUnavailable"),
  HttpApiSchema.annotations({ status: 503, description: "The database cannot serve the request now; the message says why and what to do" })
) {
  get _tag() {
    return "StorageUnavailable" as const
  }
}

/** `GET /healthz` when the database fails: 503 with the health fields and the reason. */
export class Unhealthy extends Schema.Class<Unhealthy>("Unhealthy")(
  {
    ...base("Unhealthy"),
    status: Schema.Literal("failing"),
    database: Schema.Literal("failing"),
    scheduler: Schema.Literal("running", "stopped"),
    runningJobs: Schema.Int,
    mode: Schema.Literal("file", "demo")
  },
  HttpApiSchema.annotations({ status: 503, description: "The database fails; message names the file and the fix" })
) {
  get _tag() {
    return "Unhealthy" as const
  }
}

export const ReadinessReason = Schema.Struct({
  check: Schema.Literal("database", "scheduler", "recovery", "integration"),
  integrationId: Schema.optionalWith(Schema.String, { exact: true }),
  message: Schema.String
})

export class NotReady extends Schema.Class<NotReady>("NotReady")(
  { ...base("NotReady"), status: Schema.Literal("failing"), reasons: Schema.Array(ReadinessReason) },
  HttpApiSchema.annotations({ status: 503, description: "Not ready: the database cannot be written, the scheduler is not running or start-up recovery has not finished" })
) {
  get _tag() {
    return "NotReady" as const
  }
}
export type ReadinessReason = typeof ReadinessReason.Type

/** Reasons a change to an integration is refused although the request is well formed. */
const INTEGRATION_CONFLICT_REASONS = [
  "IntegrationExists",
  "IntegrationManagedByConfig",
  "IntegrationBusy",
  "CredentialsDisabled"
] as const

export class IntegrationConflict extends Schema.Class<IntegrationConflict>("IntegrationConflict")(
  {
    success: base("x").success,
    error: Schema.Literal(...INTEGRATION_CONFLICT_REASONS),
    message: Schema.String,
    integrationId: Schema.String
  },
  HttpApiSchema.annotations({ status: 409 })
) {
  get _tag() {
    return "IntegrationConflict" as const
  }
}
