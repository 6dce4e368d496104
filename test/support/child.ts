import { type ChildProcess, spawn } from "node:child_process"
import { writeFileSync } from "node:fs"
import { Agent, createServer as createHttpServer, type IncomingMessage, request, type Server, type ServerResponse } from "node:http"
import { createServer, type Socket } from "node:net"
import { join } from "node:path"
import type { IntegrationConfig } from "../../src/config/ConfigFile.js"
import { KEY_ENV } from "./app.js"
import { type Client, client } from "./http.js"
import { root, serverBundle, startFlags } from "./bundle.js"
import { groupMembers } from "./processGroup.js"

/**
 * The real server as a child process (the bundle, with `npm start`'s node flags: see
 * support/bundle.ts), so a test can crash it with SIGKILL, shut it down with SIGTERM and start
 * it again on the same database. Each child gets a process group of its own: a crash kills the
 * whole group, with anything the server started; a SIGTERM goes to the server, as a process
 * manager would send it.
 */

const MAX_OUTPUT_CHARS = 2_000_000

/** A free TCP port on 127.0.0.1 (listen on 0, read it, close). */
export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = createServer()
    server.unref()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      server.close(() => (port > 0 ? resolve(port) : reject(new Error("no port assigned"))))
    })
  })

/** Writes a config file in the format of synclog.config.example.json; returns its path. */
export const writeConfigFile = (
  path: string,
  integrations: ReadonlyArray<IntegrationConfig>,
  engine: Readonly<Record<string, unknown>> = {}
): string => {
  writeFileSync(path, JSON.stringify({ integrations, engine }, null, 2))
  return path
}

export interface ExitInfo {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
}

/** One structured log line of the child (SYNC_LOG_FORMAT=json). */
export interface ChildLogLine {
  readonly message: unknown
  readonly logLevel?: string
  readonly annotations?: Record<string, unknown>
  readonly [key: string]: unknown
}

export interface ChildServer {
  readonly label: string
  readonly pid: number
  readonly port: number
  readonly url: string
  readonly api: Client
  /** Everything the child wrote so far, stdout and stderr interleaved, each line prefixed. */
  readonly output: () => string
  /** The child's stdout lines that parse as JSON objects (its structured log). */
  readonly logLines: () => ReadonlyArray<ChildLogLine>
  readonly exited: Promise<ExitInfo>
  readonly hasExited: () => boolean
  /** A crash: SIGKILL to the whole process group; resolves once every process of it is gone. */
  readonly crash: () => Promise<ExitInfo>
  /** A graceful shutdown: SIGTERM to the tsx process (relayed once to the server); awaits the exit. */
  readonly terminate: (timeoutMs?: number) => Promise<ExitInfo>
}

export interface ChildOptions {
  readonly dbPath: string
  readonly configPath: string
  readonly apiKey: string
  /** Names this start in the output dump (e.g. "run 1"). */
  readonly label?: string
  readonly env?: Readonly<Record<string, string>>
  readonly readyTimeoutMs?: number
}

const live = new Set<ChildServer>()
const started: Array<ChildServer> = []

// Children run in process groups of their own, so an aborted test run would not take them down
// with it: kill whatever is left when this process exits.
process.once("exit", () => {
  for (const c of live) {
    try {
      process.kill(-c.pid, "SIGKILL")
    } catch {
      // gone
    }
  }
})

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

/**
 * Whether a process of the group still runs. On Linux zombies do not count: a killed server
 * whose parent (the tsx process) died too is reparented, and a container's PID 1 may never reap
 * it, but a zombie holds no file, lock or port any more.
 */
const groupAlive = (pgid: number): boolean => {
  if (process.platform === "linux") return groupMembers(pgid).some((m) => m.state !== "Z" && m.state !== "X")
  try {
    process.kill(-pgid, 0)
    return true
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM"
  }
}

const signalGroup = (pid: number, signal: NodeJS.Signals) => {
  try {
    process.kill(-pid, signal)
  } catch {
    // already gone
  }
}

/** Waits until no process of the group is left (the server may outlive the tsx process briefly). */
const awaitGroupGone = async (pid: number, timeoutMs = 10_000) => {
  const deadline = Date.now() + timeoutMs
  while (groupAlive(pid)) {
    if (Date.now() > deadline) throw new Error(`process group ${pid} still alive ${timeoutMs} ms after its leader exited`)
    await sleep(20)
  }
}

