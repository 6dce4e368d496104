import { Duration, Effect, Runtime } from "effect"
import { createRequire } from "node:module"
import { Worker } from "node:worker_threads"

/**
 * Copies the WAL back into the database file from a worker thread with its own connection,
 * instead of on the connection that writes. SQLite's automatic checkpoint runs inside the
 * COMMIT that crosses the threshold, on the event loop: during a full sync that was about a
 * fifth of the time spent writing. A PASSIVE checkpoint never blocks the writer (it copies the
 * frames it can and leaves the rest for the next round), and the writer restarts the WAL from
 * the beginning once everything in it has been copied.
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
parentPort.on("message", (message) => {
  if (message !== "close") return
  clearInterval(timer)
  db.close()
  parentPort.postMessage("closed")
})
`

/**
 * A worker that checkpoints `filename` every `every`, for the lifetime of the scope. Closing
 * waits for its connection to close (a test may delete the folder right after). A second
 * lets a full sync's WAL grow to a few tens of MB between rounds, about what SQLite's own
 * threshold allowed, while a server busy with many small jobs does not copy the same hot
 * pages (jobs, integrations) several times a second.
 */
export const backgroundCheckpoints = (filename: string, every: Duration.DurationInput = "1 second") =>
  Effect.acquireRelease(
    Effect.gen(function*() {
      const runtime = yield* Effect.runtime<never>()
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
      return worker
    }),
    (worker) =>
      Effect.async<void>((resume) => {
        const done = () => resume(Effect.void)
        worker.once("message", () => void worker.terminate().then(done, done))
        worker.once("error", done)
        worker.once("exit", done)
        worker.postMessage("close")
      }).pipe(Effect.timeout("5 seconds"), Effect.ignore)
  )
