import { join } from "node:path"
import type { IntegrationConfig } from "../../src/config/ConfigFile.js"
import { tempDir } from "./app.js"
import { type ChildServer, type ExitInfo, freePort, spawnOnce, writeConfigFile } from "./child.js"
import { runCliAsync } from "./cli.js"
import { backend, queryRows } from "./database.js"
import type { Client } from "./http.js"
import type { RunnerIdentity } from "./sourceProxy.js"

/**
 * A synclog cluster for tests: N runner processes (the server's bundle, as `npm start` runs
 * it: support/bundle.ts) on one fresh PostgreSQL database, each with its own HTTP port and runner address
 * (`SYNC_RUNNER_ADDRESS`, the socket other runners reach it on), all reading one config file.
 * Runners are child processes in process groups of their own (support/child.ts), so a test can
 * SIGKILL one (a crash), SIGTERM it (a rolling restart) or SIGSTOP/SIGCONT it (a stand-in for
 * a network partition: the process and its connections stay, it just stops answering).
 *
 * Needs SYNC_TEST_DATABASE_URL (a PostgreSQL server whose user may create databases): the
 * cluster suite runs only in the vitest project "postgres" (vitest.config.ts).
 */

export interface Runner extends RunnerIdentity {
  /** "runner-1", "runner-2", ...: also the label of its requests at the source proxy. */
  readonly label: string
  /** `127.0.0.1:<port>`: SYNC_RUNNER_ADDRESS, as other runners reach it. */
  readonly address: string
  readonly server: ChildServer
  readonly api: Client
  readonly url: string
  /** Whether it was stopped with SIGSTOP and not continued yet. */
  paused: boolean
}

/** What `GET /readyz` says about the runner (the cluster's part of the answer). */
export interface RunnerReadiness {
  readonly status: number
  readonly address: string | undefined
  /** The shards it holds now (their ids, or just how many when the server reports a count). */
  readonly shards: ReadonlyArray<string> | number | undefined
  readonly body: unknown
}

export interface ClusterOptions {
  readonly runners: number
  readonly integrations: ReadonlyArray<IntegrationConfig>
  readonly apiKey: string
  readonly engine?: Readonly<Record<string, unknown>>
  /** Extra environment of every runner (e.g. shorter shard leases for the partition test). */
  readonly env?: Readonly<Record<string, string>>
  readonly readyTimeoutMs?: number
}

export interface Cluster {
  /** The database's postgres:// URL. */
  readonly databaseUrl: string
  readonly dir: string
  readonly runners: ReadonlyArray<Runner>
  /** Runners still running (not killed, not exited); paused ones included. */
  readonly live: () => ReadonlyArray<Runner>
  /** A running, not paused runner's API (reads come from the shared views, so any will do). */
  readonly api: () => Client
  readonly byAddress: (address: string) => Runner | undefined
  /** SIGKILL to the runner's whole process group; resolves once every process of it is gone. */
  readonly kill: (runner: Runner) => Promise<ExitInfo>
  /**
   * SIGTERM to the server process itself, as a process manager sends it to `npm start`'s node;
   * resolves with the exit once the runner has exited (SIGKILL and an error after `timeoutMs`).
   */
  readonly terminate: (runner: Runner, timeoutMs?: number) => Promise<ExitInfo>
  /** SIGSTOP to the runner's process group: it keeps its sockets and leases but runs nothing. */
  readonly pause: (runner: Runner) => void
  /** SIGCONT: it runs again from where it stopped, with whatever it was doing. */
  readonly resume: (runner: Runner) => void
  readonly readiness: (runner: Runner) => Promise<RunnerReadiness>
  /** Streams of the event log whose versions are not exactly 1..n (the per-stream constraint's promise). */
  readonly versionGaps: () => ReadonlyArray<string>
  /** `replay --verify` against the database (the CLI, as a user runs it). */
  readonly replayVerify: () => Promise<{ code: number | null; stdout: string; stderr: string }>
  /** Kills what is left and drops the database (keeps it when `keep` is true, for a failed test). */
  readonly close: (keep?: boolean) => Promise<void>
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

const signalGroup = (pgid: number, signal: NodeJS.Signals) => {
  try {
    process.kill(-pgid, signal)
  } catch {
    // already gone
  }
}

/** `{host, port}` or `"host:port"`, as a runner may report its address. */
const addressText = (value: unknown): string | undefined => {
  if (typeof value === "string") return value
  if (value !== null && typeof value === "object" && "host" in value && "port" in value) return `${String(value.host)}:${String(value.port)}`
  return undefined
}

const readinessOf = async (url: string): Promise<RunnerReadiness> => {
  const res = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(5_000) })
  const body = (await res.json().catch(() => null)) as { runner?: { address?: unknown; shards?: unknown } } | null
  const shards = body?.runner?.shards
  return {
    status: res.status,
    address: addressText(body?.runner?.address),
    shards: typeof shards === "number" ? shards : Array.isArray(shards) ? shards.map(String) : undefined,
    body
  }
}

