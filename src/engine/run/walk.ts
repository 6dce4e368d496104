import { Effect, type Fiber } from "effect"
import type { Feed, InvalidRecord, SourceError, SourcePage, SourceRecord } from "../../connectors/Connector.js"
import { type EntityStream, feedsOf } from "../../connectors/SourcePlan.js"
import type { EntityType } from "../../domain/entities.js"
import type { Position, Stage } from "../../domain/job.js"
import { commit } from "./commit.js"
import { checkCommand, log, pending, plural, type RunContext } from "./context.js"
import { Interrupted } from "./control.js"
import {
  incrementalThreshold,
  isFirstPageOfProject,
  lookaheadOf,
  pageSizeAt,
  projectsAhead,
  stepAfter
} from "./paging.js"
import type { RequestPool } from "./requestPool.js"
import { nowIso } from "../../domain/time.js"

/**
 * The project-scoped stages (every stream of the plan but the projects): one project after
 * another, each feed (active, archived) page by page. The next page is fetched while the
 * current one commits, and small lists ask for the next projects' first pages ahead; pages
 * still commit one by one in order, so checkpoints and counters are as if it walked them in turn.
 */

/** A page's answer, or a project the source will not list for this key (skipped, logged). */
type Fetched = { readonly _tag: "Page"; readonly page: SourcePage } | { readonly _tag: "Skip"; readonly reason: string }
type Request = Fiber.RuntimeFiber<Fetched, SourceError>

/** What stays the same for the whole walk of one stage. */
interface Walk {
  readonly stage: Stage
  readonly entity: EntityType
  /** The stream has an `updated_at` cursor: each project's walk start becomes its watermark. */
  readonly watermarked: boolean
  readonly projectIds: ReadonlyArray<string>
  readonly feeds: ReadonlyArray<Feed>
  readonly incremental: boolean
  readonly pool: RequestPool
  /** First pages requested ahead, by project index. */
  readonly ahead: Map<number, Request>
  readonly lookahead: number
  readonly overlapMs: number
}

/** Where the walk is: the page whose request is `inflight`, and when this project's walk started. */
interface Cursor {
  readonly pos: Position
  readonly walkStartedAt: string | undefined
  readonly inflight: Request
}

const fetchAt = (ctx: RunContext, walk: Walk, pos: Position): Effect.Effect<Fetched, SourceError> =>
  ctx.connector.listPage({
    entity: walk.entity,
    projectId: walk.projectIds[pos.projectIndex]!,
    feed: walk.feeds[pos.feed]!,
    page: pos.page,
    perPage: pageSizeAt(pos, ctx.perPage, walk.incremental),
    order: walk.incremental ? "updated_desc" : "created"
  }).pipe(
    Effect.map((p) => ({ _tag: "Page" as const, page: p })),
    Effect.catchTags({
      SourceForbidden: (e) => Effect.succeed({ _tag: "Skip" as const, reason: e.message }),
      SourceNotFound: (e) =>
        e.scope === "project" ? Effect.succeed({ _tag: "Skip" as const, reason: e.message }) : Effect.fail(e)
    })
  )

/** A walk of a watermarked stream notes when each project's walk started: its watermark once done. */
const walkStart = (walk: Walk) => walk.watermarked ? nowIso : Effect.succeed(undefined)

/** The request for `at`: the one asked ahead for a project's first page, else a new one. */
const startAt = (ctx: RunContext, walk: Walk, at: Position) => {
  const early = isFirstPageOfProject(at) ? walk.ahead.get(at.projectIndex) : undefined
  if (early === undefined) return walk.pool.start(fetchAt(ctx, walk, at))
  walk.ahead.delete(at.projectIndex)
  return Effect.succeed(early)
}

const fetchAhead = (ctx: RunContext, walk: Walk, from: number) =>
  Effect.gen(function*() {
    for (const i of projectsAhead(from, walk.lookahead, walk.projectIds.length)) {
      if (!walk.ahead.has(i)) walk.ahead.set(i, yield* walk.pool.start(fetchAt(ctx, walk, { projectIndex: i, feed: 0, page: 0 })))
    }
  })

const dropAhead = (walk: Walk) =>
  Effect.suspend(() => {
    const fibers = [...walk.ahead.values()]
    walk.ahead.clear()
    return Effect.forEach(fibers, walk.pool.cancel, { discard: true })
  })

