/**
 * One group of the load process's reading clients, in a process of its own (forked by
 * bench/load/sse-clients.ts, which merges the groups' reports). Each client checks its own
 * sequence; the group keeps the delay histograms and, per log position, the first and last
 * receipt over its clients. It tells its parent `ready` once every client has its response
 * head, and sends its report when every client reached the terminal event (or on timeout).
 */
import { Histogram, openSse, recordedAtOf, type SseStream, TERMINAL } from "./sse-wire.js"

export interface GroupSpec {
  readonly url: string
  readonly after: number
  readonly clients: number
  /** Handshakes at a time (a burst of 1,000 SYNs overflows the listen backlog). */
  readonly concurrency: number
  readonly timeoutMs: number
}

export interface GroupReport {
  readonly type: "report"
  readonly clients: number
  readonly done: number
  readonly timedOut: boolean
  /** The terminal positions the clients stopped at (one value when all agree). */
  readonly untils: ReadonlyArray<number | null>
  readonly minEvents: number
  readonly maxEvents: number
  readonly clientsWithGaps: number
  readonly bytes: number
  readonly messages: number
  readonly delay: Array<[number, number]>
  readonly delayBatch: Array<[number, number]>
  readonly delayOther: Array<[number, number]>
  readonly firstSeen: ReadonlyArray<number | null>
  readonly lastSeen: ReadonlyArray<number | null>
  /** CPU (user, system; µs) of this process from `ready` to the report: the reading alone. */
  readonly cpu: { readonly user: number; readonly system: number }
}

interface ClientState {
  next: number
  count: number
  gap: boolean
  done: boolean
  until: number | null
}

const spec = JSON.parse(process.argv[2] ?? "{}") as GroupSpec
const base = new URL("/api/sync/stream", spec.url)
const path = `${base.pathname}?after=${spec.after}`

const all = new Histogram()
const batch = new Histogram()
const other = new Histogram()
/** Per log position (index = position - after - 1): first and last receipt, and the event's stamp. */
const firstSeen: Array<number> = []
const lastSeen: Array<number> = []
const stamps: Array<number> = []
let bytes = 0
let messages = 0
/** The receipt time of the read being scanned (every message in it arrived together). */
let now = 0
const onRead = (at: number, n: number) => {
  now = at
  bytes += n
}

const states: Array<ClientState> = []
const streams: Array<SseStream> = []
let finished = 0
let allDone: () => void = () => {}
const everyoneDone = new Promise<void>((resolve) => (allDone = resolve))

const open = (state: ClientState): Promise<SseStream> => {
  let stream: SseStream | undefined
  const finish = () => {
    if (state.done) return
    state.done = true
    if (++finished === spec.clients) allDone()
  }
  return openSse({ host: base.hostname, port: Number(base.port), path, onRead }, (id, event, buf, start, end) => {
    if (id < 0 || state.done) return
    if (id !== state.next) state.gap = true
    state.next = id + 1
    state.count++
    messages++
    const i = id - spec.after - 1
    if (i >= 0) {
      const first = firstSeen[i]
      if (first === undefined || now < first) firstSeen[i] = now
      const last = lastSeen[i]
      if (last === undefined || now > last) lastSeen[i] = now
      // Positions are unique in the log: the first client to get an event reads its stamp for all.
      let stamped = stamps[i]
      if (stamped === undefined) stamped = stamps[i] = recordedAtOf(buf, start, end)
      if (!Number.isNaN(stamped)) {
        const delay = now - stamped
        all.add(delay)
        ;(event === "BatchCommitted" ? batch : other).add(delay)
      }
    }
    if (TERMINAL.has(event)) {
      state.until = id
      stream?.socket.destroy()
      finish()
    }
  }).then((s) => {
    stream = s
    if (state.until !== null) s.socket.destroy()
    // A stream that ends before its terminal event counts as done (incomplete: no `until`).
    void s.closed.then(finish)
    return s
  })
}

let next = 0
await Promise.all(
  Array.from({ length: Math.min(spec.concurrency, spec.clients) }, async () => {
    while (next < spec.clients) {
      const state: ClientState = { next: spec.after + 1, count: 0, gap: false, done: false, until: null }
      states[next++] = state
      streams.push(await open(state))
    }
  })
)
if (spec.clients === 0) allDone()
const cpuAtReady = process.cpuUsage()
process.send!({ type: "ready", clients: streams.length })

let timedOut = false
const timer = setTimeout(() => {
  timedOut = true
  for (const s of streams) s.socket.destroy()
  allDone()
}, spec.timeoutMs)
await everyoneDone
clearTimeout(timer)
const cpu = process.cpuUsage(cpuAtReady)
const counts = states.map((s) => s.count)
const report: GroupReport = {
  type: "report",
  clients: states.length,
  done: states.filter((s) => s.until !== null).length,
  timedOut,
  untils: [...new Set(states.map((s) => s.until))],
  minEvents: Math.min(...counts),
  maxEvents: Math.max(...counts),
  clientsWithGaps: states.filter((s) => s.gap).length,
  bytes,
  messages,
  delay: all.sparse(),
  delayBatch: batch.sparse(),
  delayOther: other.sparse(),
  firstSeen: Array.from(firstSeen, (v) => v ?? null),
  lastSeen: Array.from(lastSeen, (v) => v ?? null),
  cpu: { user: cpu.user, system: cpu.system }
}
process.send!(report, () => process.exit(0))
