import { Command, Options } from "@effect/cli"
import { NodeContext, NodeRuntime } from "@effect/platform-node"
import { SqlClient } from "@effect/sql"
import { Clock, Console, Effect } from "effect"
import { existsSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as Database from "./eventlog/Database.js"
import * as WriterLock from "./eventlog/WriterLock.js"
import { compare, rebuild, snapshot } from "./eventlog/replay.js"

const dbOption = Options.text("db").pipe(
  Options.withDescription("SQLite file (default: $SYNC_DB_PATH or ./data/synclog.db)"),
  Options.withDefault(process.env.SYNC_DB_PATH ?? "./data/synclog.db")
)
const verifyOption = Options.boolean("verify").pipe(
  Options.withDescription("rebuild into a scratch copy and report any difference from the live views (exit 1 if any)")
)

const timed = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const start = yield* Clock.currentTimeMillis
    const result = yield* effect
    return [result, (yield* Clock.currentTimeMillis) - start] as const
  })

/** Rebuilds every view from the event log, in place: a writer, so never beside a running server. */
const replayInPlace = (db: string) =>
  Effect.gen(function*() {
    yield* WriterLock.acquire(db, "stop it first to replay in place; replay --verify works beside it")
    const [result, ms] = yield* timed(rebuild)
    const rate = ms > 0 ? Math.round(result.events / (ms / 1000)) : result.events
    yield* Console.log(
      `Replayed ${result.events} events into ${result.jobs} jobs and ${result.integrations} integrations in ${ms} ms (${rate} events/s)`
    )
  }).pipe(Effect.provide(Database.layer(db)), Effect.scoped)

/**
 * Copies the database (VACUUM INTO: a consistent snapshot, safe while the server runs), rebuilds
 * the copy's views from its log and compares them with the copy's live views.
 */
const verify = (db: string) =>
  Effect.gen(function*() {
    const dir = mkdtempSync(join(tmpdir(), "synclog-verify-"))
    const scratch = join(dir, "scratch.db")
    try {
      yield* Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        yield* sql`VACUUM INTO ${scratch}`
      }).pipe(Effect.provide(Database.layer(db)))
      const { differences, events, ms } = yield* Effect.gen(function*() {
        const live = yield* snapshot
        const [result, ms] = yield* timed(rebuild)
        const replayed = yield* snapshot
        return { differences: compare(live, replayed), events: result.events, ms }
      }).pipe(Effect.provide(Database.layer(scratch)))
      if (differences.length === 0) {
        yield* Console.log(`OK: ${events} events replayed in ${ms} ms; the rebuilt views equal the live views`)
        return
      }
      yield* Console.error(`DIFFERENT: ${differences.length} difference(s) between the live views and the log:`)
      for (const d of differences.slice(0, 200)) yield* Console.error(`  ${d}`)
      if (differences.length > 200) yield* Console.error(`  … and ${differences.length - 200} more`)
      process.exitCode = 1
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

const replay = Command.make("replay", { db: dbOption, verify: verifyOption }, ({ db, verify: check }) =>
  Effect.gen(function*() {
    if (!existsSync(db)) {
      yield* Console.error(`No database at ${db}; pass --db <file> or set SYNC_DB_PATH`)
      process.exitCode = 2
      return
    }
    yield* (check ? verify(db) : replayInPlace(db)).pipe(
      // One line and exit 1: a running server (in place only), a database that cannot be opened.
      Effect.catchTags({
        DatabaseInUse: (e) => refuse(e.message),
        LockUnavailable: (e) => refuse(e.message),
        DatabaseUnavailable: (e) => refuse(e.message)
      })
    )
  })).pipe(Command.withDescription("Rebuild every view from the event log"))

const refuse = (line: string) => Effect.zipRight(Console.error(line), Effect.sync(() => void (process.exitCode = 1)))

const cli = Command.make("synclog").pipe(Command.withSubcommands([replay]))

Command.run(cli, { name: "synclog", version: "0.1.0" })(process.argv).pipe(
  Effect.provide(NodeContext.layer),
  NodeRuntime.runMain
)
