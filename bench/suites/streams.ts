/**
 * Live streams (issue 12): what SSE followers of `GET /api/sync/stream` cost the engine, and
 * whether they get what they are owed.
 *
 * One simulator process serves a workspace of 100,000 work items over 20 projects (--quick:
 * 10,000). Each run starts a fresh synclog server (as `npm start` runs it, fresh database),
 * reads the log's position from its database, attaches the load process
 * (bench/load/sse-clients.ts: raw sockets, in a process of its own) with every client starting
 * after that position, runs one full sync through the API and lets the load process report.
 *
 * - Fan-out (`fanOut`): a full sync (batchSize 1000, as the full-sync suite) with 1,000 clients
 *   (--quick: 100), beside the same sync with no client attached and the raw baseline
 *   (bench/baseline/plane-to-sqlite.ts), the three in rotating order every round. Figures:
 *   throughput with clients against without and against the baseline; every client received
 *   every event (consecutive positions, count = the log's); delay from the event's `recordedAt`
 *   to receipt (p50/p99, all events and per kind); the fan-out spread; server RSS with the
 *   clients attached (idle) and at the sync's peak, against the runs without clients.
 * - Slow client (`slowClient`): one client reads nothing for the whole sync, beside a few
 *   reading clients. A follower is cut off only once 10,000 events wait in its buffer on the
 *   server (DEFAULT_FOLLOWER_BUFFER), and only after the kernel's socket buffers filled first
 *   (on loopback here the send buffer grows to 4 MB: about 9,000 more events of ~450 bytes; a
 *   15,000-event sync was not enough), while a batchSize-1000 sync of 100,000 items writes
 *   about 200 events. So this part syncs with small batches (batchSize 4, about 25,500 events;
 *   --quick: batchSize 1 over a 25k workspace): the same sync runs with and
 *   without the slow client, and the figures compare the engine's throughput and the reading
 *   clients' delay between the two, and check the cut-off and the gap-free resume.
 *
 * - Webhooks (`webhooks`, bench/suites/streams-webhooks.ts): 10,000 deliveries queued (10
 *   endpoints x 1,000) drained to a local receiver, alone and during a full sync (batchSize 1000).
 * - Metrics (`metrics`, bench/suites/streams-metrics.ts): `GET /metrics` with 1,000
 *   integrations, p50/p99 per scrape beside `GET /healthz`.
 *
 * Each part is its own function returning its figures.
 */
import Database from "better-sqlite3"
import { cpus } from "node:os"
import { join } from "node:path"
import type { LoadReport, LoadSpec } from "../load/sse-clients.js"
import { Histogram } from "../load/sse-wire.js"
import type { Context } from "../lib/context.js"
import type { Child } from "../lib/proc.js"
import { firstJsonLine, machineCpuMs, peakRssOf, rssOf, runJson, sleep, spawnNode, treeCpuMsOf, treeSum, tsNode } from "../lib/proc.js"
import type { Figure } from "../lib/report.js"
import { figure, median } from "../lib/report.js"
import type { Simulator } from "../lib/simulator.js"
import { startSimulatorProcess } from "../lib/simulator.js"
import type { JobView } from "../lib/synclog.js"
import { buildBundle, createJob, startServer, waitForJob } from "../lib/synclog.js"
import { metrics } from "./streams-metrics.js"
import { webhooks } from "./streams-webhooks.js"

const MB = 1024 * 1024
const FAN_WORKSPACE = "streams"
const SLOW_WORKSPACE = "streams-slow"

/** The parts this suite has; BENCH_STREAMS_PARTS (a comma list of them) runs only some. */
const PARTS = ["fan-out", "slow-client", "webhooks", "metrics"] as const

