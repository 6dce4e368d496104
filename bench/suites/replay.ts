/**
 * Benchmark 4: replay. A log of 1,000,000 events (bench/fixtures/history.ts: the real event
 * shapes, in a database made by synclog's migrations) is rebuilt into every view by synclog's
 * own CLI, run as package.json's `replay` script spells it (`npm run replay -- --db <file>`,
 * node flags included), which times `rebuild` and prints events/s. The baseline (bench/baseline/scan-events.ts) scans the same events
 * table raw with better-sqlite3 and JSON.parses every payload. Both run as fresh processes,
 * alternately; both times exclude process start-up.
 */
import { closeSync, fsyncSync, openSync } from "node:fs"
import { join } from "node:path"
import type { Context } from "../lib/context.js"
import { saveProfileSummary } from "../lib/context.js"
import { npmScript, runJson, spawnNode, tsNode } from "../lib/proc.js"
import type { Figure } from "../lib/report.js"
import { alternate, figure } from "../lib/report.js"
import { profileFlags } from "../lib/synclog.js"
import type { HistoryResult } from "../fixtures/history.js"

/**
 * Runs `npm run replay -- --db <file>` as package.json spells it (node flags included), in one
 * process; parses "Replayed N events into J jobs and I integrations in M ms (R events/s)".
 */
export const replayCli = async (file: string, profileDir?: string): Promise<{ events: number; ms: number; rate: number }> => {
  const { flags, script } = npmScript("replay")
  const child = spawnNode({
    args: [...flags, ...(profileDir ? profileFlags(profileDir) : []), ...script, "--db", file],
    ...(profileDir ? { env: { SYNCLOG_BENCH_SQL_TIMING: join(profileDir, "sql-timing.json") } } : {}),
    captureStdout: true
  })
  let out = ""
  child.process.stdout!.setEncoding("utf8").on("data", (chunk: string) => (out += chunk))
  const code = await child.exited
  const match = /Replayed (\d+) events .* in (\d+) ms \((\d+) events\/s\)/.exec(out)
  if (code !== 0 || !match) throw new Error(`replay failed (${code}): ${out}`)
  return { events: Number(match[1]), ms: Number(match[2]), rate: Number(match[3]) }
}

export const replay = async (ctx: Context): Promise<ReadonlyArray<Figure>> => {
  const events = ctx.quick ? 100_000 : 1_000_000
  const rounds = ctx.quick ? 1 : 3
  const root = ctx.dir("replay")
  const file = join(root, "history.db")
  ctx.log(`replay: writing a log of ${events} events`)
  const history = await runJson<HistoryResult>({
    args: [...tsNode(), "bench/fixtures/history.ts", JSON.stringify({ file, events, integrations: 10 })]
  })
  ctx.log(`  ${history.events} events, ${history.jobs} jobs, ${history.logLines} log lines in ${history.ms} ms`)
  // The fixture's ~500 MB are still dirty in the OS's cache: the first fsync on the file (the
  // replay's switch to a rollback journal makes one) would write them all out, ~0.3-0.4 s billed
  // to round 1. A server's file has long been synced by its checkpoints; so is this one, now.
  const fd = openSync(file, "r+")
  try {
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }

  const runs = await alternate(
    rounds,
    async () => {
      const run = await replayCli(file)
      ctx.log(`  synclog replay: ${run.rate} events/s`)
      return run
    },
    async () => {
      const run = await runJson<{ events: number; ms: number; eventsPerSecond: number }>({
        args: [...tsNode(), "bench/baseline/scan-events.ts", file]
      })
      ctx.log(`  raw scan: ${run.eventsPerSecond} events/s`)
      return run
    }
  )
  ctx.details.replay = { history: { ...history, sampleJobIds: undefined }, synclog: runs.candidate, baseline: runs.baseline }
  if (ctx.profile) {
    ctx.log("  profiling one more replay (--cpu-prof)")
    const profileDir = join(root, "profile")
    await replayCli(file, profileDir)
    saveProfileSummary("replay", profileDir, `synclog replay CLI (rebuild) of ${history.events} events`)
  }
  return [
    figure({
      name: `replay, ${Math.round(history.events / 1000)}k events into every view`,
      unit: "events/s",
      candidate: runs.candidate.map((r) => r.rate),
      baseline: runs.baseline.map((r) => r.eventsPerSecond),
      target: ">= 300,000 events/s and >= 0.5 x raw scan",
      met: (c, ratio) => c >= 300_000 && ratio !== null && ratio >= 0.5
    })
  ]
}
