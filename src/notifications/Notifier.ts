// Long by design: the notifier's per-endpoint loop (read the log, format, deliver, retry, checkpoint) is one lifecycle; its parts are in the files beside it.
import type { HttpClient } from "@effect/platform"
import { Clock, Duration, Effect, Metric, Option, Queue, Ref, Schedule, Stream, SubscriptionRef } from "effect"
import { Secrets } from "../config/Settings.js"
import { jobStream } from "../domain/events.js"
import { JobSupervisor } from "../engine/JobSupervisor.js"
import { EventFeed } from "../eventlog/EventFeed.js"
import { EventStore, isIntegrationEvent, isJobEvent, type StoredEvent } from "../eventlog/EventStore.js"
import { evolveJob, type JobDoc } from "../eventlog/jobProjection.js"
import { Views } from "../eventlog/Views.js"
import { endpointId, maskUrl, type NotificationEndpointConfig, NotificationSettings } from "./config.js"
import * as M from "../metrics/metrics.js"
import { makeBacklogPacer } from "./backlogPacing.js"
import { deliverOnce } from "./delivery.js"
import {
  type EventContext,
  type Notification,
  notificationsOf,
  testNotification,
  wants,
  WATCHED_EVENT_TYPES,
  type WatchState
} from "./notifications.js"
import { type Checkpoint, outboxState } from "./outboxState.js"
import { deliverWithRetry, type RetryPolicy } from "./retry.js"
import { isoAt } from "../domain/time.js"

/** What `GET /api/sync/notifications` shows of an endpoint's deliveries. */
interface DeliveryState {
  /** Log position up to which this endpoint's notifications are settled. */
  readonly position: number
  /** Notifications read from the log and not yet delivered (counted up to QUEUE_CAPACITY). */
  readonly pending: number
  readonly lastSuccessAt: string | null
  readonly lastErrorAt: string | null
  readonly lastError: string | null
  /** Deliveries given up after failing for `retry.giveUpAfter`. */
  readonly givenUp: number
}

interface EndpointView {
  readonly id: string
  readonly url: string
  readonly events: ReadonlyArray<string>
  readonly integrationIds: ReadonlyArray<string> | null
  readonly format: "json" | "slack"
  readonly signed: boolean
  readonly state: DeliveryState
}

/** Notifications read ahead of the one being delivered, per endpoint. */
const QUEUE_CAPACITY = 1_000
/** Events read from the log per query. */
const PAGE = 200
/** Contexts of recent events kept for the other endpoints (cleared when full). */
const CONTEXT_CACHE = 5_000
/**
 * A run of deliveries stores its checkpoint once per this many, or when the queue runs dry, or
 * after SAVE_AFTER: one write per delivery made a draining backlog compete with syncs for the
 * database. A crash resends at most this many (at least once; receivers de-duplicate by id).
 */
const SAVE_EVERY = 100
const SAVE_AFTER_MS = 1_000
/** With nothing to send, the stored checkpoint still moves on after this many log positions. */
const ADVANCE_EVERY = 1_000
/** Looks at the log this often even without a wake-up from the live feed (a safety net). */
const POLL = Duration.seconds(5)
/** After a database error, an endpoint starts again from its stored checkpoint after this. */
const RESTART_AFTER = Duration.seconds(5)

type Item =
  | { readonly _tag: "Deliver"; readonly notification: Notification; readonly after: Checkpoint }
  | { readonly _tag: "Advance"; readonly after: Checkpoint }



/**
 * The webhook outbox. Each configured endpoint has two fibers: a reader that follows the event
 * log from the endpoint's stored checkpoint and queues the notifications it wants, and a
 * deliverer that posts them one at a time, in log order, retrying the head until it is delivered
 * or given up; only then does the checkpoint advance. Both only read the log, so a receiver
 * that is down, slow or failing never holds up a sync; after a restart delivery continues from
 * the stored checkpoint (at least once, so receivers de-duplicate by delivery id).
 */
