import { HttpApiBuilder, HttpApiScalar, HttpMiddleware, HttpServer } from "@effect/platform"
import { NodeHttpServer } from "@effect/platform-node"
import { Effect, FiberRef, Layer, Option, type Redacted, Schema } from "effect"
import { createServer, type IncomingMessage, type Server, type ServerResponse, STATUS_CODES } from "node:http"
import type { Duplex } from "node:stream"
import { errorBody } from "../domain/errors.js"
import { SyncApi } from "./Api.js"
import { IntegrationSettingsHttpLive } from "./IntegrationSettingsHttp.js"
import { IntegrationsHttpLive } from "./IntegrationsHttp.js"
import { JobsHttpLive } from "./JobsHttp.js"
import { NotificationsHttpLive } from "./NotificationsHttp.js"
import { ApiTokens, AuthorizationLive, StreamAuthorizationLive } from "./Authorization.js"
import { DashboardLive } from "./Dashboard.js"
import { ApiErrorsLive, serverMiddleware } from "./middleware.js"
import { observeRequests } from "./observe.js"
import { MetricsHttpLive } from "./MetricsHttp.js"
import { StreamBuffer, StreamsHttpLive } from "./StreamsHttp.js"
import { SystemHttpLive } from "./SystemHttp.js"
import { SseWriters, type SseWriterMode } from "./sseWriters.js"

export const ApiLive = HttpApiBuilder.api(SyncApi).pipe(
  Layer.provide([
    JobsHttpLive,
    IntegrationsHttpLive,
    IntegrationSettingsHttpLive,
    StreamsHttpLive,
    MetricsHttpLive,
    NotificationsHttpLive,
    SystemHttpLive,
    ApiErrorsLive
  ])
)

export interface ServerOptions {
  readonly port: number
  readonly host: string
  /** SYNC_API_TOKEN: every protected route needs it. */
  readonly apiToken: Option.Option<Redacted.Redacted<string>>
  /** SYNC_ACCESS_LOG: a log line per request (method, route template, status, duration). */
  readonly accessLog?: boolean | undefined
  /** SYNC_READ_TOKEN: GET requests only. */
  readonly readToken?: Option.Option<Redacted.Redacted<string>> | undefined
  /** SYNC_SSE_WRITER: who writes the live streams' sockets (sseWriters.ts); default "process". */
  readonly sseWriter?: SseWriterMode | undefined
  /** SYNC_SSE_WRITER_NICE: the writer process's nice value (default 0, the server's priority; up to 19). */
  readonly sseWriterNice?: number | undefined
  /** SYNC_STREAM_BUFFER: events a stream's client may fall behind before it is cut off. */
  readonly streamBuffer?: number | undefined
}

/** A whole HTTP/1.1 error answer in the API's error shape, written straight to a socket. */
const rawErrorResponse = (status: number, error: string, message: string) => {
  const body = JSON.stringify(errorBody(error, message))
  return `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json\r\n` +
    `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`
}

/** Answers on a socket no handler will see, then closes it (at the latest a second later). */
const answerAndClose = (socket: Duplex, response: string) => {
  socket.end(response, () => socket.destroy())
  setTimeout(() => socket.destroy(), 1_000).unref()
}

/**
 * Requests Node's HTTP parser rejects (a bad method, a space in the path, oversized headers, bad
 * chunk framing) never reach the app; Node would answer them with an empty body. Same rule as
 * Node's own handler: answer only if no answer to this connection has started.
 */
const onClientError = (err: NodeJS.ErrnoException, socket: Duplex & { _httpMessage?: { headersSent?: boolean } }) => {
  if (err.code === "ECONNRESET" || !socket.writable || socket._httpMessage?.headersSent) {
    socket.destroy()
    return
  }
  const response = err.code === "HPE_HEADER_OVERFLOW"
    ? rawErrorResponse(431, "HeadersTooLarge", "The request headers are larger than the server accepts (16 KB); send fewer or shorter headers")
    : err.code === "ERR_HTTP_REQUEST_TIMEOUT"
    ? rawErrorResponse(408, "RequestTimeout", "The request was not received in time; send it again")
    : rawErrorResponse(400, "BadRequest", `The request is not valid HTTP/1.1 (${err.code ?? "parse error"}); check the method, path and headers`)
  answerAndClose(socket, response)
}

