import type { SqlError } from "@effect/sql"
import { Effect } from "effect"
import type { ConcurrencyConflict } from "../eventlog/EventStore.js"

type Infra = SqlError.SqlError | ConcurrencyConflict

const isInfra = (e: unknown): e is Infra =>
  typeof e === "object" && e !== null && "_tag" in e && (e._tag === "SqlError" || e._tag === "ConcurrencyConflict")

/**
 * Database trouble is not the caller's fault: a defect, answered as a 503 StorageUnavailable when
 * it is a storage condition (a full disk, a locked file; middleware.ts), else a 500 without details.
 */
export const orDieInfra = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, Exclude<E, Infra>, R> =>
  Effect.catchIf(effect, isInfra, Effect.die) as Effect.Effect<A, Exclude<E, Infra>, R>
