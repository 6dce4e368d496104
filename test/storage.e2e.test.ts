import { HttpServer } from "@effect/platform"
import { SqlClient } from "@effect/sql"
import Sqlite from "better-sqlite3"
import { Effect, Layer, Logger, LogLevel, ManagedRuntime, Option } from "effect"
import { mkdirSync, readFileSync, writeFileSync } from "node:fs"
import { createServer, type Server } from "node:net"
import { join } from "node:path"
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest"
import { makeAppLayer } from "../src/app.js"
import { defaultEngineConfig } from "../src/config/ConfigFile.js"
import { IntegrationSource, Secrets } from "../src/config/Settings.js"
import { type RunningSimulator, startSimulator } from "../src/simulator/server.js"
import { KEY_ENV, planeIntegration, tempDir } from "./support/app.js"
import {
  type ChildServer,
  freePort,
  killAllChildren,
  spawnOnce,
  startChild,
  takeChildOutputs,
  writeConfigFile
} from "./support/child.js"
import { runCliAsync } from "./support/cli.js"
import { type Client, client, waitForStatus } from "./support/http.js"
import { expectMirrorEqualsSource, sourceCounts, total } from "./support/source.js"

/**
 * Storage that fails (a full disk, a read-only or locked database), one server per database,
 * and start-up failures that are one clear line. The real server on an ephemeral port, a SQLite
 * file in a temp folder, the Plane simulator over HTTP; start-up failures with the server as a
 * child process.
 */

/** The app in this process, with a handle on its own SQLite connection (PRAGMAs are per connection). */
const startWithConnection = async (options: { dbPath: string; sim: RunningSimulator; integrationId: string }) => {
  const layer = makeAppLayer({
    dbPath: options.dbPath,
    port: 0,
    host: "127.0.0.1",
    apiToken: Option.none(),
    mode: "file",
    // No automatic retry: the test decides when the job resumes.
    engine: { ...defaultEngineConfig, autoRetry: { maxAttempts: 1, delay: 30 } },
    integrations: IntegrationSource.fixed("file", [planeIntegration(options.integrationId, options.sim, "acme")]),
    secrets: Secrets.make({ values: { [KEY_ENV]: options.sim.apiKey } }),
    autoInitialize: true
  }).pipe(Layer.provide(Logger.minimumLogLevel(process.env.SYNCLOG_TEST_LOGS ? LogLevel.Debug : LogLevel.None)))
  const runtime = ManagedRuntime.make(layer)
  const server = await runtime.runPromise(HttpServer.HttpServer)
  const port = (server.address as HttpServer.TcpAddress).port
  const sql = <A extends object>(text: string) =>
    runtime.runPromise(Effect.flatMap(SqlClient.SqlClient, (c) => c.unsafe<A>(text)))
  return { api: client(`http://127.0.0.1:${port}`), sql, close: () => runtime.dispose() }
}

const noStackTrace = (text: string) => expect(text).not.toMatch(/\n\s+at .*\.(js|ts|mjs|cjs):\d+/)

