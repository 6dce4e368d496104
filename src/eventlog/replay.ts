/**
 * Replay: the log folded into every view, and the views written back (`rebuild`), plus the
 * snapshot and comparison `replay --verify` uses. Over 300 lines because the fold, the reader
 * and the write each carry the measurements that shaped them, which stay beside their code.
 */
import { SqlClient, SqlError } from "@effect/sql"
import Sqlite from "better-sqlite3"
import { Effect } from "effect"
import { type DomainEvent, EVENT_VERSION } from "../domain/events.js"
import type { JobDoc } from "./jobProjection.js"
import {
  emptyViews,
  insertJobsSql,
  isJobEvent,
  parseStored,
  type ProjectedViews,
  projectEvent,
  projectJobEvent,
  pushJobRow
} from "./projection.js"

/**
 * Positions per read. Small chunks are read fastest: the rows die young (a scavenge is cheap)
 * and SQLite's step loop stays in one native call per chunk. 50,000-row chunks read the log
 * at half the speed (measured: 1.47 s against 0.77 s for 1M rows with raw better-sqlite3);
 * 2,000 and 10,000 read as fast as 5,000.
 */
const CHUNK = 5_000

/** Statuses after which a job rarely gets another event (a resume or a delete thaws it). */
const ENDED: ReadonlySet<string> = new Set(["completed", "failed", "stopped"])

/** An ended job's row: its columns, and its doc's JSON as `text.slice(start, end)` (see `endedJobs`). */
interface EndedJob {
  readonly id: string
  readonly integrationId: string
  readonly type: string
  readonly status: string
  readonly queuedAt: string
  readonly deleted: boolean
  readonly version: number
  text: string
  start: number
  end: number
}

/** The doc's JSON of an ended job, as `JSON.stringify` gave it. */
const jsonOf = (job: EndedJob): string => job.text.slice(job.start, job.end)

/** Characters of ended jobs' JSON joined into one block (more than V8's largest young object, 128 KB). */
const BLOCK_CHARS = 1 << 18

/**
 * The ended jobs, each with its doc serialised. The JSON of a million-event log's jobs is tens
 * of MB that live until the write: as one string per job, every scavenge copied the new ones
 * twice (to the survivor space, then to the old generation), which cost more than the whole
 * fold of their events (measured: 0.5 s of scavenges for 59k docs, against 0.16 s without
 * them). Joined every 256k characters into one block, they are allocated in V8's large-object
 * space, which is never copied; each job keeps its range, and `jsonOf` slices it (a slice
 * shares its block's characters).
 */
const endedJobs = () => {
  const byId = new Map<string, EndedJob>()
  let pending: Array<EndedJob> = []
  let parts: Array<string> = []
  let chars = 0
  const join = () => {
    const block = parts.join("")
    let at = 0
    for (const job of pending) {
      const length = job.end
      job.text = block
      job.start = at
      job.end = at += length
    }
    pending = []
    parts = []
    chars = 0
  }
  return {
    get: (jobId: string) => byId.get(jobId),
    /** Serialises the doc of a job that has just ended. */
    add: (doc: JobDoc) => {
      const json = JSON.stringify(doc)
      const job: EndedJob = {
        id: doc.id,
        integrationId: doc.integrationId,
        type: doc.type,
        status: doc.status,
        queuedAt: doc.queuedAt,
        deleted: doc.deleted,
        version: doc.version,
        text: json,
        start: 0,
        end: json.length
      }
      byId.set(doc.id, job)
      pending.push(job)
      parts.push(json)
      if ((chars += json.length) >= BLOCK_CHARS) join()
    },
    /** A job that gets another event: its doc back (docs hold JSON values only, so it is unchanged). */
    thaw: (job: EndedJob): JobDoc => {
      byId.delete(job.id)
      return JSON.parse(jsonOf(job)) as JobDoc
    }
  }
}

/** The log folded: the docs still open, the ended jobs as rows, and every job in first-queued order. */
export interface FoldedLog {
  readonly views: ProjectedViews
  readonly ended: ReturnType<typeof endedJobs>
  readonly jobIds: ReadonlyArray<string>
  readonly events: number
}

