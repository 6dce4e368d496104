/**
 * Attribution experiment (not part of `npm run bench`): how many requests per second can an
 * HTTP stack answer on this machine before any application work? Three servers, each in its
 * own process, answer `GET /x/:id` with the same small JSON object and no database:
 *   node     node:http's createServer (what the API baseline is built on)
 *   router   @effect/platform's HttpRouter served by NodeHttpServer
 *   httpapi  @effect/platform's HttpApi (path schema, success schema), as synclog's API is built
 * The load comes from bench/load-worker.ts (autocannon, 10 connections) in a fourth process.
 *
 *   node --import tsx bench/profile/http-floor.ts            # measure all three, twice
 *   node --import tsx bench/profile/http-floor.ts serve <mode> <port>   # one server (used by the above)
 */
import { HttpApi, HttpApiBuilder, HttpApiEndpoint, HttpApiGroup, HttpRouter, HttpServer, HttpServerResponse } from "@effect/platform"
import { NodeHttpServer, NodeRuntime } from "@effect/platform-node"
import { Effect, Layer, Schema } from "effect"
import { writeFileSync } from "node:fs"
import { createServer } from "node:http"
import { tmpdir } from "node:os"
import { join } from "node:path"
import type { LoadResult } from "../load-worker.js"
import { freePort, runJson, sleep, spawnNode, stop, tsNode } from "../lib/proc.js"

const BODY = { id: "sync-job-123", status: "running", progress: 42, stats: { processed: 1200, created: 1100, updated: 100 } }

const serve = (mode: string, port: number) => {
  if (mode === "node") {
    createServer((_req, res) => {
      const text = JSON.stringify(BODY)
      res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(text) })
      res.end(text)
    }).listen(port, "127.0.0.1")
    return
  }
  const http = NodeHttpServer.layer(createServer, { port, host: "127.0.0.1" })
  if (mode === "router") {
    const app = HttpRouter.empty.pipe(HttpRouter.get("/x/:id", Effect.sync(() => HttpServerResponse.unsafeJson(BODY))))
    NodeRuntime.runMain(Layer.launch(HttpServer.serve(app).pipe(Layer.provide(http))))
    return
  }
  const Api = HttpApi.make("floor").add(
    HttpApiGroup.make("g").add(
      HttpApiEndpoint.get("x", "/x/:id").setPath(Schema.Struct({ id: Schema.String })).addSuccess(Schema.Unknown)
    )
  )
  const handlers = HttpApiBuilder.group(Api, "g", (h) => h.handle("x", () => Effect.succeed(BODY)))
  const server = HttpApiBuilder.serve().pipe(Layer.provide(HttpApiBuilder.api(Api).pipe(Layer.provide(handlers))), Layer.provide(http))
  NodeRuntime.runMain(Layer.launch(server).pipe(Effect.provide(Layer.setTracerEnabled(false))))
}

const measure = async () => {
  const rows: Array<string> = []
  for (let round = 0; round < 2; round++) {
    for (const mode of ["node", "router", "httpapi"]) {
      const port = await freePort()
      const child = spawnNode({ args: [...tsNode(), "bench/profile/http-floor.ts", "serve", mode, String(port)] })
      await sleep(3_000)
      const spec = join(tmpdir(), `http-floor-${process.pid}.json`)
      writeFileSync(spec, JSON.stringify({ connections: 10, duration: 5, warmup: 1, runs: [{ label: mode, url: `http://127.0.0.1:${port}`, paths: ["/x/abc"] }] }))
      const { results } = await runJson<{ results: ReadonlyArray<LoadResult> }>({ args: [...tsNode(), "bench/load-worker.ts", spec] })
      await stop(child)
      const r = results[0]!
      rows.push(`${mode.padEnd(8)} ${String(Math.round(r.requestsPerSecond)).padStart(7)} req/s   p50 ${r.p50} ms   p99 ${r.p99} ms   errors ${r.errors + r.non2xx}`)
      console.log(rows[rows.length - 1])
    }
  }
}

if (process.argv[2] === "serve") serve(process.argv[3]!, Number(process.argv[4]))
else await measure()
