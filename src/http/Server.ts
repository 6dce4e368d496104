import { HttpApiBuilder, HttpApiScalar, HttpServer } from "@effect/platform"
import { NodeHttpServer } from "@effect/platform-node"
import { Layer, type Option, type Redacted } from "effect"
import { createServer } from "node:http"
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

/** The HTTP edge: the API, OpenAPI at /openapi.json, docs at /docs (served offline). */
export const makeHttpLayer = (options: ServerOptions) =>
  HttpApiBuilder.serve(serverMiddleware(options.apiToken)).pipe(
    Layer.provide(HttpApiScalar.layer({ path: "/docs" })),
    Layer.provide(HttpApiBuilder.middlewareOpenApi({ path: "/openapi.json" })),
    Layer.provide(ApiLive),
    HttpServer.withLogAddress,
    Layer.provideMerge(NodeHttpServer.layer(createServer, { port: options.port, host: options.host }))
  )
