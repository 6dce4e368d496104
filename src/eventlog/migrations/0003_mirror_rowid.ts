import { SqlClient } from "@effect/sql"
import { Effect } from "effect"

/**
 * mirror_records becomes a rowid table with a unique key. Its rows hold whole payloads (about
 * a kilobyte each), and a WITHOUT ROWID table keeps every row in its primary-key B-tree, so
 * each upsert rebalanced pages full of payloads: writes were four times slower
 * (bench/profile/mirror-write-cost.ts).
 */
export default Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`ALTER TABLE mirror_records RENAME TO mirror_records_old`
  yield* sql`DROP INDEX mirror_by_project`
  yield* sql`DROP INDEX mirror_by_updated`
  yield* sql`CREATE TABLE mirror_records (
    integration_id TEXT NOT NULL,
    entity TEXT NOT NULL,
    source_id TEXT NOT NULL,
    project_id TEXT,
    payload TEXT NOT NULL,
    hash TEXT NOT NULL,
    source_updated_at TEXT,
    first_seen_at TEXT NOT NULL,
    last_seen_at TEXT NOT NULL,
    last_seen_job TEXT NOT NULL,
    archived_at TEXT,
    deleted_at TEXT,
    UNIQUE (integration_id, entity, source_id)
  )`
  yield* sql`INSERT INTO mirror_records SELECT * FROM mirror_records_old`
  yield* sql`DROP TABLE mirror_records_old`
  yield* sql`CREATE INDEX mirror_by_project ON mirror_records (integration_id, entity, project_id)`
  yield* sql`CREATE INDEX mirror_by_updated ON mirror_records (integration_id, entity, source_updated_at, source_id)`
})
