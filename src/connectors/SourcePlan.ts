/**
 * What a source declares about its entity streams, so the engine can walk any source without
 * knowing its names: which streams exist, in which order a sync walks them, which are listed
 * per project, which are small lists, which an incremental sync can walk from a watermark.
 * Each connector exports one (connectors/plane/plan.ts); the engine reads it (engine/plan.ts)
 * and the API's entity names and stage names (`syncing_<name>`) are derived from it.
 */

/** A list can have a second feed for archived rows (Plane: archived cycles and modules). */
export type Feed = "active" | "archived"

export interface EntityStream<Name extends string = string> {
  /** The entity type's name: in selections, counters, mirror records and its stage, `syncing_<name>`. */
  readonly name: Name
  /**
   * `workspace`: one list for the whole source; its records are the projects the project-scoped
   * streams walk (exactly one such stream, walked first). `project`: one list per project.
   */
  readonly scope: "workspace" | "project"
  /**
   * `whole`: a small list, as a rule one request per project, so a walk is mostly round trips
   * and asks for the next projects' lists ahead. `paged`: a long list, walked page by page (the
   * prefetch of the next page keeps up). Either way a walk follows every page the source has.
   */
  readonly fetch: "whole" | "paged"
  /**
   * How an incremental sync walks it: `updated_at`, newest first, down to the project's
   * watermark (the time its previous walk started, less the overlap); null, in full every time.
   */
  readonly incremental: "updated_at" | null
  /** Archived rows are a second list, read when a job includes archived records. */
  readonly archivedFeed: boolean
  /** Records a project usually has, for progress and ETA until the mirror knows better. */
  readonly typicalPerProject: number
}

/** Why a project the workspace stream listed is not walked, logged at `level`. */
export interface UnwalkedProject {
  readonly level: "info" | "warn"
  readonly message: string
}

export interface SourcePlan<Name extends string = string> {
  /** The source's name in log lines ("… that Plane no longer has"). */
  readonly sourceName: string
  /** Every stream, in the order a sync walks them: the workspace-scoped one first. */
  readonly streams: readonly [EntityStream<Name>, ...ReadonlyArray<EntityStream<Name>>]
  /** Whether a project the workspace stream listed is walked (null) or skipped, and why. */
  readonly unwalked: (project: {
    readonly id: string
    readonly archived: boolean
    readonly payload: Readonly<Record<string, unknown>>
  }) => UnwalkedProject | null
}

/**
 * A plan, checked once when its module loads: the engine walks exactly one workspace-scoped
 * stream (the projects) first, and names must be unique (they key counters and the mirror).
 */
export const sourcePlan = <const Name extends string>(plan: SourcePlan<Name>): SourcePlan<Name> => {
  const [first, ...rest] = plan.streams
  if (first.scope !== "workspace" || rest.some((s) => s.scope !== "project")) {
    throw new Error(`${plan.sourceName} plan: the first stream, and only it, must be workspace-scoped`)
  }
  if (new Set(plan.streams.map((s) => s.name)).size !== plan.streams.length) {
    throw new Error(`${plan.sourceName} plan: stream names must be unique`)
  }
  return plan
}

/** The plan's stream names in walk order (non-empty, so they can make a Schema.Literal). */
export const streamNames = <Name extends string>(plan: SourcePlan<Name>): readonly [Name, ...ReadonlyArray<Name>] =>
  plan.streams.map((s) => s.name) as unknown as readonly [Name, ...ReadonlyArray<Name>]

/** The stream of that name; a name the plan does not declare is a bug. */
export const streamOf = <Name extends string>(plan: SourcePlan<Name>, name: Name): EntityStream<Name> => {
  const stream = plan.streams.find((s) => s.name === name)
  if (stream === undefined) throw new Error(`${plan.sourceName} plan has no stream '${name}'`)
  return stream
}

/** The feeds a walk of `stream` reads. */
export const feedsOf = (stream: EntityStream, includeArchived: boolean): ReadonlyArray<Feed> =>
  includeArchived && stream.archivedFeed ? BOTH_FEEDS : ACTIVE_FEED

const ACTIVE_FEED: ReadonlyArray<Feed> = ["active"]
const BOTH_FEEDS: ReadonlyArray<Feed> = ["active", "archived"]
