import { HttpApiBuilder } from "@effect/platform"
import { Effect } from "effect"
import { NotFound } from "../domain/errors.js"
import { Notifier } from "../notifications/Notifier.js"
import { SyncApi } from "./Api.js"

export const NotificationsHttpLive = HttpApiBuilder.group(SyncApi, "notifications", (handlers) =>
  Effect.gen(function*() {
    const notifier = yield* Notifier

    return handlers
      .handle("list", () => Effect.map(notifier.list, (endpoints) => ({ endpoints })))
      .handle("test", ({ payload }) =>
        Effect.gen(function*() {
          if (notifier.ids.length === 0) {
            return yield* Effect.fail(
              new NotFound({
                message: "No webhook endpoints are configured. Add a `notifications` list to the config file and restart."
              })
            )
          }
          if (payload.endpointId !== undefined && !notifier.ids.includes(payload.endpointId)) {
            return yield* Effect.fail(
              new NotFound({
                message: `No webhook endpoint '${payload.endpointId}'. Configured: ${notifier.ids.join(", ")} ` +
                  "(GET /api/sync/notifications lists them)."
              })
            )
          }
          return { success: true as const, results: yield* notifier.sendTest(payload.endpointId) }
        }))
  }))
