import type { HttpClient } from "@effect/platform"
import { NodeHttpClient } from "@effect/platform-node"
import { Effect, Either, Layer, Option, Redacted } from "effect"
import type { RunnerEndpoint } from "./cluster/address.js"
import { IDLE_TRANSACTION_TIMEOUT_MS } from "./cluster/settings.js"
import * as StartupTurn from "./cluster/startupTurn.js"
import { defaultEngineConfig, type EngineConfig } from "./config/ConfigFile.js"
import { AppMode, EngineSettings, type IntegrationSource, Secrets } from "./config/Settings.js"
import { ConnectorFactory } from "./connectors/ConnectorFactory.js"
import { parseMasterKey } from "./credentials/cipher.js"
import { CredentialStore, MasterKey } from "./credentials/CredentialStore.js"
import { RateLimiter } from "./connectors/RateLimiter.js"
import { CircuitBreaker } from "./engine/CircuitBreaker.js"
import { IntegrationAdmin } from "./engine/IntegrationAdmin.js"
import { IntegrationCommands } from "./engine/IntegrationCommands.js"
import { IntegrationControl } from "./engine/IntegrationControl.js"
import { Integrations } from "./engine/Integrations.js"
import { JobLog } from "./engine/JobLog.js"
import { JobCommands } from "./engine/JobCommands.js"
import { JobOutcomes } from "./engine/JobOutcomes.js"
import { MetricGauges } from "./engine/MetricGauges.js"
import { JobRunner } from "./engine/JobRunner.js"
import { JobWaits } from "./engine/JobWaits.js"
import { Jobs } from "./engine/Jobs.js"
import { JobSupervisor } from "./engine/JobSupervisor.js"
import { Queries } from "./engine/Queries.js"
import { Scheduler } from "./engine/Scheduler.js"
import * as Database from "./eventlog/Database.js"
import { EventFeed } from "./eventlog/EventFeed.js"
import { EventStore } from "./eventlog/EventStore.js"
import { Views } from "./eventlog/Views.js"
import { isPostgresUrl } from "./eventlog/postgres.js"
import * as WriterLock from "./eventlog/WriterLock.js"
import { makeListenerLayer, makeServeLayer } from "./http/Server.js"
import { Mirror } from "./mirror/Mirror.js"
import { MirrorReader } from "./mirror/MirrorReader.js"
import { type NotificationEndpointConfig, NotificationSettings } from "./notifications/config.js"
import { Notifier } from "./notifications/Notifier.js"

export interface EngineOptions {
  /** The SQLite file (its folder is created), or a PostgreSQL URL (`postgres://...`). */
  readonly dbPath: string
  /** Where integrations come from (IntegrationSource.fromFile / .fixed). */
  readonly integrations: Layer.Layer<IntegrationSource>
  /** Engine settings; `makeEngineConfig({...})` fills in the defaults. Default: all defaults. */
  readonly engine?: EngineConfig | undefined
  /** Where API keys are looked up by name. Default: the environment (`Secrets.make({})`). */
  readonly secrets?: Layer.Layer<Secrets> | undefined
  /**
   * At start, load the integrations and start the scheduler (SYNC_AUTO_INITIALIZE). Default true.
   * When false, call `Integrations.initialize` and `Scheduler.start` yourself. Interrupted jobs
   * are resumed either way.
   */
  readonly autoInitialize?: boolean | undefined
  /** Reported by `/healthz`: integrations from a config file or the built-in demo. Default "file". */
  readonly mode?: "file" | "demo" | undefined
  /** How connectors are built; the default speaks Plane over HTTP. */
  readonly connectors?: Layer.Layer<ConnectorFactory, never, HttpClient.HttpClient | RateLimiter> | undefined
  /** Webhook endpoints (the config file's `notifications`); none when absent. */
  readonly notifications?: ReadonlyArray<NotificationEndpointConfig> | undefined
  /**
   * SYNC_MASTER_KEY: 32 bytes in base64, the AES-256-GCM key of API keys stored through
   * `PUT /api/sync/integrations/:id/credentials`. Without it that endpoint answers 409.
   */
  readonly masterKey?: Redacted.Redacted<string> | undefined
  /**
   * Run as one runner of a cluster (SYNC_RUNNER_ADDRESS; `dbPath` must be a PostgreSQL URL):
   * the address other runners reach this one on, and where it listens when that differs. See
   * README "Cluster". Unset: a single server, and no cluster code is loaded.
   */
  readonly cluster?: { readonly address: RunnerEndpoint; readonly listen?: RunnerEndpoint | undefined } | undefined
}

