import { HttpApiBuilder, HttpApiScalar, HttpServer } from "@effect/platform"
import { NodeHttpServer } from "@effect/platform-node"
import { Data, Layer, type Option, type Redacted } from "effect"
import { createServer, type IncomingMessage, type ServerResponse } from "node:http"
import { SyncApi } from "./Api.js"
import { IntegrationsHttpLive } from "./IntegrationsHttp.js"
import { JobsHttpLive } from "./JobsHttp.js"
import { ApiErrorsLive, serverMiddleware } from "./middleware.js"
import { SystemHttpLive } from "./SystemHttp.js"

export const ApiLive = HttpApiBuilder.api(SyncApi).pipe(
  Layer.provide([JobsHttpLive, IntegrationsHttpLive, SystemHttpLive, ApiErrorsLive])
)

export interface ServerOptions {
  readonly port: number
  readonly host: string
  readonly apiToken: Option.Option<Redacted.Redacted<string>>
}

/** The port could not be bound (in use, privileged, not an address of this machine). */
export class PortUnavailable extends Data.TaggedError("PortUnavailable")<{ readonly message: string }> {}

const portProblem = (options: ServerOptions, error: unknown): string => {
  const code = (error as { readonly code?: unknown } | undefined)?.code
  switch (code) {
    case "EADDRINUSE":
      return `port ${options.port} is in use: set PORT or stop the other process`
    case "EACCES":
      return `port ${options.port} needs privileges this process lacks: set PORT to 1024 or above`
    case "EADDRNOTAVAIL":
      return `HOST ${options.host} is not an address of this machine: set HOST (0.0.0.0 listens on every interface)`
    default:
      return `could not listen on ${options.host}:${options.port} (${error instanceof Error ? error.message : String(error)}): set PORT or HOST`
  }
}

/**
 * A node server that answers 503 while the API is not attached (during start-up, after the port
 * is bound, and during shutdown), instead of leaving requests unanswered.
 */
const makeNodeServer = () => {
  const server = createServer()
  server.on("request", (_req: IncomingMessage, res: ServerResponse) => {
    if (server.listenerCount("request") > 1) return // the API answers
    res.writeHead(503, { "content-type": "application/json", "retry-after": "1" })
    res.end(JSON.stringify({
      success: false,
      error: "Unavailable",
      message: "synclog is starting or shutting down; retry in a moment"
    }))
  })
  return server
}

/**
 * Binds the port. Built before the engine, so a taken port stops the start before any job
 * starts or any event is appended.
 */
export const makeListenerLayer = (options: ServerOptions) =>
  NodeHttpServer.layer(makeNodeServer, { port: options.port, host: options.host }).pipe(
    Layer.mapError((e) => new PortUnavailable({ message: portProblem(options, e.cause) }))
  )

/** The API on a bound server: OpenAPI at /openapi.json, docs at /docs (served offline). */
export const makeServeLayer = (options: ServerOptions) =>
  HttpApiBuilder.serve(serverMiddleware(options.apiToken)).pipe(
    Layer.provide(HttpApiScalar.layer({ path: "/docs" })),
    Layer.provide(HttpApiBuilder.middlewareOpenApi({ path: "/openapi.json" })),
    Layer.provide(ApiLive),
    HttpServer.withLogAddress
  )

/** The HTTP edge: bind, then serve the API. */
export const makeHttpLayer = (options: ServerOptions) =>
  makeServeLayer(options).pipe(Layer.provideMerge(makeListenerLayer(options)))
