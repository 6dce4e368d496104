import { describe, expect, it } from "vitest"
import { PLANE_PLAN } from "../src/connectors/plane/plan.js"
import { feedsOf, sourcePlan, streamNames, streamOf } from "../src/connectors/SourcePlan.js"
import { ENTITY_TYPES, isEntityType } from "../src/domain/entities.js"
import { STAGES, stageOf } from "../src/domain/job.js"
import { planOf, requestsLeft, stageWeights } from "../src/engine/plan.js"
import { lookaheadOf, SMALL_LIST_LOOKAHEAD } from "../src/engine/run/paging.js"

/**
 * The engine walks what the connector's plan declares (src/connectors/SourcePlan.ts,
 * src/engine/plan.ts): a source with other streams, in another order, gets its own stages,
 * weights and request estimates, and the API's names are the plan's.
 */

/** A made-up source that is not Plane: spaces (its projects) and, per space, tickets and tags. */
const TRACKER = sourcePlan({
  sourceName: "Tracker",
  streams: [
    { name: "spaces", scope: "workspace", fetch: "paged", incremental: null, archivedFeed: false, typicalPerProject: 1 },
    { name: "tickets", scope: "project", fetch: "paged", incremental: "updated_at", archivedFeed: true, typicalPerProject: 50 },
    { name: "tags", scope: "project", fetch: "whole", incremental: null, archivedFeed: false, typicalPerProject: 6 }
  ],
  unwalked: (space) => (space.archived ? { level: "info", message: `Space ${space.id} is archived` } : null)
})

describe("a connector's plan drives the job's plan", () => {
  it("gives a stage per selected stream, in the plan's order, the workspace stream first, then finalizing", () => {
    const all = planOf(TRACKER, "full_sync", { entities: ["spaces", "tickets", "tags"] })
    expect(all.stages).toEqual(["syncing_spaces", "syncing_tickets", "syncing_tags", "finalizing"])
    expect(all.streams.map((s) => s?.name ?? null)).toEqual(["spaces", "tickets", "tags", null])
    expect(all.projects.name).toBe("spaces")
    expect(all.sweep).toBe(true)

    // A selection narrows the project-scoped stages; the spaces are listed anyway (the
    // other stages walk them) but only mirrored when selected.
    const tagsOnly = planOf(TRACKER, "selective_sync", { entities: ["tags"] })
    expect(tagsOnly.stages).toEqual(["syncing_spaces", "syncing_tags", "finalizing"])
    expect([...tagsOnly.mirrored]).toEqual(["tags"])

    // The order is the plan's, not the selection's.
    expect(planOf(TRACKER, "full_sync", { entities: ["tags", "tickets"] }).stages)
      .toEqual(["syncing_spaces", "syncing_tickets", "syncing_tags", "finalizing"])
    expect(planOf(TRACKER, "incremental_sync", { entities: ["tickets"] }).sweep).toBe(false)
  })

  it("takes the source's reasons for not walking a listed project", () => {
    const plan = planOf(TRACKER, "full_sync", { entities: ["spaces", "tickets"] })
    expect(plan.source.sourceName).toBe("Tracker")
    expect(plan.source.unwalked({ id: "s1", archived: true, payload: {} })).toEqual({ level: "info", message: "Space s1 is archived" })
    expect(plan.source.unwalked({ id: "s2", archived: false, payload: {} })).toBeNull()
  })

  it("weighs each stage by the mirror's count, else the stream's typical count per project", () => {
    const plan = planOf(TRACKER, "full_sync", { entities: ["spaces", "tickets", "tags"] })
    // 3 spaces, nothing mirrored yet: 1 + typical × projects each; finalizing 3% of the rest.
    const fresh = stageWeights(plan, {}, 3)
    expect(fresh.slice(0, 3)).toEqual([1 + 3, 1 + 150, 1 + 18])
    expect(fresh[3]).toBeCloseTo((4 + 151 + 19) * 0.03)
    // What the mirror held last time wins over the typical count.
    expect(stageWeights(plan, { tickets: 1000 }, 3)[1]).toBe(1001)
  })

  it("estimates the requests left from the streams' scope, feeds and incremental cursor", () => {
    const plan = planOf(TRACKER, "full_sync", { entities: ["spaces", "tickets", "tags"] })
    const left = (incremental: boolean, includeArchived: boolean) =>
      requestsLeft({ plan, incremental, counts: {}, projectCount: 4, perPage: 20, includeArchived, stageIndex: 1, fraction: 0 })
    // tickets: 50 a space at 20 a page = 3 pages × 4 spaces; tags: 1 page × 4 spaces.
    expect(left(false, false)).toBe(12 + 4)
    // The archived tickets are a second list per space.
    expect(left(false, true)).toBe(24 + 4)
    // An incremental walk of a stream with an updated_at cursor usually ends on its first page.
    expect(left(true, false)).toBe(4 + 4)
    // While the spaces are still listed: their pages (the count found so far is only a floor).
    expect(requestsLeft({ plan, incremental: false, counts: { spaces: 45 }, projectCount: 0, perPage: 20, includeArchived: false, stageIndex: 0, fraction: 0 }))
      .toBe(3 + 45 * 3 + 45)
  })

  it("asks ahead the lists a stream fetches whole, and reads the feeds it declares", () => {
    expect(lookaheadOf(streamOf(TRACKER, "tags"))).toBe(SMALL_LIST_LOOKAHEAD)
    expect(lookaheadOf(streamOf(TRACKER, "tickets"))).toBe(0)
    expect(feedsOf(streamOf(TRACKER, "tickets"), true)).toEqual(["active", "archived"])
    expect(feedsOf(streamOf(TRACKER, "tickets"), false)).toEqual(["active"])
    expect(feedsOf(streamOf(TRACKER, "tags"), true)).toEqual(["active"])
  })

  it("refuses a plan the engine cannot walk", () => {
    const stream = { fetch: "paged", incremental: null, archivedFeed: false, typicalPerProject: 1 } as const
    expect(() =>
      sourcePlan({ sourceName: "Bad", streams: [{ ...stream, name: "items", scope: "project" }], unwalked: () => null })
    ).toThrow(/first stream, and only it, must be workspace-scoped/)
    expect(() =>
      sourcePlan({
        sourceName: "Bad",
        streams: [{ ...stream, name: "a", scope: "workspace" }, { ...stream, name: "b", scope: "workspace" }],
        unwalked: () => null
      })
    ).toThrow(/first stream, and only it/)
    expect(() =>
      sourcePlan({
        sourceName: "Bad",
        streams: [{ ...stream, name: "a", scope: "workspace" }, { ...stream, name: "a", scope: "project" }],
        unwalked: () => null
      })
    ).toThrow(/unique/)
  })
})