export const streams = async (ctx: Context): Promise<ReadonlyArray<Figure>> => {
  const parts = new Set((process.env.BENCH_STREAMS_PARTS ?? PARTS.join(",")).split(",").map((p) => p.trim()))
  const unknown = [...parts].filter((p) => !(PARTS as ReadonlyArray<string>).includes(p))
  if (unknown.length > 0) throw new Error(`BENCH_STREAMS_PARTS: unknown part(s) ${unknown.join(", ")}; choose among ${PARTS.join(", ")}`)
  const sizes = ctx.quick
    ? { workItems: 10_000, clients: 100, rounds: 1, slowWorkItems: 25_000, slowBatch: 1, slowReaders: 10, endpoints: 10, events: 1_000, integrations: 1_000, synced: 10, scrapes: 300 }
    : { workItems: 100_000, clients: 1_000, rounds: 3, slowWorkItems: 100_000, slowBatch: 4, slowReaders: 50, endpoints: 10, events: 1_000, integrations: 1_000, synced: 50, scrapes: 2_000 }
  const root = ctx.dir("streams")
  if (!buildBundle()) throw new Error("the streams suite measures the server as `npm start` runs it, and package.json has no build script")
  ctx.log(`streams (${[...parts].join(", ")}): simulator with ${sizes.workItems} work items${parts.has("slow-client") && sizes.slowWorkItems !== sizes.workItems ? ` and ${sizes.slowWorkItems}` : ""} over 20 projects`)
  const sim = await startSimulatorProcess({
    workspaces: [
      { slug: FAN_WORKSPACE, projects: 20, workItems: sizes.workItems, seed: 3 },
      ...(parts.has("slow-client") && sizes.slowWorkItems !== sizes.workItems ? [{ slug: SLOW_WORKSPACE, projects: 20, workItems: sizes.slowWorkItems, seed: 4 }] : [])
    ]
  })
  try {
    const env: Env = { ctx, sim, root }
    const slowWorkspace = sizes.slowWorkItems !== sizes.workItems ? SLOW_WORKSPACE : FAN_WORKSPACE
    // Each part of the issue is its own function (webhooks and metrics in their own files).
    return [
      ...(parts.has("fan-out") ? await fanOut(env, sizes) : []),
      ...(parts.has("slow-client") ? await slowClient(env, { ...sizes, workspace: slowWorkspace }) : []),
      ...(parts.has("webhooks") ? await webhooks(env, { ...sizes, workspace: FAN_WORKSPACE }) : []),
      ...(parts.has("metrics") ? await metrics(env, { ...sizes, workspace: FAN_WORKSPACE }) : [])
    ]
  } finally {
    await sim.stop()
  }
}

export interface Env {
  readonly ctx: Context
  readonly sim: Simulator
  readonly root: string
}

/** One full sync on a fresh server, with `clients` followers attached (0: none, no load process). */
interface SyncRun {
  readonly job: JobView
  readonly rate: number
  /**
   * Server RSS before the clients attached, and once they are attached (idle), bytes. Server
   * figures (RSS, peak, CPU) include the processes it started: its SSE writer process.
   */
  readonly rssIdle: number
  readonly rssAttached: number
  /** The server's peak RSS (VmHWM) at the end of the sync, bytes. */
  readonly rssPeak: number
  /** The server's CPU (user + system) from the job's creation to its end, ms. */
  readonly serverCpuMs: number
  /**
   * CPU over the same window, ms: the simulator's, the load process's (0 without clients), and
   * the whole machine's (/proc/stat, summed over its cores: busy, idle, stolen by the hypervisor).
   */
  readonly cpu: { readonly simulatorMs: number; readonly loadMs: number; readonly machine: ReturnType<typeof machineCpuMs> }
  readonly load: LoadReport | undefined
  /** Per event, commit to the first and to the last client's receipt (see `eventDelays`). */
  readonly perEvent: EventDelays | undefined
  /** Events the log holds after the clients' start position, up to the job's last one. */
  readonly logEvents: number
}

