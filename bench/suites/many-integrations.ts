/**
 * Benchmark 6: many integrations on a 30 s schedule.
 *
 * One simulator process holds 1,000 small workspaces (1 project, 20 work items each); the
 * synclog server's config registers one integration per workspace with syncInterval 30 (the
 * minimum) and initialSync "scheduled", so nothing is due for the first 30 s: the idle
 * scheduler is measured then. maxConcurrentJobs is 16, not the default 4: 1,000 integrations
 * every 30 s are 33 jobs/s, and 4 permits over ~110 ms jobs give ~36 jobs/s with no margin at
 * all (BENCH_MAX_CONCURRENT=4 shows it: rounds take 40-50 s and ticks are skipped). The ticks
 * then run for three minutes of real time (--quick: 50 integrations, initialSync "immediate",
 * 36 s, idle measured between rounds) while the driver samples the server's CPU time and RSS
 * from /proc every 250 ms, without calling the server. Afterwards every job is read from the
 * API (`/api/sync/jobs?limit=500&offset=`) and checked:
 *
 * - every tick ran: each integration has one scheduled job per 30 s of the window;
 * - no overlap: an integration's jobs never run at the same time;
 * - waits: queued → started stays within what maxConcurrentJobs implies (a round of N jobs
 *   drains in ceil(N / maxConcurrentJobs) job durations) plus one interval;
 * - idle cost: CPU and RSS before the first tick and in the gaps between rounds, when no job
 *   is queued or running and nothing is due.
 */
import { join } from "node:path"
import type { Context } from "../lib/context.js"
import { saveProfileSummary } from "../lib/context.js"
import { cpuMsOf, rssOf, sleep } from "../lib/proc.js"
import type { Figure } from "../lib/report.js"
import { figure, median } from "../lib/report.js"
import { startSimulatorProcess } from "../lib/simulator.js"
import type { JobView } from "../lib/synclog.js"
import { allJobs, startServer } from "../lib/synclog.js"

const INTERVAL_MS = 30_000
const MAX_CONCURRENT_JOBS = Number(process.env.BENCH_MAX_CONCURRENT ?? 16)
const MB = 1024 * 1024

interface Sample {
  readonly at: number
  readonly cpuMs: number
  readonly rss: number
  /** The simulator's CPU time: to tell the server's cost from the source's. */
  readonly simulatorCpuMs: number
}

