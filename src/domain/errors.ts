import { HttpApiSchema } from "@effect/platform"
import { Schema } from "effect"

/**
 * Every error answers as `{"success": false, "error": "<Tag>", "message": "...", ...fields}`
 * (CONTRACT.md), and this file is where that shape is made: the classes below, all built by
 * `ApiError`, for the errors of the API's handlers (HttpApi encodes them), and `errorBody` for
 * the answers sent before or outside them (body checks, Node's parser, start-up). In a class,
 * `_tag` is a getter, not a field, so `Effect.catchTag` works on them and it never reaches the
 * wire (a `Schema.TaggedError` would encode `_tag` into every response).
 *
 * Errors that are never sent as they are (a storage conflict, a missing key, a port in use) are
 * `Schema.TaggedError`s where they are raised.
 */
const base = <const Tag extends string>(tag: Tag) => ({
  success: Schema.Literal(false).pipe(Schema.propertySignature, Schema.withConstructorDefault(() => false as const)),
  error: Schema.Literal(tag).pipe(Schema.propertySignature, Schema.withConstructorDefault(() => tag)),
  message: Schema.String
})

/** An error answer's body, for the answers no handler sends (the fields of the classes below). */
export const errorBody = (error: string, message: string) => ({ success: false as const, error, message })

/** The wire fields: `success`, `error` (the tag, unless `fields` names its own) and `message`, then `fields`. */
type WireFields<Tag extends string, Fields extends Schema.Struct.Fields> =
  & Omit<ReturnType<typeof base<Tag>>, keyof Fields>
  & Fields

type ApiErrorClass<Self, Tag extends string, F extends Schema.Struct.Fields> = Schema.Class<
  Self,
  F,
  Schema.Struct.Encoded<F>,
  Schema.Struct.Context<F>,
  Schema.Struct.Constructor<F>,
  {},
  { readonly _tag: Tag }
>

/**
 * `class X extends ApiError<X>()("X", { ...fields }, HttpApiSchema.annotations({ status }))`:
 * a Schema.Class of the wire fields with a `_tag` getter. Schema.Class's typing cannot be
 * extended generically, hence the casts inside (the declared return type is what callers see).
 */
const ApiError = <Self>() =>
<const Tag extends string, Fields extends Schema.Struct.Fields>(
  tag: Tag,
  fields: Fields,
  annotations: Schema.Annotations.Schema<Self>
): ApiErrorClass<Self, Tag, WireFields<Tag, Fields>> => {
  const WireClass: new(...args: Array<any>) => object = Schema.Class<any>(tag)({ ...base(tag), ...fields }, annotations as any)
  class WithTag extends WireClass {
    get _tag(): Tag {
      return tag
    }
  }
  return WithTag as any
}

export const Issue = Schema.Struct({ path: Schema.String, message: Schema.String })
export type Issue = typeof Issue.Type

export class ValidationError extends ApiError<ValidationError>()(
  "ValidationError",
  { issues: Schema.optionalWith(Schema.Array(Issue), { exact: true }) },
  HttpApiSchema.annotations({ status: 400, description: "The request is malformed or a field is invalid" })
) {}

/** The edge's answer to a request body that is not JSON (before any handler runs). */
export class MalformedJson extends ApiError<MalformedJson>()(
  "MalformedJson",
  {},
  HttpApiSchema.annotations({ status: 400, description: "The request body is not valid JSON" })
) {}

export class Unauthorized extends ApiError<Unauthorized>()(
  "Unauthorized",
  {},
  HttpApiSchema.annotations({ status: 401 })
) {}

export class Forbidden extends ApiError<Forbidden>()("Forbidden", {}, HttpApiSchema.annotations({ status: 403 })) {}

export class JobNotFound extends ApiError<JobNotFound>()(
  "JobNotFound",
  { jobId: Schema.String },
  HttpApiSchema.annotations({ status: 404 })
) {
  static of(jobId: string) {
    return new JobNotFound({ jobId, message: `No sync job with id '${jobId}'. List jobs with GET /api/sync/jobs.` })
  }
}

