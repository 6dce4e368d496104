import { ENTITY_TYPES, type EntityType } from "../domain/entities.js"
import { type JobOptions, type JobType, type Stage, stageOf } from "../domain/job.js"

/** What a job walks and writes, decided from its type and options alone. */
export interface JobPlan {
  readonly stages: ReadonlyArray<Stage>
  /** Entity types written to the mirror (the projects stage may only list projects). */
  readonly mirrored: ReadonlySet<EntityType>
  /** Full and selective syncs confirm and tombstone what their walk no longer found. */
  readonly sweep: boolean
  readonly includesProject: (projectId: string) => boolean
}

export const planOf = (type: JobType, options: JobOptions): JobPlan => {
  // Every type walks its options' entities: all of them unless a selection (the job's own or
  // its integration's default) narrowed them.
  const mirrored = new Set<EntityType>(options.entities)
  const stages: Array<Stage> = ["syncing_projects"]
  for (const entity of ENTITY_TYPES) {
    if (entity !== "projects" && mirrored.has(entity)) stages.push(stageOf(entity))
  }
  stages.push("finalizing")
  const include = options.projects ? new Set(options.projects) : null
  const exclude = new Set(options.excludeProjects ?? [])
  return {
    stages,
    mirrored,
    sweep: type !== "incremental_sync",
    includesProject: (id) => (include === null || include.has(id)) && !exclude.has(id)
  }
}

/** Records a project usually has of each kind, before the mirror knows better. */
const DEFAULT_PER_PROJECT: Record<EntityType, number> = {
  projects: 1,
  states: 5,
  labels: 4,
  cycles: 3,
  modules: 2,
  work_items: 100
}

/**
 * Progress as the share of the expected work done. Each stage weighs what the mirror last held
 * of its entity type (or a default per project); within a project-scoped stage, the share of
 * projects done plus the share of pages done in the current one.
 */
export const stageWeights = (
  plan: JobPlan,
  counts: Partial<Record<EntityType, number>>,
  projectCount: number
): ReadonlyArray<number> => {
  const projects = Math.max(1, projectCount || counts.projects || 10)
  const weights = plan.stages.map((stage) => {
    if (stage === "finalizing") return 0
    const entity = stage.slice("syncing_".length) as EntityType
    return 1 + (counts[entity] ?? DEFAULT_PER_PROJECT[entity] * projects)
  })
  const total = weights.reduce((a, b) => a + b, 0)
  // Finalizing is a few lookups and one query per type: a small, fixed share.
  return weights.map((w, i) => (plan.stages[i] === "finalizing" ? Math.max(1, total * (plan.sweep ? 0.03 : 0.005)) : w))
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
 * (the mirror's last count, else the defaults above) fill at `perPage`, at least one, per
 * feed; an incremental walk of work items usually ends on its first page. The lookups of the
 * finalizing stage are not counted (only records a full walk missed are looked up).
 */
export const requestsLeft = (input: {
  readonly plan: JobPlan
  readonly incremental: boolean
  readonly counts: Partial<Record<EntityType, number>>
  /** Projects found so far (all of them once the projects stage is done). */
  readonly projectCount: number
  readonly perPage: number
  readonly feeds: (entity: EntityType) => number
  readonly stageIndex: number
  readonly fraction: number
}): number => {
  const { counts, perPage, plan } = input
  // While projects are still being listed, the ones found so far are only a floor.
  const listing = plan.stages[input.stageIndex] === "syncing_projects"
  const projects = Math.max(1, listing ? Math.max(input.projectCount, counts.projects || 10) : input.projectCount)
  let total = 0
  for (let i = Math.max(0, input.stageIndex); i < plan.stages.length; i++) {
    const stage = plan.stages[i]!
    if (stage === "finalizing") continue
    const entity = stage.slice("syncing_".length) as EntityType
    let pages: number
    if (entity === "projects") pages = Math.max(1, Math.ceil(projects / perPage))
    else {
      const perProject = (counts[entity] ?? DEFAULT_PER_PROJECT[entity] * projects) / projects
      const perFeed = input.incremental && entity === "work_items" ? 1 : Math.max(1, Math.ceil(perProject / perPage))
      pages = projects * perFeed * input.feeds(entity)
    }
    total += i === input.stageIndex ? pages * (1 - Math.min(1, Math.max(0, input.fraction))) : pages
  }
  return Math.ceil(total)
}
