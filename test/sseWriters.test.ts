import { Context, Effect, Exit, Layer, Scope } from "effect"
import { createServer, type IncomingMessage, type ServerResponse } from "node:http"
import { connect } from "node:net"
import { afterEach, describe, expect, it } from "vitest"
import type { SseSink } from "../src/http/sseConnection.js"
import { runsOf, SseWriters } from "../src/http/sseWriters.js"

/**
 * The two sinks of `GET /api/sync/stream` on real sockets: the writer process's (a real child
 * process, through tsx here) and the in-process one. A client that reads nothing fills the
 * kernel's buffers (about 3 MB on loopback), so `write` says to wait; `onDrain` calls back once
 * the client reads; every byte arrives, in order, framed as HTTP/1.1 chunks, and `end` ends the
 * response with the last chunk.
 */

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

/** The body of a chunked HTTP/1.1 response, and whether it ended with the last chunk. */
const dechunk = (raw: Buffer) => {
  const headEnd = raw.indexOf("\r\n\r\n")
  const head = raw.subarray(0, headEnd).toString("latin1")
  let at = headEnd + 4
  const parts: Array<Buffer> = []
  for (;;) {
    const line = raw.indexOf("\r\n", at)
    if (line < 0) return { head, body: Buffer.concat(parts).toString("utf8"), ended: false }
    const size = parseInt(raw.subarray(at, line).toString("latin1"), 16)
    if (size === 0) return { head, body: Buffer.concat(parts).toString("utf8"), ended: true }
    parts.push(raw.subarray(line + 2, line + 2 + size))
    at = line + 2 + size + 2
  }
}

describe.each(["process", "inline"] as const)("SSE sinks: SYNC_SSE_WRITER=%s", (mode) => {
  const cleanups: Array<() => Promise<void>> = []
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c()
  })

  /** The layer built in a scope of the test's, and a server whose requests get a sink each. */
  const setup = async () => {
    const scope = Effect.runSync(Scope.make())
    cleanups.push(() => Effect.runPromise(Scope.close(scope, Exit.void)))
    const writers = await Effect.runPromise(Layer.buildWithScope(SseWriters.layer(mode), scope).pipe(Effect.map(Context.get(SseWriters))))
    const sinks: Array<{ sink: SseSink; release: Effect.Effect<void> }> = []
    const waiting: Array<() => void> = []
    const server = createServer((_req: IncomingMessage, res: ServerResponse) => {
      void Effect.runPromise(writers.open(res, { "content-type": "text/event-stream" })).then((opened) => {
        sinks.push(opened)
        waiting.splice(0).forEach((w) => w())
      })
    })
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r))
    cleanups.push(() => new Promise<void>((r) => {
      server.closeAllConnections()
      server.close(() => r())
    }))
    const port = (server.address() as { port: number }).port
    const nextSink = async () => {
      while (sinks.length === 0) await new Promise<void>((r) => waiting.push(r))
      return sinks.shift()!
    }
    return { port, nextSink }
  }

  it("waits while the client reads nothing, drains when it reads, and delivers every byte in order", async () => {
    const { port, nextSink } = await setup()
    const client = connect({ port, host: "127.0.0.1" })
    client.pause()
    const received: Array<Buffer> = []
    client.on("data", (b: Buffer) => received.push(b))
    client.write("GET /api/sync/stream HTTP/1.1\r\nHost: x\r\n\r\n")
    const { sink, release } = await nextSink()

    const texts: Array<string> = []
    const send = (text: string) => {
      texts.push(text)
      return sink.write(text)
    }
    // 6.4 MB in 64 KB messages: more than the kernel's buffers hold (~3 MB on loopback).
    let full = false
    for (let i = 0; i < 100 && !full; i++) full = !send(`id: ${i}\ndata: ${String(i).padStart(6, "0").repeat(10_000)}\n\n`)
    // The writer process says it is full by a message back (late when the machine is busy):
    // small messages until the sink says to wait.
    for (let i = 0; !full; i++) {
      expect(i, "the sink never said to wait").toBeLessThan(1_000)
      await sleep(10)
      full = !send(`id: small-${i}\n\n`)
    }
    const drained = new Promise<void>((r) => sink.onDrain(r))
    client.resume()
    await drained
    texts.push("event: overflow\ndata: {}\n\n")
    sink.write(texts[texts.length - 1]!)
    sink.end()
    await Effect.runPromise(release)
    // The response ends with its last chunk (the writer process then closes the connection;
    // the in-process sink leaves it to HTTP keep-alive).
    await expect.poll(() => dechunk(Buffer.concat(received)).ended, { timeout: 10_000 }).toBe(true)
    const { body, head } = dechunk(Buffer.concat(received))
    expect(head).toMatch(/^HTTP\/1\.1 200 OK/)
    expect(head.toLowerCase()).toContain("content-type: text/event-stream")
    expect(body).toBe(texts.join(""))
    client.destroy()
  })

  it("calls back when the client goes away, and writes to it are dropped", async () => {
    const { port, nextSink } = await setup()
    const client = connect({ port, host: "127.0.0.1" })
    client.write("GET /api/sync/stream HTTP/1.1\r\nHost: x\r\n\r\n")
    const { sink, release } = await nextSink()
    const gone = new Promise<void>((r) => sink.onClose(r))
    expect(sink.write("data: 1\n\n")).toBe(true)
    client.destroy()
    await gone
    sink.write("data: 2\n\n")
    await Effect.runPromise(release)
  })
})

describe("connection ids sent to the writer process", () => {
  it("go as runs of consecutive ids, in the order given", () => {
    expect(runsOf([1, 2, 3, 7, 8, 10])).toEqual([1, 3, 7, 2, 10, 1])
    expect(runsOf([5, 4, 6])).toEqual([5, 1, 4, 1, 6, 1])
    expect(runsOf(Array.from({ length: 1000 }, (_, i) => i + 1))).toEqual([1, 1000])
    expect(runsOf([])).toEqual([])
  })
})
