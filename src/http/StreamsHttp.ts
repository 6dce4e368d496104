import { HttpApiBuilder, HttpServerResponse } from "@effect/platform"
import { NodeHttpServerRequest } from "@effect/platform-node"
import { Chunk, Context, Effect, Stream } from "effect"
import { JobNotFound, ValidationError } from "../domain/errors.js"
import { IntegrationEvent, JobEvent, jobStream, SystemInitialized } from "../domain/events.js"
import { TERMINAL_STATUSES } from "../domain/job.js"
import { JobWaits } from "../engine/JobWaits.js"
import { DEFAULT_FOLLOWER_BUFFER } from "../eventlog/EventFeed.js"
import { EventFeed, EventStore, type FeedCursor, type FeedItem, type StoredEvent, Views } from "../engine/liveReads.js"
import { SyncApi } from "./Api.js"
import { presentJob } from "../engine/presenters.js"
import { pumpSse, type SseRender } from "./sseConnection.js"
import { SseWriters } from "./sseWriters.js"
import { isoAt } from "../domain/time.js"

export const HEARTBEAT_SECONDS = 15

/**
 * How many events a follower of `/api/sync/stream` may fall behind the log before it is cut off
 * with an `overflow` message (SYNC_STREAM_BUFFER); it then resumes with Last-Event-ID.
 */
export class StreamBuffer extends Context.Reference<StreamBuffer>()("synclog/StreamBuffer", {
  defaultValue: (): number => DEFAULT_FOLLOWER_BUFFER
}) {}

const EVENT_TYPES: ReadonlyArray<string> = [...JobEvent.members, ...IntegrationEvent.members, SystemInitialized]
  .map((m) => m.identifier)

const TERMINAL_EVENTS = new Set(["JobCompleted", "JobFailed", "JobStopped"])

/** The same shape as one entry of `GET /api/sync/jobs/:jobId/events`, plus the stream id. */
const wire = (e: StoredEvent) => ({
  position: e.position,
  streamId: e.streamId,
  version: e.version,
  type: e.type,
  schemaVersion: e.schemaVersion,
  recordedAt: e.recordedAt,
  data: e.payload
})

/** Every follower gets the same event object from the feed: serialise it once for all of them. */
const serialised = new WeakMap<StoredEvent, string>()

export const sseEvent = (e: StoredEvent) => {
  let text = serialised.get(e)
  if (text === undefined) {
    text = `id: ${e.position}\nevent: ${e.type}\ndata: ${JSON.stringify(wire(e))}\n\n`
    serialised.set(e, text)
  }
  return text
}

/**
 * The messages of a page of events, for clients that want every event: the last page's text is
 * kept, so the thousand unfiltered followers handed the same page get the same string (and
 * `sseConnection` then the same framed bytes) instead of building and comparing a copy each.
 */
let lastPage: { readonly first: StoredEvent; readonly last: StoredEvent; readonly length: number; readonly text: string } | undefined
const sseEvents = (events: ReadonlyArray<StoredEvent>): string => {
  if (events.length === 0) return ""
  if (events.length === 1) return sseEvent(events[0]!)
  const first = events[0]!
  const last = events[events.length - 1]!
  // A batch is in log order without repeats: the same first and last event and length are the same page.
  if (lastPage !== undefined && lastPage.first === first && lastPage.last === last && lastPage.length === events.length) {
    return lastPage.text
  }
  let text = ""
  for (const e of events) text += sseEvent(e)
  lastPage = { first, last, length: events.length, text }
  return text
}

const sseOverflow = (lastPosition: number) =>
  `event: overflow\ndata: ${
    JSON.stringify({
      lastEventId: lastPosition,
      message: `This client fell too far behind the live feed and is disconnected; reconnect with Last-Event-ID: ${lastPosition} to continue without a gap`
    })
  }\n\n`

const HEARTBEAT = ": heartbeat\n\n"
const heartbeat = Stream.tick(`${HEARTBEAT_SECONDS} seconds`).pipe(Stream.as(HEARTBEAT))
const SSE_TEXTS = { heartbeat: HEARTBEAT, overflow: (lastPosition: number) => sseOverflow(lastPosition) }

/**
 * One timer for every feed stream: each HEARTBEAT_SECONDS it pokes every open cursor, and a
 * cursor with nothing to send then sends a heartbeat comment (no timer per client or per wait).
 */
export const makeHeartbeats = Effect.gen(function*() {
  const cursors = new Set<FeedCursor>()
  yield* Effect.sleep(`${HEARTBEAT_SECONDS} seconds`).pipe(
    Effect.zipRight(Effect.sync(() => cursors.forEach((c) => c.poke()))),
    Effect.forever,
    Effect.forkScoped
  )
  /** Pokes `cursor` with the others until the returned effect removes it. */
  const add = (cursor: FeedCursor) => {
    cursors.add(cursor)
    return Effect.sync(() => void cursors.delete(cursor))
  }
  return { add } as const
})

