import { Cron, Effect, Either, ParseResult, Schema } from "effect"
import { readFileSync } from "node:fs"
import { ENTITY_TYPES, EntityType, isEntityType } from "../domain/entities.js"
import { IntegrationId } from "../domain/ids.js"
import { NotificationsConfig } from "../notifications/config.js"

/** Interval bounds shared by the config file and `PUT /jobs/:jobId/interval`. */
export const MIN_INTERVAL = 30
export const MAX_INTERVAL = 30 * 24 * 3600

const Seconds = (min: number, max: number) =>
  Schema.Int.pipe(Schema.between(min, max, { message: () => `expected whole seconds between ${min} and ${max}` }))

const HttpUrl = Schema.String.pipe(
  Schema.pattern(/^https?:\/\/[^\s/]+(\/.*)?$/, { message: () => "expected an http(s) URL such as https://api.plane.so" })
)

const TimeZoneName = Schema.String.pipe(
  Schema.filter((tz) => Either.isRight(Cron.parse("0 0 * * *", tz)) || `unknown time zone '${tz}'; use an IANA name such as Europe/Berlin`)
)
/** `{"every": seconds}` or `{"cron": "0 0 * * 0", "timezone": "Europe/Berlin"}` (Effect's Cron; UTC without a timezone). */
const ScheduleConfig = Schema.Union(
  Schema.Struct({ every: Seconds(MIN_INTERVAL, 10 * MAX_INTERVAL) }),
  Schema.Struct({
    cron: Schema.String.pipe(
      Schema.filter((expr) =>
        Either.match(Cron.parse(expr), {
          onLeft: (e) => `invalid cron expression '${expr}' (${e.message}); expected 5 fields such as "0 */2 * * *"`,
          onRight: () => true
        })
      )
    ),
    timezone: Schema.optionalWith(TimeZoneName, { exact: true })
  })
)
type ScheduleConfig = typeof ScheduleConfig.Type

const ClockTime = Schema.String.pipe(
  Schema.pattern(/^([01][0-9]|2[0-3]):[0-5][0-9]$/, { message: () => "expected a time of day HH:MM such as 22:00" })
)
/** Scheduled jobs start only between `start` and `end` (local time; across midnight when end < start). */
const SyncWindowConfig = Schema.Struct({
  start: ClockTime,
  end: ClockTime,
  timezone: Schema.optionalWith(TimeZoneName, { exact: true })
}).pipe(Schema.filter((w) => w.start !== w.end || { path: ["end"], message: "the window's end must differ from its start" }))
type SyncWindowConfig = typeof SyncWindowConfig.Type

const PartialRetry = Schema.Struct({
  maxAttempts: Schema.optionalWith(Schema.Int.pipe(Schema.between(1, 100)), { exact: true }),
  baseDelay: Schema.optionalWith(Schema.Number.pipe(Schema.between(0, 3600)), { exact: true }),
  maxDelay: Schema.optionalWith(Schema.Number.pipe(Schema.between(0, 3600)), { exact: true }),
  maxRateLimitWaits: Schema.optionalWith(Schema.Int.pipe(Schema.between(0, 10_000)), { exact: true })
})
const PartialCircuitBreaker = Schema.Struct({
  failureThreshold: Schema.optionalWith(Schema.Int.pipe(Schema.between(1, 1000)), { exact: true }),
  cooldown: Schema.optionalWith(Seconds(1, MAX_INTERVAL), { exact: true }),
  maxCooldown: Schema.optionalWith(Seconds(1, MAX_INTERVAL), { exact: true })
})
const PartialAutoRetry = Schema.Struct({
  maxAttempts: Schema.optionalWith(Schema.Int.pipe(Schema.between(0, 100)), { exact: true }),
  delay: Schema.optionalWith(Seconds(0, MAX_INTERVAL), { exact: true })
})

