/**
 * Child processes for the benchmarks: every measured party (simulator, synclog server,
 * baselines, load generator) runs in its own process so that none of them shares an event
 * loop or a heap with another, and so that RSS and CPU can be read per process from /proc.
 */
import { spawn } from "node:child_process"
import type { ChildProcess } from "node:child_process"
import { openSync, readdirSync, readFileSync } from "node:fs"
import { createServer } from "node:net"
import { join } from "node:path"

export const ROOT = join(import.meta.dirname, "..", "..")

/**
 * Node arguments that run a TypeScript file in THIS process. `node node_modules/tsx/dist/cli.mjs`
 * would fork a second node process, so the pid we sample would be tsx's launcher, not the program.
 */
export const tsNode = (nodeFlags: ReadonlyArray<string> = []) => [...nodeFlags, "--import", "tsx"]

export interface Child {
  readonly process: ChildProcess
  readonly pid: number
  /** Resolves with the exit code (or signal name) once the process has ended. */
  readonly exited: Promise<number | string>
}

export interface SpawnOptions {
  readonly args: ReadonlyArray<string>
  readonly env?: Readonly<Record<string, string>>
  /** File that receives stdout and stderr (logs are part of the cost, so they are written, not dropped). */
  readonly logFile?: string
  /** Capture stdout through a pipe instead (for scripts that answer with JSON). */
  readonly captureStdout?: boolean
}

/** Every child still running, so an interrupted run can stop them (see `stopAll`). */
const running = new Set<Child>()

/** Stops every child still running (SIGTERM, then SIGKILL): for an interrupted run. */
export const stopAll = () => Promise.all([...running].map((child) => stop(child, 5_000)))

export const spawnNode = (options: SpawnOptions): Child => {
  const out = options.logFile !== undefined ? openSync(options.logFile, "a") : "inherit"
  const child = spawn(process.execPath, [...options.args], {
    cwd: ROOT,
    env: { ...process.env, ...options.env },
    stdio: ["ignore", options.captureStdout ? "pipe" : out, out]
  })
  if (child.pid === undefined) throw new Error(`could not start node ${options.args.join(" ")}`)
  const exited = new Promise<number | string>((resolve) =>
    child.once("exit", (code, signal) => resolve(code ?? signal ?? "unknown"))
  )
  const handle: Child = { process: child, pid: child.pid, exited }
  running.add(handle)
  void exited.then(() => running.delete(handle))
  return handle
}

/** Runs a script that prints one JSON object as its last stdout line; resolves with it. */
export const runJson = async <A>(options: Omit<SpawnOptions, "captureStdout">): Promise<A> => {
  const child = spawnNode({ ...options, captureStdout: true })
  let text = ""
  child.process.stdout!.setEncoding("utf8").on("data", (chunk: string) => (text += chunk))
  const code = await child.exited
  const last = text.trim().split("\n").pop() ?? ""
  if (code !== 0) throw new Error(`node ${options.args.join(" ")} exited with ${code}: ${text.slice(-2000)}`)
  return JSON.parse(last) as A
}

/** Waits for the first stdout line that parses as JSON (a "ready" message); keeps draining stdout after it. */
export const firstJsonLine = <A>(child: Child, timeoutMs = 120_000): Promise<A> =>
  new Promise((resolve, reject) => {
    let buffer = ""
    let done = false
    const timer = setTimeout(() => finish(new Error("no ready line in time")), timeoutMs)
    const finish = (error: Error | undefined, value?: A) => {
      if (done) return
      done = true
      clearTimeout(timer)
      if (error) reject(error)
      else resolve(value!)
    }
    child.process.stdout!.setEncoding("utf8").on("data", (chunk: string) => {
      if (done) return
      buffer += chunk
      for (const line of buffer.split("\n").slice(0, -1)) {
        try {
          return finish(undefined, JSON.parse(line) as A)
        } catch {
          // not the ready line
        }
      }
      buffer = buffer.slice(buffer.lastIndexOf("\n") + 1)
    })
    void child.exited.then((code) => finish(new Error(`process exited (${code}) before it was ready`)))
  })

/** SIGTERM (graceful: lets --cpu-prof write its file), then SIGKILL after `graceMs`. */
export const stop = async (child: Child, graceMs = 20_000): Promise<void> => {
  if (child.process.exitCode !== null || child.process.signalCode !== null) return
  child.process.kill("SIGTERM")
  const timer = setTimeout(() => child.process.kill("SIGKILL"), graceMs)
  await child.exited
  clearTimeout(timer)
}