/** The master key, parsed; a malformed one stops the start with the reason (never the value). */
const masterKeyLayer = (masterKey: Redacted.Redacted<string> | undefined) =>
  Layer.effect(
    MasterKey,
    masterKey === undefined
      ? Effect.succeed(Option.none())
      : Either.match(parseMasterKey(Redacted.value(masterKey)), {
        onLeft: (message) => Effect.dieMessage(message),
        onRight: (key) => Effect.succeed(Option.some(key))
      })
  )

/** The options with their defaults filled in. */
interface EngineSetup extends EngineOptions {
  readonly engine: EngineConfig
  readonly secrets: Layer.Layer<Secrets>
  readonly mode: "file" | "demo"
}

/**
 * Holds the database's writer lock for the layer's lifetime (see WriterLock.ts); the runners of
 * a cluster share it, and refuse a single server on their database as it refuses them.
 */
const writerLock = (options: EngineOptions) =>
  options.dbPath === ":memory:"
    ? Layer.empty
    : Layer.scopedDiscard(WriterLock.acquire(options.dbPath, undefined, { runner: options.cluster !== undefined }))

/** The cluster's code, loaded only for a runner: a single server never imports @effect/cluster. */
const clusterModule = Effect.promise(() => import("./cluster/index.js"))

/** Cluster: this runner's turn to start, taken before the database is migrated; else nothing. */
const startupTurnLayer = (options: EngineOptions) =>
  options.cluster === undefined || !isPostgresUrl(options.dbPath) ? Layer.empty : StartupTurn.layer(options.dbPath)

/** Cluster: where each integration's job actors live (and the cluster's sharding); else nothing. */
const placementLayer = (options: EngineOptions) => {
  const cluster = options.cluster
  if (cluster === undefined) return Layer.empty
  if (!isPostgresUrl(options.dbPath)) {
    return Layer.die(new Error("A runner of a cluster needs a PostgreSQL database (SYNC_DATABASE_URL=postgres://...)"))
  }
  return Layer.unwrapEffect(Effect.map(clusterModule, (m) =>
    m.placementLayer({ databaseUrl: options.dbPath, address: cluster.address, listen: cluster.listen })))
}

/**
 * Cluster: the runner's part (entity, singletons, adoption), once the engine is built. Its
 * Sharding is placementLayer's, built below the engine; the type says so, since the two layers
 * come out of one `import()` that the types cannot follow.
 */
const runnerLayer = (options: EngineOptions): Layer.Layer<never, never, JobSupervisor | Scheduler | Notifier | EventStore> =>
  options.cluster === undefined
    ? Layer.empty
    : Layer.unwrapEffect(Effect.map(clusterModule, (m) => m.runnerLayer)) as Layer.Layer<never, never, never>

const engineServices = (options: EngineSetup) => {
  const transport = Layer.mergeAll(NodeHttpClient.layerUndici, RateLimiter.Default)
  const base = Layer.mergeAll(
    Layer.succeed(EngineSettings, options.engine),
    Layer.succeed(AppMode, options.mode),
    Layer.succeed(NotificationSettings, options.notifications ?? []),
    masterKeyLayer(options.masterKey),
    options.integrations,
    options.secrets,
    JobWaits.Default,
    JobOutcomes.Default,
    (options.connectors ?? ConnectorFactory.Default).pipe(Layer.provide(transport)),
    placementLayer(options)
  ).pipe(Layer.provideMerge(transport))
  const storage = Layer.mergeAll(
    EventFeed.Default.pipe(Layer.provideMerge(EventStore.Default)),
    Views.Default,
    Mirror.Default,
    MirrorReader.Default,
    JobLog.Default,
    CredentialStore.Default
  ).pipe(Layer.provideMerge(Database.layer(options.dbPath, {
    checkpointInBackground: true,
    // A runner paused inside a write transaction must not hold the writers' lock for ever.
    ...(options.cluster === undefined ? {} : { sessionSettings: { idle_in_transaction_session_timeout: IDLE_TRANSACTION_TIMEOUT_MS } })
  })))
  // The front door (commands and queries) over the services it delegates to.
  return Layer.mergeAll(JobCommands.Default, IntegrationCommands.Default, Queries.Default, MetricGauges.Default).pipe(
    Layer.provideMerge(Layer.mergeAll(IntegrationControl.Default, IntegrationAdmin.Default, Notifier.Default)),
    Layer.provideMerge(Scheduler.Default),
    Layer.provideMerge(Jobs.Default),
    Layer.provideMerge(JobSupervisor.Default),
    // Below the supervisor, so it still judges the jobs that end during the shutdown's grace period.
    Layer.provideMerge(Layer.mergeAll(JobRunner.Default, CircuitBreaker.Default)),
    Layer.provideMerge(Integrations.Default),
    Layer.provideMerge(storage),
    Layer.provideMerge(base)
  )
}

