import { Effect, Either } from "effect"
import { decidedOrNothing, decideJob, type JobCommand } from "../domain/jobDecider.js"
import { nowIso } from "../domain/time.js"
import type { EventStore } from "../eventlog/EventStore.js"
import type { Views } from "../eventlog/Views.js"
import type { JobLog } from "./JobLog.js"

/**
 * At start-up, before any job is dispatched: settle what a crash or a shutdown left behind
 * (the job decider's `Recover`). A job that was running is queued again from its checkpoint, or
 * stopped or paused when that was requested before the restart; each says so in its log.
 */
export const recoverInterrupted = (store: EventStore, views: Views, jobLog: JobLog) =>
  Effect.gen(function*() {
    const at = yield* nowIso
    for (const job of yield* views.withStatus(["running", "stopping", "paused"])) {
      const command: JobCommand = { _tag: "Recover", jobId: job.id }
      // Most paused jobs wait for a resume: the view tells them apart without a transaction.
      if (Either.isLeft(decideJob(command, job, at))) continue
      const [, events] = yield* store.updateJob(job.id, decidedOrNothing(command, at))
      const event = events[0]
      if (event === undefined) continue
      const where = job.checkpoint
        ? `${job.checkpoint.stage}, page ${job.checkpoint.position.page + 1}`
        : "its start"
      if (event._tag === "JobStopped") {
        yield* jobLog.write(job.id, "info", "Stopped: its stop was requested before the server restarted")
      } else if (event._tag === "JobPaused") {
        yield* jobLog.write(job.id, "info", "Paused: its pause was requested before the server restarted")
      } else if (event._tag === "JobResumed" && event.reason === "recovery") {
        yield* jobLog.write(
          job.id,
          "warn",
          `The server stopped while this job was running (crash or kill): resuming from its last checkpoint (${where})`
        )
      } else {
        yield* jobLog.write(job.id, "info", `Resuming after the server restart from its checkpoint (${where})`)
      }
    }
  })
