import { Effect } from "effect"
import type { JobType } from "../domain/job.js"
import { orDieOnStorage } from "./boundary.js"
import { Jobs, type RequestedOptions } from "./Jobs.js"
import { JobSupervisor } from "./JobSupervisor.js"

export interface CreateJobRequest {
  readonly integrationId: string
  readonly type: JobType
  readonly options: RequestedOptions
}

/**
 * The write side of the engine's front door for jobs: what a user may ask of a job. Each command
 * goes to the service that owns it (Jobs: create, delete, stop-all; the supervisor: what its
 * actor must hear), whose rule is the job decider's. Storage failures die here (boundary.ts).
 */
export class JobCommands extends Effect.Service<JobCommands>()("synclog/JobCommands", {
  effect: Effect.gen(function*() {
    const jobs = yield* Jobs
    const supervisor = yield* JobSupervisor

    /** Queues a manual job (CONTRACT.md's checks first). */
    const create = (request: CreateJobRequest) =>
      jobs.create({ ...request, trigger: "manual" }).pipe(
        Effect.map((c) => ({ jobId: c.jobId, status: c.status, estimatedDuration: c.estimatedDuration })),
        orDieOnStorage
      )

    /** Graceful: the batch in flight commits first; else the job stops at once. */
    const stop = (jobId: string, graceful: boolean) => orDieOnStorage(supervisor.stop(jobId, graceful))

    const pause = (jobId: string) => orDieOnStorage(supervisor.pause(jobId))

    /** A paused, stopped or failed job continues from its last checkpoint. */
    const resume = (jobId: string) => orDieOnStorage(supervisor.resume(jobId))

    /** Stops the queued and running jobs of one integration, or of all; answers their ids. */
    const stopAll = (integrationId: string | undefined) => orDieOnStorage(jobs.stopAll(integrationId))

    /** Deletes a job that is not in progress; its events stay, its logs unless `deleteLogs`. */
    const remove = (jobId: string, deleteLogs: boolean) => orDieOnStorage(jobs.remove(jobId, deleteLogs))

    return { create, stop, pause, resume, stopAll, remove } as const
  })
}) {}
