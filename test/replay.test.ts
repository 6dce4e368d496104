import { SqlClient } from "@effect/sql"
import Sqlite from "better-sqlite3"
import { Effect, Layer } from "effect"
import { existsSync } from "node:fs"
import { join } from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import {
  BatchCommitted,
  IntegrationRegistered,
  IntegrationStarted,
  type JobEvent,
  JobCompleted,
  JobDeleted,
  JobFailed,
  JobQueued,
  JobResumed,
  JobStarted,
  JobStopped,
  ScheduledRun,
  StageStarted,
  StopRequested,
  SystemInitialized
} from "../src/domain/events.js"
import { stageOf } from "../src/domain/job.js"
import * as Database from "../src/eventlog/Database.js"
import { EventStore } from "../src/eventlog/EventStore.js"
import { compare, rebuild, snapshot } from "../src/eventlog/replay.js"
import { tempDir } from "./support/app.js"

/**
 * Replay over a real SQLite file, against views the live append wrote. Replay keeps a job that
 * has ended as its serialised row and parses it back when the log has more for it (a resume
 * after a failure, a delete after completion): those jobs, one stopped, and one still running
 * when the log ends must come out as the live path left them, in the same row order.
 */
const ID = "plane-replay"
const at = (minute: number) => new Date(Date.UTC(2026, 0, 5, 9, minute)).toISOString()
const options = { force: false, includeArchived: false, batchSize: 50, entities: ["projects" as const] }

const queued = (jobId: string, minute: number) =>
  new JobQueued({ jobId, integrationId: ID, jobType: "full_sync", options, trigger: "manual", estimatedDuration: null, at: at(minute) })
const ran = (jobId: string, minute: number, run = 1): Array<JobEvent> => [
  new JobStarted({ jobId, run, at: at(minute) }),
  new StageStarted({ jobId, stage: stageOf("projects"), projectIds: [], at: at(minute) }),
  new BatchCommitted({
    jobId,
    stage: stageOf("projects"),
    entity: "projects",
    deltas: { processed: 3, created: 2, updated: 1, deleted: 0, errors: 0 },
    next: { projectIndex: 0, feed: 0, page: 1 },
    discovered: ["p1"],
    watermark: { projectId: "p1", at: at(minute) },
    progress: 40,
    estimatedCompletion: at(minute + 2),
    at: at(minute + 1)
  })
]

/** The log, appended through the live path: [job id, events] in order, integration events under ID. */
const history = Effect.gen(function*() {
  const store = yield* EventStore
  const versions = new Map<string, number>()
  const job = (jobId: string, events: ReadonlyArray<JobEvent>) =>
    Effect.gen(function*() {
      const version = versions.get(jobId) ?? 0
      yield* store.appendJob(jobId, version, events)
      versions.set(jobId, version + events.length)
    })
  yield* store.appendSystem([new SystemInitialized({ integrationsFound: 1, at: at(0) })])
  yield* store.appendIntegration(ID, 0, [
    new IntegrationRegistered({
      integrationId: ID,
      settings: {
        name: "Replay",
        connector: "plane",
        baseUrl: "http://127.0.0.1:1",
        workspaceSlug: "acme",
        apiKeyEnv: "PLANE_KEY",
        syncInterval: 300,
        fullSyncInterval: null,
        requestsPerMinute: null,
        enabled: true
      },
      at: at(0)
    }),
    new IntegrationStarted({ integrationId: ID, nextRunAt: at(5), at: at(0) })
  ])
  yield* store.appendIntegration(ID, 2, [
    new ScheduledRun({ integrationId: ID, outcome: "queued", jobId: "sync-job-a", reason: "due", nextRunAt: at(10), at: at(1) })
  ])
  yield* job("sync-job-a", [queued("sync-job-a", 1), ...ran("sync-job-a", 2)])
  yield* job("sync-job-b", [queued("sync-job-b", 2), ...ran("sync-job-b", 3)])
  yield* job("sync-job-a", [new JobCompleted({ jobId: "sync-job-a", at: at(5) })])
  yield* job("sync-job-b", [new JobFailed({ jobId: "sync-job-b", error: "boom", retryable: true, at: at(6) })])
  yield* job("sync-job-c", [queued("sync-job-c", 7), ...ran("sync-job-c", 7)])
  yield* job("sync-job-d", [queued("sync-job-d", 8), new JobStarted({ jobId: "sync-job-d", run: 1, at: at(8) })])
  yield* job("sync-job-d", [
    new StopRequested({ jobId: "sync-job-d", graceful: false, at: at(9) }),
    new JobStopped({ jobId: "sync-job-d", reason: "stopped on request", at: at(9) })
  ])
  // Events for jobs that had ended: a delete after completion, a retry after the failure.
  yield* job("sync-job-a", [new JobDeleted({ jobId: "sync-job-a", deleteLogs: false, at: at(10) })])
  yield* job("sync-job-b", [
    new JobResumed({ jobId: "sync-job-b", reason: "retry", from: null, at: at(11) }),
    ...ran("sync-job-b", 12, 2),
    new JobCompleted({ jobId: "sync-job-b", at: at(14) })
  ])
})

const rowOrder = Effect.flatMap(SqlClient.SqlClient, (sql) => sql<{ id: string }>`SELECT id FROM jobs ORDER BY rowid`)