describe("Plane's plan is the API's vocabulary", () => {
  it("names the entity types and stages the spec fixes, in its walk order", () => {
    expect(streamNames(PLANE_PLAN)).toEqual(["projects", "states", "labels", "cycles", "modules", "work_items"])
    expect(ENTITY_TYPES).toEqual(streamNames(PLANE_PLAN))
    expect(STAGES).toEqual([
      "syncing_projects",
      "syncing_states",
      "syncing_labels",
      "syncing_cycles",
      "syncing_modules",
      "syncing_work_items",
      "finalizing"
    ])
    expect(planOf(PLANE_PLAN, "full_sync", { entities: ENTITY_TYPES }).stages).toEqual(STAGES)
    expect(stageOf("work_items")).toBe("syncing_work_items")
    // Request validation accepts the plan's names and nothing else.
    expect(ENTITY_TYPES.every(isEntityType)).toBe(true)
    expect(isEntityType("tickets")).toBe(false)
  })

  it("declares what the walks used to hard-code: small lists, archived lists, the work-item watermark", () => {
    expect(PLANE_PLAN.streams.filter((s) => s.fetch === "whole").map((s) => s.name)).toEqual(["states", "labels", "cycles", "modules"])
    expect(PLANE_PLAN.streams.filter((s) => s.archivedFeed).map((s) => s.name)).toEqual(["cycles", "modules"])
    expect(PLANE_PLAN.streams.filter((s) => s.incremental !== null).map((s) => s.name)).toEqual(["work_items"])
    expect(PLANE_PLAN.unwalked({ id: "p1", archived: false, payload: { is_member: false } })?.level).toBe("warn")
    expect(PLANE_PLAN.unwalked({ id: "p1", archived: true, payload: {} })?.level).toBe("info")
    expect(PLANE_PLAN.unwalked({ id: "p1", archived: false, payload: { is_member: true } })).toBeNull()
  })
})
