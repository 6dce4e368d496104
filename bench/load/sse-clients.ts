/**
 * Load process for the `streams` benchmark: N SSE clients on `GET /api/sync/stream`, in a
 * process of their own (they share the machine's cores with the server, not its event loop).
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
 * Prints `{"ready": true, ...}` once every client has its response headers, and the report as
 * the last line when done (or when `timeoutMs` passes: then `complete` is false).
 */
import { Agent, request } from "node:http"
import type { IncomingMessage } from "node:http"

export interface LoadSpec {
  readonly url: string
  readonly clients: number
  /** Log position the clients start after (the log's position before the job). */
  readonly after: number
  readonly slow?: boolean
  readonly timeoutMs?: number
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
  /** Bytes the load process had taken from the socket while it read nothing (Node's own small buffer). */
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
  readonly connectMs: number
  readonly slow?: SlowReport
}

const spec = JSON.parse(process.argv[2] ?? "{}") as LoadSpec
const timeoutMs = spec.timeoutMs ?? 30 * 60_000
const TERMINAL = new Set(["JobCompleted", "JobFailed", "JobStopped"])
const base = new URL("/api/sync/stream", spec.url)
// One socket per stream; no pooling limit (the default agent would queue beyond Infinity anyway).
const agent = new Agent({ keepAlive: false, maxSockets: Infinity })

/** Millisecond histogram: delays are whole milliseconds (both clocks are). */
class Histogram {
  private readonly buckets = new Uint32Array(60_001)
  count = 0
  max = 0
  add(ms: number) {
    const v = ms < 0 ? 0 : ms > 60_000 ? 60_000 : ms
    this.buckets[v]!++
    this.count++
    if (v > this.max) this.max = v
  }
  quantile(q: number) {
    if (this.count === 0) return Number.NaN
    const rank = Math.ceil(q * this.count)
    let seen = 0
    for (let i = 0; i < this.buckets.length; i++) {
      seen += this.buckets[i]!
      if (seen >= rank) return i
    }
    return this.max
  }
  stats(): DelayStats {
    return { count: this.count, p50: this.quantile(0.5), p99: this.quantile(0.99), max: this.max }
  }
}

const all = new Histogram()
const batch = new Histogram()
const other = new Histogram()
/** Per log position (index = position - after - 1): first and last receipt over the clients. */
const firstSeen: Array<number> = []
const lastSeen: Array<number> = []
let bytes = 0

/** One parsed SSE message: the fields the benchmark needs, read without JSON.parse. */
interface Message {
  readonly id: number | null
  readonly event: string
  readonly raw: string
}

/** Splits a text stream into SSE messages (blank-line separated); comments (heartbeats) are dropped. */
const messageReader = (onMessage: (m: Message) => void) => {
  let buffer = ""
  return (chunk: string) => {
    buffer += chunk
    let start = 0
    let end: number
    while ((end = buffer.indexOf("\n\n", start)) >= 0) {
      const raw = buffer.slice(start, end)
      start = end + 2
      if (raw.startsWith(":")) continue
      let id: number | null = null
      let event = "message"
      if (raw.startsWith("id: ")) id = Number(raw.slice(4, raw.indexOf("\n")))
      const e = raw.indexOf("event: ")
      if (e >= 0) event = raw.slice(e + 7, raw.indexOf("\n", e))
      onMessage({ id, event, raw })
    }
    buffer = buffer.slice(start)
  }
}

const RECORDED_AT = "\"recordedAt\":\""

const open = (headers: Record<string, string> = {}): Promise<IncomingMessage> =>
  new Promise((resolve, reject) => {
    const req = request(
      { agent, host: base.hostname, port: base.port, path: `${base.pathname}?after=${spec.after}`, headers: { accept: "text/event-stream", ...headers } },
      (res) => {
        if (res.statusCode !== 200) {
          res.resume()
          reject(new Error(`stream answered ${res.statusCode}`))
        } else resolve(res)
      }
    )
    req.on("error", reject)
    req.end()
  })

interface ClientState {
  next: number
  count: number
  gap: boolean
  done: boolean
  until: number | null
}

