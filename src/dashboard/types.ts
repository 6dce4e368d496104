/** The API's shapes the page reads (see src/http/Api.ts, the contract). */
import type { Counters, LogLine, MirroredRecord } from "../domain/apiShapes.js"

export type { Counters, LogLine }
export type MirrorRecord = MirroredRecord

export interface Job {
  readonly id: string
  readonly integrationId: string
  readonly type: string
  readonly status: string
  readonly progress: number
  readonly stage?: string
  readonly trigger: string
  readonly attempt: number
  readonly createdAt: string
  readonly startedAt?: string
  readonly completedAt?: string
  readonly duration?: number
  readonly estimatedCompletion?: string
  readonly estimatedDuration: number | null
  readonly stats: Counters
  readonly result?: Counters
  readonly error?: string
  readonly options: Record<string, unknown>
}

export interface JobDetail extends Job {
  readonly logs: ReadonlyArray<LogLine>
}

export interface Integration {
  readonly integrationId: string
  readonly name: string
  readonly type: string
  readonly status: "active" | "stopped" | "circuit_open" | "disabled"
  readonly lastSync: string | null
  readonly lastSuccessfulSync: string | null
  readonly nextSync: string | null
  readonly syncInterval: number
  readonly fullSyncInterval: number | null
  readonly currentJob: { readonly id: string; readonly status: string; readonly progress: number } | null
  readonly stats: { readonly totalJobs: number; readonly successRate: number | null; readonly averageDuration: number | null }
  readonly circuitBreaker: {
    readonly state: "closed" | "open" | "half_open"
    readonly consecutiveFailures: number
    readonly openedAt: string | null
    readonly nextProbeAt: string | null
    readonly reason: string | null
  }
  readonly rateLimit: {
    readonly requestsPerMinute: number
    readonly remaining: number
    readonly resetAt: string | null
    readonly blockedUntil: string | null
  } | null
}

export const JOB_STATUSES = ["queued", "running", "paused", "stopping", "stopped", "completed", "failed"] as const
export const JOB_TYPES = ["full_sync", "incremental_sync", "selective_sync"] as const
export const ENTITY_TYPES = ["projects", "states", "labels", "cycles", "modules", "work_items"] as const
export const TERMINAL = new Set(["completed", "failed", "stopped"])

/** A view renders into its root and returns what to close when the page leaves it. */
export type View = (root: HTMLElement, params: URLSearchParams, arg?: string) => () => void

export type Schedule = { readonly every: number } | { readonly cron: string; readonly timezone: string }

/** `GET /api/sync/integrations`: an integration's settings (never a key). */
export interface IntegrationSettings {
  readonly id: string
  readonly source: "config" | "api"
  readonly name: string
  readonly baseUrl: string
  readonly workspaceSlug: string
  readonly apiKeyEnv: string | null
  readonly syncInterval: number | null
  readonly enabled: boolean
  readonly schedule?: Schedule
  readonly syncWindow?: { readonly start: string; readonly end: string; readonly timezone: string }
  readonly credential: { readonly fingerprint: string; readonly updatedAt: string } | null
}

/** `GET /api/sync/notifications`: a webhook endpoint and its delivery state. */
export interface NotificationEndpoint {
  readonly id: string
  readonly url: string
  readonly events: ReadonlyArray<string>
  readonly format: string
  readonly signed: boolean
  readonly state: {
    readonly pending: number
    readonly lastSuccessAt: string | null
    readonly lastErrorAt: string | null
    readonly lastError: string | null
    readonly givenUp: number
  }
}
