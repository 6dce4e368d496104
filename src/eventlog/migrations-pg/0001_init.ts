import { SqlClient } from "@effect/sql"
import { Effect } from "effect"

/**
 * The PostgreSQL schema: the same tables, columns and keys as SQLite's migrations 0001..0007 end
 * with (one step, since there is no older PostgreSQL database to carry forward).
 *
 * - Text columns compare byte-wise (COLLATE "C"), as SQLite's do: job ids sort by time, the
 *   mirror pages by source id with `source_id > cursor`, and ISO times compare as strings.
 *   A database's default collation (en_US...) would order them differently.
 * - `position` is an identity (SQLite's INTEGER PRIMARY KEY AUTOINCREMENT): positions only grow.
 * - The per-stream version stays a unique constraint: a second writer of the same version fails.
 */
export default Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const text = `TEXT COLLATE "C"`
  const statements = [
    `CREATE TABLE events (
      position BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      stream_id ${text} NOT NULL,
      version INTEGER NOT NULL,
      type ${text} NOT NULL,
      schema_version INTEGER NOT NULL,
      payload TEXT NOT NULL,
      recorded_at ${text} NOT NULL,
      UNIQUE (stream_id, version)
    )`,
    `CREATE TABLE jobs (
      id ${text} PRIMARY KEY,
      integration_id ${text} NOT NULL,
      type ${text} NOT NULL,
      status ${text} NOT NULL,
      queued_at ${text} NOT NULL,
      deleted INTEGER NOT NULL,
      version INTEGER NOT NULL,
      doc TEXT NOT NULL
    )`,
    `CREATE INDEX jobs_by_integration ON jobs (integration_id, id)`,
    `CREATE INDEX jobs_by_status ON jobs (status, id)`,
    `CREATE INDEX jobs_by_type ON jobs (type, id)`,
    `CREATE INDEX jobs_queue ON jobs (queued_at) WHERE status = 'queued'`,
    `CREATE INDEX jobs_by_integration_status ON jobs (integration_id, status)`,
    `CREATE TABLE job_counts (
      integration_id ${text} NOT NULL,
      type ${text} NOT NULL,
      status ${text} NOT NULL,
      n INTEGER NOT NULL,
      PRIMARY KEY (integration_id, type, status)
    )`,
    `CREATE TABLE integrations (
      id ${text} PRIMARY KEY,
      version INTEGER NOT NULL,
      doc TEXT NOT NULL
    )`,
    `CREATE TABLE system_view (
      key ${text} PRIMARY KEY,
      doc TEXT NOT NULL
    )`,
    `CREATE TABLE job_logs (
      id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      job_id ${text} NOT NULL,
      timestamp ${text} NOT NULL,
      level ${text} NOT NULL,
      message TEXT NOT NULL
    )`,
    `CREATE INDEX job_logs_by_job ON job_logs (job_id, id)`,
    `CREATE TABLE mirror_records (
      integration_id ${text} NOT NULL,
      entity ${text} NOT NULL,
      source_id ${text} NOT NULL,
      project_id ${text},
      payload TEXT NOT NULL,
      hash ${text} NOT NULL,
      source_updated_at ${text},
      first_seen_at ${text} NOT NULL,
      last_seen_at ${text} NOT NULL,
      last_seen_job ${text} NOT NULL,
      archived_at ${text},
      deleted_at ${text},
      UNIQUE (integration_id, entity, source_id)
    )`,
    `CREATE TABLE notification_outbox (
      endpoint_id ${text} PRIMARY KEY,
      position BIGINT NOT NULL,
      watch_state TEXT NOT NULL,
      failing_since ${text},
      last_success_at ${text},
      last_error_at ${text},
      last_error TEXT,
      given_up INTEGER NOT NULL DEFAULT 0,
      created_at ${text} NOT NULL
    )`,
    `CREATE TABLE credentials (
      integration_id ${text} PRIMARY KEY,
      iv BYTEA NOT NULL,
      ciphertext BYTEA NOT NULL,
      tag BYTEA NOT NULL,
      fingerprint ${text} NOT NULL,
      updated_at ${text} NOT NULL
    )`
  ]
  for (const statement of statements) yield* sql.unsafe(statement)
})
