import { SqlClient } from "@effect/sql"
import { Effect } from "effect"

/**
 * API keys stored over the API, encrypted (AES-256-GCM with SYNC_MASTER_KEY; credentials/). Not
 * a view of the log: the log records only that a key changed and its fingerprint, so replay
 * leaves this table alone.
 */
export default Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`CREATE TABLE credentials (
    integration_id TEXT PRIMARY KEY,
    iv BLOB NOT NULL,
    ciphertext BLOB NOT NULL,
    tag BLOB NOT NULL,
    fingerprint TEXT NOT NULL,
    updated_at TEXT NOT NULL
  )`
})
