/**
 * The synclog server as a child process, started the way an operator starts it (`src/main.ts`
 * with PORT, SYNC_DB_PATH, SYNC_CONFIG and the API key in the variable the config names), and
 * a small client for the public HTTP API the benchmarks drive it through.
 */
import { execFileSync } from "node:child_process"
import { mkdirSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import type { Child } from "./proc.js"
import { freePort, npmScript, ROOT, sleep, spawnNode, stop, tsNode } from "./proc.js"

/**
 * Builds dist/main.js with the project's own `npm run build` (what `npm start` runs), when the
 * project has that script; returns whether a bundle is there to start.
 */
export const buildBundle = (): boolean => {
  const scripts = (JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { scripts?: Record<string, string> }).scripts ?? {}
  if (scripts.build === undefined) return false
  execFileSync("npm", ["run", "build", "--silent"], { cwd: ROOT, stdio: "inherit" })
  return true
}

/**
 * Node flags of a profiled run: a V8 CPU profile into `dir`, and per-statement SQLite timing
 * (bench/profile/sql-timing.ts, which writes `dir/sql-timing.json` when SYNCLOG_BENCH_SQL_TIMING says so).
 */
export const profileFlags = (dir: string) => ["--cpu-prof", `--cpu-prof-dir=${dir}`, "--import", "./bench/profile/sql-timing.ts"]

export const KEY_ENV = "BENCH_PLANE_API_KEY"

export interface BenchIntegration {
  readonly id: string
  readonly baseUrl: string
  readonly workspaceSlug: string
  readonly syncInterval?: number
  readonly initialSync?: "immediate" | "scheduled"
}

export interface ServerOptions {
  /** Working folder: config file, database (unless `dbPath`), logs, profiles. */
  readonly dir: string
  readonly integrations: ReadonlyArray<BenchIntegration>
  readonly apiKey: string
  readonly dbPath?: string
  readonly engine?: Record<string, unknown>
  /** The config file's `notifications` (webhook endpoints, README "Webhooks and alerts"); none if unset. */
  readonly notifications?: ReadonlyArray<Record<string, unknown>>
  readonly autoInitialize?: boolean
  /** Write a V8 CPU profile of the server into `dir/profile` (written when it exits). */
  readonly cpuProfile?: boolean
  /**
   * "tsx" (default): `node --import tsx src/main.ts`, the sources as the brief runs them.
   * "bundle": what `npm start` runs after its build (package.json's `start`, e.g. `node dist/main.js`; see `buildBundle`).
   */
  readonly mode?: "tsx" | "bundle"
  /** More environment (e.g. SYNC_DATABASE_URL and SYNC_RUNNER_ADDRESS of a cluster runner). */
  readonly env?: Readonly<Record<string, string>>
}

export interface Server {
  readonly url: string
  readonly child: Child
  readonly dbPath: string
  readonly profileDir: string
  readonly stop: () => Promise<void>
}

/** Writes the config file and starts `src/main.ts`; resolves once /healthz answers. */
export const startServer = async (options: ServerOptions): Promise<Server> => {
  mkdirSync(options.dir, { recursive: true })
  const configPath = join(options.dir, "synclog.config.json")
  const dbPath = options.dbPath ?? join(options.dir, "synclog.db")
  const profileDir = join(options.dir, "profile")
  writeFileSync(
    configPath,
    JSON.stringify(
      {
        integrations: options.integrations.map((i) => ({
          id: i.id,
          name: `Bench ${i.id}`,
          type: "plane",
          baseUrl: i.baseUrl,
          workspaceSlug: i.workspaceSlug,
          apiKeyEnv: KEY_ENV,
          syncInterval: i.syncInterval ?? 86_400,
          // No client-side budget: the simulator's throttle is off too (throughput runs).
          requestsPerMinute: 0,
          initialSync: i.initialSync ?? "scheduled"
        })),
        engine: options.engine ?? {},
        ...(options.notifications !== undefined ? { notifications: options.notifications } : {})
      },
      null,
      2
    )
  )
  const port = await freePort()
  const flags = options.cpuProfile ? profileFlags(profileDir) : []
  const child = spawnNode({
    args: options.mode === "bundle" ? [...npmScript("start").flags, ...npmScript("start").script] : [...tsNode(), ...flags, "src/main.ts"],
    env: {
      PORT: String(port),
      HOST: "127.0.0.1",
      SYNC_DB_PATH: dbPath,
      SYNC_CONFIG: configPath,
      SYNC_AUTO_INITIALIZE: options.autoInitialize === false ? "false" : "true",
      SYNC_LOG_FORMAT: "json",
      SYNC_SECRETS_FILE: join(options.dir, "no-secrets.json"),
      [KEY_ENV]: options.apiKey,
      ...(options.cpuProfile ? { SYNCLOG_BENCH_SQL_TIMING: join(profileDir, "sql-timing.json") } : {}),
      ...options.env
    },
    logFile: join(options.dir, "server.log")
  })
  const url = `http://127.0.0.1:${port}`
  const deadline = Date.now() + 120_000
  while (true) {
    if (child.process.exitCode !== null) throw new Error(`synclog exited (${child.process.exitCode}); see ${options.dir}/server.log`)
    try {
      const res = await fetch(`${url}/healthz`)
      if (res.ok) break
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`synclog did not become healthy; see ${options.dir}/server.log`)
    await sleep(100)
  }
  return { url, child, dbPath, profileDir, stop: () => stop(child, 30_000) }
}

// ---- API client ---------------------------------------------------------------------------------

export interface JobView {
  readonly id: string
  readonly integrationId: string
  readonly type: string
  readonly status: string
  readonly trigger: string
  readonly createdAt: string
  readonly startedAt?: string
  readonly completedAt?: string
  readonly duration?: number
  readonly stats: { processed: number; created: number; updated: number; deleted: number; errors: number }
  readonly error?: string
}

const json = async <A>(res: Response): Promise<A> => {
  const text = await res.text()
  if (!res.ok) throw new Error(`${res.status} ${res.url}: ${text.slice(0, 500)}`)
  return JSON.parse(text) as A
}

export const createJob = (url: string, body: unknown) =>
  fetch(`${url}/api/sync/jobs`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) })
    .then((r) => json<{ jobId: string }>(r))
    .then((r) => r.jobId)

