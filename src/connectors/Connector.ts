import { Clock, Context, Effect, type Option, type Redacted, Schema } from "effect"
import type { EntityType } from "../domain/entities.js"
import type { Feed, SourcePlan } from "./SourcePlan.js"

export type { Feed } from "./SourcePlan.js"

/** One record of the source, validated: what the mirror stores. */
export interface SourceRecord {
  readonly id: string
  /** The project a record belongs to; a project's own id for projects. */
  readonly projectId: string
  /** Source `updated_at`, normalised to UTC `YYYY-MM-DDTHH:MM:SS.ffffffZ`. */
  readonly updatedAt: string
  readonly archived: boolean
  readonly payload: Readonly<Record<string, unknown>>
}

/** A record the source sent that does not match its schema: skipped and counted in `errors`. */
export interface InvalidRecord {
  readonly id: string | null
  readonly message: string
}

export interface SourcePage {
  readonly records: ReadonlyArray<SourceRecord>
  readonly invalid: ReadonlyArray<InvalidRecord>
  /** Size of the whole list when the source says so. */
  readonly totalCount: number | null
  readonly totalPages: number | null
  readonly hasMore: boolean
}

type WalkOrder = "created" | "updated_desc"

export interface PageRequest {
  readonly entity: EntityType
  readonly projectId: string | null
  readonly feed: Feed
  readonly page: number
  readonly perPage: number
  readonly order: WalkOrder
}

export type Lookup =
  | { readonly _tag: "Found"; readonly record: SourceRecord }
  | { readonly _tag: "Invalid"; readonly invalid: InvalidRecord }
  | { readonly _tag: "Gone" }
  /** The key may no longer read it (Plane: a project its owner is not a member of): not a deletion. */
  | { readonly _tag: "Hidden" }

/** An API key and where it came from (named in auth errors). */
export interface CurrentApiKey {
  readonly key: Redacted.Redacted<string>
  readonly source: string
}

/** The credentials were refused: permanent, the job fails at once. */
export class SourceAuthFailed extends Schema.TaggedError<SourceAuthFailed>()("SourceAuthFailed", {
  message: Schema.String,
  status: Schema.Number
}) {}

/**
 * The key is valid but may not read this: a project (Plane: a public project the key owner has
 * not joined; skipped) or the whole workspace (a wrong slug, or the key owner is not a member;
 * permanent).
 */
export class SourceForbidden extends Schema.TaggedError<SourceForbidden>()("SourceForbidden", {
  message: Schema.String,
  scope: Schema.Literal("workspace", "project")
}) {}

/** The workspace (or a project) does not exist at the source. */
export class SourceNotFound extends Schema.TaggedError<SourceNotFound>()("SourceNotFound", {
  message: Schema.String,
  scope: Schema.Literal("workspace", "project")
}) {}

/** The source refused the request as malformed (400): permanent. */
export class SourceRejected extends Schema.TaggedError<SourceRejected>()("SourceRejected", {
  message: Schema.String,
  status: Schema.Number
}) {}

/** Transient trouble that outlived the retries (5xx, timeouts, resets, unparsable bodies). */
export class SourceUnavailable extends Schema.TaggedError<SourceUnavailable>()("SourceUnavailable", {
  message: Schema.String
}) {}

export type SourceError = SourceAuthFailed | SourceForbidden | SourceNotFound | SourceRejected | SourceUnavailable

export const isPermanent = (e: SourceError): boolean =>
  e._tag === "SourceAuthFailed" || e._tag === "SourceRejected" ||
  ((e._tag === "SourceNotFound" || e._tag === "SourceForbidden") && e.scope === "workspace")

/**
 * What a sync needs from a source: its plan (the entity streams a sync walks, in order, and how;
 * see SourcePlan.ts), pages of records per stream, and single lookups. A second source
 * implements this beside plane/ and declares its own plan; the engine only reads the plan.
 */
export interface Connector {
  readonly plan: SourcePlan<EntityType>
  readonly listPage: (request: PageRequest) => Effect.Effect<SourcePage, SourceError>
  readonly lookup: (entity: EntityType, projectId: string, id: string) => Effect.Effect<Lookup, SourceError>
}

/**
 * Why a request is not sent yet: the integration's request budget (our window, or the source
 * saying it has no requests left), a 429's `Retry-After`, or the backoff before a retry.
 */
export type WaitReason = "rate_limit_budget" | "retry_after" | "backoff"

/**
 * Told about waits and retries while a request is in flight, so the job running it can log them,
 * show them and move its ETA. Optional: a connector works without one.
 */
export class RequestObserver extends Context.Tag("synclog/RequestObserver")<RequestObserver, {
  readonly retrying: (reason: string, attempt: number, delayMs: number, untilMs: number) => Effect.Effect<void>
  readonly throttled: (waitMs: number, reason: string, untilMs: number) => Effect.Effect<void>
  /**
   * Waits until `untilMs` before a request is sent (the request has nothing to commit yet, so a
   * job asked to stop or pause may end the wait by interrupting it). `detail` says why.
   */
  readonly wait: (reason: WaitReason, untilMs: number, detail: string) => Effect.Effect<void>
  /** The source refused a page size; from now on pages are fetched `accepted` rows at a time. */
  readonly pageSizeLimited: (accepted: number, reason: string) => Effect.Effect<void>
}>() {}

/** Waits before sending a request: through the job's observer when there is one. */
export const waitToSend = (reason: WaitReason, untilMs: number, detail: string): Effect.Effect<void> =>
  Effect.flatMap(Effect.serviceOption(RequestObserver), (observer) =>
    observer._tag === "Some"
      ? observer.value.wait(reason, untilMs, detail)
      : Effect.flatMap(Clock.currentTimeMillis, (now) => Effect.sleep(Math.max(0, untilMs - now))))

export type { Option }
