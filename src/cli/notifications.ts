import { Command, Options } from "@effect/cli"
import { Console, Effect, Option } from "effect"
import { apiClient, call, CliExit, type Connection, connectionOptions } from "./connection.js"
import { dateTime, json, table } from "./format.js"

/** `synclog notifications [list]|test`: the webhook endpoints of the config file and their delivery state. */

const listEndpoints = (o: Connection) =>
  Effect.gen(function*() {
    const api = yield* apiClient(o)
    const result = yield* call(o, api.notifications.list())
    if (o.json) return yield* Console.log(json(result))
    if (result.endpoints.length === 0) {
      return yield* Console.log("No webhook endpoints; add a `notifications` list to the config file (README: Webhooks and alerts).")
    }
    yield* Console.log(table(
      ["ENDPOINT", "URL", "FORMAT", "EVENTS", "PENDING", "LAST SUCCESS", "LAST ERROR", "GIVEN UP"],
      result.endpoints.map((e) => [
        e.id,
        e.url,
        e.format + (e.signed ? ", signed" : ""),
        e.events.join(","),
        String(e.state.pending),
        dateTime(e.state.lastSuccessAt),
        e.state.lastErrorAt === null ? "-" : `${dateTime(e.state.lastErrorAt)} ${e.state.lastError ?? ""}`.trimEnd(),
        String(e.state.givenUp)
      ])
    ))
  })

const list = Command.make("list", connectionOptions, listEndpoints).pipe(
  Command.withDescription("Webhook endpoints with their delivery state (pending, last success, last error)")
)

const test = Command.make("test", {
  ...connectionOptions,
  endpoint: Options.text("endpoint").pipe(Options.withDescription("only this endpoint's id (default: every endpoint)"), Options.optional)
}, (o) =>
  Effect.gen(function*() {
    const api = yield* apiClient(o)
    const result = yield* call(o, api.notifications.test({
      payload: Option.match(o.endpoint, { onNone: () => ({}), onSome: (endpointId) => ({ endpointId }) })
    }))
    if (o.json) yield* Console.log(json(result))
    else {
      for (const r of result.results) {
        yield* Console.log(
          r.delivered
            ? `${r.endpointId}: delivered (${r.status})`
            : `${r.endpointId}: not delivered: ${r.error ?? `answered ${r.status}`}`
        )
      }
    }
    // A script checking its receivers learns from the exit code that one did not take it.
    const failed = result.results.filter((r) => !r.delivered).length
    if (failed > 0) return yield* new CliExit({ code: 1, message: `error: ${failed} of ${result.results.length} endpoint(s) did not take the test notification (NotDelivered)` })
  })).pipe(Command.withDescription("Send a test notification now to every endpoint (or --endpoint), without retries; exit 1 if one is not delivered"))

const notifications = Command.make("notifications", connectionOptions, listEndpoints).pipe(
  Command.withDescription("Webhook endpoints: list (the default) or send a test"),
  Command.withSubcommands([list, test])
)

export const notificationCommands = [notifications] as const
