import { SqlClient } from "@effect/sql"
import { SqliteClient } from "@effect/sql-sqlite-node"
import { Effect, Layer } from "effect"
import { existsSync, statSync } from "node:fs"
import { afterEach, describe, expect, it } from "vitest"
import { backgroundCheckpoints } from "../src/eventlog/Checkpointer.js"
import * as Database from "../src/eventlog/Database.js"
import { tempDir } from "./support/app.js"

/**
 * The server checkpoints the WAL from a worker thread (src/eventlog/Checkpointer.ts). What
 * shows that it runs: committed pages reach the database file while the writer does nothing
 * but commit, long before SQLite's own checkpoint threshold (50,000 pages) would copy them.
 */
const MB = 1024 * 1024

/** Commits `megabytes` of rows, 1 MB per transaction; then polls the database file's size. */
const writeAndWatch = (dbPath: string, megabytes: number, watchMs: number) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* sql`CREATE TABLE blobs (id INTEGER PRIMARY KEY, body TEXT NOT NULL)`
    const body = "x".repeat(64 * 1024)
    for (let i = 0; i < megabytes; i++) {
      yield* Effect.forEach(Array.from({ length: 16 }), () => sql`INSERT INTO blobs (body) VALUES (${body})`, { discard: true }).pipe(
        sql.withTransaction
      )
    }
    const deadline = Date.now() + watchMs
    let size = statSync(dbPath).size
    while (size < (megabytes - 2) * MB && Date.now() < deadline) {
      yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 50)))
      size = statSync(dbPath).size
    }
    return size
  }).pipe(Effect.provide(Layer.fresh(Database.layer(dbPath, { checkpointInBackground: dbPath.includes("background") }))))

describe("background WAL checkpoints", () => {
  const dirs: Array<ReturnType<typeof tempDir>> = []
  afterEach(() => {
    for (const d of dirs.splice(0)) d.remove()
  })

  it("copy committed pages into the database file while the writer only commits", async () => {
    const tmp = tempDir("synclog-background-")
    dirs.push(tmp)
    const size = await Effect.runPromise(writeAndWatch(tmp.dbPath, 24, 20_000))
    expect(size).toBeGreaterThanOrEqual(22 * MB)
  })

  /** A SQLite file in WAL mode with SQLite's own checkpoint off and the worker's timer an hour away. */
  const withCommitRoundsOnly = <A>(dbPath: string, body: (sql: SqlClient.SqlClient) => Effect.Effect<A, unknown>) =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* sql`PRAGMA journal_mode = WAL`
      yield* sql`PRAGMA wal_autocheckpoint = 0`
      yield* sql`CREATE TABLE blobs (id INTEGER PRIMARY KEY, body TEXT NOT NULL)`
      yield* backgroundCheckpoints(dbPath, "1 hour")
      return yield* body(sql)
    }).pipe(Effect.scoped, Effect.provide(SqliteClient.layer({ filename: dbPath })), Effect.runPromise)

  const insertRows = (sql: SqlClient.SqlClient, rows: number, bytes: number) =>
    Effect.forEach(Array.from({ length: rows }), () => sql`INSERT INTO blobs (body) VALUES (${"x".repeat(bytes)})`, { discard: true }).pipe(
      sql.withTransaction
    )

  it("a round follows a sync's commit, so the WAL restarts and stays one transaction long", async () => {
    const tmp = tempDir("synclog-after-commit-")
    dirs.push(tmp)
    const walSize = () => (existsSync(`${tmp.dbPath}-wal`) ? statSync(`${tmp.dbPath}-wal`).size : 0)
    const largestWal = await withCommitRoundsOnly(tmp.dbPath, (sql) =>
      Effect.gen(function*() {
        let largest = 0
        for (let i = 1; i <= 8; i++) {
          // 2 MB, as a batch of a sync (about 1.4 MB for 1,000 records).
          yield* insertRows(sql, 32, 64 * 1024)
          largest = Math.max(largest, walSize())
          // The round after this commit copies it into the database file (a sync fetches its next
          // page meanwhile); the next transaction then starts the WAL over.
          const deadline = Date.now() + 15_000
          while (statSync(tmp.dbPath).size < i * 2 * MB && Date.now() < deadline) {
            yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 10)))
          }
          expect(statSync(tmp.dbPath).size, `commit ${i} copied into the database file`).toBeGreaterThanOrEqual(i * 2 * MB)
          // The round ends with an fsync before it marks the frames copied: as long as a sync
          // takes to fetch and check its next page.
          yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 200)))
        }
        return largest
      }))
    // Never restarted, it would hold all 16 MB (one restart missed: 4 MB).
    expect(largestWal).toBeLessThan(5 * MB)
  })

  it("small commits (a few KB, as a small job's) leave the copying to the timer's round", async () => {
    const tmp = tempDir("synclog-small-commits-")
    dirs.push(tmp)
    const copied = await withCommitRoundsOnly(tmp.dbPath, (sql) =>
      Effect.gen(function*() {
        const before = statSync(tmp.dbPath).size
        for (let i = 0; i < 20; i++) yield* insertRows(sql, 1, 4 * 1024)
        // A round after each of them would have copied them within milliseconds.
        yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 500)))
        return statSync(tmp.dbPath).size - before
      }))
    expect(copied).toBe(0)
  })

  it("without them, the pages stay in the WAL until SQLite's threshold (the difference the first test sees)", async () => {
    const tmp = tempDir("synclog-foreground-")
    dirs.push(tmp)
    const size = await Effect.runPromise(writeAndWatch(tmp.dbPath, 24, 1_000))
    expect(size).toBeLessThan(2 * MB)
  })
})