/**
 * Folds the whole log, oldest first, through the projections the live append uses, each doc in
 * place (the rebuilt views are this fold's own). Payloads were validated by Schema when they
 * were appended and have no transforming fields, so a fold needs only JSON.parse (and an
 * upcaster for older schema versions).
 *
 * A job that ends is serialised into its row at once (the write needs that string anyway) and
 * its doc dropped: its objects then die young, and the job is one range of a block of JSON
 * (`endedJobs`). An event for an ended job (a resume, a delete) parses the row back into a
 * doc, which `JSON.stringify` and `JSON.parse` give back unchanged: docs hold JSON values only.
 */
export const foldLog = Effect.gen(function*() {
  const views = emptyViews()
  const ended = endedJobs()
  const jobIds: Array<string> = []
  const fold = (event: DomainEvent) => {
    if (!isJobEvent(event)) return projectEvent(views, event, true)
    const jobId = event.jobId
    let before = views.jobs.get(jobId)
    if (before === undefined) {
      const row = ended.get(jobId)
      if (row !== undefined) {
        before = ended.thaw(row)
        views.jobs.set(jobId, before)
      } else if (event._tag === "JobQueued") {
        jobIds.push(jobId)
      }
    }
    const job = projectJobEvent(views, event, before, true)
    if (ENDED.has(job.status)) {
      ended.add(job)
      views.jobs.delete(jobId)
    }
  }
  const events = yield* readLog(fold)
  return { views, ended, jobIds, events } satisfies FoldedLog
})

type Row = readonly [position: number, type: string, schemaVersion: number, payload: string]
const READ_SQL = "SELECT position, type, schema_version, payload FROM events WHERE position > ? ORDER BY position LIMIT ?"

/**
 * The events of a range of positions, oldest first, one string per row: the payload itself when
 * it is stored at the current schema version (every row this version appends), else
 * "<schema version> <type> <payload>" for the upcaster (`eventOfText`). One string per row
 * instead of a row array of four values reads the log in less than half the CPU time
 * (measured with raw better-sqlite3 over 1M rows: 0.35 s against 0.82 s, JSON.parse aside).
 */
const READ_TEXT_SQL = `SELECT CASE schema_version WHEN ${EVENT_VERSION} THEN payload
  ELSE schema_version || ' ' || type || ' ' || payload END
  FROM events WHERE position > ? AND position <= ? ORDER BY position`

const OPEN_BRACE = 123

/** A row of READ_TEXT_SQL as its event (parsed, not decoded: see `foldLog`). */
const eventOfText = (text: string): DomainEvent => {
  if (text.charCodeAt(0) === OPEN_BRACE) return JSON.parse(text) as DomainEvent
  const afterVersion = text.indexOf(" ")
  const afterType = text.indexOf(" ", afterVersion + 1)
  return parseStored(
    text.slice(afterVersion + 1, afterType),
    Number(text.slice(0, afterVersion)),
    text.slice(afterType + 1)
  ) as unknown as DomainEvent
}

/**
 * Calls `f` with every stored event, oldest first; returns how many. Reads through a read-only
 * better-sqlite3 connection of its own when the database is a file. Rows read through
 * SqlClient survived the young generation's collections (reading 300k events and nothing else,
 * a scavenge freed almost nothing and promoted the chunks), which nearly doubled the CPU time
 * of reading: 1.6 s against 0.85 s through better-sqlite3 directly, measured in one process.
 */
