import { FetchHttpClient, HttpClient, HttpClientRequest } from "@effect/platform"
import { Effect, Redacted } from "effect"
import { spawnSync } from "node:child_process"
import { readFileSync, writeFileSync } from "node:fs"
import { createRequire } from "node:module"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { makeClient } from "../src/index.js"
import { type RunningSimulator, startSimulator } from "../src/simulator/server.js"
import { type AppHandle, planeIntegration, startApp, tempDir } from "./support/app.js"
import { waitFor } from "./support/http.js"

/**
 * /openapi.json as a client generator reads it, checked against what the server does: the
 * document is linted with Redocly's recommended rules (offline), and each promise it makes that a
 * generated client relies on is tried on the real server.
 */
const TOKEN = "openapi-test-token"
const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string }
const redoclyCli = createRequire(import.meta.url).resolve("@redocly/cli/bin/cli.js")

describe("OpenAPI document", () => {
  let sim: RunningSimulator
  let app: AppHandle
  let doc: any
  const tmp = tempDir()
  const authorized = { authorization: `Bearer ${TOKEN}` }
  const call = (method: string, path: string, init: { body?: string; contentType?: string; token?: boolean } = {}) =>
    fetch(app.url + path, {
      method,
      headers: {
        ...(init.token === false ? {} : authorized),
        ...(init.contentType !== undefined ? { "content-type": init.contentType } : {})
      },
      ...(init.body !== undefined ? { body: init.body } : {})
    })
  const operation = (path: string, method: string) => doc.paths[path][method]
  const queryParam = (path: string, name: string) =>
    operation(path, "get").parameters.find((p: any) => p.in === "query" && p.name === name)
  const resolve = (schema: any): any =>
    schema.$ref !== undefined ? doc.components.schemas[schema.$ref.replace("#/components/schemas/", "")] : schema
  const members = (schema: any): Array<any> => (schema.anyOf ?? [schema]).map(resolve)

  beforeAll(async () => {
    sim = await startSimulator({ workspaces: [{ slug: "acme", projects: 1, workItems: 8, seed: 7 }] })
    app = await startApp({
      dbPath: tmp.dbPath,
      apiKey: sim.apiKey,
      apiToken: TOKEN,
      integrations: [planeIntegration("acme", sim, "acme")]
    })
    const served = await fetch(`${app.url}/openapi.json`)
    expect(served.status).toBe(200)
    doc = await served.json()
  })
  afterAll(async () => {
    await app?.close()
    await sim?.close()
    tmp.remove()
  })

  it("passes `redocly lint` with the recommended rules, offline", () => {
    const file = join(tmp.dir, "openapi.json")
    const config = join(tmp.dir, "redocly.yaml")
    writeFileSync(file, JSON.stringify(doc, null, 2))
    writeFileSync(config, "extends:\n  - recommended\n")
    const run = spawnSync(process.execPath, [redoclyCli, "lint", file, "--config", config, "--format", "json"], {
      encoding: "utf8",
      timeout: 30_000,
      env: { ...process.env, REDOCLY_TELEMETRY: "off", REDOCLY_SUPPRESS_UPDATE_NOTICE: "true", CI: "true" }
    })
    const report = JSON.parse(run.stdout) as { totals: { errors: number }; problems: Array<{ severity: string }> }
    expect(report.problems.filter((p) => p.severity === "error")).toEqual([])
    expect(report.totals.errors).toBe(0)
    expect(run.status).toBe(0)
  })

  it("names its version, server and the bearer token", () => {
    expect(doc.info.version).toBe(pkg.version)
    expect(doc.servers).toEqual([{ url: "/", description: expect.any(String) }])
    expect(doc.components.securitySchemes.bearer).toMatchObject({ type: "http", scheme: "bearer" })
    expect(doc.components.securitySchemes.bearer.description).toContain("SYNC_API_TOKEN")
    for (const [path, item] of Object.entries<any>(doc.paths)) {
      for (const op of Object.values<any>(item)) {
        if (path.startsWith("/api/")) expect(op.security, path).toContainEqual({ bearer: [] })
        if ((op.security ?? []).length > 0) {
          expect(members(op.responses["401"].content["application/json"].schema)[0].properties.error.enum).toEqual([
            "Unauthorized"
          ])
        } else {
          expect(op.responses["401"], path).toBeUndefined()
        }
      }
    }
  })

  it("marks bodies the server treats as optional as not required, and sends none for them", async () => {
    for (const [path, method] of [
      ["/api/sync/jobs/{jobId}/stop", "post"],
      ["/api/sync/jobs/{jobId}", "delete"],
      ["/api/sync/jobs/stop-all", "post"],
      ["/api/sync/integrations/{integrationId}/start", "post"]
    ] as const) {
      const body = operation(path, method).requestBody
      expect(body.required, `${method} ${path}`).toBe(false)
      expect(body.content["application/json"].schema.type, `${method} ${path}`).toBe("object")
    }
    expect(operation("/api/sync/jobs", "post").requestBody.required).toBe(true)
    expect(operation("/api/sync/jobs/{jobId}/interval", "put").requestBody.required).toBe(true)

    const started = await call("POST", "/api/sync/integrations/acme/start")
    expect(started.status).toBe(200)
    const { jobId } = (await started.json()) as { jobId: string }
    await waitFor("the job to complete", async () => ((await (await call("GET", `/api/sync/jobs/${jobId}`)).json()) as any).status === "completed")
    expect((await call("POST", "/api/sync/jobs/stop-all")).status).toBe(200)
    expect((await call("DELETE", `/api/sync/jobs/${jobId}`)).status).toBe(200)
  })

  it("types query parameters as clients send them, and the server takes them so", async () => {
    expect(queryParam("/api/sync/jobs", "limit").schema).toEqual({ type: "integer", minimum: 1, maximum: 500 })
    expect(queryParam("/api/sync/jobs", "offset").schema).toMatchObject({ type: "integer", minimum: 0 })
    expect(queryParam("/api/sync/jobs/{jobId}/logs", "limit").schema).toEqual({ type: "integer", minimum: 1, maximum: 1000 })
    expect(queryParam("/api/sync/integrations/{integrationId}/records", "includeDeleted").schema.type).toBe("boolean")
    expect(queryParam("/api/sync/integrations/{integrationId}/records", "entity").schema.enum).toContain("work_items")
    expect(queryParam("/api/sync/integrations/{integrationId}/records", "updatedSince").schema.format).toBe("date-time")
    const status = queryParam("/api/sync/jobs", "status")
    expect(status).toMatchObject({ style: "form", explode: false, schema: { type: "array" } })
    expect(status.schema.items.enum).toEqual(["pending", "queued", "running", "paused", "stopping", "stopped", "completed", "failed"])
    const interval = operation("/api/sync/jobs/{jobId}/interval", "put").requestBody.content["application/json"].schema
    expect(interval.properties.interval).toMatchObject({ type: "integer", minimum: 30, maximum: 2592000 })

    // A comma list (explode: false) and repeated keys (what most generated clients send) both work.
    for (const query of ["status=completed,failed", "status=completed&status=failed", "status=pending"]) {
      const r = await call("GET", `/api/sync/jobs?${query}&limit=5&offset=0`)
      expect(r.status, query).toBe(200)
    }
    const bad = await call("GET", "/api/sync/jobs?status=completed&status=bogus")
    expect(bad.status).toBe(400)
    expect(await bad.json()).toMatchObject({ success: false, error: "ValidationError" })
    const records = await call("GET", "/api/sync/integrations/acme/records?entity=projects&includeDeleted=true&limit=1000")
    expect(records.status).toBe(200)
  })

  it("documents every error body the server sends, with its shape, where it can happen", async () => {
    for (const [path, item] of Object.entries<any>(doc.paths)) {
      for (const [method, op] of Object.entries<any>(item)) {
        const where = `${method} ${path}`
        const hasBody = method !== "get"
        expect(op.responses["413"] !== undefined, where).toBe(hasBody)
        expect(op.responses["415"] !== undefined, where).toBe(hasBody)
        if (!hasBody) expect(op.responses["403"], where).toBeUndefined() // read-only tokens may GET
        for (const [status, response] of Object.entries<any>(op.responses)) {
          if (Number(status) < 400) continue
          for (const schema of members(response.content["application/json"].schema)) {
            expect(schema.required, `${where} ${status}`).toEqual(expect.arrayContaining(["success", "error", "message"]))
            expect(schema.properties.success.enum, `${where} ${status}`).toEqual([false])
          }
        }
        const errors400 = op.responses["400"] ? members(op.responses["400"].content["application/json"].schema) : []
        const tags400 = errors400.map((s: any) => s.properties.error.enum[0])
        expect(tags400.includes("MalformedJson"), where).toBe(hasBody)
        expect(tags400).not.toContain("HttpApiDecodeError")
      }
    }
    expect(doc.components.schemas.HttpApiDecodeError).toBeUndefined()

    // The bodies the edge sends match their documented schemas.
    const errorOf = (op: any, status: string, tag: string) =>
      members(op.responses[status].content["application/json"].schema).find((s: any) => s.properties.error.enum[0] === tag)
    const create = operation("/api/sync/jobs", "post")
    const cases = [
      [await call("POST", "/api/sync/jobs", { body: "{nope", contentType: "application/json" }), "400", "MalformedJson"],
      [await call("POST", "/api/sync/jobs", { body: "{}", token: false }), "401", "Unauthorized"],
      [await call("POST", "/api/sync/jobs", { body: JSON.stringify({ integrationId: 1 }), contentType: "application/json" }), "400", "ValidationError"],
      [await call("POST", "/api/sync/jobs", { body: JSON.stringify({ integrationId: "nope", type: "full_sync" }), contentType: "application/json" }), "404", "IntegrationNotFound"]
    ] as const
    for (const [reply, status, tag] of cases) {
      expect(String(reply.status), tag).toBe(status)
      const body = (await reply.json()) as Record<string, unknown>
      const schema = errorOf(create, status, tag)
      expect(schema, tag).toBeDefined()
      expect(body.error).toBe(tag)
      for (const key of schema.required) expect(body, `${tag}.${key}`).toHaveProperty(key)
      for (const key of Object.keys(body)) expect(schema.properties, `${tag}.${key}`).toHaveProperty(key)
    }
  })

  it("gives timestamps format date-time and event payloads their shapes", () => {
    const job = doc.components.schemas.Job
    for (const field of ["createdAt", "startedAt", "completedAt", "estimatedCompletion"]) {
      expect(job.properties[field].format, field).toBe("date-time")
    }
    const events = operation("/api/sync/jobs/{jobId}/events", "get").responses["200"].content["application/json"].schema
    const data = events.properties.events.items.properties.data
    const shapes = members(data)
    expect(shapes.map((s: any) => s.properties._tag.enum[0])).toContain("BatchCommitted")
    expect(doc.components.schemas.MirrorRecord.properties.payload.type).toBe("object")
  })

  it("lets makeClient send the token, or transform its HttpClient", async () => {
    const program = Effect.gen(function*() {
      const withToken = yield* makeClient(app.url, { token: TOKEN })
      const list = yield* withToken.jobs.list({ urlParams: { limit: 5 } })
      const viaFetch = yield* Effect.promise(async () => (await (await call("GET", "/api/sync/jobs")).json()) as any)
      expect(list.total).toBe(viaFetch.total)
      const withRedacted = yield* makeClient(app.url, { token: Redacted.make(TOKEN) })
      expect((yield* withRedacted.integrations.status()).integrations[0]!.integrationId).toBe("acme")
      const transformed = yield* makeClient(app.url, {
        transformClient: HttpClient.mapRequest(HttpClientRequest.bearerToken(TOKEN))
      })
      expect((yield* transformed.jobs.list({ urlParams: {} })).total).toBe(list.total)
      const without = yield* makeClient(app.url)
      const refused = yield* without.jobs.list({ urlParams: {} }).pipe(Effect.flip)
      expect(refused._tag).toBe("Unauthorized")
    })
    await Effect.runPromise(program.pipe(Effect.provide(FetchHttpClient.layer)))
  })
})
