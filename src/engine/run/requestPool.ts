import { Clock, Deferred, Effect, Fiber } from "effect"
import { RequestObserver, type SourceError, type WaitReason } from "../../connectors/Connector.js"
import { EstimateChanged } from "../../domain/events.js"
import { LONG_WAIT_MS } from "../JobWaits.js"
import { log, type RunContext } from "./context.js"
import { fork, type Interrupted, join } from "./control.js"
import { isoAt, nowIso } from "../../domain/time.js"

/**
 * The run's requests to the source. Each runs in its own fiber, in the run control's
 * `requests` FiberSet, so that an expired grace period can interrupt it; `settle` turns that
 * interruption into the command (run/control.ts). The observer logs and shows the request's
 * waits, and ends a wait at once on a command (nothing was sent, so nothing is lost).
 */
export interface RequestPool {
  /** Sends a request in its own fiber (refused once the grace period of a command expired). */
  readonly start: <A>(effect: Effect.Effect<A, SourceError>) => Effect.Effect<Fiber.RuntimeFiber<A, SourceError>, Interrupted>
  /** Its answer, or the command when the request was interrupted. */
  readonly settle: <A>(fiber: Fiber.RuntimeFiber<A, SourceError>) => Effect.Effect<A, SourceError | Interrupted>
  /** `start` then `settle`. */
  readonly fetch: <A>(effect: Effect.Effect<A, SourceError>) => Effect.Effect<A, SourceError | Interrupted>
  /** A request whose answer is no longer wanted. */
  readonly cancel: <A>(fiber: Fiber.RuntimeFiber<A, SourceError>) => Effect.Effect<void>
}

/** Sleeps until `untilMs`, or fails the request fiber with an interruption on a command. */
const waitOrCommand = (ctx: RunContext, untilMs: number) =>
  Effect.gen(function*() {
    const now = yield* Clock.currentTimeMillis
    const commanded = yield* Effect.raceFirst(
      Effect.as(Effect.sleep(Math.max(0, untilMs - now)), false),
      Effect.as(Deferred.await(ctx.control.command), true)
    )
    // Not sent yet, so nothing to commit: end the request now (settle turns it into the command).
    if (commanded) return yield* Effect.interrupt
  })

/** What the connector reports about a request's retries and waits, in the job's log and view. */
const observerOf = (ctx: RunContext) => {
  const { jobId, state } = ctx
  const { store, waits } = ctx.services
  // A retry's backoff and this job's own 429s have their log line already (with the time).
  const logged = (reason: WaitReason, untilMs: number) =>
    reason === "backoff" || waits.has(jobId, reason) || (reason === "retry_after" && untilMs <= state.retryAfterLoggedUntil)

  return RequestObserver.of({
    retrying: (reason, attempt, delayMs, untilMs) =>
      log(
        ctx,
        "warn",
        `Request to ${ctx.plan.source.sourceName} failed (${reason}); retry ${attempt} in ${(delayMs / 1000).toFixed(1)} s, at ${isoAt(untilMs)}`
      ),
    wait: (reason, untilMs, detail) =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        if (untilMs - now <= LONG_WAIT_MS) return yield* waitOrCommand(ctx, untilMs)
        // Long enough to look like a hang: say so in the log (once for requests waiting
        // together) and show it in the job view while it lasts.
        const line = logged(reason, untilMs)
          ? undefined
          : `Waiting ${Math.ceil((untilMs - now) / 1000)} s, until ${isoAt(untilMs)}: ${detail}`
        if (reason === "retry_after") state.retryAfterLoggedUntil = Math.max(state.retryAfterLoggedUntil, untilMs)
        yield* waits.during(
          jobId,
          { reason, until: untilMs },
          Effect.zipRight(line ? log(ctx, "info", line) : Effect.void, waitOrCommand(ctx, untilMs))
        )
      }),
    throttled: (waitMs, reason, untilMs) =>
      Effect.gen(function*() {
        state.retryAfterLoggedUntil = Math.max(state.retryAfterLoggedUntil, untilMs)
        yield* log(ctx, "warn", `Rate limited: ${reason}`)
        const at = yield* nowIso
        const [next] = yield* store.updateJob(jobId, (d) => {
          if (!d || d.status !== "running" || d.estimatedCompletion === null) return Effect.succeed([[], undefined] as const)
          const moved = new Date(Date.parse(d.estimatedCompletion) + waitMs).toISOString()
          return Effect.succeed(
            [[new EstimateChanged({ jobId, estimatedCompletion: moved, reason: "rate limited", at })], undefined] as const
          )
        }).pipe(Effect.orDie)
        if (next) state.doc = next
      }),
    pageSizeLimited: (accepted, reason) =>
      log(
        ctx,
        "warn",
        `${reason}; reading pages of ${accepted} records from now on (checkpoints and counters keep batches of ${ctx.perPage})`
      )
  })
}

export const makeRequestPool = (ctx: RunContext): RequestPool => {
  const { control } = ctx
  const observer = observerOf(ctx)
  const start = <A>(effect: Effect.Effect<A, SourceError>) =>
    fork(control, Effect.provideService(effect, RequestObserver, observer))
  const settle = <A>(fiber: Fiber.RuntimeFiber<A, SourceError>) => join(control, fiber)
  const fetch = <A>(effect: Effect.Effect<A, SourceError>) => Effect.flatMap(start(effect), settle)
  // Interrupted fibers leave the FiberSet by themselves.
  const cancel = <A>(fiber: Fiber.RuntimeFiber<A, SourceError>) => Fiber.interrupt(fiber).pipe(Effect.asVoid)
  return { start, settle, fetch, cancel }
}
