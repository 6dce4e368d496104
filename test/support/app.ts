import { HttpServer } from "@effect/platform"
import { SqlClient } from "@effect/sql"
import { Effect, Layer, Logger, LogLevel, ManagedRuntime, Option, Redacted } from "effect"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { type EngineOptions, makeAppLayer } from "../../src/app.js"
import { defaultEngineConfig, type EngineConfig, type IntegrationConfig } from "../../src/config/ConfigFile.js"
import { IntegrationSource, Secrets } from "../../src/config/Settings.js"
import type { RunningSimulator } from "../../src/simulator/server.js"
import { freshDatabase } from "./database.js"

/**
 * A temp folder and the test's database: `dbPath` is a SQLite file in the folder, or a fresh
 * PostgreSQL database's URL when SYNC_TEST_DATABASE_URL is set (support/database.ts).
 */
export const tempDir = (prefix = "synclog-test-") => {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  const database = freshDatabase(dir)
  return {
    dir,
    dbPath: database.location,
    remove: () => {
      database.drop()
      rmSync(dir, { recursive: true, force: true })
    }
  }
}

export const KEY_ENV = "SYNCLOG_TEST_PLANE_KEY"

export const planeIntegration = (
  id: string,
  sim: RunningSimulator,
  workspaceSlug: string,
  overrides: Partial<IntegrationConfig> = {}
): IntegrationConfig => ({
  id: id as IntegrationConfig["id"],
  name: `Test ${id}`,
  type: "plane",
  baseUrl: sim.url,
  workspaceSlug,
  apiKeyEnv: KEY_ENV,
  syncInterval: 3600,
  enabled: true,
  requestsPerMinute: 0,
  initialSync: "scheduled",
  ...overrides
})

export interface AppHandle {
  readonly url: string
  readonly close: () => Promise<void>
  /** A statement on the server's own SQLite connection (PRAGMAs are per connection). */
  readonly sql: <A extends object>(text: string) => Promise<ReadonlyArray<A>>
}

/** The real server: HTTP on an ephemeral port, the test's database, the simulator over HTTP. */
export const startApp = async (options: {
  readonly dbPath: string
  readonly integrations: ReadonlyArray<IntegrationConfig>
  readonly apiKey: string
  readonly engine?: Partial<EngineConfig>
  readonly autoInitialize?: boolean
  readonly secrets?: Readonly<Record<string, string>>
  readonly apiToken?: string
  readonly readToken?: string
  readonly connectors?: EngineOptions["connectors"]
  readonly notifications?: EngineOptions["notifications"]
  /** SYNC_MASTER_KEY (base64 of 32 bytes): enables stored credentials. */
  readonly masterKey?: string
  /** SYNC_SSE_WRITER and SYNC_STREAM_BUFFER. */
  readonly sseWriter?: "process" | "inline"
  readonly streamBuffer?: number
}): Promise<AppHandle> => {
  const layer = makeAppLayer({
    dbPath: options.dbPath,
    port: 0,
    host: "127.0.0.1",
    apiToken: options.apiToken ? Option.some(Redacted.make(options.apiToken)) : Option.none(),
    readToken: options.readToken ? Option.some(Redacted.make(options.readToken)) : Option.none(),
    mode: "file",
    engine: { ...defaultEngineConfig, ...options.engine },
    integrations: IntegrationSource.fixed("file", options.integrations),
    secrets: Secrets.make({ values: { [KEY_ENV]: options.apiKey, ...options.secrets } }),
    autoInitialize: options.autoInitialize ?? true,
    connectors: options.connectors,
    notifications: options.notifications,
    masterKey: options.masterKey === undefined ? undefined : Redacted.make(options.masterKey),
    sseWriter: options.sseWriter,
    streamBuffer: options.streamBuffer
  }).pipe(Layer.provide(Logger.minimumLogLevel(process.env.SYNCLOG_TEST_LOGS ? LogLevel.Debug : LogLevel.Warning)))
  const runtime = ManagedRuntime.make(layer)
  const server = await runtime.runPromise(HttpServer.HttpServer)
  const address = server.address as HttpServer.TcpAddress
  return {
    url: `http://127.0.0.1:${address.port}`,
    close: () => runtime.dispose(),
    sql: <A extends object>(text: string) => runtime.runPromise(Effect.flatMap(SqlClient.SqlClient, (c) => c.unsafe<A>(text)))
  }
}
