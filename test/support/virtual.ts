import { HttpServer } from "@effect/platform"
import { Clock, Effect, Layer, Logger, LogLevel, Option, TestClock } from "effect"
import { makeAppLayer } from "../../src/app.js"
import { defaultEngineConfig, type EngineConfig, type IntegrationConfig } from "../../src/config/ConfigFile.js"
import { IntegrationSource, Secrets } from "../../src/config/Settings.js"
import { KEY_ENV, tempDir } from "./app.js"
import { client } from "./http.js"

/**
 * The real server built inside an Effect test, so every wait in it (backoff, Retry-After,
 * rate-limit pacing, timeouts, the scheduler) runs on TestClock. A pump fiber moves virtual
 * time forward in small steps while the test waits for real HTTP work: a minute of backoff
 * passes in well under a second of real time.
 */
export const virtualNow = { ms: 0 }

const realSleep = (ms: number) => Effect.promise(() => new Promise<void>((r) => setTimeout(r, ms)))

/** Advances virtual time by `stepMs` every real millisecond or so; stops with the test scope. */
export const pumpClock = (stepMs = 100) =>
  Effect.zipRight(
    // Each test has its own TestClock: start from its time, not the last test's.
    Effect.flatMap(Clock.currentTimeMillis, (now) => Effect.sync(() => void (virtualNow.ms = now))),
    Effect.forkScoped(
    Effect.forever(
      Effect.gen(function*() {
        yield* realSleep(1)
        yield* TestClock.adjust(stepMs)
        virtualNow.ms = yield* Clock.currentTimeMillis
      })
    )
  ))

export const virtualApp = (options: {
  readonly apiKey: string
  readonly integrations: ReadonlyArray<IntegrationConfig>
  readonly engine?: Partial<EngineConfig>
}) =>
  Effect.gen(function*() {
    const tmp = tempDir()
    yield* Effect.addFinalizer(() => Effect.sync(tmp.remove))
    const layer = makeAppLayer({
      dbPath: tmp.dbPath,
      port: 0,
      host: "127.0.0.1",
      apiToken: Option.none(),
      mode: "file",
      engine: { ...defaultEngineConfig, ...options.engine },
      integrations: IntegrationSource.fixed("file", options.integrations),
      secrets: Secrets.make({ values: { [KEY_ENV]: options.apiKey } }),
      autoInitialize: true
    }).pipe(Layer.provide(Logger.minimumLogLevel(process.env.SYNCLOG_TEST_LOGS ? LogLevel.Debug : LogLevel.Warning)))
    // While the server shuts down, its grace periods are virtual time too: keep time moving
    // until the server is closed (finalizers run last-registered first).
    const closed = { done: false }
    yield* Effect.addFinalizer(() => Effect.sync(() => void (closed.done = true)))
    const context = yield* Layer.build(layer)
    yield* Effect.addFinalizer(() =>
      Effect.forkDaemon(
        Effect.whileLoop({
          while: () => !closed.done,
          body: () => Effect.zipRight(realSleep(1), TestClock.adjust(1000)),
          step: () => undefined
        })
      )
    )
    const server = yield* Effect.provide(HttpServer.HttpServer, context)
    const address = server.address as HttpServer.TcpAddress
    // `context`: the server's services, for a test that watches the engine from inside.
    return { api: client(`http://127.0.0.1:${address.port}`), dbPath: tmp.dbPath, context }
  })