const syncWithClients = async (
  env: Env,
  options: { readonly name: string; readonly workspace: string; readonly batchSize: number; readonly clients: number; readonly slow: boolean }
): Promise<SyncRun> => {
  const { ctx, sim, root } = env
  const dir = join(root, options.name)
  const server = await startServer({
    dir,
    integrations: [{ id: "bench", baseUrl: sim.url, workspaceSlug: options.workspace }],
    apiKey: sim.apiKey,
    // BENCH_STREAMS_PROFILE=1: a V8 CPU profile of the server (through tsx, so only the profile is worth reading).
    ...(process.env.BENCH_STREAMS_PROFILE === "1" ? { mode: "tsx" as const, cpuProfile: true } : { mode: "bundle" as const })
  })
  let load: Child | undefined
  try {
    await sleep(1000)
    const rssIdle = treeSum(server.child.pid, rssOf)
    const after = logPosition(server.dbPath)
    let report: Promise<LoadReport> | undefined
    if (options.clients > 0 || options.slow) {
      const spec: LoadSpec = { url: server.url, clients: options.clients, after, slow: options.slow, timeoutMs: 20 * 60_000 }
      load = spawnNode({ args: [...tsNode(), "bench/load/sse-clients.ts", JSON.stringify(spec)], captureStdout: true, logFile: join(dir, "load.log") })
      report = lastJsonLine<LoadReport>(load)
      // Awaited after the job; if the job fails first, the suite reports that error, not this one.
      report.catch(() => {})
      const ready = await firstJsonLine<{ connectMs: number }>(load, 300_000)
      ctx.log(`  ${options.clients} clients${options.slow ? " + 1 slow" : ""} attached in ${ready.connectMs} ms`)
      await sleep(1000)
    }
    const rssAttached = treeSum(server.child.pid, rssOf)
    const cpuBefore = treeCpuMsOf(server.child.pid)
    const simBefore = treeCpuMsOf(sim.child.pid)
    const machineBefore = machineCpuMs()
    const job = await waitForJob(
      server.url,
      await createJob(server.url, { integrationId: "bench", type: "full_sync", options: { batchSize: options.batchSize } }),
      100
    )
    const rssPeak = treeSum(server.child.pid, peakRssOf)
    const serverCpuMs = treeCpuMsOf(server.child.pid) - cpuBefore
    const simulatorMs = treeCpuMsOf(sim.child.pid) - simBefore
    const machineAfter = machineCpuMs()
    const machine = {
      busy: machineAfter.busy - machineBefore.busy,
      idle: machineAfter.idle - machineBefore.idle,
      steal: machineAfter.steal - machineBefore.steal
    }
    const result = report ? await report : undefined
    // The load process exits at the job's terminal event: its own figure (every process of it,
    // from its clients' attach on; they idle until the job starts).
    const cpu = { simulatorMs, machine, loadMs: result ? result.cpu.userMs + result.cpu.systemMs : 0 }
    const until = result?.until ?? logPosition(server.dbPath)
    const logEvents = countEvents(server.dbPath, after, until)
    const perEvent = result ? eventDelays(server.dbPath, after, until, result.receipts) : undefined
    const rate = job.stats.processed / (job.duration! / 1000)
    ctx.log(
      `  ${options.name}: ${job.stats.processed} records in ${job.duration} ms (${Math.round(rate)}/s), peak RSS ${Math.round(rssPeak / MB)} MB` +
        (result
          ? `; ${result.clients} clients got ${result.eventsPerClient.min}-${result.eventsPerClient.max} of ${logEvents} events ` +
            `(${Math.round(result.bytes / Math.max(1, result.clients * result.eventsPerClient.max))} bytes each), ` +
            `${result.clientsWithGaps} with gaps, delay p50 ${result.delay.p50} / p99 ${result.delay.p99} ms, ` +
            `spread p99 ${result.spread.p99} ms, load process ${result.cpu.perMessageUs} µs CPU per message` +
            (result.slow ? `; slow client ${JSON.stringify(result.slow)}` : "")
          : "")
    )
    const { busy, idle, steal } = cpu.machine
    ctx.log(
      `  ${options.name}: CPU during the sync: server ${Math.round(serverCpuMs)} ms, simulator ${Math.round(cpu.simulatorMs)} ms, ` +
        `load process ${Math.round(cpu.loadMs)} ms; machine busy ${Math.round(busy)} ms of ${Math.round(busy + idle + steal)} ` +
        `(${Math.round((100 * busy) / (busy + idle + steal))}%, stolen ${Math.round(steal)} ms)`
    )
    if (perEvent) {
      ctx.log(
        `  ${options.name}: per event, commit -> first client p50 ${perEvent.first.p50} / p99 ${perEvent.first.p99} ms, -> last client ` +
          `p50 ${perEvent.last.p50} / p99 ${perEvent.last.p99} ms; the latest to reach their last client: ` +
          perEvent.worst.map((w) => `${w.position} ${w.type} (first ${w.first}, last ${w.last} ms, ${w.afterPrevious} ms after the previous event)`).join(", ")
      )
    }
    return { job, rate, rssIdle, rssAttached, rssPeak, serverCpuMs, cpu, load: result, perEvent, logEvents }
  } finally {
    await server.stop()
    if (load) await load.exited
  }
}

