import { HttpApi } from "@effect/platform"
import { request as httpRequest } from "node:http"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { Authorization, StreamAuthorization } from "../src/http/Authorization.js"
import { SyncApi } from "../src/http/Api.js"
import { type RunningSimulator, startSimulator } from "../src/simulator/server.js"
import { type AppHandle, planeIntegration, startApp, tempDir } from "./support/app.js"
import { waitFor } from "./support/http.js"

const WRITE = "write-token-5b1e"
const READ = "read-token-90c2"

interface Route {
  readonly method: string
  readonly path: string
  readonly protected: boolean
}

/** Every route of the API contract, and whether it declares the Authorization middleware. */
const routes: Array<Route> = []
HttpApi.reflect(SyncApi, {
  onGroup: () => {},
  onEndpoint: ({ endpoint, middleware }) => {
    routes.push({ method: endpoint.method, path: endpoint.path, protected: [...middleware].some((m) => m.key === Authorization.key || m.key === StreamAuthorization.key) })
  }
})

interface Raw {
  readonly status: number
  readonly body: any
}

/** A request with its target sent byte for byte (fetch would normalise `//`, `..` and `%61`). */
const send = (port: number, method: string, target: string, token?: string, body?: string) =>
  new Promise<Raw>((resolve, reject) => {
    const headers: Record<string, string> = {}
    if (token !== undefined) headers.authorization = `Bearer ${token}`
    if (body !== undefined) {
      headers["content-type"] = "application/json"
      headers["content-length"] = String(Buffer.byteLength(body))
    }
    const req = httpRequest({ host: "127.0.0.1", port, method, path: target, headers }, (res) => {
      if (String(res.headers["content-type"]).includes("text/event-stream")) {
        // A live stream never ends: its status is the answer.
        resolve({ status: res.statusCode ?? 0, body: null })
        req.destroy()
        return
      }
      const chunks: Array<Buffer> = []
      res.on("data", (c: Buffer) => chunks.push(c))
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8")
        let parsed: unknown = text
        try {
          parsed = text === "" ? null : JSON.parse(text)
        } catch {
          // keep the text
        }
        resolve({ status: res.statusCode ?? 0, body: parsed })
      })
    })
    req.on("error", reject)
    req.setTimeout(5_000, () => req.destroy(new Error(`no answer to ${method} ${target}`)))
    req.end(body)
  })

/** The same route spelled the ways a router may still match, or a proxy may pass through. */
const spellings = (path: string): ReadonlyArray<string> => {
  const rest = path.slice("/api".length)
  return [
    path,
    `/${path}`,
    `/API${rest}`,
    `/%61pi${rest}`,
    `/%2561pi${rest}`,
    `http://anything${path}`,
    `${path}/`,
    `${path};param=1`,
    `/api/x/..${rest}`,
    `/api/./${rest.slice(1)}`,
    `/${path.slice(1).replace(/\//g, "%2F")}`
  ]
}

