import {
  HttpApiBuilder,
  type HttpApp,
  HttpApiError,
  HttpIncomingMessage,
  HttpMethod,
  HttpServerError,
  HttpServerRequest,
  HttpServerResponse
} from "@effect/platform"
import { Cause, Effect, Option, Redacted } from "effect"
import { InternalError, NotFound, StorageUnavailable, ValidationError } from "../domain/errors.js"
import { DatabaseFile } from "../eventlog/Database.js"
import { describeStorageFailure } from "../eventlog/storageErrors.js"
import { SyncApi } from "./Api.js"

/** Bodies are small JSON documents; anything larger is refused with 413. */
export const MAX_BODY_BYTES = 1024 * 1024

const errorBody = (status: number, error: string, message: string, extra: Record<string, unknown> = {}) =>
  HttpServerResponse.unsafeJson({ success: false, error, message, ...extra }, { status })

/**
 * One issue per field: a literal union reports each member it tried ("Expected "full", actual
 * "x"" six times); merge those into "Expected one of ..., actual ...".
 */
const describeIssues = (issues: ReadonlyArray<{ readonly path: ReadonlyArray<PropertyKey>; readonly message: string }>) => {
  const byPath = new Map<string, Array<string>>()
  for (const issue of issues) {
    const path = issue.path.map(String).join(".") || "(body)"
    byPath.set(path, [...(byPath.get(path) ?? []), issue.message])
  }
  return [...byPath].map(([path, messages]) => {
    const expected = messages.map((m) => /^Expected (.+), actual (.+)$/s.exec(m))
    if (messages.length > 1 && expected.every((m) => m !== null && m[2] === expected[0]![2])) {
      return { path, message: `Expected one of ${expected.map((m) => m![1]).join(", ")}; actual ${expected[0]![2]}` }
    }
    return { path, message: [...new Set(messages)].join("; ") }
  })
}

/**
 * Database trouble reaches here as a defect (infra.ts). A full disk, a read-only or locked file
 * is not a bug: 503 StorageUnavailable, naming the file and the fix.
 */
const storageFailuresAs503 = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.catchAllDefect(effect, (defect) =>
    Effect.flatMap(Effect.serviceOption(DatabaseFile), (file) => {
      const path = Option.match(file, { onNone: () => "the database", onSome: (f) => f.path })
      const problem = describeStorageFailure(defect, path, "retry the request")
      return problem === undefined
        ? Effect.die(defect)
        : Effect.zipRight(
          Effect.logWarning(`A request failed on storage: ${problem.message}`),
          Effect.fail(new StorageUnavailable({ message: problem.message }))
        )
    }))

/**
 * Inside the API: request decoding failures become ValidationError (400, naming each field),
 * storage failures StorageUnavailable (503, see storageFailuresAs503), other defects
 * InternalError (500) after being logged; no stack trace reaches a response.
 */
export const ApiErrorsLive = HttpApiBuilder.middleware(SyncApi, (app): HttpApp.Default<ValidationError | InternalError | NotFound | StorageUnavailable> =>
  app.pipe(
    storageFailuresAs503,
    Effect.catchAllCause((cause): Effect.Effect<HttpServerResponse.HttpServerResponse, ValidationError | InternalError | NotFound | StorageUnavailable> => {
      const failure = Cause.failureOption(cause as Cause.Cause<unknown>)
      if (Option.isSome(failure) && failure.value instanceof HttpServerError.RouteNotFound) {
        const req = failure.value.request
        return Effect.fail(new NotFound({ message: `No route ${req.method} ${req.url}; see /docs for the API` }))
      }
      if (Option.isSome(failure) && failure.value instanceof HttpApiError.HttpApiDecodeError) {
        const issues = describeIssues(failure.value.issues)
        const summary = issues.map((i) => `${i.path}: ${i.message}`).join("; ")
        return Effect.fail(new ValidationError({ message: `Invalid request: ${summary}`, issues }))
      }
      if (Option.isNone(failure) && !Cause.isInterruptedOnly(cause)) {
        return Effect.zipRight(
          Effect.logDebug("Unhandled error in a request handler", cause).pipe(
            Effect.zipRight(Effect.logError(`Unhandled error in a request handler: ${Cause.squash(cause) instanceof Error ? (Cause.squash(cause) as Error).message : String(Cause.squash(cause))}`))
          ),
          Effect.fail(new InternalError({ message: "Internal error; it has been logged. Please report it if it persists." }))
        )
      }
      return Effect.failCause(cause)
    })
  ))

const isJsonish = (contentType: string) =>
  contentType === "" || contentType.includes("json") || contentType.includes("x-www-form-urlencoded") ||
  contentType.startsWith("text/plain")

/**
 * Around the whole server: optional bearer token, body size and JSON checks before any handler
 * runs (so a bad body loses nothing). A JSON body sent without a JSON content type (curl -d) is
 * read as JSON. (Errors raised inside the API are answered by ApiErrorsLive: by the time a
 * failure reaches this middleware, the server has already responded.)
 */
export const serverMiddleware = (apiToken: Option.Option<Redacted.Redacted<string>>) =>
(app: HttpApp.Default): HttpApp.Default =>
  Effect.gen(function*() {
    let request = yield* HttpServerRequest.HttpServerRequest
    const url = request.url
    if (Option.isSome(apiToken) && url.startsWith("/api/")) {
      const header = request.headers["authorization"] ?? ""
      const given = header.startsWith("Bearer ") ? header.slice(7) : request.headers["x-api-key"]
      if (given !== Redacted.value(apiToken.value)) {
        return errorBody(401, "Unauthorized", "Missing or wrong API token: send 'Authorization: Bearer <SYNC_API_TOKEN>'")
      }
    }
    if (HttpMethod.hasBody(request.method)) {
      const length = Number(request.headers["content-length"] ?? "0")
      if (length > MAX_BODY_BYTES) {
        return errorBody(413, "PayloadTooLarge", `The request body is ${length} bytes; the limit is ${MAX_BODY_BYTES}`)
      }
      const contentType = (request.headers["content-type"] ?? "").toLowerCase()
      if (isJsonish(contentType)) {
        if (!contentType.includes("json")) {
          request = request.modify({ headers: { ...request.headers, "content-type": "application/json" } })
        }
        const text = yield* request.text.pipe(
          HttpIncomingMessage.withMaxBodySize(Option.some(MAX_BODY_BYTES)),
          Effect.either
        )
        if (text._tag === "Left") {
          return errorBody(413, "PayloadTooLarge", `The request body could not be read within ${MAX_BODY_BYTES} bytes`)
        }
        if (text.right.trim() !== "") {
          try {
            JSON.parse(text.right)
          } catch (e) {
            return errorBody(400, "MalformedJson", `The request body is not valid JSON: ${(e as Error).message}`)
          }
        }
      }
    }
    return yield* app.pipe(Effect.provideService(HttpServerRequest.HttpServerRequest, request))
  })
