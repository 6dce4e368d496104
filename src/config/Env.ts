import { Config, Option } from "effect"

/** Process environment (CONTRACT.md / README): every key optional. */
export const Env = Config.all({
  port: Config.port("PORT").pipe(Config.withDefault(3001)),
  host: Config.string("HOST").pipe(Config.withDefault("0.0.0.0")),
  dbPath: Config.string("SYNC_DB_PATH").pipe(Config.withDefault("./data/synclog.db")),
  configPath: Config.string("SYNC_CONFIG").pipe(Config.withDefault("./synclog.config.json")),
  autoInitialize: Config.boolean("SYNC_AUTO_INITIALIZE").pipe(Config.withDefault(true)),
  secretsFile: Config.string("SYNC_SECRETS_FILE").pipe(Config.withDefault("./.secrets.json")),
  apiToken: Config.option(Config.redacted("SYNC_API_TOKEN")),
  logFormat: Config.literal("pretty", "json", "logfmt")("SYNC_LOG_FORMAT").pipe(Config.withDefault("logfmt" as const))
})
export type Env = Config.Config.Success<typeof Env>

export type { Option }
