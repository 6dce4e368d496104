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
import { EventStore } from "./eventlog/EventStore.js"
import { Views } from "./eventlog/Views.js"
import * as WriterLock from "./eventlog/WriterLock.js"
import { makeListenerLayer, makeServeLayer } from "./http/Server.js"
import { Mirror } from "./mirror/Mirror.js"
import { MirrorReader } from "./mirror/MirrorReader.js"

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
}

/** Holds the database's writer lock for the layer's lifetime (see WriterLock.ts). */
const writerLock = (dbPath: string) =>
  dbPath === ":memory:" ? Layer.empty : Layer.scopedDiscard(WriterLock.acquire(dbPath))

/**
 * The engine as layers, for embedding in another Effect service: the event store and views on
 * SQLite, the mirror, connectors, job actors, the scheduler. One per database file: it holds
 * the file's writer lock, and a second engine or server on the same file is refused.
 */
export const makeEngineLayer = (options: EngineOptions) =>
  engineLayer(options).pipe(Layer.provideMerge(writerLock(options.dbPath)))

const engineLayer = (options: EngineOptions) => {
  const transport = Layer.mergeAll(NodeHttpClient.layerUndici, RateLimiter.Default)
  const base = Layer.mergeAll(
    Layer.succeed(EngineSettings, options.engine),
    Layer.succeed(AppMode, options.mode),
    options.integrations,
    options.secrets,
    (options.connectors ?? ConnectorFactory.Default).pipe(Layer.provide(transport))
  ).pipe(Layer.provideMerge(transport))
  const storage = Layer.mergeAll(
    EventStore.Default,
    Views.Default,
    Mirror.Default,
    MirrorReader.Default,
    JobLog.Default
  ).pipe(Layer.provideMerge(Database.layer(options.dbPath, { checkpointInBackground: true })))
  return Layer.mergeAll(IntegrationControl.Default).pipe(
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
}

/**
 * The whole server, built in this order: the writer lock, the port, the engine (database,
 * migrations), the start-up work, the API. A second server on the same file or a taken port
 * stops the start before any job starts or any event is appended.
 */
export const makeAppLayer = (options: AppOptions) => {
  const started = Layer.effectDiscard(startup(options.autoInitialize)).pipe(Layer.provideMerge(engineLayer(options)))
  // No tracing backend is configured, so spans (one per SQL statement and request) are pure
  // overhead; an embedding service that exports traces builds from makeEngineLayer instead.
  return makeServeLayer(options).pipe(
    Layer.provideMerge(started),
    Layer.provideMerge(makeListenerLayer(options)),
    Layer.provideMerge(writerLock(options.dbPath)),
    Layer.provide(Layer.setTracerEnabled(false))
  )
}