/** Node hands CONNECT requests to a 'connect' listener (or drops the connection without one). */
const onConnect = (_request: unknown, socket: Duplex) =>
  answerAndClose(socket, rawErrorResponse(405, "MethodNotAllowed", "CONNECT is not supported; see /docs for the API"))

/** An `Expect` header other than 100-continue: Node would answer 417 with an empty body. */
const onCheckExpectation = (_request: IncomingMessage, response: ServerResponse) => {
  const body = JSON.stringify(
    errorBody("ExpectationFailed", "The server supports no Expect header other than '100-continue'; send the request without it")
  )
  response.writeHead(417, { "content-type": "application/json", "content-length": Buffer.byteLength(body), connection: "close" })
  response.end(body)
}

/**
 * No endpoint upgrades a connection (WebSocket, h2c), and Node serves a request with an Upgrade
 * header as an ordinary one while nobody listens for 'upgrade'. So the platform's 'upgrade'
 * listener is not attached: through it such a request's body stayed unread on the socket (the
 * API saw none) and the socket was never closed, which also held up the server's shutdown.
 */
const ignoringUpgradeListeners = (server: Server): Server => {
  const on = server.on.bind(server)
  server.on = ((event: string, listener: (...args: Array<any>) => void) => event === "upgrade" ? server : on(event, listener)) as Server["on"]
  return server
}

/**
 * The Node server, with answers in the error shape for requests that never reach the app. A
 * request without Host does reach it (serverMiddleware answers it), instead of Node's empty 400.
 */
const createNodeServer = () => {
  const server = ignoringUpgradeListeners(createServer({ requireHostHeader: false }))
  server.on("clientError", onClientError)
  server.on("connect", onConnect)
  server.on("checkExpectation", onCheckExpectation)
  return server
}

/** The port could not be bound (in use, privileged, not an address of this machine). */
export class PortUnavailable extends Schema.TaggedError<PortUnavailable>()("PortUnavailable", { message: Schema.String }) {}

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
  const server = createNodeServer()
  server.on("request", (_req: IncomingMessage, res: ServerResponse) => {
    if (server.listenerCount("request") > 1) return // the API answers
    res.writeHead(503, { "content-type": "application/json", "retry-after": "1" })
    res.end(JSON.stringify(errorBody("Unavailable", "synclog is starting or shutting down; retry in a moment")))
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

/**
 * The platform wraps every request in a span (parsing its URL, copying its headers into
 * attributes) even with tracing off, as makeAppLayer runs the server: then nothing would read
 * that span, so the per-request tracer is skipped. An embedding service that traces keeps it.
 */
const withoutRequestSpansWhenTracingIsOff = <A, E, R>(layer: Layer.Layer<A, E, R>) =>
  Layer.unwrapEffect(Effect.map(FiberRef.get(FiberRef.currentTracerEnabled), (tracing) =>
    tracing ? layer : HttpMiddleware.withTracerDisabledWhen(layer, () => true)))

/** The API on a bound server: OpenAPI at /openapi.json, docs at /docs (served offline), the dashboard at /. */
export const makeServeLayer = (options: ServerOptions) =>
  HttpApiBuilder.serve((app) => observeRequests(options.accessLog ?? false)(serverMiddleware(app))).pipe(
    Layer.provide(HttpApiScalar.layer({ path: "/docs" })),
    Layer.provide(DashboardLive),
    Layer.provide(HttpApiBuilder.middlewareOpenApi({ path: "/openapi.json" })),
    Layer.provide(ApiLive),
    Layer.provide(SseWriters.layer(options.sseWriter ?? "process", options.sseWriterNice)),
    Layer.provide(options.streamBuffer === undefined ? Layer.empty : Layer.succeed(StreamBuffer, options.streamBuffer)),
    // The router runs Authorization for the routes declared with it (see Api.ts).
    Layer.provide([AuthorizationLive, StreamAuthorizationLive]),
    Layer.provide(Layer.succeed(ApiTokens, { write: options.apiToken, read: options.readToken ?? Option.none() })),
    HttpServer.withLogAddress,
    withoutRequestSpansWhenTracingIsOff
  )

/** The HTTP edge: bind, then serve the API. */
export const makeHttpLayer = (options: ServerOptions) =>
  makeServeLayer(options).pipe(Layer.provideMerge(makeListenerLayer(options)))
