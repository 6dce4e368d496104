import { readdirSync, readFileSync, readlinkSync } from "node:fs"
import { groupPids } from "./processGroup.js"
import { Agent, createServer, type IncomingMessage, request, type ServerResponse } from "node:http"
import type { Socket } from "node:net"

/**
 * A pass-through HTTP proxy between a cluster's runners and the simulator that knows which
 * runner sent each request, so that a test can cut one runner off from the source (a
 * partition) while the others keep syncing, and can see where a job moved.
 *
 * Runners share one config, so they all reach the source at the same URL: a request is told
 * apart by the process that holds the other end of its TCP connection (Linux: the socket's
 * inode in /proc/net/tcp, found among the file descriptors of the runner's process group).
 * A connection is attributed at its first request whose owner is found; keep-alive connections
 * carry many requests.
 */

export type SourceRequestStatus = "held" | "forwarded" | "served" | "aborted"

export interface SourceRequest {
  /** The runner's label (see `RunnerIdentity`), or "unknown". */
  readonly runner: string
  /** The workspace slug of a v1 request, "(other)" for anything else. */
  readonly workspace: string
  readonly url: string
  /** Date.now() when it arrived. */
  readonly at: number
  status: SourceRequestStatus
}

export interface RunnerIdentity {
  readonly label: string
  /** The process group of the runner (its leader's pid). */
  readonly pgid: number
}

export interface SourceProxy {
  readonly url: string
  /** Every request so far, in arrival order. */
  readonly requests: () => ReadonlyArray<SourceRequest>
  /** Holds every request of `runner` from now on, unanswered, until `thaw`. */
  readonly freeze: (runner: string) => void
  /** Forwards the runner's held requests and stops holding. */
  readonly thaw: (runner: string) => void
  /** The runner's requests that are being held. */
  readonly held: (runner: string) => ReadonlyArray<SourceRequest>
  /** One line per request (for failure reports). */
  readonly describe: () => string
  readonly close: () => Promise<void>
}

const WORKSPACE_IN_URL = /^\/api\/v1\/workspaces\/([^/?]+)\//

/** The inode of the loopback TCP socket whose local port is `localPort` and remote port `remotePort`. */
const socketInode = (localPort: number, remotePort: number): string | undefined => {
  const hex = (port: number) => port.toString(16).toUpperCase().padStart(4, "0")
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let text: string
    try {
      text = readFileSync(table, "utf8")
    } catch {
      continue
    }
    for (const line of text.split("\n").slice(1)) {
      const fields = line.trim().split(/\s+/)
      if (fields.length < 10) continue
      if (fields[1]!.endsWith(`:${hex(localPort)}`) && fields[2]!.endsWith(`:${hex(remotePort)}`)) return fields[9]
    }
  }
  return undefined
}

const holdsSocket = (pid: number, inode: string): boolean => {
  const target = `socket:[${inode}]`
  let fds: Array<string>
  try {
    fds = readdirSync(`/proc/${pid}/fd`)
  } catch {
    return false
  }
  return fds.some((fd) => {
    try {
      return readlinkSync(`/proc/${pid}/fd/${fd}`) === target
    } catch {
      return false
    }
  })
}

interface Pending {
  readonly entry: SourceRequest
  readonly req: IncomingMessage
  readonly res: ServerResponse
}

