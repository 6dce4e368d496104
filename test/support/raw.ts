import { connect, type Socket } from "node:net"

/**
 * HTTP/1.1 over a bare TCP socket, for requests fetch and node:http refuse to send (bad methods,
 * spaces in paths, oversized headers, hand-made chunked framing) and for bodies sent piece by
 * piece. Each exchange gets its own connection.
 */
export interface RawReply {
  readonly status: number
  readonly headers: Readonly<Record<string, string>>
  readonly body: string
  /** Time from the first byte sent to the complete answer. */
  readonly ms: number
}

export interface RawExchange {
  readonly socket: Socket
  /** Writes more bytes; resolves once the socket took them (false once it is closed). */
  readonly write: (data: string | Buffer) => Promise<boolean>
  /** The first final answer, as soon as it is complete (the connection may stay open). */
  readonly reply: Promise<RawReply>
  readonly close: () => void
}

const noBodyStatus = (status: number) => status === 204 || status === 304 || (status >= 100 && status < 200)

/** Parses one response from the front of `buf`; undefined while it is incomplete. */
const parseResponse = (buf: Buffer, isHead: boolean, closed: boolean) => {
  const headEnd = buf.indexOf("\r\n\r\n")
  if (headEnd < 0) return undefined
  const lines = buf.subarray(0, headEnd).toString("latin1").split("\r\n")
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? "")?.[1] ?? NaN)
  const headers: Record<string, string> = {}
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(":")
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim()
  }
  let rest = buf.subarray(headEnd + 4)
  if (isHead || noBodyStatus(status)) return { status, headers, body: Buffer.alloc(0), used: headEnd + 4 }
  if (headers["transfer-encoding"]?.toLowerCase().includes("chunked")) {
    const parts: Array<Buffer> = []
    let used = headEnd + 4
    for (;;) {
      const lineEnd = rest.indexOf("\r\n")
      if (lineEnd < 0) return undefined
      const size = parseInt(rest.subarray(0, lineEnd).toString("latin1"), 16)
      if (Number.isNaN(size)) throw new Error(`bad chunk size in the answer: ${rest.subarray(0, lineEnd).toString("latin1")}`)
      if (size === 0) {
        const end = rest.indexOf("\r\n\r\n", lineEnd)
        if (end < 0) return undefined
        return { status, headers, body: Buffer.concat(parts), used: used + end + 4 }
      }
      if (rest.length < lineEnd + 2 + size + 2) return undefined
      parts.push(rest.subarray(lineEnd + 2, lineEnd + 2 + size))
      used += lineEnd + 2 + size + 2
      rest = rest.subarray(lineEnd + 2 + size + 2)
    }
  }
  if (headers["content-length"] !== undefined) {
    const length = Number(headers["content-length"])
    if (rest.length < length) return undefined
    return { status, headers, body: rest.subarray(0, length), used: headEnd + 4 + length }
  }
  return closed ? { status, headers, body: rest, used: buf.length } : undefined
}

/** Opens a connection and sends `head` (request line and headers, up to and with the blank line). */
export const openRaw = (port: number, head: string | Buffer, options: { timeoutMs?: number } = {}): RawExchange => {
  const timeoutMs = options.timeoutMs ?? 2_000
  const isHead = /^HEAD /i.test(head.toString("latin1"))
  const socket = connect({ port, host: "127.0.0.1" })
  const started = performance.now()
  let buf = Buffer.alloc(0)
  let closed = false
  const reply = new Promise<RawReply>((resolve, reject) => {
    let settled = false
    const settle = (f: () => void) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      f()
    }
    const timer = setTimeout(
      () => settle(() => reject(new Error(`no answer within ${timeoutMs} ms to ${JSON.stringify(head.toString("latin1").slice(0, 120))}`))),
      timeoutMs
    )
    const tryParse = () => {
      try {
        for (;;) {
          const parsed = parseResponse(buf, isHead, closed)
          if (parsed === undefined) return
          if (parsed.status >= 100 && parsed.status < 200) {
            buf = buf.subarray(parsed.used) // 100 Continue: the final answer follows
            continue
          }
          const ms = performance.now() - started
          settle(() => resolve({ status: parsed.status, headers: parsed.headers, body: parsed.body.toString("utf8"), ms }))
          return
        }
      } catch (e) {
        settle(() => reject(e))
      }
    }
    socket.on("data", (chunk) => {
      buf = Buffer.concat([buf, chunk])
      tryParse()
    })
    const onEnd = (why: string) => {
      closed = true
      tryParse()
      settle(() => reject(new Error(`connection ${why} without an answer (${buf.length} bytes received) to ${JSON.stringify(head.toString("latin1").slice(0, 120))}`)))
    }
    socket.on("end", () => onEnd("closed"))
    socket.on("close", () => onEnd("closed"))
    socket.on("error", (e) => onEnd(`failed (${(e as NodeJS.ErrnoException).code ?? e.message})`))
  })
  reply.catch(() => undefined) // observed by the caller; never an unhandled rejection
  const write = (data: string | Buffer) =>
    new Promise<boolean>((resolve) => {
      if (socket.destroyed || !socket.writable) return resolve(false)
      socket.write(data, (err) => resolve(!err))
    })
  void write(head)
  return { socket, write, reply, close: () => socket.destroy() }
}

/** One whole request on its own connection: its answer (or a rejection after `timeoutMs`). */
export const rawRequest = async (port: number, head: string, body?: string | Buffer, timeoutMs?: number) => {
  const exchange = openRaw(port, head, timeoutMs === undefined ? {} : { timeoutMs })
  if (body !== undefined && body.length > 0) void exchange.write(body)
  try {
    return await exchange.reply
  } finally {
    exchange.close()
  }
}

/** A request head: request line, `Host`, the given headers, blank line. */
export const requestHead = (method: string, path: string, headers: Readonly<Record<string, string>> = {}) =>
  `${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n${Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join("")}\r\n`

/** `data` as one HTTP chunk (transfer-encoding: chunked); an empty `data` is the last chunk. */
export const chunk = (data: string | Buffer) => {
  const bytes = typeof data === "string" ? Buffer.from(data) : data
  return Buffer.concat([Buffer.from(`${bytes.length.toString(16)}\r\n`), bytes, Buffer.from("\r\n")])
}

export const lastChunk = "0\r\n\r\n"
