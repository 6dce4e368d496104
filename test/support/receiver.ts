import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from "node:http"
import type { AddressInfo } from "node:net"

/** One request a webhook receiver got. */
export interface Received {
  readonly method: string
  readonly path: string
  readonly headers: IncomingHttpHeaders
  /** The raw body, exactly as sent (what a signature covers). */
  readonly body: string
}

/** How the receiver answers: a status code, or never (it holds the request open). */
export type ReceiverMode = { readonly status: number } | "hang"

export interface Receiver {
  readonly port: number
  readonly url: string
  readonly received: Array<Received>
  /** Requests it holds open in "hang" mode that the sender has not abandoned yet. */
  readonly open: () => number
  mode: ReceiverMode
  readonly close: () => Promise<void>
}

/** A real HTTP server on 127.0.0.1 standing in for a webhook receiver (port 0 = ephemeral). */
export const startReceiver = (options: { readonly port?: number; readonly mode?: ReceiverMode } = {}) =>
  new Promise<Receiver>((resolve, reject) => {
    const held = new Set<ServerResponse>()
    const received: Array<Received> = []
    const server: Server = createServer((req, res) => {
      const chunks: Array<Buffer> = []
      req.on("data", (c: Buffer) => chunks.push(c))
      req.on("end", () => {
        received.push({
          method: req.method ?? "",
          path: req.url ?? "",
          headers: req.headers,
          body: Buffer.concat(chunks).toString("utf8")
        })
        const mode = receiver.mode
        if (mode === "hang") {
          held.add(res)
          res.on("close", () => held.delete(res))
          return
        }
        res.writeHead(mode.status, { "content-type": "text/plain" }).end(mode.status < 300 ? "ok" : "receiver trouble")
      })
    })
    const receiver: Receiver = {
      port: 0,
      url: "",
      received,
      open: () => held.size,
      mode: options.mode ?? { status: 200 },
      close: () =>
        new Promise<void>((done) => {
          server.closeAllConnections()
          server.close(() => done())
        })
    }
    server.on("error", reject)
    server.listen(options.port ?? 0, "127.0.0.1", () => {
      const port = (server.address() as AddressInfo).port
      Object.assign(receiver, { port, url: `http://127.0.0.1:${port}` })
      resolve(receiver)
    })
  })

/** A port nothing listens on (it was free a moment ago): a receiver that is down. */
export const freePort = async (): Promise<number> => {
  const probe = await startReceiver()
  await probe.close()
  return probe.port
}
