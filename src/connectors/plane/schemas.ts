import { Either, ParseResult, Schema } from "effect"
import type { EntityType } from "../../domain/entities.js"
import type { InvalidRecord, SourceRecord } from "../Connector.js"
import { normalizeTimestamp } from "../timestamps.js"

/**
 * What synclog relies on in Plane's v1 payloads (plane-api.md §2, §6). Everything else in a
 * record is kept as it came, unvalidated: the mirror stores the whole payload.
 */
const Uuid = Schema.String.pipe(
  Schema.pattern(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i, {
    message: () => "expected a UUID"
  })
)
const DateTime = Schema.String.pipe(
  Schema.filter((s) => normalizeTimestamp(s) !== null, { message: () => "expected an ISO-8601 date-time" })
)
const DateOnly = Schema.String.pipe(
  Schema.pattern(/^\d{4}-\d{2}-\d{2}/, { message: () => "expected a date (YYYY-MM-DD)" })
)

const base = { id: Uuid, name: Schema.String, created_at: DateTime, updated_at: DateTime }
const inProject = { ...base, project: Uuid }

export const recordSchemas: Record<EntityType, Schema.Schema.AnyNoContext> = {
  projects: Schema.Struct({
    ...base,
    identifier: Schema.String,
    archived_at: Schema.optionalWith(Schema.NullOr(DateTime), { exact: true }),
    is_member: Schema.optionalWith(Schema.Boolean, { exact: true })
  }),
  states: Schema.Struct({ ...inProject, group: Schema.String }),
  labels: Schema.Struct(inProject),
  cycles: Schema.Struct({ ...inProject, archived_at: Schema.optionalWith(Schema.NullOr(DateTime), { exact: true }) }),
  modules: Schema.Struct({ ...inProject, archived_at: Schema.optionalWith(Schema.NullOr(DateTime), { exact: true }) }),
  work_items: Schema.Struct({
    ...inProject,
    sequence_id: Schema.Int,
    archived_at: Schema.optionalWith(Schema.NullOr(DateOnly), { exact: true })
  })
}

/** v1 pagination envelope (plane-api.md §3.1); the paging keys we rely on must be there. */
export const Envelope = Schema.Struct({
  results: Schema.Array(Schema.Unknown),
  next_page_results: Schema.Boolean,
  total_count: Schema.optionalWith(Schema.NullOr(Schema.Number), { exact: true }),
  total_pages: Schema.optionalWith(Schema.NullOr(Schema.Number), { exact: true })
})
export type Envelope = typeof Envelope.Type

/** `is` checks without building a decoded copy (the hot path); `explain` only for a record that fails. */
const validators = Object.fromEntries(
  Object.entries(recordSchemas).map(([entity, schema]) => [
    entity,
    {
      is: Schema.is(schema, { onExcessProperty: "ignore" }),
      explain: Schema.decodeUnknownEither(schema, { errors: "first", onExcessProperty: "ignore" })
    }
  ])
) as unknown as Record<EntityType, {
  readonly is: (u: unknown) => boolean
  readonly explain: (u: unknown) => Either.Either<unknown, ParseResult.ParseError>
}>

const describe = (error: ParseResult.ParseError): string => {
  const [issue] = ParseResult.ArrayFormatter.formatErrorSync(error)
  if (!issue) return "does not match the expected shape"
  const path = issue.path.length > 0 ? `${issue.path.join(".")}: ` : ""
  return `${path}${issue.message}`
}

/** Validates one raw record; a record that fails is reported with its id (when it has one). */
export const toSourceRecord = (entity: EntityType, raw: unknown): SourceRecord | InvalidRecord => {
  const obj = (typeof raw === "object" && raw !== null ? raw : {}) as Record<string, unknown>
  if (!validators[entity].is(raw)) {
    const id = typeof obj.id === "string" ? obj.id : null
    const result = validators[entity].explain(raw)
    return { id, message: `invalid ${entity} record: ${Either.isLeft(result) ? describe(result.left) : "does not match the expected shape"}` }
  }
  return {
    id: obj.id as string,
    projectId: entity === "projects" ? (obj.id as string) : (obj.project as string),
    updatedAt: normalizeTimestamp(obj.updated_at)!,
    archived: obj.archived_at !== null && obj.archived_at !== undefined,
    payload: obj
  }
}

export const isSourceRecord = (r: SourceRecord | InvalidRecord): r is SourceRecord => "payload" in r

export const decodeEnvelope = Schema.decodeUnknownEither(Envelope, { onExcessProperty: "ignore" })
export const describeParseError = describe
