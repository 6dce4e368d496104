/**
 * `npm run bench` — synclog side by side with raw baselines, in one run.
 *
 *   npm run bench                    every suite at full size (about 15 minutes), with CPU profiles
 *   npm run bench -- --quick         small sizes, one round, no profiles: under two minutes
 *   npm run bench -- --only replay,api   some suites (full-sync, memory, replay, api, many-integrations, streams, cluster);
 *                                    the other suites' figures of the previous run are kept in latest.json
 *   npm run bench -- --no-profile    skip the extra profiled runs
 *   npm run bench -- --keep          keep the scratch folder in $TMPDIR (databases, logs, raw profiles; ~6 GB at full size)
 *
 * BENCH_MAX_CONCURRENT (default 16) sets engine.maxConcurrentJobs of the many-integrations and cluster suites.
 * The cluster suite needs Debian's `postgresql` package (it starts a throwaway server, scripts/postgres.ts).
 * BENCH_STREAMS_PARTS (default "fan-out,slow-client,webhooks,metrics") runs only some parts of the streams suite.
 *
 * Every suite starts what it needs on loopback in separate processes (simulator, synclog
 * server, baseline, load generator), runs candidate and baseline alternately, and reports
 * medians and their ratio. Results: bench/results/latest.json (latest-quick.json for --quick),
 * a Markdown table in bench/results/latest.md, profile summaries in bench/results/profiles/.
 * Figures are never asserted by `npm test`; this prints them and which targets were met.
 */
import { execFileSync } from "node:child_process"
import { createHash } from "node:crypto"
import { readFileSync, rmSync, writeFileSync } from "node:fs"
import { loadavg, tmpdir } from "node:os"
import { join } from "node:path"
import type { Suite } from "./lib/context.js"
import { makeContext } from "./lib/context.js"
import { stopAll } from "./lib/proc.js"
import type { Figure } from "./lib/report.js"
import { consoleTable, machine, markdownTable, RESULTS_DIR, writeResults } from "./lib/report.js"
import { api } from "./suites/api.js"
import { cluster } from "./suites/cluster.js"
import { fullSync } from "./suites/full-sync.js"
import { manyIntegrations } from "./suites/many-integrations.js"
import { memory } from "./suites/memory.js"
import { replay } from "./suites/replay.js"
import { streams } from "./suites/streams.js"

const SUITES: ReadonlyArray<readonly [string, Suite]> = [
  ["full-sync", fullSync],
  ["memory", memory],
  ["replay", replay],
  ["api", api],
  ["many-integrations", manyIntegrations],
  ["streams", streams],
  ["cluster", cluster]
]

const args = process.argv.slice(2)
const quick = args.includes("--quick")
const onlyIndex = args.indexOf("--only")
const only = onlyIndex >= 0 ? new Set((args[onlyIndex + 1] ?? "").split(",")) : undefined
const keep = args.includes("--keep")
const unknown = [...(only ?? [])].filter((name) => !SUITES.some(([n]) => n === name))
if (unknown.length > 0) {
  console.error(`unknown suite(s): ${unknown.join(", ")}; choose among ${SUITES.map(([n]) => n).join(", ")}`)
  process.exit(2)
}

// Ctrl-C (or a SIGTERM) stops the simulators, servers and baselines this run started.
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    console.log(`\n${signal}: stopping the processes this run started`)
    void stopAll().then(() => process.exit(130))
  })
}

const root = join(tmpdir(), `synclog-bench-${process.pid}`)
const ctx = makeContext({ quick, profile: !quick && !args.includes("--no-profile"), root })
const m = machine()
ctx.log(`synclog benchmarks (${quick ? "quick" : "full"}) on ${m.cores} x ${m.cpuModel}, ${Math.round(m.memoryBytes / 2 ** 30)} GiB, node ${m.node}`)

/** The commit measured, and whether src/ differs from it (figures belong to a version of the engine). */
const git = (...gitArgs: Array<string>) => {
  try {
    return execFileSync("git", gitArgs, { encoding: "utf8" }).trim()
  } catch {
    return "unknown"
  }
}
const version = { commit: git("rev-parse", "--short", "HEAD"), srcChanges: git("status", "--porcelain", "--", "src").split("\n").filter((l) => l !== "") }
/** HEAD plus a hash of src/'s uncommitted changes: if it moves during a suite, its sides ran different engines. */
const fingerprint = () =>
  `${git("rev-parse", "--short", "HEAD")}+${createHash("sha1").update(git("diff", "HEAD", "--", "src")).update(git("status", "--porcelain", "--", "src")).digest("hex").slice(0, 8)}`

