import { Clock, Effect, Either } from "effect"
import { EngineSettings } from "../config/Settings.js"
import { ENTITY_TYPES, type EntityType } from "../domain/entities.js"
import { IntegrationNotFound, JobConflict, ValidationError } from "../domain/errors.js"
import { makeJobId } from "../domain/ids.js"
import { IN_PROGRESS_STATUSES, type JobOptions, type JobTrigger, type JobType } from "../domain/job.js"
import { decided, decideJob, STOP_ALL_STATUSES } from "../domain/jobDecider.js"
import { EventStore } from "../eventlog/EventStore.js"
import { howToEnable, type IntegrationDoc } from "../eventlog/integrationProjection.js"
import { Views } from "../eventlog/Views.js"
import { JobLog } from "./JobLog.js"
import { JobSupervisor } from "./JobSupervisor.js"
import { chooseSelection, describeSelection, namedSelectionFields } from "./selection.js"
import { isoAt, nowIso } from "../domain/time.js"

/** Options as a request states them; defaults are applied by `create`. */
export interface RequestedOptions {
  readonly force?: boolean | undefined
  readonly includeArchived?: boolean | undefined
  readonly batchSize?: number | undefined
  readonly entities?: ReadonlyArray<EntityType> | undefined
  readonly excludeEntities?: ReadonlyArray<EntityType> | undefined
  readonly projects?: ReadonlyArray<string> | undefined
  readonly excludeProjects?: ReadonlyArray<string> | undefined
}

interface CreateJob {
  readonly integrationId: string
  readonly type: JobType
  readonly options: RequestedOptions
  readonly trigger: JobTrigger
  /**
   * false: only queue it; the caller starts it afterwards (`JobSupervisor.dispatchFor`), as the
   * scheduler does once for all the jobs of its pass. Default true.
   */
  readonly dispatch?: boolean | undefined
}

export interface Created {
  readonly jobId: string
  readonly status: "queued"
  readonly estimatedDuration: number | null
  readonly type: JobType
}

const DEFAULT_BATCH_SIZE = 50

const mean = (xs: ReadonlyArray<number>) => (xs.length === 0 ? null : Math.round(xs.reduce((a, b) => a + b, 0) / xs.length))

