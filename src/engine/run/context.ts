import type { SqlClient } from "@effect/sql"
import { Effect } from "effect"
import type { EngineConfig } from "../../config/ConfigFile.js"
import type { Connector } from "../../connectors/Connector.js"
import type { RateLimiter } from "../../connectors/RateLimiter.js"
import type { EntityType } from "../../domain/entities.js"
import type { EventStore } from "../../eventlog/EventStore.js"
import type { IntegrationDoc } from "../../eventlog/integrationProjection.js"
import type { JobDoc } from "../../eventlog/jobProjection.js"
import type { Mirror } from "../../mirror/Mirror.js"
import type { JobLog } from "../JobLog.js"
import type { JobWaits } from "../JobWaits.js"
import type { JobPlan } from "../plan.js"
import { Interrupted, received, type RunCommand, type RunControl } from "./control.js"


// The steps in run/ are plain functions returning effects, not `Effect.fn`: with `Effect.fn`
// on the page, commit and sweep steps a 100k-item full sync peaked at ~345 MB instead of
// ~230 MB (measured, `VmHWM`, same build otherwise): each call's span and captured stack were
// kept alive with what the page referenced.
/** The services a run's steps use (resolved once by the JobRunner service). */
export interface RunServices {
  readonly sql: SqlClient.SqlClient
  readonly store: EventStore
  readonly mirror: Mirror
  readonly jobLog: JobLog
  readonly engine: EngineConfig
  readonly limiter: RateLimiter
  readonly waits: JobWaits
}

/** What changes while a job runs; only the run's own fiber writes it (the request observer too). */
interface RunState {
  /** The job as of the last event this run appended (its checkpoint, counters, progress). */
  doc: JobDoc
  /** Each stage's share of the progress; computed again once the projects are known. */
  weights: ReadonlyArray<number>
  /** Until when a Retry-After wait already has its log line (requests waiting together log once). */
  retryAfterLoggedUntil: number
}

/**
 * One run of one job, passed explicitly to every step (walks, commit, sweep, request pool):
 * the services, what is fixed for the run, and its mutable `state`. Built by JobRunner.execute.
 */
export interface RunContext {
  readonly services: RunServices
  readonly jobId: string
  /** The job as the run found it (its type and options do not change while it runs). */
  readonly initial: JobDoc
  readonly integration: IntegrationDoc
  readonly connector: Connector
  /** How the supervisor steers the run: its command, grace period and requests in flight. */
  readonly control: RunControl
  readonly plan: JobPlan
  readonly perPage: number
  readonly includeArchived: boolean
  /** Rows per entity type in the mirror when the run started. */
  readonly counts: Partial<Record<EntityType, number>>
  readonly runStartedAt: number
  readonly progressAtRunStart: number
  /** When the run last committed; the stall watchdog reads it. */
  readonly lastProgress: { at: number }
  readonly state: RunState
}


export const plural = (entity: EntityType) => entity.replace("_", " ")

/**
 * Entities with no rows when this run started: every row this run writes for them is new (no
 * lookup first), and carries this job's mark, so the sweep has no candidates.
 */
export const emptyAtStart = (ctx: RunContext, entity: EntityType) => (ctx.counts[entity] ?? 0) === 0

export const log = (
  ctx: RunContext,
  level: "info" | "warn" | "error",
  message: string,
  quiet = false,
  fields?: Readonly<Record<string, unknown>>
) => ctx.services.jobLog.write(ctx.jobId, level, message, quiet, fields)

/**
 * Between batches: the command sent to the run, or one recorded in the log (a stop or a pause
 * requested before a restart is still honoured after it).
 */
export const pending = (ctx: RunContext): Effect.Effect<RunCommand | undefined> =>
  Effect.map(received(ctx.control), (command) =>
    command ??
      (ctx.state.doc.status === "stopping"
        ? { _tag: "Stop" }
        : ctx.state.doc.pauseRequested
        ? { _tag: "Pause", reason: "request" }
        : undefined))

/** Ends the run (with `Interrupted`) when a command is pending. */
export const checkCommand = (ctx: RunContext) =>
  Effect.flatMap(pending(ctx), (command) => (command ? Effect.fail(new Interrupted({ command })) : Effect.void))
