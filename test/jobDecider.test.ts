import { Either, Schema } from "effect"
import { describe, expect, it } from "vitest"
import { InvalidTransition, JobNotFound } from "../src/domain/errors.js"
import { JobEvent, JobQueued } from "../src/domain/events.js"
import { type Checkpoint, JOB_STATUSES, type JobStatus } from "../src/domain/job.js"
import { decideJob, JOB_COMMANDS, type JobCommand } from "../src/domain/jobDecider.js"
import { evolveJob, type JobDoc } from "../src/eventlog/jobProjection.js"

/**
 * The job state machine as a table: every state (each status, and the flags that change what a
 * command does in it) × every command, with the events the decider appends or how it refuses.
 * A status or a command the table does not list fails the coverage tests below.
 */
const JOB = "sync-job-table"
const AT = "2026-01-05T09:12:44.120Z"
const QUEUED_AT = "2026-01-05T09:00:00.000Z"
const CHECKPOINT: Checkpoint = {
  stage: "syncing_work_items",
  projectIds: ["p1", "p2"],
  position: { projectIndex: 1, feed: 0, page: 3 }
}

const queued = evolveJob(
  undefined,
  new JobQueued({
    jobId: JOB,
    integrationId: "plane-1",
    jobType: "full_sync",
    options: { force: false, includeArchived: false, batchSize: 50, entities: ["projects"] },
    trigger: "manual",
    estimatedDuration: null,
    at: QUEUED_AT
  })
)
/** A job that ran once and committed up to CHECKPOINT, now in `status`. */
const ran = (status: JobStatus, flags: Partial<JobDoc> = {}): JobDoc => ({
  ...queued,
  status,
  runs: 1,
  startedAt: QUEUED_AT,
  checkpoint: CHECKPOINT,
  ...flags
})

const STATES = {
  "no job": undefined,
  queued,
  running: ran("running"),
  "running, pause requested": ran("running", { pauseRequested: true }),
  stopping: ran("stopping"),
  "paused on request": ran("paused", { pauseReason: "request" }),
  "paused by its window": ran("paused", { pauseReason: "window" }),
  "paused for shutdown": ran("paused", { pauseReason: "shutdown" }),
  stopped: ran("stopped"),
  completed: ran("completed", { progress: 100 }),
  failed: ran("failed", { error: "bad record ratio", retryable: false }),
  "failed, transient": ran("failed", { error: "Plane answered 503", retryable: true }),
  deleted: ran("stopped", { deleted: true })
} satisfies Record<string, JobDoc | undefined>
type State = keyof typeof STATES

const COMMANDS = {
  queue: {
    _tag: "Queue",
    jobId: JOB,
    integrationId: "plane-1",
    jobType: "incremental_sync",
    options: { force: false, includeArchived: true, batchSize: 10, entities: ["projects", "work_items"] },
    trigger: "schedule",
    estimatedDuration: 1200
  },
  start: { _tag: "Start", jobId: JOB },
  stop: { _tag: "Stop", jobId: JOB, graceful: true },
  "stop now": { _tag: "Stop", jobId: JOB, graceful: false },
  pause: { _tag: "Pause", jobId: JOB, reason: "request" },
  "pause (window)": { _tag: "Pause", jobId: JOB, reason: "window" },
  resume: { _tag: "Resume", jobId: JOB, reason: "request" },
  "resume (window)": { _tag: "Resume", jobId: JOB, reason: "window" },
  "resume (retry)": { _tag: "Resume", jobId: JOB, reason: "retry" },
  recover: { _tag: "Recover", jobId: JOB },
  "halt: stop": { _tag: "Halt", jobId: JOB, pause: null },
  "halt: pause": { _tag: "Halt", jobId: JOB, pause: "request" },
  "halt: shutdown": { _tag: "Halt", jobId: JOB, pause: "shutdown" },
  settle: { _tag: "Settle", jobId: JOB, reason: "stopped immediately" },
  complete: { _tag: "Complete", jobId: JOB },
  fail: { _tag: "Fail", jobId: JOB, error: "Plane answered 401", retryable: false },
  delete: { _tag: "Delete", jobId: JOB, deleteLogs: true }
} satisfies Record<string, JobCommand>
type Command = keyof typeof COMMANDS

/** 409 InvalidTransition naming the state and the command; 404 JobNotFound; or these events (`at` and `jobId` implied). */
type Cell = "409" | "404" | ReadonlyArray<Readonly<Record<string, unknown>> & { readonly _tag: JobEvent["_tag"] }>