/** The feed's messages with heartbeats between them; ends with the feed (the one-job stream). */
export const sseBody = (body: Stream.Stream<string>) => Stream.merge(body, heartbeat, { haltStrategy: "left" })

const SSE_HEADERS = {
  contentType: "text/event-stream",
  headers: { "cache-control": "no-cache", "x-accel-buffering": "no" }
}
const SSE_NODE_HEADERS = { "content-type": "text/event-stream", ...SSE_HEADERS.headers }

const sseResponse = (body: Stream.Stream<string>) =>
  HttpServerResponse.stream(
    // The heartbeat's first tick also sends the headers at once.
    // What a follower has queued goes out as one write, not one per message.
    sseBody(body).pipe(Stream.mapChunks((c) => (Chunk.isEmpty(c) ? c : Chunk.of(Chunk.join(c, "")))), Stream.encodeText),
    SSE_HEADERS
  )

/** `Last-Event-ID` (a reconnecting EventSource) wins over `?after=`. */
const startAfter = (header: string | undefined, after: number | undefined) => {
  if (header !== undefined && header.trim() !== "") {
    const n = Number(header)
    if (!Number.isSafeInteger(n) || n < 0) {
      return Effect.fail(new ValidationError({ message: `Last-Event-ID must be a log position (a whole number), got '${header}'` }))
    }
    return Effect.succeed(n as number | undefined)
  }
  return Effect.succeed(after)
}

