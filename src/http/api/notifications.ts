/** The webhook notifications group. */
import { HttpApiEndpoint, HttpApiGroup, OpenApi } from "@effect/platform"
import { Schema } from "effect"
import { Authorization } from "../Authorization.js"
import { Timestamp, opt, optionalBody } from "./common.js"

const NotificationEndpointView = Schema.Struct({
  id: Schema.String,
  url: Schema.String.annotations({ description: "User info, query values and long path segments masked as ***" }),
  events: Schema.Array(Schema.String),
  integrationIds: Schema.NullOr(Schema.Array(Schema.String)),
  format: Schema.Literal("json", "slack"),
  signed: Schema.Boolean,
  state: Schema.Struct({
    position: Schema.Int,
    pending: Schema.Int,
    lastSuccessAt: Schema.NullOr(Timestamp),
    lastErrorAt: Schema.NullOr(Timestamp),
    lastError: Schema.NullOr(Schema.String),
    givenUp: Schema.Int
  })
}).annotations({ identifier: "NotificationEndpoint" })

export class NotificationsGroup extends HttpApiGroup.make("notifications")
  .add(
    HttpApiEndpoint.get("list", "/api/sync/notifications")
      .addSuccess(Schema.Struct({ endpoints: Schema.Array(NotificationEndpointView) }))
      .annotate(OpenApi.Summary, "Webhook endpoints with their delivery state")
  )
  .add(
    HttpApiEndpoint.post("test", "/api/sync/notifications/test")
      .setPayload(optionalBody({ endpointId: opt(Schema.String) }))
      .addSuccess(
        Schema.Struct({
          success: Schema.Literal(true),
          results: Schema.Array(Schema.Struct({
            endpointId: Schema.String,
            delivered: Schema.Boolean,
            status: Schema.NullOr(Schema.Int),
            error: Schema.NullOr(Schema.String)
          }))
        })
      )
      .annotate(OpenApi.Summary, "Send a test notification now to every endpoint (or one), and report each outcome")
  )
  .middleware(Authorization)
  .annotate(OpenApi.Title, "Notifications")
{}
