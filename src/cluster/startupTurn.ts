import { Reactivity } from "@effect/experimental"
import type { SqlError } from "@effect/sql"
import { PgClient } from "@effect/sql-pg"
import { Context, Effect, Layer, Redacted } from "effect"

/**
 * Runners start one at a time: a starting runner waits for its turn on a session advisory lock
 * before it migrates the database and creates the cluster's tables, and gives the turn up once
 * its start-up work is done (`done`, or when the start fails: the lock's connection closes).
 * Runners started together would otherwise create the same tables at once, which PostgreSQL
 * refuses to one of them even with IF NOT EXISTS.
 */
export class StartupTurn extends Context.Tag("synclog/StartupTurn")<StartupTurn, { readonly done: Effect.Effect<void> }>() {}

/** Not the writers' key nor the server lock's (eventlog/postgres.ts, WriterLock.ts). */
const STARTUP_LOCK_KEY = 0x5379_6e65

export const layer = (url: string) =>
  Layer.scoped(
    StartupTurn,
    Effect.gen(function*() {
      const sql = yield* PgClient.make({ url: Redacted.make(url), maxConnections: 1, applicationName: `synclog start pid ${process.pid}` })
      const conn = yield* sql.reserve
      const run = (text: string) => conn.executeUnprepared(text, [], undefined) as Effect.Effect<unknown, SqlError.SqlError>
      yield* run(`SELECT pg_advisory_lock(${STARTUP_LOCK_KEY})`)
      let held = true
      const done = Effect.suspend(() => {
        if (!held) return Effect.void
        held = false
        return run(`SELECT pg_advisory_unlock(${STARTUP_LOCK_KEY})`).pipe(Effect.ignore)
      })
      return { done }
    }).pipe(Effect.provide(Reactivity.layer), Effect.orDie)
  )
