import { Command, Options } from "@effect/cli"
import { Effect } from "effect"
import { existsSync } from "node:fs"
import { CliExit } from "./connection.js"

/** `replay` works on the database itself, not through a server. */
const dbOption = Options.text("db").pipe(
  Options.withDescription("SQLite file or postgres:// URL (default: $SYNC_DATABASE_URL, else $SYNC_DB_PATH or ./data/synclog.db)"),
  Options.withDefault(process.env.SYNC_DATABASE_URL || (process.env.SYNC_DB_PATH ?? "./data/synclog.db"))
)
const verifyOption = Options.boolean("verify").pipe(
  Options.withDescription("rebuild into a scratch copy and report any difference from the live views (exit 1 if any)")
)

export const replay = Command.make("replay", { db: dbOption, verify: verifyOption }, ({ db, verify: check }) =>
  Effect.gen(function*() {
    if (!/^postgres(ql)?:\/\//i.test(db) && !existsSync(db)) {
      return yield* new CliExit({ code: 2, message: `error: no database at ${db}; pass --db <file> or set SYNC_DB_PATH` })
    }
    const views = yield* Effect.promise(() => import("./replayViews.js"))
    yield* check ? views.verify(db) : views.replayInPlace(db)
  })).pipe(Command.withDescription("Rebuild every view from the event log"))
