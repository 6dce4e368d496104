/** The live streams group (Server-Sent Events). */
import { HttpApiEndpoint, HttpApiGroup, HttpApiSchema, OpenApi } from "@effect/platform"
import { Schema } from "effect"
import { JobNotFound } from "../../domain/errors.js"
import { StreamAuthorization } from "../Authorization.js"
import { IntFromString, opt } from "./common.js"
import { jobIdPath } from "./jobs.js"

const EventStreamBody = HttpApiSchema.Text({ contentType: "text/event-stream" }).annotations({
  description: "Server-Sent Events. Each event: `id: <log position>`, `event: <type>`, `data: {position, streamId, " +
    "version, type, schemaVersion, recordedAt, data}`. `: heartbeat` comments every 15 s. A client that falls " +
    "too far behind gets `event: overflow` and is disconnected; reconnect with `Last-Event-ID`."
})

const streamResume = {
  after: opt(IntFromString("after", 0, Number.MAX_SAFE_INTEGER).annotations({
    description: "Start after this log position (the SSE id); `Last-Event-ID` wins when both are given"
  }))
}
const streamHeaders = Schema.Struct({ "last-event-id": opt(Schema.String) })

export class StreamsGroup extends HttpApiGroup.make("streams")
  .add(
    HttpApiEndpoint.get("events", "/api/sync/stream")
      .setUrlParams(Schema.Struct({
        ...streamResume,
        integrationId: opt(Schema.String),
        jobId: opt(Schema.String),
        types: opt(Schema.String.annotations({ description: "Comma list of event types, e.g. JobFailed,JobCompleted" }))
      }))
      .setHeaders(streamHeaders)
      .addSuccess(EventStreamBody)
      .annotate(OpenApi.Summary, "Live stream of every job and integration event (SSE), resumable by position")
  )
  .add(
    HttpApiEndpoint.get("job", "/api/sync/jobs/:jobId/stream")
      .setPath(jobIdPath)
      .setUrlParams(Schema.Struct(streamResume))
      .setHeaders(streamHeaders)
      .addSuccess(EventStreamBody)
      .addError(JobNotFound)
      .annotate(
        OpenApi.Summary,
        "Live stream of one job (SSE): its events and a `progress` message after each; ends after its terminal event"
      )
  )
  .middleware(StreamAuthorization)
  .annotate(OpenApi.Title, "Live streams")
{}

// ---- metrics -----------------------------------------------------------------------------------------
