import { Effect, Metric, MetricBoundaries, MetricLabel } from "effect"
import type { Counters } from "../domain/apiShapes.js"

/**
 * Every metric synclog exports at `GET /metrics`, built on Effect's `Metric` module. Names start
 * with `synclog_`; labels are bounded (integration ids, entity types, job types and statuses,
 * status classes, route templates): never a job id or a record id.
 */

const seconds = MetricBoundaries.fromIterable([0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30])
const jobSeconds = MetricBoundaries.fromIterable([1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600])

/** Every counter here only counts up (`incremental`: Effect ignores a negative update), as Prometheus counters must. */
const counter = (name: string, description: string) => Metric.counter(name, { description, incremental: true })

// ---- jobs ------------------------------------------------------------------------------------------
const jobsFinished = counter(
  "synclog_jobs_total",
  "Jobs that reached a final status, by integration, type and status (completed, failed, stopped)"
)
const jobDuration = Metric.histogram(
  "synclog_job_duration_seconds",
  jobSeconds,
  "Duration of jobs that completed, by type (startedAt to completedAt)"
)
export const jobsRunning = Metric.gauge("synclog_jobs_running", { description: "Jobs running now" })
export const jobsQueued = Metric.gauge("synclog_jobs_queued", { description: "Jobs waiting for a slot" })

// ---- records ---------------------------------------------------------------------------------------
const records = (change: string, description: string) => counter(`synclog_records_${change}_total`, description)
const recordsProcessed = records("processed", "Source records examined, by integration and entity")
const recordsCreated = records("created", "Records new to the mirror, by integration and entity")
const recordsUpdated = records("updated", "Records whose content or archived state changed, by integration and entity")
const recordsDeleted = records("deleted", "Records tombstoned in the mirror, by integration and entity")
const recordsErrors = records("errors", "Records skipped as invalid, by integration and entity")

// ---- the source ------------------------------------------------------------------------------------
export const sourceRequests = counter(
  "synclog_source_requests_total",
  "Requests to the source, by integration and status class (2xx, 4xx, 429, 5xx, error)"
)
export const sourceRequestDuration = Metric.histogram(
  "synclog_source_request_duration_seconds",
  seconds,
  "Time from sending a request to the source to its whole answer, by integration"
)
export const sourceRetries = counter(
  "synclog_source_retries_total",
  "Requests retried after a transient failure, by integration"
)
export const rateLimitWaits = counter(
  "synclog_rate_limit_waits_total",
  "Waits for the request budget or a Retry-After, by integration"
)
export const rateLimitWaitSeconds = counter(
  "synclog_rate_limit_wait_seconds_total",
  "Seconds spent waiting for the request budget or a Retry-After, by integration"
)
/**
 * The two gauges with a series per integration (a thousand integrations: two thousand series)
 * are kept by MetricGauges and rendered by the scrape from its maps, outside Effect's registry:
 * `Metric.snapshot` copies every registered series on every scrape, and these two made up most
 * of what a scrape allocated (see prometheus.ts, `LabelledGauges`).
 */
export const rateLimitRemaining = {
  name: "synclog_rate_limit_remaining",
  help: "Requests left in the integration's current budget window"
} as const
export const circuitState = {
  name: "synclog_circuit_state",
  help: "Circuit breaker per integration: 0 closed, 1 half open, 2 open"
} as const

// ---- storage and the API ----------------------------------------------------------------------------
export const eventLogPosition = Metric.gauge("synclog_event_log_position", { description: "Latest position of the event log" })
export const databaseSize = Metric.gauge("synclog_database_size_bytes", { description: "Size of the database (SQLite: the pages in use; PostgreSQL: pg_database_size)" })
export const httpRequests = counter(
  "synclog_http_requests_total",
  "HTTP requests answered, by method, route template and status"
)
export const httpRequestDuration = Metric.histogram(
  "synclog_http_request_duration_seconds",
  seconds,
  "Time to answer an HTTP request (to its headers for streams), by route template"
)
export const webhookDeliveries = counter(
  "synclog_webhook_deliveries_total",
  "Webhook delivery attempts, by endpoint and outcome (delivered, failed, given_up)"
)

/** A metric with its labels, e.g. `labelled(recordsCreated, { integration, entity })`. */
export const labelled = <T, I, O>(metric: Metric.Metric<T, I, O>, labels: Readonly<Record<string, string>>) =>
  Metric.taggedWithLabels(metric, Object.entries(labels).map(([k, v]) => MetricLabel.make(k, v)))

const recordCounters = new Map<string, ReadonlyArray<readonly [keyof Counters, Metric.Metric.Counter<number>]>>()

/** A committed batch's counters, per integration and entity (`all` for the finalizing sweep). */
export const countRecords = (integration: string, entity: string | null, deltas: Counters) => {
  const key = `${integration}\u0000${entity}`
  let counters = recordCounters.get(key)
  if (counters === undefined) {
    const labels = { integration, entity: entity ?? "all" }
    counters = [
      ["processed", labelled(recordsProcessed, labels)],
      ["created", labelled(recordsCreated, labels)],
      ["updated", labelled(recordsUpdated, labels)],
      ["deleted", labelled(recordsDeleted, labels)],
      ["errors", labelled(recordsErrors, labels)]
    ] as const
    recordCounters.set(key, counters)
  }
  return Effect.forEach(counters, ([field, counter]) => deltas[field] > 0 ? Metric.incrementBy(counter, deltas[field]) : Effect.void, {
    discard: true
  })
}

/** A job that reached a final status; completed ones also time the job. */
export const countFinishedJob = (job: {
  readonly integrationId: string
  readonly type: string
  readonly status: string
  readonly durationMs: number | null
}) =>
  Effect.zipRight(
    Metric.increment(labelled(jobsFinished, { integration: job.integrationId, type: job.type, status: job.status })),
    job.status === "completed" && job.durationMs !== null
      ? Metric.update(labelled(jobDuration, { type: job.type }), job.durationMs / 1000)
      : Effect.void
  )
