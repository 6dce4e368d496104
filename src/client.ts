/** The typed client of synclog's API, apart from the engine (README, "Embedding"). */
import { HttpApiClient, HttpClient, HttpClientRequest } from "@effect/platform"
import type { Redacted } from "effect"
import { SyncApi } from "./http/Api.js"

export interface ClientOptions {
  /** The server's SYNC_API_TOKEN (or a read-only token), sent as `Authorization: Bearer <token>`. */
  readonly token?: string | Redacted.Redacted<string> | undefined
  /** Any other change to the HttpClient the calls go through (headers, retries, tracing). */
  readonly transformClient?: ((client: HttpClient.HttpClient) => HttpClient.HttpClient) | undefined
}

/** A typed client of the sync API (needs an HttpClient, e.g. FetchHttpClient.layer). */
export const makeClient = (baseUrl: string, options: ClientOptions = {}) =>
  HttpApiClient.make(SyncApi, {
    baseUrl,
    transformClient: (client) => {
      const { token, transformClient } = options
      const authorized = token === undefined ? client : HttpClient.mapRequest(client, HttpClientRequest.bearerToken(token))
      return transformClient === undefined ? authorized : transformClient(authorized)
    }
  })