describe("API tokens decided by the matched route", () => {
  let sim: RunningSimulator
  let app: AppHandle
  let port: number
  const tmp = tempDir()
  const values: Record<string, string> = { integrationId: "plane-integration-456", entity: "projects" }

  /** The route with real ids, and the query a route cannot do without. */
  const fill = (path: string) =>
    path.replace(/:(\w+)/g, (_, name: string) => encodeURIComponent(values[name]!)) +
    (path.endsWith("/records") ? "?entity=projects" : "")

  beforeAll(async () => {
    sim = await startSimulator({ workspaces: [{ slug: "acme", projects: 2, workItems: 10 }] })
    app = await startApp({
      dbPath: tmp.dbPath,
      apiKey: sim.apiKey,
      apiToken: WRITE,
      readToken: READ,
      integrations: [planeIntegration("plane-integration-456", sim, "acme")]
    })
    port = Number(new URL(app.url).port)
    const created = await send(port, "POST", "/api/sync/jobs", WRITE, JSON.stringify({ integrationId: "plane-integration-456", type: "full" }))
    expect(created.status).toBe(200)
    values.jobId = created.body.jobId
    await waitFor("the first sync to complete", async () => {
      const r = await send(port, "GET", `/api/sync/jobs/${values.jobId}`, READ)
      return r.body?.status === "completed"
    })
    const records = await send(port, "GET", "/api/sync/integrations/plane-integration-456/records?entity=projects", READ)
    values.id = records.body.records[0].id
  })

  afterAll(async () => {
    await app.close()
    await sim.close()
    tmp.remove()
  })

  it("protects every route but the health and readiness checks", () => {
    expect(routes.length).toBeGreaterThan(15)
    expect(routes.filter((r) => !r.protected).map((r) => `${r.method} ${r.path}`)).toEqual(["GET /healthz", "GET /readyz"])
  })

  it("never answers 2xx without a token, whatever the spelling of the URL", async () => {
    let checked = 0
    for (const route of routes.filter((r) => r.protected)) {
      for (const target of spellings(fill(route.path))) {
        for (const token of [undefined, "wrong-token", ""]) {
          const r = await send(port, route.method, target, token, route.method === "GET" ? undefined : "{}")
          const what = `${route.method} ${target} (token ${JSON.stringify(token)}) → ${r.status} ${JSON.stringify(r.body)}`
          expect(r.status >= 200 && r.status < 300, what).toBe(false)
          expect(r.status, what).toBeLessThan(500)
          expect(r.body, what).toMatchObject({ success: false, error: expect.any(String), message: expect.any(String) })
          checked++
        }
      }
    }
    expect(checked).toBeGreaterThan(400)
  })

  it("answers 401 with the error shape on the canonical route", async () => {
    const r = await send(port, "GET", "/api/sync/jobs")
    expect(r.status).toBe(401)
    expect(r.body).toMatchObject({ success: false, error: "Unauthorized" })
    expect(r.body.message).toContain("Authorization: Bearer")
    // The undocumented X-API-Key header is gone: only the bearer token counts.
    const viaHeader = await new Promise<number>((resolve, reject) => {
      const req = httpRequest({ host: "127.0.0.1", port, method: "GET", path: "/api/sync/jobs", headers: { "x-api-key": WRITE } }, (res) => {
        res.resume()
        resolve(res.statusCode ?? 0)
      })
      req.on("error", reject)
      req.end()
    })
    expect(viaHeader).toBe(401)
  })

  it("lets the read token GET every route and refuses its writes with 403", async () => {
    for (const route of routes.filter((r) => r.protected)) {
      const r = await send(port, route.method, fill(route.path), READ, route.method === "GET" ? undefined : "{}")
      const what = `${route.method} ${route.path} → ${r.status} ${JSON.stringify(r.body)}`
      if (route.method === "GET") {
        expect(r.status, what).toBe(200)
      } else {
        expect(r.status, what).toBe(403)
        expect(r.body, what).toMatchObject({ success: false, error: "Forbidden" })
      }
    }
  })

  it("lets the write token through as before", async () => {
    for (const route of routes.filter((r) => r.protected && r.method === "GET")) {
      const r = await send(port, route.method, fill(route.path), WRITE)
      expect(r.status, `${route.method} ${route.path}`).toBe(200)
    }
    const paused = await send(port, "POST", `/api/sync/jobs/${values.jobId}/pause`, WRITE)
    expect(paused.status).toBe(409) // a completed job cannot be paused: the token passed, the state decided
    const stopAll = await send(port, "POST", "/api/sync/jobs/stop-all", WRITE)
    expect(stopAll.status).toBe(200)
  })

  it("keeps the health and readiness checks, the docs and the OpenAPI document public", async () => {
    expect((await send(port, "GET", "/healthz")).status).toBe(200)
    expect((await send(port, "GET", "/readyz")).status).toBe(200)
    expect((await send(port, "GET", "/openapi.json")).status).toBe(200)
    expect((await send(port, "GET", "/docs")).status).toBe(200)
  })
})
