import { HttpApiBuilder, HttpApiScalar, HttpServer } from "@effect/platform"
import { NodeHttpServer } from "@effect/platform-node"
import { Layer, Option, type Redacted } from "effect"
import { createServer } from "node:http"
import { SyncApi } from "./Api.js"
import { IntegrationsHttpLive } from "./IntegrationsHttp.js"
import { JobsHttpLive } from "./JobsHttp.js"
import { ApiTokens, AuthorizationLive, StreamAuthorizationLive } from "./Authorization.js"
import { DashboardLive } from "./Dashboard.js"
import { ApiErrorsLive, serverMiddleware } from "./middleware.js"
import { StreamsHttpLive } from "./StreamsHttp.js"
import { SystemHttpLive } from "./SystemHttp.js"

export const ApiLive = HttpApiBuilder.api(SyncApi).pipe(
  Layer.provide([JobsHttpLive, IntegrationsHttpLive, StreamsHttpLive, SystemHttpLive, ApiErrorsLive])
)

export interface ServerOptions {
  readonly port: number
  readonly host: string
  /** SYNC_API_TOKEN: every protected route needs it. */
  readonly apiToken: Option.Option<Redacted.Redacted<string>>
  /** SYNC_READ_TOKEN: GET requests only. */
  readonly readToken?: Option.Option<Redacted.Redacted<string>> | undefined
}

/** The HTTP edge: the API, OpenAPI at /openapi.json, docs at /docs (served offline), the dashboard at /. */
export const makeHttpLayer = (options: ServerOptions) =>
  HttpApiBuilder.serve(serverMiddleware).pipe(
    Layer.provide(HttpApiScalar.layer({ path: "/docs" })),
    Layer.provide(DashboardLive),
    Layer.provide(HttpApiBuilder.middlewareOpenApi({ path: "/openapi.json" })),
    Layer.provide(ApiLive),
    // The router runs Authorization for the routes declared with it (see Api.ts).
    Layer.provide([AuthorizationLive, StreamAuthorizationLive]),
    Layer.provide(Layer.succeed(ApiTokens, { write: options.apiToken, read: options.readToken ?? Option.none() })),
    HttpServer.withLogAddress,
    Layer.provideMerge(NodeHttpServer.layer(createServer, { port: options.port, host: options.host }))
  )
