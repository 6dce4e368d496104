import { SqlClient } from "@effect/sql"
import { Effect } from "effect"

/**
 * Webhook delivery state, one row per endpoint: the log position up to which its notifications
 * are settled (delivered or given up) and the mapping's memory at that position, so deliveries
 * continue from here after a restart. Not a view of the log: replay leaves it alone.
 */
export default Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`CREATE TABLE notification_outbox (
    endpoint_id TEXT PRIMARY KEY,
    position INTEGER NOT NULL,
    watch_state TEXT NOT NULL,
    failing_since TEXT,
    last_success_at TEXT,
    last_error_at TEXT,
    last_error TEXT,
    given_up INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL
  )`
})
