import { Args, Command, HelpDoc, Options, ValidationError } from "@effect/cli"
import { Console, Effect, Option, Stream } from "effect"
import { JOB_STATUSES, type JobStatus } from "../domain/job.js"
import { apiClient, call, CliExit, connectionOptions } from "./connection.js"
import { clock, dateTime, duration, fields, json, paintStatus, table } from "./format.js"
import { counters } from "./progress.js"
import { jobEvents, streamFailure, watchJob } from "./watch.js"

const jobIdArg = Args.text({ name: "jobId" }).pipe(Args.withDescription("the job's id (sync-job-...)"))

const usageError = (message: string) => ValidationError.invalidValue(HelpDoc.p(message))

/** A whole number in bounds, checked here so a bad value is a usage error, not a request. */
export const boundedInteger = (name: string, min: number, max: number) =>
  Options.integer(name).pipe(
    Options.mapEffect((n) => n >= min && n <= max ? Effect.succeed(n) : Effect.fail(usageError(`--${name} must be between ${min} and ${max}, got ${n}`)))
  )

/** `full`, `incremental`, `selective` (or their `_sync` names), as the API's `type`. */
export const jobTypeOption = Options.choice("type", ["full", "incremental", "selective", "full_sync", "incremental_sync", "selective_sync"]).pipe(
  Options.map((t) => (t.endsWith("_sync") ? t : `${t}_sync`) as "full_sync" | "incremental_sync" | "selective_sync")
)

/** `--status running,queued` (or repeated); `pending` means queued, as in the API. */
const statusOption = Options.text("status").pipe(
  Options.withDescription(`job status, or a comma list: pending, ${JOB_STATUSES.join(", ")}`),
  Options.repeated,
  Options.mapEffect((given) => {
    const out: Array<JobStatus> = []
    for (const part of given.flatMap((g) => g.split(",")).map((p) => p.trim()).filter((p) => p !== "")) {
      const status = part === "pending" ? "queued" : part
      if (!(JOB_STATUSES as ReadonlyArray<string>).includes(status)) {
        return Effect.fail(usageError(`unknown status '${part}'; valid: pending, ${JOB_STATUSES.join(", ")}`))
      }
      out.push(status as JobStatus)
    }
    return Effect.succeed(out)
  })
)

interface JobRow {
  readonly id: string
  readonly integrationId: string
  readonly type: string
  readonly status: string
  readonly progress: number
  readonly stage?: string | undefined
  readonly stats: { readonly processed: number; readonly created: number; readonly updated: number; readonly deleted: number }
  readonly createdAt: string
  readonly duration?: number | undefined
}

const jobsTable = (jobs: ReadonlyArray<JobRow>) =>
  table(
    ["JOB", "INTEGRATION", "TYPE", "STATUS", "PROGRESS", "STAGE", "PROCESSED", "CREATED", "UPDATED", "DELETED", "STARTED", "DURATION"],
    jobs.map((j) => [
      j.id,
      j.integrationId,
      j.type,
      paintStatus(j.status),
      `${j.progress}%`,
      j.stage ?? "-",
      String(j.stats.processed),
      String(j.stats.created),
      String(j.stats.updated),
      String(j.stats.deleted),
      dateTime(j.createdAt),
      duration(j.duration)
    ])
  )

const logLine = (l: { readonly timestamp: string; readonly level: string; readonly message: string }) =>
  `${dateTime(l.timestamp)}  ${l.level.padEnd(5)}  ${l.message}`

