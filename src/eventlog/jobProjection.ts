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

export const evolveJob = (doc: JobDoc | undefined, event: JobEvent): JobDoc => {
  if (event._tag === "JobQueued") {
    return {
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
    }
  }
  if (doc === undefined) throw new Error(`${event._tag} for job ${event.jobId} before JobQueued`)
  const next = applyToExisting(doc, event)
  return { ...next, version: doc.version + 1 }
}

const applyToExisting = (doc: JobDoc, event: Exclude<JobEvent, { _tag: "JobQueued" }>): JobDoc => {
  switch (event._tag) {
    case "JobStarted":
      return {
        ...doc,
        status: "running",
        runs: event.run,
        startedAt: doc.startedAt ?? event.at,
        stage: doc.checkpoint?.stage ?? null,
        pauseRequested: false,
        pauseReason: null
      }
    case "StageStarted":
      return {
        ...doc,
        stage: event.stage,
        checkpoint: { stage: event.stage, projectIds: event.projectIds, position: startPosition }
      }
    case "BatchCommitted": {
      const checkpoint = doc.checkpoint
      return {
        ...doc,
        stats: addCounters(doc.stats, event.deltas),
        stage: event.stage,
        checkpoint: {
          stage: event.stage,
          projectIds: event.discovered
            ? [...(checkpoint?.projectIds ?? []), ...event.discovered]
            : checkpoint?.projectIds ?? [],
          position: event.next
        },
        progress: Math.max(doc.progress, event.progress),
        estimatedCompletion: event.estimatedCompletion,
        watermarks: event.watermark
          ? { ...doc.watermarks, [event.watermark.projectId]: event.watermark.at }
          : doc.watermarks
      }
    }
    case "EstimateChanged":
      return { ...doc, estimatedCompletion: event.estimatedCompletion }
    case "PauseRequested":
      return { ...doc, pauseRequested: true }
    case "JobPaused":
      return {
        ...doc,
        status: "paused",
        pauseReason: event.reason,
        pauseRequested: false,
        estimatedCompletion: null
      }
    case "StopRequested":
      return {
        ...doc,
        status: doc.status === "running" ? "stopping" : doc.status,
        stopGraceful: event.graceful
      }
    case "JobStopped":
      return {
        ...doc,
        status: "stopped",
        completedAt: event.at,
        estimatedCompletion: null,
        pauseRequested: false
      }
    case "JobCompleted":
      return {
        ...doc,
        status: "completed",
        progress: 100,
        stage: null,
        completedAt: event.at,
        estimatedCompletion: null
      }
    case "JobFailed":
      return {
        ...doc,
        status: "failed",
        error: event.error,
        retryable: event.retryable,
        completedAt: event.at,
        estimatedCompletion: null,
        pauseRequested: false
      }
    case "JobResumed":
      return {
        ...doc,
        status: "queued",
        queuedAt: event.at,
        completedAt: null,
        error: null,
        retryable: false,
        stopGraceful: null,
        pauseRequested: false,
        pauseReason: null,
        attempt: event.reason === "retry" ? doc.attempt + 1 : doc.attempt
      }
    case "JobDeleted":
      return { ...doc, deleted: true, deleteLogs: event.deleteLogs }
  }
}

/** `duration` is defined once a job has ended after having started. */
export const durationOf = (doc: JobDoc): number | null =>
  doc.completedAt !== null && doc.startedAt !== null
    ? Math.max(0, Date.parse(doc.completedAt) - Date.parse(doc.startedAt))
    : null
