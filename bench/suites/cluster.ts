/**
 * Benchmark 8: cluster mode (issue 15). Many small integrations on a short interval, run by
 * one SQLite server, then by 1, 2 and 3 runners sharing one PostgreSQL database, everything on
 * this machine.
 *
 * One simulator process holds N small workspaces (1 project, 20 work items each: a job is a
 * handful of requests and batches, so the cost measured is the engine's per-job cost: queueing,
 * starting, events, views, mirror writes). Each configuration gets a fresh database and the same
 * config file: one integration per workspace, syncInterval 30 s (the minimum), initialSync
 * "scheduled", so every runner is up before the first tick, and each tick queues N jobs at once.
 * PostgreSQL is a throwaway server (scripts/postgres.ts) with its default settings (fsync on),
 * in a database of its own per configuration. Runners run `npm start`'s bundle.
 *
 * Measured from the API afterwards (`GET /api/sync/jobs`), for the jobs created in the window:
 * - jobs per second: each tick's round of N jobs, divided by the time from its first job's
 *   creation to its last job's completion (the drain rate of a burst, so the capacity of the
 *   configuration when N is large enough to keep every permit busy); median over the rounds;
 * - time to start: startedAt - createdAt of every job, p50 and p99 (the wait for a permit and
 *   the hand-off to the runner that owns the job's shard);
 * - every job completed, no integration with two jobs running at once;
 * - the machine's CPU: share of both cores busy during the window (/proc/stat), to show where
 *   two cores end.
 *
 * Sizes: 600 integrations, 3 rounds (--quick: 60 integrations, 1 round).
 * BENCH_MAX_CONCURRENT (default 16) is each server's engine.maxConcurrentJobs, as in
 * many-integrations. BENCH_PG_SETTINGS ("fsync=off,synchronous_commit=off", default none) adds
 * `-c` settings to the throwaway PostgreSQL, to see how much of its time is the disk's.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { startThrowawayPostgres } from "../../scripts/postgres.js"
import type { Context } from "../lib/context.js"
import { freePort, sleep } from "../lib/proc.js"
import type { Figure } from "../lib/report.js"
import { figure, median } from "../lib/report.js"
import { startSimulatorProcess } from "../lib/simulator.js"
import type { JobView, Server } from "../lib/synclog.js"
import { allJobs, buildBundle, startServer } from "../lib/synclog.js"

const INTERVAL_MS = 30_000
const MAX_CONCURRENT_JOBS = Number(process.env.BENCH_MAX_CONCURRENT ?? 16)
const RUNNER_COUNTS = [1, 2, 3] as const
const PG_SETTINGS = Object.fromEntries(
  (process.env.BENCH_PG_SETTINGS ?? "").split(",").filter((kv) => kv.includes("=")).map((kv) => kv.split("=", 2) as [string, string])
)

/** Busy and total jiffies of the whole machine, from /proc/stat's first line. */
const machineCpu = () => {
  const fields = readFileSync("/proc/stat", "utf8").split("\n")[0]!.trim().split(/\s+/).slice(1).map(Number)
  const idle = fields[3]! + (fields[4] ?? 0) // idle + iowait
  const all = fields.reduce((a, b) => a + b, 0)
  return { busy: all - idle, all }
}

const percentile = (xs: ReadonlyArray<number>, p: number) => {
  if (xs.length === 0) return Number.NaN
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!
}

interface Outcome {
  readonly name: string
  readonly jobs: number
  readonly notCompleted: number
  readonly overlaps: number
  /** Per tick: its jobs, first creation to last completion, and first to last creation (how long queueing them took). */
  readonly rounds: ReadonlyArray<{ readonly jobs: number; readonly drainMs: number; readonly createdOverMs: number; readonly jobsPerSecond: number }>
  readonly jobsPerSecond: number
  readonly startP50Ms: number
  readonly startP99Ms: number
  readonly machineBusyPercent: number
  readonly errors: ReadonlyArray<string>
}

