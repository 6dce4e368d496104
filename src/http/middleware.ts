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
import { Cause, Effect, Option } from "effect"
import { InternalError, NotFound, ValidationError } from "../domain/errors.js"
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
 * Inside the API: request decoding failures become ValidationError (400, naming each field),
 * defects become InternalError (500) after being logged; no stack trace reaches a response.
 */
export const ApiErrorsLive = HttpApiBuilder.middleware(SyncApi, (app): HttpApp.Default<ValidationError | InternalError | NotFound> =>
  app.pipe(
    Effect.catchAllCause((cause): Effect.Effect<HttpServerResponse.HttpServerResponse, ValidationError | InternalError | NotFound> => {
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
 * Around the whole server: body size and JSON checks before any handler
 * runs (so a bad body loses nothing). A JSON body sent without a JSON content type (curl -d) is
 * read as JSON. (Errors raised inside the API are answered by ApiErrorsLive: by the time a
 * failure reaches this middleware, the server has already responded.)
 */
export const serverMiddleware = (app: HttpApp.Default): HttpApp.Default =>
  Effect.gen(function*() {
    let request = yield* HttpServerRequest.HttpServerRequest
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
