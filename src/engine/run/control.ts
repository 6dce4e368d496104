import { Cause, Data, Deferred, Effect, Exit, Fiber, FiberSet, Option, type Scope } from "effect"
import type { PauseReason } from "../../domain/job.js"

/** What a running job is asked to do at its next batch boundary. */
export type RunCommand =
  | {
    readonly _tag: "Pause"
    readonly reason: PauseReason
    /** Cluster: a shutdown-like pause because the job's integration moved to another runner. */
    readonly handOver?: boolean
  }
  | { readonly _tag: "Stop" }

/**
 * The run ends on a command at a batch boundary. Not a failure: JobRunner honours the command
 * and the last committed batch is the checkpoint. It is an error only so that it leaves every
 * step of the run (walks, sweep, requests) without each of them knowing about commands.
 */
export class Interrupted extends Data.TaggedError("Interrupted")<{ readonly command: RunCommand }> {}

/**
 * How the supervisor steers one run; made in the actor's scope, so all of it ends with the run.
 *
 * A run takes one command: the first, since it ends the run. So the channel is a `Deferred`
 * rather than a queue: completed once (a second command is dropped here; it is in the job's log
 * already, and the job decider reconciles the two when the run halts: a stop after a pause
 * stops), awaited by the requests still waiting to be sent (they end at once), and polled by the
 * run between batches, so a page in flight is committed whole or abandoned whole.
 */
export interface RunControl {
  /** The first command sent to the run. */
  readonly command: Deferred.Deferred<RunCommand>
  /** Done when the grace period of a command ran out: the batch in flight is abandoned. */
  readonly graceExpired: Deferred.Deferred<void>
  /** The run's requests to the source, one fiber each; interrupted when the grace period runs out. */
  readonly requests: FiberSet.FiberSet<unknown, unknown>
  /** Where grace timers run: they end with the run. */
  readonly scope: Scope.Scope
}

export const makeRunControl: Effect.Effect<RunControl, never, Scope.Scope> = Effect.gen(function*() {
  return {
    command: yield* Deferred.make<RunCommand>(),
    graceExpired: yield* Deferred.make<void>(),
    requests: yield* FiberSet.make(),
    scope: yield* Effect.scope
  }
})

/** After a graceful command's grace period: abandon the requests in flight, refuse new ones. */
const expireGrace = (control: RunControl) =>
  Effect.zipRight(Deferred.succeed(control.graceExpired, undefined), FiberSet.clear(control.requests))

/**
 * Asks the run to end at its next batch boundary; the batch in flight has `graceMillis` to
 * commit. Every command starts its own timer, so the earliest deadline stands: a later command
 * never extends the grace period, a shorter one (a shutdown's) cuts it short.
 */
export const ask = (control: RunControl, command: RunCommand, graceMillis: number) =>
  Effect.zipRight(
    Deferred.succeed(control.command, command),
    Effect.forkIn(Effect.zipRight(Effect.sleep(graceMillis), expireGrace(control)), control.scope)
  ).pipe(Effect.asVoid)

/** The command, if one arrived: a poll (the run checks once per batch, without a fiber). */
export const received = (control: RunControl): Effect.Effect<RunCommand | undefined> =>
  Effect.flatMap(
    Deferred.poll(control.command),
    Option.match({ onNone: () => Effect.succeed(undefined), onSome: (command) => command })
  )

/**
 * A request ended by the run's control ends the run with the command. Without one it can only
 * be an immediate stop interrupting the whole run, which appends its own `JobStopped`.
 */
const interrupted = (control: RunControl) =>
  Effect.flatMap(received(control), (command) => Effect.fail(new Interrupted({ command: command ?? { _tag: "Stop" } })))

/** Sends a request in its own fiber (refused once the grace period of a command ran out). */
export const fork = <A, E>(control: RunControl, request: Effect.Effect<A, E>): Effect.Effect<Fiber.RuntimeFiber<A, E>, Interrupted> =>
  Effect.flatMap(
    Deferred.isDone(control.graceExpired),
    (expired) => expired ? interrupted(control) : FiberSet.run(control.requests, request)
  )

/** A request's answer, or `Interrupted` with the command when the grace period ended it. */
export const join = <A, E>(control: RunControl, fiber: Fiber.RuntimeFiber<A, E>): Effect.Effect<A, E | Interrupted> =>
  Effect.flatMap(
    Fiber.await(fiber),
    (exit): Effect.Effect<A, E | Interrupted> =>
      Exit.isFailure(exit) && Cause.isInterruptedOnly(exit.cause) ? interrupted(control) : exit
  )
