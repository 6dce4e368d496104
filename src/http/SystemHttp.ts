import { HttpApiBuilder } from "@effect/platform"
import { Effect } from "effect"
import { IntegrationCommands } from "../engine/IntegrationCommands.js"
import { Queries } from "../engine/Queries.js"
import { SyncApi } from "./Api.js"

export const SystemHttpLive = HttpApiBuilder.group(SyncApi, "system", (handlers) =>
  Effect.gen(function*() {
    const queries = yield* Queries
    const commands = yield* IntegrationCommands

    return handlers
      .handle("initialize", () =>
        Effect.map(commands.initialize, (r) => ({ success: true as const, message: "Sync system initialized", ...r })))
      .handle("ready", () => queries.readiness)
      .handle("health", () => queries.health)
  }))
