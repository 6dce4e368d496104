/**
 * The simulator's HTTP server (plain `node:http`, bound to 127.0.0.1).
 *
 * Pipeline of a v1 request, in the order a real Plane behind a proxy applies it:
 *
 *   1. stats and fault decisions are taken at arrival (arrival order = fault order);
 *   2. timeout fault: the request is held open until `close()`;
 *   3. latency faults delay everything that follows;
 *   4. proxy faults: 502/503 HTML pages;
 *   5. routing (Django): no route → 404 `Page not found.`; a route only with the slash → 301;
 *   6. auth (DRF): fault-injected 401/403, then no key → 401, wrong key → 403;
 *   7. throttle: the sliding window (429 with Retry-After), then the 429 burst fault;
 *   8. the 500 fault, the method check (GET/HEAD only), and the handler;
 *   9. allowed responses get the `X-RateLimit-*` headers; the truncation fault cuts a 200.
 */
import { createServer } from "node:http"
import type { IncomingMessage, Server, ServerResponse } from "node:http"
import type { Socket } from "node:net"
import { handleAdmin } from "./admin.js"
import { FaultInjector, proxyErrorPage } from "./faults.js"
import type { FaultSettings, RequestFaults } from "./faults.js"
import { DEFAULT_WORKSPACE } from "./generate.js"
import type { WorkspaceSpec } from "./generate.js"
import { PageHooks } from "./mutations.js"
import { DEFAULT_MAX_PER_PAGE } from "./paginate.js"
import type { OversizedPerPage } from "./paginate.js"
import { defaultApiKey } from "./random.js"
import { RATE_LIMITED_BODY, rateLimitHeaders, SlidingWindowLimiter } from "./rateLimit.js"
import {
  handleApi,
  INVALID_TOKEN,
  matchRoute,
  methodNotAllowed,
  NOT_AUTHENTICATED,
  PAGE_NOT_FOUND,
  SERVER_ERROR
} from "./routes.js"
import type { ApiResponse, ApiSettings, WorkItemsRoute } from "./routes.js"
import { RequestStats } from "./stats.js"
import type { StatsSnapshot } from "./stats.js"
import { SimulatorStore } from "./store.js"
import { SimClock } from "./time.js"

export interface SimulatorOptions {
  /** TCP port; 0 (default) picks a free one. */
  readonly port?: number | undefined
  /** The only accepted API key (default: derived from `seed`). */
  readonly apiKey?: string | undefined
  /** Workspaces to generate (default: acme, 10 projects, 5000 work items, seed 1). */
  readonly workspaces?: ReadonlyArray<WorkspaceSpec> | undefined
  /** Requests per 60 s per key; 0 or undefined = off. */
  readonly rateLimitPerMinute?: number | undefined
  /** Largest accepted `per_page` (default 1000; the default page size is min(1000, this)). */
  readonly maxPerPage?: number | undefined
  /** A larger `per_page`: 400 like Plane (`"reject"`, default) or pages of `maxPerPage` rows (`"clamp"`). */
  readonly oversizedPerPage?: OversizedPerPage | undefined
  /** `"issues-only"` simulates CE v1.0.0: `work-items/` paths answer 404 `Page not found.`. */
  readonly workItemsRoute?: WorkItemsRoute | undefined
  /** Detail of an archived work item: 200 with `archived_at` like Plane Cloud (default) or 404 like self-hosted CE. */
  readonly archivedWorkItemDetail?: "ok" | "not-found" | undefined
  readonly faults?: FaultSettings | undefined
  /** Injectable clock (ms since the epoch) for timestamps and the throttle; default `Date.now`. */
  readonly now?: (() => number) | undefined
  /** Seed of the fault sequence and of the default API key (default 1). */
  readonly seed?: number | undefined
}

export interface RunningSimulator {
  /** `http://127.0.0.1:PORT` (append `/api/v1/...`). */
  readonly url: string
  readonly port: number
  readonly apiKey: string
  /** Workspace slugs. */
  readonly workspaces: Array<string>
  readonly store: SimulatorStore
  readonly clock: SimClock
  readonly settings: ApiSettings
  readonly hooks: PageHooks
  /** Replaces the fault settings (restarts the deterministic sequence). */
  setFaults(settings: FaultSettings, seed?: number): void
  setRateLimit(requestsPerMinute: number): void
  stats(): StatsSnapshot
  /** Stops listening and destroys every open socket (held requests included). */
  close(): Promise<void>
}

const RETRY_HEADER = "Retry-After"

