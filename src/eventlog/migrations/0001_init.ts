import { SqlClient } from "@effect/sql"
import { Effect } from "effect"

/**
 * The event log, the views projected from it, the job log lines and the mirror.
 * Job ids are time-sortable, so `ORDER BY id DESC` is "newest first" and uses the primary key.
 */
export default Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`CREATE TABLE events (
    position INTEGER PRIMARY KEY AUTOINCREMENT,
    stream_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    type TEXT NOT NULL,
    schema_version INTEGER NOT NULL,
    payload TEXT NOT NULL,
    recorded_at TEXT NOT NULL,
    UNIQUE (stream_id, version)
  )`
  yield* sql`CREATE TABLE jobs (
    id TEXT PRIMARY KEY,
    integration_id TEXT NOT NULL,
    type TEXT NOT NULL,
    status TEXT NOT NULL,
    queued_at TEXT NOT NULL,
    deleted INTEGER NOT NULL,
    version INTEGER NOT NULL,
    doc TEXT NOT NULL
  )`
  yield* sql`CREATE INDEX jobs_by_integration ON jobs (integration_id, id)`
  yield* sql`CREATE INDEX jobs_by_status ON jobs (status, id)`
  yield* sql`CREATE INDEX jobs_by_type ON jobs (type, id)`
  yield* sql`CREATE INDEX jobs_queue ON jobs (queued_at) WHERE status = 'queued'`
  yield* sql`CREATE TABLE integrations (
    id TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    doc TEXT NOT NULL
  )`
  yield* sql`CREATE TABLE system_view (
    key TEXT PRIMARY KEY,
    doc TEXT NOT NULL
  )`
  yield* sql`CREATE TABLE job_logs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id TEXT NOT NULL,
    timestamp TEXT NOT NULL,
    level TEXT NOT NULL,
    message TEXT NOT NULL
  )`
  yield* sql`CREATE INDEX job_logs_by_job ON job_logs (job_id, id)`
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
    PRIMARY KEY (integration_id, entity, source_id)
  ) WITHOUT ROWID`
  yield* sql`CREATE INDEX mirror_by_project ON mirror_records (integration_id, entity, project_id)`
  yield* sql`CREATE INDEX mirror_by_updated ON mirror_records (integration_id, entity, source_updated_at, source_id)`
})
