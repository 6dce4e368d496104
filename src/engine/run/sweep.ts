import { Effect } from "effect"
import type { InvalidRecord, SourceRecord } from "../../connectors/Connector.js"
import type { EntityStream } from "../../connectors/SourcePlan.js"
import type { EntityType } from "../../domain/entities.js"
import { commit } from "./commit.js"
import { checkCommand, emptyAtStart, log, plural, type RunContext } from "./context.js"
import type { RequestPool } from "./requestPool.js"

/**
 * The finalizing stage of full and selective syncs: records of the mirror the walk did not see
 * (the mirror's seen-marks find them, a batch at a time) are confirmed one by one with the
 * source before they are tombstoned.
 */

/** One batch of unseen records; how many were tombstoned, or null when none are left. */
const sweepBatch = (ctx: RunContext, pool: RequestPool, stream: EntityStream<EntityType>) =>
  Effect.gen(function*() {
  const { connector, initial, integration, jobId, plan } = ctx
  const { mirror } = ctx.services
  const entity = stream.name
  // A project-scoped record's fate follows its project's, as the mirror last saw it.
  const scoped = stream.scope === "project"
  const walked = new Set(ctx.state.doc.checkpoint?.projectIds ?? [])
  const projectsAlsoSwept = plan.mirrored.has(plan.projects.name)
  yield* checkCommand(ctx)
  const candidates = yield* mirror.unseen({
    integrationId: integration.id,
    entity,
    jobId,
    startedAt: ctx.state.doc.startedAt ?? initial.startedAt ?? new Date(ctx.runStartedAt).toISOString(),
    projects: initial.options.projects,
    excludeProjects: initial.options.excludeProjects,
    includeArchived: ctx.includeArchived,
    limit: ctx.perPage
  })
  if (candidates.length === 0) return null
  const projectState = scoped ? yield* mirror.projectStates(integration.id) : new Map()
  const gone: Array<string> = []
  const found: Array<SourceRecord> = []
  const invalid: Array<InvalidRecord> = []
  const untouched: Array<string> = []
  for (const c of candidates) {
    const state = projectState.get(c.projectId)
    if (scoped && (state === "deleted" || (projectsAlsoSwept && state === undefined))) {
      gone.push(c.sourceId)
      continue
    }
    if (scoped && (state === "archived" || state === "hidden") && !walked.has(c.projectId)) {
      // Items of an archived project, or of one the key's owner is not a member of,
      // stay as they were: the source hides them from this key, it did not delete them.
      untouched.push(c.sourceId)
      continue
    }
    const lookup = yield* pool.fetch(connector.lookup(entity, c.projectId, c.sourceId))
    if (lookup._tag === "Gone") gone.push(c.sourceId)
    else if (lookup._tag === "Found") found.push(lookup.record)
    else if (lookup._tag === "Hidden") untouched.push(c.sourceId)
    else invalid.push(lookup.invalid)
  }
  yield* commit(ctx, {
    stage: "finalizing",
    entity,
    records: found,
    invalid,
    next: { projectIndex: 0, feed: 0, page: 0 },
    fraction: 0.5,
    extra: { deleted: gone.length, processed: gone.length + untouched.length },
    write: (at) =>
      Effect.zipRight(
        mirror.tombstone(integration.id, entity, gone, at, jobId),
        mirror.touch(integration.id, entity, [...untouched, ...invalid.flatMap((i) => i.id ? [i.id] : [])], at, jobId)
      ),
    mirror: true
  })
  if (gone.length > 0) {
    yield* log(ctx, "info", `Deleted ${gone.length} ${plural(entity)} that ${plan.source.sourceName} no longer has (confirmed one by one)`)
  }
  return gone.length
})

/** Every mirrored entity that had rows at the start of the run, one batch after another. */
export const finalize = (ctx: RunContext, pool: RequestPool) =>
  Effect.gen(function*() {
    const { plan } = ctx
    if (!plan.sweep) {
      if (plan.source.streams.some((s) => s.incremental !== null && plan.mirrored.has(s.name))) {
        yield* log(
          ctx,
          "info",
          `Incremental sync cannot see deletions in ${plan.source.sourceName}; the next full sync (fullSyncInterval) finds them`
        )
      }
      return
    }
    for (const stream of plan.source.streams) {
      // Nothing can be unseen in an entity that was empty: this run wrote every row of it.
      if (!plan.mirrored.has(stream.name) || emptyAtStart(ctx, stream.name)) continue
      while ((yield* sweepBatch(ctx, pool, stream)) !== null) {
        // one batch after another until no candidate is left
      }
    }
  })
