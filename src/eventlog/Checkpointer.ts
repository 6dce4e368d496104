import { Duration, Effect, Option, Runtime } from "effect"
import { SqlClient } from "@effect/sql"
import { closeSync, openSync, readSync } from "node:fs"
import { createRequire } from "node:module"
import { endianness } from "node:os"
import { Worker } from "node:worker_threads"

/**
 * Copies the WAL back into the database file from a worker thread with its own connection,
 * instead of on the connection that writes. SQLite's automatic checkpoint runs inside the
 * COMMIT that crosses the threshold, on the event loop: during a full sync that was about a
 * fifth of the time spent writing. A PASSIVE checkpoint never blocks the writer (it copies the
 * frames it can and leaves the rest for the next round), and the writer restarts the WAL from
 * the beginning once everything in it has been copied.
 *
 * Rounds also start right after a sync's commit (the writer tells the worker), not only on a
 * timer. The writer can restart the WAL only if a checkpoint copied every frame before its next
 * transaction began; a round on a one-second timer, during a sync that commits a page every
 * ~70 ms, almost never did, so the WAL grew to SQLite's own threshold (~200 MB) and that
 * COMMIT ran the checkpoint and truncated the file itself: 150-270 ms on the event loop, twice
 * per 100k-item sync, and the slowest events of the live streams. A round right after a
 * batch's commit copies its pages while the sync fetches its next page, so the WAL restarts
 * and stays a few batches long.
 */

/** Runs in the worker (CommonJS, evaluated from this string: no separate file to bundle). */
const WORKER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads")
const Database = require(workerData.driver)
const db = new Database(workerData.filename)
db.pragma("busy_timeout = 1000")
const round = () => {
  try { db.pragma("wal_checkpoint(PASSIVE)") } catch (e) { /* busy: the next round copies it */ }
}
const timer = setInterval(round, workerData.everyMs)
// After a sync's commit (see walWritten): one round for all the messages that queued meanwhile.
let due = false
const afterCommit = () => {
  due = false
  round()
}
parentPort.on("message", (message) => {
  if (message === "committed") {
    if (!due) setImmediate(afterCommit)
    due = true
    return
  }
  if (message !== "close") return
  clearInterval(timer)
  db.close()
  parentPort.postMessage("closed")
})
`

/**
 * A commit starts a round when it wrote this much: a sync's batch of 1,000 records writes about
 * 1.4 MB of WAL, a small job's commit a few pages. A round after every commit made 1,000
 * integrations' small jobs slower (the many-integrations suite: 4,248 jobs run in the window
 * against 5,157, the same hour), and so did a round whenever 1 MB waited to be copied (4,651).
 * A message to the worker alone cost ~30 µs per commit (a thread woken on the other core), so
 * the size is read here, and small commits send nothing: they leave the copying to the timer.
 */
const ROUND_AFTER_COMMIT_BYTES = 1024 * 1024

/**
 * How many bytes of WAL the commits since the last call wrote, from the WAL-index header at the
 * start of the `-shm` file (SQLite's documented WAL-index format, in native byte order): the page
 * size at byte 14, the WAL's length in frames (mxFrame) at 16, and its first salt at 32, which
 * changes when the WAL restarts from its beginning. One 48-byte read; -1 when it cannot be read.
 */
const walWritten = (filename: string) => {
  const header = Buffer.alloc(48)
  const little = endianness() === "LE"
  const u16 = (at: number) => (little ? header.readUInt16LE(at) : header.readUInt16BE(at))
  const u32 = (at: number) => (little ? header.readUInt32LE(at) : header.readUInt32BE(at))
  let fd: number | undefined
  let seen = { bytes: 0, salt: -1 }
  const written = (): number => {
    try {
      fd ??= openSync(`${filename}-shm`, "r")
      if (readSync(fd, header, 0, 48, 0) < 48) return -1
      const size = u16(14)
      const now = { bytes: u32(16) * (size === 1 ? 65536 : size), salt: u32(32) }
      // A new salt: the WAL restarted since, and all of it is new.
      const bytes = now.salt === seen.salt ? now.bytes - seen.bytes : now.bytes
      seen = now
      return bytes
    } catch {
      return -1
    }
  }
  const close = () => {
    if (fd !== undefined) closeSync(fd)
    fd = undefined
  }
  return { written, close }
}

/**
 * A worker that checkpoints `filename` after commits (see ROUND_AFTER_COMMIT_BYTES) and every
 * `every`, for the lifetime of the scope: each outermost commit of this layer's SqlClient that
 * wrote a batch's worth tells it. Commits that arrive during a round share the next one. Rounds
 * spaced at least 100 or 250 ms apart did not keep up with a sync: the WAL still reached 128 MB
 * and 67 MB (a round after every batch: 9 MB at most). Closing waits for its connection to close
 * (a test may delete the folder right after).
 */
export const backgroundCheckpoints = (filename: string, every: Duration.DurationInput = "1 second") =>
  Effect.acquireRelease(
    Effect.gen(function*() {
      const runtime = yield* Effect.runtime<never>()
      const sql = yield* SqlClient.SqlClient
      const driver = createRequire(import.meta.url).resolve("better-sqlite3")
      const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { filename, driver, everyMs: Duration.toMillis(every) } })
      // A failed worker costs speed, not data: SQLite's own automatic checkpoint still runs.
      worker.on("error", (error) => {
        Runtime.runFork(runtime)(
          Effect.logWarning(`Background WAL checkpoints stopped (${error.message}); SQLite checkpoints on commit instead`)
        )
      })
      // Never keeps the process alive on its own.
      worker.unref()
      // After each outermost commit (a savepoint's release commits nothing) that wrote a batch's
      // worth, one message.
      const wal = walWritten(filename)
      const committed = Effect.sync(() => {
        const bytes = wal.written()
        if (bytes < 0 || bytes >= ROUND_AFTER_COMMIT_BYTES) worker.postMessage("committed")
      })
      const inner = sql.withTransaction
      const withTransaction = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
        Effect.flatMap(Effect.serviceOption(SqlClient.TransactionConnection), (outer) =>
          Option.isSome(outer) ? inner(effect) : Effect.zipLeft(inner(effect), committed))
      Object.assign(sql, { withTransaction })
      return { worker, restore: () => (Object.assign(sql, { withTransaction: inner }), wal.close()) }
    }),
    ({ restore, worker }) =>
      Effect.async<void>((resume) => {
        restore()
        const done = () => resume(Effect.void)
        worker.once("message", () => void worker.terminate().then(done, done))
        worker.once("error", done)
        worker.once("exit", done)
        worker.postMessage("close")
      }).pipe(Effect.timeout("5 seconds"), Effect.ignore)
  )
