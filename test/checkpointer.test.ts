import { SqlClient } from "@effect/sql"
import { Effect, Layer } from "effect"
import { statSync } from "node:fs"
import { afterEach, describe, expect, it } from "vitest"
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

  it("without them, the pages stay in the WAL until SQLite's threshold (the difference the first test sees)", async () => {
    const tmp = tempDir("synclog-foreground-")
    dirs.push(tmp)
    const size = await Effect.runPromise(writeAndWatch(tmp.dbPath, 24, 1_000))
    expect(size).toBeLessThan(2 * MB)
  })
})