/** Starts a simulator; resolves once it listens. */
export const startSimulator = async (options: SimulatorOptions = {}): Promise<RunningSimulator> => {
  const seed = options.seed ?? 1
  const clock = new SimClock(options.now ?? Date.now)
  const apiKey = options.apiKey ?? defaultApiKey(seed)
  const store = new SimulatorStore(apiKey, clock)
  for (const spec of options.workspaces ?? [DEFAULT_WORKSPACE]) store.addWorkspace(spec)

  const settings: ApiSettings = {
    maxPerPage: options.maxPerPage ?? DEFAULT_MAX_PER_PAGE,
    oversizedPerPage: options.oversizedPerPage ?? "reject",
    workItemsRoute: options.workItemsRoute ?? "both",
    archivedWorkItemDetail: options.archivedWorkItemDetail ?? "ok"
  }
  const limiter = new SlidingWindowLimiter(options.rateLimitPerMinute ?? 0, () => clock.now())
  const faults = new FaultInjector(options.faults ?? {}, seed)
  const stats = new RequestStats()
  const hooks = new PageHooks()

  const sockets = new Set<Socket>()
  const timers = new Set<NodeJS.Timeout>()
  let closed = false
  let url = ""

  /** Writes a v1 response (or half of it, for the truncation fault). */
  const send = (
    res: ServerResponse,
    response: ApiResponse,
    extraHeaders: Record<string, string>,
    truncate: boolean,
    routeName: string
  ): void => {
    stats.record(response.status, routeName)
    if (res.destroyed) return
    const body = Buffer.from(response.body, "utf8")
    res.writeHead(response.status, {
      "Content-Type": response.contentType ?? "application/json",
      "Content-Length": body.length,
      ...extraHeaders
    })
    if (truncate && response.status === 200 && body.length > 1) {
      res.write(body.subarray(0, Math.floor(body.length / 2)), () => res.destroy())
      return
    }
    res.end(body)
  }

  const processApi = (req: IncomingMessage, res: ServerResponse, parsed: URL, f: RequestFaults): void => {
    const path = parsed.pathname
    if (f.proxyError !== undefined) {
      return send(res, { status: f.proxyError, body: proxyErrorPage(f.proxyError), contentType: "text/html" }, {}, false, "proxy")
    }

    const match = matchRoute(path, settings.workItemsRoute)
    if (match === undefined) {
      if (!path.endsWith("/") && matchRoute(`${path}/`, settings.workItemsRoute) !== undefined) {
        const redirect: ApiResponse = { status: 301, body: "", contentType: "text/html; charset=utf-8" }
        return send(res, redirect, { Location: `${path}/${parsed.search}` }, false, "redirect")
      }
      return send(res, PAGE_NOT_FOUND, {}, false, "unmatched")
    }

    if (f.authError === 401) return send(res, NOT_AUTHENTICATED, {}, false, match.name)
    if (f.authError === 403) return send(res, INVALID_TOKEN, {}, false, match.name)
    const key = req.headers["x-api-key"]
    const token = Array.isArray(key) ? key[0] : key
    if (token === undefined || token === "") return send(res, NOT_AUTHENTICATED, {}, false, match.name)
    if (!store.acceptedKeys.has(token)) return send(res, INVALID_TOKEN, {}, false, match.name)
    store.requestsByKey.set(token, (store.requestsByKey.get(token) ?? 0) + 1)

    let headers: Record<string, string> = {}
    if (limiter.enabled) {
      const decision = limiter.check(`api_key:${token}`)
      if (!decision.allowed) {
        const body = JSON.stringify(RATE_LIMITED_BODY)
        return send(res, { status: 429, body }, { [RETRY_HEADER]: String(decision.retryAfterSeconds) }, false, match.name)
      }
      headers = rateLimitHeaders(decision)
    }
    if (f.burstRetryAfter !== undefined) {
      const body = JSON.stringify(RATE_LIMITED_BODY)
      return send(res, { status: 429, body }, { [RETRY_HEADER]: String(f.burstRetryAfter) }, false, match.name)
    }
    if (f.appError) return send(res, SERVER_ERROR, headers, false, match.name)
    const method = req.method ?? "GET"
    if (method !== "GET" && method !== "HEAD") return send(res, methodNotAllowed(method), headers, false, match.name)

    let response: ApiResponse
    try {
      response = handleApi(match, {
        store,
        settings,
        hooks,
        query: parsed.searchParams,
        corrupt: f.corrupt,
        nowMs: clock.now()
      })
    } catch (error) {
      console.error("simulator: handler failed", error)
      response = SERVER_ERROR
    }
    send(res, response, headers, f.truncate, match.name)
  }

  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    let parsed: URL
    try {
      parsed = new URL(req.url ?? "/", "http://127.0.0.1")
    } catch {
      res.writeHead(400).end()
      return
    }
    if (parsed.pathname === "/__admin" || parsed.pathname.startsWith("/__admin/")) {
      void handleAdmin(req, res, parsed, { store, hooks, faults, limiter, stats, clock, settings, url: () => url })
      return
    }
    // v1 API (and anything else, which Django would answer with its JSON 404).
    req.resume() // a GET body is ignored
    const f = faults.next()
    if (f.timeout) {
      stats.record("timeout", "timeout")
      return // hold the socket: close() destroys it
    }
    if (f.delayMs > 0) {
      const timer = setTimeout(() => {
        timers.delete(timer)
        if (!closed) processApi(req, res, parsed, f)
      }, f.delayMs)
      timers.add(timer)
      return
    }
    processApi(req, res, parsed, f)
  }

  const server: Server = createServer({ keepAliveTimeout: 5_000 }, onRequest)
  server.on("connection", (socket) => {
    sockets.add(socket)
    socket.on("close", () => sockets.delete(socket))
  })
  server.on("clientError", (_err, socket) => socket.destroy())

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject)
    server.listen(options.port ?? 0, "127.0.0.1", () => {
      server.off("error", reject)
      resolve()
    })
  })
  const address = server.address()
  const port = typeof address === "object" && address !== null ? address.port : 0
  url = `http://127.0.0.1:${port}`

  let closing: Promise<void> | undefined
  return {
    url,
    port,
    apiKey,
    workspaces: store.slugs,
    store,
    clock,
    settings,
    hooks,
    setFaults: (s, faultSeed) => faults.replace(s, faultSeed),
    setRateLimit: (n) => limiter.setLimit(n),
    stats: () => stats.snapshot(),
    close: () => {
      if (closing === undefined) {
        closed = true
        for (const t of timers) clearTimeout(t)
        timers.clear()
        closing = new Promise<void>((resolve) => server.close(() => resolve()))
        server.closeAllConnections()
        for (const s of sockets) s.destroy()
      }
      return closing
    }
  }
}
