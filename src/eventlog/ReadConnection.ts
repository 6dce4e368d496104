import { SqlError } from "@effect/sql"
import type { Statement } from "@effect/sql"
import Sqlite from "better-sqlite3"
import { Context, Effect, Layer } from "effect"

/**
 * The API's hot reads (the job list, a job's detail, the integrations' status) on a read-only
 * connection of their own, for a SQLite file. Through SqlClient each statement costs 20 to 40 µs
 * beyond SQLite's own work (a span, a scope, the connection's semaphore, the prepared-statement
 * cache), more than the statement itself; here it is a lookup of the prepared statement.
 *
 * What is read here is the committed state: a read never sees a write transaction that is still
 * open (on the one SqlClient connection, a statement from another fiber waits for it to end), so
 * it is only for reads that run outside any transaction (Views and JobLog say which). A
 * PostgreSQL store, or SQLite in memory, has none: those reads go through SqlClient.
 */
export class ReadConnection extends Context.Tag("synclog/ReadConnection")<ReadConnection, {
  /** The rows of a compiled statement (`statement.compile()`); undefined without a read connection. */
  readonly rows: Rows | undefined
}>() {}

type Rows = <A extends object>(sql: string, params: ReadonlyArray<unknown>) => Effect.Effect<ReadonlyArray<A>, SqlError.SqlError>

/** For a store without a read connection (PostgreSQL, SQLite in memory). */
export const none = Layer.succeed(ReadConnection, { rows: undefined })

/** What a reader runs committed reads with: the read connection's `rows` (or undefined: SqlClient). */
export const committedReader = Effect.map(Effect.serviceOption(ReadConnection), (c) => c._tag === "Some" ? c.value.rows : undefined)

/** Runs a statement on the read connection when there is one, else through SqlClient. */
export const committedRows = <A extends object>(
  rows: Rows | undefined,
  statement: Statement.Statement<A>
): Effect.Effect<ReadonlyArray<A>, SqlError.SqlError> => {
  if (rows === undefined) return statement
  const [sql, params] = statement.compile()
  return rows<A>(sql, params)
}

/**
 * Opened on first use (a CLI that never serves the API never opens it) and closed with the
 * layer. Statements are prepared once each: the hot reads are a handful of SQL texts.
 */
export const layer = (filename: string) =>
  Layer.scoped(
    ReadConnection,
    Effect.map(
      Effect.acquireRelease(
        Effect.sync(() => ({ db: undefined as Sqlite.Database | undefined })),
        (handle) => Effect.sync(() => handle.db?.close())
      ),
      (handle) => {
        const prepared = new Map<string, Sqlite.Statement>()
        const statement = (sql: string) => {
          let found = prepared.get(sql)
          if (found === undefined) {
            if (handle.db === undefined) {
              // better-sqlite3 waits up to 5 s on a busy file by default, as the writer does.
              handle.db = new Sqlite(filename, { readonly: true, fileMustExist: true })
              // Up to 16 MB of page cache (SQLite's default is 2 MB), grown only as reads need it:
              // a job's latest log lines cost about a fifth less once their pages stay cached.
              handle.db.pragma("cache_size = -16000")
            }
            found = handle.db.prepare(sql)
            // Bounded all the same (an IN list per length): start over past a few hundred.
            if (prepared.size >= 500) prepared.clear()
            prepared.set(sql, found)
          }
          return found
        }
        return ReadConnection.of({
          rows: <A extends object>(sql: string, params: ReadonlyArray<unknown>) =>
            Effect.try({
              try: () => statement(sql).all(...params) as ReadonlyArray<A>,
              // As @effect/sql-sqlite-node wraps it: storage failures read the code on the cause.
              catch: (cause) => new SqlError.SqlError({ cause, message: "Failed to execute statement" })
            })
        })
      }
    )
  )
