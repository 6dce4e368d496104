import { Effect, Either, ParseResult, Schema } from "effect"
import { readFileSync } from "node:fs"
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

export const IntegrationConfig = Schema.Struct({
  id: IntegrationId,
  name: Schema.String.pipe(Schema.minLength(1)),
  type: Schema.Literal("plane"),
  baseUrl: HttpUrl,
  workspaceSlug: Schema.String.pipe(Schema.minLength(1)),
  apiKeyEnv: Schema.String.pipe(
    Schema.pattern(/^[A-Za-z_][A-Za-z0-9_]*$/, { message: () => "expected the NAME of an environment variable" })
  ),
  syncInterval: Seconds(MIN_INTERVAL, MAX_INTERVAL),
  fullSyncInterval: Schema.optionalWith(Seconds(MIN_INTERVAL, 10 * MAX_INTERVAL), { exact: true }),
  enabled: Schema.optionalWith(Schema.Boolean, { default: () => true }),
  // Unset: follow the source's rate-limit headers (60 a minute while it says nothing).
  requestsPerMinute: Schema.optionalWith(Schema.Int.pipe(Schema.between(0, 100_000)), { exact: true }),
  initialSync: Schema.optionalWith(Schema.Literal("immediate", "scheduled"), { default: () => "immediate" as const })
})
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
