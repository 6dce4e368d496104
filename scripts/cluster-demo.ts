/**
 * `npm run cluster:demo`: a three-runner synclog cluster on this machine, to try failover by hand.
 *
 * Starts, on loopback and in a temp folder that is removed afterwards:
 *   1. a throwaway PostgreSQL (scripts/postgres.ts: Debian's `postgresql` package, `initdb` +
 *      `pg_ctl`, as the `postgres` user when run as root);
 *   2. the Plane simulator with the demo's workspaces (and four more, so that the integrations
 *      spread over the runners' shards);
 *   3. three runners (`npm start`'s bundle, built once), each with SYNC_DATABASE_URL on that
 *      database, its own PORT and SYNC_RUNNER_ADDRESS, and one shared config file.
 * Prints the three API URLs and how to kill a runner; Ctrl-C stops everything.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { createInterface } from "node:readline"
import { DEMO_RATE_LIMIT, demoIntegration } from "../src/demo.js"
import { startThrowawayPostgres, type ThrowawayPostgres } from "./postgres.js"
import { type RunningSimulator, startSimulator } from "../src/simulator/server.js"

const ROOT = join(import.meta.dirname, "..")
const RUNNERS = 3
/** The variable the demo integrations name for their API key (src/demo.ts). */
const KEY_ENV = "SYNCLOG_DEMO_PLANE_API_KEY"
const WORKSPACES = [
  { slug: "acme", projects: 4, workItems: 320, seed: 456, id: "plane-integration-456", name: "Plane.so Integration" },
  { slug: "globex", projects: 3, workItems: 210, seed: 789, id: "plane-integration-789", name: "Plane.so Integration (Globex)" },
  { slug: "initech", projects: 3, workItems: 400, seed: 11, id: "plane-initech", name: "Initech" },
  { slug: "umbrella", projects: 2, workItems: 250, seed: 12, id: "plane-umbrella", name: "Umbrella" },
  { slug: "hooli", projects: 4, workItems: 500, seed: 13, id: "plane-hooli", name: "Hooli" },
  { slug: "soylent", projects: 2, workItems: 150, seed: 14, id: "plane-soylent", name: "Soylent" }
]

const say = (line: string) => console.log(`[cluster:demo] ${line}`)
const fail = (line: string): never => {
  console.error(`[cluster:demo] ${line}`)
  process.exit(1)
}

/** `preferred` when it is free on 127.0.0.1, else any free port. */
const portNear = (preferred: number): Promise<number> =>
  new Promise((resolve) => {
    const server = createServer()
    server.once("error", () => {
      const any = createServer()
      any.listen(0, "127.0.0.1", () => {
        const address = any.address()
        any.close(() => resolve(typeof address === "object" && address !== null ? address.port : 0))
      })
    })
    server.listen(preferred, "127.0.0.1", () => server.close(() => resolve(preferred)))
  })

// ---- runners --------------------------------------------------------------------------------------

interface RunnerProcess {
  readonly name: string
  readonly url: string
  readonly address: string
  readonly child: ChildProcess
  ready: boolean
  exited: boolean
}

/** `npm start`'s command line after its build: node's flags and the bundle (package.json "start"). */
const startCommand = (): Array<string> => {
  const scripts = (JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { scripts: Record<string, string> }).scripts
  const [command, ...args] = scripts.start!.trim().split(/\s+/)
  if (command !== "node") fail(`package.json's start script is not a node command: ${scripts.start}`)
  return args
}

const startRunner = async (n: number, env: Readonly<Record<string, string>>): Promise<RunnerProcess> => {
  const name = `runner-${n}`
  const port = await portNear(3000 + n)
  const address = `127.0.0.1:${await portNear(34_430 + n)}`
  // A process group of its own, for the same reason as PostgreSQL's session: stopped in order.
  const child = spawn(process.execPath, startCommand(), {
    cwd: ROOT,
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, ...env, PORT: String(port), HOST: "127.0.0.1", SYNC_RUNNER_ADDRESS: address }
  })
  const runner: RunnerProcess = { name, url: `http://127.0.0.1:${port}`, address, child, ready: false, exited: false }
  for (const stream of [child.stdout!, child.stderr!]) {
    createInterface({ input: stream }).on("line", (line) => console.log(`${name.padEnd(9)}| ${line}`))
  }
  child.once("exit", (code, signal) => {
    runner.exited = true
    if (!stopping && runner.ready) say(`${name} (pid ${child.pid}) exited (${signal ?? `code ${code}`}); its jobs move to the other runners`)
  })
  return runner
}

