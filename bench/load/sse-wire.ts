/**
 * The SSE client of the load process (bench/load/sse-clients.ts), on raw `net` sockets: it
 * writes the GET request itself, parses the response head once, then scans the body's Buffers
 * for HTTP/1.1 chunk framing and SSE message boundaries with `Buffer.indexOf`, decoding only
 * the few bytes it needs (the `id:` digits, the event's name, a `recordedAt` once per event).
 * `node:http`'s client cost about 0.1 ms of CPU per socket and message (a parser callback, a
 * string decoder, stream events): as much as the server it measures, on the same cores.
 *
 * The request is HTTP/1.1, as an EventSource sends it, so the server frames the body in
 * chunks exactly as it does for browsers; an unframed (HTTP/1.0 style) body is read too.
 */
import { connect, type Socket } from "node:net"
import { ChunkedBody } from "./chunked.js"

export const TERMINAL = new Set(["JobCompleted", "JobFailed", "JobStopped"])

/** Millisecond histogram: delays are whole milliseconds (both clocks are). */
export class Histogram {
  readonly buckets = new Uint32Array(60_001)
  count = 0
  max = 0
  add(ms: number) {
    const v = ms < 0 ? 0 : ms > 60_000 ? 60_000 : ms
    this.buckets[v]!++
    this.count++
    if (v > this.max) this.max = v
  }
  /** Non-empty buckets as [ms, count] pairs (what a group process sends its parent). */
  sparse(): Array<[number, number]> {
    const out: Array<[number, number]> = []
    for (let i = 0; i <= this.max; i++) if (this.buckets[i]! > 0) out.push([i, this.buckets[i]!])
    return out
  }
  merge(pairs: ReadonlyArray<readonly [number, number]>) {
    for (const [ms, n] of pairs) {
      this.buckets[ms]! += n
      this.count += n
      if (ms > this.max) this.max = ms
    }
  }
  quantile(q: number) {
    if (this.count === 0) return Number.NaN
    const rank = Math.ceil(q * this.count)
    let seen = 0
    for (let i = 0; i <= this.max; i++) {
      seen += this.buckets[i]!
      if (seen >= rank) return i
    }
    return this.max
  }
  stats() {
    return { count: this.count, p50: this.quantile(0.5), p99: this.quantile(0.99), max: this.max }
  }
}

/**
 * Called per SSE message (comments such as heartbeats are skipped): its `id:` (-1 when it has
 * none), its `event:` name ("message" when none), and where its bytes are (`buf[start, end)`,
 * valid only during the call).
 */
export type OnMessage = (id: number, event: string, buf: Buffer, start: number, end: number) => void

/** Every socket's reads land here in turn (see `openSse`); what must outlive a read is copied. */
const READ_BUFFER = Buffer.allocUnsafe(64 * 1024)
const BLANK_LINE = Buffer.from("\n\n")
const HEAD_END = Buffer.from("\r\n\r\n")
const ID = Buffer.from("id: ")
const EVENT = Buffer.from("event: ")
const DATA = Buffer.from("data: ")
const RECORDED_AT = Buffer.from("\"recordedAt\":\"")

const startsWith = (buf: Buffer, at: number, prefix: Buffer) => {
  if (at + prefix.length > buf.length) return false
  for (let i = 0; i < prefix.length; i++) if (buf[at + i] !== prefix[i]) return false
  return true
}

/** The event's `recordedAt` (ms since the epoch) from its `data:` JSON, NaN when it has none. */
export const recordedAtOf = (buf: Buffer, start: number, end: number): number => {
  const at = buf.indexOf(RECORDED_AT, start)
  if (at < 0 || at >= end) return Number.NaN
  const from = at + RECORDED_AT.length
  return Date.parse(buf.toString("latin1", from, from + 24))
}

/** The text of a message's `data:` line (for the rare message that is read whole: `overflow`). */
export const dataOf = (buf: Buffer, start: number, end: number): string => {
  const at = buf.indexOf(DATA, start)
  if (at < 0 || at >= end) return ""
  const nl = buf.indexOf(0x0a, at)
  return buf.toString("utf8", at + DATA.length, nl < 0 || nl > end ? end : nl)
}

/**
 * Splits a body into SSE messages (blank-line separated). A message split over two reads is
 * kept (copied) until the rest arrives; whole ones are scanned where they lie. The server
 * writes `id:`, then `event:`, then `data:`: the scan of a message stops at its `data:` line.
 */
class SseScanner {
  private pending: Buffer | undefined
  constructor(private readonly onMessage: OnMessage) {}

