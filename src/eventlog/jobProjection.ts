import type { JobEvent } from "../domain/events.js"
import {
  addCounters,
  type Checkpoint,
  type Counters,
  type JobOptions,
  type JobStatus,
  type JobTrigger,
  type JobType,
  type PauseReason,
  type Stage,
  startPosition,
  zeroCounters
} from "../domain/job.js"

/** The job view: a pure fold of the job's stream. Live projection and replay share `evolveJob`. */
export interface JobDoc {
  readonly id: string
  readonly integrationId: string
  readonly type: JobType
  readonly status: JobStatus
  readonly trigger: JobTrigger
  readonly options: JobOptions
  readonly progress: number
  readonly stage: Stage | null
  readonly createdAt: string
  readonly queuedAt: string
  readonly startedAt: string | null
  readonly completedAt: string | null
  readonly estimatedDuration: number | null
  readonly estimatedCompletion: string | null
  readonly stats: Counters
  readonly error: string | null
  readonly retryable: boolean
  readonly checkpoint: Checkpoint | null
  readonly watermarks: Readonly<Record<string, string>>
  readonly runs: number
  readonly attempt: number
  readonly pauseRequested: boolean
  readonly pauseReason: PauseReason | null
  readonly stopGraceful: boolean | null
  readonly deleted: boolean
  readonly deleteLogs: boolean
  readonly version: number
}

/** A job view being folded in place (replay keeps one per job instead of copying it per event). */
export type JobDraft = { -readonly [K in keyof JobDoc]: JobDoc[K] }

/**
 * The job view's one projection, shared by the live append and replay. Live callers keep the
 * doc they passed (a copy is returned); replay passes `inPlace` and folds its own doc, whose
 * nested values are replaced, never mutated, so nothing another doc shares is ever changed.
 */
export const evolveJob = (doc: JobDoc | undefined, event: JobEvent, inPlace = false): JobDoc => {
  if (event._tag === "JobQueued") return queued(event)
  if (doc === undefined) throw new Error(`${event._tag} for job ${event.jobId} before JobQueued`)
  const draft: JobDraft = inPlace ? (doc as JobDraft) : { ...doc }
  applyJobEvent(draft, event)
  return draft
}

const queued = (event: Extract<JobEvent, { _tag: "JobQueued" }>): JobDoc => ({
  id: event.jobId,
  integrationId: event.integrationId,
  type: event.jobType,
  status: "queued",
  trigger: event.trigger,
  options: event.options,
  progress: 0,
  stage: null,
  createdAt: event.at,
  queuedAt: event.at,
  startedAt: null,
  completedAt: null,
  estimatedDuration: event.estimatedDuration,
  estimatedCompletion: null,
  stats: zeroCounters,
  error: null,
  retryable: false,
  checkpoint: null,
  watermarks: {},
  runs: 0,
  attempt: 1,
  pauseRequested: false,
  pauseReason: null,
  stopGraceful: null,
  deleted: false,
  deleteLogs: false,
  version: 1
})

/** What every ended run records: its final status, when it ended, and that no ETA is left. */
const end = (d: JobDraft, status: "stopped" | "completed" | "failed", at: string): void => {
  d.status = status
  d.completedAt = at
  d.estimatedCompletion = null
}

const applyJobEvent = (d: JobDraft, event: Exclude<JobEvent, { _tag: "JobQueued" }>): void => {
  d.version++
  switch (event._tag) {
    case "JobStarted":
      d.status = "running"
      d.runs = event.run
      d.startedAt ??= event.at
      d.stage = d.checkpoint?.stage ?? null
      d.pauseRequested = false
      d.pauseReason = null
      return
    case "StageStarted":
      d.stage = event.stage
      d.checkpoint = { stage: event.stage, projectIds: event.projectIds, position: startPosition }
      return
    case "BatchCommitted": {
      const checkpoint = d.checkpoint
      d.stats = addCounters(d.stats, event.deltas)
      d.stage = event.stage
      d.checkpoint = {
        stage: event.stage,
        projectIds: event.discovered
          ? [...(checkpoint?.projectIds ?? []), ...event.discovered]
          : checkpoint?.projectIds ?? [],
        position: event.next
      }
      d.progress = Math.max(d.progress, event.progress)
      d.estimatedCompletion = event.estimatedCompletion
      if (event.watermark) d.watermarks = { ...d.watermarks, [event.watermark.projectId]: event.watermark.at }
      return
    }
    case "EstimateChanged":
      d.estimatedCompletion = event.estimatedCompletion
      return
    case "PauseRequested":
      d.pauseRequested = true
      return
    case "JobPaused":
      d.status = "paused"
      d.pauseReason = event.reason
      d.pauseRequested = false
      d.estimatedCompletion = null
      return
    case "StopRequested":
      if (d.status === "running") d.status = "stopping"
      d.stopGraceful = event.graceful
      return
    case "JobStopped":
      end(d, "stopped", event.at)
      d.pauseRequested = false
      return
    case "JobCompleted":
      end(d, "completed", event.at)
      d.progress = 100
      d.stage = null
      return
    case "JobFailed":
      end(d, "failed", event.at)
      d.error = event.error
      d.retryable = event.retryable
      d.pauseRequested = false
      return
    case "JobResumed":
      d.status = "queued"
      // A run that a crash, a shutdown or a runner's departure interrupted keeps its place in the
      // queue (it was admitted first: a job of its integration queued later must not overtake it);
      // a resume asked for (request, window, retry) queues the job again at the back.
      if (event.reason !== "recovery" && event.reason !== "restart") d.queuedAt = event.at
      d.completedAt = null
      d.error = null
      d.retryable = false
      d.stopGraceful = null
      d.pauseRequested = false
      d.pauseReason = null
      if (event.reason === "retry") d.attempt++
      return
    case "JobDeleted":
      d.deleted = true
      d.deleteLogs = event.deleteLogs
      return
  }
}

/** `duration` is defined once a job has ended after having started. */
export const durationOf = (doc: JobDoc): number | null =>
  doc.completedAt !== null && doc.startedAt !== null
    ? Math.max(0, Date.parse(doc.completedAt) - Date.parse(doc.startedAt))
    : null
