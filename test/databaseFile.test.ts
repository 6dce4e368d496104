import { SqlClient } from "@effect/sql"
import Sqlite from "better-sqlite3"
import { Effect, Layer } from "effect"
import { afterEach, describe, expect, it } from "vitest"
import * as Database from "../src/eventlog/Database.js"
import { tempDir } from "./support/app.js"

/**
 * The SQLite file's settings (src/eventlog/Database.ts): a new file gets 16 KB pages, set before
 * WAL mode (which would fix 4 KB); a file made before keeps its page size; the WAL threshold is
 * the same size in bytes for both.
 */
const settingsOf = (dbPath: string, checkpointInBackground = false) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const [{ page_size }] = yield* sql<{ page_size: number }>`PRAGMA page_size`
    const [{ journal_mode }] = yield* sql<{ journal_mode: string }>`PRAGMA journal_mode`
    const [{ wal_autocheckpoint }] = yield* sql<{ wal_autocheckpoint: number }>`PRAGMA wal_autocheckpoint`
    const [{ n }] = yield* sql<{ n: number }>`
      SELECT count(*) AS n FROM sqlite_master WHERE type = 'table' AND name IN ('events', 'jobs', 'mirror_records')`
    return { pageSize: page_size, mode: journal_mode, threshold: wal_autocheckpoint, tables: n }
  }).pipe(Effect.provide(Layer.fresh(Database.layer(dbPath, { checkpointInBackground }))))

describe("the SQLite file", () => {
  const dirs: Array<ReturnType<typeof tempDir>> = []
  afterEach(() => {
    for (const d of dirs.splice(0)) d.remove()
  })

  it("is created with 16 KB pages in WAL mode, and keeps them when opened again", async () => {
    const tmp = tempDir("synclog-pages-")
    dirs.push(tmp)
    const created = await Effect.runPromise(settingsOf(tmp.dbPath))
    expect(created).toEqual({ pageSize: 16384, mode: "wal", threshold: 2500, tables: 3 })
    const reopened = await Effect.runPromise(settingsOf(tmp.dbPath, true))
    expect(reopened).toEqual({ pageSize: 16384, mode: "wal", threshold: 12500, tables: 3 })
  })

  it("keeps the 4 KB pages of a file made before, with the same WAL threshold in bytes", async () => {
    const tmp = tempDir("synclog-pages-old-")
    dirs.push(tmp)
    const old = new Sqlite(tmp.dbPath)
    old.pragma("journal_mode = WAL")
    old.exec("CREATE TABLE leftover (id INTEGER PRIMARY KEY)")
    old.close()
    const opened = await Effect.runPromise(settingsOf(tmp.dbPath))
    expect(opened).toEqual({ pageSize: 4096, mode: "wal", threshold: 10000, tables: 3 })
  })
})
