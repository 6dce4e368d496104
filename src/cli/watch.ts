import { HttpClient, HttpClientRequest } from "@effect/platform"
import * as Sse from "@effect/experimental/Sse"
import { Data, Effect, Fiber, Option, Predicate, Schedule, Stream } from "effect"
import { apiClient, call, CliExit, type Connection, describeFailure, urlOf } from "./connection.js"
import { type ProgressState, renderProgress, stageLine, summaryLine } from "./progress.js"

const TERMINAL = ["completed", "failed", "stopped"]

/** `--watch`'s exit codes: scripts can tell how the job ended. */
const WATCH_EXIT_CODES: Readonly<Record<string, number>> = { completed: 0, failed: 3, stopped: 4 }

/** The server answered the stream request with an API error (401, 404...): not worth retrying. */
class StreamRefused extends Data.TaggedError("StreamRefused")<{ readonly body: unknown; readonly status: number }> {}

/**
 * One job's Server-Sent Events after `after` (`GET /api/sync/jobs/:id/stream`); ends after its
 * terminal event, or at once (204) when it had already ended.
 */
export const jobEvents = (connection: Connection, jobId: string, after: number | undefined) =>
  Stream.unwrap(Effect.gen(function*() {
    const client = yield* HttpClient.HttpClient
    const query = after === undefined ? "" : `?after=${after}`
    let request = HttpClientRequest.get(urlOf(connection, `/api/sync/jobs/${encodeURIComponent(jobId)}/stream${query}`)).pipe(
      HttpClientRequest.setHeader("accept", "text/event-stream")
    )
    if (Option.isSome(connection.token)) request = HttpClientRequest.bearerToken(request, connection.token.value)
    const response = yield* client.execute(request)
    if (response.status >= 400) {
      const body = yield* response.json.pipe(Effect.orElseSucceed(() => null))
      return yield* new StreamRefused({ body, status: response.status })
    }
    if (response.status === 204) return Stream.empty
    return response.stream.pipe(Stream.decodeText(), Stream.pipeThroughChannel(Sse.makeChannel()))
  }))

/** A stream that could not be read, as the CLI's one-line error (exit code 1). */
export const streamFailure = (connection: Connection, error: unknown) => {
  if (error instanceof StreamRefused) {
    const { body, status } = error
    const known = Predicate.hasProperty(body, "error") && Predicate.hasProperty(body, "message")
    const reason = known ? describeFailure(connection, body) : `the job stream answered ${status} (HttpError)`
    return new CliExit({ code: 1, message: `error: ${reason}` })
  }
  return new CliExit({ code: 1, message: `error: ${describeFailure(connection, error)}` })
}

/** How a watch shows progress: a redrawn bar, a line per stage, or JSON lines. */
interface Display {
  readonly update: (state: ProgressState) => Effect.Effect<void>
  readonly finish: (job: ProgressState & { readonly id: string; readonly duration?: number; readonly error?: string }) => Effect.Effect<void>
}

const write = (text: string) => Effect.sync(() => void process.stdout.write(text))

/** A terminal: one line redrawn in place (`\r`, clear line) at most ten times a second. */
const terminalDisplay = Effect.gen(function*() {
  let latest: ProgressState | undefined
  let dirty = false
  let drawn = false
  const width = () => process.stdout.columns || 80
  const draw = Effect.suspend(() => {
    if (!dirty || latest === undefined) return Effect.void
    dirty = false
    drawn = true
    return write(`\r\x1b[2K${renderProgress(latest, width())}`)
  })
  const painter = yield* draw.pipe(Effect.repeat(Schedule.spaced("100 millis")), Effect.forkScoped)
  // Interrupted (Ctrl-C): leave the bar on its own line.
  yield* Effect.addFinalizer(() => Effect.suspend(() => (drawn ? write("\n") : Effect.void)))
  return {
    update: (state) =>
      Effect.sync(() => {
        latest = state
        dirty = true
      }),
    finish: (job) =>
      Effect.gen(function*() {
        yield* Fiber.interrupt(painter)
        latest = job
        dirty = true
        yield* draw
        drawn = false
        yield* write(`\n${summaryLine(job)}\n`)
      })
  } satisfies Display
})

/** Not a terminal (a log, a CI job): a line when the stage or status changes, then a summary. */
const lineDisplay = Effect.sync((): Display => {
  let shown: string | undefined
  return {
    update: (state) =>
      Effect.suspend(() => {
        const key = state.status === "running" ? (state.stage ?? "running") : state.status
        if (key === shown) return Effect.void
        shown = key
        return write(stageLine(state, new Date()) + "\n")
      }),
    finish: (job) => write(summaryLine(job) + "\n")
  }
})

/** `--json`: every progress message that changed something as one JSON line, then the final job. */
const jsonDisplay = Effect.sync((): Display => {
  let last = ""
  return {
    update: (state) =>
      Effect.suspend(() => {
        const line = JSON.stringify(state)
        if (line === last) return Effect.void
        last = line
        return write(line + "\n")
      }),
    finish: (job) => write(JSON.stringify(job) + "\n")
  }
})

/** A job (detail or list entry) in the shape of the stream's `progress` messages. */
const progressOf = (job: ProgressState & { readonly id: string }) => ({
  jobId: job.id,
  status: job.status,
  progress: job.progress,
  ...(job.stage !== undefined ? { stage: job.stage } : {}),
  stats: job.stats,
  ...(job.estimatedCompletion !== undefined ? { estimatedCompletion: job.estimatedCompletion } : {}),
  ...(job.waiting !== undefined ? { waiting: job.waiting } : {})
})

/**
 * Follows a job until it ends and exits 0 (completed), 3 (failed) or 4 (stopped). A dropped
 * stream (a server restart) is reopened after the last event seen; a paused job is waited for.
 */
export const watchJob = (connection: Connection, jobId: string) =>
  Effect.scoped(Effect.gen(function*() {
    const api = yield* apiClient(connection)
    const display = yield* (connection.json ? jsonDisplay : process.stdout.isTTY ? terminalDisplay : lineDisplay)
    const fetchJob = call(connection, api.jobs.get({ path: { jobId } }))
    yield* display.update(progressOf(yield* fetchJob))

    let after: number | undefined
    let quietReconnects = 0
    while (true) {
      let heard = false
      const outcome = yield* jobEvents(connection, jobId, after).pipe(
        Stream.runForEach((event) =>
          Effect.suspend(() => {
            heard = true
            if (event.id !== undefined) after = Number(event.id)
            if (event.event !== "progress") return Effect.void
            return display.update(JSON.parse(event.data) as ProgressState)
          })
        ),
        Effect.either
      )
      if (outcome._tag === "Left" && Predicate.isTagged(outcome.left, "StreamRefused")) {
        return yield* streamFailure(connection, outcome.left)
      }
      const job = yield* fetchJob
      if (TERMINAL.includes(job.status)) {
        yield* display.finish(job)
        const code = WATCH_EXIT_CODES[job.status] ?? 1
        if (code !== 0) return yield* new CliExit({ code })
        return
      }
      // The stream ended early (server restart, network): reopen it where it left off.
      quietReconnects = heard ? 0 : quietReconnects + 1
      if (quietReconnects > 30) {
        return yield* new CliExit({ code: 1, message: `error: lost the job stream of ${jobId}; the job is still ${job.status} (StreamLost)` })
      }
      yield* display.update(progressOf(job))
      yield* Effect.sleep("1 second")
    }
  }))
