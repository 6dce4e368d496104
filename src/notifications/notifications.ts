import type { Counters, JobStatus, JobTrigger, JobType } from "../domain/job.js"
import type { StoredEvent } from "../eventlog/EventStore.js"
import { durationOf, type JobDoc } from "../eventlog/jobProjection.js"
import type { NotificationEndpointConfig, NotificationEvent } from "./config.js"
import { isoAt } from "../domain/time.js"

/**
 * Which log events make which notifications: a pure function of the event, the job as it was
 * right after it, and a little memory (`WatchState`) that each endpoint keeps with its
 * checkpoint, so `integration.recovered` survives restarts.
 */

interface JobSummary {
  readonly id: string
  readonly type: JobType
  readonly status: JobStatus
  readonly trigger: JobTrigger
  readonly attempt: number
  readonly error: string | null
  readonly retryable: boolean
  readonly stopReason: string | null
  readonly stats: Counters
  readonly startedAt: string | null
  readonly completedAt: string | null
  readonly durationMs: number | null
  /** Path of the job on this server's API (the server does not know its public address). */
  readonly link: string
}

interface CircuitSummary {
  readonly state: "open" | "closed"
  readonly consecutiveFailures: number | null
  readonly reason: string | null
  readonly probeAt: string | null
  readonly cooldownSeconds: number | null
}

export interface Notification {
  /** The delivery id: the event's log position as text (`test-…` for test notifications). */
  readonly id: string
  readonly event: NotificationEvent | "test"
  readonly position: number | null
  readonly occurredAt: string
  readonly integration: { readonly id: string; readonly name: string } | null
  readonly job: JobSummary | null
  readonly circuit: CircuitSummary | null
  /** integration.recovered: how many finished jobs in a row had failed before this success. */
  readonly failedJobsBefore: number | null
  /** One line for humans (the Slack format sends only this). */
  readonly message: string
}

/** Consecutive failed jobs per integration (absent = its last finished job did not fail). */
export interface WatchState {
  readonly failures: Readonly<Record<string, number>>
}

export const emptyWatchState: WatchState = { failures: {} }

/** The log event types the mapping reads; the outbox reads nothing else. */
export const WATCHED_EVENT_TYPES = ["JobFailed", "JobCompleted", "JobStopped", "CircuitOpened", "CircuitClosed"] as const

/** What a job event needs beside itself: the job right after the event, the integration's name. */
export interface EventContext {
  readonly job?: JobDoc | undefined
  readonly integrationName?: string | undefined
}

const jobLink = (jobId: string) => `/api/sync/jobs/${encodeURIComponent(jobId)}`

const summarize = (job: JobDoc, stopReason: string | null): JobSummary => ({
  id: job.id,
  type: job.type,
  status: job.status,
  trigger: job.trigger,
  attempt: job.attempt,
  error: job.error,
  retryable: job.retryable,
  stopReason,
  stats: job.stats,
  startedAt: job.startedAt,
  completedAt: job.completedAt,
  durationMs: durationOf(job),
  link: jobLink(job.id)
})

const countersText = (s: Counters) =>
  `${s.processed} processed, ${s.created} created, ${s.updated} updated, ${s.deleted} deleted, ${s.errors} errors`

const withFailures = (state: WatchState, integrationId: string, failures: number): WatchState => {
  const { [integrationId]: _, ...rest } = state.failures
  return { failures: failures > 0 ? { ...rest, [integrationId]: failures } : rest }
}

/** The notifications one log event makes (before any endpoint's filter), and the next state. */
export const notificationsOf = (
  stored: StoredEvent,
  context: EventContext,
  state: WatchState
): { readonly notifications: ReadonlyArray<Notification>; readonly state: WatchState } => {
  const event = stored.payload
  const base = { id: String(stored.position), position: stored.position, occurredAt: event.at }
  const nothing = { notifications: [], state }

  if (event._tag === "CircuitOpened" || event._tag === "CircuitClosed") {
    const integration = { id: event.integrationId, name: context.integrationName ?? event.integrationId }
    const opened = event._tag === "CircuitOpened"
    return {
      state,
      notifications: [{
        ...base,
        event: opened ? "circuit.opened" : "circuit.closed",
        integration,
        job: null,
        failedJobsBefore: null,
        circuit: opened
          ? {
            state: "open",
            consecutiveFailures: event.consecutiveFailures,
            reason: event.reason,
            probeAt: event.probeAt,
            cooldownSeconds: event.cooldownSeconds
          }
          : { state: "closed", consecutiveFailures: null, reason: null, probeAt: null, cooldownSeconds: null },
        message: opened
          ? `Circuit opened for ${integration.name} after ${event.consecutiveFailures} failed jobs in a row; ` +
            `next probe at ${event.probeAt}. Last error: ${event.reason}`
          : `Circuit closed for ${integration.name}: scheduled syncs run again`
      }]
    }
  }

  if (event._tag !== "JobFailed" && event._tag !== "JobCompleted" && event._tag !== "JobStopped") return nothing
  const job = context.job
  if (job === undefined) return nothing
  const integration = { id: job.integrationId, name: context.integrationName ?? job.integrationId }
  const what = `Job ${job.id} (${job.type}) of ${integration.name}`
  const common = { ...base, integration, circuit: null, failedJobsBefore: null }

  switch (event._tag) {
    case "JobFailed": {
      const failures = (state.failures[job.integrationId] ?? 0) + 1
      return {
        state: withFailures(state, job.integrationId, failures),
        notifications: [{
          ...common,
          event: "job.failed",
          job: summarize(job, null),
          message: `${what} failed (attempt ${job.attempt}): ${event.error}`
        }]
      }
    }
    case "JobStopped":
      return {
        state,
        notifications: [{
          ...common,
          event: "job.stopped",
          job: summarize(job, event.reason),
          message: `${what} stopped: ${event.reason}`
        }]
      }
    case "JobCompleted": {
      const summary = summarize(job, null)
      const failedBefore = state.failures[job.integrationId] ?? 0
      const completed: Notification = {
        ...common,
        event: "job.completed",
        job: summary,
        message: `${what} completed: ${countersText(job.stats)}`
      }
      if (failedBefore === 0) return { state, notifications: [completed] }
      const recovered: Notification = {
        ...common,
        event: "integration.recovered",
        job: summary,
        failedJobsBefore: failedBefore,
        message: `${integration.name} recovered: job ${job.id} (${job.type}) completed after ${failedBefore} failed job${
          failedBefore === 1 ? "" : "s"
        }`
      }
      return { state: withFailures(state, job.integrationId, 0), notifications: [completed, recovered] }
    }
  }
}

/** Whether an endpoint wants a notification: its event, and its integrations if it names any. */
export const wants = (
  endpoint: Pick<NotificationEndpointConfig, "events" | "integrationIds">,
  notification: Notification
): boolean =>
  notification.event === "test" ||
  ((endpoint.events as ReadonlyArray<string>).includes(notification.event) &&
    (endpoint.integrationIds === undefined ||
      (notification.integration !== null &&
        (endpoint.integrationIds as ReadonlyArray<string>).includes(notification.integration.id))))

export const testNotification = (endpointId: string, nowMs: number): Notification => ({
  id: `test-${nowMs}`,
  event: "test",
  position: null,
  occurredAt: isoAt(nowMs),
  integration: null,
  job: null,
  circuit: null,
  failedJobsBefore: null,
  message: `Test notification from synclog to endpoint ${endpointId}`
})
