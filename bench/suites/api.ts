/**
 * Benchmark 5: the read API under load, with a long job history.
 *
 * Two histories (10k and 100k jobs; bench/fixtures/history.ts) get their views built by
 * synclog's replay. On each, a synclog server (as `npm start` runs it, scheduler off:
 * SYNC_AUTO_INITIALIZE=false, so nothing but the load runs) and the baseline
 * (bench/baseline/api-server.ts: node:http + better-sqlite3, the same SQL) serve the same file.
 * bench/load-worker.ts, a separate process, loads each endpoint with autocannon (10
 * connections), candidate and baseline alternately. Figures: req/s, p50 and p99 per endpoint;
 * and req/s at the large history over req/s at the small one, which is ~1 for an endpoint
 * whose cost does not grow with history.
 */
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import type { Context } from "../lib/context.js"
import { saveProfileSummary } from "../lib/context.js"
import { firstJsonLine, runJson, spawnNode, stop, tsNode } from "../lib/proc.js"
import type { Figure } from "../lib/report.js"
import { figure, median } from "../lib/report.js"
import { buildBundle, startServer } from "../lib/synclog.js"
import type { HistoryResult } from "../fixtures/history.js"
import type { LoadResult, LoadRun, LoadSpec } from "../load-worker.js"
import { replayCli } from "./replay.js"

const ENDPOINTS = [
  { key: "list", name: "GET /api/sync/jobs?limit=20", paths: (_ids: ReadonlyArray<string>) => ["/api/sync/jobs?limit=20"] },
  { key: "get", name: "GET /api/sync/jobs/:jobId", paths: (ids: ReadonlyArray<string>) => ids.map((id) => `/api/sync/jobs/${id}`) },
  { key: "status", name: "GET /api/sync/integrations/status", paths: (_ids: ReadonlyArray<string>) => ["/api/sync/integrations/status"] }
] as const

type Key = (typeof ENDPOINTS)[number]["key"]

const writeSpec = (file: string, spec: LoadSpec) => {
  writeFileSync(file, JSON.stringify(spec))
  return file
}