const R = "409" as const
const N = "404" as const
const none: Cell = []
const stoppedWith = (reason: string): Cell => [{ _tag: "JobStopped", reason }]
const atBoundary = stoppedWith("stopped on request at a batch boundary")
const resumed = (reason: string, from: Checkpoint | null = CHECKPOINT): Cell => [{ _tag: "JobResumed", reason, from }]
const queuedEvent: Cell = [{
  _tag: "JobQueued",
  integrationId: "plane-1",
  jobType: "incremental_sync",
  options: COMMANDS.queue.options,
  trigger: "schedule",
  estimatedDuration: 1200
}]
const completed: Cell = [{ _tag: "JobCompleted" }]
const failed: Cell = [{ _tag: "JobFailed", error: "Plane answered 401", retryable: false }]
const deleted: Cell = [{ _tag: "JobDeleted", deleteLogs: true }]

const idle = (overrides: Partial<Record<Command, Cell>>): Record<Command, Cell> => ({
  queue: R,
  start: R,
  stop: R,
  "stop now": R,
  pause: R,
  "pause (window)": R,
  resume: R,
  "resume (window)": R,
  "resume (retry)": R,
  recover: R,
  "halt: stop": R,
  "halt: pause": R,
  "halt: shutdown": R,
  settle: R,
  complete: R,
  fail: R,
  delete: R,
  ...overrides
})

const TABLE: Record<State, Record<Command, Cell>> = {
  "no job": {
    queue: queuedEvent,
    start: N,
    stop: N,
    "stop now": N,
    pause: N,
    "pause (window)": N,
    resume: N,
    "resume (window)": N,
    "resume (retry)": N,
    recover: N,
    "halt: stop": N,
    "halt: pause": N,
    "halt: shutdown": N,
    settle: N,
    complete: N,
    fail: N,
    delete: N
  },
  queued: idle({
    start: [{ _tag: "JobStarted", run: 1 }],
    stop: stoppedWith("stopped while queued"),
    "stop now": stoppedWith("stopped while queued")
  }),
  running: {
    queue: R,
    start: R,
    stop: [{ _tag: "StopRequested", graceful: true }],
    "stop now": [{ _tag: "StopRequested", graceful: false }],
    pause: [{ _tag: "PauseRequested" }],
    "pause (window)": [{ _tag: "PauseRequested" }],
    resume: R,
    "resume (window)": R,
    "resume (retry)": R,
    recover: resumed("recovery"),
    "halt: stop": atBoundary,
    "halt: pause": [{ _tag: "JobPaused", reason: "request" }],
    "halt: shutdown": [{ _tag: "JobPaused", reason: "shutdown" }],
    settle: stoppedWith("stopped immediately"),
    complete: completed,
    fail: failed,
    delete: R
  },
  "running, pause requested": {
    queue: R,
    start: R,
    stop: [{ _tag: "StopRequested", graceful: true }],
    "stop now": [{ _tag: "StopRequested", graceful: false }],
    pause: none,
    "pause (window)": none,
    resume: R,
    "resume (window)": R,
    "resume (retry)": R,
    recover: [{ _tag: "JobPaused", reason: "request" }],
    "halt: stop": atBoundary,
    "halt: pause": [{ _tag: "JobPaused", reason: "request" }],
    "halt: shutdown": [{ _tag: "JobPaused", reason: "shutdown" }],
    settle: stoppedWith("stopped immediately"),
    complete: completed,
    fail: failed,
    delete: R
  },
  stopping: {
    queue: R,
    start: R,
    stop: none,
    "stop now": [{ _tag: "StopRequested", graceful: false }],
    pause: R,
    "pause (window)": R,
    resume: R,
    "resume (window)": R,
    "resume (retry)": R,
    recover: stoppedWith("stop was requested before the restart"),
    "halt: stop": atBoundary,
    "halt: pause": atBoundary,
    "halt: shutdown": atBoundary,
    settle: stoppedWith("stopped immediately"),
    complete: completed,
    fail: failed,
    delete: R
  },
  "paused on request": idle({
    stop: stoppedWith("stopped while paused"),
    "stop now": stoppedWith("stopped while paused"),
    resume: resumed("request"),
    delete: deleted
  }),
  "paused by its window": idle({
    stop: stoppedWith("stopped while paused"),
    "stop now": stoppedWith("stopped while paused"),
    resume: resumed("request"),
    "resume (window)": resumed("window"),
    delete: deleted
  }),
  "paused for shutdown": idle({
    stop: stoppedWith("stopped while paused"),
    "stop now": stoppedWith("stopped while paused"),
    resume: resumed("request"),
    recover: resumed("restart"),
    delete: deleted
  }),
  stopped: idle({ resume: resumed("request"), delete: deleted }),
  completed: idle({ delete: deleted }),
  failed: idle({ resume: resumed("request"), delete: deleted }),
  "failed, transient": idle({ resume: resumed("request"), "resume (retry)": resumed("retry"), delete: deleted }),
  deleted: {
    queue: R,
    start: N,
    stop: N,
    "stop now": N,
    pause: N,
    "pause (window)": N,
    resume: N,
    "resume (window)": N,
    "resume (retry)": N,
    recover: N,
    "halt: stop": N,
    "halt: pause": N,
    "halt: shutdown": N,
    settle: N,
    complete: N,
    fail: N,
    delete: N
  }
}

