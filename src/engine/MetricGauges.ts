import { SqlClient } from "@effect/sql"
import { Effect, Metric } from "effect"
import { RateLimiter } from "../connectors/RateLimiter.js"
import * as M from "../metrics/metrics.js"
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

    /** The circuit states last read, and the stamp of the integrations table they were read at. */
    let circuitsStamp: string | null = null
    const lastCircuit = new Map<string, number>()
    const lastRemaining = new Map<string, number>()
    /** Sets a gauge only when its value moved (a set is an effect; a thousand unchanged ones add up). */
    const setIfChanged = (last: Map<string, number>, id: string, gauge: Metric.Metric.Gauge<number>, value: number) =>
      last.get(id) === value ? Effect.void : (last.set(id, value), Metric.set(gauge, value))

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
        const circuits = yield* sql<{ id: string; state: keyof typeof CIRCUIT_VALUE }>`
          SELECT id, ${circuitState} AS state FROM integrations WHERE ${notRemoved}`
        for (const { id, state } of circuits) {
          yield* setIfChanged(lastCircuit, id, gaugesOf(id).circuit, CIRCUIT_VALUE[state] ?? 0)
        }
        circuitsStamp = row.stamp
      }
      for (const [id, budget] of yield* limiter.budgets) {
        yield* setIfChanged(lastRemaining, id, gaugesOf(id).remaining, budget.remaining)
      }
    })


    return { refresh: Effect.orDie(refresh) } as const
  })
}) {}
