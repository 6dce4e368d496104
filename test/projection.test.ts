import { Schema } from "effect"
import { describe, expect, it } from "vitest"
import {
  BatchCommitted,
  CircuitHalfOpened,
  CircuitOpened,
  DomainEvent,
  IntegrationRegistered,
  IntegrationStarted,
  JobCompleted,
  JobFailed,
  JobQueued,
  JobResumed,
  JobStarted,
  ScheduledRun,
  StageStarted,
  SyncIntervalChanged,
  SystemInitialized
} from "../src/domain/events.js"
import { stageOf } from "../src/domain/job.js"
import { emptyViews, parseStored, type ProjectedViews, projectEvent } from "../src/eventlog/projection.js"

/**
 * The live append and replay share one projection per view: the live path copies the docs it
 * is given, replay folds its own docs in place. Both must build the same views.
 */
const ID = "plane-proj"
const at = (minute: number) => new Date(Date.UTC(2026, 0, 5, 9, minute)).toISOString()
const options = { force: false, includeArchived: false, batchSize: 50, entities: ["projects" as const] }
const job = (jobId: string, start: number, fail: boolean) => [
  new ScheduledRun({ integrationId: ID, outcome: "queued", jobId, reason: "due", nextRunAt: at(start + 5), at: at(start) }),
  new JobQueued({ jobId, integrationId: ID, jobType: "full_sync", options, trigger: "schedule", estimatedDuration: null, at: at(start) }),
  new JobStarted({ jobId, run: 1, at: at(start + 1) }),
  new StageStarted({ jobId, stage: stageOf("projects"), projectIds: [], at: at(start + 1) }),
  new BatchCommitted({
    jobId,
    stage: stageOf("projects"),
    entity: "projects",
    deltas: { processed: 3, created: 2, updated: 1, deleted: 0, errors: 0 },
    next: { projectIndex: 0, feed: 0, page: 1 },
    discovered: ["p1"],
    watermark: { projectId: "p1", at: at(start + 1) },
    progress: 40,
    estimatedCompletion: at(start + 3),
    at: at(start + 2)
  }),
  fail
    ? new JobFailed({ jobId, error: "boom", retryable: true, at: at(start + 3) })
    : new JobCompleted({ jobId, at: at(start + 3) })
]
const EVENTS: ReadonlyArray<DomainEvent> = [
  new SystemInitialized({ integrationsFound: 1, at: at(0) }),
  new IntegrationRegistered({
    integrationId: ID,
    settings: {
      name: "Projection",
      connector: "plane",
      baseUrl: "http://127.0.0.1:1",
      workspaceSlug: "acme",
      apiKeyEnv: "PLANE_KEY",
      syncInterval: 300,
      fullSyncInterval: null,
      requestsPerMinute: null,
      enabled: true
    },
    at: at(0)
  }),
  new IntegrationStarted({ integrationId: ID, nextRunAt: at(5), at: at(0) }),
  ...job("sync-job-a", 5, false),
  ...job("sync-job-b", 10, true),
  new CircuitOpened({ integrationId: ID, consecutiveFailures: 1, reason: "boom", probeAt: at(20), cooldownSeconds: 300, at: at(14) }),
  new CircuitHalfOpened({ integrationId: ID, probeJobId: "sync-job-b", at: at(20) }),
  new JobResumed({ jobId: "sync-job-b", reason: "retry", from: null, at: at(20) }),
  new SyncIntervalChanged({ integrationId: ID, oldInterval: 300, newInterval: 600, nextRunAt: at(30), at: at(21) }),
  ...job("sync-job-c", 30, false)
]

const deepFreeze = <A>(value: A): A => {
  if (typeof value === "object" && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value)
    for (const v of Object.values(value)) deepFreeze(v)
  }
  return value
}
const asJson = (views: ProjectedViews) =>
  JSON.stringify({ jobs: [...views.jobs.entries()], integrations: [...views.integrations.entries()], system: views.system })

/** Events as replay reads them: the stored JSON, parsed, not decoded. */
const encode = Schema.encodeSync(DomainEvent)
const asStored = (event: DomainEvent) => parseStored(event._tag, 1, JSON.stringify(encode(event))) as unknown as DomainEvent

describe("projection shared by the live append and replay", () => {
  it("the live path never changes the docs it is given (they are frozen here)", () => {
    const views = emptyViews()
    for (const event of EVENTS) {
      for (const doc of views.jobs.values()) deepFreeze(doc)
      for (const doc of views.integrations.values()) deepFreeze(doc)
      projectEvent(views, event, false)
    }
    const integration = views.integrations.get(ID)!
    // Its own stream's events only: registered, started, three scheduled runs, the circuit
    // opened and half-opened, the interval changed.
    expect(integration.version).toBe(8)
    expect(integration.stats).toEqual({ totalJobs: 3, completed: 2, failed: 1, completedDurationMs: 2 * 120_000 })
    expect(integration.intervalOverride).toBe(600)
    expect(integration.lastScheduledRunAt).toBe(at(30))
    expect(views.jobs.get("sync-job-b")).toMatchObject({ status: "queued", attempt: 2, error: null })
    expect(views.jobs.get("sync-job-c")).toMatchObject({ status: "completed", progress: 100, watermarks: { p1: at(31) } })
  })

  it("replay folds each doc in place and builds the same views, key order included", () => {
    const live = emptyViews()
    for (const event of EVENTS) projectEvent(live, event, false)
    const replayed = emptyViews()
    let integrationDoc: unknown
    let firstJobDoc: unknown
    for (const event of EVENTS) {
      projectEvent(replayed, asStored(event), true)
      integrationDoc ??= replayed.integrations.get(ID)
      firstJobDoc ??= replayed.jobs.get("sync-job-a")
    }
    // One doc per stream for the whole fold: the same objects, changed in place.
    expect(replayed.integrations.get(ID)).toBe(integrationDoc)
    expect(replayed.jobs.get("sync-job-a")).toBe(firstJobDoc)
    expect(asJson(replayed)).toBe(asJson(live))
  })
})
