import { FiberRef, Schema } from "effect"

/**
 * The run a fiber appends for: a job actor's run sets it (the job id and the run number its
 * `JobStarted` gave it), and `EventStore.updateJob` refuses that job's events once the job's
 * stream has moved on to another run, or the job is not live any more (a run only appends to a
 * running or stopping job). On a cluster, a runner that lost its shard without
 * knowing it (paused, cut off) may still be running a job that another runner took over: the
 * takeover appended `JobResumed` and a new `JobStarted` first, so the late batch fails inside
 * its transaction and its mirror writes roll back with it.
 */
export const CurrentRun = FiberRef.unsafeMake<{ readonly jobId: string; readonly run: number } | null>(null)

/** The job's stream moved on to another run: this run's work is not committed (a defect the run catches). */
export class RunSuperseded extends Schema.TaggedError<RunSuperseded>()("RunSuperseded", {
  jobId: Schema.String,
  run: Schema.Number,
  currentRun: Schema.Number
}) {}

export const isRunSuperseded = (defect: unknown): defect is RunSuperseded => defect instanceof RunSuperseded
