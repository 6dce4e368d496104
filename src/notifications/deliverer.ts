import type { HttpClient } from "@effect/platform"
import { type Context, Duration, Effect, Metric, Queue, Ref } from "effect"
import type { Secrets } from "../config/Settings.js"
import { isoAt } from "../domain/time.js"
import * as M from "../metrics/metrics.js"
import type { makeBacklogPacer } from "./backlogPacing.js"
import type { NotificationEndpointConfig } from "./config.js"
import { deliverOnce } from "./delivery.js"
import type { Notification } from "./notifications.js"
import type { Checkpoint, outboxState } from "./outboxState.js"
import { deliverWithRetry, type RetryPolicy } from "./retry.js"

/** What `GET /api/sync/notifications` shows of an endpoint's deliveries. */
export interface DeliveryState {
  /** Log position up to which this endpoint's notifications are settled. */
  readonly position: number
  /** Notifications read from the log and not yet delivered (counted up to the queue's capacity, see Notifier.ts). */
  readonly pending: number
  readonly lastSuccessAt: string | null
  readonly lastErrorAt: string | null
  readonly lastError: string | null
  /** Deliveries given up after failing for `retry.giveUpAfter`. */
  readonly givenUp: number
}

/** What an endpoint's reader queues for its deliverer: a notification to send, or a checkpoint to store. */
export type Item =
  | { readonly _tag: "Deliver"; readonly notification: Notification; readonly after: Checkpoint }
  | { readonly _tag: "Advance"; readonly after: Checkpoint }

/**
 * A run of deliveries stores its checkpoint once per this many, or when the queue runs dry, or
 * after SAVE_AFTER: one write per delivery made a draining backlog compete with syncs for the
 * database. A crash resends at most this many (at least once; receivers de-duplicate by id).
 */
const SAVE_EVERY = 100
const SAVE_AFTER_MS = 1_000

/** What every endpoint's deliverer shares: the stored outbox state, the backlog pacer, HTTP and secrets. */
export interface DelivererDeps {
  readonly outbox: Effect.Effect.Success<typeof outboxState>
  readonly pacer: ReturnType<typeof makeBacklogPacer>
  readonly services: Context.Context<HttpClient.HttpClient | Secrets>
}

/** Posts the queued notifications one at a time; the checkpoint moves only once one is settled. */
export const deliverer = (
  { outbox, pacer, services }: DelivererDeps,
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
