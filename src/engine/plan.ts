import { type EntityStream, feedsOf, type SourcePlan } from "../connectors/SourcePlan.js"
import type { EntityType } from "../domain/entities.js"
import type { JobType } from "../domain/job.js"

/**
 * What a job walks and writes, decided from its source's plan (the connector's: which entity
 * streams, in which order, and how), its type and its options alone. Nothing here knows a
 * source's entity names: stages are `syncing_<stream>` in the plan's order, then `finalizing`.
 */
export interface JobPlan<Name extends string = EntityType> {
  readonly source: SourcePlan<Name>
  readonly stages: ReadonlyArray<`syncing_${Name}` | "finalizing">
  /** The stream each stage walks, by stage index; null for finalizing. */
  readonly streams: ReadonlyArray<EntityStream<Name> | null>
  /** The workspace-scoped stream: it lists the projects, and its stage always runs first. */
  readonly projects: EntityStream<Name>
  /** Entity types written to the mirror (the projects stage may only list projects). */
  readonly mirrored: ReadonlySet<Name>
  /** Full and selective syncs confirm and tombstone what their walk no longer found. */
  readonly sweep: boolean
  readonly includesProject: (projectId: string) => boolean
}

/** The options planOf reads (a job's stored options). */
interface PlanOptions<Name extends string> {
  readonly entities: ReadonlyArray<Name>
  readonly projects?: ReadonlyArray<string> | undefined
  readonly excludeProjects?: ReadonlyArray<string> | undefined
}

export const planOf = <Name extends string>(
  source: SourcePlan<Name>,
  type: JobType,
  options: PlanOptions<Name>
): JobPlan<Name> => {
  // Every type walks its options' entities: all of them unless a selection (the job's own or
  // its integration's default) narrowed them. The projects are always listed: the other
  // streams walk them.
  const mirrored = new Set<Name>(options.entities)
  const projects = source.streams[0]
  const stages: Array<`syncing_${Name}` | "finalizing"> = [`syncing_${projects.name}`]
  const streams: Array<EntityStream<Name> | null> = [projects]
  for (const stream of source.streams) {
    if (stream.scope === "project" && mirrored.has(stream.name)) {
      stages.push(`syncing_${stream.name}`)
      streams.push(stream)
    }
  }
  stages.push("finalizing")
  streams.push(null)
  const include = options.projects ? new Set(options.projects) : null
  const exclude = new Set(options.excludeProjects ?? [])
  return {
    source,
    stages,
    streams,
    projects,
    mirrored,
    sweep: type !== "incremental_sync",
    includesProject: (id) => (include === null || include.has(id)) && !exclude.has(id)
  }
}

/**
 * Progress as the share of the expected work done. Each stage weighs what the mirror last held
 * of its entity type (or the plan's typical count per project); within a project-scoped stage,
 * the share of projects done plus the share of pages done in the current one.
 */
export const stageWeights = <Name extends string>(
  plan: JobPlan<Name>,
  counts: Partial<Record<Name, number>>,
  projectCount: number
): ReadonlyArray<number> => {
  const projects = Math.max(1, projectCount || counts[plan.projects.name] || 10)
  const weights = plan.streams.map((stream) =>
    stream === null ? 0 : 1 + (counts[stream.name] ?? stream.typicalPerProject * projects)
  )
  const total = weights.reduce((a, b) => a + b, 0)
  // Finalizing is a few lookups and one query per type: a small, fixed share.
  return weights.map((w, i) => (plan.streams[i] === null ? Math.max(1, total * (plan.sweep ? 0.03 : 0.005)) : w))
}

export const progressOf = (
  weights: ReadonlyArray<number>,
  stageIndex: number,
  fractionOfStage: number
): number => {
  const total = weights.reduce((a, b) => a + b, 0)
  let done = 0
  for (let i = 0; i < stageIndex; i++) done += weights[i]!
  done += weights[stageIndex]! * Math.min(1, Math.max(0, fractionOfStage))
  return Math.min(99, Math.floor((100 * done) / total))
}

/**
 * ETA from this run's own pace: only once it has made at least one point of progress and run
 * for two seconds, so the first noisy batch does not produce a silly number.
 */
export const estimateCompletion = (
  now: number,
  runStartedAt: number,
  progressAtRunStart: number,
  progress: number
): number | null => {
  const elapsed = now - runStartedAt
  const gained = progress - progressAtRunStart
  if (gained < 1 || elapsed < 2000) return null
  return Math.round(now + (elapsed * (100 - progress)) / gained)
}

/**
 * About how many requests a run still makes, from `fraction` of stage `stageIndex` on: per
 * project-scoped stage, each project's list takes as many pages as its records per project
 * (the mirror's last count, else the plan's typical count) fill at `perPage`, at least one, per
 * feed; an incremental walk of a stream with an `updated_at` cursor usually ends on its first
 * page. The lookups of the finalizing stage are not counted (only records a full walk missed
 * are looked up).
 */
export const requestsLeft = <Name extends string>(input: {
  readonly plan: JobPlan<Name>
  readonly incremental: boolean
  readonly counts: Partial<Record<Name, number>>
  /** Projects found so far (all of them once the projects stage is done). */
  readonly projectCount: number
  readonly perPage: number
  readonly includeArchived: boolean
  readonly stageIndex: number
  readonly fraction: number
}): number => {
  const { counts, perPage, plan } = input
  // While projects are still being listed, the ones found so far are only a floor.
  const listing = plan.streams[input.stageIndex] === plan.projects
  const projects = Math.max(
    1,
    listing ? Math.max(input.projectCount, counts[plan.projects.name] || 10) : input.projectCount
  )
  let total = 0
  for (let i = Math.max(0, input.stageIndex); i < plan.stages.length; i++) {
    const stream = plan.streams[i]
    if (stream === null || stream === undefined) continue
    let pages: number
    if (stream.scope === "workspace") pages = Math.max(1, Math.ceil(projects / perPage))
    else {
      const perProject = (counts[stream.name] ?? stream.typicalPerProject * projects) / projects
      const perFeed = input.incremental && stream.incremental !== null ? 1 : Math.max(1, Math.ceil(perProject / perPage))
      pages = projects * perFeed * feedsOf(stream, input.includeArchived).length
    }
    total += i === input.stageIndex ? pages * (1 - Math.min(1, Math.max(0, input.fraction))) : pages
  }
  return Math.ceil(total)
}
