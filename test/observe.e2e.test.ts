import { join } from "node:path"
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest"
import { tempDir } from "./support/app.js"
import { type ChildServer, killAllChildren, startChild, takeChildOutputs, writeConfigFile } from "./support/child.js"
import { rawRequest, requestHead } from "./support/raw.js"

/** Samples of a Prometheus text exposition: `name{labels}` → value. */
const parse = (text: string) => {
  const samples = new Map<string, number>()
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue
    const at = line.lastIndexOf(" ")
    samples.set(line.slice(0, at), Number(line.slice(at + 1)))
  }
  return samples
}

/** The value of the one series of `name` with exactly these labels (any order), or 0. */
const valueOf = (samples: Map<string, number>, name: string, labels: Record<string, string>) => {
  const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`).sort().join(",")
  for (const [key, value] of samples) {
    if (!key.startsWith(`${name}{`)) continue
    const have = key.slice(name.length + 1, -1).split(",").filter((l) => !l.startsWith("le=")).sort().join(",")
    if (have === wanted) return value
  }
  return 0
}

/**
 * Request metrics and the access log through the real server process (SYNC_ACCESS_LOG=true, a
 * token): each request is counted once under its route template (never a raw path, id or query
 * string), the most literal template wins (`/integrations/status`, not `/:integrationId`), unknown paths share one label, and answers given
 * before any handler (401, 413, 404) are counted like the others.
 */
describe("request metrics and access log", () => {
  const TOKEN = "observe-test-token-0123456789"
  const SECRET = "query-secret-that-must-not-leak"
  const auth = { authorization: `Bearer ${TOKEN}` }
  const tmp = tempDir()
  const configPath = join(tmp.dir, "synclog.config.json")
  let server: ChildServer

  beforeAll(async () => {
    writeConfigFile(configPath, [])
    server = await startChild({
      dbPath: tmp.dbPath,
      configPath,
      apiKey: "not-used-here",
      label: "observe",
      env: { SYNC_ACCESS_LOG: "true", SYNC_API_TOKEN: TOKEN }
    })
  })

  afterEach(async (ctx) => {
    if (ctx.task.result?.state === "fail") console.log(takeChildOutputs())
  })

  afterAll(async () => {
    await killAllChildren()
    tmp.remove()
  })

  it("labels each request with its method, route template and status", async () => {
    const get = (path: string, headers: Record<string, string> = auth) => fetch(`${server.url}${path}`, { headers })
    expect((await get(`/api/sync/jobs?limit=5&access_token=${SECRET}`)).status).toBe(200)
    expect((await get("/api/sync/jobs")).status).toBe(200)
    expect((await get("/api/sync/jobs/job-that-does-not-exist")).status).toBe(404)
    expect((await get("/api/sync/jobs", {})).status).toBe(401)
    expect((await get("/no/such/route/here")).status).toBe(404)
    // Both templates fit this path: the literal one is the route.
    expect((await get("/api/sync/integrations/status")).status).toBe(200)
    expect((await get("/api/sync/integrations/no-such-integration")).status).toBe(404)
    const stopAll = await fetch(`${server.url}/api/sync/jobs/stop-all`, {
      method: "POST",
      headers: { ...auth, "content-type": "application/json" },
      body: "{}"
    })
    expect(stopAll.status).toBe(200)
    // A live stream ends when its client hangs up: counted as 499 (client closed request).
    const stream = new AbortController()
    const streaming = await fetch(`${server.url}/api/sync/stream?access_token=${SECRET}`, { headers: auth, signal: stream.signal })
    expect(streaming.status).toBe(200)
    await streaming.body!.getReader().read()
    stream.abort()
    // A GET declaring an oversized body is refused before the router, and still counted.
    const tooLarge = await rawRequest(server.port, requestHead("GET", "/api/sync/jobs/some-job", { ...auth, "content-length": "2000000" }))
    expect(tooLarge.status).toBe(413)

    const scrape = await fetch(`${server.url}/metrics`, { headers: auth })
    expect(scrape.status).toBe(200)
    const text = await scrape.text()
    const samples = parse(text)
    const requests = (method: string, route: string, status: string) =>
      valueOf(samples, "synclog_http_requests_total", { method, route, status })
    expect(requests("GET", "/api/sync/jobs", "200")).toBe(2)
    expect(requests("GET", "/api/sync/jobs", "401")).toBe(1)
    expect(requests("GET", "/api/sync/jobs/:jobId", "404")).toBe(1)
    expect(requests("GET", "/api/sync/jobs/:jobId", "413")).toBe(1)
    expect(requests("POST", "/api/sync/jobs/stop-all", "200")).toBe(1)
    expect(requests("GET", "/api/sync/integrations/status", "200")).toBe(1)
    expect(requests("GET", "/api/sync/integrations/:integrationId", "200")).toBe(0)
    expect(requests("GET", "/api/sync/integrations/:integrationId", "404")).toBe(1)
    expect(requests("GET", "other", "404")).toBe(1)
    expect(requests("GET", "/api/sync/stream", "499")).toBe(1)
    // Durations by route: one observation per answered request of that route.
    expect(valueOf(samples, "synclog_http_request_duration_seconds_count", { route: "/api/sync/jobs" })).toBe(3)
    expect(valueOf(samples, "synclog_http_request_duration_seconds_count", { route: "/api/sync/jobs/:jobId" })).toBe(2)
    // Bounded labels: no id, raw path or query string.
    for (const leaked of ["job-that-does-not-exist", "some-job", "no-such-integration", "/no/such", SECRET, "limit="]) expect(text).not.toContain(leaked)

    const lines = server.logLines().filter((l) => l.message === "request" || (Array.isArray(l.message) && l.message[0] === "request"))
    const logged = lines.map((l) => `${l.annotations?.method} ${l.annotations?.route} ${l.annotations?.status}`)
    expect(logged).toEqual(expect.arrayContaining([
      "GET /api/sync/jobs 200",
      "GET /api/sync/jobs 401",
      "GET /api/sync/jobs/:jobId 404",
      "GET /api/sync/jobs/:jobId 413",
      "POST /api/sync/jobs/stop-all 200",
      "GET /api/sync/integrations/status 200",
      "GET other 404"
    ]))
    for (const line of lines) expect(typeof line.annotations?.durationMs).toBe("number")
    expect(server.output()).not.toContain(SECRET)
  })
})
