import { describe, expect, it } from "vitest"
import { PLANE_PLAN } from "../src/connectors/plane/plan.js"
import { streamOf } from "../src/connectors/SourcePlan.js"
import type { Position } from "../src/domain/job.js"
import {
  INCREMENTAL_FIRST_PAGE,
  incrementalThreshold,
  isFirstPageOfProject,
  lookaheadOf,
  pageSizeAt,
  projectsAhead,
  projectsFraction,
  SMALL_LIST_LOOKAHEAD,
  stepAfter
} from "../src/engine/run/paging.js"

/** The walks' page arithmetic (src/engine/run/paging.ts), without a source or a database. */

const WALK_AT = "2026-01-05T09:12:44.120Z"

const step = (
  pos: Position,
  page: { hasMore: boolean; received: number; kept?: number; totalPages?: number | null } | null,
  options: { feedCount?: number; projectCount?: number; perPage?: number; incremental?: boolean; walkStartedAt?: string } = {}
) =>
  stepAfter({
    pos,
    page: page === null ? null : { ...page, kept: page.kept ?? page.received },
    feedCount: options.feedCount ?? 1,
    projectCount: options.projectCount ?? 4,
    perPage: options.perPage ?? 50,
    incremental: options.incremental ?? false,
    walkStartedAt: options.walkStartedAt
  })

describe("page size", () => {
  it("is the batch size for a full walk, on any page", () => {
    expect(pageSizeAt({ projectIndex: 0, feed: 0, page: 0 }, 250, false)).toBe(250)
    expect(pageSizeAt({ projectIndex: 3, feed: 1, page: 7 }, 250, false)).toBe(250)
  })

  it("starts an incremental walk small, but never above the batch size", () => {
    expect(INCREMENTAL_FIRST_PAGE).toBe(100)
    expect(pageSizeAt({ projectIndex: 0, feed: 0, page: 0 }, 1000, true)).toBe(100)
    expect(pageSizeAt({ projectIndex: 0, feed: 0, page: 0 }, 40, true)).toBe(40)
    // Past the first page without a recorded size, pages count in batchSize.
    expect(pageSizeAt({ projectIndex: 0, feed: 0, page: 2 }, 1000, true)).toBe(1000)
  })

  it("reads the size a position recorded, whatever the walk", () => {
    expect(pageSizeAt({ projectIndex: 0, feed: 0, page: 1, perPage: 400 }, 1000, true)).toBe(400)
    expect(pageSizeAt({ projectIndex: 0, feed: 0, page: 0, perPage: 20 }, 1000, false)).toBe(20)
  })
})

