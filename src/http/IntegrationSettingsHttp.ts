import { HttpApiBuilder } from "@effect/platform"
import { Effect, Redacted } from "effect"
import { IntegrationCommands } from "../engine/IntegrationCommands.js"
import { Queries } from "../engine/Queries.js"
import { SyncApi } from "./Api.js"

export const IntegrationSettingsHttpLive = HttpApiBuilder.group(SyncApi, "integrationSettings", (handlers) =>
  Effect.gen(function*() {
    const queries = yield* Queries
    const commands = yield* IntegrationCommands

    return handlers
      .handle("list", () => Effect.map(queries.integrationSettings, (integrations) => ({ integrations })))
      .handle("get", ({ path }) => queries.integrationSettingsOf(path.integrationId))
      .handle("create", ({ payload }) =>
        Effect.map(commands.create(payload), (integration) => ({ success: true as const, integration })))
      .handle("update", ({ path, payload }) =>
        Effect.map(commands.update(path.integrationId, payload), (r) => ({ success: true as const, ...r })))
      .handle("remove", ({ path, urlParams }) =>
        Effect.map(commands.remove(path.integrationId, urlParams.purgeMirror ?? false), (r) => ({ success: true as const, ...r })))
      .handle("putCredentials", ({ path, payload }) =>
        Effect.map(commands.putCredential(path.integrationId, Redacted.make(payload.apiKey)), (r) => ({ success: true as const, ...r })))
      .handle("deleteCredentials", ({ path }) =>
        Effect.map(commands.removeCredential(path.integrationId), (r) => ({ success: true as const, ...r })))
  }))