/** An entity name, refused with the valid ones listed (as the job body's `options.entities`). */
const SelectionEntity = Schema.transformOrFail(Schema.String, EntityType, {
  strict: true,
  decode: (s, _, ast) =>
    isEntityType(s)
      ? ParseResult.succeed(s)
      : ParseResult.fail(
        new ParseResult.Type(ast, s, `unknown entity type '${s.slice(0, 60)}'; valid: ${ENTITY_TYPES.join(", ")}`)
      ),
  encode: ParseResult.succeed
}).annotations({ jsonSchema: { type: "string", enum: ENTITY_TYPES } })
const ProjectIds = Schema.Array(Schema.String.pipe(Schema.minLength(1, { message: () => "expected a project id" })))

/**
 * The default selection of an integration's jobs: the job body's selection fields. A job that
 * names none of them walks this selection (scheduled, initial and manual jobs alike).
 */
const SelectionConfig = Schema.Struct({
  entities: Schema.optionalWith(
    Schema.Array(SelectionEntity).pipe(Schema.minItems(1, { message: () => "list at least one entity type, or leave entities out" })),
    { exact: true }
  ),
  excludeEntities: Schema.optionalWith(Schema.Array(SelectionEntity), { exact: true }),
  projects: Schema.optionalWith(
    ProjectIds.pipe(Schema.minItems(1, { message: () => "list at least one project id, or leave projects out" })),
    { exact: true }
  ),
  excludeProjects: Schema.optionalWith(ProjectIds, { exact: true })
}).pipe(Schema.filter((s) => {
  if (Object.keys(s).length === 0) {
    return "give at least one of entities, excludeEntities, projects, excludeProjects (unset selection to walk everything)"
  }
  const excluded = new Set(s.excludeEntities ?? [])
  return (s.entities ?? ENTITY_TYPES).some((e) => !excluded.has(e)) ||
    { path: ["excludeEntities"], message: "the selection leaves no entity type to sync" }
})).annotations({
  description:
    "The default selection of the integration's jobs (scheduled, initial and manual) that name no selection field of their own; a job that names any replaces it as a whole. Full and incremental syncs walk only this selection."
})
type SelectionConfig = typeof SelectionConfig.Type

/**
 * The fields of an integration. `syncInterval` (seconds) is the old spelling of
 * `schedule: {"every": n}` and `fullSyncInterval` of `fullSyncSchedule: {"every": n}`; one of
 * `syncInterval` and `schedule` is required (checked by `IntegrationConfig`).
 */
export const IntegrationConfigFields = {
  id: IntegrationId,
  name: Schema.String.pipe(Schema.minLength(1)),
  type: Schema.Literal("plane"),
  baseUrl: HttpUrl,
  workspaceSlug: Schema.String.pipe(Schema.minLength(1)),
  apiKeyEnv: Schema.String.pipe(
    Schema.pattern(/^[A-Za-z_][A-Za-z0-9_]*$/, { message: () => "expected the NAME of an environment variable" })
  ),
  syncInterval: Schema.optionalWith(Seconds(MIN_INTERVAL, MAX_INTERVAL), { exact: true }),
  schedule: Schema.optionalWith(ScheduleConfig, { exact: true }),
  fullSyncInterval: Schema.optionalWith(Seconds(MIN_INTERVAL, 10 * MAX_INTERVAL), { exact: true }),
  fullSyncSchedule: Schema.optionalWith(ScheduleConfig, { exact: true }),
  syncWindow: Schema.optionalWith(SyncWindowConfig, { exact: true }),
  enabled: Schema.optionalWith(Schema.Boolean, { default: () => true }),
  // Unset: follow the source's rate-limit headers (60 a minute while it says nothing).
  requestsPerMinute: Schema.optionalWith(Schema.Int.pipe(Schema.between(0, 100_000)), { exact: true }),
  initialSync: Schema.optionalWith(Schema.Literal("immediate", "scheduled"), { default: () => "immediate" as const }),
  // Per-integration settings: defaults of this integration's jobs, over the engine-wide values.
  batchSize: Schema.optionalWith(Schema.Int.pipe(Schema.between(1, 1000)), { exact: true }),
  includeArchived: Schema.optionalWith(Schema.Boolean, { exact: true }),
  maxConcurrentJobs: Schema.optionalWith(Schema.Int.pipe(Schema.between(1, 100)), { exact: true }),
  retry: Schema.optionalWith(PartialRetry, { exact: true }),
  autoRetry: Schema.optionalWith(PartialAutoRetry, { exact: true }),
  circuitBreaker: Schema.optionalWith(PartialCircuitBreaker, { exact: true }),
  selection: Schema.optionalWith(SelectionConfig, { exact: true })
}