export class IntegrationNotFound extends ApiError<IntegrationNotFound>()(
  "IntegrationNotFound",
  { integrationId: Schema.String },
  HttpApiSchema.annotations({ status: 404 })
) {
  static of(integrationId: string) {
    return new IntegrationNotFound({
      integrationId,
      message:
        `No integration '${integrationId}'. Configured integrations are listed by GET /api/sync/integrations/status; add new ones to the config file and POST /api/sync/initialize, or create them with POST /api/sync/integrations.`
    })
  }
}

export class RecordNotFound extends ApiError<RecordNotFound>()(
  "RecordNotFound",
  { entity: Schema.String, id: Schema.String },
  HttpApiSchema.annotations({ status: 404 })
) {}

/** A transition the job's current state forbids: names both states. */
export class InvalidTransition extends ApiError<InvalidTransition>()(
  "InvalidTransition",
  { jobId: Schema.String, status: Schema.String, requested: Schema.String },
  HttpApiSchema.annotations({ status: 409 })
) {}

/** Reasons a new job is refused although the request is well formed. */
const CONFLICT_REASONS = [
  "FullSyncTooRecent",
  "FullSyncAlreadyActive",
  "BaselineRequired",
  "CircuitOpen",
  "IntegrationDisabled"
] as const

export class JobConflict extends ApiError<JobConflict>()(
  "JobConflict",
  {
    error: Schema.Literal(...CONFLICT_REASONS),
    integrationId: Schema.String,
    jobId: Schema.optionalWith(Schema.String, { exact: true })
  },
  HttpApiSchema.annotations({ status: 409 })
) {}

export class PayloadTooLarge extends ApiError<PayloadTooLarge>()(
  "PayloadTooLarge",
  {},
  HttpApiSchema.annotations({ status: 413 })
) {}

/** The edge's answer to a body sent with a content type other than JSON. */
export class UnsupportedMediaType extends ApiError<UnsupportedMediaType>()(
  "UnsupportedMediaType",
  {},
  HttpApiSchema.annotations({ status: 415, description: "The request body is not JSON (send Content-Type: application/json)" })
) {}

export class InternalError extends ApiError<InternalError>()(
  "InternalError",
  {},
  HttpApiSchema.annotations({ status: 500 })
) {}

export class NotFound extends ApiError<NotFound>()("NotFound", {}, HttpApiSchema.annotations({ status: 404 })) {}

/** The database cannot take the request now (a full disk, a read-only or locked file): 503. */
export class StorageUnavailable extends ApiError<StorageUnavailable>()(
  "StorageUnavailable",
  {},
  HttpApiSchema.annotations({ status: 503, description: "The database cannot serve the request now; the message says why and what to do" })
) {}

/** `GET /healthz` when the database fails: 503 with the health fields and the reason. */
export class Unhealthy extends ApiError<Unhealthy>()(
  "Unhealthy",
  {
    status: Schema.Literal("failing"),
    database: Schema.Literal("failing"),
    scheduler: Schema.Literal("running", "stopped"),
    runningJobs: Schema.Int,
    mode: Schema.Literal("file", "demo")
  },
  HttpApiSchema.annotations({ status: 503, description: "The database fails; message names the file and the fix" })
) {}

export const ReadinessReason = Schema.Struct({
  check: Schema.Literal("database", "scheduler", "recovery", "integration"),
  integrationId: Schema.optionalWith(Schema.String, { exact: true }),
  message: Schema.String
})

export class NotReady extends ApiError<NotReady>()(
  "NotReady",
  { status: Schema.Literal("failing"), reasons: Schema.Array(ReadinessReason) },
  HttpApiSchema.annotations({ status: 503, description: "Not ready: the database cannot be written, the scheduler is not running or start-up recovery has not finished" })
) {}
export type ReadinessReason = typeof ReadinessReason.Type

/** Reasons a change to an integration is refused although the request is well formed. */
const INTEGRATION_CONFLICT_REASONS = [
  "IntegrationExists",
  "IntegrationManagedByConfig",
  "IntegrationBusy",
  "CredentialsDisabled"
] as const

export class IntegrationConflict extends ApiError<IntegrationConflict>()(
  "IntegrationConflict",
  {
    error: Schema.Literal(...INTEGRATION_CONFLICT_REASONS),
    integrationId: Schema.String
  },
  HttpApiSchema.annotations({ status: 409 })
) {}
