import { Config, ConfigError, Either, Option, Redacted } from "effect"
import { parseRunnerAddress, type RunnerEndpoint } from "../cluster/address.js"
import { parseMasterKey } from "../credentials/cipher.js"

/** An empty token is no token: `SYNC_API_TOKEN=` must not make an empty header valid. */
const token = (name: string) =>
  Config.option(Config.redacted(name)).pipe(Config.map(Option.filter((t) => Redacted.value(t).trim() !== "")))

/** A runner address variable (`host:port`), checked here so that a bad one stops the start. */
const runnerAddress = (name: string) =>
  Config.option(Config.string(name)).pipe(
    Config.map(Option.filter((v) => v.trim() !== "")),
    Config.mapOrFail((value): Either.Either<Option.Option<RunnerEndpoint>, ConfigError.ConfigError> =>
      Option.isNone(value) ? Either.right(Option.none()) : Either.match(parseRunnerAddress(value.value), {
        onLeft: (message) => Either.left(ConfigError.InvalidData([name], message)),
        onRight: (address) => Either.right(Option.some(address))
      })
    )
  )

/** Process environment (CONTRACT.md / README): every key optional. */
export const Env = Config.all({
  port: Config.port("PORT").pipe(Config.withDefault(3001)),
  host: Config.string("HOST").pipe(Config.withDefault("0.0.0.0")),
  dbPath: Config.string("SYNC_DB_PATH").pipe(Config.withDefault("./data/synclog.db")),
  // PostgreSQL instead of the SQLite file when set (postgres://user:password@host:5432/db).
  databaseUrl: token("SYNC_DATABASE_URL").pipe(Config.mapOrFail((url): Either.Either<Option.Option<Redacted.Redacted<string>>, ConfigError.ConfigError> =>
    Option.isNone(url) || /^postgres(ql)?:\/\//i.test(Redacted.value(url.value))
      ? Either.right(url)
      : Either.left(ConfigError.InvalidData(["SYNC_DATABASE_URL"], "expected a PostgreSQL URL such as postgres://user:password@localhost:5432/synclog"))
  )),
  configPath: Config.string("SYNC_CONFIG").pipe(Config.withDefault("./synclog.config.json")),
  autoInitialize: Config.boolean("SYNC_AUTO_INITIALIZE").pipe(Config.withDefault(true)),
  secretsFile: Config.string("SYNC_SECRETS_FILE").pipe(Config.withDefault("./.secrets.json")),
  apiToken: token("SYNC_API_TOKEN"),
  readToken: token("SYNC_READ_TOKEN"),
  // Checked here so that a malformed key stops the start with the reason ("Invalid environment: ...").
  masterKey: token("SYNC_MASTER_KEY").pipe(Config.mapOrFail((key): Either.Either<Option.Option<Redacted.Redacted<string>>, ConfigError.ConfigError> =>
    Option.isNone(key)
      ? Either.right(key)
      : Either.match(parseMasterKey(Redacted.value(key.value)), {
        onLeft: (message) => Either.left(ConfigError.InvalidData(["SYNC_MASTER_KEY"], message)),
        onRight: () => Either.right(key)
      })
  )),
  // A runner of a cluster (src/cluster/): the address other runners reach it on, and where it
  // listens when that differs.
  runnerAddress: runnerAddress("SYNC_RUNNER_ADDRESS"),
  runnerListen: runnerAddress("SYNC_RUNNER_LISTEN"),
  accessLog: Config.boolean("SYNC_ACCESS_LOG").pipe(Config.withDefault(false)),
  sseWriter: Config.literal("process", "inline")("SYNC_SSE_WRITER").pipe(Config.withDefault("process" as const)),
  sseWriterNice: Config.integer("SYNC_SSE_WRITER_NICE").pipe(
    Config.validate({ message: "expected a nice value from 0 (the server's priority) to 19 (the lowest)", validation: (n) => n >= 0 && n <= 19 }),
    // Unset: the writer's own default (WRITER_NICENESS in http/sseWriters.ts, where it is argued).
    Config.option
  ),
  streamBuffer: Config.integer("SYNC_STREAM_BUFFER").pipe(
    Config.validate({ message: "expected a whole number of events, 1 or more", validation: (n) => n >= 1 }),
    Config.option
  ),
  logFormat: Config.literal("pretty", "json", "logfmt")("SYNC_LOG_FORMAT").pipe(Config.withDefault("logfmt" as const))
}).pipe(Config.validate({
  // The runners of a cluster share one PostgreSQL database: its event log, views and shard locks.
  message: "SYNC_RUNNER_ADDRESS is set without SYNC_DATABASE_URL: the runners of a cluster share one PostgreSQL database, " +
    "so set SYNC_DATABASE_URL=postgres://... too, or unset SYNC_RUNNER_ADDRESS to run a single server",
  validation: (env) => Option.isNone(env.runnerAddress) || Option.isSome(env.databaseUrl)
}), Config.validate({
  message: "SYNC_RUNNER_LISTEN is set without SYNC_RUNNER_ADDRESS: set SYNC_RUNNER_ADDRESS (the address other runners reach this one on) too",
  validation: (env) => Option.isNone(env.runnerListen) || Option.isSome(env.runnerAddress)
}), Config.validate({
  // A read-only token beside an open API would protect nothing: writes would need no token.
  message: "SYNC_READ_TOKEN is set without SYNC_API_TOKEN: set SYNC_API_TOKEN too (writes need it), or unset SYNC_READ_TOKEN",
  validation: (env) => !(Option.isSome(env.readToken) && Option.isNone(env.apiToken))
}))
export type Env = Config.Config.Success<typeof Env>

export type { Option }
