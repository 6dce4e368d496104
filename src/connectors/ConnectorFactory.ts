import { HttpClient } from "@effect/platform"
import { Context, Effect, Layer, type Redacted } from "effect"
import type { Connector } from "./Connector.js"
import type { SourceError } from "./Connector.js"
import { type CurrentApiKey, makePlaneConnector, type RequestPolicy } from "./plane/PlaneConnector.js"
import { RateLimiter } from "./RateLimiter.js"

interface ConnectorSettings {
  readonly integrationId: string
  readonly connector: "plane"
  readonly baseUrl: string
  readonly workspaceSlug: string
  readonly apiKey: Redacted.Redacted<string>
  readonly apiKeyEnv: string
  /** Where the key came from, named in auth errors (default: the environment variable `apiKeyEnv`). */
  readonly apiKeySource?: string | undefined
  /** Read before each request when given (see PlaneSettings): a rotated key applies from the next request. */
  readonly currentApiKey?: Effect.Effect<CurrentApiKey, SourceError> | undefined
  readonly requestsPerMinute: number | null
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
