import { Schema } from "effect"
import { InvalidTransition, JobNotFound } from "../domain/errors.js"
import { JobStatus } from "../domain/job.js"

/**
 * The job actor's protocol: the requests a job takes, addressed by its id
 * (`JobSupervisor.send(jobId, request)`), each answered with a `JobReply` or refused. The
 * supervisor's `stop`, `pause` and `resume` are thin wrappers over `send`.
 *
 * The requests are `Schema.TaggedRequest`s, serializable with their reply and refusal schemas:
 * what an `@effect/cluster` Entity keyed by job id declares (`Rpc.fromTaggedRequest`), so jobs
 * could run on a cluster without their callers changing. Which request is legal in which state
 * stays the job decider's (domain/jobDecider.ts).
 */

/** The job's status after the request, and what happened, in a sentence. */
export const JobReply = Schema.Struct({
  jobId: Schema.String,
  status: JobStatus,
  message: Schema.String
})
export type JobReply = typeof JobReply.Type

/** 409 for a request the job's status forbids, 404 for a job that does not exist. */
const Refusal = Schema.Union(InvalidTransition, JobNotFound)

/** Give a queued job its run (the dispatcher sends it when a slot is free). */
export class Start extends Schema.TaggedRequest<Start>()("Start", {
  payload: {},
  success: JobReply,
  failure: Refusal
}) {}

/** Graceful: the batch in flight commits, then the run ends; immediate: the run is interrupted. */
export class Stop extends Schema.TaggedRequest<Stop>()("Stop", {
  payload: { graceful: Schema.Boolean },
  success: JobReply,
  failure: Refusal
}) {}

/** Pause at the next batch boundary; `window`: the scheduler, at the end of a sync window. */
export class Pause extends Schema.TaggedRequest<Pause>()("Pause", {
  payload: { reason: Schema.Literal("request", "window") },
  success: JobReply,
  failure: Refusal
}) {}

/**
 * Back to the queue from the last checkpoint. `window` and `retry` come from the scheduler;
 * `note` replaces the default log line (the retry's attempt number).
 */
export class Resume extends Schema.TaggedRequest<Resume>()("Resume", {
  payload: {
    reason: Schema.Literal("request", "window", "retry"),
    note: Schema.optionalWith(Schema.String, { exact: true })
  },
  success: JobReply,
  failure: Refusal
}) {}

export type JobRequest = Start | Stop | Pause | Resume
