import { HttpApiBuilder, HttpServerResponse } from "@effect/platform"
import { Effect } from "effect"
import { RateLimiter } from "../connectors/RateLimiter.js"
import { IntegrationNotFound, RecordNotFound } from "../domain/errors.js"
import { IntegrationControl } from "../engine/IntegrationControl.js"
import { Views } from "../eventlog/Views.js"
import { MirrorReader } from "../mirror/MirrorReader.js"
import { SyncApi } from "./Api.js"
import { orDieInfra } from "./infra.js"
import { presentIntegration } from "./presenters.js"

export const IntegrationsHttpLive = HttpApiBuilder.group(SyncApi, "integrations", (handlers) =>
  Effect.gen(function*() {
    const views = yield* Views
    const control = yield* IntegrationControl
    const limiter = yield* RateLimiter
    const reader = yield* MirrorReader

    const known = (integrationId: string) =>
      Effect.flatMap(views.integration(integrationId), (doc) =>
        doc ? Effect.succeed(doc) : Effect.fail(IntegrationNotFound.of(integrationId)))

    return handlers
      .handle("status", () =>
        Effect.gen(function*() {
          const docs = yield* views.integrations
          const current = yield* views.currentJobs
          const integrations = yield* Effect.forEach(docs, (doc) =>
            Effect.map(limiter.budget(doc.id), (budget) => presentIntegration(doc, current.get(doc.id), budget)))
          return HttpServerResponse.unsafeJson({ integrations })
        }).pipe(orDieInfra))
      .handle("start", ({ path, payload }) =>
        control.start(
          path.integrationId,
          (payload.syncType?.replace("_sync", "") ?? "incremental") as "full" | "incremental" | "selective",
          payload.scheduleImmediate ?? true
        ).pipe(
          Effect.map((r) => ({ success: true as const, ...r })),
          Effect.catchTag("ValidationError", (e) => Effect.die(e)),
          orDieInfra
        ))
      .handle("stop", ({ path }) =>
        control.stop(path.integrationId).pipe(
          Effect.map((r) => ({ success: true as const, ...r, message: "Integration sync stopped" })),
          orDieInfra
        ))
      .handle("records", ({ path, urlParams }) =>
        Effect.gen(function*() {
          yield* known(path.integrationId)
          return yield* reader.list({
            integrationId: path.integrationId,
            entity: urlParams.entity,
            updatedSince: urlParams.updatedSince,
            includeDeleted: urlParams.includeDeleted ?? false,
            limit: urlParams.limit ?? 100,
            cursor: urlParams.cursor
          })
        }).pipe(orDieInfra))
      .handle("record", ({ path }) =>
        Effect.gen(function*() {
          yield* known(path.integrationId)
          const record = yield* reader.get(path.integrationId, path.entity, path.id)
          if (record === undefined) {
            return yield* Effect.fail(
              new RecordNotFound({
                entity: path.entity,
                id: path.id,
                message: `The mirror of ${path.integrationId} has no ${path.entity} record '${path.id}'`
              })
            )
          }
          return record
        }).pipe(orDieInfra))
  }))