/**
 * Ready when the runner logged that it listens on its port (so the answer is not from another
 * process that took the port meanwhile) and `GET /readyz` answers 200.
 */
const awaitReady = async (server: ChildServer, timeoutMs: number): Promise<"ready" | "exited"> => {
  const deadline = Date.now() + timeoutMs
  const listening = (message: unknown) => typeof message === "string" && message.startsWith("Listening on") && message.endsWith(`:${server.port}`)
  while (Date.now() < deadline) {
    if (server.hasExited()) return "exited"
    if (server.logLines().some((l) => listening(l.message))) {
      try {
        if ((await readinessOf(server.url)).status === 200) return "ready"
      } catch {
        // not answering yet
      }
    }
    await sleep(100)
  }
  throw new Error(`${server.label} was not ready within ${timeoutMs} ms:\n${server.output().split("\n").slice(-200).join("\n")}`)
}

export const startCluster = async (options: ClusterOptions): Promise<Cluster> => {
  if (backend !== "postgres") throw new Error("a cluster needs PostgreSQL: set SYNC_TEST_DATABASE_URL (the vitest project \"postgres\")")
  const tmp = tempDir("synclog-cluster-")
  const configPath = writeConfigFile(join(tmp.dir, "synclog.config.json"), options.integrations, options.engine ?? {})
  const runners: Array<Runner> = []
  const timeoutMs = options.readyTimeoutMs ?? 120_000

  /** Starts runner `n`; retries on other ports if one was taken between choosing and binding it. */
  const startRunner = async (n: number): Promise<Runner> => {
    const label = `runner-${n}`
    let lastOutput = ""
    for (let attempt = 1; attempt <= 3; attempt++) {
      const address = `127.0.0.1:${await freePort()}`
      const server = await spawnOnce({
        dbPath: tmp.dbPath,
        configPath,
        apiKey: options.apiKey,
        label,
        env: { SYNC_RUNNER_ADDRESS: address, ...options.env }
      }, await freePort())
      try {
        if ((await awaitReady(server, timeoutMs)) === "ready") {
          return { label, address, server, api: server.api, url: server.url, pgid: server.pid, paused: false }
        }
      } catch (e) {
        await server.crash()
        throw e
      }
      await server.crash()
      lastOutput = server.output()
      if (!lastOutput.includes("EADDRINUSE")) break
    }
    throw new Error(`${label} exited before it was ready:\n${lastOutput.split("\n").slice(-200).join("\n")}`)
  }

  // Side by side: runners take turns for the start-up itself (the first migrates the fresh
  // database), and loading the sources, the slow part here, overlaps.
  const starts = await Promise.allSettled(Array.from({ length: options.runners }, (_, i) => startRunner(i + 1)))
  for (const s of starts) if (s.status === "fulfilled") runners.push(s.value)
  const failed = starts.find((s): s is PromiseRejectedResult => s.status === "rejected")
  if (failed !== undefined) {
    await Promise.all(runners.map((r) => r.server.crash()))
    tmp.remove()
    throw failed.reason
  }

  const live = () => runners.filter((r) => !r.server.hasExited())
  return {
    databaseUrl: tmp.dbPath,
    dir: tmp.dir,
    runners,
    live,
    api: () => {
      const r = live().find((x) => !x.paused)
      if (r === undefined) throw new Error("no runner of the cluster is running")
      return r.api
    },
    byAddress: (address) => runners.find((r) => r.address === address),
    kill: (r) => {
      r.paused = false
      return r.server.crash()
    },
    terminate: async (r, ms = 60_000) => {
      // The runner is its group's leader (the bundle runs in the process spawned).
      process.kill(r.pgid, "SIGTERM")
      let timer: NodeJS.Timeout | undefined
      const exit = await Promise.race([r.server.exited, new Promise<undefined>((done) => (timer = setTimeout(() => done(undefined), ms)))])
      clearTimeout(timer)
      if (exit === undefined) {
        await r.server.crash()
        throw new Error(`${r.label} did not exit within ${ms} ms of SIGTERM (killed)`)
      }
      await r.server.crash() // the group is gone already; this waits for it and forgets the child
      return exit
    },
    pause: (r) => {
      signalGroup(r.pgid, "SIGSTOP")
      r.paused = true
    },
    resume: (r) => {
      signalGroup(r.pgid, "SIGCONT")
      r.paused = false
    },
    readiness: (r) => readinessOf(r.url),
    versionGaps: () =>
      queryRows<{ stream_id: string; n: number; low: number; high: number }>(
        tmp.dbPath,
        "SELECT stream_id, COUNT(*)::int AS n, MIN(version) AS low, MAX(version) AS high FROM events GROUP BY stream_id"
      )
        .filter((s) => s.low !== 1 || s.high !== s.n)
        .map((s) => `${s.stream_id}: ${s.n} events, versions ${s.low}..${s.high}`),
    replayVerify: () => runCliAsync(["replay", "--db", tmp.dbPath, "--verify"], 120_000),
    close: async (keep = false) => {
      for (const r of runners) if (r.paused) signalGroup(r.pgid, "SIGCONT")
      await Promise.all(runners.map((r) => (r.server.hasExited() ? Promise.resolve() : r.server.crash().then(() => undefined))))
      if (!keep) tmp.remove()
    }
  }
}

