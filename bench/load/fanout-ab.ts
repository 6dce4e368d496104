/**
 * A smaller fan-out run for A/B work on a shared machine (not part of `npm run bench`): one
 * simulator workspace of `items` work items, then `rounds` x (a full sync with `clients` SSE
 * clients attached, the same sync with none), alternating on fresh servers (the bundle, as
 * `npm start` runs it). Per run: the server's CPU (user + system, /proc) during the sync, and
 * for the run with clients the load process's report. Prints per run and a JSON summary with
 * the server's extra CPU per event per client (with minus the neighbouring run without).
 *
 *   npx tsx bench/load/fanout-ab.ts '{"clients":1000,"items":10000,"batchSize":100,"rounds":2}'
 *
 * `writers` (e.g. ["process","inline"]) runs the clients' sync once per SYNC_SSE_WRITER each round.
 * `load` names another load script (e.g. an older copy) to compare load processes; `processes`
 * is passed to the load process; `profile` writes a CPU profile of the servers with clients. batchSize 100 over 10,000 items writes about 200 events, as
 * the full-size suite's batchSize 1000 over 100,000 does.
 */
import Database from "better-sqlite3"
import { mkdtempSync, readFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import type { LoadReport, LoadSpec } from "./sse-clients.js"
import { firstJsonLine, processTree, sleep, spawnNode, tsNode } from "../lib/proc.js"
import { startSimulatorProcess } from "../lib/simulator.js"
import { buildBundle, createJob, startServer, waitForJob } from "../lib/synclog.js"

interface AbSpec {
  readonly clients?: number
  readonly items?: number
  readonly batchSize?: number
  readonly rounds?: number
  readonly load?: string
  readonly processes?: number
  readonly build?: boolean
  /** A V8 CPU profile of the servers with clients (through tsx), into `<tmp>/with-N/profile`. */
  readonly profile?: boolean
  /** SYNC_SSE_WRITER of the runs with clients; several alternate within each round (default: the server's default). */
  readonly writers?: ReadonlyArray<"process" | "inline">
}

const ab = JSON.parse(process.argv[2] ?? "{}") as AbSpec
const clients = ab.clients ?? 1000
const items = ab.items ?? 10_000
const batchSize = ab.batchSize ?? 100
const rounds = ab.rounds ?? 2
const loadScript = ab.load ?? "bench/load/sse-clients.ts"

/** A process's user and system CPU so far, ms (/proc/<pid>/stat, fields 14 and 15, in 1/100 s). */
const cpuOfOne = (pid: number) => {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
  return { user: Number(fields[11]) * 10, system: Number(fields[12]) * 10 }
}
/** The same over the server and the processes it started (its SSE writer process). */
const cpuOf = (pid: number) =>
  processTree(pid).reduce((sum, p) => {
    try {
      const c = cpuOfOne(p)
      return { user: sum.user + c.user, system: sum.system + c.system }
    } catch {
      return sum
    }
  }, { user: 0, system: 0 })

const logPosition = (dbPath: string): number => {
  const db = new Database(dbPath, { readonly: true, fileMustExist: true })
  try {
    return (db.prepare("SELECT COALESCE(MAX(position), 0) AS p FROM events").get() as { p: number }).p
  } finally {
    db.close()
  }
}

if (ab.build !== false) buildBundle()
const root = mkdtempSync(join(tmpdir(), "fanout-ab-"))
const sim = await startSimulatorProcess({ workspaces: [{ slug: "ab", projects: 20, workItems: items, seed: 3 }] })

interface Run {
  readonly clients: number
  readonly ms: number
  readonly serverCpuMs: number
  readonly serverUserMs: number
  readonly serverSystemMs: number
  readonly events: number
  readonly load?: LoadReport
}

const run = async (name: string, n: number, writer?: "process" | "inline"): Promise<Run> => {
  const server = await startServer({
    dir: join(root, name),
    ...(writer === undefined ? {} : { env: { SYNC_SSE_WRITER: writer } }),
    integrations: [{ id: "ab", baseUrl: sim.url, workspaceSlug: "ab" }],
    apiKey: sim.apiKey,
    ...(ab.profile && n > 0 ? { mode: "tsx" as const, cpuProfile: true } : { mode: "bundle" as const })
  })
  try {
    await sleep(500)
    const after = logPosition(server.dbPath)
    let report: Promise<LoadReport> | undefined
    let load: ReturnType<typeof spawnNode> | undefined
    if (n > 0) {
      const spec: LoadSpec = { url: server.url, clients: n, after, timeoutMs: 10 * 60_000, ...(ab.processes ? { processes: ab.processes } : {}) }
      load = spawnNode({ args: [...tsNode(), loadScript, JSON.stringify(spec)], captureStdout: true })
      let text = ""
      load.process.stdout!.on("data", (c: Buffer) => (text += c.toString("utf8")))
      report = load.exited.then(() => JSON.parse(text.trim().split("\n").pop()!) as LoadReport)
      await firstJsonLine(load, 120_000)
      await sleep(500)
    }
    const cpu0 = cpuOf(server.child.pid)
    const own0 = cpuOfOne(server.child.pid)
    const job = await waitForJob(server.url, await createJob(server.url, { integrationId: "ab", type: "full_sync", options: { batchSize } }), 100)
    const cpu1 = cpuOf(server.child.pid)
    const own1 = cpuOfOne(server.child.pid)
    const serverUserMs = cpu1.user - cpu0.user
    const serverSystemMs = cpu1.system - cpu0.system
    const serverCpuMs = serverUserMs + serverSystemMs
    const result = report ? await report : undefined
    const events = logPosition(server.dbPath) - after
    const out: Run = { clients: n, ms: job.duration!, serverCpuMs, serverUserMs, serverSystemMs, events, ...(result ? { load: result } : {}) }
    const l = result
    console.log(
      `${name}: ${job.duration} ms, server CPU ${serverUserMs} + ${serverSystemMs} ms (user + system; its own process ${own1.user - own0.user} + ${own1.system - own0.system}), ${events} events` +
        (l
          ? `; clients got ${l.eventsPerClient.min}-${l.eventsPerClient.max}, gaps ${l.clientsWithGaps}, complete ${l.complete}, ` +
            `delay p50/p99 ${l.delay.p50}/${l.delay.p99} ms (BatchCommitted ${l.delayBatch.p50}/${l.delayBatch.p99}, others ${l.delayOther.p50}/${l.delayOther.p99}), spread p50/p99 ${l.spread.p50}/${l.spread.p99} ms, ` +
            `load CPU ${l.cpu ? `${l.cpu.userMs}+${l.cpu.systemMs} ms, ${l.cpu.perMessageUs} µs/message` : "?"}`
          : "")
    )
    return out
  } finally {
    await server.stop()
  }
}

const writers = ab.writers ?? [undefined]
const withRuns = new Map<string, Array<Run>>(writers.map((w) => [w ?? "default", []]))
const withoutRuns: Array<Run> = []
try {
  for (let r = 0; r < rounds; r++) {
    // Rotate who goes first.
    const order = [...writers.map((w) => ({ w, n: clients })), { w: undefined, n: 0 }]
    for (let i = 0; i < order.length; i++) {
      const { n, w } = order[(i + r) % order.length]!
      if (n === 0) withoutRuns.push(await run(`without-${r}`, 0))
      else withRuns.get(w ?? "default")!.push(await run(`with-${w ?? "default"}-${r}`, n, w))
    }
  }
} finally {
  await sim.stop()
}
for (const [writer, runs] of withRuns) {
  console.log(JSON.stringify({
    writer,
    clients,
    items,
    batchSize,
    loadScript,
    serverExtraCpuPerEventPerClientUs: runs.map((w, i) =>
      Math.round((((w.serverCpuMs - withoutRuns[i]!.serverCpuMs) * 1000) / (w.events * clients)) * 10) / 10
    ),
    serverExtraUserSystemPerEventPerClientUs: runs.map((w, i) => [
      Math.round((((w.serverUserMs - withoutRuns[i]!.serverUserMs) * 1000) / (w.events * clients)) * 10) / 10,
      Math.round((((w.serverSystemMs - withoutRuns[i]!.serverSystemMs) * 1000) / (w.events * clients)) * 10) / 10
    ]),
    msWith: runs.map((r) => r.ms),
    msWithout: withoutRuns.map((r) => r.ms),
    delayP50: runs.map((r) => r.load?.delay.p50),
    delayP99: runs.map((r) => r.load?.delay.p99),
    spreadP50: runs.map((r) => r.load?.spread.p50),
    spreadP99: runs.map((r) => r.load?.spread.p99),
    loadCpuPerMessageUs: runs.map((r) => r.load?.cpu?.perMessageUs)
  }))
}
process.exit(0)