describe("the step after a page", () => {
  it("goes to the next project after an empty list", () => {
    expect(step({ projectIndex: 1, feed: 0, page: 0 }, { hasMore: false, received: 0, totalPages: 0 })).toEqual({
      next: { projectIndex: 2, feed: 0, page: 0 },
      fraction: 2 / 4
    })
  })

  it("goes to the next project after a skipped one, and counts it done", () => {
    expect(step({ projectIndex: 0, feed: 1, page: 3 }, null, { feedCount: 2, walkStartedAt: WALK_AT })).toEqual({
      next: { projectIndex: 1, feed: 0, page: 0 },
      fraction: 1 / 4
    })
  })

  it("counts a walk of no projects as one, so the fraction stays finite", () => {
    expect(step({ projectIndex: 0, feed: 0, page: 0 }, { hasMore: false, received: 0 }, { projectCount: 0 }).fraction).toBe(1)
  })

  it("reads the next page of the feed while the list goes on, keeping the walk's start", () => {
    const { fraction, next } = step(
      { projectIndex: 1, feed: 0, page: 2 },
      { hasMore: true, received: 50, totalPages: 10 },
      { walkStartedAt: WALK_AT }
    )
    expect(next).toEqual({ projectIndex: 1, feed: 0, page: 3, walkStartedAt: WALK_AT })
    // Not the next project: the key order is the checkpoint's, as stored in BatchCommitted.
    expect(Object.keys(next)).toEqual(["projectIndex", "feed", "page", "walkStartedAt"])
    expect(fraction).toBeCloseTo((1 + 3 / 10) / 4, 12)
  })

  it("leaves walkStartedAt out when the walk has none (only work items note it)", () => {
    expect(step({ projectIndex: 0, feed: 0, page: 0 }, { hasMore: true, received: 50 }).next).toEqual({
      projectIndex: 0,
      feed: 0,
      page: 1
    })
  })

  it("counts half a feed when the source does not say how many pages it has, and never more than the feed", () => {
    expect(step({ projectIndex: 0, feed: 0, page: 0 }, { hasMore: true, received: 50, totalPages: null }).fraction).toBe(0.5 / 4)
    // A list that grew since its page count was read: the feed is at most done.
    expect(step({ projectIndex: 0, feed: 0, page: 5 }, { hasMore: true, received: 50, totalPages: 3 }).fraction).toBe(1 / 4)
  })

  it("goes to the next feed after the last partial page of one, then to the next project after the last feed", () => {
    const archived = step({ projectIndex: 2, feed: 0, page: 4 }, { hasMore: false, received: 7 }, {
      feedCount: 2,
      walkStartedAt: WALK_AT
    })
    expect(archived).toEqual({ next: { projectIndex: 2, feed: 1, page: 0, walkStartedAt: WALK_AT }, fraction: (2 + 1 / 2) / 4 })
    const nextProject = step({ projectIndex: 2, feed: 1, page: 0 }, { hasMore: false, received: 3 }, {
      feedCount: 2,
      walkStartedAt: WALK_AT
    })
    expect(nextProject).toEqual({ next: { projectIndex: 3, feed: 0, page: 0 }, fraction: 3 / 4 })
  })

  it("counts the pages of the second feed after the first", () => {
    const { fraction } = step({ projectIndex: 0, feed: 1, page: 0 }, { hasMore: true, received: 50, totalPages: 2 }, {
      feedCount: 2
    })
    expect(fraction).toBeCloseTo((0 + (1 + 1 / 2) / 2) / 4, 12)
  })

  it("ends an incremental feed on the first page with a record older than the threshold", () => {
    const { next } = step({ projectIndex: 0, feed: 0, page: 0 }, { hasMore: true, received: 100, kept: 99 }, {
      perPage: 1000,
      incremental: true,
      walkStartedAt: WALK_AT
    })
    expect(next).toEqual({ projectIndex: 1, feed: 0, page: 0 })
  })

  it("grows an incremental walk's pages up to the batch size without skipping or repeating a row", () => {
    const perPage = 1000
    let pos: Position = { projectIndex: 0, feed: 0, page: 0 }
    let offset = 0
    const sizes: Array<number> = []
    for (let i = 0; i < 8; i++) {
      const size = pageSizeAt(pos, perPage, true)
      // The page read starts where the previous one ended.
      expect(pos.page * size).toBe(offset)
      sizes.push(size)
      offset += size
      pos = step(pos, { hasMore: true, received: size }, { perPage, incremental: true, walkStartedAt: WALK_AT }).next
      expect(pos.projectIndex).toBe(0)
    }
    // 100 at offset 0, 100 more to align, then doubling while aligned, capped below 2 × 800 > 1000.
    expect(sizes).toEqual([100, 100, 200, 400, 800, 800, 800, 800])
    // 4,000 rows read: the next page is the sixth of 800.
    expect(offset).toBe(4000)
    expect(pos).toEqual({ projectIndex: 0, feed: 0, page: 5, perPage: 800, walkStartedAt: WALK_AT })
  })

  it("drops the recorded size once a page reaches the batch size", () => {
    const { next } = step({ projectIndex: 0, feed: 0, page: 1, perPage: 100 }, { hasMore: true, received: 100 }, {
      perPage: 200,
      incremental: true
    })
    expect(next).toEqual({ projectIndex: 0, feed: 0, page: 1 })
  })

  it("never grows the pages of a full walk", () => {
    const { next } = step({ projectIndex: 0, feed: 0, page: 1 }, { hasMore: true, received: 100 }, { perPage: 100 })
    expect(next).toEqual({ projectIndex: 0, feed: 0, page: 2 })
  })
})

describe("lookahead", () => {
  it("asks small lists ahead, not work items", () => {
    expect(SMALL_LIST_LOOKAHEAD).toBe(4)
    // The lookahead follows the stream's declared fetch (Plane's plan: small lists fetched whole).
    for (const entity of ["states", "labels", "cycles", "modules"] as const) expect(lookaheadOf(streamOf(PLANE_PLAN, entity))).toBe(4)
    expect(lookaheadOf(streamOf(PLANE_PLAN, "work_items"))).toBe(0)
  })

  it("names the next projects, never one past the end", () => {
    expect(projectsAhead(0, 4, 10)).toEqual([1, 2, 3, 4])
    expect(projectsAhead(7, 4, 10)).toEqual([8, 9])
    expect(projectsAhead(9, 4, 10)).toEqual([])
    expect(projectsAhead(0, 4, 1)).toEqual([])
    expect(projectsAhead(0, 4, 0)).toEqual([])
    expect(projectsAhead(3, 0, 10)).toEqual([])
  })

  it("only a project's first page can come from the lookahead", () => {
    expect(isFirstPageOfProject({ projectIndex: 5, feed: 0, page: 0 })).toBe(true)
    expect(isFirstPageOfProject({ projectIndex: 5, feed: 0, page: 1 })).toBe(false)
    expect(isFirstPageOfProject({ projectIndex: 5, feed: 1, page: 0 })).toBe(false)
  })
})

describe("incremental threshold", () => {
  it("is the watermark less the overlap, with microseconds as Plane writes them", () => {
    expect(incrementalThreshold("2026-01-05T10:00:00.000Z", 300_000, true)).toBe("2026-01-05T09:55:00.000000Z")
  })

  it("is absent for a full walk or a project never walked before", () => {
    expect(incrementalThreshold("2026-01-05T10:00:00.000Z", 300_000, false)).toBeNull()
    expect(incrementalThreshold(undefined, 300_000, true)).toBeNull()
  })
})

describe("the projects list's fraction", () => {
  it("counts pages when the source gives their number", () => {
    expect(projectsFraction(0, 4, false)).toBe(0.25)
    expect(projectsFraction(3, 4, true)).toBe(1)
  })

  it("is half until the last page when it does not", () => {
    expect(projectsFraction(2, null, false)).toBe(0.5)
    expect(projectsFraction(2, null, true)).toBe(1)
  })
})