/** A read-only look at the server's database file (WAL: a reader never blocks the server). */
const readLog = <A>(dbPath: string, read: (db: Database.Database) => A): A => {
  const db = new Database(dbPath, { readonly: true, fileMustExist: true })
  try {
    return read(db)
  } finally {
    db.close()
  }
}

/** The log's latest position. */
const logPosition = (dbPath: string): number =>
  readLog(dbPath, (db) => (db.prepare("SELECT COALESCE(MAX(position), 0) AS p FROM events").get() as { p: number }).p)

const countEvents = (dbPath: string, after: number, until: number): number =>
  readLog(dbPath, (db) => (db.prepare("SELECT COUNT(*) AS n FROM events WHERE position > ? AND position <= ?").get(after, until) as { n: number }).n)

interface EventDelays {
  /** Over the events (not the clients' messages): recordedAt -> the first client's receipt, and the last's, ms. */
  readonly first: { readonly p50: number; readonly p99: number }
  readonly last: { readonly p50: number; readonly p99: number }
  /** The five events that reached their last client latest. */
  readonly worst: ReadonlyArray<{ position: number; type: string; first: number; last: number; afterPrevious: number }>
}

/**
 * Which events make the delay's tail: each event's `recordedAt` from the log against the first
 * and the last receipt over the clients. An event late at its first client was late on the
 * server's side (hand-over, IPC, the writer's turn); one late only at its last, in the fan-out.
 */
const eventDelays = (dbPath: string, after: number, until: number, receipts: LoadReport["receipts"]): EventDelays => {
  const rows = readLog(dbPath, (db) =>
    db.prepare("SELECT position, type, recorded_at AS at FROM events WHERE position > ? AND position <= ? ORDER BY position").all(after, until) as Array<{ position: number; type: string; at: string }>)
  const firsts = new Histogram()
  const lasts = new Histogram()
  const events = rows.flatMap((row, i) => {
    const first = receipts.first[row.position - after - 1]
    const last = receipts.last[row.position - after - 1]
    if (first == null || last == null) return []
    const at = Date.parse(row.at)
    firsts.add(first - at)
    lasts.add(last - at)
    const afterPrevious = i === 0 ? 0 : at - Date.parse(rows[i - 1]!.at)
    return [{ position: row.position, type: row.type, first: first - at, last: last - at, afterPrevious }]
  })
  const { p50, p99 } = firsts.stats()
  const last = lasts.stats()
  return { first: { p50, p99 }, last: { p50: last.p50, p99: last.p99 }, worst: events.sort((a, b) => b.last - a.last).slice(0, 5) }
}

/** Collects a child's stdout and resolves with its last JSON line once it exits. */
const lastJsonLine = <A>(child: Child): Promise<A> => {
  let text = ""
  child.process.stdout!.on("data", (chunk: Buffer) => (text += chunk.toString("utf8")))
  return child.exited.then((code) => {
    const last = text.trim().split("\n").pop() ?? ""
    if (code !== 0) throw new Error(`load process exited with ${code}: ${text.slice(-2000)}`)
    return JSON.parse(last) as A
  })
}

export const baselineRun = async (env: Env, workspace: string, name: string) => {
  const run = await runJson<{ records: number; ms: number }>({
    args: [...tsNode(), "bench/baseline/plane-to-sqlite.ts", env.sim.url, workspace, env.sim.apiKey, join(env.root, `${name}.db`)]
  })
  env.ctx.log(`  baseline: ${run.records} records in ${Math.round(run.ms)} ms`)
  return run.records / (run.ms / 1000)
}

/** The load report without its per-position receipts (25,000 of them in the slow-client part): for the results file. */
const withoutReceipts = (load: LoadReport | undefined) => {
  if (load === undefined) return undefined
  const { receipts: _receipts, ...rest } = load
  return rest
}