/** The window's jobs, checked and measured. */
const measure = (name: string, jobs: ReadonlyArray<JobView>, windowMs: number, busyPercent: number): Outcome => {
  const t0 = Math.min(...jobs.map((j) => Date.parse(j.createdAt)))
  const inWindow = jobs.filter((j) => Date.parse(j.createdAt) < t0 + windowMs)
  const byIntegration = new Map<string, Array<JobView>>()
  for (const j of inWindow) byIntegration.set(j.integrationId, [...(byIntegration.get(j.integrationId) ?? []), j])
  let overlaps = 0
  for (const list of byIntegration.values()) {
    const sorted = [...list].sort((a, b) => Date.parse(a.createdAt) - Date.parse(b.createdAt))
    for (let k = 1; k < sorted.length; k++) {
      const prev = sorted[k - 1]!
      const cur = sorted[k]!
      if (cur.startedAt !== undefined && (prev.completedAt === undefined || Date.parse(cur.startedAt) < Date.parse(prev.completedAt))) overlaps++
    }
  }
  const rounds = [...Array(Math.ceil(windowMs / INTERVAL_MS)).keys()].flatMap((k) => {
    const round = inWindow.filter((j) => {
      const at = Date.parse(j.createdAt) - t0
      return at >= k * INTERVAL_MS - 5_000 && at < (k + 1) * INTERVAL_MS - 5_000
    })
    if (round.length === 0) return []
    const created = round.map((j) => Date.parse(j.createdAt))
    const first = Math.min(...created)
    const last = Math.max(...round.map((j) => Date.parse(j.completedAt ?? j.createdAt)))
    const drainMs = Math.max(1, last - first)
    return [{ jobs: round.length, drainMs, createdOverMs: Math.max(...created) - first, jobsPerSecond: (round.length * 1000) / drainMs }]
  })
  const waits = inWindow.filter((j) => j.startedAt !== undefined).map((j) => Date.parse(j.startedAt!) - Date.parse(j.createdAt))
  const notCompleted = inWindow.filter((j) => j.status !== "completed")
  return {
    name,
    jobs: inWindow.length,
    notCompleted: notCompleted.length,
    overlaps,
    rounds,
    jobsPerSecond: median(rounds.map((r) => r.jobsPerSecond)),
    startP50Ms: percentile(waits, 50),
    startP99Ms: percentile(waits, 99),
    machineBusyPercent: busyPercent,
    errors: [...new Set(notCompleted.map((j) => `${j.status}: ${j.error ?? ""}`))].slice(0, 5)
  }
}

