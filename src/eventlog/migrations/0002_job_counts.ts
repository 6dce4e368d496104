import { SqlClient } from "@effect/sql"
import { Effect } from "effect"

/**
 * Counts of live (not deleted) jobs per integration, type and status, kept by the projection:
 * the list endpoint's `total` and the status endpoint stay independent of history size.
 */
export default Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`CREATE TABLE job_counts (
    integration_id TEXT NOT NULL,
    type TEXT NOT NULL,
    status TEXT NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (integration_id, type, status)
  ) WITHOUT ROWID`
  yield* sql`INSERT INTO job_counts (integration_id, type, status, n)
    SELECT integration_id, type, status, COUNT(*) FROM jobs WHERE deleted = 0 GROUP BY integration_id, type, status`
  yield* sql`CREATE INDEX jobs_by_integration_status ON jobs (integration_id, status)`
})
