import { Migrator, SqlClient } from "@effect/sql"
import { SqliteClient } from "@effect/sql-sqlite-node"
import { Effect, Layer } from "effect"
import { mkdirSync } from "node:fs"
import { dirname } from "node:path"
import m0001 from "./migrations/0001_init.js"
import m0002 from "./migrations/0002_job_counts.js"

/** Migrations as an in-code record: no dynamic imports, no sqlite3 CLI needed. */
const migrations = Migrator.make({})({
  loader: Migrator.fromRecord({ "0001_init": m0001, "0002_job_counts": m0002 })
})

const prepare = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  // WAL is on already (SqliteClient). NORMAL keeps every commit durable against a process crash
  // (only an OS crash can lose the last commits) and avoids an fsync per batch.
  yield* sql`PRAGMA synchronous = NORMAL`
  yield* sql`PRAGMA busy_timeout = 5000`
  yield* migrations
}).pipe(Effect.orDie)

/**
 * One SQLite connection for the whole process (SqliteClient serialises access to it), with
 * the schema migrated. Build it once per database file: two layers would be two connections.
 */
export const layer = (filename: string) => {
  if (filename !== ":memory:") mkdirSync(dirname(filename), { recursive: true })
  const client = SqliteClient.layer({ filename, prepareCacheSize: 500 })
  return Layer.effectDiscard(prepare).pipe(Layer.provideMerge(client))
}
