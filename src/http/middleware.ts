import {
  HttpApiBuilder,
  type HttpApp,
  HttpApiError,
  HttpServerError,
  HttpServerRequest,
  HttpServerResponse
} from "@effect/platform"
import { NodeHttpServerRequest } from "@effect/platform-node"
import { Cause, Effect, Either, Option } from "effect"
import { errorBody, InternalError, NotFound, StorageUnavailable, ValidationError } from "../domain/errors.js"
import { storageProblemOf } from "../engine/boundary.js"
import { SyncApi } from "./Api.js"
import { checkBody, needsBodyCheck } from "./requestBody.js"

/** How much of a rejected value an error message quotes: a body may hold a megabyte of it. */
const MAX_QUOTED_VALUE = 200

const clipActual = (message: string) =>
  message.replace(/^(Expected .+?, actual )(.+)$/s, (whole, expected: string, actual: string) =>
    actual.length > MAX_QUOTED_VALUE ? `${expected}${actual.slice(0, MAX_QUOTED_VALUE)}... (${actual.length} characters)` : whole)

/**
 * One issue per field: a literal union reports each member it tried ("Expected "full", actual
 * "x"" six times); merge those into "Expected one of ..., actual ...".
 */
const describeIssues = (issues: ReadonlyArray<{ readonly path: ReadonlyArray<PropertyKey>; readonly message: string }>) => {
  const byPath = new Map<string, Array<string>>()
  for (const issue of issues) {
    const path = issue.path.map(String).join(".") || "(body)"
    byPath.set(path, [...(byPath.get(path) ?? []), clipActual(issue.message)])
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
 * Database trouble reaches here as a defect (the engine's front door dies on it: engine/boundary.ts).
 * A full disk, a read-only or locked file is not a bug: 503 StorageUnavailable, naming the file
 * and the fix.
 */
const storageFailuresAs503 = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.catchAllDefect(effect, (defect) =>
    Effect.flatMap(storageProblemOf(defect, "retry the request"), (problem) =>
      problem === undefined
        ? Effect.die(defect)
        : Effect.zipRight(
          Effect.logWarning(`A request failed on storage: ${problem.message}`),
          Effect.fail(new StorageUnavailable({ message: problem.message }))
        )))

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

/**
 * Around the whole server: the body checks of requestBody.ts before any handler runs (so a bad
 * body loses nothing). Auth is not here: it is declared on the API's routes (Authorization.ts).
 * (Errors raised inside the API are answered by ApiErrorsLive: by the time a failure reaches
 * this middleware, the server has already responded.) It runs on every request: a GET with its
 * Host goes straight on, with the request as it came.
 */
export const serverMiddleware = (app: HttpApp.Default): HttpApp.Default =>
  Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) => {
    // HTTP/1.1 requires Host; Node's own answer would be an empty 400 (Server.ts turns it off).
    if (request.headers["host"] === undefined && NodeHttpServerRequest.toIncomingMessage(request).httpVersion === "1.1") {
      return Effect.succeed(HttpServerResponse.unsafeJson(
        errorBody("MissingHost", "HTTP/1.1 requests need a Host header; send one (e.g. 'Host: localhost')"),
        { status: 400 }
      ))
    }
    if (!needsBodyCheck(request)) return app
    return Effect.flatMap(checkBody(request), (checked) =>
      Either.isLeft(checked)
        ? Effect.succeed(checked.left)
        : Effect.provideService(app, HttpServerRequest.HttpServerRequest, checked.right))
  })