/** A free TCP port on loopback (closed again at once; the child binds it right after). */
export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      server.close(() => resolve(port))
    })
  })

// ---- /proc sampling ---------------------------------------------------------------------------

const statusField = (pid: number, field: string): number => {
  const text = readFileSync(`/proc/${pid}/status`, "utf8")
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(text)
  return match ? Number(match[1]) * 1024 : 0
}

/** Current resident set size, bytes. */
export const rssOf = (pid: number) => statusField(pid, "VmRSS")
/** Peak resident set size since the process started ("high water mark"), bytes. */
export const peakRssOf = (pid: number) => statusField(pid, "VmHWM")

const CLOCK_TICKS = 100 // USER_HZ on Linux

/** CPU time (user + system) the process has used so far, milliseconds. */
export const cpuMsOf = (pid: number): number => {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
  // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS
}

/**
 * The whole machine's CPU time so far, milliseconds, summed over its cores (/proc/stat): `busy`
 * is user, nice, system and interrupts; `idle` is idle and iowait; `steal` is time the
 * hypervisor gave to other guests while this one wanted to run. Across a run, busy / (busy +
 * idle + steal) is the share of the machine its processes (and anything else) kept busy.
 */
export const machineCpuMs = (): { readonly busy: number; readonly idle: number; readonly steal: number } => {
  const line = readFileSync("/proc/stat", "utf8").split("\n", 1)[0]!
  // cpu  user nice system idle iowait irq softirq steal guest guest_nice (guest time is in user)
  const [user, nice, system, idle, iowait, irq, softirq, steal] = line.trim().split(/\s+/).slice(1, 9).map(Number)
  const ms = (ticks: number) => (ticks * 1000) / CLOCK_TICKS
  return { busy: ms(user! + nice! + system! + irq! + softirq!), idle: ms(idle! + iowait!), steal: ms(steal!) }
}

/** The process and every process below it (the server's SSE writer process, say). */
export const processTree = (pid: number): Array<number> => {
  const out = [pid]
  try {
    for (const task of readdirSync(`/proc/${pid}/task`)) {
      const children = readFileSync(`/proc/${pid}/task/${task}/children`, "utf8").trim()
      for (const child of children === "" ? [] : children.split(" ")) out.push(...processTree(Number(child)))
    }
  } catch {
    // gone meanwhile
  }
  return out
}

/** CPU time (user + system) of the process and the processes below it, milliseconds. */
export const treeCpuMsOf = (pid: number): number => treeSum(pid, cpuMsOf)

/** Summed over the process and the processes below it: RSS, or (`peakRssOf`) each one's high-water mark. */
export const treeSum = (pid: number, of: (pid: number) => number): number =>
  processTree(pid).reduce((sum, p) => {
    try {
      return sum + of(p)
    } catch {
      return sum
    }
  }, 0)

/** Samples RSS every `everyMs` until stopped; VmHWM is kept by the kernel, this keeps a curve. */
export const sampleRss = (pid: number, everyMs = 200) => {
  let max = 0
  const timer = setInterval(() => {
    try {
      max = Math.max(max, rssOf(pid))
    } catch {
      // process gone
    }
  }, everyMs)
  return {
    stop: () => {
      clearInterval(timer)
      return max
    }
  }
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/**
 * The node command line of an npm script (`"replay": "node --max-semi-space-size=64 --import
 * tsx src/cli.ts replay"`), split into node's flags and the script with its arguments, so a
 * benchmark runs exactly what `npm run <name>` runs, in one process (no npm or tsx launcher in
 * between) and can add flags of its own (a CPU profile). `tsx x.ts` becomes `node --import tsx x.ts`.
 */
export const npmScript = (name: string): { readonly flags: Array<string>; readonly script: Array<string> } => {
  const scripts = (JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { scripts?: Record<string, string> }).scripts ?? {}
  const line = scripts[name]
  if (line === undefined) throw new Error(`package.json has no "${name}" script`)
  const tokens = line.trim().split(/\s+/)
  const [command, ...rest] = tokens
  if (command === "tsx") return { flags: ["--import", "tsx"], script: rest }
  if (command !== "node") throw new Error(`script "${name}" is not a node command: ${line}`)
  const flags: Array<string> = []
  let i = 0
  while (i < rest.length && rest[i]!.startsWith("-")) {
    const flag = rest[i++]!
    flags.push(flag)
    if ((flag === "--import" || flag === "--require" || flag === "-r") && i < rest.length) flags.push(rest[i++]!)
  }
  return { flags, script: rest.slice(i) }
}
