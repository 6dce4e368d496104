import { type ChildProcess, spawn } from "node:child_process"
import { writeFileSync } from "node:fs"
import { createServer } from "node:net"
import { join } from "node:path"
import type { IntegrationConfig } from "../../src/config/ConfigFile.js"
import { KEY_ENV } from "./app.js"
import { type Client, client } from "./http.js"

/**
 * The real server as a child process (`tsx src/main.ts`, as `npm start` runs it), so a test can
 * crash it with SIGKILL, shut it down with SIGTERM and start it again on the same database.
 *
 * tsx runs the server in a process of its own under the tsx CLI process, so each child gets a
 * process group of its own: a crash kills the whole group (a SIGKILL to the tsx process alone
 * would leave the server running, holding the database), a SIGTERM goes to the tsx process,
 * which relays it once to the server, as a process manager would send it.
 */

const root = join(import.meta.dirname, "..", "..")
const TSX_CLI = join(root, "node_modules/tsx/dist/cli.mjs")
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

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

const groupAlive = (pid: number): boolean => {
  try {
    process.kill(-pid, 0)
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

const spawnOnce = async (options: ChildOptions, port: number): Promise<ChildServer> => {
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

  const child: ChildProcess = spawn(process.execPath, [TSX_CLI, "src/main.ts"], {
    cwd: root,
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
    env: {
      ...process.env,
      PORT: String(port),
      HOST: "127.0.0.1",
      SYNC_DB_PATH: options.dbPath,
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

const awaitReady = async (server: ChildServer, timeoutMs: number): Promise<"ready" | "exited"> => {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (server.hasExited()) return "exited"
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