export const cluster = async (ctx: Context): Promise<ReadonlyArray<Figure>> => {
  const count = ctx.quick ? 60 : 600
  const windowMs = ctx.quick ? INTERVAL_MS - 5_000 : 3 * INTERVAL_MS - 5_000
  const root = ctx.dir("cluster")
  buildBundle()
  ctx.log(`cluster: simulator with ${count} workspaces`)
  const sim = await startSimulatorProcess({ many: { count, prefix: "cw", projects: 1, workItems: 20 } })
  // Not under ctx.dir: the postgres user must be able to enter its folder when this runs as root.
  const pgDir = mkdtempSync(join(tmpdir(), "synclog-bench-postgres-"))
  const pg = startThrowawayPostgres(pgDir, await freePort(), PG_SETTINGS)
  const integrations = sim.workspaces.map((slug, i) => ({
    id: `int-${i}`,
    baseUrl: sim.url,
    workspaceSlug: slug,
    syncInterval: INTERVAL_MS / 1000,
    initialSync: "scheduled" as const
  }))

  /** Runs one configuration: servers up, the window, the drain, the jobs read back; servers stopped. */
  const runOnce = async (name: string, start: () => Promise<ReadonlyArray<Server>>): Promise<Outcome> => {
    ctx.log(`  ${name}: starting`)
    const servers = await start()
    try {
      const cpuBefore = machineCpu()
      const startedAt = Date.now()
      // The first tick comes one interval after registration; the window then, and a drain.
      while (Date.now() - startedAt < INTERVAL_MS + windowMs) await sleep(500)
      const cpuAfter = machineCpu()
      const busy = ((cpuAfter.busy - cpuBefore.busy) * 100) / Math.max(1, cpuAfter.all - cpuBefore.all)
      const deadline = Date.now() + 180_000
      let jobs: Array<JobView>
      while (true) {
        jobs = await allJobs(servers[0]!.url)
        const t0 = Math.min(...jobs.map((j) => Date.parse(j.createdAt)))
        const pending = jobs.filter((j) => Date.parse(j.createdAt) < t0 + windowMs && !["completed", "failed", "stopped"].includes(j.status))
        if ((jobs.length > 0 && pending.length === 0) || Date.now() > deadline) break
        await sleep(1000)
      }
      const outcome = measure(name, jobs, windowMs, busy)
      ctx.log(
        `  ${name}: ${outcome.jobs} jobs, ${outcome.jobsPerSecond.toFixed(1)} jobs/s (rounds ${outcome.rounds.map((r) => `${r.jobs} in ${r.drainMs} ms, queued over ${r.createdOverMs} ms`).join("; ")}), ` +
          `time to start p50 ${outcome.startP50Ms} / p99 ${outcome.startP99Ms} ms, machine ${busy.toFixed(0)}% busy, ${outcome.notCompleted} not completed`
      )
      return outcome
    } finally {
      await Promise.all(servers.map((s) => s.stop()))
    }
  }

  const engine = { maxConcurrentJobs: MAX_CONCURRENT_JOBS }
  const outcomes: Array<Outcome> = []
  try {
    outcomes.push(
      await runOnce("SQLite, one server", async () => [
        await startServer({ dir: join(root, "sqlite"), integrations, apiKey: sim.apiKey, engine, mode: "bundle" })
      ])
    )
    for (const runners of RUNNER_COUNTS) {
      const database = `bench_cluster_${runners}`
      pg.createDatabase(database)
      const runner = async (n: number) =>
        startServer({
          dir: join(root, `pg-${runners}-runner-${n}`),
          integrations,
          apiKey: sim.apiKey,
          engine,
          mode: "bundle",
          env: { SYNC_DATABASE_URL: pg.databaseUrl(database), SYNC_RUNNER_ADDRESS: `127.0.0.1:${await freePort()}` }
        })
      outcomes.push(
        await runOnce(`PostgreSQL, ${runners} runner${runners > 1 ? "s" : ""}`, async () => {
          // The first one migrates the fresh database; the others join it.
          const first = await runner(1)
          return [first, ...(await Promise.all(Array.from({ length: runners - 1 }, (_, i) => runner(i + 2))))]
        })
      )
    }
  } finally {
    pg.stop()
    rmSync(pgDir, { recursive: true, force: true })
    await sim.stop()
  }

  ctx.details.cluster = { integrations: count, windowMs, maxConcurrentJobs: MAX_CONCURRENT_JOBS, postgresSettings: PG_SETTINGS, outcomes }
  const sqlite = outcomes[0]!
  const pgRuns = outcomes.slice(1)
  return [
    ...outcomes.map((o) =>
      figure({
        name: `jobs per second, ${count} integrations every 30 s: ${o.name} (baseline: SQLite, one server)`,
        unit: "jobs/s",
        candidate: [o.jobsPerSecond],
        ...(o === sqlite ? {} : { baseline: [sqlite.jobsPerSecond] }),
        target: "(reported)",
        met: () => true
      })
    ),
    ...outcomes.map((o) =>
      figure({
        name: `time to start p99 (created -> started): ${o.name} (baseline: SQLite, one server)`,
        unit: "ms",
        candidate: [o.startP99Ms],
        ...(o === sqlite ? {} : { baseline: [sqlite.startP99Ms] }),
        target: "(reported)",
        met: () => true
      })
    ),
    figure({
      name: "scaling: jobs per second, 3 runners / 1 runner (same machine)",
      unit: "x",
      candidate: [pgRuns[2]!.jobsPerSecond / pgRuns[0]!.jobsPerSecond],
      target: "(reported; see BENCHMARKS.md for separate machines)",
      met: () => true
    }),
    figure({
      name: "cluster jobs that did not complete, or overlapped another job of their integration",
      unit: "jobs",
      candidate: [outcomes.reduce((n, o) => n + o.notCompleted + o.overlaps, 0)],
      target: "0",
      met: (c) => c === 0
    })
  ]
}
