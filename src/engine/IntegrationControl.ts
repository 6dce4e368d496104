import { Clock, Effect } from "effect"
import { MAX_INTERVAL, MIN_INTERVAL } from "../config/ConfigFile.js"
import { IntegrationNotFound, JobNotFound, ValidationError } from "../domain/errors.js"
import { SyncIntervalChanged } from "../domain/events.js"
import { decidedIntegration } from "../domain/integrationDecider.js"
import type { JobType } from "../domain/job.js"
import { EventStore } from "../eventlog/EventStore.js"
import { nextOccurrence } from "../domain/schedules.js"
import { effectiveInterval, effectiveSchedule } from "../eventlog/integrationProjection.js"
import { Views } from "../eventlog/Views.js"
import { Jobs } from "./Jobs.js"
import { Scheduler } from "./Scheduler.js"
import { isoAt } from "../domain/time.js"

interface StartResult {
  readonly integrationId: string
  readonly jobId: string | null
  readonly message: string
}

/** Integration-level commands: start and stop its schedule, change its interval. */
export class IntegrationControl extends Effect.Service<IntegrationControl>()("synclog/IntegrationControl", {
  effect: Effect.gen(function*() {
    const store = yield* EventStore
    const views = yield* Views
    const jobs = yield* Jobs
    const scheduler = yield* Scheduler


    const start = (integrationId: string, syncType: "full" | "incremental" | "selective", scheduleImmediate: boolean) =>
      Effect.gen(function*() {
        const doc = yield* views.integration(integrationId)
        if (doc === undefined) return yield* Effect.fail(IntegrationNotFound.of(integrationId))
        const now = yield* Clock.currentTimeMillis
        const nextRunAt = isoAt(nextOccurrence(effectiveSchedule(doc), now))
        const events = yield* decidedIntegration({ _tag: "Start", integrationId, nextRunAt }, doc, isoAt(now))
        if (events.length > 0) yield* store.appendIntegration(integrationId, doc.version, events)
        yield* scheduler.wake
        if (!scheduleImmediate) {
          return { integrationId, jobId: null, message: "Sync scheduled" } satisfies StartResult
        }
        // Attach to a job already in progress instead of overlapping it.
        const current = yield* views.currentJob(integrationId)
        if (current !== undefined) {
          return { integrationId, jobId: current.id, message: `Sync already in progress (${current.status})` }
        }
        let type: JobType = `${syncType}_sync`
        if (type === "incremental_sync" && !doc.hasBaseline) type = "full_sync"
        const created = yield* jobs.create({ integrationId, type, options: {}, trigger: "integration_start" })
        return {
          integrationId,
          jobId: created.jobId,
          message: type === `${syncType}_sync` ? "Sync started" : "Sync started (full sync: there is no baseline yet)"
        }
      })

    const stop = (integrationId: string) =>
      Effect.gen(function*() {
        const doc = yield* views.integration(integrationId)
        if (doc === undefined) return yield* Effect.fail(IntegrationNotFound.of(integrationId))
        const now = yield* Clock.currentTimeMillis
        const events = yield* decidedIntegration({ _tag: "Stop", integrationId }, doc, isoAt(now))
        if (events.length > 0) yield* store.appendIntegration(integrationId, doc.version, events)
        const stopped = yield* jobs.stopAll(integrationId)
        yield* scheduler.wake
        return { integrationId, activeJobsStopped: stopped.length, jobs: stopped }
      })

    /**
     * Sets the job's integration's schedule to `{every: interval}` (over a cron schedule too);
     * takes effect from the next tick. `oldInterval` is null when the schedule was a cron.
     */
    const changeInterval = (jobId: string, interval: number) =>
      Effect.gen(function*() {
        if (!Number.isInteger(interval) || interval < MIN_INTERVAL || interval > MAX_INTERVAL) {
          return yield* Effect.fail(
            new ValidationError({
              message: `interval must be whole seconds between ${MIN_INTERVAL} (30 s) and ${MAX_INTERVAL} (30 days); got ${interval}`,
              issues: [{ path: "interval", message: `expected an integer between ${MIN_INTERVAL} and ${MAX_INTERVAL}` }]
            })
          )
        }
        const job = yield* views.job(jobId)
        if (job === undefined) return yield* Effect.fail(JobNotFound.of(jobId))
        const doc = yield* views.integration(job.integrationId)
        if (doc === undefined) return yield* Effect.fail(IntegrationNotFound.of(job.integrationId))
        const now = yield* Clock.currentTimeMillis
        const oldInterval = effectiveInterval(doc)
        const base = doc.lastScheduledRunAt !== null ? Date.parse(doc.lastScheduledRunAt) : now
        const nextRun = isoAt(base + interval * 1000)
        yield* store.appendIntegration(doc.id, doc.version, [
          new SyncIntervalChanged({ integrationId: doc.id, oldInterval, newInterval: interval, nextRunAt: nextRun, at: isoAt(now) })
        ])
        yield* scheduler.wake
        return { jobId, integrationId: doc.id, oldInterval, newInterval: interval, nextRun }
      })

    return { start, stop, changeInterval } as const
  })
}) {}
