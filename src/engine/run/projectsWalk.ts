import { Effect } from "effect"
import type { SourcePage } from "../../connectors/Connector.js"
import { commit } from "./commit.js"
import { checkCommand, log, plural, type RunContext } from "./context.js"
import { projectsFraction } from "./paging.js"
import type { RequestPool } from "./requestPool.js"

/**
 * The projects stage (the plan's workspace-scoped stream), always walked: it finds the projects
 * the other stages visit. One page of the list per batch; its BatchCommitted carries the
 * projects it discovered; the source's plan says which projects are not walked, and why.
 */

/** One page of projects; true when it was the last. */
const projectsPage = (ctx: RunContext, pool: RequestPool, page: number, totalPagesSoFar: number | null) =>
  Effect.gen(function*() {
  const { plan, state } = ctx
  const entity = plan.projects.name
  const mirrored = plan.mirrored.has(entity)
  yield* checkCommand(ctx)
  const result: SourcePage = yield* pool.fetch(ctx.connector.listPage({
    entity,
    projectId: null,
    feed: "active",
    page,
    perPage: ctx.perPage,
    order: "created"
  }))
  const totalPages = result.totalPages ?? totalPagesSoFar
  const selected = result.records.filter((r) => plan.includesProject(r.id))
  const discovered: Array<string> = []
  const known = new Set(state.doc.checkpoint?.projectIds ?? [])
  for (const r of selected) {
    // Offset pages can list a project twice when the list shifts: walk it once.
    if (known.has(r.id)) continue
    known.add(r.id)
    const unwalked = plan.source.unwalked(r)
    if (unwalked === null) discovered.push(r.id)
    else yield* log(ctx, unwalked.level, unwalked.message)
  }
  const last = !result.hasMore
  yield* commit(ctx, {
    stage: plan.stages[0]!,
    entity,
    records: selected,
    invalid: result.invalid,
    next: { projectIndex: 0, feed: 0, page: page + 1 },
    fraction: projectsFraction(page, totalPages, last),
    discovered,
    mirror: mirrored,
    ...(mirrored ? { note: `Processed ${selected.length + result.invalid.length} ${plural(entity)} (page ${page + 1})` } : {})
  })
  return { last, totalPages }
})

/** The projects stage, from the checkpoint's page to the list's end. */
export const walkProjectList = (ctx: RunContext, pool: RequestPool) =>
  Effect.gen(function*() {
    let page = ctx.state.doc.checkpoint?.position.page ?? 0
    let totalPages: number | null = null
    while (true) {
      const done: { readonly last: boolean; readonly totalPages: number | null } = yield* projectsPage(ctx, pool, page, totalPages)
      if (done.last) return
      totalPages = done.totalPages
      page++
    }
  })