/** Every client got every event: each one's positions consecutive and as many as the log holds. */
const everyEvent = (run: SyncRun) =>
  run.load !== undefined && run.load.complete && run.load.clientsWithGaps === 0 &&
  run.load.eventsPerClient.min === run.logEvents && run.load.eventsPerClient.max === run.logEvents

const cores = cpus().length
/** The share of the machine's CPU time that was busy during the sync, %. */
const busyShare = (r: SyncRun) => (100 * r.cpu.machine.busy) / (r.cpu.machine.busy + r.cpu.machine.idle + r.cpu.machine.steal)
/** The measured processes' CPU during the sync, ms. */
const processCpuMs = (r: SyncRun) => r.serverCpuMs + r.cpu.simulatorMs + r.cpu.loadMs

/** Relative spread (max - min) / median of a few samples: the noise a difference is judged against. */
export const spreadOf = (xs: ReadonlyArray<number>) => xs.length < 2 ? 0 : (Math.max(...xs) - Math.min(...xs)) / median(xs)

/** Fan-out: N reading clients during a full sync, against the same sync alone and the raw baseline. */
const fanOut = async (env: Env, sizes: { readonly workItems: number; readonly clients: number; readonly rounds: number }) => {
  const { ctx } = env
  const n = sizes.clients
  ctx.log(`fan-out: full sync of ${sizes.workItems} work items (batchSize 1000) with ${n} SSE clients, without, and the raw baseline; ${sizes.rounds} round(s)`)
  const withClients: Array<SyncRun> = []
  const without: Array<SyncRun> = []
  const baseline: Array<number> = []
  // One untimed pass first, as the full-sync suite does: the first run against a fresh simulator
  // pays its warm-up (its JIT, its first touch of the workspace). Here that was always round 1's
  // run with clients: the simulator's CPU in it was 4.1-4.5 s against 1.7-2.4 s in every other run.
  if (!ctx.quick) {
    ctx.log("  warm-up pass (the raw script, not counted)")
    await baselineRun(env, FAN_WORKSPACE, "warm-up")
  }
  for (let round = 0; round < sizes.rounds; round++) {
    const steps = [
      async () => withClients.push(await syncWithClients(env, { name: `fan-${n}-${round}`, workspace: FAN_WORKSPACE, batchSize: 1000, clients: n, slow: false })),
      async () => without.push(await syncWithClients(env, { name: `fan-0-${round}`, workspace: FAN_WORKSPACE, batchSize: 1000, clients: 0, slow: false })),
      async () => baseline.push(await baselineRun(env, FAN_WORKSPACE, `baseline-${round}`))
    ]
    // Rotate who goes first, so drift of the machine hits every side alike.
    for (let i = 0; i < steps.length; i++) await steps[(i + round) % steps.length]!()
  }
  const loads = withClients.map((r) => r.load!)
  const rateWith = withClients.map((r) => r.rate)
  const rateWithout = without.map((r) => r.rate)
  const ratioWithout = rateWithout.map((r, i) => r / baseline[i]!)
  const noise = Math.max(0.05, spreadOf(rateWithout))
  const perThousand = 1000 / n
  ctx.details.streamsFanOut = {
    workItems: sizes.workItems,
    clients: n,
    rounds: sizes.rounds,
    noise,
    withClients: withClients.map((r) => ({ ms: r.job.duration, rate: r.rate, rssIdle: r.rssIdle, rssAttached: r.rssAttached, rssPeak: r.rssPeak, serverCpuMs: r.serverCpuMs, cpu: r.cpu, logEvents: r.logEvents, load: withoutReceipts(r.load), perEvent: r.perEvent })),
    without: without.map((r) => ({ ms: r.job.duration, rate: r.rate, rssIdle: r.rssIdle, rssPeak: r.rssPeak, serverCpuMs: r.serverCpuMs, cpu: r.cpu, logEvents: r.logEvents })),
    baseline
  }
  return [
    figure({
      name: `full sync, ${sizes.workItems / 1000}k work items, ${n} SSE clients attached (baseline: raw script)`,
      unit: "records/s",
      candidate: rateWith,
      baseline,
      target: `(reported; without clients: ${median(ratioWithout).toFixed(2)} x)`,
      met: () => true
    }),
    figure({
      name: `full sync with ${n} SSE clients (baseline: the same sync, no client)`,
      unit: "records/s",
      candidate: rateWith,
      baseline: rateWithout,
      target: `within noise: >= ${(1 - noise).toFixed(2)} x`,
      met: (_c, ratio) => ratio !== null && ratio >= 1 - noise
    }),
    figure({
      name: `every client received every event (${n} clients; baseline: events in the log)`,
      unit: "events",
      candidate: loads.map((l) => l.eventsPerClient.min),
      baseline: withClients.map((r) => r.logEvents),
      target: "all, in order, every round",
      met: () => withClients.every(everyEvent)
    }),
    figure({
      name: `delay recordedAt -> receipt, p99, every event (${n} clients)`,
      unit: "ms",
      candidate: loads.map((l) => l.delay.p99),
      target: "< 100 ms",
      met: (c) => c < 100
    }),
    figure({
      name: `delay recordedAt -> receipt, p50, every event (${n} clients)`,
      unit: "ms",
      candidate: loads.map((l) => l.delay.p50),
      target: "(reported)",
      met: () => true
    }),
    // Every event is stamped as it is appended, in its commit's transaction (a BatchCommitted
    // after its page's mirror write): the delay is from the commit to the client's receipt.
    // Batches and the job's other events apart: a batch commit is followed by the next page's.
    figure({
      name: `delay recordedAt -> receipt, p99, BatchCommitted only`,
      unit: "ms",
      candidate: loads.map((l) => l.delayBatch.p99),
      target: "(reported)",
      met: () => true
    }),
    figure({
      name: `delay recordedAt -> receipt, p99, events other than BatchCommitted`,
      unit: "ms",
      candidate: loads.map((l) => l.delayOther.p99),
      target: "(reported)",
      met: () => true
    }),
    figure({
      name: `delay recordedAt -> the first client's receipt, p99 over events (the server's side: hand-over, writer, one read)`,
      unit: "ms",
      candidate: withClients.map((r) => r.perEvent!.first.p99),
      target: "(reported)",
      met: () => true
    }),
    figure({
      name: `fan-out spread, p99: first to last of ${n} clients receiving an event`,
      unit: "ms",
      candidate: loads.map((l) => l.spread.p99),
      target: "(reported)",
      met: () => true
    }),
    figure({
      name: `server CPU per event per client: the sync's CPU with ${n} clients minus the same round's without, over events x clients`,
      unit: "µs",
      candidate: withClients.map((r, i) => ((r.serverCpuMs - without[i]!.serverCpuMs) * 1000) / (r.logEvents * n)),
      target: "(reported)",
      met: () => true
    }),
    figure({
      name: `load process CPU per message received (user + system, all its processes, ${n} clients)`,
      unit: "µs",
      candidate: loads.map((l) => l.cpu.perMessageUs),
      target: "(reported)",
      met: () => true
    }),
    // Where the slower sync goes on this machine: the CPU the clients add (server with its SSE
    // writer, load process, simulator) against the wall time they add, and how busy the cores were.
    figure({
      name: `machine's cores busy during the sync with ${n} clients, % of ${cores} (baseline: without)`,
      unit: "%",
      candidate: withClients.map(busyShare),
      baseline: without.map(busyShare),
      target: "(reported)",
      met: () => true
    }),
    figure({
      name: `CPU the ${n} clients add during the sync (server + load process + simulator, with minus without), over ${cores} cores (baseline: the wall time they add)`,
      unit: "ms",
      candidate: withClients.map((r, i) => (processCpuMs(r) - processCpuMs(without[i]!)) / cores),
      baseline: withClients.map((r, i) => r.job.duration! - without[i]!.job.duration!),
      target: "(reported)",
      met: () => true
    }),
    figure({
      name: `server RSS growth per 1,000 idle clients attached (measured with ${n})`,
      unit: "MB",
      candidate: withClients.map((r) => ((r.rssAttached - r.rssIdle) / MB) * perThousand),
      target: "(reported)",
      met: () => true
    }),
    figure({
      name: `server peak RSS during the sync with ${n} clients (baseline: without)`,
      unit: "MB",
      candidate: withClients.map((r) => r.rssPeak / MB),
      baseline: without.map((r) => r.rssPeak / MB),
      target: "(reported)",
      met: () => true
    })
  ]
}

