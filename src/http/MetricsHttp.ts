import { HttpApiBuilder, HttpServerResponse } from "@effect/platform"
import { SqlClient } from "@effect/sql"
import { Effect, Metric } from "effect"
import { RateLimiter } from "../connectors/RateLimiter.js"
import { JobSupervisor } from "../engine/JobSupervisor.js"
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
    const supervisor = yield* JobSupervisor
    const limiter = yield* RateLimiter

    /** Each integration's labelled gauges, built once. */
    const byIntegration = new Map<string, { readonly circuit: Metric.Metric.Gauge<number>; readonly remaining: Metric.Metric.Gauge<number> }>()
    const gaugesOf = (integration: string) => {
      let found = byIntegration.get(integration)
      if (found === undefined) {
        found = {
          circuit: M.labelled(M.circuitState, { integration }),
          remaining: M.labelled(M.rateLimitRemaining, { integration })
        }
        byIntegration.set(integration, found)
      }
      return found
    }

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
      // Only the circuit's state of each integration: no whole documents parsed per scrape.
      const circuits = yield* sql<{ id: string; state: keyof typeof CIRCUIT_VALUE }>`
        SELECT id, json_extract(doc, '$.circuit.state') AS state FROM integrations
        WHERE json_extract(doc, '$.removed') IS NOT 1`
      for (const { id, state } of circuits) {
        const gauges = gaugesOf(id)
        yield* Metric.set(gauges.circuit, CIRCUIT_VALUE[state] ?? 0)
        const budget = yield* limiter.budget(id)
        if (budget !== null) yield* Metric.set(gauges.remaining, budget.remaining)
      }
    })

    return handlers.handle("scrape", () =>
      Effect.gen(function*() {
        yield* gauges
        const text = renderPrometheus(yield* Metric.snapshot)
        return HttpServerResponse.text(text, { contentType: "text/plain; version=0.0.4; charset=utf-8" })
      }).pipe(Effect.orDie))
  }))