/** One page: settle its request, start the next one, commit this one; the next cursor, or none at the end. */
const walkPage = (ctx: RunContext, walk: Walk, cursor: Cursor) =>
  Effect.gen(function*() {
  const { entity, projectIds } = walk
  const { pos, walkStartedAt } = cursor
  const outcome = yield* walk.pool.settle(cursor.inflight)
  const projectId = projectIds[pos.projectIndex]!
  let records: ReadonlyArray<SourceRecord> = []
  let invalid: ReadonlyArray<InvalidRecord> = []
  if (outcome._tag === "Skip") {
    yield* log(ctx, "warn", `Skipped ${plural(entity)} of project ${projectId}: ${outcome.reason}`)
  } else {
    const result = outcome.page
    const threshold = incrementalThreshold(ctx.integration.watermarks[projectId], walk.overlapMs, walk.incremental)
    records = threshold === null ? result.records : result.records.filter((r) => r.updatedAt >= threshold)
    invalid = result.invalid
  }
  const { fraction, next } = stepAfter({
    pos,
    page: outcome._tag === "Skip"
      ? null
      : {
        hasMore: outcome.page.hasMore,
        received: outcome.page.records.length,
        kept: records.length,
        totalPages: outcome.page.totalPages
      },
    feedCount: walk.feeds.length,
    projectCount: projectIds.length,
    perPage: ctx.perPage,
    incremental: walk.incremental,
    walkStartedAt
  })
  const projectDone = next.projectIndex > pos.projectIndex
  // Fetch the next page while this one commits: the source works while SQLite does.
  const nextWalkStartedAt = projectDone ? yield* walkStart(walk) : walkStartedAt
  const prefetch = next.projectIndex < projectIds.length ? yield* startAt(ctx, walk, next) : undefined
  if (prefetch) yield* fetchAhead(ctx, walk, next.projectIndex)
  yield* commit(ctx, {
    stage: walk.stage,
    entity,
    records,
    invalid,
    next,
    fraction,
    ...(projectDone && outcome._tag === "Page" && walkStartedAt ? { watermark: { projectId, at: walkStartedAt } } : {}),
    mirror: true,
    ...(records.length + invalid.length > 0
      ? {
        note: `Processed ${records.length + invalid.length} ${plural(entity)} (project ${pos.projectIndex + 1}/${projectIds.length}, page ${pos.page + 1})`
      }
      : {})
  }).pipe(Effect.onError(() => (prefetch ? walk.pool.cancel(prefetch) : Effect.void)))
  if (prefetch === undefined) return undefined
  const command = yield* pending(ctx)
  if (command) {
    yield* walk.pool.cancel(prefetch)
    return yield* Effect.fail(new Interrupted({ command }))
  }
  return { pos: next, walkStartedAt: nextWalkStartedAt, inflight: prefetch } satisfies Cursor
})

/** A project-scoped stage, from the checkpoint's position to its last project. */
export const walkProjects = (ctx: RunContext, pool: RequestPool, stage: Stage, stream: EntityStream<EntityType>) =>
  Effect.gen(function*() {
    const watermarked = stream.incremental !== null
    const walk: Walk = {
      stage,
      entity: stream.name,
      watermarked,
      projectIds: ctx.state.doc.checkpoint!.projectIds,
      feeds: feedsOf(stream, ctx.includeArchived),
      incremental: ctx.initial.type === "incremental_sync" && watermarked,
      pool,
      ahead: new Map(),
      lookahead: lookaheadOf(stream),
      overlapMs: ctx.services.engine.incrementalOverlap * 1000
    }
    return yield* Effect.gen(function*() {
      const pos: Position = ctx.state.doc.checkpoint!.position
      if (pos.projectIndex >= walk.projectIds.length) return
      yield* checkCommand(ctx)
      let cursor: Cursor | undefined = {
        pos,
        walkStartedAt: pos.walkStartedAt ?? (yield* walkStart(walk)),
        inflight: yield* walk.pool.start(fetchAt(ctx, walk, pos))
      }
      yield* fetchAhead(ctx, walk, pos.projectIndex)
      while (cursor !== undefined) cursor = yield* walkPage(ctx, walk, cursor)
    }).pipe(Effect.ensuring(dropAhead(walk)))
  })