const list = Command.make("jobs", {
  ...connectionOptions,
  status: statusOption,
  integration: Options.text("integration").pipe(Options.withDescription("only this integration's jobs"), Options.optional),
  type: jobTypeOption.pipe(Options.optional),
  limit: boundedInteger("limit", 1, 500).pipe(Options.withDescription("at most this many (1..500, default 20)"), Options.optional),
  offset: boundedInteger("offset", 0, Number.MAX_SAFE_INTEGER).pipe(Options.optional)
}, (o) =>
  Effect.gen(function*() {
    const api = yield* apiClient(o)
    const result = yield* call(o, api.jobs.list({
      urlParams: {
        ...(o.status.length > 0 ? { status: o.status } : {}),
        ...Option.match(o.integration, { onNone: () => ({}), onSome: (integrationId) => ({ integrationId }) }),
        ...Option.match(o.type, { onNone: () => ({}), onSome: (type) => ({ type }) }),
        ...Option.match(o.limit, { onNone: () => ({}), onSome: (limit) => ({ limit }) }),
        ...Option.match(o.offset, { onNone: () => ({}), onSome: (offset) => ({ offset }) })
      }
    }))
    if (o.json) return yield* Console.log(json(result))
    if (result.jobs.length === 0) return yield* Console.log(`No jobs match (${result.total} in all).`)
    yield* Console.log(jobsTable(result.jobs))
    yield* Console.log(`${result.jobs.length} of ${result.total} job(s)`)
  })).pipe(Command.withDescription("List sync jobs, newest first"))

const detail = Command.make("job", {
  ...connectionOptions,
  jobId: jobIdArg,
  watch: Options.boolean("watch").pipe(Options.withDescription("follow the job until it ends (exit 0 completed, 3 failed, 4 stopped)"))
}, (o) =>
  Effect.gen(function*() {
    if (o.watch) return yield* watchJob(o, o.jobId)
    const api = yield* apiClient(o)
    const job = yield* call(o, api.jobs.get({ path: { jobId: o.jobId } }))
    if (o.json) return yield* Console.log(json(job))
    const rows: Array<readonly [string, string]> = [
      ["Job", job.id],
      ["Integration", job.integrationId],
      ["Type", `${job.type} (${job.trigger}, attempt ${job.attempt})`],
      ["Status", `${paintStatus(job.status)} ${job.progress}%${job.stage !== undefined ? ` ${job.stage}` : ""}`],
      ["Created", dateTime(job.createdAt)],
      ["Started", dateTime(job.startedAt)],
      ["Completed", dateTime(job.completedAt)],
      ["Duration", duration(job.duration)]
    ]
    if (job.estimatedCompletion !== undefined) rows.push(["ETA", clock(job.estimatedCompletion)])
    if (job.waiting !== undefined) rows.push(["Waiting", `${job.waiting.reason} until ${clock(job.waiting.until)}`])
    rows.push(["Counters", counters(job.stats)])
    if (job.error !== undefined) rows.push(["Error", job.error])
    const opts = job.options
    rows.push([
      "Options",
      `batchSize ${opts.batchSize}, entities ${opts.entities.join(",")}` +
        (opts.projects !== undefined ? `, projects ${opts.projects.join(",")}` : "") +
        (opts.excludeProjects !== undefined ? `, excludeProjects ${opts.excludeProjects.join(",")}` : "") +
        (opts.force ? ", force" : "") + (opts.includeArchived ? ", includeArchived" : "")
    ])
    yield* Console.log(fields(rows))
    const latest = job.logs.slice(-10)
    if (latest.length > 0) {
      yield* Console.log(`\nLatest log lines (synclog logs ${job.id} for all):`)
      for (const l of latest) yield* Console.log(`  ${logLine(l)}`)
    }
  })).pipe(Command.withDescription("Show one job: status, stage, ETA, counters, latest log lines"))

const logs = Command.make("logs", {
  ...connectionOptions,
  jobId: jobIdArg,
  follow: Options.boolean("follow").pipe(
    Options.withAlias("f"),
    Options.withDescription("keep printing new lines until the job ends")
  )
}, (o) =>
  Effect.gen(function*() {
    const api = yield* apiClient(o)
    let offset = 0
    /** Prints the lines after `offset`, a page of 1,000 at a time. */
    const printNew = Effect.gen(function*() {
      while (true) {
        const page = yield* call(o, api.jobs.logs({ path: { jobId: o.jobId }, urlParams: { offset, limit: 1000 } }))
        for (const l of page.logs) yield* Console.log(o.json ? JSON.stringify(l) : logLine(l))
        offset += page.logs.length
        if (page.logs.length < 1000) return
      }
    })
    yield* printNew
    if (!o.follow) return
    // Log lines are not events: re-read twice a second while the job's stream is open (it
    // closes after the job's terminal event), then once more for the last lines.
    yield* jobEvents(o, o.jobId, undefined).pipe(
      Stream.drain,
      Stream.merge(Stream.tick("500 millis"), { haltStrategy: "left" }),
      Stream.runForEach(() => printNew),
      Effect.catchIf((e) => !(e instanceof CliExit), (e) => Effect.fail(streamFailure(o, e)))
    )
    yield* printNew
  })).pipe(Command.withDescription("Print a job's log lines, oldest first (--follow: until it ends)"))

