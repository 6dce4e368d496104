import { Migrator, SqlClient } from "@effect/sql"
import { PgClient } from "@effect/sql-pg"
import { Effect, Layer, Redacted } from "effect"
import * as PgTypes from "pg-types"
import m0001 from "./migrations-pg/0001_init.js"

/**
 * PostgreSQL as the store (SYNC_DATABASE_URL): the pool, its migrations, and the two places
 * where it must behave as SQLite does for the code above it. Every other statement is written
 * once for both backends (the differing ones choose with `sql.onDialectOrElse`).
 */

/** `postgres://` or `postgresql://`: a database URL rather than a SQLite file. */
export const isPostgresUrl = (location: string) => /^postgres(ql)?:\/\//i.test(location)

/** The URL without its password, for messages and logs (`postgres://user@host:5432/db`). */
export const describeUrl = (url: string) => {
  try {
    const parsed = new URL(url)
    parsed.password = ""
    return parsed.toString()
  } catch {
    return "the PostgreSQL database (SYNC_DATABASE_URL)"
  }
}

/** Its own migration set: the final SQLite schema in PostgreSQL's words (migrations-pg/). */
const migrations = Migrator.make({})({
  loader: Migrator.fromRecord({ "0001_init": m0001 })
})

/**
 * BIGINT (positions, COUNT, SUM) arrives as a string by default; synclog's numbers stay far
 * below 2^53, so they are read as numbers, as SQLite gives them.
 */
const types = {
  getTypeParser: (oid: number, format?: "text" | "binary") =>
    oid === PgTypes.builtins.INT8 ? Number : PgTypes.getTypeParser(oid, format as "text")
}

/**
 * Statements kept as SQL text with `?` marks (the mirror's and the job view's batched inserts,
 * built once per row count) get PostgreSQL's `$1, $2, ...`: the same text serves both backends.
 * None of synclog's texts has a `?` of its own.
 */
const numberPlaceholders = (sql: SqlClient.SqlClient) => {
  const original = sql.unsafe
  const numbered = new Map<string, string>()
  const unsafe: typeof original = (text, params) => {
    let converted = numbered.get(text)
    if (converted === undefined) {
      let n = 0
      converted = text.replace(/\?/g, () => `$${++n}`)
      if (numbered.size < 1000) numbered.set(text, converted)
    }
    return original(converted, params)
  }
  Object.assign(sql, { unsafe })
}

/** Numbers unique to synclog: the keys of its advisory locks (see also WriterLock.ts). */
const WRITE_LOCK_KEY = 0x5379_6e63

/**
 * One writer transaction at a time, as with SQLite (one connection): a transaction takes a
 * transaction-scoped advisory lock first. The append reads a view, folds the events into it
 * and writes it back; two appends to the same integration's statistics side by side would
 * otherwise lose one update. Reads outside transactions still run in parallel on the pool.
 */
const serializeTransactions = (sql: SqlClient.SqlClient) => {
  const original = sql.withTransaction
  const lock = sql`SELECT pg_advisory_xact_lock(${WRITE_LOCK_KEY})`
  // Inside a transaction already (a savepoint, or inRolledBackSnapshot's reader): no lock.
  const withTransaction: typeof original = (effect) =>
    Effect.flatMap(
      Effect.serviceOption(SqlClient.TransactionConnection),
      (outer) => original(outer._tag === "Some" ? effect : Effect.zipRight(lock, effect))
    )
  Object.assign(sql, { withTransaction })
}

/**
 * The URL with a server setting for each of its sessions (libpq's `options`, `-c name=value`),
 * e.g. `idle_in_transaction_session_timeout` for the runners of a cluster.
 */
const withSessionSettings = (url: string, settings: Readonly<Record<string, string | number>>) => {
  const entries = Object.entries(settings)
  if (entries.length === 0) return url
  const parsed = new URL(url)
  const current = parsed.searchParams.get("options")
  const added = entries.map(([name, value]) => `-c ${name}=${value}`).join(" ")
  parsed.searchParams.set("options", current === null ? added : `${current} ${added}`)
  return parsed.toString()
}

/** The pool with the schema migrated. Connections: a few are plenty for one process. */
export const layer = (url: string, sessionSettings: Readonly<Record<string, string | number>> = {}) => {
  const client = PgClient.layer({
    url: Redacted.make(withSessionSettings(url, sessionSettings)),
    maxConnections: 8,
    applicationName: `synclog pid ${process.pid}`,
    types
  })
  return Layer.effectDiscard(Effect.flatMap(SqlClient.SqlClient, (sql) => {
    numberPlaceholders(sql)
    serializeTransactions(sql)
    return migrations
  })).pipe(Layer.provideMerge(client))
}

/**
 * Runs `effect` on a connection of its own in one REPEATABLE READ transaction that is rolled
 * back at the end: every statement sees the same snapshot of the database (as a SQLite copy
 * would), and whatever it writes is undone. `replay --verify` beside a running server.
 */
export const inRolledBackSnapshot = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const conn = yield* sql.reserve
    yield* conn.executeUnprepared("BEGIN ISOLATION LEVEL REPEATABLE READ", [], undefined)
    return yield* effect.pipe(
      Effect.provideService(SqlClient.TransactionConnection, [conn, 0] as const),
      Effect.ensuring(Effect.orDie(conn.executeUnprepared("ROLLBACK", [], undefined)))
    )
  }).pipe(Effect.scoped)

/**
 * Hides the views behind empty temporary tables of the same shape for the rest of the
 * transaction (PostgreSQL looks up temporary tables first): a rebuild then writes into those
 * and leaves the live views, and the server that writes them, alone. The log is read as is.
 */
export const shadowViews = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  for (const table of ["jobs", "integrations", "system_view", "job_counts"]) {
    yield* sql.unsafe(`CREATE TEMPORARY TABLE ${table} (LIKE ${table} INCLUDING ALL) ON COMMIT DROP`)
  }
})
