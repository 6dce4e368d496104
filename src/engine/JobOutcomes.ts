import { Deferred, Effect, FiberId, PubSub, Queue } from "effect"

/** How a run ended. */
export type Outcome = "completed" | "paused" | "stopped" | "failed"

/** One run's end, published once its terminal event (or its pause) is in the log. */
export interface JobOutcome {
  readonly jobId: string
  readonly integrationId: string
  readonly outcome: Outcome
}

/** An outcome on its way, with the subscribers that still have to handle it. */
interface Delivery {
  readonly outcome: JobOutcome
  readonly waiting: Set<number>
  readonly handled: Deferred.Deferred<void>
}

/**
 * The job outcomes topic: the supervisor publishes every run's end; the circuit breaker and
 * the scheduler subscribe (and, later, live streams and webhooks), each with a scoped
 * subscription, instead of being called back through hooks.
 *
 * Delivery is acknowledged: `publish` returns once every subscriber has handled the outcome.
 * The supervisor publishes before it releases the job's slot, so what a subscriber decides (the
 * breaker opening the circuit) is in the log before the integration's next job starts and
 * before the job stops counting as running, as when the breaker was called in line. Subscribers
 * handle an outcome side by side, so one whose work depends on another's waits for `settled`
 * (the scheduler's pass, which must see the breaker's decision).
 */
export class JobOutcomes extends Effect.Service<JobOutcomes>()("synclog/JobOutcomes", {
  scoped: Effect.gen(function*() {
    const pubsub = yield* Effect.acquireRelease(PubSub.unbounded<Delivery>(), PubSub.shutdown)
    const subscribers = new Set<number>()
    const pending = new Set<Delivery>()
    // Open while no outcome waits for a subscriber.
    const idle = yield* Effect.makeLatch(true)
    let nextSubscriber = 0

    const acknowledge = (delivery: Delivery, subscriber: number) =>
      Effect.sync(() => {
        delivery.waiting.delete(subscriber)
        if (delivery.waiting.size > 0 || !pending.delete(delivery)) return
        Deferred.unsafeDone(delivery.handled, Effect.void)
        if (pending.size === 0) idle.unsafeOpen()
      })

    /** Publishes a run's end and waits until every subscriber has handled it. */
    const publish = (outcome: JobOutcome) =>
      Effect.suspend(() => {
        if (subscribers.size === 0) return Effect.void
        // Those subscribed now: each is subscribed to the PubSub already (see `subscribe`).
        const delivery: Delivery = { outcome, waiting: new Set(subscribers), handled: Deferred.unsafeMake(FiberId.none) }
        pending.add(delivery)
        idle.unsafeClose()
        return Effect.zipRight(PubSub.publish(pubsub, delivery), Deferred.await(delivery.handled))
      })

    /**
     * Runs `handler` on every outcome published from now until the scope closes. A failing
     * handler is logged and counts as handled: one subscriber's trouble never holds up a job.
     */
    const subscribe = (handler: (outcome: JobOutcome) => Effect.Effect<void>) =>
      Effect.gen(function*() {
        const id = nextSubscriber++
        const deliveries = yield* PubSub.subscribe(pubsub)
        // Counted only once subscribed, so every delivery that waits for it reaches it.
        subscribers.add(id)
        // Closing: what it will not handle any more no longer waits for it.
        yield* Effect.addFinalizer(() =>
          Effect.suspend(() => {
            subscribers.delete(id)
            return Effect.forEach([...pending], (delivery) => acknowledge(delivery, id), { discard: true })
          })
        )
        yield* Effect.forkScoped(Effect.forever(
          Effect.flatMap(Queue.take(deliveries), (delivery) =>
            handler(delivery.outcome).pipe(
              Effect.catchAllCause((cause) => Effect.logError(`A subscriber of job outcomes failed on job ${delivery.outcome.jobId}`, cause)),
              Effect.ensuring(acknowledge(delivery, id))
            ))
        ))
      })

    return {
      publish,
      subscribe,
      /** Waits until every outcome published so far has been handled by every subscriber. */
      settled: idle.await
    } as const
  })
}) {}