export const api = async (ctx: Context): Promise<ReadonlyArray<Figure>> => {
  const sizes = ctx.quick ? [500, 5_000] : [10_000, 100_000]
  const rounds = ctx.quick ? 1 : 2
  const duration = ctx.quick ? 1 : 10
  const warmup = ctx.quick ? 0.5 : 1
  const connections = 10
  const root = ctx.dir("api")
  const figures: Array<Figure> = []
  const rates = new Map<string, { candidate: number; baseline: number }>()
  const details: Array<unknown> = []

  // Fixtures first, both sizes at once (nothing is measured while they are written).
  ctx.log(`api: histories of ${sizes.join(" and ")} jobs, views built by replay`)
  const histories = await Promise.all(
    sizes.map(async (jobs) => {
      const file = join(root, `history-${jobs}.db`)
      const history = await runJson<HistoryResult>({
        args: [...tsNode(), "bench/fixtures/history.ts", JSON.stringify({ file, jobs, integrations: 10 })]
      })
      await replayCli(file)
      return { jobs, file, history }
    })
  )

  // The server as `npm start` runs it (the profiled run below uses the sources, for their names).
  const bundled = buildBundle()
  for (const { file, history, jobs } of histories) {
    ctx.log(`  ${jobs} jobs (${history.events} events)`)

    const server = await startServer({
      dir: join(root, `synclog-${jobs}`),
      dbPath: file,
      integrations: [],
      apiKey: "unused",
      autoInitialize: false,
      mode: bundled ? "bundle" : "tsx"
    })
    const baseline = spawnNode({ args: [...tsNode(), "bench/baseline/api-server.ts", file], captureStdout: true })
    try {
      const base = await firstJsonLine<{ url: string }>(baseline)
      // ABBA per endpoint and round: synclog, baseline, baseline, synclog, ...
      const runs: Array<LoadRun> = []
      // --quick: the job detail endpoint only at the large history (the small one serves the
      // history-size comparison of the list and status endpoints).
      const endpoints = ctx.quick && jobs === sizes[0] ? ENDPOINTS.filter((e) => e.key !== "get") : ENDPOINTS
      for (const endpoint of endpoints) {
        const paths = endpoint.paths(history.sampleJobIds)
        for (let r = 0; r < rounds; r++) {
          const pair: Array<LoadRun> = [
            { label: `synclog ${endpoint.key}`, url: server.url, paths },
            { label: `baseline ${endpoint.key}`, url: base.url, paths }
          ]
          runs.push(...(r % 2 === 0 ? pair : pair.reverse()))
        }
      }
      const { results } = await runJson<{ results: Array<LoadResult> }>({
        args: [...tsNode(), "bench/load-worker.ts", writeSpec(join(root, `load-${jobs}.json`), { runs, connections, duration, warmup })]
      })
      details.push({ jobs, events: history.events, results })
      for (const r of results) {
        ctx.log(`  ${jobs} jobs, ${r.label}: ${Math.round(r.requestsPerSecond)} req/s, p50 ${r.p50} ms, p99 ${r.p99} ms${r.errors + r.non2xx > 0 ? `, ${r.errors} errors, ${r.non2xx} non-2xx` : ""}`)
        if (r.errors + r.non2xx > 0) throw new Error(`${r.label}: ${r.errors} errors, ${r.non2xx} non-2xx responses`)
      }
      const of = (who: string, key: Key) => results.filter((r) => r.label === `${who} ${key}`)
      for (const endpoint of endpoints) {
        const c = of("synclog", endpoint.key)
        const b = of("baseline", endpoint.key)
        rates.set(`${endpoint.key}-${jobs}`, { candidate: median(c.map((x) => x.requestsPerSecond)), baseline: median(b.map((x) => x.requestsPerSecond)) })
        const label = `${endpoint.name}, ${jobs / 1000}k jobs`
        figures.push(
          figure({
            name: `${label}: throughput`,
            unit: "req/s",
            candidate: c.map((x) => x.requestsPerSecond),
            baseline: b.map((x) => x.requestsPerSecond),
            target: ">= 0.5 x baseline",
            met: (_c, ratio) => ratio !== null && ratio >= 0.5
          }),
          figure({
            name: `${label}: p50 latency (${connections} connections)`,
            unit: "ms",
            candidate: c.map((x) => x.p50),
            baseline: b.map((x) => x.p50),
            target: "(reported)",
            met: () => true
          }),
          figure({
            name: `${label}: p99 latency (${connections} connections)`,
            unit: "ms",
            candidate: c.map((x) => x.p99),
            baseline: b.map((x) => x.p99),
            target: "< 25 ms",
            met: (value) => value < 25
          })
        )
      }

      if (ctx.profile && jobs === sizes[sizes.length - 1]) {
        await server.stop()
        for (const endpoint of ENDPOINTS) {
          ctx.log(`  profiling synclog under load of ${endpoint.name} (--cpu-prof)`)
          const profiled = await startServer({
            dir: join(root, `synclog-profile-${endpoint.key}`),
            dbPath: file,
            integrations: [],
            apiKey: "unused",
            autoInitialize: false,
            cpuProfile: true
          })
          const paths = endpoint.paths(history.sampleJobIds)
          await runJson({
            args: [
              ...tsNode(),
              "bench/load-worker.ts",
              writeSpec(join(root, `load-profile-${endpoint.key}.json`), { runs: [{ label: "profile", url: profiled.url, paths }], connections, duration, warmup: 0 })
            ]
          })
          await profiled.stop()
          saveProfileSummary(`api-${endpoint.key}`, profiled.profileDir, `synclog server under ${duration} s of load on ${endpoint.name} (${jobs} jobs in the history)`)
        }
      }
    } finally {
      await server.stop()
      await stop(baseline)
    }
  }

  const [small, large] = [sizes[0]!, sizes[sizes.length - 1]!]
  for (const key of ["list", "status"] as const) {
    const a = rates.get(`${key}-${small}`)!
    const b = rates.get(`${key}-${large}`)!
    const endpoint = ENDPOINTS.find((e) => e.key === key)!
    figures.push(
      figure({
        name: `${endpoint.name}: req/s at ${large / 1000}k jobs / at ${small / 1000}k jobs`,
        unit: "ratio",
        candidate: [b.candidate / a.candidate],
        baseline: [b.baseline / a.baseline],
        target: ">= 0.8 (independent of history size)",
        met: (c) => c >= 0.8
      })
    )
  }
  ctx.details.api = details
  return figures
}
