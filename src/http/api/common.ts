/** Small schemas shared by the endpoint groups: optional fields, query-string numbers and booleans, filters, timestamps. */
import { ParseResult, Schema } from "effect"
import { ENTITY_TYPES, EntityType, isEntityType } from "../../domain/entities.js"
import { JobEvent } from "../../domain/events.js"
import { JOB_STATUSES, JobStatus } from "../../domain/job.js"

export const opt = <S extends Schema.Schema.Any>(s: S) => Schema.optionalWith(s, { exact: true })

/**
 * A body every field of which is optional: an empty body (or none) is `{}`. The OpenAPI document
 * lists such a body as not required (openApiDocument.ts recognises it by the `null` it accepts).
 */
export const optionalBody = <F extends Schema.Struct.Fields>(fields: F) => {
  const struct = Schema.Struct(fields)
  return Schema.transform(Schema.Union(struct, Schema.Null), Schema.typeSchema(struct), {
    strict: false,
    decode: (value) => value ?? {},
    encode: (value) => value
  })
}

/** A whole-number query parameter; documented as an integer with its bounds, as clients send it. */
export const IntFromString = (name: string, min: number, max: number) =>
  Schema.NumberFromString.pipe(
    Schema.int({ message: () => `${name} must be a whole number` }),
    Schema.between(min, max, { message: () => `${name} must be between ${min} and ${max}` })
  ).annotations({ jsonSchema: { type: "integer", minimum: min, maximum: max } })

export const BooleanFromString = Schema.transformOrFail(Schema.String, Schema.Boolean, {
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
export const StatusFilter = Schema.transformOrFail(Schema.Union(Schema.String, Schema.Array(Schema.String)), Schema.Array(JobStatus), {
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

export const EntityName = Schema.transformOrFail(Schema.String, EntityType, {
  strict: true,
  decode: (s, _, ast) =>
    isEntityType(s)
      ? ParseResult.succeed(s)
      : ParseResult.fail(new ParseResult.Type(ast, s, `unknown entity type '${s}'; valid: ${ENTITY_TYPES.join(", ")}`)),
  encode: ParseResult.succeed
}).annotations({ jsonSchema: { type: "string", enum: ENTITY_TYPES } })

export const Timestamp = Schema.String.annotations({ description: "ISO-8601 UTC, milliseconds", jsonSchema: { format: "date-time" } })
/** A time the source gave, normalised to UTC (the source's precision: microseconds for Plane). */
export const SourceTimestamp = Schema.String.annotations({
  description: "ISO-8601 UTC, the source's time (microseconds for Plane)",
  jsonSchema: { format: "date-time" }
})

/**
 * Served as stored, so not re-validated at run time; documented as the shapes of the current
 * schema version (`schemaVersion`), each a component named after its event type.
 */
export const JobEventData = Schema.Unknown.annotations({
  jsonSchema: {
    anyOf: JobEvent.members.map((event) => ({ $ref: `#/components/schemas/${event.identifier}` })),
    description: "the event's payload; its shape is given by `type` and `schemaVersion`"
  }
})

/** The record as the source sent it, every field kept. */
export const SourcePayload = Schema.Unknown.annotations({
  jsonSchema: {
    type: "object",
    additionalProperties: true,
    description: "the record as the source sent it (Plane's JSON, every field kept)"
  }
})

// ---- jobs ---------------------------------------------------------------------------------------