const readLog = (f: (event: DomainEvent) => void) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    // PostgreSQL (and an in-memory SQLite database) is read through the client itself.
    const [main] = yield* sql.onDialectOrElse({
      pg: () => Effect.succeed([] as ReadonlyArray<{ file: string }>),
      orElse: () => sql<{ file: string }>`SELECT file FROM pragma_database_list WHERE name = 'main'`
    })
    if (main === undefined || main.file === "") {
      // An in-memory database has no file a second connection could open.
      let count = 0
      let after: number | undefined = 0
      while (after !== undefined) {
        const rows = (yield* sql.unsafe(READ_SQL, [after, CHUNK]).values) as unknown as ReadonlyArray<Row>
        for (const [, type, schemaVersion, payload] of rows) f(parseStored(type, schemaVersion, payload) as unknown as DomainEvent)
        count += rows.length
        after = rows.length === 0 ? undefined : rows[rows.length - 1]![0]
      }
      return count
    }
    return yield* Effect.acquireUseRelease(
      Effect.try({
        try: () => new Sqlite(main.file, { readonly: true, fileMustExist: true }),
        catch: (cause) => new SqlError.SqlError({ cause, message: "Failed to open the event log for reading" })
      }),
      (db) =>
        Effect.suspend(() => {
          try {
            // No mmap: each page of the log is read into SQLite's small cache (2 MB, reused),
            // which on this VM costs less than the page faults of mapping the whole file
            // (measured over 1M rows: 0.40 s read() against 0.61 s mmap).
            db.pragma("mmap_size = 0")
            const read = db.prepare(READ_TEXT_SQL).pluck(true)
            // Positions are read by range: no position column to read back for the next chunk.
            const next = db.prepare("SELECT min(position) FROM events WHERE position > ?").pluck(true)
            const last = (db.prepare("SELECT max(position) FROM events").pluck(true).get() as number | null) ?? 0
            let count = 0
            let after = 0
            while (after < last) {
              const texts = read.all(after, after + CHUNK) as Array<string>
              for (let i = 0; i < texts.length; i++) f(eventOfText(texts[i]!))
              count += texts.length
              // Positions have no gaps unless rows were deleted by hand; a whole chunk's gap is skipped.
              after = texts.length > 0 ? after + CHUNK : ((next.get(after) as number | null) ?? last + 1) - 1
            }
            return Effect.succeed(count)
          } catch (cause) {
            // SQLite's failures as SqlClient reports them; a projection's (a malformed log) stays a defect.
            return cause instanceof Sqlite.SqliteError
              ? Effect.fail(new SqlError.SqlError({ cause, message: "Failed to read the event log" }))
              : Effect.die(cause)
          }
        }),
      (db) => Effect.sync(() => db.close())
    )
  })

/**
 * Rows per INSERT of the job view. 100 measured faster than both 500 (binding 4,000 arguments
 * per call costs more) and 1 (a statement per row).
 */
const INSERT_ROWS = 100

/**
 * SQLite's page cache while the views are written, in KiB: small on purpose. Each page of a
 * cache is memory the process touches for the first time, and a page fault here costs about
 * as much as writing the page: with a 512 MB cache (the whole rebuilt view in memory until
 * COMMIT) the old view's DELETE took 0.34 s, against 0.02 s with 2 MB. With 8 MB the rebuilt
 * pages spill to the file mid-transaction and each CREATE INDEX reads them back from the
 * OS's cache, which is still cheaper: the write took 0.56 s in all, against 0.87 s
 * (1M-event fixture, 16 KB pages; 2 MB and 32 MB measured slower than 8 MB).
 */
const REBUILD_CACHE_KIB = 8 * 1024

/**
 * Switches a SQLite file from WAL to a rollback journal for the rebuild's one transaction, when
 * this connection is the file's only one (the replay CLI: a server would hold the writer lock,
 * and replay's own reader is closed by then); `restore` switches back to WAL. In WAL mode the
 * rebuilt views (~95 MB for 1M events) are written twice, into the WAL at COMMIT and then into
 * the file by the checkpoint that COMMIT sets off; with a rollback journal they are written
 * once, into the file, and the journal holds only the pages the transaction overwrote (none
 * over empty views, the old views' otherwise). Measured on the 1M-event fixture: COMMIT with
 * its checkpoint 0.6-0.8 s in WAL mode, 0.4-0.5 s with the journal.
 *
 * Safety: the transaction stays one (a crash before COMMIT leaves a hot journal that the next
 * open rolls back: events and views never split), and synchronous is FULL while the journal
 * is in use: at NORMAL, SQLite's documentation allows a power loss at the wrong moment to
 * corrupt a rollback-journal file on older filesystems, which NORMAL in WAL mode cannot.
 * synchronous=OFF was not used: in WAL mode at NORMAL, COMMIT does not fsync at all; the only
 * fsyncs are the checkpoint's (the WAL before it copies frames into the file, the file before
 * the WAL may be reused), and without them an OS crash mid-checkpoint can leave the file torn.
 * A crash after COMMIT and before `restore` leaves the file in rollback mode, which the next
 * open (SqliteClient) sets back to WAL. With another connection open (a server's read
 * connection, another process) SQLite refuses the switch at once (SQLITE_BUSY) and the rebuild
 * runs in WAL mode, as before.
 */
