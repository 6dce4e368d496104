import { HttpApiMiddleware, HttpApiSecurity, HttpServerRequest, OpenApi } from "@effect/platform"
import { Context, Effect, Layer, Option, Redacted, Schema } from "effect"
import { createHash, timingSafeEqual } from "node:crypto"
import { Forbidden, Unauthorized } from "../domain/errors.js"

/**
 * The API's tokens: `write` (SYNC_API_TOKEN) may call every protected route, `read`
 * (SYNC_READ_TOKEN) only GET ones. With neither set, the API is open (the default on loopback).
 */
export class ApiTokens extends Context.Tag("synclog/ApiTokens")<ApiTokens, {
  readonly write: Option.Option<Redacted.Redacted<string>>
  readonly read: Option.Option<Redacted.Redacted<string>>
}>() {}

/**
 * Route-based auth: declared on the API groups, so it runs for exactly the endpoints the router
 * matched, whatever spelling of the URL reached them (`//api`, `/API`, `/%61pi`, absolute form).
 * Routes outside the groups (`/healthz`, `/docs`, `/openapi.json`) are public on purpose.
 */
const bearerScheme = HttpApiSecurity.bearer.pipe(
  HttpApiSecurity.annotate(
    OpenApi.Description,
    "Required when the server runs with SYNC_API_TOKEN: `Authorization: Bearer <token>`. " +
      "A SYNC_READ_TOKEN allows GET requests only (403 on writes)."
  )
)

export class Authorization extends HttpApiMiddleware.Tag<Authorization>()("synclog/Authorization", {
  failure: Schema.Union(Unauthorized, Forbidden),
  security: { bearer: bearerScheme }
}) {}

/**
 * The live streams' auth: the bearer header, or `?access_token=` because a browser's
 * EventSource cannot set headers. The query parameter is accepted on the stream routes only
 * and never logged.
 */
export class StreamAuthorization extends HttpApiMiddleware.Tag<StreamAuthorization>()("synclog/StreamAuthorization", {
  failure: Schema.Union(Unauthorized, Forbidden),
  security: {
    bearer: bearerScheme,
    accessToken: HttpApiSecurity.apiKey({ in: "query", key: "access_token" }).pipe(
      HttpApiSecurity.annotate(OpenApi.Description, "The same token as `?access_token=` (for EventSource, which cannot send headers)")
    )
  }
}) {}

const digest = (value: string) => createHash("sha256").update(value, "utf8").digest()

/** Compares digests, so neither the token's content nor its length leaks through timing. */
const sameToken = (given: Buffer, expected: Option.Option<Buffer>) =>
  Option.isSome(expected) && timingSafeEqual(given, expected.value)

const READ_METHODS = new Set(["GET", "HEAD"])

/** Decides a request's token against the configured ones (shared by both middlewares). */
const makeCheck = Effect.map(ApiTokens, (tokens) => {
  const write = Option.map(tokens.write, (t) => digest(Redacted.value(t)))
  const read = Option.map(tokens.read, (t) => digest(Redacted.value(t)))
  const open = Option.isNone(write) && Option.isNone(read)
  return (token: Redacted.Redacted<string>) =>
    open ? Effect.void : Effect.gen(function*() {
      const given = digest(Redacted.value(token))
      if (sameToken(given, write)) return
      if (sameToken(given, read)) {
        const request = yield* HttpServerRequest.HttpServerRequest
        if (READ_METHODS.has(request.method)) return
        return yield* Effect.fail(
          new Forbidden({ message: "This token is read-only (SYNC_READ_TOKEN): it allows GET requests only. Use SYNC_API_TOKEN to change anything." })
        )
      }
      return yield* Effect.fail(
        new Unauthorized({ message: "Missing or wrong API token: send 'Authorization: Bearer <SYNC_API_TOKEN>'" })
      )
    })
})

export const AuthorizationLive = Layer.effect(Authorization, Effect.map(makeCheck, (check) => Authorization.of({ bearer: check })))

export const StreamAuthorizationLive = Layer.effect(
  StreamAuthorization,
  Effect.map(makeCheck, (check) => StreamAuthorization.of({ bearer: check, accessToken: check }))
)
