import { HttpApiBuilder, HttpServerResponse } from "@effect/platform"
import { Effect, Metric } from "effect"
import { MetricGauges } from "../engine/MetricGauges.js"
import { makePrometheusRenderer } from "../metrics/prometheus.js"
import { SyncApi } from "./Api.js"

/** `GET /metrics`: the gauges brought up to date, then every synclog metric as Prometheus text. */
export const MetricsHttpLive = HttpApiBuilder.group(SyncApi, "metrics", (handlers) =>
  Effect.gen(function*() {
    const gauges = yield* MetricGauges
    const render = makePrometheusRenderer()
    return handlers.handle("scrape", () =>
      Effect.gen(function*() {
        const perIntegration = yield* gauges.refresh
        return HttpServerResponse.uint8Array(render(yield* Metric.snapshot, perIntegration), { contentType: "text/plain; version=0.0.4; charset=utf-8" })
      }))
  }))