/** A reading client: checks order, records delays, resolves at the terminal event. */
const follow = (res: IncomingMessage, state: ClientState) =>
  new Promise<void>((resolve) => {
    res.setEncoding("utf8")
    let now = 0
    const read = messageReader((m) => {
      if (m.id === null || state.done) return
      if (m.id !== state.next) state.gap = true
      state.next = m.id + 1
      state.count++
      const i = m.id - spec.after - 1
      if (i >= 0) {
        if (firstSeen[i] === undefined || now < firstSeen[i]!) firstSeen[i] = now
        if (lastSeen[i] === undefined || now > lastSeen[i]!) lastSeen[i] = now
      }
      const at = m.raw.indexOf(RECORDED_AT)
      if (at >= 0) {
        const stamped = Date.parse(m.raw.slice(at + RECORDED_AT.length, at + RECORDED_AT.length + 24))
        const delay = now - stamped
        all.add(delay)
        ;(m.event === "BatchCommitted" ? batch : other).add(delay)
      }
      if (TERMINAL.has(m.event)) {
        state.done = true
        state.until = m.id
        res.destroy()
        resolve()
      }
    })
    res.on("data", (chunk: string) => {
      // One clock reading per chunk: every message in it arrived together.
      now = Date.now()
      bytes += chunk.length
      read(chunk)
    })
    res.on("close", () => resolve())
  })

/** Opens `n` streams, `concurrency` handshakes at a time (a burst of 1,000 SYNs overflows the backlog). */
const connectAll = async (n: number, concurrency = 50) => {
  const out: Array<IncomingMessage> = new Array(n)
  let next = 0
  await Promise.all(
    Array.from({ length: Math.min(concurrency, n) }, async () => {
      while (next < n) {
        const i = next++
        out[i] = await open()
      }
    })
  )
  return out
}

/** Reads a stream to its end (or to a terminal event), checking consecutive ids from `from`. */
const readChecked = (res: IncomingMessage, from: number) =>
  new Promise<{ events: number; gapFree: boolean; last: number | null; overflow: { lastEventId: number } | null; terminal: boolean }>(
    (resolve) => {
      let expected = from
      let events = 0
      let gapFree = true
      let last: number | null = null
      let overflow: { lastEventId: number } | null = null
      let terminal = false
      const finish = () => resolve({ events, gapFree, last, overflow, terminal })
      res.setEncoding("utf8")
      const read = messageReader((m) => {
        if (terminal) return
        if (m.event === "overflow") {
          overflow = JSON.parse(m.raw.slice(m.raw.indexOf("data: ") + 6)) as { lastEventId: number }
          return
        }
        if (m.id === null) return
        if (m.id !== expected) gapFree = false
        expected = m.id + 1
        last = m.id
        events++
        if (TERMINAL.has(m.event)) {
          terminal = true
          res.destroy()
          finish()
        }
      })
      res.on("data", read)
      res.on("end", finish)
      res.on("close", finish)
    }
  )

const started = Date.now()
const slowRes = spec.slow ? await open() : undefined
// Read nothing: once Node's own small buffer is full it stops reading the socket, the kernel's
// buffers fill, and the server can no longer write to this client.
slowRes?.pause()
const responses = await connectAll(spec.clients)
const connectMs = Date.now() - started
console.log(JSON.stringify({ ready: true, clients: responses.length, slow: slowRes !== undefined, connectMs }))

const states: Array<ClientState> = responses.map(() => ({ next: spec.after + 1, count: 0, gap: false, done: false, until: null }))
let timedOut = false
const timer = setTimeout(() => {
  timedOut = true
  for (const res of responses) res.destroy()
  slowRes?.destroy()
}, timeoutMs)
await Promise.all(responses.map((res, i) => follow(res, states[i]!)))

let slow: SlowReport | undefined
if (slowRes && !timedOut) {
  // Everything the server managed to send before it cut this client off, then the stream's end.
  const bytesReadWhilePaused = slowRes.socket.bytesRead
  const buffered = readChecked(slowRes, spec.after + 1)
  slowRes.resume()
  const before = await buffered
  let resumed = { events: 0, gapFree: false, terminal: false }
  if (before.overflow !== null) {
    const again = await open({ "last-event-id": String(before.overflow.lastEventId) })
    resumed = await readChecked(again, before.overflow.lastEventId + 1)
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
}
clearTimeout(timer)

const spreads = new Histogram()
for (let i = 0; i < firstSeen.length; i++) {
  if (firstSeen[i] !== undefined) spreads.add(lastSeen[i]! - firstSeen[i]!)
}
const untils = new Set(states.map((s) => s.until))
const counts = states.map((s) => s.count)
const report: LoadReport = {
  clients: states.length,
  complete: !timedOut && states.every((s) => s.done),
  until: untils.size === 1 ? [...untils][0]! : null,
  eventsPerClient: { min: Math.min(...counts), max: Math.max(...counts) },
  clientsWithGaps: states.filter((s) => s.gap).length,
  bytes,
  delay: all.stats(),
  delayBatch: batch.stats(),
  delayOther: other.stats(),
  spread: spreads.stats(),
  connectMs,
  ...(slow ? { slow } : {})
}
console.log(JSON.stringify(report))
process.exit(0)