/** Spawns the server on `port` without waiting for it (a test of a start that must fail). */
export const spawnOnce = async (options: ChildOptions, port: number): Promise<ChildServer> => {
  const label = options.label ?? "server"
  const chunks: Array<string> = []
  let size = 0
  const append = (text: string) => {
    if (size > MAX_OUTPUT_CHARS) return
    chunks.push(text)
    size += text.length
  }
  const stdoutLines: Array<string> = []
  let stdoutRest = ""
  let stderrRest = ""

  const inherited = { ...process.env }
  delete inherited.SYNC_API_TOKEN // the tests' client sends no token
  const child: ChildProcess = spawn(process.execPath, [...startFlags(), serverBundle], {
    cwd: root,
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
    env: {
      ...inherited,
      PORT: String(port),
      HOST: "127.0.0.1",
      // A SQLite file, or the test's PostgreSQL database (support/database.ts).
      ...(/^postgres(ql)?:\/\//.test(options.dbPath) ? { SYNC_DATABASE_URL: options.dbPath } : { SYNC_DB_PATH: options.dbPath }),
      SYNC_CONFIG: options.configPath,
      SYNC_LOG_FORMAT: "json",
      SYNC_AUTO_INITIALIZE: "true",
      SYNC_SECRETS_FILE: join(root, "does-not-exist.secrets.json"),
      [KEY_ENV]: options.apiKey,
      ...options.env
    }
  })
  const pid = child.pid
  if (pid === undefined) throw new Error("could not spawn the server")

  child.stdout!.setEncoding("utf8")
  child.stderr!.setEncoding("utf8")
  child.stdout!.on("data", (data: string) => {
    const lines = (stdoutRest + data).split("\n")
    stdoutRest = lines.pop() ?? ""
    for (const line of lines) {
      stdoutLines.push(line)
      append(`[${label} out] ${line}\n`)
    }
  })
  child.stderr!.on("data", (data: string) => {
    const lines = (stderrRest + data).split("\n")
    stderrRest = lines.pop() ?? ""
    for (const line of lines) append(`[${label} err] ${line}\n`)
  })

  let exitInfo: ExitInfo | undefined
  const exited = new Promise<ExitInfo>((resolve) => {
    child.once("exit", (code, signal) => {
      exitInfo = { code, signal }
      append(`[${label}] exited: code ${code}, signal ${signal}\n`)
      resolve(exitInfo)
    })
  })

  const handle: ChildServer = {
    label,
    pid,
    port,
    url: `http://127.0.0.1:${port}`,
    api: client(`http://127.0.0.1:${port}`),
    output: () => chunks.join("") + (stdoutRest ? `[${label} out] ${stdoutRest}\n` : "") + (stderrRest ? `[${label} err] ${stderrRest}\n` : ""),
    logLines: () =>
      stdoutLines.flatMap((line) => {
        if (!line.startsWith("{")) return []
        try {
          return [JSON.parse(line) as ChildLogLine]
        } catch {
          return []
        }
      }),
    exited,
    hasExited: () => exitInfo !== undefined,
    crash: async () => {
      signalGroup(pid, "SIGKILL")
      const info = await exited
      await awaitGroupGone(pid)
      live.delete(handle)
      return info
    },
    terminate: async (timeoutMs = 30_000) => {
      if (exitInfo === undefined) child.kill("SIGTERM")
      let timer: NodeJS.Timeout | undefined
      const info = await Promise.race([
        exited,
        new Promise<undefined>((r) => (timer = setTimeout(() => r(undefined), timeoutMs)))
      ])
      clearTimeout(timer)
      if (info === undefined) {
        signalGroup(pid, "SIGKILL")
        await exited
        await awaitGroupGone(pid)
        live.delete(handle)
        throw new Error(`${label} did not exit within ${timeoutMs} ms of SIGTERM (killed)`)
      }
      await awaitGroupGone(pid)
      live.delete(handle)
      return info
    }
  }
  live.add(handle)
  started.push(handle)
  return handle
}

/**
 * Ready when the child itself logged that it listens on its port (so that the answer is not
 * from another process that took the port in the meantime) and `GET /healthz` answers 200.
 */
const awaitReady = async (server: ChildServer, timeoutMs: number): Promise<"ready" | "exited"> => {
  const deadline = Date.now() + timeoutMs
  const listening = (message: unknown) => typeof message === "string" && message.startsWith("Listening on") && message.endsWith(`:${server.port}`)
  while (Date.now() < deadline) {
    if (server.hasExited()) return "exited"
    if (!server.logLines().some((l) => listening(l.message))) {
      await sleep(50)
      continue
    }
    try {
      const res = await fetch(`${server.url}/healthz`, { signal: AbortSignal.timeout(2_000) })
      if (res.status === 200) {
        await res.arrayBuffer()
        return "ready"
      }
    } catch {
      // not listening yet
    }
    await sleep(50)
  }
  throw new Error(`${server.label} was not ready within ${timeoutMs} ms:\n${server.output()}`)
}

/**
 * Starts the server on a free port and waits until `GET /healthz` answers 200 (the server
 * recovers interrupted jobs before it listens). Retries on another port if the chosen one was
 * taken in the meantime.
 */
export const startChild = async (options: ChildOptions): Promise<ChildServer> => {
  let lastOutput = ""
  for (let attempt = 1; attempt <= 3; attempt++) {
    const server = await spawnOnce(options, await freePort())
    try {
      if ((await awaitReady(server, options.readyTimeoutMs ?? 60_000)) === "ready") return server
    } catch (e) {
      await server.crash()
      throw e
    }
    await server.crash()
    lastOutput = server.output()
    if (!lastOutput.includes("EADDRINUSE")) break
  }
  throw new Error(`the server exited before it was ready:\n${lastOutput}`)
}

/** SIGKILLs every child still running (afterEach / afterAll). */
export const killAllChildren = async (): Promise<void> => {
  await Promise.all([...live].map((c) => c.crash()))
}

/** The output of every child started since the last call (to print when a test failed). */
export const takeChildOutputs = (): string => {
  const text = started.map((c) => `----- ${c.label} (pid ${c.pid}, port ${c.port}) -----\n${c.output()}`).join("\n")
  started.length = 0
  return text
}

// ---------------------------------------------------------------------------------------------
// The gate: a pass-through HTTP proxy between the server and the simulator that can hold a
// request. The server's integrations point at the gate; the gate forwards each v1 request to the
// simulator, except that once a lane (one workspace, so one job) reaches its hold rule, that
// request and every later one of the lane are held unanswered until released or the server dies.
// A job walks its pages one at a time (fetch, commit, next fetch), so a held request pins the job
// at an exact point: the pages before it committed, the held one is in flight.
// ---------------------------------------------------------------------------------------------

export type ArrivalStatus = "held" | "forwarded" | "served" | "aborted"

export interface Arrival {
  readonly lane: string
  /** 1-based within the lane since its last reset. */
  readonly index: number
  /**
   * Which page this asks for: 1-based among the distinct URLs of the lane since its last reset. A
   * URL asked again (a retried request: the job logs why) keeps its first number, so the pages
   * before a held request, which are what the job has committed, are `page - 1` however many
   * requests were retried.
   */
  readonly page: number
  readonly url: string
  status: ArrivalStatus
}

interface Pending {
  readonly arrival: Arrival
  readonly req: IncomingMessage
  readonly res: ServerResponse
}

export interface HoldRule {
  /** Which requests count towards `nth` (the whole URL is tested). */
  readonly match: RegExp
  /** Hold the nth matching request (1-based) and everything after it. */
  readonly nth: number
}

export class Lane {
  /** Arrivals of the current generation (since the last reset). */
  arrivals: Array<Arrival> = []
  /** Arrivals of earlier generations, oldest first. */
  readonly history: Array<ReadonlyArray<Arrival>> = []
  private rule: HoldRule | undefined
  private matched = 0
  private holding = false
  private readonly pending: Array<Pending> = []
  /** Page number by URL, this generation (see `Arrival.page`). */
  private pages = new Map<string, number>()

  constructor(readonly name: string, private readonly forward: (p: Pending, onServed?: () => void) => void) {}

  /** Holds the `nth` request matching `match` and all later requests of this lane. */
  holdAt(rule: HoldRule): void {
    this.rule = rule
    this.matched = this.arrivals.filter((a) => rule.match.test(a.url)).length
  }

  /** Requests of this generation that asked for a URL asked before (retried ones). */
  repeated(): ReadonlyArray<Arrival> {
    return this.arrivals.filter((a) => a.index > 1 && this.arrivals.findIndex((b) => b.url === a.url) < a.index - 1)
  }

  /** The request being held (the first one, in arrival order), if any. */
  held(): Arrival | undefined {
    return this.pending.find((p) => p.arrival.status === "held" && !p.res.destroyed)?.arrival
  }

  /** Forwards a held request (the rule stays: later requests are held again). */
  release(arrival: Arrival, onServed?: () => void): void {
    const i = this.pending.findIndex((p) => p.arrival === arrival)
    if (i < 0) throw new Error(`request ${arrival.index} of lane ${this.name} is not held`)
    const [p] = this.pending.splice(i, 1)
    this.forward(p!, onServed)
  }

  /** Starts a new generation: forgets the rule, drops held requests, keeps the old arrivals in `history`. */
  reset(): void {
    for (const p of this.pending.splice(0)) {
      p.arrival.status = "aborted"
      p.res.destroy()
    }
    if (this.arrivals.length > 0) this.history.push(this.arrivals)
    this.arrivals = []
    this.pages = new Map()
    this.rule = undefined
    this.matched = 0
    this.holding = false
  }

  /** Called by the gate for each request of the lane. */
  arrive(req: IncomingMessage, res: ServerResponse): void {
    const url = req.url ?? "/"
    let page = this.pages.get(url)
    if (page === undefined) this.pages.set(url, page = this.pages.size + 1)
    const arrival: Arrival = { lane: this.name, index: this.arrivals.length + 1, page, url, status: "forwarded" }
    this.arrivals.push(arrival)
    if (!this.holding && this.rule !== undefined && this.rule.match.test(arrival.url)) {
      this.matched++
      if (this.matched >= this.rule.nth) this.holding = true
    }
    const p: Pending = { arrival, req, res }
    if (!this.holding) return this.forward(p)
    arrival.status = "held"
    this.pending.push(p)
    res.once("close", () => {
      if (arrival.status === "held") arrival.status = "aborted"
    })
  }
}

export interface Gate {
  readonly url: string
  /** The lane of a workspace (created on first use). */
  readonly lane: (workspace: string) => Lane
  /** Resets every lane (a new generation for each). */
  readonly resetAll: () => void
  /** One line per arrival of every lane and generation (for failure reports). */
  readonly describe: () => string
  readonly close: () => Promise<void>
}

const WORKSPACE_IN_URL = /^\/api\/v1\/workspaces\/([^/?]+)\//

/** Starts a gate in front of `targetUrl` (the simulator) on an ephemeral port of 127.0.0.1. */
export const startGate = async (targetUrl: string): Promise<Gate> => {
  const target = new URL(targetUrl)
  const agent = new Agent({ keepAlive: true, maxSockets: 64 })
  const lanes = new Map<string, Lane>()
  const sockets = new Set<Socket>()

  const forward = ({ arrival, req, res }: Pending, onServed?: () => void) => {
    if (res.destroyed) {
      arrival.status = "aborted"
      return
    }
    arrival.status = "forwarded"
    const headers = { ...req.headers, host: target.host }
    delete headers.connection
    const upstream = request(
      { host: target.hostname, port: target.port, path: req.url, method: req.method, headers, agent },
      (up) => {
        const chunks: Array<Buffer> = []
        up.on("data", (c: Buffer) => chunks.push(c))
        up.on("end", () => {
          if (res.destroyed) {
            arrival.status = "aborted"
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
            arrival.status = "served"
            onServed?.()
          })
        })
        up.on("error", () => res.destroy())
      }
    )
    upstream.on("error", () => {
      arrival.status = "aborted"
      res.destroy()
    })
    upstream.end()
  }

  const lane = (workspace: string) => {
    let l = lanes.get(workspace)
    if (l === undefined) {
      l = new Lane(workspace, forward)
      lanes.set(workspace, l)
    }
    return l
  }

  const server: Server = createHttpServer({ keepAliveTimeout: 5_000 }, (req, res) => {
    req.resume()
    const slug = WORKSPACE_IN_URL.exec(req.url ?? "")?.[1]
    lane(slug === undefined ? "(other)" : decodeURIComponent(slug)).arrive(req, res)
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
  const port = typeof address === "object" && address !== null ? address.port : 0

  return {
    url: `http://127.0.0.1:${port}`,
    lane,
    resetAll: () => {
      for (const l of lanes.values()) l.reset()
    },
    describe: () =>
      [...lanes.values()]
        .map((l) =>
          [...l.history, l.arrivals]
            .map((gen, g) => gen.map((a) => `  [${l.name} gen ${g}] #${a.index} ${a.status} ${a.url}`).join("\n"))
            .join("\n")
        )
        .join("\n"),
    close: async () => {
      for (const l of lanes.values()) l.reset()
      await new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
        for (const s of sockets) s.destroy()
      })
      agent.destroy()
    }
  }
}
