import { EntityId, RunnerAddress, Sharding, ShardId, Singleton } from "@effect/cluster"
import { NodeClusterSocket } from "@effect/platform-node"
import { PgClient } from "@effect/sql-pg"
import { Duration, Effect, Layer, Option, Redacted, Schedule } from "effect"
import { JobSupervisor } from "../engine/JobSupervisor.js"
import { Placement, type PlacementShape } from "../engine/Placement.js"
import { Scheduler } from "../engine/Scheduler.js"
import { EventStore } from "../eventlog/EventStore.js"
import { Notifier } from "../notifications/Notifier.js"
import { formatRunnerAddress, RunnerAddressUnavailable, type RunnerEndpoint, runnerListenProblem } from "./address.js"
import { IntegrationEntity } from "./IntegrationEntity.js"
import { ADOPT_EVERY, ASSIGNMENT_REFRESH, FEED_POLL, SHARD_LEASE, SHARD_LEASE_REFRESH, SHARDS } from "./settings.js"

/**
 * synclog on a cluster of runners (SYNC_RUNNER_ADDRESS): loaded with `import()` only then, so
 * a single server never loads @effect/cluster. Every runner serves the whole API on the shared
 * PostgreSQL database; what is per runner is which integrations' job actors it hosts.
 */

export interface ClusterOptions {
  /** The PostgreSQL URL the runners share (the cluster's own tables live there too). */
  readonly databaseUrl: string
  /** Where other runners reach this one. */
  readonly address: RunnerEndpoint
  /** Where it listens, when that differs. */
  readonly listen?: RunnerEndpoint | undefined
}

/**
 * The cluster's sharding on its own small pool: its shard-lock and message bookkeeping must
 * not queue behind the engine's writers (whose transactions take one advisory lock).
 */
const shardingLayer = (options: ClusterOptions) =>
  NodeClusterSocket.layer({
    storage: "sql",
    shardingConfig: {
      runnerAddress: Option.some(toAddress(options.address)),
      runnerListenAddress: options.listen === undefined ? Option.none() : Option.some(toAddress(options.listen)),
      shardsPerGroup: SHARDS,
      shardLockDisableAdvisory: true,
      shardLockExpiration: SHARD_LEASE,
      shardLockRefreshInterval: SHARD_LEASE_REFRESH,
      refreshAssignmentsInterval: ASSIGNMENT_REFRESH,
      entityMessagePollInterval: Duration.seconds(1),
      runnerHealthCheckInterval: Duration.seconds(2),
      // Requests for a local integration are not serialized for nothing.
      simulateRemoteSerialization: false
    }
  }).pipe(
    Layer.provide(PgClient.layer({
      url: Redacted.make(options.databaseUrl),
      maxConnections: 4,
      applicationName: `synclog cluster pid ${process.pid}`
    })),
    // The runner's port taken, or not an address here: one line saying which and what to set
    // (the platform's error says only "Open"); anything else stays a defect.
    Layer.catchAll((e): Layer.Layer<unknown, RunnerAddressUnavailable> =>
      e._tag === "SocketServerError"
        ? Layer.fail(new RunnerAddressUnavailable({ message: runnerListenProblem(options.listen ?? options.address, e.cause) }))
        : Layer.die(e)
    )
  )

const toAddress = (endpoint: RunnerEndpoint) => RunnerAddress.make(endpoint.host, endpoint.port)

/** Where each integration lives: on the runner holding its shard. Provides Sharding too. */
export const placementLayer = (options: ClusterOptions) =>
  Layer.effect(
    Placement,
    Effect.gen(function*() {
      const sharding = yield* Sharding.Sharding
      const client = yield* IntegrationEntity.client
      const shardOf = (integrationId: string) => {
        const id = EntityId.make(integrationId)
        return sharding.getShardId(id, IntegrationEntity.getShardGroup(id))
      }
      const placement: PlacementShape = {
        runner: formatRunnerAddress(options.address),
        owns: (integrationId) => sharding.hasShardId(shardOf(integrationId)),
        deliver: (integrationId, jobId, request) =>
          client(integrationId).Deliver({ jobId, request }).pipe(
            // A full mailbox or the cluster's storage: nothing a caller can act on.
            Effect.catchTags({ MailboxFull: Effect.die, AlreadyProcessingMessage: Effect.die, PersistenceError: Effect.die })
          ),
        wake: (integrationId) =>
          client(integrationId).Wake(undefined, { discard: true }).pipe(
            Effect.catchAllCause((cause) => Effect.logDebug(`Could not wake the runner of ${integrationId}`, cause))
          ),
        shards: Effect.sync(() => {
          let n = 0
          for (let i = 1; i <= SHARDS; i++) if (sharding.hasShardId(ShardId.make("default", i))) n++
          return n
        })
      }
      return placement
    })
  ).pipe(Layer.provideMerge(shardingLayer(options)))

/**
 * The runner's part of the cluster, once the engine is built: the integration entity (a
 * request for a job reaches its owner's supervisor), the scheduler and the webhooks as
 * Singletons (one runner each at a time), the adoption of jobs whose runner left, and the feed
 * noticing other runners' appends.
 */
export const runnerLayer = Layer.mergeAll(
  IntegrationEntity.toLayer(
    Effect.gen(function*() {
      const supervisor = yield* JobSupervisor
      return IntegrationEntity.of({
        Deliver: ({ payload }) =>
          supervisor.sendHere(payload.jobId, payload.request).pipe(
            Effect.catchIf(
              (e): e is Exclude<typeof e, { readonly _tag: "InvalidTransition" | "JobNotFound" }> =>
                e._tag !== "InvalidTransition" && e._tag !== "JobNotFound",
              Effect.die
            )
          ),
        Wake: () => supervisor.dispatchHere
      })
    }),
    { concurrency: "unbounded", maxIdleTime: Duration.minutes(5) }
  ),
  Singleton.make("synclog/Scheduler", Effect.flatMap(Scheduler, (scheduler) => scheduler.run)),
  Singleton.make("synclog/Webhooks", Effect.flatMap(Notifier, (notifier) => notifier.deliver)),
  Layer.scopedDiscard(Effect.gen(function*() {
    const supervisor = yield* JobSupervisor
    const store = yield* EventStore
    yield* supervisor.adoptOrphans.pipe(
      Effect.catchAllCause((cause) => Effect.logWarning("Adopting the jobs of a runner that left failed; trying again", cause)),
      Effect.repeat(Schedule.spaced(ADOPT_EVERY)),
      Effect.forkScoped
    )
    // Another runner's append does not wake this process's live feed: look every FEED_POLL
    // (the feed reads only while someone follows it).
    yield* store.appended.open.pipe(Effect.repeat(Schedule.spaced(FEED_POLL)), Effect.forkScoped)
  }))
)
