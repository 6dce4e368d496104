import { createServer, type Server, type Socket } from "node:net"
import type { AddressInfo } from "node:net"
import { afterEach, describe, expect, it } from "vitest"
import { dataOf, openSse, recordedAtOf } from "../bench/load/sse-wire.js"

/**
 * The benchmark's SSE load client (bench/load/sse-wire.ts) checks the server's ordering and
 * measures delays; its parsing must be right for the figures to mean anything. A raw TCP
 * server sends it a response in pieces, each piece only after the client has read the one
 * before, so messages, chunk framing and size lines are split at every offset tried.
 */

const events = [
  { id: 7, type: "JobStarted", at: "2026-12-01T01:00:00.125Z" },
  { id: 8, type: "BatchCommitted", at: "2026-12-01T01:00:01.500Z" },
  { id: 9, type: "JobCompleted", at: "2026-12-01T01:00:02.000Z" }
]
const messages = [
  ": heartbeat\n\n",
  ...events.map((e) => `id: ${e.id}\nevent: ${e.type}\ndata: {"position":${e.id},"type":"${e.type}","recordedAt":"${e.at}","data":{"é":"ü"}}\n\n`),
  `event: overflow\ndata: {"lastEventId":9,"message":"reconnect"}\n\n`
]
const chunked = (texts: ReadonlyArray<string>) =>
  Buffer.from(texts.map((t) => `${Buffer.byteLength(t).toString(16)}\r\n${t}\r\n`).join("") + "0\r\n\r\n")
const HEAD_CHUNKED = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
const HEAD_PLAIN = "HTTP/1.0 200 OK\r\nContent-Type: text/event-stream\r\n\r\n"

let server: Server | undefined
afterEach(() => server?.close())

/** A server that answers any request with `bytes`, in pieces of `piece` bytes, each once the client read the last. */
const serve = async (bytes: Buffer, piece: number, reads: { n: number }) => {
  server = createServer((socket: Socket) => {
    socket.setNoDelay(true)
    socket.once("data", async () => {
      for (let at = 0; at < bytes.length; at += piece) {
        const before = reads.n
        socket.write(bytes.subarray(at, at + piece))
        while (reads.n === before && !socket.destroyed) await new Promise((resolve) => setTimeout(resolve, 1))
        if (socket.destroyed) return
      }
      socket.end()
    })
  })
  await new Promise<void>((resolve) => server!.listen(0, "127.0.0.1", resolve))
  return (server.address() as AddressInfo).port
}

interface Seen {
  readonly id: number
  readonly event: string
  readonly recordedAt: number
  readonly data: string
}

const read = async (bytes: Buffer, piece: number) => {
  const reads = { n: 0 }
  const port = await serve(bytes, piece, reads)
  const seen: Array<Seen> = []
  const stream = await openSse(
    { host: "127.0.0.1", port, path: "/api/sync/stream?after=6", onRead: () => reads.n++ },
    (id, event, buf, start, end) => seen.push({ id, event, recordedAt: recordedAtOf(buf, start, end), data: dataOf(buf, start, end) })
  )
  await stream.closed
  return seen
}

const expected = [
  ...events.map((e) => ({ id: e.id, event: e.type, recordedAt: Date.parse(e.at) })),
  { id: -1, event: "overflow", recordedAt: Number.NaN }
]

describe("SSE load client (bench)", () => {
  it("reads chunked messages split at any offset: ids, names, recordedAt, data; heartbeats skipped", async () => {
    const body = Buffer.concat([Buffer.from(HEAD_CHUNKED), chunked(messages)])
    for (const piece of [1, 2, 3, 5, 8, 13, 64, body.length]) {
      const seen = await read(body, piece)
      expect(seen.map(({ id, event, recordedAt }) => ({ id, event, recordedAt })), `pieces of ${piece}`).toEqual(expected)
      expect(JSON.parse(seen[3]!.data)).toEqual({ lastEventId: 9, message: "reconnect" })
      expect(JSON.parse(seen[0]!.data).data).toEqual({ "é": "ü" })
      server!.close()
    }
  })

  it("reads an unframed body (HTTP/1.0) to the connection's end", async () => {
    const body = Buffer.from(HEAD_PLAIN + messages.join(""))
    for (const piece of [1, 7, body.length]) {
      const seen = await read(body, piece)
      expect(seen.map(({ id, event, recordedAt }) => ({ id, event, recordedAt })), `pieces of ${piece}`).toEqual(expected)
      server!.close()
    }
  })

  it("refuses a response that is not 200, and bad chunk framing", async () => {
    const refused = Buffer.from("HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n")
    await expect(read(refused, refused.length)).rejects.toThrow("stream answered 401")
    server!.close()
    const seen: Array<number> = []
    const bad = Buffer.from(HEAD_CHUNKED + "zz\r\nid: 1\n\n\r\n")
    const reads = { n: 0 }
    const port = await serve(bad, bad.length, reads)
    // The head arrives with the bad size in the same read: the stream opens, then fails and closes.
    const outcome = await openSse({ host: "127.0.0.1", port, path: "/", onRead: () => reads.n++ }, (id) => seen.push(id))
      .then((s) => s.closed.then(() => s.socket.destroyed))
      .catch((error: Error) => error.message)
    expect([true, "chunked body: bad size byte 122"]).toContain(outcome)
    expect(seen).toEqual([])
  })
})
