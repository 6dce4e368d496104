import { Effect, Either } from "effect"
import type { JobDoc } from "../eventlog/jobProjection.js"
import { InvalidTransition, JobNotFound } from "./errors.js"
import {
  JobCompleted,
  JobDeleted,
  type JobEvent,
  JobFailed,
  JobPaused,
  JobQueued,
  JobResumed,
  JobStarted,
  JobStopped,
  PauseRequested,
  StopRequested
} from "./events.js"
import {
  isInProgress,
  isLive,
  type JobOptions,
  type JobStatus,
  type JobTrigger,
  type JobType,
  type PauseReason
} from "./job.js"

/**
 * Every command a job takes, from the API, the scheduler, the supervisor or its own actor.
 * `decideJob` is the one place that says which command is legal in which state and what it
 * appends; callers run it inside `EventStore.updateJob`, so it always sees the job as stored.
 */
export type JobCommand =
  /** A new job: its id is fresh, so there is no job yet. */
  | {
    readonly _tag: "Queue"
    readonly jobId: string
    readonly integrationId: string
    readonly jobType: JobType
    readonly options: JobOptions
    readonly trigger: JobTrigger
    readonly estimatedDuration: number | null
  }
  /** The supervisor gives a queued job a runner. */
  | { readonly _tag: "Start"; readonly jobId: string }
  /** Graceful: the batch in flight commits first; immediate: the run is interrupted. */
  | { readonly _tag: "Stop"; readonly jobId: string; readonly graceful: boolean }
  /** At the next batch boundary; `window`: the scheduler, at the end of the sync window. */
  | { readonly _tag: "Pause"; readonly jobId: string; readonly reason: "request" | "window" }
  /** Back to the queue from the last checkpoint; `window` and `retry` come from the scheduler. */
  | { readonly _tag: "Resume"; readonly jobId: string; readonly reason: "request" | "window" | "retry" }
  /** At start-up: settle what a crash or a shutdown left behind. */
  | { readonly _tag: "Recover"; readonly jobId: string }
  /** The actor ends its run at a batch boundary on a stop (`pause` null) or a pause. */
  | { readonly _tag: "Halt"; readonly jobId: string; readonly pause: PauseReason | null }
  /** A live job whose run is gone without a batch boundary: interrupted by an immediate stop, or it had just ended. */
  | { readonly _tag: "Settle"; readonly jobId: string; readonly reason: string }
  | { readonly _tag: "Complete"; readonly jobId: string }
  | { readonly _tag: "Fail"; readonly jobId: string; readonly error: string; readonly retryable: boolean }
  | { readonly _tag: "Delete"; readonly jobId: string; readonly deleteLogs: boolean }

/** Every command's tag (the decider's table test iterates them). */
export const JOB_COMMANDS = [
  "Queue",
  "Start",
  "Stop",
  "Pause",
  "Resume",
  "Recover",
  "Halt",
  "Settle",
  "Complete",
  "Fail",
  "Delete"
] as const satisfies ReadonlyArray<JobCommand["_tag"]>

/** Fails to compile when a command is missing from JOB_COMMANDS. */
const _everyCommandListed: Exclude<JobCommand["_tag"], (typeof JOB_COMMANDS)[number]> extends never ? true : never = true
void _everyCommandListed

type JobRefusal = InvalidTransition | JobNotFound
type JobDecision = Either.Either<ReadonlyArray<JobEvent>, JobRefusal>

/** A job the scheduler retries by itself: it failed with a transient cause. */
export const isRetryable = (doc: JobDoc) => doc.status === "failed" && doc.retryable

/** A job the scheduler paused at its sync window's end, which it resumes when the window opens. */
export const isPausedByWindow = (doc: JobDoc) => doc.status === "paused" && doc.pauseReason === "window"

/**
 * What a stop-all stops (gracefully): the jobs that would otherwise run on. Paused ones wait
 * for a resume, stopping ones are ending already (CONTRACT.md: "its queued and running jobs").
 */
export const STOP_ALL_STATUSES: ReadonlyArray<JobStatus> = ["queued", "running"]

/** What a resume on request accepts; the scheduler's resumes are narrower (see `decideJob`). */
const RESUMABLE: ReadonlyArray<JobStatus> = ["paused", "failed", "stopped"]

const accept = (...events: ReadonlyArray<JobEvent>): JobDecision => Either.right(events)

const refuse = (doc: JobDoc, requested: string, hint: string): JobDecision =>
  Either.left(
    new InvalidTransition({
      jobId: doc.id,
      status: doc.status,
      requested,
      message: `Cannot ${requested} job ${doc.id}: it is ${doc.status}. ${hint}`
    })
  )

/** The API resumes any paused, failed or stopped job; the scheduler only the jobs its own rules name. */
const resume = (reason: "request" | "window" | "retry", doc: JobDoc, at: string): JobDecision => {
  const resumed = () => accept(new JobResumed({ jobId: doc.id, reason, from: doc.checkpoint, at }))
  switch (reason) {
    case "request":
      return RESUMABLE.includes(doc.status)
        ? resumed()
        : refuse(doc, "resume", "Only paused, failed or stopped jobs can be resumed.")
    case "window":
      return isPausedByWindow(doc)
        ? resumed()
        : refuse(doc, "resume", "Only a job paused at its sync window's end resumes when the window opens.")
    case "retry":
      return isRetryable(doc)
        ? resumed()
        : refuse(doc, "retry", "Only a job that failed with a transient cause is retried automatically.")
  }
}

