/**
 * Benchmark 3: memory of the server during a full sync, at three workspace sizes.
 *
 * One simulator process holds one workspace (20 projects) per size; each round starts a fresh
 * synclog server (its own process, fresh database) and runs a full sync through the API. The
 * server is measured as the brief runs it (`node --import tsx src/main.ts`) and, when the
 * project has a `build` script, as `npm start` runs it (package.json's `start` after its
 * `build`: the bundle, no TypeScript loader in the process; not in --quick). Peak RSS is the kernel's high-water mark
 * (VmHWM in /proc/<pid>/status) read when the job has completed; idle RSS is read before the
 * job. The baseline script's peak RSS is its own `process.resourceUsage().maxRSS` on the same
 * workspace. Target: under 300 MB, and flat across 50k, 100k and 200k work items.
 */
import { join } from "node:path"
import type { Context } from "../lib/context.js"
import { npmScript, peakRssOf, rssOf, runJson, sleep, tsNode } from "../lib/proc.js"
import type { Figure } from "../lib/report.js"
import { alternate, figure, median } from "../lib/report.js"
import { startSimulatorProcess } from "../lib/simulator.js"
import { buildBundle, createJob, startServer, waitForJob } from "../lib/synclog.js"

const MB = 1024 * 1024
const workspaceOf = (size: number) => `mem${size}`

type Mode = "tsx" | "bundle"
const LABEL: Record<Mode, string> = { tsx: "tsx src/main.ts", bundle: "npm start" }

interface ServerRun {
  readonly idle: number
  readonly peak: number
  readonly processed: number
  readonly ms: number
}

export const memory = async (ctx: Context): Promise<ReadonlyArray<Figure>> => {
  const sizes = ctx.quick ? [5_000, 10_000, 20_000] : [50_000, 100_000, 200_000]
  const rounds = ctx.quick ? 1 : 2
  const modes: Array<Mode> = ["tsx"]
  // --quick keeps to the brief's way of starting the server, for time.
  if (!ctx.quick && buildBundle()) modes.push("bundle")
  const root = ctx.dir("memory")
  const figures: Array<Figure> = []
  const peaks = new Map<string, number>()
  const details: Array<unknown> = []

  const server = async (mode: Mode, size: number, round: number, simUrl: string, apiKey: string): Promise<ServerRun> => {
    const running = await startServer({
      dir: join(root, `synclog-${mode}-${size}-${round}`),
      integrations: [{ id: "bench", baseUrl: simUrl, workspaceSlug: workspaceOf(size) }],
      apiKey,
      mode
    })
    try {
      await sleep(1000)
      const idle = rssOf(running.child.pid)
      const job = await waitForJob(
        running.url,
        await createJob(running.url, { integrationId: "bench", type: "full_sync", options: { batchSize: 1000 } }),
        500
      )
      const peak = peakRssOf(running.child.pid)
      ctx.log(`  synclog (${mode}) ${size}: idle ${Math.round(idle / MB)} MB, peak ${Math.round(peak / MB)} MB, ${job.stats.processed} records in ${job.duration} ms`)
      return { idle, peak, processed: job.stats.processed, ms: job.duration! }
    } finally {
      await running.stop()
    }
  }

  ctx.log(`memory: simulator with workspaces of ${sizes.join(", ")} work items; server as ${modes.map((m) => LABEL[m]).join(" and ")}`)
  const sim = await startSimulatorProcess({ workspaces: sizes.map((size) => ({ slug: workspaceOf(size), projects: 20, workItems: size, seed: 2 })) })
  try {
    for (const size of sizes) {
      const runs = await alternate(
        rounds,
        async (round) => {
          // Both ways of starting the server, in alternating order too.
          const order = round % 2 === 0 ? modes : [...modes].reverse()
          const out: Partial<Record<Mode, ServerRun>> = {}
          for (const mode of order) out[mode] = await server(mode, size, round, sim.url, sim.apiKey)
          return out
        },
        async (round) => {
          const run = await runJson<{ records: number; ms: number; peakRssBytes: number }>({
            args: [...tsNode(), "bench/baseline/plane-to-sqlite.ts", sim.url, workspaceOf(size), sim.apiKey, join(root, `baseline-${size}-${round}.db`)]
          })
          ctx.log(`  baseline ${size}: peak ${Math.round(run.peakRssBytes / MB)} MB`)
          return run
        }
      )
      const baselinePeaks = runs.baseline.map((r) => r.peakRssBytes / MB)
      peaks.set(`baseline-${size}`, median(baselinePeaks))
      details.push({ size, synclog: runs.candidate, baseline: runs.baseline })
      for (const mode of modes) {
        const of = runs.candidate.map((r) => r[mode]!)
        peaks.set(`${mode}-${size}`, median(of.map((r) => r.peak / MB)))
        figures.push(
          figure({
            name: `peak RSS, full sync of ${size / 1000}k work items (${LABEL[mode]})`,
            unit: "MB",
            candidate: of.map((r) => r.peak / MB),
            baseline: baselinePeaks,
            target: "< 300 MB",
            met: (c) => c < 300
          })
        )
        if (size === sizes[0]) {
          figures.push(
            figure({
              name: `idle RSS after start-up (${LABEL[mode]}; baseline: an empty node process)`,
              unit: "MB",
              candidate: of.map((r) => r.idle / MB),
              baseline: [await emptyNodeRss()],
              target: "(reported)",
              met: () => true
            })
          )
        }
      }
    }
  } finally {
    await sim.stop()
  }
  const [first, last] = [sizes[0]!, sizes[sizes.length - 1]!]
  for (const mode of modes) {
    const a = peaks.get(`${mode}-${first}`)!
    const b = peaks.get(`${mode}-${last}`)!
    figures.push(
      figure({
        name: `peak RSS growth ${first / 1000}k -> ${last / 1000}k work items (${LABEL[mode]})`,
        unit: "MB",
        candidate: [b - a],
        baseline: [peaks.get(`baseline-${last}`)! - peaks.get(`baseline-${first}`)!],
        target: `flat: < 10% of the ${first / 1000}k peak`,
        met: (c) => c < 0.1 * a
      })
    )
  }
  const start = modes.includes("bundle") ? npmScript("start") : undefined
  ctx.details.memory = {
    commands: {
      tsx: "node --import tsx src/main.ts",
      ...(start ? { bundle: `npm run build, then node ${[...start.flags, ...start.script].join(" ")}` } : {})
    },
    runs: details
  }
  return figures
}

/** RSS of a node process doing nothing: the floor any Node server starts from. */
const emptyNodeRss = async () => {
  const result = await runJson<{ rss: number }>({
    args: ["-e", "setTimeout(() => console.log(JSON.stringify({ rss: process.memoryUsage().rss })), 500)"]
  })
  return result.rss / MB
}
