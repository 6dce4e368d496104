/**
 * A local webhook receiver for the `streams` benchmark's webhook part, in the driver's process
 * (node:http on loopback). While `down` it answers every delivery 503, as a receiver behind a
 * proxy that is restarting would, so synclog keeps them pending and retries the head; once
 * `up()` is called it answers 204 and records each delivery's id (`X-Synclog-Delivery`, the
 * event's log position), the endpoint it was sent to (the `?endpoint=` of the URL each endpoint
 * is configured with: one receiver serves several endpoints) and when it arrived. Nothing is
 * parsed: the body is only read to the end.
 */
import { createServer } from "node:http"
import { createServer as createTcpServer } from "node:net"
import type { Socket } from "node:net"

export interface Receiver {
  readonly url: string
  /** Starts accepting deliveries (204) from now on. */
  readonly up: () => void
  /** Deliveries refused while down. */
  readonly refused: () => number
  /** Accepted deliveries in arrival order: endpoint, delivery id and `Date.now()` at arrival. */
  readonly accepted: ReadonlyArray<{ readonly endpoint: string; readonly id: number; readonly at: number }>
  /** Resolves once `count` distinct (endpoint, id) pairs have been accepted (or rejects after `timeoutMs`). */
  readonly waitFor: (count: number, timeoutMs: number) => Promise<void>
  readonly close: () => Promise<void>
}

export const startReceiver = (): Promise<Receiver> =>
  new Promise((resolve, reject) => {
    let isUp = false
    let refused = 0
    const accepted: Array<{ endpoint: string; id: number; at: number }> = []
    const distinct = new Set<string>()
    let waiter: { count: number; done: () => void } | undefined
    const server = createServer((req, res) => {
      req.resume()
      req.on("end", () => {
        if (!isUp) {
          refused++
          res.writeHead(503).end()
          return
        }
        const id = Number(req.headers["x-synclog-delivery"])
        const endpoint = new URL(req.url ?? "/", "http://receiver").searchParams.get("endpoint") ?? ""
        accepted.push({ endpoint, id, at: Date.now() })
        distinct.add(`${endpoint}/${id}`)
        res.writeHead(204).end()
        if (waiter !== undefined && distinct.size >= waiter.count) waiter.done()
      })
    })
    server.keepAliveTimeout = 60_000
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      resolve({
        url: `http://127.0.0.1:${port}/synclog`,
        up: () => void (isUp = true),
        refused: () => refused,
        accepted,
        waitFor: (count, timeoutMs) =>
          new Promise<void>((done, fail) => {
            if (distinct.size >= count) return done()
            const timer = setTimeout(() => fail(new Error(`receiver: ${distinct.size} of ${count} deliveries after ${timeoutMs} ms`)), timeoutMs)
            waiter = {
              count,
              done: () => {
                clearTimeout(timer)
                waiter = undefined
                done()
              }
            }
          }),
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done())
            server.closeAllConnections()
          })
      })
    })
  })

/**
 * A source that accepts connections and never answers: a job pointed at it stays `running` on
 * its first request, which keeps its integration busy so further jobs of it stay `queued`.
 */
export const startStallingSource = async (): Promise<{ readonly url: string; readonly close: () => Promise<void> }> => {
  const sockets = new Set<Socket>()
  const server = createTcpServer((socket) => {
    sockets.add(socket)
    socket.on("close", () => sockets.delete(socket))
    socket.on("error", () => {})
    socket.resume()
  })
  await new Promise<void>((done) => server.listen(0, "127.0.0.1", done))
  const address = server.address()
  const port = typeof address === "object" && address !== null ? address.port : 0
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((done) => {
        for (const socket of sockets) socket.destroy()
        server.close(() => done())
      })
  }
}
