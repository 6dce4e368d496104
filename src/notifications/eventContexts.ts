import { Effect } from "effect"
import { jobStream } from "../domain/events.js"
import { type EventStore, isIntegrationEvent, isJobEvent, type StoredEvent } from "../eventlog/EventStore.js"
import { evolveJob, type JobDoc } from "../eventlog/jobProjection.js"
import type { Views } from "../eventlog/Views.js"
import type { EventContext } from "./notifications.js"

/** Contexts of recent events kept for the other endpoints (cleared when full). */
const CONTEXT_CACHE = 5_000

/**
 * What a watched event was about: its job as it was right after the event, and its
 * integration's name. Every endpoint reads the same events, so each context is read once for all.
 */
export const makeEventContexts = (store: EventStore, views: Views) => {
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

  const readContext = (event: StoredEvent) =>
    Effect.gen(function*() {
      const payload = event.payload
      const job = isJobEvent(payload) ? yield* jobAt(payload.jobId, event.version) : undefined
      const integrationId = job?.integrationId ?? (isIntegrationEvent(payload) ? payload.integrationId : undefined)
      const integration = integrationId === undefined ? undefined : yield* views.integrationIncludingRemoved(integrationId)
      return { job, integrationName: integration?.settings.name } satisfies EventContext
    })

  const contexts = new Map<number, EventContext>()
  return (event: StoredEvent) =>
    Effect.suspend(() => {
      const known = contexts.get(event.position)
      if (known !== undefined) return Effect.succeed(known)
      return Effect.tap(readContext(event), (context) => {
        if (contexts.size >= CONTEXT_CACHE) contexts.clear()
        contexts.set(event.position, context)
      })
    })
}