  push(buf: Buffer, start: number, end: number) {
    if (this.pending !== undefined) {
      buf = Buffer.concat([this.pending, buf.subarray(start, end)])
      start = 0
      end = buf.length
      this.pending = undefined
    }
    let s = start
    while (s < end) {
      const e = buf.indexOf(BLANK_LINE, s)
      if (e < 0 || e + 2 > end) break
      if (buf[s] !== 0x3a) this.message(buf, s, e)
      s = e + 2
    }
    if (s < end) this.pending = Buffer.from(buf.subarray(s, end))
  }

  private message(buf: Buffer, start: number, end: number) {
    let id = -1
    let event = "message"
    let line = start
    while (line < end) {
      let nl = buf.indexOf(0x0a, line)
      if (nl < 0 || nl > end) nl = end
      if (startsWith(buf, line, ID)) {
        id = 0
        for (let i = line + ID.length; i < nl; i++) id = id * 10 + (buf[i]! - 0x30)
      } else if (startsWith(buf, line, EVENT)) {
        event = buf.toString("latin1", line + EVENT.length, nl)
      } else if (startsWith(buf, line, DATA)) {
        break
      }
      line = nl + 1
    }
    this.onMessage(id, event, buf, start, end)
  }
}

export interface SseStream {
  readonly socket: Socket
  /** The body ended (the last chunk, or the server closed an unframed body), or the socket closed. */
  readonly closed: Promise<void>
}

export interface OpenOptions {
  readonly host: string
  readonly port: number
  readonly path: string
  readonly headers?: Readonly<Record<string, string>>
  /** Called with the receipt time (one `Date.now()` per read: its messages arrived together). */
  readonly onRead?: (now: number, bytes: number) => void
}

/**
 * Opens one SSE stream; resolves once the response head says 200 (rejects otherwise). The
 * messages go to `onMessage` as the reads arrive.
 */
export const openSse = (options: OpenOptions, onMessage: OnMessage): Promise<SseStream> =>
  new Promise((resolve, reject) => {
    // `onread`: the kernel's bytes land in one buffer shared by every socket of the process and
    // come to `onData` directly, with no Buffer allocated and no stream event per read.
    const socket = connect({
      host: options.host,
      port: options.port,
      onread: {
        buffer: READ_BUFFER,
        callback: (n: number, buf: Uint8Array) => {
          onData((buf as Buffer).subarray(0, n))
          return true
        }
      }
    })
    const scanner = new SseScanner(onMessage)
    let head: Buffer | undefined = Buffer.alloc(0)
    let body: ChunkedBody | undefined
    let unframed = false
    let settled = false
    let closeBody: () => void = () => {}
    const closed = new Promise<void>((done) => (closeBody = done))
    const fail = (error: Error) => {
      socket.destroy()
      if (!settled) {
        settled = true
        reject(error)
      }
      closeBody()
    }
    socket.on("connect", () => {
      const extra = Object.entries(options.headers ?? {}).map(([k, v]) => `${k}: ${v}\r\n`).join("")
      socket.write(`GET ${options.path} HTTP/1.1\r\nHost: ${options.host}:${options.port}\r\nAccept: text/event-stream\r\n${extra}\r\n`)
    })
    const onData = (buf: Buffer) => {
      try {
        options.onRead?.(Date.now(), buf.length)
        if (head !== undefined) {
          // Copied: `buf` is the shared read buffer, overwritten by the next read.
          head = Buffer.concat([head, buf])
          const end = head.indexOf(HEAD_END)
          if (end < 0) return
          const text = head.toString("latin1", 0, end).toLowerCase()
          const rest = head
          head = undefined
          const status = Number(text.slice(9, 12))
          if (status !== 200) return fail(new Error(`stream answered ${status}`))
          if (/\r\ntransfer-encoding:[ \t]*chunked/.test(text)) body = new ChunkedBody((b, from, to) => scanner.push(b, from, to))
          else unframed = true
          settled = true
          resolve({ socket, closed })
          if (end + 4 < rest.length) buf = rest.subarray(end + 4)
          else return
          if (body !== undefined) body.push(buf, 0)
          else scanner.push(buf, 0, buf.length)
        } else if (body !== undefined) body.push(buf, 0)
        else if (unframed) scanner.push(buf, 0, buf.length)
        if (body?.ended) {
          socket.destroy()
          closeBody()
        }
      } catch (error) {
        fail(error as Error)
      }
    }
    socket.on("error", (error) => fail(error))
    socket.on("close", () => {
      if (!settled) fail(new Error("the server closed the connection before answering"))
      closeBody()
    })
  })
