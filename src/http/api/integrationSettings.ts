/** The integration administration group: create, read, change and delete integrations. */
import { HttpApiEndpoint, HttpApiGroup, OpenApi } from "@effect/platform"
import { Schema } from "effect"
import { ApiIntegrationConfig } from "../../config/apiIntegration.js"
import { IntegrationOrigin, IntegrationSettings } from "../../domain/events.js"
import { IntegrationConflict, IntegrationNotFound } from "../../domain/errors.js"
import { Authorization } from "../Authorization.js"
import { BooleanFromString, Timestamp, opt } from "./common.js"
import { integrationPath } from "./integrations.js"

const { connector: _connector, ...settingsFields } = IntegrationSettings.fields

export const IntegrationSettingsView = Schema.Struct({
  id: Schema.String,
  source: IntegrationOrigin.annotations({ description: "config: from the config file (edit the file to change it); api: created over the API" }),
  type: Schema.Literal("plane"),
  ...settingsFields,
  credential: Schema.NullOr(Schema.Struct({
    fingerprint: Schema.String.annotations({ description: "4 hex characters of the stored key's SHA-256 (never the key)" }),
    updatedAt: Timestamp
  })),
  registeredAt: Timestamp
}).annotations({ identifier: "IntegrationSettings" })
export type IntegrationSettingsView = typeof IntegrationSettingsView.Type

/**
 * Checked by IntegrationAdmin (every bad key named, unknown keys refused, as in the config
 * file); documented here with the config file's schema.
 */
const IntegrationInputBody = Schema.Record({ key: Schema.String, value: Schema.Unknown }).annotations({
  jsonSchema: { $ref: "#/components/schemas/IntegrationInput" },
  description: "an integration with the config file's keys"
})
const IntegrationPatchBody = Schema.Record({ key: Schema.String, value: Schema.Unknown }).annotations({
  jsonSchema: { type: "object", description: "any keys of IntegrationInput but id; null unsets an optional key" }
})
export const IntegrationInputSchema = ApiIntegrationConfig.annotations({ identifier: "IntegrationInput" })

export class IntegrationSettingsGroup extends HttpApiGroup.make("integrationSettings")
  .annotate(OpenApi.Description, "Integrations created, changed and removed at run time, and their stored API keys")
  .add(
    HttpApiEndpoint.get("list", "/api/sync/integrations")
      .addSuccess(Schema.Struct({ integrations: Schema.Array(IntegrationSettingsView) }))
      .annotate(OpenApi.Summary, "Every integration's settings (never a key), from the config file and the API")
  )
  .add(
    HttpApiEndpoint.post("create", "/api/sync/integrations")
      .setPayload(IntegrationInputBody)
      .addSuccess(Schema.Struct({ success: Schema.Literal(true), integration: IntegrationSettingsView }), { status: 201 })
      .addError(IntegrationConflict)
      .annotate(OpenApi.Summary, "Create an integration (the config file's keys; apiKeyEnv optional)")
  )
  .add(
    HttpApiEndpoint.get("get", "/api/sync/integrations/:integrationId")
      .setPath(integrationPath)
      .addSuccess(IntegrationSettingsView)
      .addError(IntegrationNotFound)
      .annotate(OpenApi.Summary, "One integration's settings (never a key)")
  )
  .add(
    HttpApiEndpoint.patch("update", "/api/sync/integrations/:integrationId")
      .setPath(integrationPath)
      .setPayload(IntegrationPatchBody)
      .addSuccess(Schema.Struct({
        success: Schema.Literal(true),
        changed: Schema.Array(Schema.String),
        integration: IntegrationSettingsView
      }))
      .addError(IntegrationNotFound)
      .addError(IntegrationConflict)
      .annotate(OpenApi.Summary, "Change an API integration's settings; a running job keeps its settings, the next job uses the new ones")
  )
  .add(
    HttpApiEndpoint.del("remove", "/api/sync/integrations/:integrationId")
      .setPath(integrationPath)
      .setUrlParams(Schema.Struct({ purgeMirror: opt(BooleanFromString) }))
      .addSuccess(Schema.Struct({ success: Schema.Literal(true), deleted: Schema.String, purgedRecords: Schema.Int }))
      .addError(IntegrationNotFound)
      .addError(IntegrationConflict)
      .annotate(OpenApi.Summary, "Remove an API integration (409 while it has a queued or running job); its events stay")
  )
  .add(
    HttpApiEndpoint.put("putCredentials", "/api/sync/integrations/:integrationId/credentials")
      .setPath(integrationPath)
      .setPayload(Schema.Struct({
        apiKey: Schema.String.pipe(
          Schema.minLength(1, { message: () => "expected the API key (not empty)" }),
          Schema.maxLength(4096, { message: () => "expected at most 4096 characters" })
        )
      }))
      .addSuccess(Schema.Struct({
        success: Schema.Literal(true),
        integrationId: Schema.String,
        credential: Schema.Struct({ fingerprint: Schema.String, updatedAt: Timestamp }),
        message: Schema.String
      }))
      .addError(IntegrationNotFound)
      .addError(IntegrationConflict)
      .annotate(OpenApi.Summary, "Store (or rotate) the integration's API key, encrypted at rest; needs SYNC_MASTER_KEY")
      .annotate(
        OpenApi.Description,
        "The key is used from the next request on, by jobs already running too; a variable named by apiKeyEnv wins when it is set."
      )
  )
  .add(
    HttpApiEndpoint.del("deleteCredentials", "/api/sync/integrations/:integrationId/credentials")
      .setPath(integrationPath)
      .addSuccess(Schema.Struct({ success: Schema.Literal(true), integrationId: Schema.String, removed: Schema.Boolean }))
      .addError(IntegrationNotFound)
      .annotate(OpenApi.Summary, "Delete the integration's stored API key")
      .annotate(OpenApi.Description, "A running job that uses it fails at its next request, saying how to store a key; resume it after storing one.")
  )
  .middleware(Authorization)
  .annotate(OpenApi.Title, "Integration settings")
{}

// ---- live streams ------------------------------------------------------------------------------------
/** A Server-Sent Events body: `id:` the event's log position, `event:` its type, `data:` JSON. */
