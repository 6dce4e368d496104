/**
 * The event store: appends with their views in one transaction, and the log's reads. A little
 * over 300 lines because the appends, the commit notification and the reads the live feed makes
 * after a commit share one transaction discipline, which reads best in one place.
 */
import { SqlClient, type SqlError } from "@effect/sql"
import { Effect, FiberRef, Schema } from "effect"
import {
  DomainEvent,
  EVENT_VERSION,
  IntegrationEvent,
  integrationStream,
  JobEvent,
  jobStream,
  SYSTEM_STREAM,
  type SystemEvent
} from "../domain/events.js"
import { isLive } from "../domain/job.js"
import { affectsIntegration, evolveIntegration, type IntegrationDoc } from "./integrationProjection.js"
import { durationOf, type JobDoc } from "./jobProjection.js"
import { isConstraintViolation } from "./storageErrors.js"
import { committedReader, committedRows } from "./ReadConnection.js"
import { countFinishedJob } from "../metrics/metrics.js"
import {
  emptyViews,
  evolveSystem,
  insertJobsSql,
  parseStored,
  projectEvent,
  pushJobRow,
  type SystemDoc
} from "./projection.js"
import { CurrentRun, RunSuperseded } from "./runFence.js"
import { Views } from "./Views.js"

export { evolveSystem, isIntegrationEvent, isJobEvent, type SystemDoc } from "./projection.js"

const FINAL_EVENTS: ReadonlySet<string> = new Set(["JobCompleted", "JobFailed", "JobStopped"])

/** Optimistic concurrency: the stream moved on since the caller read it. */
export class ConcurrencyConflict extends Schema.TaggedError<ConcurrencyConflict>()("ConcurrencyConflict", {
  streamId: Schema.String,
  expectedVersion: Schema.Number,
  actualVersion: Schema.Number
}) {}

export interface StoredEvent {
  readonly position: number
  readonly streamId: string
  readonly version: number
  readonly type: string
  readonly schemaVersion: number
  readonly payload: DomainEvent
  readonly recordedAt: string
}


const encodeEvent = Schema.encodeSync(DomainEvent)
const decodeEvent = Schema.decodeUnknownSync(DomainEvent)

/** Turns a stored row into an event, upcasting older schema versions first. */
export const decodeStored = (type: string, schemaVersion: number, payload: string): DomainEvent =>
  decodeEvent(parseStored(type, schemaVersion, payload))

/**
 * The event store. `append` writes events to one stream and updates the views they change in
 * the same SQLite transaction, so a view is never behind or ahead of the log.
 */