describe("when storage fails", () => {
  let sim: RunningSimulator
  let app: Awaited<ReturnType<typeof startWithConnection>>
  let api: Client
  const tmp = tempDir()
  const integrationId = "plane-disk"

  beforeAll(async () => {
    sim = await startSimulator({ workspaces: [{ slug: "acme", projects: 3, workItems: 600, seed: 21 }], seed: 21 })
    app = await startWithConnection({ dbPath: tmp.dbPath, sim, integrationId })
    api = app.api
  })

  afterAll(async () => {
    await app?.close()
    await sim?.close()
    tmp.remove()
  })

  it("fails a job on a full disk naming the file and the fix, reports /healthz failing, and resumes to an exact completion once space is back", async () => {
    const healthy = await api.get("/healthz")
    expect(healthy.status).toBe(200)
    expect(healthy.body).toMatchObject({ status: "ok", database: "ok" })

    // A full disk, for real as SQLite sees it: max_page_count caps the file on the server's own
    // connection and SQLite answers SQLITE_FULL exactly as when the disk has no room left (chmod
    // or a small file system would not stop root, or need a mount).
    // Room for 240 KB more, whatever the file's page size (16 KB for new files, 4 KB before).
    const [{ page_count: pages }] = await app.sql<{ page_count: number }>("PRAGMA page_count")
    const [{ page_size: pageSize }] = await app.sql<{ page_size: number }>("PRAGMA page_size")
    await app.sql(`PRAGMA max_page_count = ${pages + Math.ceil((60 * 4096) / pageSize)}`)

    const failing = await api.get("/healthz")
    expect(failing.status).toBe(503)
    expect(failing.body).toMatchObject({ success: false, error: "Unhealthy", status: "failing", database: "failing", mode: "file" })
    expect(failing.body.message).toBe(
      `the disk holding ${tmp.dbPath} is full (SQLITE_FULL): free space, then check GET /healthz again`
    )

    const counts = await sourceCounts(sim, "acme")
    const created = await api.post("/api/sync/jobs", { integrationId, type: "full_sync" })
    expect(created.status).toBe(200)
    const jobId: string = created.body.jobId
    const failed = await waitForStatus(api, jobId, ["completed", "failed"])
    expect(failed.status).toBe("failed")
    expect(failed.error).toBe(
      `the disk holding ${tmp.dbPath} is full (SQLITE_FULL): free space, then resume job ${jobId} (POST /api/sync/jobs/${jobId}/resume)`
    )
    expect(failed.logs.at(-1)).toMatchObject({ level: "error", message: `Job failed: ${failed.error}` })
    // Some pages committed before the file filled; the one that did not fit left no trace.
    expect(failed.stats.processed).toBeGreaterThan(0)
    expect(failed.stats.processed).toBeLessThan(total(counts))
    expect(failed.stats.created).toBe(failed.stats.processed)

    // Space is back.
    await app.sql("PRAGMA max_page_count = 4294967294")
    expect((await api.get("/healthz")).status).toBe(200)
    const resumed = await api.post(`/api/sync/jobs/${jobId}/resume`)
    expect(resumed.status).toBe(200)
    const done = await waitForStatus(api, jobId, ["completed", "failed"])
    expect(done.status, done.error).toBe("completed")
    expect(done.result).toEqual({ processed: total(counts), created: total(counts), updated: 0, deleted: 0, errors: 0 })
    await expectMirrorEqualsSource(api, integrationId, sim, "acme")
  })

  it("answers 503 StorageUnavailable to a write and reports /healthz failing while the database is read-only", async () => {
    // Read-only for real as SQLite sees it: query_only makes every write fail with
    // SQLITE_READONLY, as a read-only file does (chmod would not stop root).
    await app.sql("PRAGMA query_only = 1")
    try {
      const health = await api.get("/healthz")
      expect(health.status).toBe(503)
      expect(health.body).toMatchObject({ success: false, error: "Unhealthy", database: "failing" })
      expect(health.body.message).toContain(`${tmp.dbPath} cannot be written (SQLITE_READONLY`)

      const write = await api.post("/api/sync/jobs", { integrationId, type: "incremental_sync" })
      expect(write.status).toBe(503)
      expect(write.body).toEqual({
        success: false,
        error: "StorageUnavailable",
        message: `${tmp.dbPath} cannot be written (SQLITE_READONLY: the file, its folder or the file system is read-only for this process): ` +
          `make them writable for the user running synclog, then retry the request`
      })
      // Reads still work.
      expect((await api.get("/api/sync/jobs")).status).toBe(200)
    } finally {
      await app.sql("PRAGMA query_only = 0")
    }
    expect((await api.get("/healthz")).status).toBe(200)
    const write = await api.post("/api/sync/jobs", { integrationId, type: "incremental_sync" })
    expect(write.status).toBe(200)
    expect((await waitForStatus(api, write.body.jobId, ["completed", "failed"])).status).toBe("completed")
  })

  it("reports /healthz failing while another process holds a write lock on the database", async () => {
    // SQLITE_BUSY for real: another connection holds a write transaction past busy_timeout (5 s).
    const other = new Sqlite(tmp.dbPath)
    try {
      other.exec("BEGIN IMMEDIATE")
      const health = await api.get("/healthz")
      expect(health.status).toBe(503)
      expect(health.body.message).toContain(`${tmp.dbPath} is locked by another process (SQLITE_BUSY`)
    } finally {
      other.close()
    }
    expect((await api.get("/healthz")).status).toBe(200)
  })
})

