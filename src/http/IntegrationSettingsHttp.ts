import { HttpApiBuilder } from "@effect/platform"
import { Effect, Redacted } from "effect"
import { IntegrationAdmin } from "../engine/IntegrationAdmin.js"
import type { IntegrationDoc } from "../eventlog/integrationProjection.js"
import { Views } from "../eventlog/Views.js"
import { IntegrationNotFound } from "../domain/errors.js"
import { type IntegrationSettingsView, SyncApi } from "./Api.js"
import { orDieInfra } from "./infra.js"

/** An integration's settings as the API shows them: names of variables, never a key. */
const presentSettings = (doc: IntegrationDoc): IntegrationSettingsView => {
  const { connector, ...settings } = doc.settings
  return {
    id: doc.id,
    source: doc.source ?? "config",
    type: connector,
    ...settings,
    credential: doc.credential ?? null,
    registeredAt: doc.registeredAt
  }
}

export const IntegrationSettingsHttpLive = HttpApiBuilder.group(SyncApi, "integrationSettings", (handlers) =>
  Effect.gen(function*() {
    const views = yield* Views
    const admin = yield* IntegrationAdmin

    return handlers
      .handle("list", () =>
        Effect.map(views.integrations, (docs) => ({ integrations: docs.map(presentSettings) })).pipe(orDieInfra))
      .handle("get", ({ path }) =>
        Effect.flatMap(views.integration(path.integrationId), (doc) =>
          doc ? Effect.succeed(presentSettings(doc)) : Effect.fail(IntegrationNotFound.of(path.integrationId))).pipe(orDieInfra))
      .handle("create", ({ payload }) =>
        admin.create(payload).pipe(
          Effect.map((doc) => ({ success: true as const, integration: presentSettings(doc) })),
          orDieInfra
        ))
      .handle("update", ({ path, payload }) =>
        admin.update(path.integrationId, payload).pipe(
          Effect.map(({ changed, doc }) => ({ success: true as const, changed, integration: presentSettings(doc) })),
          orDieInfra
        ))
      .handle("remove", ({ path, urlParams }) =>
        admin.remove(path.integrationId, urlParams.purgeMirror ?? false).pipe(
          Effect.map((r) => ({ success: true as const, ...r })),
          orDieInfra
        ))
      .handle("putCredentials", ({ path, payload }) =>
        admin.putCredential(path.integrationId, Redacted.make(payload.apiKey)).pipe(
          Effect.map((doc) => ({
            success: true as const,
            integrationId: doc.id,
            credential: doc.credential!,
            message: doc.settings.apiKeyEnv === null
              ? "API key stored; used from the next request, by running jobs too."
              : `API key stored; used from the next request, by running jobs too, unless the environment variable ${doc.settings.apiKeyEnv} is set, which wins.`
          })),
          orDieInfra
        ))
      .handle("deleteCredentials", ({ path }) =>
        admin.removeCredential(path.integrationId).pipe(
          Effect.map(({ doc, removed }) => ({ success: true as const, integrationId: doc.id, removed })),
          orDieInfra
        ))
  }))