/** One suite's outcome as latest.json keeps it: figures, when, on which engine, how busy the machine was. */
interface SuiteRecord {
  readonly date: string
  /** HEAD + hash of src/'s uncommitted changes (two values if src/ changed during the suite). */
  readonly engine: string
  /** 1-minute load average before and after: anything else running on the machine shows here. */
  readonly load: { readonly before: number; readonly after: number }
  readonly figures: ReadonlyArray<Figure>
  readonly data: Record<string, unknown>
}

const file = quick ? "latest-quick.json" : "latest.json"
// With --only, the other suites' figures of the previous run of the same mode are kept.
const previous = ((): Record<string, SuiteRecord> => {
  if (!only) return {}
  try {
    const old = JSON.parse(readFileSync(join(RESULTS_DIR, file), "utf8")) as { details?: { suites?: Record<string, SuiteRecord> } }
    return old.details?.suites ?? {}
  } catch {
    return {}
  }
})()
const suites: Record<string, SuiteRecord> = {}
const failures: Array<string> = []
const started = Date.now()
for (const [name, suite] of SUITES) {
  if (only && !only.has(name)) {
    if (previous[name]) suites[name] = previous[name]
    continue
  }
  const before = loadavg()[0]!
  const engineBefore = fingerprint()
  const date = new Date().toISOString()
  ctx.log(`== ${name} (load average ${before.toFixed(2)}, engine ${engineBefore})`)
  if (before > 1.5) ctx.log(`!! the machine is busy (load ${before.toFixed(2)} on ${m.cores} cores): figures will be noisy`)
  try {
    const keys = new Set(Object.keys(ctx.details))
    const figures = await suite(ctx)
    const engineAfter = fingerprint()
    if (engineAfter !== engineBefore) ctx.log(`!! src/ changed during ${name} (${engineBefore} -> ${engineAfter}): its runs measured different code`)
    suites[name] = {
      date,
      engine: engineBefore === engineAfter ? engineBefore : `${engineBefore} -> ${engineAfter}`,
      load: { before, after: loadavg()[0]! },
      figures,
      data: Object.fromEntries(Object.entries(ctx.details).filter(([k]) => !keys.has(k)))
    }
  } catch (error) {
    // One broken suite must not hide the others' figures; it is reported and fails the run.
    failures.push(`${name}: ${error instanceof Error ? error.stack ?? error.message : String(error)}`)
    ctx.log(`!! ${name} failed: ${error instanceof Error ? error.message : String(error)}`)
  }
}

const date = new Date().toISOString()
const mode = quick ? "quick" : "full"
const figures = SUITES.flatMap(([name]) => suites[name]?.figures ?? [])
writeResults(file, figures, { date, mode, details: { version, suites, failures, elapsedMs: Date.now() - started } })
writeFileSync(
  join(RESULTS_DIR, quick ? "latest-quick.md" : "latest.md"),
  [
    `${date}, ${mode} run at ${version.commit}${version.srcChanges.length > 0 ? " (src/ modified)" : ""}, ${m.cores} x ${m.cpuModel}, ` +
      `${Math.round(m.memoryBytes / 2 ** 30)} GiB, node ${m.node}`,
    "",
    ...SUITES.flatMap(([name]) => {
      const record = suites[name]
      return record
        ? [`suite ${name}: ${record.date}, engine ${record.engine}, load average ${record.load.before.toFixed(2)} -> ${record.load.after.toFixed(2)}  `]
        : []
    }),
    "",
    markdownTable(figures),
    ""
  ].join("\n")
)
console.log(`\n${consoleTable(figures)}\n`)
const missed = figures.filter((f) => !f.met)
console.log(`${figures.length - missed.length} of ${figures.length} targets met; ${Math.round((Date.now() - started) / 1000)} s`)
if (failures.length > 0) console.log(`suites that failed:\n${failures.join("\n")}`)
if (!keep) rmSync(root, { recursive: true, force: true })
else console.log(`scratch files kept in ${root}`)
process.exitCode = failures.length > 0 ? 1 : 0