/** stop, pause and resume answer the same way: the API's message. */
const printCommand = (jsonOutput: boolean, result: { readonly jobId: string; readonly status: string; readonly message: string }) =>
  Console.log(jsonOutput ? json(result) : `${result.message} (${result.jobId}: ${result.status})`)

const stop = Command.make("stop", {
  ...connectionOptions,
  jobId: jobIdArg,
  now: Options.boolean("now").pipe(Options.withDescription("interrupt at once (graceful: false); the batch in flight leaves no trace"))
}, (o) =>
  Effect.gen(function*() {
    const api = yield* apiClient(o)
    yield* printCommand(o.json, yield* call(o, api.jobs.stop({ path: { jobId: o.jobId }, payload: { graceful: !o.now } })))
  })).pipe(Command.withDescription("Stop a job (gracefully: the batch in flight commits first)"))

const pause = Command.make("pause", { ...connectionOptions, jobId: jobIdArg }, (o) =>
  Effect.gen(function*() {
    const api = yield* apiClient(o)
    yield* printCommand(o.json, yield* call(o, api.jobs.pause({ path: { jobId: o.jobId } })))
  })).pipe(Command.withDescription("Pause a running job at its next batch boundary"))

const resume = Command.make("resume", { ...connectionOptions, jobId: jobIdArg }, (o) =>
  Effect.gen(function*() {
    const api = yield* apiClient(o)
    yield* printCommand(o.json, yield* call(o, api.jobs.resume({ path: { jobId: o.jobId } })))
  })).pipe(Command.withDescription("Resume a paused, stopped or failed job from its last checkpoint"))

const remove = Command.make("delete", {
  ...connectionOptions,
  jobId: jobIdArg,
  logs: Options.boolean("logs").pipe(Options.withDescription("delete its log lines too (its events stay)"))
}, (o) =>
  Effect.gen(function*() {
    const api = yield* apiClient(o)
    const result = yield* call(o, api.jobs.delete({ path: { jobId: o.jobId }, payload: { deleteLogs: o.logs } }))
    yield* Console.log(o.json ? json(result) : `Deleted job ${result.deleted}`)
  })).pipe(Command.withDescription("Delete a finished job (its events stay in the log)"))

const stopAll = Command.make("stop-all", {
  ...connectionOptions,
  integration: Options.text("integration").pipe(Options.withDescription("only this integration's jobs"), Options.optional)
}, (o) =>
  Effect.gen(function*() {
    const api = yield* apiClient(o)
    const payload = Option.match(o.integration, { onNone: () => ({}), onSome: (integrationId) => ({ integrationId }) })
    const result = yield* call(o, api.jobs.stopAll({ payload }))
    if (o.json) return yield* Console.log(json(result))
    yield* Console.log(
      result.stoppedJobs === 0 ? "No queued or running job to stop" : `Stopping ${result.stoppedJobs} job(s): ${result.jobs.join(", ")}`
    )
  })).pipe(Command.withDescription("Stop every queued and running job (of one integration)"))

const changeInterval = Command.make("interval", {
  ...connectionOptions,
  jobId: jobIdArg,
  seconds: Args.integer({ name: "seconds" }).pipe(Args.withDescription("the new interval in seconds (30 to 2592000)"))
}, (o) =>
  Effect.gen(function*() {
    const api = yield* apiClient(o)
    const result = yield* call(o, api.jobs.interval({ path: { jobId: o.jobId }, payload: { interval: o.seconds } }))
    if (o.json) return yield* Console.log(json(result))
    yield* Console.log(`Interval changed from ${result.oldInterval} s to ${result.newInterval} s; next run ${dateTime(result.nextRun)}`)
  })).pipe(Command.withDescription("Change the sync interval of the job's integration"))

export const jobCommands = [list, detail, logs, stop, pause, resume, remove, stopAll, changeInterval] as const
