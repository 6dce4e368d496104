/**
 * The load generator, in its own process so it never competes with a server under test for an
 * event loop: autocannon runs, one after another, each against one endpoint and cycling through
 * its `paths` (e.g. many job ids, so the job detail endpoint is not measured on one hot row).
 * Each run is preceded by a warm-up run whose figures are discarded.
 *
 *   node --import tsx bench/load-worker.ts spec.json
 *
 * spec.json (a file: thousands of job paths do not fit in one command-line argument):
 *   {"connections": 10, "duration": 10, "warmup": 1,
 *    "runs": [{"label": "synclog list", "url": "http://127.0.0.1:3001", "paths": ["/api/sync/jobs?limit=20"]}]}
 *
 * Prints `{"results": [{"label", "requestsPerSecond", "p50", "p99", "requests", "errors", "non2xx"}]}` (ms).
 */
import autocannon from "autocannon"
import { readFileSync } from "node:fs"

export interface LoadRun {
  readonly label: string
  readonly url: string
  readonly paths: ReadonlyArray<string>
}

export interface LoadSpec {
  readonly runs: ReadonlyArray<LoadRun>
  readonly connections: number
  /** Seconds measured per run. */
  readonly duration: number
  /** Seconds of warm-up per run (not measured). */
  readonly warmup: number
}

export interface LoadResult {
  readonly label: string
  readonly requestsPerSecond: number
  readonly p50: number
  readonly p99: number
  readonly requests: number
  readonly errors: number
  readonly non2xx: number
}

const spec = JSON.parse(readFileSync(process.argv[2] ?? "", "utf8")) as LoadSpec

const load = (run: LoadRun, duration: number) => {
  let next = 0
  return autocannon({
    url: run.url,
    connections: spec.connections,
    pipelining: 1,
    duration,
    timeout: 10,
    requests: [
      {
        setupRequest: (request) => ({ ...request, method: "GET", path: run.paths[next++ % run.paths.length]! })
      }
    ]
  })
}

const results: Array<LoadResult> = []
for (const run of spec.runs) {
  if (spec.warmup > 0) await load(run, spec.warmup)
  const r = await load(run, spec.duration)
  results.push({
    label: run.label,
    // Completed requests over the measured time (r.duration is in seconds).
    requestsPerSecond: r.requests.total / r.duration,
    p50: r.latency.p50,
    p99: r.latency.p99,
    requests: r.requests.total,
    errors: r.errors + r.timeouts,
    non2xx: r.non2xx
  })
}
console.log(JSON.stringify({ results }))
