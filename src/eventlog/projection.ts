/**
 * What the live append (EventStore) and replay share: how a stored row becomes an event, which
 * view each event goes to, and how a job view is written to its table. Each view has one
 * projection function (`evolveJob`, `evolveIntegration`, `evolveSystem`); replay folds its own
 * docs in place, the live path copies the docs it loaded.
 */
import { type DomainEvent, EVENT_VERSION, IntegrationEvent, JobEvent, type SystemEvent } from "../domain/events.js"
import { affectsIntegration, evolveIntegration, type IntegrationDoc } from "./integrationProjection.js"
import { evolveJob, type JobDoc } from "./jobProjection.js"
import { upcast } from "./upcasters.js"

export interface SystemDoc {
  readonly initializedAt: string | null
  readonly integrationsFound: number
  readonly version: number
}

/** The system view's projection (a two-field doc: a copy costs nothing, so never in place). */
export const evolveSystem = (doc: SystemDoc | undefined, event: SystemEvent): SystemDoc => ({
  initializedAt: event.at,
  integrationsFound: event.integrationsFound,
  version: (doc?.version ?? 0) + 1
})

const JOB_EVENT_TAGS: ReadonlySet<string> = new Set(JobEvent.members.map((m) => m.identifier))
const INTEGRATION_EVENT_TAGS: ReadonlySet<string> = new Set(IntegrationEvent.members.map((m) => m.identifier))
export const isJobEvent = (e: DomainEvent): e is JobEvent => JOB_EVENT_TAGS.has(e._tag)
export const isIntegrationEvent = (e: DomainEvent): e is IntegrationEvent => INTEGRATION_EVENT_TAGS.has(e._tag)

/**
 * A stored payload as the current schema version's JSON, upcasting older versions. Decoding it
 * with Schema is the caller's choice: replay skips it, as every payload was encoded by Schema
 * when it was appended and no field transforms (EventStore's readers decode).
 */
export const parseStored = (type: string, schemaVersion: number, payload: string): Record<string, unknown> => {
  const raw = JSON.parse(payload) as Record<string, unknown>
  return schemaVersion === EVENT_VERSION ? raw : upcast(type, schemaVersion, raw)
}

/** Docs being projected: the few an append loaded, or every view while replay rebuilds them. */
export interface ProjectedViews {
  readonly jobs: Map<string, JobDoc>
  readonly integrations: Map<string, IntegrationDoc>
  system: SystemDoc | undefined
}

export const emptyViews = (): ProjectedViews => ({ jobs: new Map(), integrations: new Map(), system: undefined })

/**
 * Projects one event into the views it changes: a job event into its job and, for the events
 * that count in an integration's statistics, into that integration when it is in `views`.
 * `inPlace` folds the docs held in `views` (replay owns them); otherwise they are replaced.
 */
export const projectEvent = (views: ProjectedViews, event: DomainEvent, inPlace: boolean): void => {
  if (isJobEvent(event)) {
    projectJobEvent(views, event, views.jobs.get(event.jobId), inPlace)
  } else if (isIntegrationEvent(event)) {
    const before = views.integrations.get(event.integrationId)
    const next = evolveIntegration(before, event, inPlace)
    if (next !== before) views.integrations.set(event.integrationId, next)
  } else {
    views.system = evolveSystem(views.system, event)
  }
}

/**
 * `projectEvent` of a job event whose job view (`before`, undefined before its JobQueued) the
 * caller has looked up already; returns the job view after it. Replay uses it to look each
 * job up once per event.
 */
export const projectJobEvent = (views: ProjectedViews, event: JobEvent, before: JobDoc | undefined, inPlace: boolean): JobDoc => {
  const job = evolveJob(before, event, inPlace)
  if (job !== before) views.jobs.set(event.jobId, job)
  if (affectsIntegration(event)) {
    const integration = views.integrations.get(job.integrationId)
    if (integration === undefined) return job
    const next = evolveIntegration(integration, event, inPlace, job)
    if (next !== integration) views.integrations.set(job.integrationId, next)
  }
  return job
}

/** `INSERT INTO jobs` of `rows` rows; `pushJobRow` gives each row's parameters, in this order. */
export const insertJobsSql = (rows: number): string =>
  `INSERT INTO jobs (id, integration_id, type, status, queued_at, deleted, version, doc) VALUES ${
    Array(rows).fill("(?, ?, ?, ?, ?, ?, ?, ?)").join(", ")
  }`

/** Appends a job view's row parameters (see `insertJobsSql`) to `params`. */
export const pushJobRow = (params: Array<unknown>, doc: JobDoc): void => {
  params.push(doc.id, doc.integrationId, doc.type, doc.status, doc.queuedAt, doc.deleted ? 1 : 0, doc.version, JSON.stringify(doc))
}
