/**
 * Timed keep-alive GETs on one raw `net` socket, for the `/metrics` part of the streams suite
 * (bench/suites/streams-metrics.ts): a load generator that stays out of the figure it takes, as
 * wrk does. Every read lands in one buffer allocated here once (`onread`), the request bytes are
 * encoded once per path, and the response is parsed in place: the status digits, the head's end,
 * `Content-Length` or the chunk framing; the body's bytes are counted, never copied or decoded.
 *
 * Why: with `node:http`'s client every read of a 70-134 KB `/metrics` body became Buffers (64 KB
 * each, memory outside V8's heap), and that churn made this process run garbage collections,
 * full ones included (7-15 ms), inside timed requests: they landed as often on the `/healthz`
 * request after a scrape as on the scrape itself, and were counted as the server's tail.
 * The clock is read in the read callback that completes the response, before any promise runs.
 */
import { connect, type Socket } from "node:net"
import { ChunkedBody } from "./chunked.js"

export interface TimedResponse {
  /** Request written → last byte of the body read, in milliseconds (`performance.now()`). */
  readonly ms: number
  readonly status: number
  /** Body bytes (without the chunk framing). */
  readonly bytes: number
}

export interface TimedGetter {
  /** One GET; one at a time (the next request is written after this one's answer). */
  readonly get: (path: string) => Promise<TimedResponse>
  readonly close: () => void
}

const CR = 13
const LF = 10
const HEAD_MAX = 16 * 1024

/** Opens the connection; every `get` reuses it (HTTP/1.1 keep-alive, as a Prometheus scraper). */
export const openTimedGetter = (host: string, port: number): Promise<TimedGetter> =>
  new Promise((resolve, reject) => {
    const requests = new Map<string, Buffer>()
    const readBuffer = Buffer.allocUnsafe(256 * 1024)
    const head = Buffer.allocUnsafe(HEAD_MAX)

    // The response being read: its head (copied until its blank line), then its body.
    let headLength = 0
    let phase: "idle" | "head" | "length" | "chunked" = "idle"
    let status = 0
    let remaining = 0
    let bytes = 0
    let chunked: ChunkedBody | undefined
    const countBytes = (_: Buffer, start: number, end: number) => {
      bytes += end - start
    }
    let started = 0
    let pending: { resolve: (r: TimedResponse) => void; reject: (e: Error) => void } | undefined

    const fail = (error: Error) => {
      const p = pending
      pending = undefined
      phase = "idle"
      p?.reject(error)
    }
    const finish = () => {
      const ms = performance.now() - started
      const p = pending
      pending = undefined
      phase = "idle"
      p?.resolve({ ms, status, bytes })
    }

    /** The head is complete in `head[0, headLength)`: status, then how the body is framed. */
    const startBody = (): boolean => {
      const text = head.toString("latin1", 0, headLength)
      status = Number(text.slice(9, 12))
      const length = /\r\ncontent-length:\s*(\d+)/i.exec(text)
      bytes = 0
      if (length !== null) {
        remaining = Number(length[1])
        phase = "length"
        if (remaining === 0) finish()
        return true
      }
      if (/\r\ntransfer-encoding:\s*chunked/i.test(text)) {
        phase = "chunked"
        chunked = new ChunkedBody(countBytes)
        return true
      }
      fail(new Error(`response without Content-Length or chunked framing: ${text.slice(0, 200)}`))
      return false
    }

    const onRead = (n: number, buf: Buffer): boolean => {
      let i = 0
      while (i < n) {
        switch (phase) {
          case "idle":
            fail(new Error("bytes from the server with no request pending"))
            return true
          case "head": {
            // Copy byte by byte up to the blank line (heads are a few hundred bytes).
            while (i < n && phase === "head") {
              if (headLength === HEAD_MAX) return (fail(new Error("response head too long")), true)
              head[headLength++] = buf[i++]!
              if (
                headLength >= 4 && head[headLength - 1] === LF && head[headLength - 2] === CR &&
                head[headLength - 3] === LF && head[headLength - 4] === CR
              ) {
                if (!startBody()) return true
              }
            }
            break
          }
          case "length": {
            const take = Math.min(remaining, n - i)
            i += take
            bytes += take
            remaining -= take
            if (remaining === 0) finish()
            break
          }
          case "chunked": {
            try {
              i = chunked!.push(buf, i, n)
            } catch (error) {
              fail(error as Error)
              return true
            }
            if (chunked!.ended) finish()
            break
          }
        }
      }
      return true
    }

    const socket: Socket = connect({ host, port, noDelay: true, onread: { buffer: readBuffer, callback: onRead } })
    socket.once("connect", () => {
      socket.on("error", (e) => fail(e))
      socket.on("close", () => fail(new Error("connection closed")))
      resolve({
        get: (path) =>
          new Promise<TimedResponse>((res, rej) => {
            if (pending !== undefined) return rej(new Error("one request at a time"))
            let request = requests.get(path)
            if (request === undefined) {
              request = Buffer.from(`GET ${path} HTTP/1.1\r\nHost: ${host}:${port}\r\n\r\n`, "latin1")
              requests.set(path, request)
            }
            pending = { resolve: res, reject: rej }
            phase = "head"
            headLength = 0
            started = performance.now()
            socket.write(request)
          }),
        close: () => socket.destroy()
      })
    })
    socket.once("error", reject)
  })
