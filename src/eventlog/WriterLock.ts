import { Reactivity } from "@effect/experimental"
import type { SqlError } from "@effect/sql"
import { PgClient } from "@effect/sql-pg"
import Sqlite from "better-sqlite3"
import { Effect, Redacted, Schema } from "effect"
import { mkdirSync } from "node:fs"
import { dirname } from "node:path"
import { describeUrl, isPostgresUrl } from "./postgres.js"
import { describeStorageFailure } from "./storageErrors.js"

/**
 * One writer per database: a server holds `<db>.lock` for its whole lifetime, so a second server
 * (or an in-place replay) on the same file is refused instead of running a second scheduler
 * and second copies of the same jobs.
 *
 * The lock is SQLite's own: a small SQLite file of its own, on which the holder keeps a write
 * transaction open (BEGIN IMMEDIATE: a RESERVED lock). The operating system drops that lock when
 * the process ends in any way, SIGKILL included, so a lock is never stale and needs no pid
 * check. The holder's pid sits in a table of that file; a RESERVED lock still lets others read
 * it, so a refused process can name the holder. The database itself is not locked: replay
 * --verify and the background checkpointer open it beside a running server.
 */

export class DatabaseInUse extends Schema.TaggedError<DatabaseInUse>()("DatabaseInUse", { message: Schema.String }) {}

/** The lock file could not be created or opened (a read-only folder, a full disk). */
export class LockUnavailable extends Schema.TaggedError<LockUnavailable>()("LockUnavailable", { message: Schema.String }) {}

const lockFileOf = (dbPath: string) => `${dbPath}.lock`

/** Attempts before giving up when two processes start in the same instant. */
const ATTEMPTS = 5

const isBusy = (e: unknown) => {
  const code = (e as { readonly code?: unknown }).code
  return code === "SQLITE_BUSY" || code === "SQLITE_LOCKED"
}

interface Holder {
  readonly pid: number
  readonly since: string
}

const holderOf = (db: Sqlite.Database): Holder | undefined => {
  try {
    return db.prepare("SELECT pid, since FROM holder WHERE id = 1").get() as Holder | undefined
  } catch {
    return undefined
  }
}

const SERVER_ADVICE = "stop it first, or set SYNC_DB_PATH to another file (one server per database)"

/**
 * Takes the lock of `dbPath` for the scope. Fails with DatabaseInUse naming the file, the
 * holder's pid and `advice` (what the refused process can do). `runner`: a runner of a cluster
 * (PostgreSQL only) shares the lock with the other runners, and is refused, as a single server
 * is refused by them, when the other kind holds it.
 */
export const acquire = (dbPath: string, advice?: string, options: { readonly runner?: boolean } = {}) =>
  isPostgresUrl(dbPath) ? acquirePostgres(dbPath, advice, options.runner === true) : acquireFile(dbPath, advice ?? SERVER_ADVICE)

const acquireFile = (dbPath: string, advice: string) =>
  Effect.acquireRelease(
    Effect.try({
      try: () => {
        const file = lockFileOf(dbPath)
        mkdirSync(dirname(file), { recursive: true })
        const db = new Sqlite(file)
        let heldBySelf = false
        try {
          // Never wait: a held lock is an answer, not contention to ride out.
          db.pragma("busy_timeout = 0")
          for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
            try {
              // Publish this pid (a committed write), then take the lock and keep it.
              db.exec("BEGIN IMMEDIATE")
              db.exec("CREATE TABLE IF NOT EXISTS holder (id INTEGER PRIMARY KEY CHECK (id = 1), pid INTEGER NOT NULL, since TEXT NOT NULL)")
              db.prepare("INSERT OR REPLACE INTO holder (id, pid, since) VALUES (1, ?, ?)").run(process.pid, new Date().toISOString())
              db.exec("COMMIT")
              db.exec("BEGIN IMMEDIATE")
            } catch (e) {
              if (db.inTransaction) db.exec("ROLLBACK")
              if (!isBusy(e)) throw e
              const holder = holderOf(db)
              if (holder !== undefined && holder.pid !== process.pid) {
                throw new DatabaseInUse({
                  message: `${dbPath} is in use by another synclog process (pid ${holder.pid}, running since ${holder.since}): ${advice}`
                })
              }
              // This process holds it already (a second engine on the same file), or another
              // process is between its two steps: look again.
              heldBySelf = holder?.pid === process.pid
              continue
            }
            // Between the commit and the lock another starting process may have written its pid.
            if (holderOf(db)?.pid === process.pid) return db
            db.exec("ROLLBACK")
          }
          throw new DatabaseInUse({
            message: heldBySelf
              ? `${dbPath} is already open in this process (pid ${process.pid}): build the engine once per database file`
              : `${dbPath} is being opened by another synclog process at this moment: ${advice}`
          })
        } catch (e) {
          db.close()
          throw e
        }
      },
      catch: (e) =>
        e instanceof DatabaseInUse ? e : new LockUnavailable({
          message: describeStorageFailure(e, lockFileOf(dbPath), "start synclog again")?.message ??
            `The lock file ${lockFileOf(dbPath)} could not be used: ${e instanceof Error ? e.message : String(e)}`
        })
    }),
    // Closing the connection ends the transaction and drops the lock.
    (db) => Effect.sync(() => db.close())
  )