/** Job lifecycle commands that do not need a running actor: create, delete, stop-all. */
export class Jobs extends Effect.Service<Jobs>()("synclog/Jobs", {
  effect: Effect.gen(function*() {
    const store = yield* EventStore
    const views = yield* Views
    const supervisor = yield* JobSupervisor
    const jobLog = yield* JobLog
    const engine = yield* EngineSettings

    /** The request's options over the integration's defaults (`batchSize`, `includeArchived`). */
    const normalize = (
      type: JobType,
      requested: RequestedOptions,
      integration: IntegrationDoc
    ): Effect.Effect<JobOptions, ValidationError> => {
      const selectiveOnly = namedSelectionFields(requested)
      if (type !== "selective_sync" && selectiveOnly.length > 0) {
        return Effect.fail(
          new ValidationError({
            message: `options.${selectiveOnly[0]} applies to selective_sync only; use "type": "selective_sync" to sync a subset`,
            issues: selectiveOnly.map((k) => ({ path: `options.${k}`, message: "only valid for selective_sync" }))
          })
        )
      }
      // Without fields of its own, a job of any type walks the integration's default selection.
      const { selection } = chooseSelection(requested, integration.settings)
      const excluded = new Set(selection.excludeEntities ?? [])
      const entities = (selection.entities ?? ENTITY_TYPES).filter((e) => !excluded.has(e))
      if (entities.length === 0) {
        return Effect.fail(
          new ValidationError({
            message: `The selection leaves no entity type to sync; choose among ${ENTITY_TYPES.join(", ")}`,
            issues: [{ path: "options.entities", message: "empty after excludeEntities" }]
          })
        )
      }
      return Effect.succeed({
        force: requested.force ?? false,
        includeArchived: requested.includeArchived ?? integration.settings.includeArchived ?? false,
        batchSize: requested.batchSize ?? integration.settings.batchSize ?? DEFAULT_BATCH_SIZE,
        // Keep the walk order whatever order the request listed them in.
        entities: ENTITY_TYPES.filter((e) => entities.includes(e)),
        ...(selection.projects ? { projects: selection.projects } : {}),
        ...(selection.excludeProjects ? { excludeProjects: selection.excludeProjects } : {})
      })
    }

    /** The 409s of CONTRACT.md; `force` lifts all of them. */
    const guard = (integration: IntegrationDoc, type: JobType, force: boolean, now: number) =>
      Effect.gen(function*() {
        const conflict = (error: JobConflict["error"], message: string, jobId?: string) =>
          Effect.fail(new JobConflict({ error, message, integrationId: integration.id, ...(jobId ? { jobId } : {}) }))
        if (!integration.settings.enabled) {
          return yield* conflict(
            "IntegrationDisabled",
            `Integration ${integration.id} is disabled ${howToEnable(integration)}`
          )
        }
        if (type === "incremental_sync" && !integration.hasBaseline) {
          return yield* conflict(
            "BaselineRequired",
            `Incremental sync needs a completed full sync of ${integration.id} as its baseline; start a full_sync first`
          )
        }
        if (force) return
        if (integration.circuit.state !== "closed") {
          return yield* conflict(
            "CircuitOpen",
            `The circuit breaker of ${integration.id} is open after ${integration.circuit.consecutiveFailures} failed jobs (${integration.circuit.reason ?? "see the failed jobs"}); the next probe is at ${integration.circuit.probeAt}. Send "options": {"force": true} to run anyway.`
          )
        }
        if (type === "full_sync") {
          const active = yield* views.withStatus(IN_PROGRESS_STATUSES, integration.id)
          const full = active.find((j) => j.type === "full_sync")
          if (full) {
            return yield* conflict(
              "FullSyncAlreadyActive",
              `A full sync of ${integration.id} is already ${full.status} (${full.id}); send "options": {"force": true} to queue another`,
              full.id
            )
          }
          const last = integration.lastFullSyncCompletedAt
          if (last !== null && now - Date.parse(last) < engine.minFullSyncInterval * 1000) {
            return yield* conflict(
              "FullSyncTooRecent",
              `A full sync of ${integration.id} completed at ${last}, less than minFullSyncInterval (${engine.minFullSyncInterval} s) ago; send "options": {"force": true} to run one anyway`
            )
          }
        }
      })

    /**
     * Queues a job (CONTRACT.md's checks first) and starts it if it can (on a cluster: wakes the
     * runner hosting its integration, when that is another one). Scheduled and
     * integration-start jobs skip the manual-request guards: the scheduler chose them.
     */
    const create = (input: CreateJob) =>
      Effect.gen(function*() {
        const integration = yield* views.integration(input.integrationId)
        if (integration === undefined) return yield* Effect.fail(IntegrationNotFound.of(input.integrationId))
        const options = yield* normalize(input.type, input.options, integration)
        const now = yield* Clock.currentTimeMillis
        const manual = input.trigger === "manual"
        yield* guard(integration, input.type, manual ? options.force : true, now)
        const jobId = yield* makeJobId
        const estimatedDuration = mean(integration.recentDurations[input.type])
        const queued = decideJob(
          {
            _tag: "Queue",
            jobId,
            integrationId: integration.id,
            jobType: input.type,
            options,
            trigger: input.trigger,
            estimatedDuration
          },
          undefined,
          isoAt(now)
        )
        // A fresh id has no job yet, so the decider always queues it.
        yield* store.appendJob(jobId, 0, Either.getOrThrow(queued))
        yield* jobLog.write(jobId, "info", `Queued ${input.type} of ${integration.id} (${input.trigger})`)
        const chosen = chooseSelection(input.options, integration.settings)
        if (chosen.from === "integration") {
          yield* jobLog.write(jobId, "info", `Selection from the integration's settings: ${describeSelection(chosen.selection)}`)
        }
        if (input.dispatch !== false) yield* supervisor.dispatchFor([integration.id])
        return { jobId, status: "queued", estimatedDuration, type: input.type } satisfies Created
      })

    const remove = (jobId: string, deleteLogs: boolean) =>
      Effect.gen(function*() {
        const at = yield* nowIso
        yield* store.updateJob(jobId, decided({ _tag: "Delete", jobId, deleteLogs }, at))
        if (deleteLogs) yield* jobLog.erase(jobId)
        else yield* jobLog.write(jobId, "info", "Job deleted; its events and these logs are kept for audit")
      })

    /** Stops queued and running jobs gracefully, of one integration or of all. */
    const stopAll = (integrationId?: string) =>
      Effect.gen(function*() {
        if (integrationId !== undefined && (yield* views.integration(integrationId)) === undefined) {
          return yield* Effect.fail(IntegrationNotFound.of(integrationId))
        }
        const active = yield* views.withStatus(STOP_ALL_STATUSES, integrationId)
        const stopped: Array<string> = []
        for (const job of active) {
          if (job.deleted) continue
          const result = yield* supervisor.stop(job.id, true).pipe(Effect.either)
          // A job that finished in the meantime is not stopped; anything else was.
          if (result._tag === "Right") stopped.push(job.id)
        }
        return stopped
      })

    return { create, remove, stopAll } as const
  })
}) {}
