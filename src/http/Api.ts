import { HttpApi, HttpApiSchema, OpenApi } from "@effect/platform"
import pkg from "../../package.json" with { type: "json" }
import { JobEvent } from "../domain/events.js"
import {
  InternalError,
  MalformedJson,
  NotFound,
  PayloadTooLarge,
  StorageUnavailable,
  Unauthorized,
  UnsupportedMediaType,
  ValidationError
} from "../domain/errors.js"
import { finishOpenApiDocument } from "./openApiDocument.js"
import { JobsGroup } from "./api/jobs.js"
import { IntegrationsGroup } from "./api/integrations.js"
import { IntegrationInputSchema, IntegrationSettingsGroup } from "./api/integrationSettings.js"
import { StreamsGroup } from "./api/streams.js"
import { MetricsGroup, SystemGroup } from "./api/system.js"
import { NotificationsGroup } from "./api/notifications.js"

/**
 * The HTTP contract of `../shared/spec/sync-api.txt` plus CONTRACT.md's extras, shared by the
 * server and the typed client (`HttpApiClient.make(SyncApi)`). No implementation here.
 */

export * from "./api/jobs.js"
export * from "./api/integrations.js"
export * from "./api/integrationSettings.js"
export * from "./api/streams.js"
export * from "./api/system.js"
export * from "./api/notifications.js"

export class SyncApi extends HttpApi.make("synclog")
  .add(JobsGroup)
  .add(IntegrationsGroup)
  .add(IntegrationSettingsGroup)
  .add(StreamsGroup)
  .add(MetricsGroup)
  .add(SystemGroup)
  .add(NotificationsGroup)
  .addError(ValidationError)
  .addError(Unauthorized)
  .addError(NotFound)
  // Sent by the edge before any handler runs; the document lists them only on methods with a body.
  .addError(MalformedJson)
  .addError(PayloadTooLarge)
  .addError(UnsupportedMediaType)
  .addError(InternalError)
  .addError(StorageUnavailable)
  .annotate(OpenApi.Title, "synclog")
  .annotate(HttpApi.AdditionalSchemas, [...JobEvent.members, IntegrationInputSchema])
  .annotate(OpenApi.Version, pkg.version)
  .annotate(OpenApi.License, { name: pkg.license, url: `https://spdx.org/licenses/${pkg.license}.html` })
  .annotate(OpenApi.Servers, [{ url: "/", description: "the server that serves this document" }])
  .annotate(OpenApi.Description, "Sync jobs that mirror a Plane workspace into a local store, with an event log for audit.")
  .annotate(OpenApi.Transform, finishOpenApiDocument)
{}

export { HttpApiSchema }
