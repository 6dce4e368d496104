import { HttpApiBuilder, HttpServerResponse } from "@effect/platform"
import { SqlClient } from "@effect/sql"
import { Effect, Metric } from "effect"
import { RateLimiter } from "../connectors/RateLimiter.js"
import { JobSupervisor } from "../engine/JobSupervisor.js"
import { Views } from "../eventlog/Views.js"
import * as M from "../metrics/metrics.js"
import { renderPrometheus } from "../metrics/prometheus.js"
import { SyncApi } from "./Api.js"

const CIRCUIT_VALUE = { closed: 0, half_open: 1, open: 2 } as const

/**
 * `GET /metrics`: counters and histograms are kept where things happen; gauges that describe
 * the present (queue, circuits, budgets, the log, the file) are read at scrape time.
 */
export const MetricsHttpLive = HttpApiBuilder.group(SyncApi, "metrics", (handlers) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const views = yield* Views
    const supervisor = yield* JobSupervisor
    const limiter = yield* RateLimiter

    const gauges = Effect.gen(function*() {
      const [row] = yield* sql<{ position: number | null; pages: number; pageSize: number; queued: number }>`
        SELECT (SELECT MAX(position) FROM events) AS position,
               (SELECT page_count - freelist_count FROM pragma_page_count(), pragma_freelist_count()) AS pages,
               (SELECT page_size FROM pragma_page_size()) AS pageSize,
               (SELECT COALESCE(SUM(n), 0) FROM job_counts WHERE status = 'queued') AS queued`
      yield* Metric.set(M.eventLogPosition, row?.position ?? 0)
      yield* Metric.set(M.databaseSize, (row?.pages ?? 0) * (row?.pageSize ?? 0))
      yield* Metric.set(M.jobsQueued, row?.queued ?? 0)
      yield* Metric.set(M.jobsRunning, yield* supervisor.running)
      for (const doc of yield* views.integrations) {
        const labels = { integration: doc.id }
        yield* Metric.set(M.labelled(M.circuitState, labels), CIRCUIT_VALUE[doc.circuit.state])
        const budget = yield* limiter.budget(doc.id)
        if (budget !== null) yield* Metric.set(M.labelled(M.rateLimitRemaining, labels), budget.remaining)
      }
    })

    return handlers.handle("scrape", () =>
      Effect.gen(function*() {
        yield* gauges
        const text = renderPrometheus(yield* Metric.snapshot)
        return HttpServerResponse.text(text, { contentType: "text/plain; version=0.0.4; charset=utf-8" })
      }).pipe(Effect.orDie))
  }))