/** A client that reads nothing for the whole sync, beside a few reading ones. */
const slowClient = async (
  env: Env,
  sizes: { readonly slowWorkItems: number; readonly slowBatch: number; readonly slowReaders: number; readonly workspace: string }
) => {
  const { ctx } = env
  // One round: each run is a sync of ~25,000 small batches.
  const rounds = 1
  const readers = sizes.slowReaders
  ctx.log(
    `slow client: full sync of ${sizes.slowWorkItems} work items with batchSize ${sizes.slowBatch} and ${readers} reading clients, ` +
      `with and without a client that reads nothing; ${rounds} round(s)`
  )
  const withSlow: Array<SyncRun> = []
  const without: Array<SyncRun> = []
  for (let round = 0; round < rounds; round++) {
    const steps = [
      async () => withSlow.push(await syncWithClients(env, { name: `slow-1-${round}`, workspace: sizes.workspace, batchSize: sizes.slowBatch, clients: readers, slow: true })),
      async () => without.push(await syncWithClients(env, { name: `slow-0-${round}`, workspace: sizes.workspace, batchSize: sizes.slowBatch, clients: readers, slow: false }))
    ]
    for (let i = 0; i < steps.length; i++) await steps[(i + round) % steps.length]!()
  }
  const slow = withSlow.map((r) => r.load!.slow!)
  const noise = Math.max(0.05, spreadOf(without.map((r) => r.rate)))
  ctx.details.streamsSlowClient = {
    workItems: sizes.slowWorkItems,
    batchSize: sizes.slowBatch,
    readers,
    rounds,
    withSlow: withSlow.map((r) => ({ ms: r.job.duration, rate: r.rate, rssPeak: r.rssPeak, logEvents: r.logEvents, load: withoutReceipts(r.load) })),
    without: without.map((r) => ({ ms: r.job.duration, rate: r.rate, rssPeak: r.rssPeak, logEvents: r.logEvents, load: withoutReceipts(r.load) }))
  }
  const cutOff = slow.every((s) => s.cutOff && s.overflowMatchesLastEvent)
  const gapFree = withSlow.every((r, i) =>
    slow[i]!.gapFreeBeforeCutOff && slow[i]!.resumedGapFree && slow[i]!.resumedToEnd &&
    slow[i]!.eventsBeforeCutOff + slow[i]!.resumedEvents === r.logEvents
  )
  return [
    figure({
      name: `slow client cut off with its overflow message (1 = yes; ${withSlow[0]!.logEvents} events, batchSize ${sizes.slowBatch})`,
      unit: "yes/no",
      candidate: [cutOff ? 1 : 0],
      target: "yes, every round",
      met: () => cutOff
    }),
    figure({
      name: "slow client resumed with Last-Event-ID without a gap, to the end (1 = yes)",
      unit: "yes/no",
      candidate: [gapFree ? 1 : 0],
      target: "yes, every round",
      met: () => gapFree
    }),
    figure({
      name: `full sync with a slow client and ${readers} readers (baseline: ${readers} readers only)`,
      unit: "records/s",
      candidate: withSlow.map((r) => r.rate),
      baseline: without.map((r) => r.rate),
      target: `within noise: >= ${(1 - noise).toFixed(2)} x`,
      met: (_c, ratio) => ratio !== null && ratio >= 1 - noise
    }),
    figure({
      name: `readers' delay p99 with the slow client (baseline: without)`,
      unit: "ms",
      candidate: withSlow.map((r) => r.load!.delay.p99),
      baseline: without.map((r) => r.load!.delay.p99),
      target: "< 100 ms, as without",
      met: (c) => c < 100
    }),
    figure({
      name: "readers received every event, with and without the slow client",
      unit: "events",
      candidate: withSlow.map((r) => r.load!.eventsPerClient.min),
      baseline: withSlow.map((r) => r.logEvents),
      target: "all, in order, every round",
      met: () => [...withSlow, ...without].every(everyEvent)
    })
  ]
}
