import { Migrator, SqlClient } from "@effect/sql"
import { SqliteClient } from "@effect/sql-sqlite-node"
import { Effect, Layer } from "effect"
import { mkdirSync } from "node:fs"
import { dirname } from "node:path"
import { backgroundCheckpoints } from "./Checkpointer.js"
import m0001 from "./migrations/0001_init.js"
import m0002 from "./migrations/0002_job_counts.js"
import m0003 from "./migrations/0003_mirror_rowid.js"
import m0004 from "./migrations/0004_drop_mirror_by_updated.js"
import m0005 from "./migrations/0005_drop_mirror_by_project.js"
import m0006 from "./migrations/0006_notification_outbox.js"
import m0007 from "./migrations/0007_credentials.js"

/** Migrations as an in-code record: no dynamic imports, no sqlite3 CLI needed. */
const migrations = Migrator.make({})({
  loader: Migrator.fromRecord({
    "0001_init": m0001,
    "0002_job_counts": m0002,
    "0003_mirror_rowid": m0003,
    "0004_drop_mirror_by_updated": m0004,
    "0005_drop_mirror_by_project": m0005,
    "0006_notification_outbox": m0006,
    "0007_credentials": m0007
  })
})

const prepare = (checkpointInBackground: boolean) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    // WAL is on already (SqliteClient). NORMAL keeps every commit durable against a process crash
    // (only an OS crash can lose the last commits) and avoids an fsync per batch.
    yield* sql`PRAGMA synchronous = NORMAL`
    yield* sql`PRAGMA busy_timeout = 5000`
    // 32 MB of page cache (the default is 2 MB): the mirror's indexes stay in memory during a sync.
    yield* sql`PRAGMA cache_size = -32000`
    // In pages of 4 KB. With background checkpoints, the commit-time one is only a safety net.
    yield* sql.unsafe(`PRAGMA wal_autocheckpoint = ${checkpointInBackground ? 50_000 : 10_000}`)
    // When the WAL restarts after a big sync, give its disk space back beyond 64 MB.
    yield* sql`PRAGMA journal_size_limit = 67108864`
    yield* migrations
  }).pipe(Effect.orDie)

export interface Options {
  /** Checkpoint the WAL from a worker thread (the server; see Checkpointer.ts). */
  readonly checkpointInBackground?: boolean
}

/**
 * One SQLite connection for the whole process (SqliteClient serialises access to it), with
 * the schema migrated. Build it once per database file: two layers would be two connections.
 */
export const layer = (filename: string, options: Options = {}) => {
  const inFile = filename !== ":memory:"
  if (inFile) mkdirSync(dirname(filename), { recursive: true })
  const background = inFile && options.checkpointInBackground === true
  const client = SqliteClient.layer({ filename, prepareCacheSize: 500 })
  const ready = Layer.effectDiscard(prepare(background)).pipe(Layer.provideMerge(client))
  return background ? Layer.scopedDiscard(backgroundCheckpoints(filename)).pipe(Layer.provideMerge(ready)) : ready
}