const states = Object.keys(STATES) as Array<State>
const commands = Object.keys(COMMANDS) as Array<Command>
const encode = Schema.encodeSync(JobEvent)

describe("job decider: the table covers the state machine", () => {
  it("has a state for every job status", () => {
    const covered = new Set(states.flatMap((s) => (STATES[s] ? [STATES[s]!.status] : [])))
    expect(JOB_STATUSES.filter((status) => !covered.has(status))).toEqual([])
  })

  it("has a column for every command the decider takes", () => {
    const covered = new Set(commands.map((c) => COMMANDS[c]._tag))
    expect(JOB_COMMANDS.filter((tag) => !covered.has(tag))).toEqual([])
  })

  it("has a cell for every state and command", () => {
    const missing = states.flatMap((s) => commands.filter((c) => TABLE[s]?.[c] === undefined).map((c) => `${s} × ${c}`))
    expect(missing).toEqual([])
  })
})

describe("job decider", () => {
  for (const state of states) {
    for (const command of commands) {
      const cell = TABLE[state][command]
      const label = cell === R ? "refuses (409)" : cell === N ? "does not know the job (404)" : cell.length === 0
        ? "changes nothing"
        : `appends ${cell.map((e) => e._tag).join(", ")}`
      it(`${state} × ${command}: ${label}`, () => {
        const doc = STATES[state]
        const decision = decideJob(COMMANDS[command], doc, AT)
        if (cell === R) {
          expect(Either.isLeft(decision)).toBe(true)
          const refusal = Either.getLeft(decision).pipe((o) => (o._tag === "Some" ? o.value : undefined))
          expect(refusal).toBeInstanceOf(InvalidTransition)
          const invalid = refusal as InvalidTransition
          // A 409 names both states: the job's and the one asked for.
          expect(invalid).toMatchObject({ success: false, error: "InvalidTransition", jobId: JOB, status: doc!.status })
          expect(invalid.message).toContain(`it is ${doc!.status}`)
          expect(invalid.message).toContain(invalid.requested)
          return
        }
        if (cell === N) {
          expect(Either.isLeft(decision)).toBe(true)
          const refusal = Either.getLeft(decision).pipe((o) => (o._tag === "Some" ? o.value : undefined))
          expect(refusal).toEqual(JobNotFound.of(JOB))
          return
        }
        expect(Either.isRight(decision)).toBe(true)
        const events = Either.getOrThrow(decision)
        expect(events.map((e) => e._tag)).toEqual(cell.map((e) => e._tag))
        events.forEach((event, i) => {
          expect(event).toMatchObject({ ...cell[i], jobId: JOB, at: AT })
          // What the store writes: the event encodes with its schema.
          expect(() => encode(event)).not.toThrow()
        })
      })
    }
  }
})

describe("job decider: what the API says when it refuses", () => {
  const refusal = (state: State, command: Command) => {
    const decision = decideJob(COMMANDS[command], STATES[state], AT)
    return Either.isLeft(decision) ? decision.left : undefined
  }

  it("names the statuses that allow a stop, a pause or a resume", () => {
    expect(refusal("completed", "stop")).toMatchObject({
      requested: "stop",
      message: `Cannot stop job ${JOB}: it is completed. Only queued, running or paused jobs can be stopped.`
    })
    expect(refusal("queued", "pause")).toMatchObject({
      requested: "pause",
      message: `Cannot pause job ${JOB}: it is queued. Only a running job can be paused; stop a queued one instead.`
    })
    expect(refusal("running", "resume")).toMatchObject({
      requested: "resume",
      message: `Cannot resume job ${JOB}: it is running. Only paused, failed or stopped jobs can be resumed.`
    })
  })

  it("says to stop a job before deleting it, or to wait while it stops", () => {
    expect(refusal("running", "delete")?.message).toBe(
      `Cannot delete job ${JOB}: it is running. Stop it first (POST /api/sync/jobs/${JOB}/stop).`
    )
    expect(refusal("stopping", "delete")?.message).toBe(
      `Cannot delete job ${JOB}: it is stopping. Retry once it is stopped (GET /api/sync/jobs/${JOB} shows its status).`
    )
  })

  it("counts runs and resumes from the checkpoint a job has, or from its start", () => {
    const again = decideJob(COMMANDS.start, { ...ran("queued"), runs: 3 }, AT)
    expect(Either.getOrThrow(again)).toMatchObject([{ _tag: "JobStarted", run: 4 }])
    const fromStart = decideJob(COMMANDS.resume, { ...queued, status: "stopped" }, AT)
    expect(Either.getOrThrow(fromStart)).toMatchObject([{ _tag: "JobResumed", from: null }])
  })
})
