/** The metrics and system groups: /metrics, health, readiness, initialize, docs. */
import { HttpApiEndpoint, HttpApiGroup, HttpApiSchema, OpenApi } from "@effect/platform"
import { Schema } from "effect"
import { NotReady, ReadinessReason, Unhealthy } from "../../domain/errors.js"
import { Authorization } from "../Authorization.js"

export class MetricsGroup extends HttpApiGroup.make("metrics")
  .add(
    HttpApiEndpoint.get("scrape", "/metrics")
      .addSuccess(HttpApiSchema.Text({ contentType: "text/plain; version=0.0.4" }).annotations({
        description: "Prometheus text exposition format; every name starts with synclog_"
      }))
      .annotate(OpenApi.Summary, "Prometheus metrics (jobs, records, source requests, budgets, circuits, HTTP, webhooks)")
  )
  // Scrapers send the token like any client (Prometheus: `authorization: {credentials: ...}`);
  // the read-only token is enough.
  .middleware(Authorization)
  .annotate(OpenApi.Title, "Metrics")
{}

// ---- system ----------------------------------------------------------------------------------------
export class SystemGroup extends HttpApiGroup.make("system")
  .annotate(OpenApi.Description, "Configuration reload and health")
  .add(
    HttpApiEndpoint.post("initialize", "/api/sync/initialize")
      .addSuccess(
        Schema.Struct({
          success: Schema.Literal(true),
          message: Schema.String,
          schedulerStatus: Schema.Literal("running", "stopped"),
          integrationsFound: Schema.Int,
          registered: Schema.Array(Schema.String),
          updated: Schema.Array(Schema.String)
        })
      )
      .annotate(OpenApi.Summary, "(Re)read the config file, register integrations, (re)start the scheduler")
  )
  // Endpoints above need the token; /healthz below is public (liveness probes carry no token).
  .middlewareEndpoints(Authorization)
  .add(
    HttpApiEndpoint.get("health", "/healthz")
      .addSuccess(
        Schema.Struct({
          status: Schema.Literal("ok"),
          database: Schema.Literal("ok"),
          scheduler: Schema.Literal("running", "stopped"),
          runningJobs: Schema.Int,
          mode: Schema.Literal("file", "demo")
        })
      )
      .addError(Unhealthy)
      .annotate(OpenApi.Summary, "Liveness and readiness")
  )
  .add(
    HttpApiEndpoint.get("ready", "/readyz")
      .addSuccess(
        Schema.Struct({
          status: Schema.Literal("ok", "degraded"),
          reasons: Schema.Array(ReadinessReason),
          /** Only on a runner of a cluster (SYNC_RUNNER_ADDRESS): its address and the shards it holds. */
          runner: Schema.optional(Schema.Struct({ address: Schema.String, shards: Schema.Number }))
        })
      )
      .addError(NotReady)
      .annotate(
        OpenApi.Summary,
        "Readiness: 503 when the database cannot be written, the scheduler is not running or recovery has not finished; " +
          "200 `degraded` with one reason per integration in trouble (circuit open, failed jobs, missing API key)"
      )
  )
  .annotate(OpenApi.Title, "System")
{}

// ---- notifications (webhooks) ---------------------------------------------------------------------
