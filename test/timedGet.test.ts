import { createServer, type Server, type Socket } from "node:net"
import type { AddressInfo } from "node:net"
import { afterEach, describe, expect, it } from "vitest"
import { openTimedGetter } from "../bench/load/timed-get.js"

/**
 * The `/metrics` benchmark's client (bench/load/timed-get.ts) parses responses in place on one
 * keep-alive socket; a wrong byte count would end a timed request early or late (or hang the
 * next one). A raw TCP server answers each request in pieces of a few bytes, a pause between
 * them, so heads, chunk size lines and bodies arrive split at many offsets.
 */

const body = (n: number, c: string) => c.repeat(n)
const withLength = (status: number, text: string) =>
  `HTTP/1.1 ${status} OK\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(text)}\r\n\r\n${text}`
const chunked = (pieces: ReadonlyArray<string>) =>
  "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\ntransfer-encoding: chunked\r\n\r\n" +
  pieces.map((p, i) => `${Buffer.byteLength(p).toString(16).toUpperCase()}${i === 0 ? ";ext=1" : ""}\r\n${p}\r\n`).join("") +
  "0\r\n\r\n"

let server: Server | undefined
afterEach(() => server?.close())

/** Answers the n-th request on a connection with `answers[n]`, in pieces of `piece` bytes. */
const serve = async (answers: ReadonlyArray<string>, piece: number) => {
  server = createServer((socket: Socket) => {
    socket.setNoDelay(true)
    let served = 0
    socket.on("data", async () => {
      const bytes = Buffer.from(answers[served++] ?? "")
      for (let at = 0; at < bytes.length; at += piece) {
        if (socket.destroyed) return
        socket.write(bytes.subarray(at, at + piece))
        await new Promise((resolve) => setTimeout(resolve, 1))
      }
    })
  })
  await new Promise<void>((resolve) => server!.listen(0, "127.0.0.1", resolve))
  return (server.address() as AddressInfo).port
}

describe("bench/load/timed-get.ts", () => {
  for (const piece of [1, 7, 64, 100_000]) {
    it(`reads Content-Length and chunked responses in turn on one connection (pieces of ${piece} bytes)`, async () => {
      const big = body(3000, "m")
      const answers = [withLength(200, big), chunked(["a", body(300, "b"), "é"]), withLength(503, ""), withLength(200, "ok")]
      const port = await serve(answers, piece)
      const getter = await openTimedGetter("127.0.0.1", port)
      try {
        const results = []
        for (const path of ["/metrics", "/healthz", "/healthz", "/metrics"]) results.push(await getter.get(path))
        expect(results.map((r) => [r.status, r.bytes])).toEqual([[200, 3000], [200, 1 + 300 + 2], [503, 0], [200, 2]])
        for (const r of results) expect(r.ms).toBeGreaterThanOrEqual(0)
      } finally {
        getter.close()
      }
    }, 20_000)
  }

  it("rejects a response it cannot frame, and one that the server closes half-way", async () => {
    const port = await serve(["HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nunframed"], 5)
    const getter = await openTimedGetter("127.0.0.1", port)
    await expect(getter.get("/metrics")).rejects.toThrow(/without Content-Length or chunked framing/)
    getter.close()

    server!.close()
    server = createServer((socket) => socket.once("data", () => socket.end("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")))
    await new Promise<void>((resolve) => server!.listen(0, "127.0.0.1", resolve))
    const cut = await openTimedGetter("127.0.0.1", (server.address() as AddressInfo).port)
    await expect(cut.get("/metrics")).rejects.toThrow(/connection closed/)
    cut.close()
  })
})
