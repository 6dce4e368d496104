import { Duration } from "effect"

/**
 * The cluster's timings (decisions; see README "Cluster"). Shard locks are leases in a table
 * (not PostgreSQL advisory locks): a runner that is paused or cut off keeps its database
 * session, and with it any advisory lock, so only a lease that runs out hands its shards over.
 */
export const SHARD_LEASE = Duration.seconds(6)
/** Well under a third of the lease, as the cluster requires. */
export const SHARD_LEASE_REFRESH = Duration.millis(1_500)
/** How often a runner reads the runner list and recomputes the shards it should own. */
export const ASSIGNMENT_REFRESH = Duration.seconds(1)
/** Shards per group: integrations spread over this many; a runner owns about 1/n of them. */
export const SHARDS = 64
/** How often a runner adopts the jobs its new shards brought and starts its queued jobs. */
export const ADOPT_EVERY = Duration.seconds(1)
/** How often a runner's live feed looks for other runners' appends (only while someone listens). */
export const FEED_POLL = Duration.millis(250)
/**
 * PostgreSQL ends a transaction left idle this long (idle_in_transaction_session_timeout), so a
 * runner paused in the middle of a write transaction does not hold the writers' lock forever.
 */
export const IDLE_TRANSACTION_TIMEOUT_MS = 8_000
