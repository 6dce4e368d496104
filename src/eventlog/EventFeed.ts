import { Chunk, Effect, Option, PubSub, type Scope, Stream } from "effect"
import { EventStore, type StoredEvent } from "./EventStore.js"

/** A follower that fell this far behind the live feed is cut off (it resumes from the log). */
export const DEFAULT_FOLLOWER_BUFFER = 10_000

/** What a follower receives: the next event, or word that it fell behind and was cut off. */
export type FeedItem =
  | { readonly _tag: "Event"; readonly event: StoredEvent }
  | { readonly _tag: "Overflow"; readonly lastPosition: number }

/** What one pull of a cursor gives: events in log order, or (no events) the position it was cut off at. */
export interface FeedBatch {
  readonly events: ReadonlyArray<StoredEvent>
  /** Set once the follower fell too far behind: the last position it was given. */
  readonly overflow: number | null
}

/** A follower's position in the feed; see `EventFeed.cursor`. */
export interface FeedCursor {
  /**
   * The next events after the cursor (from the log first, then live), waiting until there are
   * some; `null` when `poke` woke it with nothing to give (a heartbeat is due).
   */
  readonly next: Effect.Effect<FeedBatch | null>
  /**
   * Without waiting or any effect: the live events handed over since the last call, `null` when
   * there are none, or `undefined` when the cursor must read the log first (use `step`).
   */
  readonly takeLive: () => FeedBatch | null | undefined
  /** One step that may read the log; `null` when there is nothing now. */
  readonly step: Effect.Effect<FeedBatch | null>
  /** Called (synchronously, by the tailer or `poke`) whenever there may be something to take. */
  readonly onWake: (wake: () => void) => void
  /** Wakes the follower with nothing to give (a heartbeat is due); `takePoke` says whether it was. */
  readonly poke: () => void
  readonly takePoke: () => boolean
}

const PAGE = 1_000

/** One follower's live side: events handed over by the tailer and not yet pulled. */
interface Follower {
  buffer: Array<StoredEvent>
  /** Reading the log (the start, or after a gap): live events may be dropped, the log has them. */
  catchingUp: boolean
  /** The highest position dropped while catching up: the catch-up goes at least this far. */
  dropped: number
  overflow: boolean
  poked: boolean
  readonly limit: number
  readonly signal: Effect.Latch
  wake: (() => void) | undefined
}

/**
 * The event log as a live feed. What the store appended is read after it committed and handed
 * to every follower: on a SQLite file, at once in the committing fiber, through the read
 * connection (`EventStore.onCommitted`); otherwise (PostgreSQL, a memory database, appends
 * inside a larger transaction, or a failed read) by a tailer fiber, whose read waits for the
 * single SQLite connection, so it never sees a transaction that may still roll back. It reads only while someone listens, so a server nobody watches pays nothing per
 * batch.
 *
 * Followers cost little per event: the tailer appends each new page to every follower's plain
 * buffer and wakes it; a follower pulls whatever accumulated in one go (one SSE write for many
 * events), so a thousand followers cost a thousand array appends per event, not a thousand
 * fibers and queues. `cursor(after)` is exact: every event after a log position from the log,
 * then live ones, with no gap and no duplicate (by position), and bounded: a follower with
 * `buffer` events waiting is cut off (`overflow`) and resumes from its last position, without
 * ever slowing the engine or other followers.
 */
