import type { EntityStream } from "../../connectors/SourcePlan.js"
import type { Position } from "../../domain/job.js"

/**
 * The walks' page arithmetic, pure: which page size a position reads, where the walk goes after
 * a page, how much of the stage that is, and which projects' first pages are asked ahead.
 * `test/paging.test.ts` covers it.
 */

/** Projects whose small lists (streams the plan fetches whole) a walk requests ahead. */
export const SMALL_LIST_LOOKAHEAD = 4

/** First page size of an incremental work-item walk (it grows while pages stay newer). */
export const INCREMENTAL_FIRST_PAGE = 100

/**
 * Small lists take one request per project, so their walk is mostly round trips: it asks for
 * the next projects' first pages ahead. Paged lists are not asked ahead: their pages are
 * large, and the prefetch keeps up.
 */
export const lookaheadOf = (stream: Pick<EntityStream, "fetch">) => stream.fetch === "whole" ? SMALL_LIST_LOOKAHEAD : 0

/** The projects whose first page to request ahead while at project `from` (never past the last). */
export const projectsAhead = (from: number, lookahead: number, projectCount: number): ReadonlyArray<number> => {
  const indices: Array<number> = []
  for (let i = from + 1; i <= Math.min(from + lookahead, projectCount - 1); i++) indices.push(i)
  return indices
}

/** Only a project's very first page can have been requested ahead. */
export const isFirstPageOfProject = (pos: Position) => pos.feed === 0 && pos.page === 0

/**
 * The page size a position reads. An incremental walk usually ends on its first page: it
 * starts small and doubles while every row is still newer than the watermark (offsets stay
 * aligned), up to batchSize; a position records the size its `page` counts in.
 */
export const pageSizeAt = (pos: Position, perPage: number, incremental: boolean) =>
  pos.perPage ?? (incremental && pos.page === 0 ? Math.min(perPage, INCREMENTAL_FIRST_PAGE) : perPage)

/** An incremental walk keeps records updated since the project's watermark, less the overlap. */
export const incrementalThreshold = (watermark: string | undefined, overlapMs: number, incremental: boolean) =>
  incremental && watermark !== undefined
    ? new Date(Date.parse(watermark) - overlapMs).toISOString().replace("Z", "000Z")
    : null

/** What a walk knows about the page it just read (null: the project was skipped). */
interface PageSeen {
  readonly hasMore: boolean
  /** Records the page had, and those kept (an incremental walk drops those older than its threshold). */
  readonly received: number
  readonly kept: number
  readonly totalPages?: number | null | undefined
}

interface WalkStep {
  /** Where the next batch starts (its projectIndex is past the current one when the project is done). */
  readonly next: Position
  /** The share of the stage done once this page is committed. */
  readonly fraction: number
}

/**
 * After a page at `pos`: the next page of the same feed while the list goes on (and every
 * record was newer than the threshold), else the next feed's first page, else the next project.
 */
export const stepAfter = (input: {
  readonly pos: Position
  readonly page: PageSeen | null
  readonly feedCount: number
  readonly projectCount: number
  readonly perPage: number
  readonly incremental: boolean
  readonly walkStartedAt: string | undefined
}): WalkStep => {
  const { feedCount, page, perPage, pos, walkStartedAt } = input
  const projects = Math.max(1, input.projectCount)
  const nextProject: WalkStep = {
    next: { projectIndex: pos.projectIndex + 1, feed: 0, page: 0 },
    fraction: (pos.projectIndex + 1) / projects
  }
  if (page === null) return nextProject
  const lastOfFeed = !page.hasMore || page.kept < page.received
  if (!lastOfFeed) {
    const size = pageSizeAt(pos, perPage, input.incremental)
    const offset = (pos.page + 1) * size
    const grown = input.incremental && size * 2 <= perPage && offset % (size * 2) === 0 ? size * 2 : size
    const pages = page.totalPages ? Math.min(1, (pos.page + 1) / page.totalPages) : 0.5
    return {
      next: {
        projectIndex: pos.projectIndex,
        feed: pos.feed,
        page: offset / grown,
        ...(grown !== perPage ? { perPage: grown } : {}),
        ...(walkStartedAt ? { walkStartedAt } : {})
      },
      fraction: (pos.projectIndex + (pos.feed + pages) / feedCount) / projects
    }
  }
  if (pos.feed < feedCount - 1) {
    return {
      next: { projectIndex: pos.projectIndex, feed: pos.feed + 1, page: 0, ...(walkStartedAt ? { walkStartedAt } : {}) },
      fraction: (pos.projectIndex + (pos.feed + 1) / feedCount) / projects
    }
  }
  return nextProject
}

/** The projects list's share done after `page` (0-based): by its page count when known. */
export const projectsFraction = (page: number, totalPages: number | null, last: boolean) =>
  totalPages ? (page + 1) / totalPages : last ? 1 : 0.5
