/**
 * The engine's front door (JobCommands, IntegrationCommands, Queries) and what crosses it.
 *
 * The rule for storage failures: inside the engine a `SqlError` (and a `ConcurrencyConflict`,
 * another writer moving a stream on) travels typed, so the runner can fail a job with the
 * storage message. At the front door it dies (`orDieOnStorage`): no caller of a command or a
 * query can act on it, and the door's error channels then list exactly the API's errors. The
 * API turns that defect into its one answer (`storageProblemOf`: 503 StorageUnavailable for a
 * full disk, a read-only or locked file; else a logged 500). Below the door, `orDie` marks only
 * what no caller can act on: a log line, start-up, the bookkeeping of a background fiber or of a
 * callback that cannot fail, a decider's "not found" right after a registration.
 */
import type { SqlError } from "@effect/sql"
import { Effect, Option } from "effect"
import { DatabaseFile } from "../eventlog/Database.js"
import type { ConcurrencyConflict } from "../eventlog/EventStore.js"
import { describeStorageFailure, type StorageProblem } from "../eventlog/storageErrors.js"

type StorageFailure = SqlError.SqlError | ConcurrencyConflict

const isStorageFailure = (e: unknown): e is StorageFailure =>
  typeof e === "object" && e !== null && "_tag" in e && (e._tag === "SqlError" || e._tag === "ConcurrencyConflict")

/** Storage failures become defects here; every other failure stays typed. */
export const orDieOnStorage = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, Exclude<E, StorageFailure>, R> =>
  Effect.catchIf(effect, isStorageFailure, Effect.die) as Effect.Effect<A, Exclude<E, StorageFailure>, R>

/**
 * What a defect means for the operator when it is a storage condition (a full disk, a read-only
 * or locked file): one sentence naming the database file and the fix, ending with `then`.
 * Undefined for anything else (a bug).
 */
export const storageProblemOf = (defect: unknown, then: string): Effect.Effect<StorageProblem | undefined> =>
  Effect.map(Effect.serviceOption(DatabaseFile), (file) =>
    describeStorageFailure(defect, Option.match(file, { onNone: () => "the database", onSome: (f) => f.path }), then))
