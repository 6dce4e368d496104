import { Entity } from "@effect/cluster"
import { Rpc } from "@effect/rpc"
import { Schema } from "effect"
import { InvalidTransition, JobNotFound } from "../domain/errors.js"
import { JobReply, Pause, Resume, Start, Stop } from "../engine/jobProtocol.js"

/**
 * The cluster's entity: one per integration (entity id = integration id), hosting that
 * integration's job actors and its request budget on the runner that owns its shard. Keyed by
 * integration rather than by job: the cluster picks a shard by hashing the entity id, so
 * keying by job would scatter an integration's jobs over runners, and two runners would then
 * share one rate-limit budget and one `maxConcurrentJobs`. A request names its job.
 */

/** A job actor's request (engine/jobProtocol.ts), for one of the integration's jobs. */
export const Deliver = Rpc.make("Deliver", {
  payload: { jobId: Schema.String, request: Schema.Union(Start, Stop, Pause, Resume) },
  success: JobReply,
  error: Schema.Union(InvalidTransition, JobNotFound)
})

/** Start the integration's queued jobs now (a job was queued through another runner). */
export const Wake = Rpc.make("Wake")

export const IntegrationEntity = Entity.make("SyncIntegration", [Deliver, Wake])