/** The session advisory lock a server holds on its PostgreSQL database (not the writers' key). */
const SERVER_LOCK_KEY = 0x5379_6e64

/**
 * PostgreSQL: a session-level advisory lock on a connection of its own, held for the scope.
 * Like SQLite's file lock, the server drops it when the connection ends, however the process
 * ends. The holder is found through pg_locks: its connection's application_name carries its pid.
 */
const acquirePostgres = (
  url: string,
  advice = "stop it first, or set SYNC_DATABASE_URL to another database (one server per database)",
  runner = false
) => {
  const name = describeUrl(url)
  return Effect.gen(function*() {
    const sql = yield* PgClient.make({ url: Redacted.make(url), maxConnections: 1, applicationName: `synclog pid ${process.pid}` })
    const conn = yield* sql.reserve
    // Runners share it (a cluster's runners coordinate through shard locks); a single server
    // takes it alone. Either kind is refused while the other holds it.
    const take = runner ? "pg_try_advisory_lock_shared" : "pg_try_advisory_lock"
    const [taken] = yield* conn.executeUnprepared(`SELECT ${take}(${SERVER_LOCK_KEY}) AS ok`, [], undefined) as Effect.Effect<
      ReadonlyArray<{ ok: boolean }>,
      SqlError.SqlError
    >
    if (taken?.ok === true) return
    // On the same connection: the pool has no other.
    const [holder] = yield* conn.executeUnprepared(
      `SELECT a.application_name AS name, a.backend_start::text AS since, l.mode AS mode
       FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
       WHERE l.locktype = 'advisory' AND l.granted AND l.classid = 0 AND l.objid = ${SERVER_LOCK_KEY} AND l.objsubid = 1
         AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
      [],
      undefined
    ) as Effect.Effect<ReadonlyArray<{ name: string; since: string; mode: string }>, SqlError.SqlError>
    const pid = /synclog pid (\d+)/.exec(holder?.name ?? "")?.[1]
    if (runner) {
      return yield* new DatabaseInUse({
        message: `${name} is in use by a single synclog server (${pid === undefined ? "" : `pid ${pid}, `}running since ${
          holder?.since ?? "an unknown time"
        }), not by runners of a cluster: stop it first (it can be restarted as a runner with SYNC_RUNNER_ADDRESS), or set SYNC_DATABASE_URL to another database`
      })
    }
    if (holder !== undefined && /ShareLock/.test(holder.mode)) {
      return yield* new DatabaseInUse({
        message: `${name} is in use by the runners of a synclog cluster (${pid === undefined ? "" : `one is pid ${pid}, `}running since ${
          holder.since
        }): start this server as a runner too (set SYNC_RUNNER_ADDRESS=host:port), or set SYNC_DATABASE_URL to another database`
      })
    }
    return yield* new DatabaseInUse({
      message: `${name} is in use by another synclog process (${pid === undefined ? "" : `pid ${pid}, `}running since ${
        holder?.since ?? "an unknown time"
      }): ${advice}`
    })
  }).pipe(
    Effect.catchTag("SqlError", (e) =>
      new LockUnavailable({
        message: describeStorageFailure(e, name, "start synclog again")?.message ??
          `${name} could not be locked: ${e.cause instanceof Error ? e.cause.message : e.message}`
      })),
    // The pool and its one connection live as long as the caller's scope: the lock with them.
    Effect.provide(Reactivity.layer)
  )
}
