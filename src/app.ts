import type { HttpClient } from "@effect/platform"
import { NodeHttpClient } from "@effect/platform-node"
import { Effect, Layer, type Option, type Redacted } from "effect"
import type { EngineConfig } from "./config/ConfigFile.js"
import { AppMode, EngineSettings, type IntegrationSource, type Secrets } from "./config/Settings.js"
import { ConnectorFactory } from "./connectors/ConnectorFactory.js"
import { RateLimiter } from "./connectors/RateLimiter.js"
import { CircuitBreaker } from "./engine/CircuitBreaker.js"
import { IntegrationControl } from "./engine/IntegrationControl.js"
import { Integrations } from "./engine/Integrations.js"
import { JobLog } from "./engine/JobLog.js"
import { JobRunner } from "./engine/JobRunner.js"
import { Jobs } from "./engine/Jobs.js"
import { JobSupervisor } from "./engine/JobSupervisor.js"
import { Scheduler } from "./engine/Scheduler.js"
import * as Database from "./eventlog/Database.js"
import { EventFeed } from "./eventlog/EventFeed.js"
import { EventStore } from "./eventlog/EventStore.js"
import { Views } from "./eventlog/Views.js"
import { makeHttpLayer } from "./http/Server.js"
import { Mirror } from "./mirror/Mirror.js"
import { MirrorReader } from "./mirror/MirrorReader.js"
import { type NotificationEndpointConfig, NotificationSettings } from "./notifications/config.js"
import { Notifier } from "./notifications/Notifier.js"

export interface EngineOptions {
  readonly dbPath: string
  readonly mode: "file" | "demo"
  readonly engine: EngineConfig
  /** Where integrations come from (IntegrationSource.fromFile / .fixed). */
  readonly integrations: Layer.Layer<IntegrationSource>
  readonly secrets: Layer.Layer<Secrets>
  /** Read the config and start the scheduler at start (SYNC_AUTO_INITIALIZE). */
  readonly autoInitialize: boolean
  /** How connectors are built; the default speaks Plane over HTTP. */
  readonly connectors?: Layer.Layer<ConnectorFactory, never, HttpClient.HttpClient | RateLimiter> | undefined
  /** Webhook endpoints (the config file's `notifications`); none when absent. */
  readonly notifications?: ReadonlyArray<NotificationEndpointConfig> | undefined
}

/**
 * The engine as layers, for embedding in another Effect service: the event store and views on
 * SQLite, the mirror, connectors, job actors, the scheduler. Build it once per database file.
 */
export const makeEngineLayer = (options: EngineOptions) => {
  const transport = Layer.mergeAll(NodeHttpClient.layerUndici, RateLimiter.Default)
  const base = Layer.mergeAll(
    Layer.succeed(EngineSettings, options.engine),
    Layer.succeed(AppMode, options.mode),
    Layer.succeed(NotificationSettings, options.notifications ?? []),
    options.integrations,
    options.secrets,
    (options.connectors ?? ConnectorFactory.Default).pipe(Layer.provide(transport))
  ).pipe(Layer.provideMerge(transport))
  const storage = Layer.mergeAll(
    EventFeed.Default.pipe(Layer.provideMerge(EventStore.Default)),
    Views.Default,
    Mirror.Default,
    MirrorReader.Default,
    JobLog.Default
  ).pipe(Layer.provideMerge(Database.layer(options.dbPath, { checkpointInBackground: true })))
  return Layer.mergeAll(IntegrationControl.Default, Notifier.Default).pipe(
    Layer.provideMerge(Scheduler.Default),
    Layer.provideMerge(Layer.mergeAll(Jobs.Default, CircuitBreaker.Default)),
    Layer.provideMerge(JobSupervisor.Default),
    Layer.provideMerge(JobRunner.Default),
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
      const result = yield* integrations.initialize.pipe(Effect.orDieWith((e) => new Error(e.message)))
      yield* Effect.logInfo(
        `Initialized: ${result.integrationsFound} integration(s) (${result.registered.length} new, ${result.updated.length} changed)`
      )
      yield* scheduler.start
    }
    yield* supervisor.recover
  }).pipe(Effect.orDie)

export interface AppOptions extends EngineOptions {
  readonly port: number
  readonly host: string
  readonly apiToken: Option.Option<Redacted.Redacted<string>>
  readonly readToken?: Option.Option<Redacted.Redacted<string>> | undefined
}

/** The whole server: engine, start-up work, HTTP API. */
export const makeAppLayer = (options: AppOptions) => {
  const engine = makeEngineLayer(options)
  const started = Layer.effectDiscard(startup(options.autoInitialize)).pipe(Layer.provideMerge(engine))
  // No tracing backend is configured, so spans (one per SQL statement and request) are pure
  // overhead; an embedding service that exports traces builds from makeEngineLayer instead.
  return makeHttpLayer(options).pipe(Layer.provideMerge(started), Layer.provide(Layer.setTracerEnabled(false)))
}
