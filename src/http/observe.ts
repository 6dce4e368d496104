import { HttpApi, type HttpApp, HttpServerRequest, type HttpServerResponse } from "@effect/platform"
import { Clock, Effect, Metric } from "effect"
import { httpRequestDuration, httpRequests, labelled } from "../metrics/metrics.js"
import { SyncApi } from "./Api.js"

/**
 * The route template a request path belongs to, for metric labels and the access log (bounded
 * cardinality: never an id). Security never uses this; the router decides what runs.
 */
const templates: Array<{ readonly method: string; readonly parts: ReadonlyArray<string>; readonly path: string }> = []
HttpApi.reflect(SyncApi, {
  onGroup: () => {},
  onEndpoint: ({ endpoint }) =>
    void templates.push({ method: endpoint.method, parts: endpoint.path.split("/"), path: endpoint.path })
})
const STATIC = new Set(["/", "/docs", "/openapi.json"])

export const routeOf = (method: string, url: string): string => {
  const path = url.split("?")[0]!
  if (STATIC.has(path) || path.startsWith("/assets/")) return path.startsWith("/assets/") ? "/assets/*" : path
  const parts = path.split("/")
  // Literal segments first: /jobs/stop-all before /jobs/:jobId.
  let best: { path: string; literals: number } | undefined
  for (const t of templates) {
    if (t.method !== method && !(method === "HEAD" && t.method === "GET")) continue
    if (t.parts.length !== parts.length) continue
    let literals = 0
    let ok = true
    for (let i = 0; i < parts.length && ok; i++) {
      if (t.parts[i]!.startsWith(":")) continue
      if (t.parts[i] !== parts[i]) ok = false
      else literals++
    }
    if (ok && (best === undefined || literals > best.literals)) best = { path: t.path, literals }
  }
  return best?.path ?? "other"
}

/** The labelled metrics of one (method, route, status): few, so built once each. */
const labelledByKey = new Map<string, { readonly count: Metric.Metric.Counter<number>; readonly duration: Metric.Metric.Histogram<number> }>()
const metricsOf = (method: string, route: string, status: string) => {
  const key = `${method} ${route} ${status}`
  let found = labelledByKey.get(key)
  if (found === undefined) {
    found = {
      count: labelled(httpRequests, { method, route, status }),
      duration: labelled(httpRequestDuration, { route })
    }
    labelledByKey.set(key, found)
  }
  return found
}

/**
 * Counts and times every answered request by method, route template and status, and writes an
 * access log line when asked (SYNC_ACCESS_LOG=true): method, route, status, duration. Never the
 * raw URL, so tokens in query strings (`?access_token=`) stay out of logs.
 */
export const observeRequests = (accessLog: boolean) => (app: HttpApp.Default): HttpApp.Default =>
  Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    const start = yield* Clock.currentTimeMillis
    const response: HttpServerResponse.HttpServerResponse = yield* app
    const ms = (yield* Clock.currentTimeMillis) - start
    const route = routeOf(request.method, request.url)
    const status = String(response.status)
    const metrics = metricsOf(request.method, route, status)
    yield* Metric.increment(metrics.count)
    yield* Metric.update(metrics.duration, ms / 1000)
    if (accessLog) {
      yield* Effect.logInfo("request").pipe(
        Effect.annotateLogs({ method: request.method, route, status: response.status, durationMs: ms })
      )
    }
    return response
  })
