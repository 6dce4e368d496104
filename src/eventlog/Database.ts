import { Migrator, SqlClient, type SqlError } from "@effect/sql"
import { SqliteClient } from "@effect/sql-sqlite-node"
import { Cause, type ConfigError, Context, Effect, Layer, Schema } from "effect"
import { mkdirSync } from "node:fs"
import { statfs } from "node:fs/promises"
import { dirname } from "node:path"
import { backgroundCheckpoints } from "./Checkpointer.js"
import m0001 from "./migrations/0001_init.js"
import m0002 from "./migrations/0002_job_counts.js"
import m0003 from "./migrations/0003_mirror_rowid.js"
import m0004 from "./migrations/0004_drop_mirror_by_updated.js"
import m0005 from "./migrations/0005_drop_mirror_by_project.js"
import m0006 from "./migrations/0006_notification_outbox.js"
import m0007 from "./migrations/0007_credentials.js"
import * as Postgres from "./postgres.js"
import * as ReadConnection from "./ReadConnection.js"
import { describeStorageFailure, type StorageProblem } from "./storageErrors.js"

/**
 * The SQLite file behind SqlClient, as configured, or the PostgreSQL URL without its password
 * (storage failure messages name it).
 */
export class DatabaseFile extends Context.Tag("synclog/DatabaseFile")<DatabaseFile, { readonly path: string }>() {}

/** The database could not be opened or migrated at start (a message naming the file and the fix). */
export class DatabaseUnavailable extends Schema.TaggedError<DatabaseUnavailable>()("DatabaseUnavailable", { message: Schema.String }) {}

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
    // A new file gets 16 KB pages (SQLite's default is 4 KB): a batch of 1,000 records commits a
    // quarter as many WAL frames. Measured with better-sqlite3 alone, 100 batches of 1,000
    // mirror rows: COMMIT 1,750-2,000 ms at 4 KB, 375-420 ms at 16 KB. It must be set before
    // the first table and before WAL mode, which fixes it (hence SqliteClient's `disableWAL`);
    // an existing file keeps its page size.
    yield* sql`PRAGMA page_size = 16384`
    yield* sql`PRAGMA journal_mode = WAL`
    // NORMAL keeps every commit durable against a process crash (only an OS crash can lose the
    // last commits) and avoids an fsync per batch.
    yield* sql`PRAGMA synchronous = NORMAL`
    yield* sql`PRAGMA busy_timeout = 5000`
    // 32 MB of page cache (the default is 2 MB): the mirror's indexes stay in memory during a sync.
    yield* sql`PRAGMA cache_size = -32000`
    // A WAL size in pages, kept in bytes whatever the file's page size (4 KB for files made before
    // 16 KB pages): ~200 MB with background checkpoints, where the commit-time one is only a
    // safety net, ~40 MB without.
    const [{ page_size }] = yield* sql<{ page_size: number }>`PRAGMA page_size`
    const walBytes = (checkpointInBackground ? 50_000 : 10_000) * 4096
    yield* sql.unsafe(`PRAGMA wal_autocheckpoint = ${Math.round(walBytes / page_size)}`)
    // When the WAL restarts after a big sync, give its disk space back beyond 64 MB.
    yield* sql`PRAGMA journal_size_limit = 67108864`
    yield* migrations
  }).pipe(Effect.orDie)

/**
 * On SQLITE_FULL (and some I/O errors) SQLite rolls the whole transaction back by itself; the
 * ROLLBACK that @effect/sql then issues fails with "no transaction is active" (or "no such
 * savepoint") and dies, hiding the real error. This keeps the transaction's own failure instead.
 */
const keepTransactionFailures = (sql: SqlClient.SqlClient) => {
  const original = sql.withTransaction
  const rollbackFound = (defect: unknown) => {
    const cause = (defect as { readonly cause?: { readonly message?: unknown } } | undefined)?.cause
    const text = typeof cause?.message === "string" ? cause.message : ""
    return text.includes("no transaction is active") || text.includes("no such savepoint")
  }
  const withTransaction = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E | SqlError.SqlError, R> =>
    Effect.suspend(() => {
      let failure: Cause.Cause<E> | undefined
      return original(Effect.tapErrorCause(effect, (cause) => Effect.sync(() => void (failure = cause)))).pipe(
        Effect.catchAllDefect((defect) =>
          failure !== undefined && rollbackFound(defect) ? Effect.failCause(failure) : Effect.die(defect)
        )
      )
    })
  Object.assign(sql, { withTransaction })
}

/** Of the disk or of SQLite's page limit: less than this left counts as full. */
const MIN_FREE_BYTES = 1024 * 1024

/**
 * Whether the database can take writes now, cheaply: a write statement that changes nothing
 * (it still takes the write lock, so a read-only file or another process's lock shows), and
 * the room left on the disk and under SQLite's page limit. A full disk shows only when a page
 * must be added, so it is judged by the room left. Undefined when healthy.
 */
