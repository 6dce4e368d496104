/** `replay`'s work on the database (a SQLite file or PostgreSQL), loaded only when `replay` runs (it needs the SQL stack). */
import { SqlClient } from "@effect/sql"
import { Clock, Console, Effect } from "effect"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as Database from "../eventlog/Database.js"
import * as Postgres from "../eventlog/postgres.js"
import * as WriterLock from "../eventlog/WriterLock.js"
import { compare, rebuild, snapshot } from "../eventlog/replay.js"
import { CliExit } from "./connection.js"

/** A running server (in place only) or a database that cannot be opened: one line and exit 1. */
const refuseAsOneLine = <A, E extends { readonly _tag: string }, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.catchIf(
    effect,
    (e): e is E & { readonly message: string } =>
      e._tag === "DatabaseInUse" || e._tag === "LockUnavailable" || e._tag === "DatabaseUnavailable",
    (e) => Effect.fail(new CliExit({ code: 1, message: e.message }))
  )

const timed = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const start = yield* Clock.currentTimeMillis
    const result = yield* effect
    return [result, (yield* Clock.currentTimeMillis) - start] as const
  })

/** Rebuilds every view from the event log, in place: a writer, so never beside a running server. */
export const replayInPlace = (db: string) =>
  Effect.gen(function*() {
    yield* WriterLock.acquire(db, "stop it first to replay in place; replay --verify works beside it")
    const [result, ms] = yield* timed(rebuild)
    const rate = ms > 0 ? Math.round(result.events / (ms / 1000)) : result.events
    yield* Console.log(
      `Replayed ${result.events} events into ${result.jobs} jobs and ${result.integrations} integrations in ${ms} ms (${rate} events/s)`
    )
  }).pipe(Effect.provide(Database.layer(db)), Effect.scoped, refuseAsOneLine)

/** The views as they are, then rebuilt from the log, compared. */
const rebuildAndCompare = (beforeRebuild: Effect.Effect<void, never, SqlClient.SqlClient> = Effect.void) =>
  Effect.gen(function*() {
    const live = yield* snapshot
    yield* beforeRebuild
    const [result, ms] = yield* timed(rebuild)
    const replayed = yield* snapshot
    return { differences: compare(live, replayed), events: result.events, ms }
  })

/**
 * PostgreSQL: one snapshot of the database (a REPEATABLE READ transaction, safe while the
 * server runs), the views rebuilt into temporary copies of their tables, everything rolled back.
 */
const comparePostgres = (url: string) =>
  rebuildAndCompare(Effect.orDie(Postgres.shadowViews)).pipe(Postgres.inRolledBackSnapshot, Effect.provide(Database.layer(url)))

/**
 * Copies the database (VACUUM INTO: a consistent snapshot, safe while the server runs), rebuilds
 * the copy's views from its log and compares them with the copy's live views. On PostgreSQL,
 * the same in a snapshot that is rolled back (comparePostgres).
 */
export const verify = (db: string) =>
  Effect.gen(function*() {
    const { differences, events, ms } = Postgres.isPostgresUrl(db) ? yield* comparePostgres(db) : yield* compareCopy(db)
    if (differences.length === 0) {
      yield* Console.log(`OK: ${events} events replayed in ${ms} ms; the rebuilt views equal the live views`)
      return
    }
    yield* Console.error(`DIFFERENT: ${differences.length} difference(s) between the live views and the log:`)
    for (const d of differences.slice(0, 200)) yield* Console.error(`  ${d}`)
    if (differences.length > 200) yield* Console.error(`  … and ${differences.length - 200} more`)
    return yield* new CliExit({ code: 1 })
  }).pipe(refuseAsOneLine)

const compareCopy = (db: string) =>
  Effect.gen(function*() {
    const dir = mkdtempSync(join(tmpdir(), "synclog-verify-"))
    const scratch = join(dir, "scratch.db")
    const compared = yield* Effect.gen(function*() {
      yield* Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        yield* sql`VACUUM INTO ${scratch}`
      }).pipe(Effect.provide(Database.layer(db)))
      return yield* rebuildAndCompare().pipe(Effect.provide(Database.layer(scratch)))
    }).pipe(Effect.ensuring(Effect.sync(() => rmSync(dir, { recursive: true, force: true }))))
    return compared
  })
