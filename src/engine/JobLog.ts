import { SqlClient } from "@effect/sql"
import { Clock, Effect } from "effect"
import type { LogLevel, LogLine } from "../domain/apiShapes.js"
import { isoAt } from "../domain/time.js"

/**
 * A job's log lines: operational text, not state. They live in their own append-only table so
 * `deleteLogs` can erase them without touching the event log; each line also goes to the
 * process log with the job id attached.
 */
export class JobLog extends Effect.Service<JobLog>()("synclog/JobLog", {
  effect: Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient

    /**
     * `quiet` lines (one per batch) reach the process log at debug level only. `fields` go to the
     * process log as annotations (e.g. counters), so JSON logs carry them as fields.
     */
    const write = (jobId: string, level: LogLevel, message: string, quiet = false, fields: Readonly<Record<string, unknown>> = {}) =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        const timestamp = isoAt(now)
        yield* sql`INSERT INTO job_logs (job_id, timestamp, level, message) VALUES (${jobId}, ${timestamp}, ${level}, ${message})`
        const log = level === "error"
          ? Effect.logError
          : level === "warn"
          ? Effect.logWarning
          : level === "debug" || quiet
          ? Effect.logDebug
          : Effect.logInfo
        yield* log(message).pipe(Effect.annotateLogs({ ...fields, jobId }))
      }).pipe(Effect.orDie)

    /** Oldest first; `offset` counts from the oldest line. */
    const page = (jobId: string, limit: number, offset: number) =>
      Effect.all({
        lines: sql<LogLine>`SELECT timestamp, level, message FROM job_logs WHERE job_id = ${jobId}
                            ORDER BY id LIMIT ${limit} OFFSET ${offset}`,
        total: Effect.map(sql<{ n: number }>`SELECT COUNT(*) AS n FROM job_logs WHERE job_id = ${jobId}`, (r) => r[0]?.n ?? 0)
      }).pipe(Effect.orDie)

    /** The latest `n` lines, oldest first. */
    const latest = (jobId: string, n: number) =>
      Effect.map(
        sql<LogLine>`SELECT timestamp, level, message FROM
          (SELECT id, timestamp, level, message FROM job_logs WHERE job_id = ${jobId} ORDER BY id DESC LIMIT ${n}) AS latest
          ORDER BY id`,
        (rows) => rows
      ).pipe(Effect.orDie)

    /** The latest line starting with `prefix`, if any (cluster: the runner a job last ran on). */
    const latestWith = (jobId: string, prefix: string) =>
      Effect.map(
        sql<LogLine>`SELECT timestamp, level, message FROM job_logs WHERE job_id = ${jobId} AND message LIKE ${`${prefix}%`}
          ORDER BY id DESC LIMIT 1`,
        (rows) => rows[0]
      ).pipe(Effect.orDie)

    const erase = (jobId: string) => sql`DELETE FROM job_logs WHERE job_id = ${jobId}`.pipe(Effect.asVoid, Effect.orDie)

    return { write, page, latest, latestWith, erase } as const
  })
}) {}
