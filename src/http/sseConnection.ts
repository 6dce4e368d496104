import { Readable } from "node:stream"
import { Cause, Effect, Exit, Runtime } from "effect"
import type { FeedBatch, FeedCursor, StoredEvent } from "../engine/liveReads.js"

/** How a feed stream turns events into SSE text: at once when it can, else as an effect. */
export interface SseRender {
  /** The messages for `events` ("" for none), or undefined when an effect must decide (a view read). */
  readonly now: (events: ReadonlyArray<StoredEvent>) => string | undefined
  readonly later: (events: ReadonlyArray<StoredEvent>) => Effect.Effect<string>
}

interface SseTexts {
  readonly heartbeat: string
  readonly overflow: (lastPosition: number) => string
}

/**
 * The global stream's body as a Node stream fed straight from the feed. The hot path (live events
 * for a client that keeps up) runs synchronously in the tailer's hand-over: take the follower's
 * buffer, render (each event is serialised once for every client), push, with no fiber, queue
 * or stream stage per client and event; a thousand clients cost a thousand such calls per event.
 * Effects run only to read the log (the start, or a hole) or a view, one at a time. Node's own
 * back-pressure stops the pushing when the socket is full; the feed then cuts the client off
 * once its buffer is full, and the stream ends with the overflow message.
 */
export const sseReadable = (
  cursor: FeedCursor,
  render: SseRender,
  texts: SseTexts,
  runtime: Runtime.Runtime<never>,
  close: Effect.Effect<void>
): Readable => {
  let wanting = false
  let busy = false
  let done = false
  const readable = new Readable({
    read() {
      wanting = true
      pump()
    },
    destroy(error, callback) {
      done = true
      Runtime.runFork(runtime)(close)
      callback(error)
    }
  })
  const push = (text: string) => {
    if (text !== "" && !done) wanting = readable.push(text)
  }
  const fail = (cause: Cause.Cause<unknown>) => {
    done = true
    readable.destroy(new Error(Cause.pretty(cause)))
  }
  /** Runs an effect that yields text, then goes on pumping. */
  const later = (effect: Effect.Effect<void>) => {
    busy = true
    Runtime.runFork(runtime)(effect).addObserver((exit) => {
      busy = false
      if (Exit.isFailure(exit)) return fail(exit.cause)
      pump()
    })
  }
  /** Sends a batch; an effect when its text needs one (it is then sent by that effect, in order). */
  const send = (batch: FeedBatch): Effect.Effect<void> | undefined => {
    if (batch.overflow !== null) {
      push(texts.overflow(batch.overflow))
      done = true
      readable.push(null)
      return undefined
    }
    const text = render.now(batch.events)
    if (text !== undefined) {
      push(text)
      return undefined
    }
    return Effect.map(render.later(batch.events), push)
  }
  const pump = () => {
    while (wanting && !busy && !done) {
      const batch = cursor.takeLive()
      if (batch === undefined) {
        return later(Effect.flatMap(cursor.step, (b) => (b === null ? undefined : send(b)) ?? Effect.void))
      }
      if (batch === null) {
        if (cursor.takePoke()) push(texts.heartbeat)
        return
      }
      const pending = send(batch)
      if (pending !== undefined) return later(pending)
    }
  }
  cursor.onWake(pump)
  // The first heartbeat at once: the headers and a first byte go out before any event.
  push(texts.heartbeat)
  return readable
}
