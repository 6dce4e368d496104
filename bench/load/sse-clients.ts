/**
 * Load process for the `streams` benchmark: N SSE clients on `GET /api/sync/stream`, in
 * processes of their own (they share the machine's cores with the server, not its event loop).
 * Like wrk for HTTP, it must not be the bottleneck it measures: the clients are read in
 * `processes` group processes (default 1: on two cores shared with the server and the
 * simulator, two groups cost more CPU per message and did not lower the delay), each the C
 * reader (bench/load/sse-reader.c, ~6-8 µs of CPU per message) when `cc` is there, else the
 * Node group (bench/load/sse-clients-group.ts: raw `net` sockets whose bytes are scanned, not
 * decoded, bench/load/sse-wire.ts; ~9-12 µs), and it reports its own CPU per message received.
 *
 *   node --import tsx bench/load/sse-clients.ts '{"url":"http://127.0.0.1:3001","clients":1000,"after":42}'
 *
 * Every client connects with `?after=<after>`, so all of them are owed the same sequence: every
 * log event from `after + 1` on. A client is done when it has received a terminal job event
 * (JobCompleted, JobFailed, JobStopped): the benchmark runs one job per server. Per client it
 * checks that positions arrive consecutively (no gap, no repeat); per message it records the
 * delay from the event's `recordedAt` (stamped by the server) to its receipt (`Date.now()` here,
 * the same machine's clock) in a millisecond histogram, and per log position the first and last
 * receipt over all clients (the fan-out spread). No sample is kept per client and message.
 *
 * With `"slow": true` one more client connects and reads nothing for the whole sync (its
 * socket is paused: the kernel's buffers fill, then the server's per-follower buffer). Once the
 * other clients are done, it reads what was buffered, which must end with `event: overflow`,
 * then reconnects with `Last-Event-ID` and checks the sequence continues without a gap up to the
 * terminal event.
 *
 * This process keeps the slow client; the groups read the others and send their histograms,
 * per-position receipts and counts here to be merged.
 *
 * Prints `{"ready": true, ...}` once every client has its response headers, and the report as
 * the last line when done (or when `timeoutMs` passes: then `complete` is false).
 */