const awaitReady = async (runner: RunnerProcess) => {
  const deadline = Date.now() + 120_000
  while (Date.now() < deadline) {
    if (runner.exited) fail(`${runner.name} exited during its start; see its lines above`)
    try {
      const res = await fetch(`${runner.url}/readyz`)
      if (res.ok) {
        runner.ready = true
        return
      }
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 250))
  }
  fail(`${runner.name} was not ready within 120 s`)
}

// ---- main -----------------------------------------------------------------------------------------

let stopping = false
const dir = mkdtempSync(join(tmpdir(), "synclog-cluster-demo-"))
let postgres: ThrowawayPostgres | undefined
let simulator: RunningSimulator | undefined
const runners: Array<RunnerProcess> = []

const stopEverything = async () => {
  if (stopping) return
  stopping = true
  say("stopping the runners, the simulator and PostgreSQL")
  await Promise.all(runners.filter((r) => !r.exited).map((r) => new Promise<void>((resolve) => {
    const timer = setTimeout(() => r.child.kill("SIGKILL"), 20_000)
    r.child.once("exit", () => {
      clearTimeout(timer)
      resolve()
    })
    r.child.kill("SIGTERM")
  })))
  await simulator?.close()
  postgres?.stop()
  postgres = undefined
  rmSync(dir, { recursive: true, force: true })
}

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => void stopEverything().then(() => process.exit(0)))
}
// However this script ends (a failed start, an error): nothing it started outlives it.
process.once("exit", () => {
  for (const r of runners) if (!r.exited) r.child.kill("SIGKILL")
  postgres?.stop()
  rmSync(dir, { recursive: true, force: true })
})

try {
  postgres = startThrowawayPostgres(dir, await portNear(55_433))
  say(`PostgreSQL at ${postgres.url} (data in ${dir}, removed on exit)`)
  simulator = await startSimulator({
    port: await portNear(3100),
    workspaces: WORKSPACES.map(({ slug, projects, workItems, seed }) => ({ slug, projects, workItems, seed })),
    seed: 1,
    rateLimitPerMinute: DEMO_RATE_LIMIT
  })
  say(`Plane simulator at ${simulator.url}: ${WORKSPACES.map((w) => `${w.slug} (${w.workItems} work items)`).join(", ")}`)
  const configPath = join(dir, "synclog.config.json")
  writeFileSync(
    configPath,
    JSON.stringify({ integrations: WORKSPACES.map((w) => demoIntegration(w.id, w.name, simulator!.url, w.slug)), engine: {} }, null, 2)
  )
  say("building the server bundle (npm run build)")
  execFileSync("npm", ["run", "build", "--silent"], { cwd: ROOT, stdio: "inherit" })
  const env = {
    SYNC_DATABASE_URL: postgres.url,
    SYNC_CONFIG: configPath,
    SYNC_SECRETS_FILE: join(dir, "no-secrets.json"),
    [KEY_ENV]: simulator.apiKey
  }
  // The first runner migrates the fresh database; the other two join it.
  runners.push(await startRunner(1, env))
  await awaitReady(runners[0]!)
  runners.push(await startRunner(2, env), await startRunner(3, env))
  await Promise.all(runners.slice(1).map(awaitReady))
  console.log(
    [
      "",
      `synclog cluster: ${RUNNERS} runners on one PostgreSQL database, every runner serves the whole API`,
      ...runners.map((r) => `  ${r.name}  ${r.url}  (runner address ${r.address}, pid ${r.child.pid})`),
      "",
      "Try:",
      `  curl ${runners[0]!.url}/readyz                      # which runner, which shards`,
      `  curl -X POST ${runners[1]!.url}/api/sync/jobs -H 'Content-Type: application/json' \\`,
      `       -d '{"integrationId": "plane-hooli", "type": "full_sync", "options": {"batchSize": 5, "force": true}}'`,
      `  curl ${runners[2]!.url}/api/sync/jobs/<jobId>/logs  # names the runner that ran it, and where it moved`,
      `  kill -9 ${runners[1]!.child.pid}                              # crash ${runners[1]!.name}: its jobs resume on the others`,
      `  kill -TERM ${runners[2]!.child.pid}                           # stop ${runners[2]!.name} gracefully: its shards are handed over`,
      "Ctrl-C stops everything.",
      ""
    ].join("\n")
  )
} catch (error) {
  console.error(`[cluster:demo] could not start: ${error instanceof Error ? error.message : String(error)}`)
  await stopEverything()
  process.exit(1)
}