/**
 * The job state machine: the events a command appends to a job in the state `doc` (none when
 * it is already done), or why it is refused (409 `InvalidTransition` naming both states, or
 * 404 for a job that does not exist or was deleted). Pure: `at` stamps the events.
 */
export const decideJob = (command: JobCommand, doc: JobDoc | undefined, at: string): JobDecision => {
  const { jobId } = command
  if (command._tag === "Queue") {
    if (doc !== undefined) return refuse(doc, "queue", "A job id is queued once; create a new job instead.")
    const { estimatedDuration, integrationId, jobType, options, trigger } = command
    return accept(new JobQueued({ jobId, integrationId, jobType, options, trigger, estimatedDuration, at }))
  }
  if (doc === undefined || doc.deleted) return Either.left(JobNotFound.of(jobId))
  const live = isLive(doc.status)
  switch (command._tag) {
    case "Start":
      return doc.status === "queued"
        ? accept(new JobStarted({ jobId, run: doc.runs + 1, at }))
        : refuse(doc, "start", "Only a queued job is started.")
    case "Stop":
      switch (doc.status) {
        case "queued":
        case "paused":
          return accept(new JobStopped({ jobId, reason: `stopped while ${doc.status}`, at }))
        case "running":
          return accept(new StopRequested({ jobId, graceful: command.graceful, at }))
        case "stopping":
          // A second graceful stop changes nothing; an immediate one cuts the grace period short.
          return command.graceful ? accept() : accept(new StopRequested({ jobId, graceful: false, at }))
        default:
          return refuse(doc, "stop", "Only queued, running or paused jobs can be stopped.")
      }
    case "Pause":
      if (doc.status !== "running") {
        return refuse(doc, "pause", "Only a running job can be paused; stop a queued one instead.")
      }
      return doc.pauseRequested ? accept() : accept(new PauseRequested({ jobId, at }))
    case "Resume":
      return resume(command.reason, doc, at)
    case "Recover":
      if (doc.status === "stopping") {
        return accept(new JobStopped({ jobId, reason: "stop was requested before the restart", at }))
      }
      if (doc.status === "running") {
        return doc.pauseRequested
          ? accept(new JobPaused({ jobId, reason: "request", at }))
          : accept(new JobResumed({ jobId, reason: "recovery", from: doc.checkpoint, at }))
      }
      return doc.status === "paused" && doc.pauseReason === "shutdown"
        ? accept(new JobResumed({ jobId, reason: "restart", from: doc.checkpoint, at }))
        : refuse(doc, "recover", "Only a job a crash or a shutdown interrupted is recovered at start-up.")
    case "Halt":
      if (!live) return refuse(doc, "halt", "Only a running or stopping job ends its run.")
      // A stop requested earlier wins over a pause (a shutdown while stopping still stops).
      return command.pause === null || doc.status === "stopping"
        ? accept(new JobStopped({ jobId, reason: "stopped on request at a batch boundary", at }))
        : accept(new JobPaused({ jobId, reason: command.pause, at }))
    case "Settle":
      return live
        ? accept(new JobStopped({ jobId, reason: command.reason, at }))
        : refuse(doc, "settle", "Only a running or stopping job ends its run.")
    case "Complete":
      return live ? accept(new JobCompleted({ jobId, at })) : refuse(doc, "complete", "Only a running or stopping job completes.")
    case "Fail":
      return live
        ? accept(new JobFailed({ jobId, error: command.error, retryable: command.retryable, at }))
        : refuse(doc, "fail", "Only a running or stopping job fails.")
    case "Delete":
      if (!isInProgress(doc.status)) return accept(new JobDeleted({ jobId, deleteLogs: command.deleteLogs, at }))
      return Either.left(
        new InvalidTransition({
          jobId,
          status: doc.status,
          requested: "delete",
          message: doc.status === "stopping"
            ? `Cannot delete job ${jobId}: it is stopping. Retry once it is stopped (GET /api/sync/jobs/${jobId} shows its status).`
            : `Cannot delete job ${jobId}: it is ${doc.status}. Stop it first (POST /api/sync/jobs/${jobId}/stop).`
        })
      )
  }
}

/**
 * `decideJob` in the shape `EventStore.updateJob` takes: the events are appended (and are the
 * result too); a refusal fails the command with its 404 or 409.
 */
export const decided = (command: JobCommand, at: string) => (doc: JobDoc | undefined) =>
  Either.match(decideJob(command, doc, at), {
    onLeft: (refusal) => Effect.fail(refusal),
    onRight: (events) => Effect.succeed([events, events] as const)
  })

/**
 * For what the engine itself settles (a run's end, a retry, a start): a refusal means the job
 * got there another way first (stopped at once, deleted...), so nothing is appended.
 */
export const decidedOrNothing = (command: JobCommand, at: string) => (doc: JobDoc | undefined) => {
  const decision = decideJob(command, doc, at)
  const events: ReadonlyArray<JobEvent> = Either.isRight(decision) ? decision.right : []
  return Effect.succeed([events, events] as const)
}