// ---- reads through the API (any runner: reads come from the shared views) -----------------------

export interface JobEvent {
  readonly version: number
  readonly type: string
  readonly recordedAt: string
  readonly data: any
}

export const jobEvents = async (api: Client, jobId: string): Promise<Array<JobEvent>> => {
  const r = await api.get(`/api/sync/jobs/${jobId}/events`)
  if (r.status !== 200) throw new Error(`events of ${jobId}: ${r.status} ${JSON.stringify(r.body)}`)
  return r.body.events
}

/** Every log line of a job, oldest first. */
export const jobLogs = async (api: Client, jobId: string): Promise<Array<string>> => {
  const out: Array<string> = []
  for (let offset = 0; ; offset += 500) {
    const r = await api.get(`/api/sync/jobs/${jobId}/logs?limit=500&offset=${offset}`)
    if (r.status !== 200) throw new Error(`logs of ${jobId}: ${r.status} ${JSON.stringify(r.body)}`)
    out.push(...r.body.logs.map((l: { message: string }) => l.message))
    if (out.length >= r.body.total || r.body.logs.length === 0) return out
  }
}

const TERMINAL = ["completed", "failed", "stopped"]

/**
 * Waits until every job has ended (completed, failed or stopped), asking whichever runner is
 * up (one may die meanwhile); returns the jobs as the API shows them.
 */
export const awaitJobsEnded = async (cluster: Cluster, jobIds: ReadonlyArray<string>, timeoutMs: number): Promise<Array<any>> => {
  const deadline = Date.now() + timeoutMs
  let last: Array<any> = []
  while (Date.now() < deadline) {
    try {
      const api = cluster.api()
      last = await Promise.all(jobIds.map(async (id) => (await api.get(`/api/sync/jobs/${id}`)).body))
      if (last.every((j) => TERMINAL.includes(j?.status))) return last
    } catch {
      // the runner asked went away: ask another one next time
    }
    await sleep(250)
  }
  throw new Error(`jobs not ended within ${timeoutMs} ms: ${last.map((j) => `${j?.id}=${j?.status}`).join(", ")}`)
}