/** One schedule, in one spelling; at most one full-sync schedule (shared with the API's create body). */
export const oneSchedule = (c: {
  readonly syncInterval?: number | undefined
  readonly schedule?: unknown
  readonly fullSyncInterval?: number | undefined
  readonly fullSyncSchedule?: unknown
}) => {
    if (c.syncInterval !== undefined && c.schedule !== undefined) {
      return { path: ["schedule"], message: "give either schedule or syncInterval (its older spelling), not both" }
    }
    if (c.syncInterval === undefined && c.schedule === undefined) {
      return { path: ["schedule"], message: 'required: {"every": <seconds>} or {"cron": "<expression>", "timezone": "<IANA name>"}' }
    }
    if (c.fullSyncInterval !== undefined && c.fullSyncSchedule !== undefined) {
      return { path: ["fullSyncSchedule"], message: "give either fullSyncSchedule or fullSyncInterval, not both" }
    }
    return true
}

export const IntegrationConfig = Schema.Struct(IntegrationConfigFields).pipe(Schema.filter(oneSchedule))
export type IntegrationConfig = typeof IntegrationConfig.Type
/** An integration as written in the config file: `id` a plain string, defaulted keys optional. */
export type IntegrationConfigInput = typeof IntegrationConfig.Encoded

/**
 * An integration for code that embeds the engine: the config file's checks and defaults
 * (`enabled`, `requestsPerMinute`, `initialSync`). Throws a ParseError naming each bad field.
 */
export const makeIntegrationConfig = (input: IntegrationConfigInput): IntegrationConfig =>
  Schema.decodeSync(IntegrationConfig, { errors: "all", onExcessProperty: "error" })(input)

const Retry = Schema.Struct({
  maxAttempts: Schema.optionalWith(Schema.Int.pipe(Schema.between(1, 100)), { default: () => 5 }),
  baseDelay: Schema.optionalWith(Schema.Number.pipe(Schema.between(0, 3600)), { default: () => 1 }),
  maxDelay: Schema.optionalWith(Schema.Number.pipe(Schema.between(0, 3600)), { default: () => 60 }),
  maxRateLimitWaits: Schema.optionalWith(Schema.Int.pipe(Schema.between(0, 10_000)), { default: () => 50 })
})

const CircuitBreaker = Schema.Struct({
  failureThreshold: Schema.optionalWith(Schema.Int.pipe(Schema.between(1, 1000)), { default: () => 3 }),
  cooldown: Schema.optionalWith(Seconds(1, MAX_INTERVAL), { default: () => 300 }),
  maxCooldown: Schema.optionalWith(Seconds(1, MAX_INTERVAL), { default: () => 3600 })
})

const AutoRetry = Schema.Struct({
  maxAttempts: Schema.optionalWith(Schema.Int.pipe(Schema.between(0, 100)), { default: () => 3 }),
  delay: Schema.optionalWith(Seconds(0, MAX_INTERVAL), { default: () => 30 })
})