export class Notifier extends Effect.Service<Notifier>()("synclog/Notifier", {
  scoped: Effect.gen(function*() {
    const endpoints = yield* NotificationSettings
    const store = yield* EventStore
    const views = yield* Views
    const feed = yield* EventFeed
    const outbox = yield* outboxState
    const services = yield* Effect.context<HttpClient.HttpClient | Secrets>()
    const secrets = yield* Secrets
    const pacer = makeBacklogPacer((yield* JobSupervisor).running)

    const states = new Map<string, Ref.Ref<DeliveryState>>()
    for (const endpoint of endpoints) {
      states.set(endpointId(endpoint), yield* Ref.make<DeliveryState>({
        position: 0,
        pending: 0,
        lastSuccessAt: null,
        lastErrorAt: null,
        lastError: null,
        givenUp: 0
      }))
    }

    const maxPosition = store.lastPosition

    /** The watched events after `after`, up to `upTo`, oldest first. */
    const readWatched = (after: number, upTo: number) => store.readTypesBetween(WATCHED_EVENT_TYPES, after, upTo, PAGE)

    /** The job as it was right after its `version`-th event (the view, or a fold of its stream). */
    const jobAt = (jobId: string, version: number) =>
      Effect.gen(function*() {
        const current = yield* views.jobIncludingDeleted(jobId)
        if (current === undefined || current.version === version) return current
        let doc: JobDoc | undefined
        for (const event of yield* store.readStream(jobStream(jobId))) {
          if (event.version > version) break
          if (isJobEvent(event.payload)) doc = evolveJob(doc, event.payload)
        }
        return doc
      })

    // Every endpoint reads the same events: what each one was about is read once for all of them.
    const contexts = new Map<number, EventContext>()
    const contextOf = (event: StoredEvent) =>
      Effect.suspend(() => {
        const known = contexts.get(event.position)
        if (known !== undefined) return Effect.succeed(known)
        return Effect.tap(readContext(event), (context) => {
          if (contexts.size >= CONTEXT_CACHE) contexts.clear()
          contexts.set(event.position, context)
        })
      })

    const readContext = (event: StoredEvent) =>
      Effect.gen(function*() {
        const payload = event.payload
        const job = isJobEvent(payload) ? yield* jobAt(payload.jobId, event.version) : undefined
        const integrationId = job?.integrationId ?? (isIntegrationEvent(payload) ? payload.integrationId : undefined)
        const integration = integrationId === undefined ? undefined : yield* views.integrationIncludingRemoved(integrationId)
        return { job, integrationName: integration?.settings.name } satisfies EventContext
      })

    /** Where a new endpoint starts: the log's end, remembering integrations whose last job failed. */
    const startingPoint = Effect.gen(function*() {
      const position = yield* maxPosition
      const failures: Record<string, number> = {}
      for (const doc of yield* views.integrationsIncludingRemoved) {
        if (doc.circuit.consecutiveFailures > 0) failures[doc.id] = doc.circuit.consecutiveFailures
      }
      return { position, watch: { failures } } satisfies Checkpoint
    })

    // Wake-ups: the live feed says when a watched event was appended; readers then read the log.
    const latest = yield* SubscriptionRef.make(0)
    const watched: ReadonlySet<string> = new Set(WATCHED_EVENT_TYPES)
    if (endpoints.length > 0) {
      yield* feed.live.pipe(
        Stream.filter((event) => watched.has(event.type)),
        Stream.runForEach((event) => SubscriptionRef.set(latest, event.position)),
        Effect.catchAllCause((cause) => Effect.logWarning("Webhooks lost the live event feed; polling the log", cause)),
        Effect.forkScoped
      )
    }
    const news = (after: number) =>
      latest.changes.pipe(
        Stream.filter((position) => position > after),
        Stream.take(1),
        Stream.runDrain,
        Effect.timeout(POLL),
        Effect.ignore
      )

    /** Follows the log from the checkpoint and queues what the endpoint wants, in log order. */
    const reader = (endpoint: NotificationEndpointConfig, from: Checkpoint, queue: Queue.Queue<Item>, state: Ref.Ref<DeliveryState>) =>
      Effect.gen(function*() {
        let cursor = from.position
        let watch: WatchState = from.watch
        let lastQueued = cursor
        const enqueue = (item: Item) =>
          Effect.zipRight(
            item._tag === "Deliver" ? Ref.update(state, (s) => ({ ...s, pending: s.pending + 1 })) : Effect.void,
            Effect.zipRight(Queue.offer(queue, item), Effect.sync(() => void (lastQueued = item.after.position)))
          )
        while (true) {
          const upTo = yield* maxPosition
          while (cursor < upTo) {
            const events = yield* readWatched(cursor, upTo)
            for (const event of events) {
              const mapped = notificationsOf(event, yield* contextOf(event), watch)
              const mine = mapped.notifications.filter((n) => wants(endpoint, n))
              for (const [i, notification] of mine.entries()) {
                // Only the event's last notification settles the event; a restart between two
                // resends the first (at least once).
                const after = i === mine.length - 1
                  ? { position: event.position, watch: mapped.state }
                  : { position: event.position - 1, watch }
                yield* enqueue({ _tag: "Deliver", notification, after })
              }
              watch = mapped.state
              cursor = event.position
            }
            if (events.length < PAGE) cursor = upTo
          }
          if (cursor - lastQueued >= ADVANCE_EVERY) yield* enqueue({ _tag: "Advance", after: { position: cursor, watch } })
          yield* news(cursor)
        }
      })

    /** Posts the queued notifications one at a time; the checkpoint moves only once one is settled. */
    const deliverer = (
      endpoint: NotificationEndpointConfig,
      id: string,
      failingSinceAtStart: number | null,
      queue: Queue.Queue<Item>,
      state: Ref.Ref<DeliveryState>
    ) => {
      // The last delivery whose checkpoint is not stored yet (see SAVE_EVERY).
      let unsaved: { readonly after: Checkpoint; readonly at: number } | null = null
      let unsavedCount = 0
      let savedAt = 0
      const save = Effect.suspend(() => {
        if (unsaved === null) return Effect.void
        const { after, at } = unsaved
        unsaved = null
        unsavedCount = 0
        savedAt = at
        return outbox.delivered(id, after, at)
      })
      return Effect.gen(function*() {
        const policy: RetryPolicy = {
          baseDelayMs: endpoint.retry.baseDelay * 1000,
          maxDelayMs: endpoint.retry.maxDelay * 1000,
          giveUpAfterMs: endpoint.retry.giveUpAfter * 1000
        }
        let failingSince = failingSinceAtStart
        while (true) {
          const item = yield* Queue.take(queue)
          if (item._tag === "Advance") {
            yield* save
            yield* outbox.advance(id, item.after)
            yield* Ref.update(state, (s) => ({ ...s, position: item.after.position }))
            continue
          }
          const notification = item.notification
          yield* pacer.giveWay(yield* Queue.size(queue))
          let failures = 0
          const settled = yield* deliverWithRetry(deliverOnce(endpoint, notification), policy, {
            failingSince,
            onFailure: (failure) =>
              Effect.gen(function*() {
                failures++
                yield* save
                yield* Metric.increment(M.labelled(M.webhookDeliveries, { endpoint: id, outcome: "failed" }))
                yield* outbox.failed(id, failure.failingSince, failure.at, failure.reason)
                yield* Ref.update(state, (s) => ({ ...s, lastErrorAt: isoAt(failure.at), lastError: failure.reason }))
                const what = `Webhook ${id}: delivery ${notification.id} (${notification.event}) failed: ${failure.reason}`
                if (failure.retryInMs === null) return
                const next = `; retrying in ${Duration.format(Duration.millis(failure.retryInMs))}`
                yield* failures === 1 ? Effect.logWarning(what + next) : Effect.logDebug(what + next)
              })
          }).pipe(Effect.provide(services))
          failingSince = null
          yield* Metric.increment(
            M.labelled(M.webhookDeliveries, { endpoint: id, outcome: settled._tag === "Delivered" ? "delivered" : "given_up" })
          )
          if (settled._tag === "Delivered") {
            unsaved = { after: item.after, at: settled.at }
            unsavedCount++
            if (unsavedCount >= SAVE_EVERY || settled.at - savedAt >= SAVE_AFTER_MS || (yield* Queue.size(queue)) === 0) {
              yield* save
            }
            if (failures > 0) yield* Effect.logInfo(`Webhook ${id}: delivery ${notification.id} succeeded after ${failures} failed attempts`)
            yield* Ref.update(state, (s) => ({
              ...s,
              position: item.after.position,
              pending: s.pending - 1,
              lastSuccessAt: isoAt(settled.at)
            }))
          } else {
            yield* outbox.gaveUp(id, item.after)
            yield* Effect.logWarning(
              `Webhook ${id}: gave up delivery ${notification.id} (${notification.event}, log position ${notification.position}) ` +
                `after failing since ${isoAt(settled.failingSince)}; last reason: ${settled.reason}`
            )
            yield* Ref.update(state, (s) => ({
              ...s,
              position: item.after.position,
              pending: s.pending - 1,
              givenUp: s.givenUp + 1
            }))
          }
        }
      }).pipe(Effect.ensuring(Effect.ignore(save)))
    }

    /** One endpoint, from its stored checkpoint (a new one starts at the log's end). */
    const runEndpoint = (endpoint: NotificationEndpointConfig) =>
      Effect.gen(function*() {
        const id = endpointId(endpoint)
        const state = states.get(id)!
        let stored = yield* outbox.load(id)
        if (stored === undefined) {
          yield* outbox.create(id, yield* startingPoint, yield* Clock.currentTimeMillis)
          stored = (yield* outbox.load(id))!
        }
        yield* Ref.set(state, {
          position: stored.checkpoint.position,
          pending: 0,
          lastSuccessAt: stored.lastSuccessAt,
          lastErrorAt: stored.lastErrorAt,
          lastError: stored.lastError,
          givenUp: stored.givenUp
        })
        if (endpoint.secretEnv !== undefined && Option.isNone(yield* secrets.get(endpoint.secretEnv))) {
          yield* Effect.logWarning(
            `Webhook ${id}: its signing secret variable ${endpoint.secretEnv} is not set; deliveries fail until it is`
          )
        }
        // Integrations may be created over the API later, so an unknown id is a warning, not an error.
        for (const integrationId of endpoint.integrationIds ?? []) {
          if ((yield* views.integrationIncludingRemoved(integrationId)) === undefined) {
            yield* Effect.logWarning(
              `Webhook ${id}: integrationIds names '${integrationId}', which does not exist (yet); nothing is sent for it until it does`
            )
          }
        }
        const queue = yield* Queue.bounded<Item>(QUEUE_CAPACITY)
        yield* Effect.all([
          reader(endpoint, stored.checkpoint, queue, state),
          deliverer(endpoint, id, stored.failingSince, queue, state)
        ], { concurrency: 2, discard: true })
      }).pipe(
        Effect.catchAllCause((cause) => Effect.logError(`Webhook ${endpointId(endpoint)} stopped; restarting`, cause)),
        Effect.repeat(Schedule.spaced(RESTART_AFTER)),
        Effect.annotateLogs({ webhook: endpointId(endpoint) })
      )

    for (const endpoint of endpoints) yield* Effect.forkScoped(runEndpoint(endpoint))

    const list = Effect.forEach(endpoints, (endpoint) =>
      Effect.map(Ref.get(states.get(endpointId(endpoint))!), (state): EndpointView => ({
        id: endpointId(endpoint),
        url: maskUrl(endpoint.url),
        events: endpoint.events,
        integrationIds: endpoint.integrationIds ?? null,
        format: endpoint.format,
        signed: endpoint.secretEnv !== undefined,
        state
      })))

    /** Sends a `test` notification now, outside the log and without retries; undefined = all. */
    const sendTest = (only: string | undefined) =>
      Effect.forEach(
        endpoints.filter((endpoint) => only === undefined || endpointId(endpoint) === only),
        (endpoint) =>
          Effect.gen(function*() {
            const id = endpointId(endpoint)
            const attempt = yield* deliverOnce(endpoint, testNotification(id, yield* Clock.currentTimeMillis))
            return attempt.ok
              ? { endpointId: id, delivered: true, status: attempt.status, error: null }
              : { endpointId: id, delivered: false, status: attempt.status, error: attempt.reason }
          }).pipe(Effect.provide(services)),
        { concurrency: "unbounded" }
      )

    const ids = endpoints.map(endpointId)

    return { list, sendTest, ids } as const
  })
}) {}
