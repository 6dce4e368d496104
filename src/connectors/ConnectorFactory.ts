import { HttpClient } from "@effect/platform"
import { Context, Effect, Layer } from "effect"
import type { Connector } from "./Connector.js"
import { makePlaneConnector, type PlaneSettings, type RequestPolicy } from "./plane/PlaneConnector.js"
import { RateLimiter } from "./RateLimiter.js"

/** A connector's settings: Plane's, plus which connector (the only one today). */
interface ConnectorSettings extends PlaneSettings {
  readonly connector: "plane"
}

/**
 * Builds the connector of an integration from its settings: the seam where a new source type
 * plugs in (one folder per source under connectors/).
 */
export class ConnectorFactory extends Context.Tag("synclog/ConnectorFactory")<ConnectorFactory, {
  readonly make: (settings: ConnectorSettings, policy: RequestPolicy) => Effect.Effect<Connector>
}>() {
  static readonly Default = Layer.effect(
    ConnectorFactory,
    Effect.gen(function*() {
      const http = yield* HttpClient.HttpClient
      const limiter = yield* RateLimiter
      return {
        make: (settings, policy) =>
          makePlaneConnector(settings, policy).pipe(
            Effect.provideService(HttpClient.HttpClient, http),
            Effect.provideService(RateLimiter, limiter)
          )
      }
    })
  )
}