describe("one server per database, and start-up failures as one line", () => {
  let sim: RunningSimulator
  const tmp = tempDir("synclog-startup-")
  let configPath: string

  beforeAll(async () => {
    sim = await startSimulator({ workspaces: [{ slug: "acme", projects: 1, workItems: 20, seed: 3 }], seed: 3 })
    configPath = writeConfigFile(join(tmp.dir, "synclog.config.json"), [planeIntegration("plane-one", sim, "acme")])
  })

  afterEach(async (ctx) => {
    await killAllChildren()
    const outputs = takeChildOutputs()
    if (ctx.task.result?.state === "fail") console.log(outputs)
  })

  afterAll(async () => {
    await sim?.close()
    tmp.remove()
  })

  // Generous: each start compiles the sources (tsx), slow on a busy machine.
  const options = (dbPath: string, label: string) => ({ dbPath, configPath, apiKey: sim.apiKey, label, readyTimeoutMs: 240_000 })
  const CHILD_TEST_TIMEOUT = 600_000

  /** The lines a child wrote to stderr (its output prefixes each). */
  const stderrLines = (child: ChildServer) =>
    child.output().split("\n").filter((l) => l.startsWith(`[${child.label} err] `)).map((l) => l.slice(`[${child.label} err] `.length))
      .filter((l) => l.trim() !== "")

  const countEvents = (dbPath: string) => {
    const db = new Sqlite(dbPath, { readonly: true })
    try {
      return (db.prepare("SELECT COUNT(*) AS n FROM events").get() as { n: number }).n
    } finally {
      db.close()
    }
  }

  /** The process group of a pid (Linux), to tell that a pid is a process of a given child. */
  const groupOf = (pid: number) => {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
    return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[2])
  }

  it("refuses a second server on the same file naming the other pid, lets replay --verify run beside it, and frees the lock on a crash or a shutdown", async () => {
    const dbPath = join(tmp.dir, "one", "synclog.db")
    const first = await startChild(options(dbPath, "first"))
    const events = countEvents(dbPath)

    const second = await spawnOnce(options(dbPath, "second"), await freePort())
    expect((await second.exited).code).toBe(1)
    const lines = stderrLines(second)
    expect(lines).toHaveLength(1)
    const refused = new RegExp(
      `^${dbPath.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")} is in use by another synclog process \\(pid (\\d+), running since [^)]+\\): ` +
        `stop it first, or set SYNC_DB_PATH to another file \\(one server per database\\)$`
    ).exec(lines[0]!)
    expect(refused, lines[0]).not.toBeNull()
    expect(groupOf(Number(refused![1])), "the pid named is the first server's").toBe(first.pid)
    noStackTrace(second.output())
    expect(countEvents(dbPath)).toBe(events)
    expect((await first.api.get("/healthz")).status).toBe(200)

    // Reading beside the server is fine; rewriting its views in place is not.
    const verify = await runCliAsync(["replay", "--verify", "--db", dbPath])
    expect(verify.code, verify.stderr).toBe(0)
    expect(verify.stdout).toMatch(/^OK: \d+ events replayed/)
    const inPlace = await runCliAsync(["replay", "--db", dbPath])
    expect(inPlace.code).toBe(1)
    expect(inPlace.stderr.trim()).toMatch(
      /is in use by another synclog process \(pid \d+, running since [^)]+\): stop it first to replay in place; replay --verify works beside it$/
    )

    // SIGKILL leaves no stale lock: the operating system drops it with the process.
    await first.crash()
    const third = await startChild(options(dbPath, "third"))
    expect((await third.terminate()).code).toBe(0)
    // A graceful shutdown releases it too.
    const fourth = await startChild(options(dbPath, "fourth"))
    expect((await fourth.api.get("/healthz")).status).toBe(200)
    expect((await fourth.terminate()).code).toBe(0)
  }, CHILD_TEST_TIMEOUT)

  it("stops on a taken port with one line and a non-zero exit, before any job starts or any event is appended", async () => {
    const dbPath = join(tmp.dir, "port", "synclog.db")
    const before = await startChild(options(dbPath, "before"))
    expect((await before.terminate()).code).toBe(0)
    const events = countEvents(dbPath)
    expect(events).toBeGreaterThan(0)

    const taken: Server = createServer()
    const port = await new Promise<number>((resolve) =>
      taken.listen(0, "127.0.0.1", () => resolve((taken.address() as { port: number }).port))
    )
    try {
      const server = await spawnOnce(options(dbPath, "taken"), port)
      expect((await server.exited).code).toBe(1)
      expect(stderrLines(server)).toEqual([`port ${port} is in use: set PORT or stop the other process`])
      noStackTrace(server.output())
      expect(server.output()).not.toContain("ServeError")
      expect(countEvents(dbPath)).toBe(events)
    } finally {
      await new Promise((resolve) => taken.close(resolve))
    }
  }, CHILD_TEST_TIMEOUT)

  it("stops with one line naming the file and the fix when the database cannot be opened", async () => {
    // Not a database: SQLITE_NOTADB.
    const garbage = join(tmp.dir, "garbage.db")
    writeFileSync(garbage, "this is not a SQLite database\n".repeat(200))
    const notADb = await spawnOnce(options(garbage, "garbage"), await freePort())
    expect((await notADb.exited).code).toBe(1)
    expect(stderrLines(notADb)).toEqual([
      `${garbage} is damaged or not a synclog database (SQLITE_NOTADB): restore it from a backup, or move it aside with its -wal and -shm files to start with an empty one, then start synclog again`
    ])
    noStackTrace(notADb.output())

    // A folder where the file should be: SQLITE_CANTOPEN.
    const folder = join(tmp.dir, "a-folder.db")
    mkdirSync(folder)
    const cantOpen = await spawnOnce(options(folder, "folder"), await freePort())
    expect((await cantOpen.exited).code).toBe(1)
    expect(stderrLines(cantOpen)).toEqual([
      `${folder} cannot be opened (SQLITE_CANTOPEN): check that SYNC_DB_PATH names a file, not a folder, in a folder synclog may create and write, then start synclog again`
    ])
    noStackTrace(cantOpen.output())
  }, CHILD_TEST_TIMEOUT)
})