import { type ChildProcess, fork, spawn, spawnSync } from "node:child_process"
import { createHash } from "node:crypto"
import { existsSync, readFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { createInterface } from "node:readline"
import type { GroupReport, GroupSpec } from "./sse-clients-group.js"
import { dataOf, Histogram, type OnMessage, openSse, type SseStream, TERMINAL } from "./sse-wire.js"

export interface LoadSpec {
  readonly url: string
  readonly clients: number
  /** Log position the clients start after (the log's position before the job). */
  readonly after: number
  readonly slow?: boolean
  readonly timeoutMs?: number
  /** Group processes the reading clients are spread over (default 1: two measured no better here, see BENCHMARKS.md). */
  readonly processes?: number
  /** What reads: "c" (default; sse-reader.c, when `cc` is there) or "node" (sse-clients-group.ts). */
  readonly reader?: "c" | "node"
}

export interface DelayStats {
  readonly count: number
  readonly p50: number
  readonly p99: number
  readonly max: number
}

export interface SlowReport {
  /** The server sent `event: overflow` and closed the stream. */
  readonly cutOff: boolean
  /** Bytes the load process had taken from the socket before it stopped reading (the response head). */
  readonly bytesReadWhilePaused: number
  /** Events buffered for it before the cut-off (consecutive from `after + 1`). */
  readonly eventsBeforeCutOff: number
  readonly gapFreeBeforeCutOff: boolean
  /** The overflow message's `lastEventId`, and whether it is the last event it received. */
  readonly overflowLastEventId: number | null
  readonly overflowMatchesLastEvent: boolean
  /** After reconnecting with Last-Event-ID: events until the terminal one, and no gap. */
  readonly resumedEvents: number
  readonly resumedGapFree: boolean
  readonly resumedToEnd: boolean
}

export interface LoadReport {
  readonly clients: number
  readonly complete: boolean
  /** Position of the terminal event every client stopped at (the same for all, else null). */
  readonly until: number | null
  readonly eventsPerClient: { readonly min: number; readonly max: number }
  /** Clients whose positions were not exactly after+1, after+2, ... (a gap or a repeat). */
  readonly clientsWithGaps: number
  readonly bytes: number
  /** recordedAt -> receipt, ms: every event; BatchCommitted only; every other event. */
  readonly delay: DelayStats
  readonly delayBatch: DelayStats
  readonly delayOther: DelayStats
  /** Per log position, last receipt minus first receipt over the clients, ms. */
  readonly spread: DelayStats
  /**
   * Per log position (index = position - after - 1), the first and the last receipt over the
   * clients (epoch ms, null if none got it): with the log's `recordedAt` the suite finds which
   * events make the tail, and whether they reached even the first client late.
   */
  readonly receipts: { readonly first: ReadonlyArray<number | null>; readonly last: ReadonlyArray<number | null> }
  readonly connectMs: number
  /** Messages the readers received, and the load process's CPU (all its processes, user + system) while they read. */
  readonly messages: number
  readonly cpu: { readonly userMs: number; readonly systemMs: number; readonly perMessageUs: number }
  readonly processes: number
  /** Which reader read: the C reader or the Node group. */
  readonly reader: "c" | "node"
  readonly slow?: SlowReport
}

const spec = JSON.parse(process.argv[2] ?? "{}") as LoadSpec
const timeoutMs = spec.timeoutMs ?? 30 * 60_000
const base = new URL("/api/sync/stream", spec.url)
const path = `${base.pathname}?after=${spec.after}`
const processes = Math.max(1, Math.min(spec.processes ?? 1, spec.clients))

/** Opens one stream whose messages are checked: consecutive ids from `from`, to a terminal event or the end. */
const openChecked = async (from: number, headers: Record<string, string> = {}) => {
  const result = {
    events: 0,
    gapFree: true,
    last: null as number | null,
    overflow: null as { lastEventId: number } | null,
    terminal: false
  }
  let expected = from
  let stream: SseStream | undefined
  const onMessage: OnMessage = (id, event, buf, start, end) => {
    if (result.terminal) return
    if (event === "overflow") {
      result.overflow = JSON.parse(dataOf(buf, start, end)) as { lastEventId: number }
      return
    }
    if (id < 0) return
    if (id !== expected) result.gapFree = false
    expected = id + 1
    result.last = id
    result.events++
    if (TERMINAL.has(event)) {
      result.terminal = true
      stream?.socket.destroy()
    }
  }
  stream = await openSse({ host: base.hostname, port: Number(base.port), path, headers }, onMessage)
  if (result.terminal) stream.socket.destroy()
  return { stream, result }
}

interface Group {
  readonly ready: Promise<number>
  readonly report: Promise<GroupReport>
}

/**
 * The C reader (sse-reader.c), compiled once per version of its source into the temp folder;
 * undefined when there is no C compiler (the Node group reads instead).
 */
const cReader = (): string | undefined => {
  const source = new URL("./sse-reader.c", import.meta.url).pathname
  const hash = createHash("sha256").update(readFileSync(source)).digest("hex").slice(0, 12)
  const binary = join(tmpdir(), `synclog-sse-reader-${hash}`)
  if (existsSync(binary)) return binary
  const built = spawnSync("cc", ["-O2", "-o", binary, source], { stdio: ["ignore", "ignore", "inherit"] })
  return built.status === 0 ? binary : undefined
}

type GroupMessage = { readonly type: string; readonly clients?: number }

/** A group's process as its parent sees it: `ready`, then its report, or a failure if it exits first. */
const groupOf = (child: ChildProcess, what: string, onMessage: (handle: (m: GroupMessage) => void) => void): Group => {
  let ready: (n: number) => void = () => {}
  let report: (r: GroupReport) => void = () => {}
  const failed = new Promise<never>((_, reject) => child.once("exit", (code) => reject(new Error(`${what} exited with ${code} before its report`))))
  failed.catch(() => {})
  onMessage((m) => {
    if (m.type === "ready") ready(m.clients ?? 0)
    else if (m.type === "report") report(m as unknown as GroupReport)
  })
  return {
    ready: Promise.race([new Promise<number>((resolve) => (ready = resolve)), failed]),
    report: Promise.race([new Promise<GroupReport>((resolve) => (report = resolve)), failed])
  }
}

/** Starts a group of `clients` readers: the C reader's process, or a forked Node group (this process's Node flags, so `--import tsx` too). */
const startGroup = (clients: number): Group => {
  if (reader !== undefined) {
    // The same report as the Node group's, as JSON lines on its stdout.
    const child = spawn(reader, [base.hostname, base.port, String(spec.after), String(clients), String(timeoutMs)], {
      stdio: ["ignore", "pipe", "inherit"]
    })
    return groupOf(child, "the C reader", (handle) =>
      createInterface({ input: child.stdout! }).on("line", (line) => handle(JSON.parse(line) as GroupMessage)))
  }
  const groupSpec: GroupSpec = { url: spec.url, after: spec.after, clients, concurrency: Math.ceil(50 / processes), timeoutMs }
  const child = fork(new URL("./sse-clients-group.ts", import.meta.url).pathname, [JSON.stringify(groupSpec)], {
    stdio: ["ignore", "inherit", "inherit", "ipc"]
  })
  return groupOf(child, "a group of the load process", (handle) => child.on("message", handle))
}

/** The readers' program: the C reader unless `"reader": "node"` (or no C compiler). */
const reader = spec.reader === "node" ? undefined : cReader()
const started = Date.now()
// Read nothing: a paused `onread` socket stops reading at once (`readStop`), the kernel's
// buffers fill, and the server can no longer write to this client.
const slowOpened = spec.slow ? await openChecked(spec.after + 1) : undefined
slowOpened?.stream.socket.pause()
const groups = Array.from({ length: processes }, (_, g) =>
  startGroup(Math.floor(spec.clients / processes) + (g < spec.clients % processes ? 1 : 0))
)
const connected = (await Promise.all(groups.map((g) => g.ready))).reduce((a, b) => a + b, 0)
const connectMs = Date.now() - started
const cpuAtReady = process.cpuUsage()
console.log(JSON.stringify({ ready: true, clients: connected, slow: slowOpened !== undefined, connectMs }))

const reports = await Promise.all(groups.map((g) => g.report))
const timedOut = reports.some((r) => r.timedOut)

let slow: SlowReport | undefined
if (slowOpened && !timedOut) {
  // Everything the server managed to send before it cut this client off, then the stream's end.
  const { stream, result: before } = slowOpened
  const bytesReadWhilePaused = stream.socket.bytesRead
  stream.socket.resume()
  await stream.closed
  let resumed = { events: 0, gapFree: false, terminal: false }
  if (before.overflow !== null) {
    const again = await openChecked(before.overflow.lastEventId + 1, { "last-event-id": String(before.overflow.lastEventId) })
    await again.stream.closed
    resumed = again.result
  }
  slow = {
    cutOff: before.overflow !== null,
    bytesReadWhilePaused,
    eventsBeforeCutOff: before.events,
    gapFreeBeforeCutOff: before.gapFree,
    overflowLastEventId: before.overflow?.lastEventId ?? null,
    overflowMatchesLastEvent: before.overflow !== null && before.overflow.lastEventId === before.last,
    resumedEvents: resumed.events,
    resumedGapFree: resumed.gapFree,
    resumedToEnd: resumed.terminal
  }
} else slowOpened?.stream.socket.destroy()
const ownCpu = process.cpuUsage(cpuAtReady)

const merged = { all: new Histogram(), batch: new Histogram(), other: new Histogram() }
const firstSeen: Array<number> = []
const lastSeen: Array<number> = []
for (const r of reports) {
  merged.all.merge(r.delay)
  merged.batch.merge(r.delayBatch)
  merged.other.merge(r.delayOther)
  r.firstSeen.forEach((t, i) => {
    if (t !== null && (firstSeen[i] === undefined || t < firstSeen[i]!)) firstSeen[i] = t
  })
  r.lastSeen.forEach((t, i) => {
    if (t !== null && (lastSeen[i] === undefined || t > lastSeen[i]!)) lastSeen[i] = t
  })
}
const spreads = new Histogram()
for (let i = 0; i < firstSeen.length; i++) {
  if (firstSeen[i] !== undefined) spreads.add(lastSeen[i]! - firstSeen[i]!)
}
const untils = new Set(reports.flatMap((r) => r.untils))
const messages = reports.reduce((n, r) => n + r.messages, 0)
const userUs = reports.reduce((n, r) => n + r.cpu.user, ownCpu.user)
const systemUs = reports.reduce((n, r) => n + r.cpu.system, ownCpu.system)
const report: LoadReport = {
  clients: reports.reduce((n, r) => n + r.clients, 0),
  complete: !timedOut && reports.every((r) => r.done === r.clients),
  until: untils.size === 1 ? [...untils][0]! : null,
  eventsPerClient: { min: Math.min(...reports.map((r) => r.minEvents)), max: Math.max(...reports.map((r) => r.maxEvents)) },
  clientsWithGaps: reports.reduce((n, r) => n + r.clientsWithGaps, 0),
  bytes: reports.reduce((n, r) => n + r.bytes, 0),
  delay: merged.all.stats(),
  delayBatch: merged.batch.stats(),
  delayOther: merged.other.stats(),
  spread: spreads.stats(),
  receipts: { first: Array.from(firstSeen, (v) => v ?? null), last: Array.from(lastSeen, (v) => v ?? null) },
  connectMs,
  messages,
  cpu: {
    userMs: Math.round(userUs / 1000),
    systemMs: Math.round(systemUs / 1000),
    perMessageUs: messages === 0 ? 0 : Math.round(((userUs + systemUs) / messages) * 10) / 10
  },
  processes,
  reader: reader === undefined ? "node" : "c",
  ...(slow ? { slow } : {})
}
// Exit once the line is out: stdout is a pipe, and writes to a pipe are asynchronous, so an exit
// right after a long report (the slow-client part's 25,000 receipts) cut it short.
process.stdout.write(`${JSON.stringify(report)}\n`, () => process.exit(0))
