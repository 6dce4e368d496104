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

/**
 * The same checks as `recordSchemas`, written out by hand for the hot path: a full sync checks
 * every record of the workspace, and Schema's interpreter costs several times more per record.
 * The schemas stay the authority: a record these reject is re-checked (and explained) by its
 * schema, and test/schemas.test.ts asserts that these never accept what the schema rejects.
 */
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
const DATE_ONLY = /^\d{4}-\d{2}-\d{2}/
const isUuid = (u: unknown) => typeof u === "string" && UUID.test(u)
const isDateTime = (u: unknown) => typeof u === "string" && normalizeTimestamp(u) !== null
const optional = (o: Record<string, unknown>, key: string, check: (u: unknown) => boolean) => !(key in o) || check(o[key])
const nullOr = (check: (u: unknown) => boolean) => (u: unknown) => u === null || check(u)
const isBase = (o: Record<string, unknown>) =>
  isUuid(o.id) && typeof o.name === "string" && isDateTime(o.created_at) && isDateTime(o.updated_at)
const isInProject = (o: Record<string, unknown>) => isBase(o) && isUuid(o.project)

export const fastChecks: Record<EntityType, (o: Record<string, unknown>) => boolean> = {
  projects: (o) =>
    isBase(o) && typeof o.identifier === "string" && optional(o, "archived_at", nullOr(isDateTime)) &&
    optional(o, "is_member", (u) => typeof u === "boolean"),
  states: (o) => isInProject(o) && typeof o.group === "string",
  labels: isInProject,
  cycles: (o) => isInProject(o) && optional(o, "archived_at", nullOr(isDateTime)),
  modules: (o) => isInProject(o) && optional(o, "archived_at", nullOr(isDateTime)),
  work_items: (o) =>
    isInProject(o) && Number.isSafeInteger(o.sequence_id) &&
    optional(o, "archived_at", nullOr((u) => typeof u === "string" && DATE_ONLY.test(u)))
}

const isObject = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null && !Array.isArray(u)

/** `is` checks without building a decoded copy; `explain` only for a record that fails. */
const validators = Object.fromEntries(
  Object.entries(recordSchemas).map(([entity, schema]) => {
    const fast = fastChecks[entity as EntityType]
    const is = Schema.is(schema, { onExcessProperty: "ignore" })
    return [
      entity,
      {
        is: (u: unknown) => (isObject(u) && fast(u)) || is(u),
        explain: Schema.decodeUnknownEither(schema, { errors: "first", onExcessProperty: "ignore" })
      }
    ]
  })
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

const decodeEnvelopeSchema = Schema.decodeUnknownEither(Envelope, { onExcessProperty: "ignore" })
const isCount = (u: unknown) => u === undefined || u === null || typeof u === "number"

/**
 * The envelope as it came when it has the expected shape (no copy of a 1000-record results
 * array); otherwise the schema decides and explains.
 */
export const decodeEnvelope = (u: unknown): Either.Either<Envelope, ParseResult.ParseError> =>
  isObject(u) && Array.isArray(u.results) && typeof u.next_page_results === "boolean" && isCount(u.total_count) &&
    isCount(u.total_pages)
    ? Either.right(u as unknown as Envelope)
    : decodeEnvelopeSchema(u)
export const describeParseError = describe
