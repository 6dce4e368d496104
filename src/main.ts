import { NodeRuntime } from "@effect/platform-node"
import { Cause, Console, Effect, Layer, Logger, LogLevel, Option, Redacted } from "effect"
import { existsSync } from "node:fs"
import { makeAppLayer } from "./app.js"
import { defaultEngineConfig, readConfigFile } from "./config/ConfigFile.js"
import { startDemo } from "./demo.js"
import { Env } from "./config/Env.js"
import { formatRunnerAddress } from "./cluster/address.js"
import { describeUrl, isPostgresUrl } from "./eventlog/postgres.js"
import { IntegrationSource, Secrets } from "./config/Settings.js"

/** A start-up failure: one line on stderr, no stack trace, a non-zero exit. */
const refuse = (line: string) => Effect.zipRight(Console.error(line), Effect.sync(() => void (process.exitCode = 1)))

const describeCause = (cause: Cause.Cause<unknown>) => {
  const error = Cause.squash(cause)
  return error instanceof Error ? error.message : String(error)
}

/** `npm start`: the config file when there is one, else the built-in demo. */
const main = Effect.gen(function*() {
  const env = yield* Env
  // SYNC_DATABASE_URL (PostgreSQL) wins over SYNC_DB_PATH (SQLite).
  const dbPath = Option.match(env.databaseUrl, { onNone: () => env.dbPath, onSome: Redacted.value })
  const common = {
    dbPath,
    port: env.port,
    host: env.host,
    apiToken: env.apiToken,
    readToken: env.readToken,
    accessLog: env.accessLog,
    sseWriter: env.sseWriter,
    sseWriterNice: Option.getOrUndefined(env.sseWriterNice),
    streamBuffer: Option.getOrUndefined(env.streamBuffer),
    autoInitialize: env.autoInitialize,
    masterKey: Option.getOrUndefined(env.masterKey),
    // A runner of a cluster (README "Cluster"); Env refuses it without a PostgreSQL URL.
    cluster: Option.match(env.runnerAddress, {
      onNone: () => undefined,
      onSome: (address) => ({ address, listen: Option.getOrUndefined(env.runnerListen) })
    })
  }
  if (common.cluster !== undefined) {
    yield* Effect.logInfo(`Runner ${formatRunnerAddress(common.cluster.address)} of a cluster on ${describeUrl(dbPath)}`)
  }
  if (existsSync(env.configPath)) {
    const file = yield* readConfigFile(env.configPath)
    yield* Effect.logInfo(`Using ${env.configPath}: ${file.integrations.length} integration(s); database ${isPostgresUrl(dbPath) ? describeUrl(dbPath) : dbPath}`)
    return yield* Layer.launch(makeAppLayer({
      ...common,
      mode: "file",
      engine: file.engine,
      notifications: file.notifications,
      integrations: IntegrationSource.fromFile(env.configPath),
      secrets: Secrets.make({ secretsFile: env.secretsFile })
    }))
  }
  const demo = yield* startDemo(env.port + 1)
  yield* Effect.logInfo(
    `Demo mode: no config file at ${env.configPath}, so synclog started its built-in Plane simulator at ${demo.simulator.url} ` +
      `with workspaces ${demo.describe}, registered as plane-integration-456 and plane-integration-789. ` +
      `To sync a real Plane workspace: copy synclog.config.example.json to ${env.configPath}, set baseUrl, workspaceSlug ` +
      `and apiKeyEnv, export that variable with your Plane API key, and restart.`
  )
  return yield* Layer.launch(makeAppLayer({
    ...common,
    mode: "demo",
    engine: defaultEngineConfig,
    integrations: IntegrationSource.fixed("demo", demo.integrations),
    secrets: Secrets.make({ secretsFile: env.secretsFile, values: demo.secrets })
  }))
}).pipe(
  Effect.scoped,
  Effect.catchTags({
    ConfigFileError: (e) => refuse(e.message),
    ConfigError: (e) => refuse(`Invalid environment: ${e.message}`),
    // A second server on the same database, a taken port, a database that cannot be opened.
    DatabaseInUse: (e) => refuse(e.message),
    LockUnavailable: (e) => refuse(e.message),
    PortUnavailable: (e) => refuse(e.message),
    RunnerAddressUnavailable: (e) => refuse(e.message),
    DatabaseUnavailable: (e) => refuse(e.message)
  }),
  // Anything else that stops the start (a bug): still one line; the details at debug level.
  Effect.catchAllCause((cause) =>
    Cause.isInterruptedOnly(cause) ? Effect.failCause(cause) : Effect.zipRight(
      Effect.logDebug("start-up failure", cause),
      refuse(`synclog could not start: ${describeCause(cause)}`)
    ))
)

const LoggerLive = Layer.unwrapEffect(Effect.map(Env, (env) =>
  Layer.mergeAll(
    env.logFormat === "json" ? Logger.json : env.logFormat === "pretty" ? Logger.pretty : Logger.logFmt,
    Logger.minimumLogLevel(LogLevel.Info)
  ))).pipe(Layer.orDie)

main.pipe(Effect.provide(LoggerLive), NodeRuntime.runMain({ disablePrettyLogger: true }))
