import { Context, Effect, Layer, Option, Redacted } from "effect"
import { existsSync, readFileSync } from "node:fs"
import { type ConfigFileError, type EngineConfig, type IntegrationConfig, readConfigFile } from "./ConfigFile.js"

/** Whether integrations come from a config file or the built-in demo. */
export class AppMode extends Context.Tag("synclog/AppMode")<AppMode, "file" | "demo">() {}

/** Engine settings, fixed for the life of the process. */
export class EngineSettings extends Context.Tag("synclog/EngineSettings")<EngineSettings, EngineConfig>() {}

interface LoadedIntegrations {
  readonly mode: "file" | "demo"
  readonly integrations: ReadonlyArray<IntegrationConfig>
}

/** Where integrations come from; `POST /api/sync/initialize` calls `load` again. */
export class IntegrationSource extends Context.Tag("synclog/IntegrationSource")<IntegrationSource, {
  readonly load: Effect.Effect<LoadedIntegrations, ConfigFileError>
}>() {
  static fromFile = (path: string) =>
    Layer.succeed(IntegrationSource, {
      load: Effect.map(readConfigFile(path), (file) => ({ mode: "file" as const, integrations: file.integrations }))
    })
  static fixed = (mode: "file" | "demo", integrations: ReadonlyArray<IntegrationConfig>) =>
    Layer.succeed(IntegrationSource, { load: Effect.succeed({ mode, integrations }) })
}

/**
 * API keys by the name of their environment variable: in-process values first (the demo's),
 * then the environment, then the secrets file. Values stay Redacted; they never reach a
 * response, a log line, an event or an error message.
 */
export class Secrets extends Context.Tag("synclog/Secrets")<Secrets, {
  readonly get: (name: string) => Effect.Effect<Option.Option<Redacted.Redacted<string>>>
}>() {
  static make = (options: { readonly secretsFile?: string; readonly values?: Readonly<Record<string, string>> }) =>
    Layer.succeed(Secrets, {
      get: (name) =>
        Effect.sync(() => {
          const inProcess = options.values?.[name]
          if (inProcess !== undefined) return Option.some(Redacted.make(inProcess))
          const fromEnv = process.env[name]
          if (fromEnv !== undefined && fromEnv !== "") return Option.some(Redacted.make(fromEnv))
          if (options.secretsFile !== undefined && existsSync(options.secretsFile)) {
            try {
              const file = JSON.parse(readFileSync(options.secretsFile, "utf8")) as Record<string, unknown>
              const value = file[name]
              if (typeof value === "string" && value !== "") return Option.some(Redacted.make(value))
            } catch {
              // An unreadable secrets file is the same as a missing key; the job says which.
            }
          }
          return Option.none()
        })
    })
}
