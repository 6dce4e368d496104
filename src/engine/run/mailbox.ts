import { Deferred, Effect, Fiber, FiberId } from "effect"
import type { PauseReason } from "../../domain/job.js"

/** What a job is asked to do between batches. */
export type Command =
  | { readonly _tag: "Pause"; readonly reason: PauseReason }
  | { readonly _tag: "Stop" }

/**
 * A running job's mailbox. Commands are read between batches. When a graceful command has
 * waited `graceExpired` long enough for the batch in flight, the supervisor interrupts the
 * requests in `inflight` and the batch is abandoned (nothing of it was committed). A request
 * still waiting to be sent (budget, Retry-After, backoff) ends as soon as `commanded` is done.
 */
export interface Mailbox {
  command: Command | undefined
  graceExpired: boolean
  readonly inflight: Set<Fiber.RuntimeFiber<unknown, unknown>>
  readonly commanded: Deferred.Deferred<void>
}

export const makeMailbox = (): Mailbox => ({
  command: undefined,
  graceExpired: false,
  inflight: new Set(),
  commanded: Deferred.unsafeMake(FiberId.none)
})

/** Hands a graceful command to the job (the first one wins) and ends its requests' waits. */
export const deliver = (mailbox: Mailbox, command: Command) =>
  Effect.suspend(() => {
    mailbox.command ??= command
    return Deferred.succeed(mailbox.commanded, undefined)
  })

/** After a graceful command's grace period: abandon the requests in flight. */
export const expireGrace = (mailbox: Mailbox) =>
  Effect.suspend(() => {
    mailbox.graceExpired = true
    return Effect.forEach([...mailbox.inflight], (fiber) => Fiber.interruptFork(fiber), { discard: true })
  })

/** How a run ended. */
export type Outcome = "completed" | "paused" | "stopped" | "failed"

/** Marks the end of a run on a command; not a failure. */
export class Interrupted {
  readonly _tag = "Interrupted"
  constructor(readonly command: Command) {}
}