export const probe: Effect.Effect<StorageProblem | undefined, never, SqlClient.SqlClient | DatabaseFile> = Effect.gen(
  function*() {
    const sql = yield* SqlClient.SqlClient
    const { path } = yield* DatabaseFile
    const then = "check GET /healthz again"
    const failed = (e: unknown) =>
      describeStorageFailure(e, path, then) ??
        { kind: "io" as const, code: "unknown", message: `the database ${path} fails: ${e instanceof Error ? e.message : String(e)}` }
    const write = yield* Effect.either(sql.onDialectOrElse({
      // PostgreSQL: the server watches its own disk; a write that changes nothing shows a
      // read-only server or a lost connection.
      pg: () => sql`DELETE FROM system_view WHERE false`,
      orElse: () => sql`DELETE FROM system_view WHERE 0`
    }))
    if (write._tag === "Left") return failed(write.left)
    if (sql.onDialectOrElse({ pg: () => true, orElse: () => false })) return undefined
    const room = yield* Effect.either(
      sql<{ pageSize: number; pages: number; maxPages: number; free: number }>`SELECT
        (SELECT page_size FROM pragma_page_size) AS pageSize, (SELECT page_count FROM pragma_page_count) AS pages,
        (SELECT max_page_count FROM pragma_max_page_count) AS maxPages, (SELECT freelist_count FROM pragma_freelist_count) AS free`
    )
    if (room._tag === "Left") return failed(room.left)
    const r = room.right[0]
    if (r !== undefined && (r.maxPages - r.pages + r.free) * r.pageSize < MIN_FREE_BYTES) {
      return failed({ code: "SQLITE_FULL" })
    }
    if (path !== ":memory:") {
      const disk = yield* Effect.either(Effect.tryPromise(() => statfs(dirname(path))))
      if (disk._tag === "Right" && disk.right.bavail * disk.right.bsize < MIN_FREE_BYTES) return failed({ code: "ENOSPC" })
    }
    return undefined
  }
)

export interface Options {
  /** Checkpoint the WAL from a worker thread (the server; see Checkpointer.ts). */
  readonly checkpointInBackground?: boolean
  /** PostgreSQL: server settings for every session of the pool (a cluster's runners set one). */
  readonly sessionSettings?: Readonly<Record<string, string | number>>
}

/**
 * The store at `location`: a PostgreSQL URL (postgres.ts) or a SQLite file. SQLite is one
 * connection for the whole process (SqliteClient serialises access to it), with the schema
 * migrated. Build it once per database: two layers would be two connections.
 */
export const layer = (location: string, options: Options = {}) =>
  Postgres.isPostgresUrl(location) ? postgresLayer(location, options.sessionSettings) : sqliteLayer(location, options)

/** A start that cannot reach or migrate the database: one sentence for the operator. */
const unavailableAs = (name: string) => (cause: Cause.Cause<unknown>): Layer.Layer<unknown, ConfigError.ConfigError | DatabaseUnavailable> => {
  const problem = describeStorageFailure(Cause.squash(cause), name, "start synclog again")
  return problem === undefined || Cause.isInterruptedOnly(cause)
    ? Layer.failCause(cause as Cause.Cause<ConfigError.ConfigError>)
    : Layer.fail(new DatabaseUnavailable({ message: problem.message }))
}

const postgresLayer = (url: string, sessionSettings?: Readonly<Record<string, string | number>>) => {
  const name = Postgres.describeUrl(url)
  return Layer.mergeAll(Postgres.layer(url, sessionSettings), Layer.succeed(DatabaseFile, { path: name }), ReadConnection.none).pipe(
    // The pool fails with a SqlError whose cause is the driver's (a code such as ECONNREFUSED).
    Layer.catchAllCause(unavailableAs(name))
  )
}

const sqliteLayer = (filename: string, options: Options) => {
  const inFile = filename !== ":memory:"
  const background = inFile && options.checkpointInBackground === true
  const folder = Layer.effectDiscard(Effect.sync(() => inFile && mkdirSync(dirname(filename), { recursive: true })))
  // WAL is switched on by `prepare`, after the page size (see there).
  const client = SqliteClient.layer({ filename, prepareCacheSize: 500, disableWAL: true }).pipe(Layer.provide(folder))
  const ready = Layer.effectDiscard(Effect.flatMap(SqlClient.SqlClient, (sql) => {
    keepTransactionFailures(sql)
    return prepare(background)
  })).pipe(Layer.provideMerge(client))
  const withCheckpoints = background
    ? Layer.scopedDiscard(backgroundCheckpoints(filename)).pipe(Layer.provideMerge(ready))
    : ready
  // The API's hot reads on a connection of their own (ReadConnection.ts); not for a memory database.
  const reads = inFile ? ReadConnection.layer(filename) : ReadConnection.none
  return Layer.mergeAll(withCheckpoints, Layer.succeed(DatabaseFile, { path: filename }), reads).pipe(
    // Opening or migrating fails as a defect inside SqliteClient: one sentence for the operator.
    Layer.catchAllCause(unavailableAs(filename))
  )
}
