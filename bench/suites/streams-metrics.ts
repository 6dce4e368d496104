/**
 * The `metrics` part of the streams suite (issue 12): `GET /metrics` on a server with 1,000
 * integrations, p50/p99 per scrape and the response size, beside `GET /healthz` on the same
 * server in the same run (the floor of a request through synclog's HTTP stack).
 *
 * The server (as `npm start` runs it) registers 1,000 integrations on the streams workspace
 * (initialSync "scheduled", a day's interval: none syncs by itself); before the scrapes, the
 * first `synced` of them each run a selective sync of states and labels, so the scrape also
 * carries per-integration counters and histograms, not only the per-integration gauges (circuit
 * state; the budget gauge shows once an integration has sent a request). The scrapes are
 * sequential on one keep-alive connection, as Prometheus scrapes, /metrics and /healthz
 * alternating, timed from the request to the last byte of the body with `performance.now()`,
 * by a client that allocates nothing per read (bench/load/timed-get.ts).
 */
import { join } from "node:path"
import { openTimedGetter } from "../load/timed-get.js"
import type { Figure } from "../lib/report.js"
import { figure } from "../lib/report.js"
import { createJob, startServer, waitForJob } from "../lib/synclog.js"
import type { Env } from "./streams.js"

const percentile = (xs: ReadonlyArray<number>, p: number) => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!
}

export const metrics = async (
  env: Env,
  sizes: { readonly integrations: number; readonly synced: number; readonly scrapes: number; readonly workspace: string }
): Promise<ReadonlyArray<Figure>> => {
  const { ctx, sim, root } = env
  const count = sizes.integrations
  ctx.log(`metrics: GET /metrics with ${count} integrations (${sizes.synced} of them synced once), ${sizes.scrapes} scrapes beside as many GET /healthz`)
  const server = await startServer({
    dir: join(root, "metrics"),
    integrations: [...Array(count).keys()].map((i) => ({ id: `int-${i}`, baseUrl: sim.url, workspaceSlug: sizes.workspace })),
    apiKey: sim.apiKey,
    // BENCH_STREAMS_PROFILE=1: a V8 CPU profile of the server (through tsx), as the SSE parts do.
    ...(process.env.BENCH_STREAMS_PROFILE === "1" ? { mode: "tsx" as const, cpuProfile: true } : { mode: "bundle" as const })
  })
  try {
    for (let i = 0; i < sizes.synced; i++) {
      const jobId = await createJob(server.url, { integrationId: `int-${i}`, type: "selective_sync", options: { entities: ["states", "labels"] } })
      await waitForJob(server.url, jobId, 20)
    }
    // One keep-alive connection read into one buffer (bench/load/timed-get.ts): this process's
    // own garbage collections stay out of the timed requests.
    const address = new URL(server.url)
    const getter = await openTimedGetter(address.hostname, Number(address.port))
    const get = getter.get
    const scrape = "/metrics"
    const health = "/healthz"
    // Warm-up: the first scrapes build the labelled metrics' series and JIT the renderer.
    for (let i = 0; i < 50; i++) {
      await get(scrape)
      await get(health)
    }
    const scrapes: Array<number> = []
    const healthz: Array<number> = []
    let bytes = 0
    for (let i = 0; i < sizes.scrapes; i++) {
      const m = await get(scrape)
      if (m.status !== 200) throw new Error(`GET /metrics answered ${m.status}`)
      scrapes.push(m.ms)
      bytes = m.bytes
      const h = await get(health)
      if (h.status !== 200) throw new Error(`GET /healthz answered ${h.status}`)
      healthz.push(h.ms)
    }
    getter.close()
    const text = await fetch(`${server.url}${scrape}`).then((r) => r.text())
    const samples = text.split("\n").filter((line) => line !== "" && !line.startsWith("#")).length
    const circuitSeries = text.split("\n").filter((line) => line.startsWith("synclog_circuit_state{")).length
    const round2 = (x: number) => Math.round(x * 100) / 100
    const summary = {
      integrations: count,
      synced: sizes.synced,
      scrapes: sizes.scrapes,
      bytes,
      samples,
      circuitSeries,
      metrics: { p50: round2(percentile(scrapes, 50)), p99: round2(percentile(scrapes, 99)), max: round2(Math.max(...scrapes)) },
      healthz: { p50: round2(percentile(healthz, 50)), p99: round2(percentile(healthz, 99)), max: round2(Math.max(...healthz)) }
    }
    ctx.details.streamsMetrics = summary
    ctx.log(
      `  /metrics: ${bytes} bytes, ${samples} samples (${circuitSeries} circuit series), p50 ${summary.metrics.p50} / p99 ${summary.metrics.p99} ms; ` +
        `/healthz p50 ${summary.healthz.p50} / p99 ${summary.healthz.p99} ms`
    )
    return [
      figure({
        name: `GET /metrics, ${count} integrations (${sizes.synced} synced once): p99 per scrape (baseline: GET /healthz, same server)`,
        unit: "ms",
        candidate: [percentile(scrapes, 99)],
        baseline: [percentile(healthz, 99)],
        target: "< 5 ms",
        met: (c) => c < 5
      }),
      figure({
        name: `GET /metrics, ${count} integrations: p50 per scrape (baseline: GET /healthz)`,
        unit: "ms",
        candidate: [percentile(scrapes, 50)],
        baseline: [percentile(healthz, 50)],
        target: "(reported)",
        met: () => true
      }),
      figure({
        name: `GET /metrics, ${count} integrations: response size (${samples} samples)`,
        unit: "KB",
        candidate: [bytes / 1024],
        target: "(reported)",
        met: () => true
      })
    ]
  } finally {
    await server.stop()
  }
}
