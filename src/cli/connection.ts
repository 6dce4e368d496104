import { Options } from "@effect/cli"
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import { Config, Data, Effect, Option, Predicate, type Redacted } from "effect"
import { makeClient } from "../client.js"

/** How the CLI reaches a server: shared by every command that talks to the API. */
export interface Connection {
  readonly url: string
  readonly token: Option.Option<Redacted.Redacted<string>>
  readonly json: boolean
}

const DEFAULT_URL = "http://localhost:3001"

/** `--url`, `--token` and `--json`, declared on each command so they may go anywhere on the line. */
export const connectionOptions = {
  url: Options.text("url").pipe(
    Options.withDescription(`the synclog server (default: $SYNC_URL or ${DEFAULT_URL})`),
    Options.withFallbackConfig(Config.string("SYNC_URL")),
    Options.withDefault(DEFAULT_URL)
  ),
  token: Options.redacted("token").pipe(
    Options.withDescription("the server's SYNC_API_TOKEN or SYNC_READ_TOKEN (default: $SYNC_API_TOKEN)"),
    Options.withFallbackConfig(Config.redacted("SYNC_API_TOKEN")),
    Options.optional
  ),
  json: Options.boolean("json").pipe(Options.withDescription("print the API's JSON instead of a table"))
}

/**
 * Ends the command with this exit code: 1 API error, 3 a watched job failed, 4 it was stopped
 * (2, usage errors, is @effect/cli's). `message` goes to stderr as one line.
 */
export class CliExit extends Data.TaggedError("CliExit")<{ readonly code: number; readonly message?: string }> {}

const baseUrl = (connection: Connection) => connection.url.replace(/\/+$/, "")

/** The library's typed client of the API, with the token; fails with the API's error classes. */
export const apiClient = (connection: Connection) =>
  makeClient(baseUrl(connection), { token: Option.getOrUndefined(connection.token) })

export const urlOf = (connection: Connection, path: string) => baseUrl(connection) + path

/** The one line a failed call prints: the API's own message and tag, or what went wrong on the way. */
export const describeFailure = (connection: Connection, error: unknown): string => {
  if (Predicate.hasProperty(error, "message") && Predicate.hasProperty(error, "error")) {
    if (typeof error.message === "string" && typeof error.error === "string") return `${error.message} (${error.error})`
  }
  if (Predicate.isTagged(error, "RequestError")) {
    return `cannot reach synclog at ${baseUrl(connection)}: check --url or SYNC_URL, and that the server runs (Unreachable)`
  }
  if (Predicate.isTagged(error, "ResponseError") && Predicate.hasProperty(error, "response")) {
    const status = (error.response as { status: number }).status
    return `the server answered ${status} in a shape this client does not know; is ${baseUrl(connection)} a synclog server? (HttpError)`
  }
  if (Predicate.isTagged(error, "ParseError") && Predicate.hasProperty(error, "message")) {
    const detail = String(error.message).split("\n").map((l) => l.trim()).filter((l) => l !== "").join(" ")
    return `a request or answer did not match the API: ${detail} (ParseError)`
  }
  return `${Predicate.hasProperty(error, "message") ? String(error.message) : String(error)} (UnexpectedError)`
}

/** Runs an API call; any failure becomes exit code 1 with `error: <message> (<Tag>)`. */
export const call = <A, E, R>(connection: Connection, effect: Effect.Effect<A, E, R>) =>
  effect.pipe(
    Effect.mapError((error) => new CliExit({ code: 1, message: `error: ${describeFailure(connection, error)}` }))
  )

/** The HTTP client layer every API command runs with. */
export const HttpLive = FetchHttpClient.layer