export class EventStore extends Effect.Service<EventStore>()("synclog/EventStore", {
  dependencies: [Views.Default],
  effect: Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    /**
     * Opened after an append that no `onCommitted` listener handed over; the live feed's tailer
     * (EventFeed) waits on it, then reads the log through this client, after the transaction.
     */
    const appended = yield* Effect.makeLatch(false)
    const committed = yield* committedReader
    /** Called synchronously after every outermost commit (see `onCommitted`). */
    const committedListeners = new Set<() => boolean>()
    /**
     * After an append's transaction. When it was the outermost one (committed, not a savepoint of
     * a larger one), the `onCommitted` listeners hand its events over at once; the tailer is
     * woken only when they could not (inside a larger transaction, none registered, or a failure).
     */
    const notifyAppended = Effect.flatMap(Effect.serviceOption(SqlClient.TransactionConnection), (outer) =>
      Effect.sync(() => {
        let handedOver = outer._tag === "None" && committedListeners.size > 0
        if (handedOver) for (const listener of committedListeners) handedOver = listener() && handedOver
        if (!handedOver) appended.unsafeOpen()
      }))

    // The docs an append starts from, read (and checked) by Views inside the append's transaction.
    const views = yield* Views
    const loadJob = views.jobIncludingDeleted
    const loadIntegration = views.integrationIncludingRemoved
    const loadSystem = views.system

    /** Moves one job between the live counts of (integration, type, status). */
    const recount = (before: JobDoc | undefined, after: JobDoc) =>
      Effect.gen(function*() {
        const was = before && !before.deleted ? before : undefined
        const is = after.deleted ? undefined : after
        if (was?.status === is?.status && was?.type === is?.type) return
        if (was) {
          yield* sql`UPDATE job_counts SET n = n - 1
            WHERE integration_id = ${was.integrationId} AND type = ${was.type} AND status = ${was.status}`
        }
        if (is) {
          yield* sql`INSERT INTO job_counts (integration_id, type, status, n) VALUES (${is.integrationId}, ${is.type}, ${is.status}, 1)
            ON CONFLICT (integration_id, type, status) DO UPDATE SET n = job_counts.n + 1`
        }
      })

    const upsertJob = `${insertJobsSql(1)}
      ON CONFLICT (id) DO UPDATE SET status = excluded.status, queued_at = excluded.queued_at,
        deleted = excluded.deleted, version = excluded.version, doc = excluded.doc`
    const saveJob = (doc: JobDoc) => {
      const params: Array<unknown> = []
      pushJobRow(params, doc)
      return sql.unsafe(upsertJob, params)
    }
    const saveIntegration = (doc: IntegrationDoc) =>
      sql`INSERT INTO integrations (id, version, doc) VALUES (${doc.id}, ${doc.version}, ${JSON.stringify(doc)})
          ON CONFLICT (id) DO UPDATE SET version = excluded.version, doc = excluded.doc`
    const saveSystem = (doc: SystemDoc) =>
      sql`INSERT INTO system_view (key, doc) VALUES ('system', ${JSON.stringify(doc)})
          ON CONFLICT (key) DO UPDATE SET doc = excluded.doc`

    const conflict = (streamId: string, expected: number, actual: number) =>
      Effect.fail(new ConcurrencyConflict({ streamId, expectedVersion: expected, actualVersion: actual }))

    const insertEvents = (streamId: string, fromVersion: number, events: ReadonlyArray<DomainEvent>) =>
      sql`INSERT INTO events ${
        sql.insert(events.map((event, i) => ({
          stream_id: streamId,
          version: fromVersion + i + 1,
          type: event._tag,
          schema_version: EVENT_VERSION,
          payload: JSON.stringify(encodeEvent(event)),
          recorded_at: event.at
        })))
      }`.pipe(
        Effect.catchIf(
          (e: SqlError.SqlError) => isConstraintViolation(e),
          () => conflict(streamId, fromVersion, -1)
        )
      )

    /** Final statuses reached by these events, counted once their transaction committed. */
    const countFinished = (doc: JobDoc | undefined, events: ReadonlyArray<JobEvent>) =>
      doc !== undefined && events.some((e) => FINAL_EVENTS.has(e._tag))
        ? countFinishedJob({ integrationId: doc.integrationId, type: doc.type, status: doc.status, durationMs: durationOf(doc) })
        : Effect.void

    const writeJob = (jobId: string, current: JobDoc | undefined, events: ReadonlyArray<JobEvent>) =>
      Effect.gen(function*() {
        yield* insertEvents(jobStream(jobId), current?.version ?? 0, events)
        const views = emptyViews()
        if (current) views.jobs.set(jobId, current)
        // The integration whose statistics these events change, loaded once for all of them.
        const integrationId = current?.integrationId ?? (events[0]?._tag === "JobQueued" ? events[0].integrationId : undefined)
        if (integrationId !== undefined && events.some(affectsIntegration)) {
          const integration = yield* loadIntegration(integrationId)
          if (integration) views.integrations.set(integrationId, integration)
        }
        for (const event of events) projectEvent(views, event, false)
        const doc = views.jobs.get(jobId)!
        yield* saveJob(doc)
        yield* recount(current, doc)
        const integration = integrationId === undefined ? undefined : views.integrations.get(integrationId)
        if (integration) yield* saveIntegration(integration)
        return doc
      })

    /** Job stream with an expected version: returns the job view after the events. */
    const appendJob = (jobId: string, expectedVersion: number, events: ReadonlyArray<JobEvent>) =>
      Effect.gen(function*() {
        const doc = yield* loadJob(jobId)
        const actual = doc?.version ?? 0
        if (actual !== expectedVersion) return yield* conflict(jobStream(jobId), expectedVersion, actual)
        return yield* writeJob(jobId, doc, events)
      }).pipe(sql.withTransaction, Effect.tap((doc) => Effect.zipRight(notifyAppended, countFinished(doc, events))))

    /**
     * Read, decide, append in one transaction: `decide` sees the job as it is and returns the
     * events to append (none is fine) and a result. Commands use this, so a check such as
     * "only a running job can be paused" can never act on a stale view.
     */
    const updateJob = <A, E, R>(
      jobId: string,
      decide: (doc: JobDoc | undefined) => Effect.Effect<readonly [ReadonlyArray<JobEvent>, A], E, R>
    ) =>
      Effect.gen(function*() {
        const doc = yield* loadJob(jobId)
        // A run's own appends: refused once another run of the job started (runFence.ts). A
        // defect, not an error: no caller can act on it but the run, which ends without a trace.
        const run = yield* FiberRef.get(CurrentRun)
        if (run !== null && doc !== undefined && run.jobId === jobId && (doc.runs !== run.run || !isLive(doc.status))) {
          return yield* Effect.die(new RunSuperseded({ jobId, run: run.run, currentRun: doc.runs }))
        }
        const [events, result] = yield* decide(doc)
        const next = events.length === 0 ? doc : yield* writeJob(jobId, doc, events)
        return [next, result, events] as const
      }).pipe(
        sql.withTransaction,
        Effect.tap(([next, , events]) => Effect.zipRight(notifyAppended, countFinished(next, events))),
        Effect.map(([next, result]) => [next, result] as const)
      )

    const appendIntegration = (
      integrationId: string,
      expectedVersion: number,
      events: ReadonlyArray<IntegrationEvent>
    ) =>
      Effect.gen(function*() {
        const streamId = integrationStream(integrationId)
        let doc = yield* loadIntegration(integrationId)
        const actual = doc?.version ?? 0
        if (actual !== expectedVersion) return yield* conflict(streamId, expectedVersion, actual)
        yield* insertEvents(streamId, expectedVersion, events)
        for (const event of events) doc = evolveIntegration(doc, event)
        yield* saveIntegration(doc!)
        return doc!
      }).pipe(sql.withTransaction, Effect.tap(() => notifyAppended))

    const appendSystem = (events: ReadonlyArray<SystemEvent>) =>
      Effect.gen(function*() {
        let doc = yield* loadSystem
        yield* insertEvents(SYSTEM_STREAM, doc?.version ?? 0, events)
        for (const event of events) doc = evolveSystem(doc, event)
        yield* saveSystem(doc!)
        return doc!
      }).pipe(sql.withTransaction, Effect.tap(() => notifyAppended))

    /**
     * Several appends in one write transaction (each append inside it is a savepoint): one wait
     * for the writers' lock instead of one per append. The live feed is woken once it committed.
     * Only appends and reads belong inside: nothing that waits for another transaction.
     */
    const inOneTransaction = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
      effect.pipe(sql.withTransaction, Effect.tap(() => notifyAppended))

    const toStored = (row: StoredRow): StoredEvent => ({
      position: row.position,
      streamId: row.stream_id,
      version: row.version,
      type: row.type,
      schemaVersion: row.schema_version,
      payload: decodeStored(row.type, row.schema_version, row.payload),
      recordedAt: row.recorded_at
    })

    const readStream = (streamId: string) =>
      Effect.map(
        sql<StoredRow>`SELECT * FROM events WHERE stream_id = ${streamId} ORDER BY version`,
        (rows) => rows.map(toStored)
      )

    /** Events of the given types after `after` and up to `upTo`, oldest first, at most `limit`. */
    const readTypesBetween = (types: ReadonlyArray<string>, after: number, upTo: number, limit: number) =>
      Effect.map(
        sql<StoredRow>`SELECT * FROM events WHERE position > ${after} AND position <= ${upTo}
          AND ${sql.in("type", types)} ORDER BY position LIMIT ${limit}`,
        (rows) => rows.map(toStored)
      )

    /** The log's latest position (0 when empty). */
    const lastPosition = Effect.map(
      sql<{ p: number | null }>`SELECT MAX(position) AS p FROM events`,
      (rows) => rows[0]?.p ?? 0
    )

    const eventsAfter = (position: number, limit: number) =>
      sql<StoredRow>`SELECT * FROM events WHERE position > ${position} ORDER BY position LIMIT ${limit}`

    /** Events after a global position, oldest first, at most `limit`. */
    const readAfter = (position: number, limit: number) => Effect.map(eventsAfter(position, limit), (rows) => rows.map(toStored))

    /**
     * `readAfter` on the read connection, without an effect; undefined when the store has no
     * read connection (ReadConnection.ts). For `onCommitted` listeners: it sees what committed.
     */
    const readAfterNow = committed === undefined ? undefined : (position: number, limit: number): ReadonlyArray<StoredEvent> =>
      Effect.runSync(committedRows(committed, eventsAfter(position, limit))).map(toStored)

    /**
     * Calls `listener` synchronously right after every outermost commit of appends (appends
     * nested in a larger transaction: after `inOneTransaction`'s commit), in the appending fiber,
     * so it must not throw and should be quick; it answers whether it handed the new events
     * over (if not, the tailer is woken). Returns its removal. The live feed hands new events to
     * its followers from here, not when its tailer fiber next gets the event loop, which a
     * running sync holds for tens of ms at a time.
     */
    const onCommitted = (listener: () => boolean) => {
      committedListeners.add(listener)
      return () => void committedListeners.delete(listener)
    }

    return {
      appended,
      appendJob,
      updateJob,
      appendIntegration,
      appendSystem,
      inOneTransaction,
      readStream,
      readAfter,
      readAfterNow,
      onCommitted,
      readTypesBetween,
      lastPosition
    } as const
  })
}) {}

interface StoredRow {
  readonly position: number
  readonly stream_id: string
  readonly version: number
  readonly type: string
  readonly schema_version: number
  readonly payload: string
  readonly recorded_at: string
}
