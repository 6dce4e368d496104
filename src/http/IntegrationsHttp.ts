import { HttpApiBuilder } from "@effect/platform"
import { Effect } from "effect"
import { IntegrationCommands } from "../engine/IntegrationCommands.js"
import { Queries } from "../engine/Queries.js"
import { type IntegrationStatusView, SyncApi } from "./Api.js"
import { jsonText } from "./jsonText.js"

export const IntegrationsHttpLive = HttpApiBuilder.group(SyncApi, "integrations", (handlers) =>
  Effect.gen(function*() {
    const queries = yield* Queries
    const commands = yield* IntegrationCommands

    return handlers
      .handle("status", () =>
        Effect.map(queries.integrationStatuses, (statuses) => {
          // Sent as it is (no re-encoding): typed as the contract's status, checked here.
          const integrations: ReadonlyArray<IntegrationStatusView> = statuses
          return jsonText(JSON.stringify({ integrations }))
        }))
      .handle("start", ({ path, payload }) =>
        commands.start(
          path.integrationId,
          (payload.syncType?.replace("_sync", "") ?? "incremental") as "full" | "incremental" | "selective",
          payload.scheduleImmediate ?? true
        ).pipe(Effect.map((r) => ({ success: true as const, ...r }))))
      .handle("stop", ({ path }) =>
        Effect.map(commands.stop(path.integrationId), (r) => ({ success: true as const, ...r, message: "Integration sync stopped" })))
      .handle("records", ({ path, urlParams }) =>
        queries.records({
          integrationId: path.integrationId,
          entity: urlParams.entity,
          updatedSince: urlParams.updatedSince,
          includeDeleted: urlParams.includeDeleted ?? false,
          limit: urlParams.limit ?? 100,
          cursor: urlParams.cursor
        }))
      .handle("record", ({ path }) => queries.record(path.integrationId, path.entity, path.id))
  }))
