/**
 * The views as the API shows them (the read models Queries answers). The shapes are the
 * contract's (http/api/): the HTTP layer checks these functions against them at compile time.
 */
import type { RateBudget } from "../connectors/RateLimiter.js"
import { isLive, isTerminal } from "../domain/job.js"
import { fullScheduleOf } from "../domain/schedules.js"
import { isoAt } from "../domain/time.js"
import { effectiveInterval, effectiveSchedule, type IntegrationDoc } from "../eventlog/integrationProjection.js"
import { durationOf, type JobDoc } from "../eventlog/jobProjection.js"
import { nextSyncAt } from "./Scheduler.js"

/** The job as the API shows it: fields that do not apply are left out (CONTRACT.md). */
export const presentJob = (doc: JobDoc) => {
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

/** An integration's status: its schedule, circuit, statistics, current job and request budget. */
export const presentIntegration = (doc: IntegrationDoc, current: JobDoc | undefined, budget: RateBudget | null) => {
  const finished = doc.stats.completed + doc.stats.failed
  const status = !doc.settings.enabled
    ? "disabled" as const
    : doc.circuit.state !== "closed"
    ? "circuit_open" as const
    : doc.active
    ? "active" as const
    : "stopped" as const
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

/** An integration's settings as the API shows them: names of variables, never a key. */
export const presentSettings = (doc: IntegrationDoc) => {
  const { connector, ...settings } = doc.settings
  return {
    id: doc.id,
    source: doc.source,
    type: connector,
    ...settings,
    credential: doc.credential,
    registeredAt: doc.registeredAt
  }
}