export const getJob = (url: string, jobId: string) => fetch(`${url}/api/sync/jobs/${jobId}`).then((r) => json<JobView>(r))

/** Polls until the job ended; fails on anything but `completed`. */
export const waitForJob = async (url: string, jobId: string, pollMs = 50, timeoutMs = 30 * 60_000): Promise<JobView> => {
  const deadline = Date.now() + timeoutMs
  while (true) {
    const job = await getJob(url, jobId)
    if (job.status === "completed") return job
    if (job.status === "failed" || job.status === "stopped") throw new Error(`job ${jobId} ${job.status}: ${job.error ?? ""}`)
    if (Date.now() > deadline) throw new Error(`job ${jobId} still ${job.status} after ${timeoutMs} ms`)
    await sleep(pollMs)
  }
}

export interface StoredEventView {
  readonly type: string
  readonly data: { readonly entity?: string | null; readonly deltas?: { readonly updated: number; readonly created: number } }
}

export const jobEvents = (url: string, jobId: string) =>
  fetch(`${url}/api/sync/jobs/${jobId}/events`).then((r) => json<{ events: ReadonlyArray<StoredEventView> }>(r)).then((r) => r.events)

/** Every job (newest first), paged through `limit=500&offset=`. */
export const allJobs = async (url: string): Promise<Array<JobView>> => {
  const out: Array<JobView> = []
  while (true) {
    const page = await fetch(`${url}/api/sync/jobs?limit=500&offset=${out.length}`).then((r) =>
      json<{ jobs: Array<JobView>; total: number }>(r)
    )
    out.push(...page.jobs)
    if (page.jobs.length === 0 || out.length >= page.total) return out
  }
}