export const StreamsHttpLive = HttpApiBuilder.group(SyncApi, "streams", (handlers) =>
  Effect.gen(function*() {
    const feed = yield* EventFeed
    const store = yield* EventStore
    const views = yield* Views
    const waits = yield* JobWaits
    const heartbeats = yield* makeHeartbeats
    const writers = yield* SseWriters
    const followerBuffer = yield* StreamBuffer
    const runtime = yield* Effect.runtime<never>()
    // What a hand-over of new events queued for the writer goes out at once (sseWriters.ts).
    yield* Effect.acquireRelease(Effect.sync(() => feed.onDispatched(writers.flush)), (remove) => Effect.sync(remove))

    // A cache over the process's life, so bounded: forgetting a job only costs one view read.
    const integrationOfJob = new Map<string, string>()
    const remember = (jobId: string, integrationId: string) => {
      if (integrationOfJob.size >= 10_000) integrationOfJob.clear()
      integrationOfJob.set(jobId, integrationId)
    }
    /**
     * Which integration an event belongs to, when known without a read: the id, null for none
     * (system events), undefined when only its job's view can say (job events carry the job id).
     */
    const knownIntegrationOf = (e: StoredEvent): string | null | undefined => {
      const payload = e.payload as { readonly jobId?: string; readonly integrationId?: string }
      if (payload.integrationId !== undefined) {
        if (payload.jobId !== undefined) remember(payload.jobId, payload.integrationId)
        return payload.integrationId
      }
      if (payload.jobId === undefined) return null
      return integrationOfJob.get(payload.jobId)
    }
    const integrationOf = (e: StoredEvent) =>
      Effect.suspend(() => {
        const known = knownIntegrationOf(e)
        if (known !== undefined) return Effect.succeed(known ?? undefined)
        const jobId = (e.payload as { readonly jobId: string }).jobId
        return Effect.map(views.jobIncludingDeleted(jobId).pipe(Effect.orDie), (doc) => {
          if (doc !== undefined) remember(jobId, doc.integrationId)
          return doc?.integrationId
        })
      })

    const progressOf = (jobId: string) =>
      Effect.map(views.jobIncludingDeleted(jobId).pipe(Effect.orDie), (doc) => {
        if (doc === undefined) return ""
        const v = presentJob(doc) as Record<string, unknown>
        const message = {
          jobId,
          status: v.status,
          progress: v.progress,
          ...(v.stage !== undefined ? { stage: v.stage } : {}),
          stats: v.stats,
          ...(v.estimatedCompletion !== undefined ? { estimatedCompletion: v.estimatedCompletion } : {})
        }
        const wait = waits.current(jobId)
        if (wait !== undefined) Object.assign(message, { waiting: { reason: wait.reason, until: isoAt(wait.until) } })
        return `event: progress\ndata: ${JSON.stringify(message)}\n\n`
      })

    return handlers
      .handle("events", ({ headers, request, urlParams }) =>
        Effect.gen(function*() {
          const types = urlParams.types?.split(",").map((t) => t.trim()).filter((t) => t !== "")
          const unknown = types?.filter((t) => !EVENT_TYPES.includes(t)) ?? []
          if (unknown.length > 0) {
            return yield* Effect.fail(new ValidationError({
              message: `Unknown event type(s) ${unknown.join(", ")}; valid: ${EVENT_TYPES.join(", ")}`,
              issues: [{ path: "types", message: `unknown: ${unknown.join(", ")}` }]
            }))
          }
          const after = (yield* startAfter(headers["last-event-id"], urlParams.after)) ?? (yield* feed.position)
          const typeSet = types === undefined ? undefined : new Set(types)
          const everything = typeSet === undefined && urlParams.jobId === undefined && urlParams.integrationId === undefined
          /** Whether the client wants the event; undefined while its integration is not known yet. */
          const wantedNow = (e: StoredEvent): boolean | undefined => {
            if (typeSet !== undefined && !typeSet.has(e.type)) return false
            const payload = e.payload as { readonly jobId?: string; readonly integrationId?: string }
            if (urlParams.jobId !== undefined && payload.jobId !== urlParams.jobId) return false
            if (urlParams.integrationId === undefined) return true
            const known = knownIntegrationOf(e)
            return known === undefined ? undefined : known === urlParams.integrationId
          }
          const render: SseRender = {
            now: (events) => {
              if (everything) return sseEvents(events)
              let text = ""
              for (const e of events) {
                const wanted = wantedNow(e)
                if (wanted === undefined) return undefined
                if (wanted) text += sseEvent(e)
              }
              return text
            },
            later: (events) =>
              Effect.gen(function*() {
                let text = ""
                for (const e of events) {
                  const wanted = wantedNow(e) ?? (yield* integrationOf(e)) === urlParams.integrationId
                  if (wanted) text += sseEvent(e)
                }
                return text
              })
          }
          // The connection is written here, straight to its socket, until the client goes away
          // (this fiber is then interrupted) or is cut off; the server then finds the response
          // ended and writes nothing more. The cursor is closed either way.
          yield* Effect.acquireUseRelease(
            Effect.map(feed.open(after, followerBuffer), (opened) => ({ opened, forget: heartbeats.add(opened.cursor) })),
            ({ opened }) =>
              Effect.acquireUseRelease(
                writers.open(NodeHttpServerRequest.toServerResponse(request), SSE_NODE_HEADERS),
                ({ sink }) => pumpSse(sink, opened.cursor, render, SSE_TEXTS, runtime),
                ({ release }) => release
              ),
            ({ forget, opened }) => Effect.zipRight(forget, opened.close)
          )
          return HttpServerResponse.empty()
        }))
      .handle("job", ({ headers, path, urlParams }) =>
        Effect.gen(function*() {
          const doc = yield* views.jobIncludingDeleted(path.jobId).pipe(Effect.orDie)
          if (doc === undefined) return yield* Effect.fail(JobNotFound.of(path.jobId))
          const after = (yield* startAfter(headers["last-event-id"], urlParams.after)) ?? 0
          // History from the job's own stream (cheap), then the live feed from the log position
          // read before it: nothing between the two is lost or repeated.
          const upTo = yield* feed.position
          const stream = jobStream(path.jobId)
          const history = (yield* store.readStream(stream).pipe(Effect.orDie))
            .filter((e) => e.position > after && e.position <= upTo)
          if (TERMINAL_STATUSES.includes(doc.status) && history.length === 0) {
            // Nothing more will come; 204 also tells an EventSource not to reconnect.
            return HttpServerResponse.empty({ status: 204 })
          }
          const live = feed.follow(Math.max(after, upTo)).pipe(
            Stream.filter((item) => item._tag === "Overflow" || item.event.streamId === stream)
          )
          const items = Stream.concat(
            Stream.fromIterable(history.map((event): FeedItem => ({ _tag: "Event", event }))),
            live
          ).pipe(Stream.takeUntil((item) => item._tag === "Overflow" || TERMINAL_EVENTS.has(item.event.type)))
          const events = items.pipe(
            Stream.mapEffect((item) =>
              item._tag === "Overflow"
                ? Effect.succeed(sseOverflow(item.lastPosition))
                : Effect.map(progressOf(path.jobId), (progress) => sseEvent(item.event) + progress)
            )
          )
          // A wait starts or ends between events: its progress message goes out when it does.
          const waitChanges = Stream.unwrapScoped(Effect.map(waits.changes, (q) => Stream.fromQueue(q))).pipe(
            Stream.filter((id) => id === path.jobId),
            Stream.mapEffect(() => progressOf(path.jobId))
          )
          return sseResponse(Stream.merge(events, waitChanges, { haltStrategy: "left" }))
        }))
  }))