export class EventFeed extends Effect.Service<EventFeed>()("synclog/EventFeed", {
  scoped: Effect.gen(function*() {
    const store = yield* EventStore
    const pubsub = yield* PubSub.unbounded<StoredEvent>()
    const listening = yield* Effect.makeLatch(false)
    const followers = new Set<Follower>()
    let listeners = 0
    let tail = 0
    /** Listening, with `tail` set: the hand-over at commit reads from there. */
    let tailing = false

    const maxPosition = store.lastPosition

    /** Hands a page of new events to every follower; plain JS, one pass per follower. */
    const dispatch = (events: ReadonlyArray<StoredEvent>) => {
      const last = events[events.length - 1]!.position
      for (const f of followers) {
        if (f.overflow) continue
        for (const event of events) f.buffer.push(event)
        if (f.buffer.length >= f.limit) {
          // While catching up the log still holds what is dropped; after that, the follower is cut off.
          if (f.catchingUp) f.dropped = Math.max(f.dropped, last)
          else f.overflow = true
          f.buffer = []
        }
        f.signal.unsafeOpen()
        f.wake?.()
      }
    }

    /** Called after every hand-over (see `onDispatched`). */
    const dispatchedListeners = new Set<() => void>()

    /** Hands over what a read found after `tail` (one synchronous step, so never twice). */
    const handOver = (page: ReadonlyArray<StoredEvent>) => {
      const events = page.filter((event) => event.position > tail)
      if (events.length === 0) return
      tail = events[events.length - 1]!.position
      dispatch(events)
      for (const event of events) pubsub.unsafeOffer(event)
      for (const listener of dispatchedListeners) listener()
    }

    // With a read connection, new events are handed over at once in the committing fiber: a
    // sync's fiber holds the event loop for tens of ms at a time (a page's checks and writes),
    // and the tailer below would wait for it (event-loop delay p99 60-70 ms during a 100k sync).
    const readNow = store.readAfterNow
    if (readNow !== undefined) {
      /** Whether what committed was handed over (nobody listening: nothing to hand over). */
      const tailNow = (): boolean => {
        // Not before `tail` is the log's position as listening starts (else it would read the log from 0).
        if (!tailing) return true
        try {
          let page: ReadonlyArray<StoredEvent>
          do {
            page = readNow(tail, PAGE)
            handOver(page)
          } while (page.length === PAGE)
          return true
        } catch {
          // The tailer reads instead (and reports a failure that lasts).
          return false
        }
      }
      yield* Effect.acquireRelease(Effect.sync(() => store.onCommitted(tailNow)), (remove) => Effect.sync(remove))
    }

    yield* Effect.gen(function*() {
      while (true) {
        yield* listening.await
        yield* store.appended.await
        yield* store.appended.close
        const page = yield* store.readAfter(tail, PAGE)
        handOver(page)
        if (page.length === PAGE) yield* store.appended.open
      }
    }).pipe(
      Effect.catchAllCause((cause) => Effect.logError("The live event feed stopped", cause)),
      Effect.forkScoped
    )

    const startListening = Effect.suspend(() => {
      if (listeners++ > 0) return Effect.void
      return Effect.flatMap(maxPosition.pipe(Effect.orDie), (max) => {
        tail = Math.max(tail, max)
        tailing = true
        return listening.open
      })
    })
    const stopListening = Effect.suspend(() => {
      if (--listeners > 0) return Effect.void
      tailing = false
      return listening.close
    })

    /** Keeps the tailer reading while it lasts. */
    const listen: Effect.Effect<void, never, Scope.Scope> = Effect.acquireRelease(startListening, () => stopListening)

    /**
     * A cursor after `after` that lives until `close` (for consumers whose life is not a scope,
     * such as a Node stream); `cursor` is the scoped form. See the class comment.
     */
    const open = (after: number, buffer = DEFAULT_FOLLOWER_BUFFER) =>
      Effect.gen(function*() {
        const f: Follower = {
          buffer: [],
          catchingUp: true,
          dropped: 0,
          overflow: false,
          poked: false,
          limit: Math.max(1, buffer),
          signal: Effect.unsafeMakeLatch(false),
          wake: undefined
        }
        // Registered before the first read of the log: whatever is appended from here on is
        // either in that read or handed over live.
        followers.add(f)
        yield* startListening
        let position = after
        let closed = false
        const close = Effect.suspend(() => {
          if (closed) return Effect.void
          closed = true
          followers.delete(f)
          f.wake = undefined
          return stopListening
        })

        /** The live side, without effects; undefined when the log must be read first. */
        const takeLive = (): FeedBatch | null | undefined => {
          if (f.catchingUp) return undefined
          if (f.overflow) return { events: [], overflow: position }
          if (f.buffer.length === 0) return null
          const taken = f.buffer
          f.buffer = []
          let i = 0
          while (i < taken.length && taken[i]!.position <= position) i++
          if (i === taken.length) return null
          if (taken[i]!.position > position + 1) {
            // A hole between what was read and what came live: fill it from the log.
            f.catchingUp = true
            f.dropped = Math.max(f.dropped, taken[taken.length - 1]!.position)
            return undefined
          }
          const events = i === 0 ? taken : taken.slice(i)
          position = events[events.length - 1]!.position
          return { events, overflow: null }
        }

        /** One step: a batch, or null when the follower must wait. Never loses events to interruption. */
        const step: Effect.Effect<FeedBatch | null> = Effect.suspend(() => {
          const live = takeLive()
          if (live !== undefined) return Effect.succeed(live)
          return Effect.flatMap(store.readAfter(position, PAGE).pipe(Effect.orDie), (page) => {
            const events = page.filter((event) => event.position > position)
            if (events.length > 0) position = events[events.length - 1]!.position
            if (page.length < PAGE && position >= f.dropped) f.catchingUp = false
            if (events.length > 0) return Effect.succeed<FeedBatch>({ events, overflow: null })
            return step
          })
        })

        /** Waits for the tailer's word (or a poke). */
        const wait = Effect.suspend(() => {
          f.signal.unsafeClose()
          return f.buffer.length > 0 || f.overflow || f.poked ? Effect.void : f.signal.await
        })

        const takePoke = () => {
          const poked = f.poked
          f.poked = false
          return poked
        }

        const next: Effect.Effect<FeedBatch | null> = Effect.flatMap(step, (batch) => {
          if (batch !== null) return Effect.succeed(batch)
          if (takePoke()) return Effect.succeed(null)
          return Effect.zipRight(wait, next)
        })

        const poke = () => {
          f.poked = true
          f.signal.unsafeOpen()
          f.wake?.()
        }

        const onWake = (wake: () => void) => {
          f.wake = wake
        }

        const cursor: FeedCursor = { next, takeLive, step, onWake, poke, takePoke }
        return { cursor, close } as const
      })

    /** A cursor after `after` for as long as the scope lasts; see the class comment. */
    const cursor = (after: number, buffer = DEFAULT_FOLLOWER_BUFFER): Effect.Effect<FeedCursor, never, Scope.Scope> =>
      Effect.map(Effect.acquireRelease(open(after, buffer), (opened) => opened.close), (opened) => opened.cursor)

    /** Events after `after`, oldest first, then live ones, as a Stream; ends after an `Overflow`. */
    const follow = (after: number, buffer = DEFAULT_FOLLOWER_BUFFER): Stream.Stream<FeedItem> =>
      Stream.unwrapScoped(Effect.map(cursor(after, buffer), (c) => {
        let cutOff = false
        const pull = Effect.suspend(() =>
          cutOff ? Effect.fail(Option.none()) : Effect.map(c.next, (batch): Chunk.Chunk<FeedItem> => {
            if (batch === null) return Chunk.empty()
            if (batch.overflow !== null) {
              cutOff = true
              return Chunk.of({ _tag: "Overflow", lastPosition: batch.overflow })
            }
            return Chunk.fromIterable(batch.events.map((event): FeedItem => ({ _tag: "Event", event })))
          })
        )
        return Stream.repeatEffectChunkOption(pull)
      }))

    /** Every event appended from now on (for embedders; no replay, unbounded). */
    const live: Stream.Stream<StoredEvent> = Stream.unwrapScoped(
      Effect.zipRight(listen, Effect.map(PubSub.subscribe(pubsub), (q) => Stream.fromQueue(q)))
    )

    /** The log's latest position (0 when empty): where "from now on" starts. */
    const position = maxPosition.pipe(Effect.orDie)

    /**
     * Calls `listener` synchronously after each page of new events was handed to the followers
     * (their writes are queued by then): the SSE writers send them on at once. Returns its removal.
     */
    const onDispatched = (listener: () => void) => {
      dispatchedListeners.add(listener)
      return () => void dispatchedListeners.delete(listener)
    }

    return { open, cursor, follow, live, position, onDispatched } as const
  })
}) {}
