import { Effect, Option, PubSub, Queue, type Scope, Stream } from "effect"
import { EventStore, type StoredEvent } from "./EventStore.js"

/** A follower that fell this far behind the live feed is cut off (it resumes from the log). */
export const DEFAULT_FOLLOWER_BUFFER = 10_000

/** What a follower receives: the next event, or word that it fell behind and was cut off. */
export type FeedItem =
  | { readonly _tag: "Event"; readonly event: StoredEvent }
  | { readonly _tag: "Overflow"; readonly lastPosition: number }

const PAGE = 1_000

/**
 * The event log as a live feed. A tailer fiber reads what the store appended, after it
 * committed (a read waits for the single SQLite connection, so it never sees a transaction that
 * may still roll back), and publishes it on a PubSub. It reads only while someone listens, so a
 * server nobody watches pays nothing per batch.
 *
 * `follow(after)` is the exact feed: every event after a log position from the log, then live
 * ones, with no gap and no duplicate (gaps between the log and the live feed are filled from the
 * log by position), through a bounded buffer: a follower that cannot keep up gets `Overflow` and
 * resumes from its last position, without ever slowing the engine or other followers.
 */
export class EventFeed extends Effect.Service<EventFeed>()("synclog/EventFeed", {
  scoped: Effect.gen(function*() {
    const store = yield* EventStore
    const pubsub = yield* PubSub.unbounded<StoredEvent>()
    const listening = yield* Effect.makeLatch(false)
    let listeners = 0
    let tail = 0

    const maxPosition = store.lastPosition

    yield* Effect.gen(function*() {
      while (true) {
        yield* listening.await
        yield* store.appended.await
        yield* store.appended.close
        const events = yield* store.readAfter(tail, PAGE)
        for (const event of events) {
          if (event.position <= tail) continue
          tail = event.position
          yield* PubSub.publish(pubsub, event)
        }
        if (events.length === PAGE) yield* store.appended.open
      }
    }).pipe(
      Effect.catchAllCause((cause) => Effect.logError("The live event feed stopped", cause)),
      Effect.forkScoped
    )

    /** A subscription that keeps the tailer reading while it lasts. */
    const subscribe: Effect.Effect<Queue.Dequeue<StoredEvent>, never, Scope.Scope> = Effect.acquireRelease(
      Effect.gen(function*() {
        const queue = yield* PubSub.subscribe(pubsub)
        if (listeners++ === 0) {
          tail = Math.max(tail, yield* maxPosition.pipe(Effect.orDie))
          yield* listening.open
        }
        return queue
      }),
      () =>
        Effect.suspend(() => {
          listeners--
          return listeners === 0 ? listening.close : Effect.void
        })
    )

    /** Events after `after`, oldest first, then live ones; see the class comment. */
    const follow = (after: number, buffer = DEFAULT_FOLLOWER_BUFFER): Stream.Stream<FeedItem> =>
      Stream.unwrapScoped(Effect.gen(function*() {
        const live = yield* subscribe
        const out = yield* Queue.bounded<FeedItem>(buffer + 1)
        let cursor = after

        /** Hands an event to the follower; false once it is cut off for falling behind. */
        const emit = (event: StoredEvent, wait: boolean) =>
          Effect.gen(function*() {
            if (event.position <= cursor) return true
            if (!wait && Option.getOrElse(out.unsafeSize(), () => 0) >= buffer) {
              yield* Queue.offer(out, { _tag: "Overflow", lastPosition: cursor })
              return false
            }
            cursor = event.position
            yield* Queue.offer(out, { _tag: "Event", event })
            return true
          })

        /** From the log: everything after the cursor, up to `upTo`. */
        const catchUp = (upTo: number, wait: boolean) =>
          Effect.gen(function*() {
            while (cursor < upTo) {
              const page = yield* store.readAfter(cursor, PAGE)
              for (const event of page) {
                if (event.position > upTo) return true
                if (!(yield* emit(event, wait))) return false
              }
              if (page.length < PAGE) return true
            }
            return true
          })

        // The forwarder runs ahead of the consumer, into `out`, the follower's bounded buffer.
        // The replay from the log waits for the consumer; live events never do (a follower too
        // slow for them is cut off instead), so nobody else is held back.
        yield* Effect.gen(function*() {
          yield* catchUp(Number.MAX_SAFE_INTEGER, true)
          while (true) {
            const event = yield* Queue.take(live)
            if (event.position > cursor + 1 && !(yield* catchUp(event.position - 1, false))) return
            if (!(yield* emit(event, false))) return
          }
        }).pipe(Effect.orDie, Effect.forkScoped)

        return Stream.fromQueue(out).pipe(Stream.takeUntil((item) => item._tag === "Overflow"))
      }))

    /** Every event appended from now on (for embedders; no replay, unbounded). */
    const live: Stream.Stream<StoredEvent> = Stream.unwrapScoped(Effect.map(subscribe, (q) => Stream.fromQueue(q)))

    /** The log's latest position (0 when empty): where "from now on" starts. */
    const position = maxPosition.pipe(Effect.orDie)

    return { follow, live, position } as const
  })
}) {}
