import { Context, Effect } from "effect"
import type { InvalidTransition, JobNotFound } from "../domain/errors.js"
import type { JobReply, JobRequest } from "./jobProtocol.js"

/**
 * Where an integration's job actors live. A single server hosts all of them (the default, with
 * no cluster code loaded); on a cluster of runners (src/cluster/, `SYNC_RUNNER_ADDRESS`) each
 * integration belongs to the runner that owns its shard, and a request for one of its jobs is
 * delivered to that runner through the cluster.
 */
export interface PlacementShape {
  /** This runner's address (`host:port`), or null on a single server. */
  readonly runner: string | null
  /** Whether this process hosts the integration's job actors now. */
  readonly owns: (integrationId: string) => boolean
  /**
   * Delivers a job request to the runner that owns the job's integration, which answers it
   * with its own supervisor; null on a single server (the request is handled here).
   */
  readonly deliver:
    | ((integrationId: string, jobId: string, request: JobRequest) => Effect.Effect<JobReply, InvalidTransition | JobNotFound>)
    | null
  /** Asks the integration's owner to start its queued jobs (a no-op on a single server). */
  readonly wake: (integrationId: string) => Effect.Effect<void>
  /** How many of the cluster's shards this runner holds now (0 on a single server). */
  readonly shards: Effect.Effect<number>
}

export const singleServer: PlacementShape = {
  runner: null,
  owns: () => true,
  deliver: null,
  wake: () => Effect.void,
  shards: Effect.succeed(0)
}

export class Placement extends Context.Reference<Placement>()("synclog/Placement", {
  defaultValue: () => singleServer
}) {}

/**
 * What a runner does about a job that is running, stopping or paused (adoptOrphans, cluster):
 * `adopt` a job of an integration it hosts that no actor here runs (its runner left; the job
 * decider's `Recover` then says whether it resumes, stops or stays paused), `hand-over` a run
 * here whose integration moved to another runner (it pauses at its next batch boundary, once),
 * else nothing.
 */
export const adoptionOf = (job: {
  readonly hostedHere: boolean
  readonly actorHere: boolean
  readonly handingOver: boolean
}): "adopt" | "hand-over" | "none" => {
  if (job.actorHere) return !job.hostedHere && !job.handingOver ? "hand-over" : "none"
  return job.hostedHere ? "adopt" : "none"
}