/** Starts the proxy in front of `targetUrl` on an ephemeral port of 127.0.0.1. */
export const startSourceProxy = async (targetUrl: string, runners: () => ReadonlyArray<RunnerIdentity>): Promise<SourceProxy> => {
  const target = new URL(targetUrl)
  const agent = new Agent({ keepAlive: true, maxSockets: 64 })
  const entries: Array<SourceRequest> = []
  const frozen = new Set<string>()
  const pending: Array<Pending> = []
  const owners = new WeakMap<Socket, string>()
  const sockets = new Set<Socket>()
  let port = 0

  const ownerOf = (socket: Socket): string => {
    const known = owners.get(socket)
    if (known !== undefined) return known
    const inode = socket.remotePort === undefined ? undefined : socketInode(socket.remotePort, port)
    const owner = inode === undefined
      ? "unknown"
      : runners().find((r) => groupPids(r.pgid).some((pid) => holdsSocket(pid, inode)))?.label ?? "unknown"
    // Not found is not remembered: the next request on the connection looks again (a runner whose
    // connection was attributed "unknown" for good would never be held while frozen).
    if (owner !== "unknown") owners.set(socket, owner)
    return owner
  }

  const forward = ({ entry, req, res }: Pending) => {
    if (res.destroyed) {
      entry.status = "aborted"
      return
    }
    entry.status = "forwarded"
    const headers = { ...req.headers, host: target.host }
    delete headers.connection
    const upstream = request({ host: target.hostname, port: target.port, path: req.url, method: req.method, headers, agent }, (up) => {
      const chunks: Array<Buffer> = []
      up.on("data", (c: Buffer) => chunks.push(c))
      up.on("end", () => {
        if (res.destroyed) {
          entry.status = "aborted"
          return
        }
        const body = Buffer.concat(chunks)
        const out: Record<string, string | Array<string>> = {}
        for (const [k, v] of Object.entries(up.headers)) {
          if (v !== undefined && k !== "transfer-encoding" && k !== "connection" && k !== "keep-alive") out[k] = v
        }
        out["content-length"] = String(body.length)
        res.writeHead(up.statusCode ?? 502, out)
        res.end(body, () => {
          entry.status = "served"
        })
      })
      up.on("error", () => res.destroy())
    })
    upstream.on("error", () => {
      entry.status = "aborted"
      res.destroy()
    })
    upstream.end()
  }

  const server = createServer({ keepAliveTimeout: 5_000 }, (req, res) => {
    req.resume()
    const slug = WORKSPACE_IN_URL.exec(req.url ?? "")?.[1]
    const entry: SourceRequest = {
      runner: ownerOf(req.socket),
      workspace: slug === undefined ? "(other)" : decodeURIComponent(slug),
      url: req.url ?? "/",
      at: Date.now(),
      status: "forwarded"
    }
    entries.push(entry)
    const p: Pending = { entry, req, res }
    if (!frozen.has(entry.runner)) return forward(p)
    entry.status = "held"
    pending.push(p)
    res.once("close", () => {
      if (entry.status === "held") entry.status = "aborted"
    })
  })
  server.on("connection", (socket) => {
    sockets.add(socket)
    socket.on("close", () => sockets.delete(socket))
  })
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => resolve())
  })
  const address = server.address()
  port = typeof address === "object" && address !== null ? address.port : 0
  const started = Date.now()

  const release = (runner: string | undefined) => {
    for (let i = pending.length - 1; i >= 0; i--) {
      const p = pending[i]!
      if (runner !== undefined && p.entry.runner !== runner) continue
      pending.splice(i, 1)
      if (p.entry.status === "held") forward(p)
    }
  }

  return {
    url: `http://127.0.0.1:${port}`,
    requests: () => entries,
    freeze: (runner) => void frozen.add(runner),
    thaw: (runner) => {
      frozen.delete(runner)
      release(runner)
    },
    held: (runner) => entries.filter((e) => e.runner === runner && e.status === "held"),
    describe: () =>
      entries
        .map((e) => `  +${e.at - started} ms [${e.runner}] ${e.status} ${e.url.replace(/[0-9a-f]{8}-[0-9a-f-]{27}/g, "…")}`)
        .join("\n"),
    close: async () => {
      frozen.clear()
      for (const p of pending.splice(0)) {
        p.entry.status = "aborted"
        p.res.destroy()
      }
      await new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
        for (const s of sockets) s.destroy()
      })
      agent.destroy()
    }
  }
}