export const manyIntegrations = async (ctx: Context): Promise<ReadonlyArray<Figure>> => {
  const count = ctx.quick ? 50 : 1000
  const windowMs = ctx.quick ? 36_000 : 180_000
  const ticks = Math.ceil(windowMs / INTERVAL_MS - 1 / 6) // ticks at 0, 30, ... strictly inside the window, 5 s margin
  const initialSync = ctx.quick ? "immediate" : "scheduled"
  const root = ctx.dir("many-integrations")
  ctx.log(`many integrations: simulator with ${count} workspaces`)
  const sim = await startSimulatorProcess({ many: { count, prefix: "ws", projects: 1, workItems: 20 } })
  try {
    if (ctx.profile) {
      // A shorter, separate run under --cpu-prof (the profiler's overhead stays out of the figures).
      ctx.log("  profiling a 65 s run of the scheduler and its jobs (--cpu-prof)")
      const profiled = await startServer({
        dir: join(root, "synclog-profile"),
        integrations: sim.workspaces.map((slug, i) => ({ id: `int-${i}`, baseUrl: sim.url, workspaceSlug: slug, syncInterval: INTERVAL_MS / 1000, initialSync: "immediate" })),
        apiKey: sim.apiKey,
        engine: { maxConcurrentJobs: MAX_CONCURRENT_JOBS },
        cpuProfile: true
      })
      await sleep(65_000)
      await profiled.stop()
      saveProfileSummary("many-integrations", profiled.profileDir, `synclog server, ${count} integrations every 30 s, 65 s from start-up (ticks at 0, 30, 60 s)`)
    }
    const server = await startServer({
      dir: join(root, "synclog"),
      integrations: sim.workspaces.map((slug, i) => ({
        id: `int-${i}`,
        baseUrl: sim.url,
        workspaceSlug: slug,
        syncInterval: INTERVAL_MS / 1000,
        initialSync
      })),
      apiKey: sim.apiKey,
      engine: { maxConcurrentJobs: MAX_CONCURRENT_JOBS }
    })
    let jobs: Array<JobView>
    let readyAt = 0
    const samples: Array<Sample> = []
    try {
      const started = Date.now()
      readyAt = started
      const lead = initialSync === "scheduled" ? INTERVAL_MS : 0
      ctx.log(`  server up; sampling for ${(lead + windowMs) / 1000} s`)
      while (Date.now() - started < lead + windowMs + 2_000) {
        samples.push({ at: Date.now(), cpuMs: cpuMsOf(server.child.pid), rss: rssOf(server.child.pid), simulatorCpuMs: cpuMsOf(sim.child.pid) })
        await sleep(250)
      }
      // Let the jobs of the last tick in the window finish, then read the history.
      const deadline = Date.now() + 120_000
      while (true) {
        jobs = await allJobs(server.url)
        const t0 = Math.min(...jobs.map((j) => Date.parse(j.createdAt)))
        const pending = jobs.filter((j) => Date.parse(j.createdAt) < t0 + windowMs && !["completed", "failed", "stopped"].includes(j.status))
        if (pending.length === 0 || Date.now() > deadline) break
        await sleep(1000)
      }
    } finally {
      await server.stop()
    }

    // ---- the window: jobs created in the first `windowMs` after the first tick
    const t0 = Math.min(...jobs.map((j) => Date.parse(j.createdAt)))
    const inWindow = jobs.filter((j) => Date.parse(j.createdAt) < t0 + windowMs)
    const byIntegration = new Map<string, Array<JobView>>()
    for (const j of inWindow) byIntegration.set(j.integrationId, [...(byIntegration.get(j.integrationId) ?? []), j])
    const shortfall = [...Array(count).keys()].filter((i) => (byIntegration.get(`int-${i}`)?.length ?? 0) < ticks)
    const extra = [...byIntegration.values()].filter((list) => list.length > ticks)

    let overlaps = 0
    let maxLatenessMs = 0
    for (const list of byIntegration.values()) {
      const sorted = [...list].sort((a, b) => Date.parse(a.createdAt) - Date.parse(b.createdAt))
      for (let k = 1; k < sorted.length; k++) {
        const prev = sorted[k - 1]!
        const cur = sorted[k]!
        if (cur.startedAt !== undefined && (prev.completedAt === undefined || Date.parse(cur.startedAt) < Date.parse(prev.completedAt))) overlaps++
        maxLatenessMs = Math.max(maxLatenessMs, Date.parse(cur.createdAt) - Date.parse(prev.createdAt) - INTERVAL_MS)
      }
    }
    const notCompleted = inWindow.filter((j) => j.status !== "completed")
    const waits = inWindow.filter((j) => j.startedAt !== undefined).map((j) => Date.parse(j.startedAt!) - Date.parse(j.createdAt))
    const durations = inWindow.filter((j) => j.duration !== undefined).map((j) => j.duration!)
    const impliedWaitMs = Math.ceil(count / MAX_CONCURRENT_JOBS) * median(durations)
    const maxWait = Math.max(...waits)

    // ---- idle gaps: no job queued or running in the window, trimmed by 1 s at each end
    const busy = inWindow
      .map((j) => [Date.parse(j.createdAt), Date.parse(j.completedAt ?? new Date().toISOString())] as const)
      .sort((a, b) => a[0] - b[0])
    const gaps: Array<readonly [number, number]> = []
    let end = busy[0]?.[1] ?? t0
    for (const [s, e] of busy) {
      if (s > end + 3_000) gaps.push([end + 1_000, s - 1_000])
      end = Math.max(end, e)
    }
    // Before the first tick (initialSync "scheduled"): registered, scheduled, nothing due.
    if (t0 - readyAt > 5_000) gaps.unshift([readyAt + 1_000, t0 - 1_000])
    const idle = gaps.flatMap(([from, to]) => {
      const inside = samples.filter((s) => s.at >= from && s.at <= to)
      if (inside.length < 4) return []
      const first = inside[0]!
      const last = inside[inside.length - 1]!
      return [{ cpuShare: (last.cpuMs - first.cpuMs) / (last.at - first.at), rss: median(inside.map((s) => s.rss)), ms: last.at - first.at }]
    })
    const during = samples.filter((s) => s.at >= t0 && s.at <= t0 + windowMs)
    const share = (pick: (s: Sample) => number) =>
      during.length > 1 ? (pick(during[during.length - 1]!) - pick(during[0]!)) / (during[during.length - 1]!.at - during[0]!.at) : Number.NaN
    const busyCpu = share((s) => s.cpuMs)
    const rounds = [...Array(ticks).keys()].map((k) => {
      const jobsOfRound = inWindow.filter((j) => {
        const at = Date.parse(j.createdAt) - t0
        return at >= k * INTERVAL_MS - 5_000 && at < (k + 1) * INTERVAL_MS - 5_000
      })
      const ends = jobsOfRound.map((j) => Date.parse(j.completedAt ?? j.createdAt))
      const starts = jobsOfRound.map((j) => Date.parse(j.createdAt))
      return { jobs: jobsOfRound.length, drainMs: ends.length > 0 ? Math.max(...ends) - Math.min(...starts) : 0 }
    })
    ctx.details.manyIntegrations = {
      integrations: count,
      windowMs,
      ticksPerIntegration: ticks,
      jobsInWindow: inWindow.length,
      integrationsShort: shortfall.length,
      integrationsWithExtraJobs: extra.length,
      notCompleted: notCompleted.length,
      notCompletedErrors: [...new Set(notCompleted.map((j) => `${j.status}: ${j.error ?? ""}`))].slice(0, 5),
      overlaps,
      maxTickLatenessMs: maxLatenessMs,
      medianJobMs: median(durations),
      maxWaitMs: maxWait,
      impliedWaitMs,
      rounds,
      idleGaps: idle,
      busyCpuShare: busyCpu,
      simulatorCpuShare: share((s) => s.simulatorCpuMs),
      peakRssMB: Math.max(...samples.map((s) => s.rss)) / MB
    }
    ctx.log(`  ${inWindow.length} jobs in the window (${count} x ${ticks} expected); rounds: ${rounds.map((r) => `${r.jobs} jobs in ${r.drainMs} ms`).join(", ")}`)
    ctx.log(`  overlaps ${overlaps}, max wait ${maxWait} ms (implied ${Math.round(impliedWaitMs)} ms), idle gaps ${idle.length}, ${notCompleted.length} not completed`)

    const idleCpu = idle.map((g) => g.cpuShare * 100)
    return [
      figure({
        name: `scheduled jobs run, ${count} integrations x ${ticks} ticks of 30 s (baseline: expected)`,
        unit: "jobs",
        candidate: [inWindow.length],
        baseline: [count * ticks],
        target: "= expected, every integration",
        met: () => shortfall.length === 0 && extra.length === 0 && inWindow.length === count * ticks
      }),
      figure({
        name: "scheduled jobs that did not complete",
        unit: "jobs",
        candidate: [notCompleted.length],
        target: "0",
        met: (c) => c === 0
      }),
      figure({
        name: "overlapping jobs of one integration",
        unit: "jobs",
        candidate: [overlaps],
        target: "0",
        met: (c) => c === 0
      }),
      figure({
        name: `max wait for a permit, queued -> started (baseline: ceil(${count}/${MAX_CONCURRENT_JOBS}) x median job time)`,
        unit: "ms",
        candidate: [maxWait],
        baseline: [impliedWaitMs],
        target: "<= baseline + 1 interval (30 s)",
        met: (c) => c <= impliedWaitMs + INTERVAL_MS
      }),
      figure({
        name: "max tick lateness (created - previous tick - 30 s)",
        unit: "ms",
        candidate: [maxLatenessMs],
        target: "(reported)",
        met: () => true
      }),
      figure({
        name: "CPU of the idle scheduler (between rounds, nothing due)",
        unit: "% of one core",
        candidate: idleCpu.length > 0 ? idleCpu : [Number.NaN],
        target: "< 5%",
        met: (c) => c < 5
      }),
      figure({
        name: "RSS of the idle scheduler (between rounds)",
        unit: "MB",
        candidate: idle.length > 0 ? idle.map((g) => g.rss / MB) : [Number.NaN],
        target: "(reported)",
        met: () => true
      }),
      figure({
        name: "CPU over the whole window (ticks and jobs)",
        unit: "% of one core",
        candidate: [busyCpu * 100],
        target: "(reported)",
        met: () => true
      })
    ]
  } finally {
    await sim.stop()
  }
}