const rollbackJournal = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const unchanged = { restore: Effect.void }
  const [mode] = yield* sql.onDialectOrElse({
    pg: () => Effect.succeed([] as ReadonlyArray<{ journal_mode: string }>),
    orElse: () => sql<{ journal_mode: string }>`PRAGMA journal_mode`
  })
  // PostgreSQL, a memory database ("memory") or a file some other tool left in another mode.
  if (mode?.journal_mode !== "wal") return unchanged
  const [{ synchronous }] = yield* sql<{ synchronous: number }>`PRAGMA synchronous`
  const switched = yield* sql<{ journal_mode: string }>`PRAGMA journal_mode = DELETE`.pipe(
    Effect.map(([row]) => row?.journal_mode === "delete"),
    Effect.orElseSucceed(() => false)
  )
  if (!switched) return unchanged
  yield* sql`PRAGMA synchronous = FULL`
  return {
    restore: Effect.zipRight(sql.unsafe(`PRAGMA synchronous = ${synchronous}`), sql`PRAGMA journal_mode = WAL`).pipe(
      Effect.asVoid,
      // Still rebuilt and committed; the next open of the file sets WAL again.
      Effect.catchAll((e) => Effect.logWarning(`replay: the database stays in rollback-journal mode until reopened (${e.message})`))
    )
  }
})

/** Replaces every view with one rebuilt from the log, in one transaction. */
export const rebuild = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const { ended, events, jobIds, views } = yield* foldLog
  const pageCache = yield* sql.onDialectOrElse({
    pg: () => Effect.succeed({ set: Effect.void, restore: Effect.void }),
    orElse: () =>
      Effect.map(sql<{ cache_size: number }>`PRAGMA cache_size`, ([row]) => ({
        set: sql.unsafe(`PRAGMA cache_size = ${-REBUILD_CACHE_KIB}`).pipe(Effect.asVoid),
        restore: sql.unsafe(`PRAGMA cache_size = ${row!.cache_size}`).pipe(Effect.asVoid, Effect.orDie)
      }))
  })
  const journal = yield* rollbackJournal
  const writeViews = Effect.gen(function*() {
    yield* sql`DELETE FROM jobs`
    yield* sql`DELETE FROM integrations`
    yield* sql`DELETE FROM system_view`
    yield* sql`DELETE FROM job_counts`
    // Indexes are built once over the sorted rows instead of updated row by row.
    const indexes = yield* sql.onDialectOrElse({
      // PostgreSQL keeps its indexes (and replay --verify rebuilds into index-carrying copies).
      pg: () => Effect.succeed([] as ReadonlyArray<{ name: string; sql: string }>),
      orElse: () => sql<{ name: string; sql: string }>`
      SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'jobs' AND sql IS NOT NULL`
    })
    for (const index of indexes) yield* sql.unsafe(`DROP INDEX ${index.name}`)
    // job_counts is counted here, while the rows are at hand, instead of by a GROUP BY that
    // reads the whole jobs table back (docs included) after the insert.
    const counts = new Map<string, { integrationId: string; type: string; status: string; n: number }>()
    const full = insertJobsSql(INSERT_ROWS)
    let params: Array<unknown> = []
    let pending = 0
    for (const jobId of jobIds) {
      const row: EndedJob | JobDoc = ended.get(jobId) ?? views.jobs.get(jobId)!
      if ("text" in row) {
        params.push(row.id, row.integrationId, row.type, row.status, row.queuedAt, row.deleted ? 1 : 0, row.version, jsonOf(row))
      } else {
        pushJobRow(params, row)
      }
      if (++pending === INSERT_ROWS) {
        yield* sql.unsafe(full, params)
        params = []
        pending = 0
      }
      if (row.deleted) continue
      const key = `${row.integrationId}\u0000${row.type}\u0000${row.status}`
      const count = counts.get(key)
      if (count) count.n++
      else counts.set(key, { integrationId: row.integrationId, type: row.type, status: row.status, n: 1 })
    }
    if (pending > 0) yield* sql.unsafe(insertJobsSql(pending), params)
    for (const index of indexes) yield* sql.unsafe(index.sql)
    for (const doc of views.integrations.values()) {
      yield* sql`INSERT INTO integrations (id, version, doc) VALUES (${doc.id}, ${doc.version}, ${JSON.stringify(doc)})`
    }
    if (views.system) yield* sql`INSERT INTO system_view (key, doc) VALUES ('system', ${JSON.stringify(views.system)})`
    for (const c of counts.values()) {
      yield* sql`INSERT INTO job_counts (integration_id, type, status, n) VALUES (${c.integrationId}, ${c.type}, ${c.status}, ${c.n})`
    }
  })
  yield* pageCache.set.pipe(
    Effect.zipRight(writeViews.pipe(sql.withTransaction, Effect.ensuring(pageCache.restore))),
    Effect.ensuring(journal.restore)
  )
  return { events, jobs: jobIds.length, integrations: views.integrations.size }
})

