import type { RateBudget } from "../connectors/RateLimiter.js"
import { isLive, isTerminal } from "../domain/job.js"
import { fullScheduleOf } from "../domain/schedules.js"
import { nextSyncAt } from "../engine/Scheduler.js"
import { effectiveInterval, effectiveSchedule, type IntegrationDoc } from "../eventlog/integrationProjection.js"
import { durationOf, type JobDoc } from "../eventlog/jobProjection.js"
import type { IntegrationStatusView, JobView } from "./Api.js"
import { isoAt } from "../domain/time.js"

/** The job as the API shows it: fields that do not apply are left out (CONTRACT.md). */
export const presentJob = (doc: JobDoc): JobView => {
  const duration = durationOf(doc)
  const live = isLive(doc.status)
  return {
    id: doc.id,
    integrationId: doc.integrationId,
    type: doc.type,
    status: doc.status,
    progress: doc.progress,
    ...(live && doc.stage !== null ? { stage: doc.stage } : {}),
    trigger: doc.trigger,
    attempt: doc.attempt,
    createdAt: doc.createdAt,
    ...(doc.startedAt !== null ? { startedAt: doc.startedAt } : {}),
    ...(doc.completedAt !== null ? { completedAt: doc.completedAt } : {}),
    ...(duration !== null ? { duration } : {}),
    ...(live && doc.estimatedCompletion !== null ? { estimatedCompletion: doc.estimatedCompletion } : {}),
    estimatedDuration: doc.estimatedDuration,
    stats: doc.stats,
    ...(isTerminal(doc.status) ? { result: doc.stats } : {}),
    ...(doc.status === "failed" && doc.error !== null ? { error: doc.error } : {}),
    ...(doc.status === "paused" && doc.pauseReason !== null ? { pauseReason: doc.pauseReason } : {}),
    options: doc.options
  }
}


export const presentIntegration = (
  doc: IntegrationDoc,
  current: JobDoc | undefined,
  budget: RateBudget | null
): IntegrationStatusView => {
  const finished = doc.stats.completed + doc.stats.failed
  const status = !doc.settings.enabled
    ? "disabled"
    : doc.circuit.state !== "closed"
    ? "circuit_open"
    : doc.active
    ? "active"
    : "stopped"
  // The next run or circuit probe, moved to the sync window's start when it falls outside it.
  const next = nextSyncAt(doc)
  const nextSync = next === null ? null : isoAt(next)
  return {
    integrationId: doc.id,
    name: doc.settings.name,
    type: doc.settings.connector,
    status,
    lastSync: doc.lastSync,
    lastSuccessfulSync: doc.lastSuccessfulSync,
    nextSync,
    syncInterval: effectiveInterval(doc),
    fullSyncInterval: doc.settings.fullSyncInterval,
    schedule: effectiveSchedule(doc),
    fullSyncSchedule: fullScheduleOf(doc.settings),
    syncWindow: doc.settings.syncWindow ?? null,
    currentJob: current ? { id: current.id, status: current.status, progress: current.progress } : null,
    stats: {
      totalJobs: doc.stats.totalJobs,
      successRate: finished === 0 ? null : Math.round((doc.stats.completed / finished) * 10_000) / 10_000,
      averageDuration: doc.stats.completed === 0 ? null : Math.round(doc.stats.completedDurationMs / doc.stats.completed)
    },
    circuitBreaker: {
      state: doc.circuit.state,
      consecutiveFailures: doc.circuit.consecutiveFailures,
      openedAt: doc.circuit.openedAt,
      nextProbeAt: doc.circuit.state === "open" ? doc.circuit.probeAt : null,
      reason: doc.circuit.reason
    },
    rateLimit: budget === null
      ? null
      : { requestsPerMinute: budget.limit, remaining: budget.remaining, resetAt: budget.resetAt, blockedUntil: budget.blockedUntil }
  }
}
