import { SqlClient } from "@effect/sql"
import { Effect } from "effect"
import type { WatchState } from "./notifications.js"
import { isoAt } from "../domain/time.js"

/** Where an endpoint's deliveries stand: notifications up to `position` are settled. */
export interface Checkpoint {
  readonly position: number
  readonly watch: WatchState
}

interface StoredOutbox {
  readonly checkpoint: Checkpoint
  /** First failure of the delivery after the checkpoint, when it is failing (epoch ms). */
  readonly failingSince: number | null
  readonly lastSuccessAt: string | null
  readonly lastErrorAt: string | null
  readonly lastError: string | null
  readonly givenUp: number
}

interface Row {
  readonly position: number
  readonly watch_state: string
  readonly failing_since: string | null
  readonly last_success_at: string | null
  readonly last_error_at: string | null
  readonly last_error: string | null
  readonly given_up: number
}


/** Reads and writes the `notification_outbox` table (migration 0006), one row per endpoint. */
export const outboxState = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient

  const load = (endpointId: string) =>
    Effect.map(
      sql<Row>`SELECT position, watch_state, failing_since, last_success_at, last_error_at, last_error, given_up
               FROM notification_outbox WHERE endpoint_id = ${endpointId}`,
      (rows): StoredOutbox | undefined => {
        const row = rows[0]
        if (row === undefined) return undefined
        return {
          checkpoint: { position: row.position, watch: JSON.parse(row.watch_state) as WatchState },
          failingSince: row.failing_since === null ? null : Date.parse(row.failing_since),
          lastSuccessAt: row.last_success_at,
          lastErrorAt: row.last_error_at,
          lastError: row.last_error,
          givenUp: row.given_up
        }
      }
    )

  /** A new endpoint; a second server racing on the same row keeps the first one's start. */
  const create = (endpointId: string, checkpoint: Checkpoint, nowMs: number) =>
    sql`INSERT INTO notification_outbox (endpoint_id, position, watch_state, created_at)
        VALUES (${endpointId}, ${checkpoint.position}, ${JSON.stringify(checkpoint.watch)}, ${isoAt(nowMs)})
        ON CONFLICT (endpoint_id) DO NOTHING`

  /** Everything up to the checkpoint is settled (or there was nothing to send). */
  const advance = (endpointId: string, checkpoint: Checkpoint) =>
    sql`UPDATE notification_outbox SET position = ${checkpoint.position}, watch_state = ${JSON.stringify(checkpoint.watch)}
        WHERE endpoint_id = ${endpointId}`

  const delivered = (endpointId: string, checkpoint: Checkpoint, atMs: number) =>
    sql`UPDATE notification_outbox SET position = ${checkpoint.position}, watch_state = ${JSON.stringify(checkpoint.watch)},
          failing_since = NULL, last_success_at = ${isoAt(atMs)}
        WHERE endpoint_id = ${endpointId}`

  const gaveUp = (endpointId: string, checkpoint: Checkpoint) =>
    sql`UPDATE notification_outbox SET position = ${checkpoint.position}, watch_state = ${JSON.stringify(checkpoint.watch)},
          failing_since = NULL, given_up = given_up + 1
        WHERE endpoint_id = ${endpointId}`

  const failed = (endpointId: string, failingSinceMs: number, atMs: number, reason: string) =>
    sql`UPDATE notification_outbox SET failing_since = ${isoAt(failingSinceMs)}, last_error_at = ${isoAt(atMs)},
          last_error = ${reason}
        WHERE endpoint_id = ${endpointId}`

  return { load, create, advance, delivered, gaveUp, failed } as const
})