export interface Snapshot {
  readonly jobs: Map<string, string>
  readonly integrations: Map<string, string>
  readonly counts: Map<string, string>
  readonly system: string | undefined
}

/** The views as stored, by id (doc JSON text). */
export const snapshot = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const jobs = yield* sql<{ id: string; doc: string }>`SELECT id, doc FROM jobs`
  const integrations = yield* sql<{ id: string; doc: string }>`SELECT id, doc FROM integrations`
  const system = yield* sql<{ doc: string }>`SELECT doc FROM system_view WHERE key = 'system'`
  const counts = yield* sql<{ integration_id: string; type: string; status: string; n: number }>`
    SELECT integration_id, type, status, n FROM job_counts WHERE n != 0`
  return {
    jobs: new Map(jobs.map((r) => [r.id, r.doc])),
    integrations: new Map(integrations.map((r) => [r.id, r.doc])),
    counts: new Map(counts.map((r) => [`${r.integration_id}/${r.type}/${r.status}`, String(r.n)])),
    system: system[0]?.doc
  } satisfies Snapshot
})

/** Field-level differences between two docs: `path: live → replayed`. */
const diffDocs = (live: unknown, replayed: unknown, path = ""): Array<string> => {
  if (JSON.stringify(live) === JSON.stringify(replayed)) return []
  if (typeof live !== "object" || typeof replayed !== "object" || live === null || replayed === null || Array.isArray(live)) {
    return [`${path || "(doc)"}: ${JSON.stringify(live)} → ${JSON.stringify(replayed)}`]
  }
  const keys = new Set([...Object.keys(live), ...Object.keys(replayed)])
  return [...keys].flatMap((k) =>
    diffDocs((live as Record<string, unknown>)[k], (replayed as Record<string, unknown>)[k], path ? `${path}.${k}` : k)
  )
}

/** Every difference between the live views and the views rebuilt from the log. */
export const compare = (live: Snapshot, replayed: Snapshot): Array<string> => {
  const out: Array<string> = []
  const side = (name: string, a: Map<string, string>, b: Map<string, string>) => {
    for (const id of new Set([...a.keys(), ...b.keys()])) {
      const x = a.get(id)
      const y = b.get(id)
      if (x === undefined) out.push(`${name} ${id}: missing from the live view`)
      else if (y === undefined) out.push(`${name} ${id}: in the live view but not in the log`)
      else if (x !== y) out.push(...diffDocs(JSON.parse(x), JSON.parse(y)).map((d) => `${name} ${id}: ${d}`))
    }
  }
  side("job", live.jobs, replayed.jobs)
  side("integration", live.integrations, replayed.integrations)
  side("job count", live.counts, replayed.counts)
  if (live.system !== replayed.system) out.push(`system: ${live.system} → ${replayed.system}`)
  return out
}