export const EngineConfig = Schema.Struct({
  maxConcurrentJobs: Schema.optionalWith(Schema.Int.pipe(Schema.between(1, 1000)), { default: () => 4 }),
  minFullSyncInterval: Schema.optionalWith(Seconds(0, MAX_INTERVAL), { default: () => 900 }),
  maxErrorRatio: Schema.optionalWith(Schema.Number.pipe(Schema.between(0, 1)), { default: () => 0.1 }),
  incrementalOverlap: Schema.optionalWith(Seconds(0, 86_400), { default: () => 300 }),
  stopGracePeriod: Schema.optionalWith(Seconds(0, 3600), { default: () => 30 }),
  shutdownGracePeriod: Schema.optionalWith(Seconds(0, 3600), { default: () => 10 }),
  requestTimeout: Schema.optionalWith(Seconds(1, 3600), { default: () => 30 }),
  jobStallTimeout: Schema.optionalWith(Seconds(1, MAX_INTERVAL), { default: () => 900 }),
  retry: Schema.optionalWith(Retry, { default: () => Schema.decodeSync(Retry)({}) }),
  circuitBreaker: Schema.optionalWith(CircuitBreaker, { default: () => Schema.decodeSync(CircuitBreaker)({}) }),
  autoRetry: Schema.optionalWith(AutoRetry, { default: () => Schema.decodeSync(AutoRetry)({}) })
})
export type EngineConfig = typeof EngineConfig.Type
/** Engine settings as written in the config file: every key optional. */
export type EngineConfigInput = typeof EngineConfig.Encoded

/** Engine settings with the config file's checks and defaults; throws a ParseError naming each bad field. */
export const makeEngineConfig = (input: EngineConfigInput = {}): EngineConfig =>
  Schema.decodeSync(EngineConfig, { errors: "all", onExcessProperty: "error" })(input)

export const ConfigFile = Schema.Struct({
  $schema: Schema.optional(Schema.String),
  integrations: Schema.Array(IntegrationConfig).pipe(
    Schema.filter((list) => {
      const seen = new Set<string>()
      for (const [i, item] of list.entries()) {
        if (seen.has(item.id)) {
          return { path: [i, "id"], message: `duplicate integration id '${item.id}'` }
        }
        seen.add(item.id)
      }
      return true
    })
  ),
  engine: Schema.optionalWith(EngineConfig, { default: () => Schema.decodeSync(EngineConfig)({}) }),
  /** Webhook endpoints (see notifications/config.ts). */
  notifications: Schema.optionalWith(NotificationsConfig, { default: () => [] })
})
export type ConfigFile = typeof ConfigFile.Type

export const defaultEngineConfig: EngineConfig = Schema.decodeSync(EngineConfig)({})

export class ConfigFileError extends Schema.TaggedError<ConfigFileError>()("ConfigFileError", {
  path: Schema.String,
  message: Schema.String
}) {}

const decode = Schema.decodeUnknownEither(ConfigFile, { errors: "all", onExcessProperty: "error" })

/** Decodes a config document; the error names every bad field by its path. */
export const parseConfig = (path: string, text: string): Either.Either<ConfigFile, ConfigFileError> => {
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (e) {
    return Either.left(new ConfigFileError({ path, message: `${path} is not valid JSON: ${(e as Error).message}` }))
  }
  return Either.mapLeft(decode(json), (error) => {
    const issues = ParseResult.ArrayFormatter.formatErrorSync(error)
      .map((i) => `  - ${i.path.length > 0 ? i.path.join(".") : "(root)"}: ${i.message}`)
      .join("\n")
    return new ConfigFileError({ path, message: `${path} is invalid:\n${issues}` })
  })
}

export const readConfigFile = (path: string): Effect.Effect<ConfigFile, ConfigFileError> =>
  Effect.suspend(() => {
    let text: string
    try {
      text = readFileSync(path, "utf8")
    } catch (e) {
      return Effect.fail(new ConfigFileError({ path, message: `Cannot read ${path}: ${(e as Error).message}` }))
    }
    return Either.match(parseConfig(path, text), { onLeft: Effect.fail, onRight: Effect.succeed })
  })
