import { HttpApi, type HttpApp, HttpServerRequest, HttpServerResponse } from "@effect/platform"
import { Cause, Clock, Context, Effect, Exit, FiberRef, Metric, MetricLabel } from "effect"
import { httpRequestDuration, httpRequests, labelled } from "../metrics/metrics.js"
import { SyncApi } from "./Api.js"

/**
 * The route template a request path belongs to, for metric labels and the access log (bounded
 * cardinality: never an id). Security never uses this; the router decides what runs.
 */
interface Template {
  readonly parts: ReadonlyArray<string>
  readonly path: string
  /** Literal segments: the most literal match wins (/jobs/stop-all before /jobs/:jobId). */
  readonly literals: number
}

/** Templates by method and segment count, most literal first: a request compares a few, not all. */
const templatesByShape = new Map<string, Array<Template>>()
HttpApi.reflect(SyncApi, {
  onGroup: () => {},
  onEndpoint: ({ endpoint }) => {
    const parts = endpoint.path.split("/")
    const key = `${endpoint.method} ${parts.length}`
    const list = templatesByShape.get(key) ?? []
    list.push({ parts, path: endpoint.path, literals: parts.filter((p) => !p.startsWith(":")).length })
    list.sort((a, b) => b.literals - a.literals)
    templatesByShape.set(key, list)
  }
})
const STATIC = new Set(["/", "/docs", "/openapi.json"])

const matchIn = (candidates: ReadonlyArray<Template> | undefined, parts: ReadonlyArray<string>): string | undefined => {
  if (candidates === undefined) return undefined
  for (const t of candidates) {
    let i = 0
    while (i < parts.length && (t.parts[i]!.startsWith(":") || t.parts[i] === parts[i])) i++
    if (i === parts.length) return t.path
  }
  return undefined
}

const routeOf = (method: string, url: string): string => {
  const query = url.indexOf("?")
  const path = query === -1 ? url : url.slice(0, query)
  if (path.startsWith("/assets/")) return "/assets/*"
  if (STATIC.has(path)) return path
  const parts = path.split("/")
  return matchIn(templatesByShape.get(`${method} ${parts.length}`), parts) ??
    (method === "HEAD" ? matchIn(templatesByShape.get(`GET ${parts.length}`), parts) : undefined) ??
    "other"
}

/**
 * The metrics of one (method, route, status), built once each (few: routes and statuses are
 * bounded). Their label arrays are kept, so Effect finds each metric's hook by the array's
 * identity: a `Metric.tagged` metric builds a new label list and metric key on every update.
 */
interface RouteMetrics {
  readonly countLabels: ReadonlyArray<MetricLabel.MetricLabel>
  readonly durationLabels: ReadonlyArray<MetricLabel.MetricLabel>
  readonly count: Metric.Metric.Counter<number>
  readonly duration: Metric.Metric.Histogram<number>
}
const byKey = new Map<string, RouteMetrics>()
const metricsOf = (method: string, route: string, status: number): RouteMetrics => {
  const key = `${method} ${route} ${status}`
  let found = byKey.get(key)
  if (found === undefined) {
    const labels = { method, route, status: String(status) }
    found = {
      countLabels: Object.entries(labels).map(([k, v]) => MetricLabel.make(k, v)),
      durationLabels: [MetricLabel.make("route", route)],
      count: labelled(httpRequests, labels),
      duration: labelled(httpRequestDuration, { route })
    }
    byKey.set(key, found)
  }
  return found
}

/**
 * Counts and times every answered request by method, route template and status, and writes an
 * access log line when asked (SYNC_ACCESS_LOG=true): method, route, status, duration. Never the
 * raw URL, so tokens in query strings (`?access_token=`) stay out of logs.
 *
 * It runs on every request, so it stays off Effect.gen and reads the request, clock and metric
 * labels straight from the fiber.
 */
export const observeRequests = (accessLog: boolean) => (app: HttpApp.Default): HttpApp.Default =>
  Effect.withFiberRuntime((fiber) => {
    const request = Context.unsafeGet(fiber.currentContext, HttpServerRequest.HttpServerRequest)
    const clock = Context.get(fiber.currentDefaultServices, Clock.Clock)
    const start = clock.unsafeCurrentTimeMillis()
    const record = (status: number): Effect.Effect<void> => {
      const ms = clock.unsafeCurrentTimeMillis() - start
      const route = routeOf(request.method, request.url)
      const metrics = metricsOf(request.method, route, status)
      const fiberLabels = fiber.getFiberRef(FiberRef.currentMetricLabels)
      let recorded: Effect.Effect<void> = Effect.void
      if (fiberLabels.length === 0) {
        // Called as the request ends (in its exit hook): updated right away.
        httpRequests.unsafeUpdate(1, metrics.countLabels)
        httpRequestDuration.unsafeUpdate(ms / 1000, metrics.durationLabels)
      } else {
        // Labels set around the server (by an embedding service) join ours: Effect's own path.
        recorded = Effect.zipRight(Metric.increment(metrics.count), Metric.update(metrics.duration, ms / 1000))
      }
      if (!accessLog) return recorded
      return Effect.zipRight(
        recorded,
        Effect.annotateLogs(Effect.logInfo("request"), { method: request.method, route, status, durationMs: ms })
      )
    }
    // One exit hook for every outcome (not a flatMap for answers plus a hook for the rest).
    // A client that hangs up first (a live stream ends that way) interrupts the request; the
    // API turns that into a 499 response raised as a defect, which is counted (a plain
    // interruption too, as 499, nginx's "client closed request"), for as long as it was open.
    return Effect.onExit(app, (exit) => {
      if (Exit.isSuccess(exit)) return record(exit.value.status)
      const answered = Cause.squash(exit.cause)
      if (HttpServerResponse.isServerResponse(answered)) return record(answered.status)
      return Cause.isInterruptedOnly(exit.cause) ? record(CLIENT_CLOSED_REQUEST) : Effect.void
    })
  })

const CLIENT_CLOSED_REQUEST = 499
