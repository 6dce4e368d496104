import type { HttpClient } from "@effect/platform"
import { Clock, Duration, Effect, Option, Queue, Ref, Schedule, Stream, SubscriptionRef } from "effect"
import { Secrets } from "../config/Settings.js"
import { JobSupervisor } from "../engine/JobSupervisor.js"
import { Placement } from "../engine/Placement.js"
import { EventFeed } from "../eventlog/EventFeed.js"
import { EventStore } from "../eventlog/EventStore.js"
import { Views } from "../eventlog/Views.js"
import { makeBacklogPacer } from "./backlogPacing.js"
import { endpointId, maskUrl, type NotificationEndpointConfig, NotificationSettings } from "./config.js"
import { deliverer, type DeliveryState, type Item } from "./deliverer.js"
import { deliverOnce } from "./delivery.js"
import { makeEventContexts } from "./eventContexts.js"
import { notificationsOf, testNotification, wants, WATCHED_EVENT_TYPES, type WatchState } from "./notifications.js"
import { type Checkpoint, outboxState } from "./outboxState.js"

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
/** With nothing to send, the stored checkpoint still moves on after this many log positions. */
const ADVANCE_EVERY = 1_000
/** Looks at the log this often even without a wake-up from the live feed (a safety net). */
const POLL = Duration.seconds(5)
/** After a database error, an endpoint starts again from its stored checkpoint after this. */
const RESTART_AFTER = Duration.seconds(5)

/**
 * The webhook outbox. Each configured endpoint has two fibers: a reader that follows the event
 * log from the endpoint's stored checkpoint and queues the notifications it wants, and a
 * deliverer that posts them one at a time, in log order, retrying the head until it is delivered
 * or given up; only then does the checkpoint advance. Both only read the log, so a receiver
 * that is down, slow or failing never holds up a sync; after a restart delivery continues from
 * the stored checkpoint (at least once, so receivers de-duplicate by delivery id). The reader
 * is here; the deliverer is in deliverer.ts and what each event was about in eventContexts.ts.
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

    const contextOf = makeEventContexts(store, views)

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
          deliverer({ outbox, pacer, services }, endpoint, id, stored.failingSince, queue, state)
        ], { concurrency: 2, discard: true })
      }).pipe(
        Effect.catchAllCause((cause) => Effect.logError(`Webhook ${endpointId(endpoint)} stopped; restarting`, cause)),
        Effect.repeat(Schedule.spaced(RESTART_AFTER)),
        Effect.annotateLogs({ webhook: endpointId(endpoint) })
      )

    /** Every endpoint's reader and deliverer, until interrupted. */
    const deliver = Effect.forEach(endpoints, runEndpoint, { concurrency: "unbounded", discard: true })
    // On a cluster one runner delivers (the webhooks Singleton, src/cluster/), never two.
    if ((yield* Placement).runner === null) yield* Effect.forkScoped(deliver)

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

    return { list, sendTest, ids, deliver } as const
  })
}) {}