/** At start: read the config (unless told not to), start the scheduler, resume interrupted jobs. */
const startup = (autoInitialize: boolean) =>
  Effect.gen(function*() {
    const supervisor = yield* JobSupervisor
    if (autoInitialize) {
      const integrations = yield* Integrations
      const scheduler = yield* Scheduler
      const result = yield* integrations.initialize.pipe(
        // Runners of a cluster starting together read the same file: one registers an
        // integration, the others' append conflicts and, read again, finds it registered.
        Effect.retry({ while: (e) => e._tag === "ConcurrencyConflict", times: 5 }),
        Effect.orDieWith((e) => new Error(e.message))
      )
      yield* Effect.logInfo(
        `Initialized: ${result.integrationsFound} integration(s) (${result.registered.length} new, ${result.updated.length} changed)`
      )
      yield* scheduler.start
    }
    yield* supervisor.recover
    // A runner of a cluster lets the next one start (cluster/startupTurn.ts).
    const turn = yield* Effect.serviceOption(StartupTurn.StartupTurn)
    if (turn._tag === "Some") yield* turn.value.done
  }).pipe(Effect.orDie)

/**
 * The engine as layers, for embedding in another Effect service: the event store and views on
 * SQLite, the mirror, connectors, job actors, the scheduler. Building it also does the start-up
 * work `npm start` does: load the integrations and start the scheduler (unless `autoInitialize`
 * is false), and resume the jobs a previous process left running. Closing its scope pauses
 * running jobs at their next batch boundary (waiting up to `shutdownGracePeriod`) and closes
 * the database. Build it once per database file.
 */
export const makeEngineLayer = (options: EngineOptions) =>
  // One per database file: it holds the file's writer lock; a second engine or server is refused.
  startedEngine(options).pipe(Layer.provideMerge(startupTurnLayer(options)), Layer.provideMerge(writerLock(options)))

/** The engine's services, with the start-up work done once they are built. */
const startedEngine = (options: EngineOptions) =>
  Layer.merge(Layer.effectDiscard(startup(options.autoInitialize ?? true)), runnerLayer(options)).pipe(
    Layer.provideMerge(engineServices({
      ...options,
      engine: options.engine ?? defaultEngineConfig,
      secrets: options.secrets ?? Secrets.make({}),
      mode: options.mode ?? "file"
    }))
  )

export interface AppOptions extends EngineOptions {
  readonly port: number
  readonly host: string
  readonly apiToken: Option.Option<Redacted.Redacted<string>>
  readonly readToken?: Option.Option<Redacted.Redacted<string>> | undefined
  readonly accessLog?: boolean | undefined
  /** SYNC_SSE_WRITER: "process" (default) writes the live streams from a writer process, "inline" from the server's. */
  readonly sseWriter?: "process" | "inline" | undefined
  /** SYNC_SSE_WRITER_NICE: the writer process's nice value (default 0, the server's priority). */
  readonly sseWriterNice?: number | undefined
  /** SYNC_STREAM_BUFFER: events a live stream's client may fall behind before it is cut off (default 10,000). */
  readonly streamBuffer?: number | undefined
}

/**
 * The whole server, built in this order: the writer lock, the port, the engine (database,
 * migrations), the start-up work, the API. A second server on the same file or a taken port
 * stops the start before any job starts or any event is appended.
 */
export const makeAppLayer = (options: AppOptions) =>
  // No tracing backend is configured, so spans (one per SQL statement and request) are pure
  // overhead; an embedding service that exports traces builds from makeEngineLayer instead.
  makeServeLayer(options).pipe(
    Layer.provideMerge(startedEngine(options)),
    Layer.provideMerge(startupTurnLayer(options)),
    Layer.provideMerge(makeListenerLayer(options)),
    Layer.provideMerge(writerLock(options)),
    Layer.provide(Layer.setTracerEnabled(false))
  )
