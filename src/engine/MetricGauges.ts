import { SqlClient } from "@effect/sql"
import { Effect, Metric } from "effect"
import { RateLimiter } from "../connectors/RateLimiter.js"
import * as M from "../metrics/metrics.js"
import type { LabelledGauges } from "../metrics/prometheus.js"
import { JobSupervisor } from "./JobSupervisor.js"

const CIRCUIT_VALUE = { closed: 0, half_open: 1, open: 2 } as const

/**
 * The gauges that describe the present (the log's position, the database's size, the queue,
 * running jobs, each integration's circuit and request budget), brought up to date by
 * `refresh` at scrape time; counters and histograms are kept where things happen.
 */
export class MetricGauges extends Effect.Service<MetricGauges>()("synclog/MetricGauges", {
  effect: Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const supervisor = yield* JobSupervisor
    const limiter = yield* RateLimiter

    /**
     * Each integration's circuit state and request budget: kept here and rendered from these
     * maps (see metrics.ts, `circuitState`); a version says when a map last changed.
     */
    type Kept = { -readonly [K in keyof LabelledGauges]: LabelledGauges[K] } & { readonly values: Map<string, number> }
    const kept = (gauge: { readonly name: string; readonly help: string }): Kept =>
      ({ ...gauge, label: "integration", values: new Map(), version: 0 })
    const circuits = kept(M.circuitState)
    const budgets = kept(M.rateLimitRemaining)
    const setValue = (gauge: Kept, id: string, value: number) => {
      if (gauge.values.get(id) === value) return
      gauge.values.set(id, value)
      gauge.version++
    }

    /** The circuit states last read, and the stamp of the integrations table they were read at. */
    let circuitsStamp: string | null = null

    // The database's size and the integration docs' fields, in each backend's words.
    const pg = sql.onDialectOrElse({ pg: () => true, orElse: () => false })
    const databaseSize = sql.unsafe(
      pg
        ? `pg_database_size(current_database()) AS pages, 1 AS "pageSize"`
        : `(SELECT page_count - freelist_count FROM pragma_page_count(), pragma_freelist_count()) AS pages,
               (SELECT page_size FROM pragma_page_size()) AS pageSize`
    )
    const circuitState = sql.unsafe(pg ? `doc::jsonb #>> '{circuit,state}'` : `json_extract(doc, '$.circuit.state')`)
    const notRemoved = sql.unsafe(
      pg ? `(doc::jsonb -> 'removed') IS DISTINCT FROM 'true'::jsonb` : `json_extract(doc, '$.removed') IS NOT 1`
    )

    const refresh = Effect.gen(function*() {
      const [row] = yield* sql<{ position: number | null; pages: number; pageSize: number; queued: number; stamp: string }>`
        SELECT (SELECT MAX(position) FROM events) AS position, ${databaseSize},
               (SELECT COALESCE(SUM(n), 0) FROM job_counts WHERE status = 'queued') AS queued,
               (SELECT COUNT(*) || ':' || COALESCE(SUM(version), 0) FROM integrations) AS stamp`
      yield* Metric.set(M.eventLogPosition, row?.position ?? 0)
      yield* Metric.set(M.databaseSize, (row?.pages ?? 0) * (row?.pageSize ?? 0))
      yield* Metric.set(M.jobsQueued, row?.queued ?? 0)
      yield* Metric.set(M.jobsRunning, yield* supervisor.running)
      // Every integration event raises its row's version, so an unchanged stamp means unchanged
      // circuits: most scrapes read no integration document at all.
      if (row !== undefined && row.stamp !== circuitsStamp) {
        const rows = yield* sql<{ id: string; state: keyof typeof CIRCUIT_VALUE }>`
          SELECT id, ${circuitState} AS state FROM integrations WHERE ${notRemoved}`
        for (const { id, state } of rows) setValue(circuits, id, CIRCUIT_VALUE[state] ?? 0)
        circuitsStamp = row.stamp
      }
      for (const [id, budget] of yield* limiter.budgets) setValue(budgets, id, budget.remaining)
      const perIntegration: ReadonlyArray<LabelledGauges> = [circuits, budgets]
      return perIntegration
    })

    /** Brings every gauge up to date; returns the per-integration ones for the scrape to render. */
    return { refresh: Effect.orDie(refresh) } as const
  })
}) {}