const replayAgainstLive = (dbPath: string) =>
  Effect.gen(function*() {
    yield* history
    const live = yield* snapshot
    const liveOrder = yield* rowOrder
    const result = yield* rebuild
    const replayed = yield* snapshot
    return { live, liveOrder, result, replayed, replayedOrder: yield* rowOrder }
  }).pipe(Effect.provide(EventStore.Default.pipe(Layer.provideMerge(Database.layer(dbPath)))), Effect.runPromise)

const tmp = tempDir()
afterAll(() => tmp.remove())

describe("replay", () => {
  for (const [name, dbPath] of [["a file, read through its own connection", tmp.dbPath], ["an in-memory database", ":memory:"]]) {
    it(`rebuilds the views the live path wrote, ended jobs with later events included (${name})`, async () => {
      const { live, liveOrder, replayed, replayedOrder, result } = await replayAgainstLive(dbPath!)
      expect(result).toEqual({ events: 28, jobs: 4, integrations: 1 })
      expect(compare(live, replayed)).toEqual([])
      expect(replayed.jobs.size).toBe(4)
      expect(replayedOrder.map((r) => r.id)).toEqual(["sync-job-a", "sync-job-b", "sync-job-c", "sync-job-d"])
      expect(replayedOrder).toEqual(liveOrder)
      const doc = (id: string) => JSON.parse(replayed.jobs.get(id)!)
      expect(doc("sync-job-a")).toMatchObject({ status: "completed", deleted: true, version: 6 })
      expect(doc("sync-job-b")).toMatchObject({ status: "completed", attempt: 2, runs: 2, error: null, version: 10 })
      expect(doc("sync-job-c")).toMatchObject({ status: "running", progress: 40, version: 4 })
      expect(doc("sync-job-d")).toMatchObject({ status: "stopped", stopGraceful: false, version: 4 })
      // The deleted job counts nowhere; the others once each.
      expect([...replayed.counts.entries()].sort()).toEqual([
        [`${ID}/full_sync/completed`, "1"],
        [`${ID}/full_sync/running`, "1"],
        [`${ID}/full_sync/stopped`, "1"]
      ])
    })
  }

  it("writes the views under a rollback journal when it holds the file alone, and in WAL mode beside another connection", async () => {
    const rebuildIn = (dbPath: string, beside?: Sqlite.Database) =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        yield* history
        const live = yield* snapshot
        // Another connection with the file open (as a server's read connection would have it).
        beside?.prepare("SELECT count(*) FROM events").get()
        const result = yield* rebuild
        const [mode] = yield* sql<{ journal_mode: string; synchronous: number }>`
          SELECT journal_mode, (SELECT synchronous FROM pragma_synchronous) AS synchronous FROM pragma_journal_mode`
        return { live, result, replayed: yield* snapshot, mode }
      }).pipe(Effect.provide(EventStore.Default.pipe(Layer.provideMerge(Database.layer(dbPath)))), Effect.runPromise)

    const alone = join(tmp.dir, "alone.db")
    const a = await rebuildIn(alone)
    expect(a.result).toEqual({ events: 28, jobs: 4, integrations: 1 })
    expect(compare(a.live, a.replayed)).toEqual([])
    // Back in WAL mode at the connection's own synchronous setting (NORMAL), no journal left over.
    expect(a.mode).toEqual({ journal_mode: "wal", synchronous: 1 })
    expect(existsSync(`${alone}-journal`)).toBe(false)

    const shared = join(tmp.dir, "shared.db")
    let other: Sqlite.Database | undefined
    const b = await Effect.runPromise(Effect.gen(function*() {
      // The file exists (migrated) before the other connection opens it.
      yield* Effect.provide(Effect.void, Database.layer(shared))
      other = new Sqlite(shared, { readonly: true })
      return yield* Effect.promise(() => rebuildIn(shared, other))
    }).pipe(Effect.ensuring(Effect.sync(() => other?.close()))))
    expect(b.result).toEqual({ events: 28, jobs: 4, integrations: 1 })
    expect(compare(b.live, b.replayed)).toEqual([])
    expect(b.mode).toEqual({ journal_mode: "wal", synchronous: 1 })
  })

  it("reads past a gap of more than one read's positions, and hands a row of an older schema version to the upcasters", async () => {
    // The SQLite file reader (PostgreSQL is read through its client, by position as before).
    const dbPath = join(tmp.dir, "gap.db")
    const run = <A, E>(effect: Effect.Effect<A, E, SqlClient.SqlClient | EventStore>) =>
      effect.pipe(Effect.provide(EventStore.Default.pipe(Layer.provideMerge(Database.layer(dbPath)))), Effect.runPromise)
    const { live, replayed, result } = await run(Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* history
      const live = yield* snapshot
      // The last 8 events 20,000 positions further on (replay reads 5,000 positions at a time).
      yield* sql`UPDATE events SET position = position + 20000 WHERE position > 20`
      const result = yield* rebuild
      return { live, result, replayed: yield* snapshot }
    }))
    expect(result).toEqual({ events: 28, jobs: 4, integrations: 1 })
    expect(compare(live, replayed)).toEqual([])
    // Stored at schema version 0, which has no upcaster: the fold must not read it as version 1.
    const failure = await run(Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* sql`UPDATE events SET schema_version = 0 WHERE position = (SELECT max(position) FROM events)`
      return yield* rebuild
    }).pipe(Effect.catchAllDefect((defect) => Effect.succeed(String(defect)))))
    expect(failure).toMatch(/No upcaster for JobCompleted from schema version 0/)
  })
})
