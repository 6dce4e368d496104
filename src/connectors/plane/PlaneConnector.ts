// Long by design: one connector, with its paging, rate-limit headers and error mapping kept together so Plane's quirks read in one place.
import { HttpClient, HttpClientRequest } from "@effect/platform"
import { Clock, Duration, Effect, Metric, Option, Random, Redacted } from "effect"
import type { EntityType } from "../../domain/entities.js"
import {
  type Connector,
  type Feed,
  type Lookup,
  type PageRequest,
  RequestObserver,
  SourceAuthFailed,
  type SourceError,
  SourceForbidden,
  SourceNotFound,
  type SourcePage,
  SourceRejected,
  SourceUnavailable,
  type WaitReason,
  waitToSend
} from "../Connector.js"
import * as M from "../../metrics/metrics.js"
import { RateLimiter } from "../RateLimiter.js"
import { decodeEnvelope, describeParseError, isSourceRecord, toSourceRecord } from "./schemas.js"
import { isoAt } from "../../domain/time.js"

export interface PlaneSettings {
  readonly integrationId: string
  readonly baseUrl: string
  readonly workspaceSlug: string
  readonly apiKey: Redacted.Redacted<string>
  /** Named in auth errors, so the operator knows which variable to fix. */
  readonly apiKeyEnv: string
  /** Where the key came from, named in auth errors (default: the environment variable `apiKeyEnv`). */
  readonly apiKeySource?: string | undefined
  /**
   * When given, read before every request instead of `apiKey` (a rotated key applies from the
   * next request); it should answer from memory. It fails when the key is gone.
   */
  readonly currentApiKey?: Effect.Effect<CurrentApiKey, SourceError> | undefined
  /** The budget's ceiling; null follows the source (see RateLimiter). */
  readonly requestsPerMinute: number | null
}

/** An API key and where it came from (named in auth errors). */
export interface CurrentApiKey {
  readonly key: Redacted.Redacted<string>
  readonly source: string
}

export interface RequestPolicy {
  readonly requestTimeout: Duration.Duration
  /** Attempts per request for transient failures (5xx, timeouts, resets, unparsable bodies). */
  readonly maxAttempts: number
  readonly baseDelay: Duration.Duration
  readonly maxDelay: Duration.Duration
  /** How many 429s one request may wait out before the job gives up. */
  readonly maxRateLimitWaits: number
}

interface Reply {
  readonly status: number
  readonly body: unknown
}

/** A failure worth another attempt; `retryAfterMs` when the source said how long to wait. */
class Transient {
  constructor(readonly reason: string, readonly retryAfterMs?: number) {}
}

const PAGE_NOT_FOUND = "Page not found."

/** A page size every Plane edition accepts (Cloud's SDKs allow up to 100, CE up to 1000). */
const SAFE_PER_PAGE = 100

/** The source would not serve `refused` rows per page; it serves `accepted`. */
class PageSizeRefused {
  constructor(readonly refused: number, readonly accepted: number, readonly reason: string) {}
}

const segment: Record<EntityType, string> = {
  projects: "projects",
  states: "states",
  labels: "labels",
  cycles: "cycles",
  modules: "modules",
  work_items: "work-items"
}
const archivedSegment: Partial<Record<EntityType, string>> = {
  cycles: "archived-cycles",
  modules: "archived-modules"
}

const detailOf = (body: unknown): string | undefined => {
  if (typeof body !== "object" || body === null) return undefined
  const b = body as Record<string, unknown>
  const d = b.detail ?? b.error ?? b.error_message
  return typeof d === "string" ? d : undefined
}

/** A bounded label: 2xx, 3xx, 4xx, 429 (it matters apart) or 5xx. */
const statusClass = (status: number) => (status === 429 ? "429" : `${Math.floor(status / 100)}xx`)

const parseHeaderInt = (value: string | undefined): number | null => {
  if (value === undefined) return null
  const n = Number(value)
  return Number.isFinite(n) ? n : null
}

/**
 * Plane's v1 REST API (plane-api.md): `X-API-Key`, trailing slashes, the v1 pagination envelope
 * with `per_page` resent on every page and cursor `per_page:page:0`, stop on
 * `next_page_results: false`. `work-items/` falls back to `issues/` on CE versions without it.
 */
export const makePlaneConnector = (settings: PlaneSettings, policy: RequestPolicy) =>
  Effect.gen(function*() {
    const http = yield* HttpClient.HttpClient
    const limiter = yield* RateLimiter
    const base = `${settings.baseUrl.replace(/\/+$/, "")}/api/v1/workspaces/${encodeURIComponent(settings.workspaceSlug)}`
    let workItemsSegment = segment.work_items
    const fixedKey: CurrentApiKey = {
      key: settings.apiKey,
      source: settings.apiKeySource ?? `environment variable ${settings.apiKeyEnv}`
    }
    const currentKey = settings.currentApiKey ?? Effect.succeed(fixedKey)
    // Where the key of the latest request came from, for the message of a refused key.
    let keySource = fixedKey.source

    const authFailed = (status: number, detail: string | undefined) =>
      new SourceAuthFailed({
        status,
        message: `Plane refused the API key (${status}${detail ? `: ${detail}` : ""}). Check the API key in ${keySource}.`
      })

    const labels = { integration: settings.integrationId }
    const requestCounters = new Map<string, Metric.Metric.Counter<number>>()
    const requestsOf = (statusClass: string) => {
      let counter = requestCounters.get(statusClass)
      if (counter === undefined) {
        counter = M.labelled(M.sourceRequests, { ...labels, status_class: statusClass })
        requestCounters.set(statusClass, counter)
      }
      return counter
    }
    const latency = M.labelled(M.sourceRequestDuration, labels)
    const retries = M.labelled(M.sourceRetries, labels)
    const waits = M.labelled(M.rateLimitWaits, labels)
    const waitSeconds = M.labelled(M.rateLimitWaitSeconds, labels)

    /** Every wait before a send, counted (budget and Retry-After waits) and then waited. */
    const waitCounted = (reason: WaitReason, untilMs: number, detail: string) =>
      Effect.gen(function*() {
        if (reason !== "backoff") {
          const now = yield* Clock.currentTimeMillis
          yield* Metric.increment(waits)
          yield* Metric.incrementBy(waitSeconds, Math.max(0, untilMs - now) / 1000)
        }
        yield* waitToSend(reason, untilMs, detail)
      })

    /** One HTTP exchange: rate-limited, timed out, body parsed. Transient troubles are values. */
    const exchange = (url: string, params: Record<string, string>) =>
      Effect.gen(function*() {
        const slot = yield* limiter.acquire(settings.integrationId, settings.requestsPerMinute, waitCounted)
        // Read per request (after any wait for the budget): a rotated key applies from the next one.
        const apiKey = yield* currentKey.pipe(Effect.onError(() => limiter.done(slot)))
        keySource = apiKey.source
        const sentAt = yield* Clock.currentTimeMillis
        const request = HttpClientRequest.get(url).pipe(
          HttpClientRequest.setHeaders({ "X-API-Key": Redacted.value(apiKey.key), accept: "application/json" }),
          HttpClientRequest.setUrlParams(params)
        )
        const outcome = yield* http.execute(request).pipe(
          Effect.flatMap((response) =>
            Effect.map(response.text, (text) => ({ status: response.status, headers: response.headers, text }))
          ),
          Effect.timeoutFail({
            duration: policy.requestTimeout,
            onTimeout: () => new Transient(`no answer within ${Duration.format(policy.requestTimeout)}`)
          }),
          Effect.catchTags({
            RequestError: (e) => Effect.fail(new Transient(`connection failed (${e.reason}): ${e.cause ?? e.message}`)),
            ResponseError: (e) => Effect.fail(new Transient(`response broken off (${e.reason})`))
          }),
          Effect.either,
          Effect.ensuring(limiter.done(slot))
        )
        yield* Metric.update(latency, ((yield* Clock.currentTimeMillis) - sentAt) / 1000)
        yield* Metric.increment(requestsOf(outcome._tag === "Left" ? "error" : statusClass(outcome.right.status)))
        if (outcome._tag === "Left") return outcome.left
        const { headers, status, text } = outcome.right
        if (status === 429) {
          const retryAfter = parseHeaderInt(headers["retry-after"]) ?? 60
          return new Transient("rate limited by Plane (429)", retryAfter * 1000)
        }
        yield* limiter.observe(
          settings.integrationId,
          slot,
          parseHeaderInt(headers["x-ratelimit-remaining"]),
          parseHeaderInt(headers["x-ratelimit-reset"])
        )
        if (status >= 500) return new Transient(`Plane answered ${status}`)
        let body: unknown
        try {
          body = text === "" ? null : JSON.parse(text)
        } catch {
          return status < 300 ? new Transient(`unparsable JSON body (${text.length} bytes)`) : { status, body: text }
        }
        return { status, body } satisfies Reply
      })

    /** Retries transient failures with capped exponential backoff and jitter; waits out 429s. */
    const getJson = (url: string, params: Record<string, string>): Effect.Effect<Reply, SourceError> =>
      Effect.gen(function*() {
        const observer = yield* Effect.serviceOption(RequestObserver)
        let attempt = 1
        let rateLimitWaits = 0
        while (true) {
          const result = yield* exchange(url, params)
          if (!(result instanceof Transient)) return result
          if (result.retryAfterMs !== undefined) {
            rateLimitWaits++
            if (rateLimitWaits > policy.maxRateLimitWaits) {
              return yield* new SourceUnavailable({
                message: `Plane kept answering 429 (rate limited) after ${policy.maxRateLimitWaits} waits`
              })
            }
            const now = yield* Effect.clockWith((c) => c.currentTimeMillis)
            const until = now + result.retryAfterMs
            yield* limiter.block(settings.integrationId, until)
            if (Option.isSome(observer)) {
              yield* observer.value.throttled(
                result.retryAfterMs,
                `${result.reason}; waiting ${Math.ceil(result.retryAfterMs / 1000)} s as Retry-After asks, until ${isoAt(until)}`,
                until
              )
            }
            // The next acquire waits out the block (with every other request of the integration).
            continue
          }
          if (attempt >= policy.maxAttempts) {
            return yield* new SourceUnavailable({
              message: `Plane request failed ${attempt} times, last: ${result.reason}`
            })
          }
          const exp = Duration.toMillis(policy.baseDelay) * 2 ** (attempt - 1)
          const jitter = yield* Random.nextRange(0.8, 1.2)
          const delay = Math.round(Math.min(Duration.toMillis(policy.maxDelay), exp) * jitter)
          const until = (yield* Effect.clockWith((c) => c.currentTimeMillis)) + delay
          yield* Metric.increment(retries)
          if (Option.isSome(observer)) yield* observer.value.retrying(result.reason, attempt, delay, until)
          yield* waitToSend("backoff", until, `backoff before retry ${attempt} (${result.reason})`)
          attempt++
        }
      })

    /** A 401, or a 403 about the token itself (plane-api.md §1): the key is refused, not the resource. */
    const refusesKey = (reply: Reply) => {
      const detail = detailOf(reply.body)
      return reply.status === 401 || (reply.status === 403 && (detail === undefined || /token/i.test(detail)))
    }

    /** Maps the 4xx answers every call shares; 404 is left to the caller. */
    const checkStatus = (reply: Reply): Effect.Effect<Reply, SourceError> => {
      const detail = detailOf(reply.body)
      if (refusesKey(reply)) return Effect.fail(authFailed(reply.status, detail))
      if (reply.status === 403) {
        return Effect.fail(new SourceForbidden({ scope: "project", message: `Plane denied access (403: ${detail})` }))
      }
      if (reply.status >= 400 && reply.status !== 404) {
        return Effect.fail(
          new SourceRejected({ status: reply.status, message: `Plane rejected the request (${reply.status}${detail ? `: ${detail}` : ""})` })
        )
      }
      return Effect.succeed(reply)
    }

    // Plane checks workspace membership before anything else, and an unknown slug fails that
    // check like a workspace the key's owner is not a member of: both are a 403, not a 404.
    const workspaceRefused = () =>
      new SourceForbidden({
        scope: "workspace",
        message: `Plane refused access to workspace '${settings.workspaceSlug}': check workspaceSlug and that the key's owner is a member`
      })

    const workspaceMissing = () =>
      new SourceNotFound({
        scope: "workspace",
        message: `Plane workspace '${settings.workspaceSlug}' was not found at ${settings.baseUrl} (404). Check workspaceSlug in the config file.`
      })

    const listUrl = (entity: EntityType, projectId: string | null, feed: Feed) => {
      if (entity === "projects") return `${base}/projects/`
      const seg = feed === "archived" ? archivedSegment[entity]! : entity === "work_items" ? workItemsSegment : segment[entity]
      return `${base}/projects/${projectId}/${seg}/`
    }

    /**
     * The largest `per_page` the source serves, once it refused a larger one: remembered for
     * this connector's lifetime (the integration's settings unchanged, in this process), so
     * only the first request after a start or a settings change finds out again.
     */
    let acceptedPerPage: number | undefined

    /** Asks for the order every list that can span pages needs: stable, and unique in practice. */
    const orderParams = (req: PageRequest): Record<string, string> => {
      // Projects: Plane's default is the member's sort_order, the same value for every
      // project, with no tie-breaker, so pages repeat and skip projects. created_at is unique
      // in practice and puts projects created during a walk after it. States, labels, cycles
      // and modules have a fixed order Plane does not let a client change.
      if (req.entity === "projects") return { order_by: "created_at" }
      if (req.entity === "work_items") return { order_by: req.order === "updated_desc" ? "-updated_at" : "created_at" }
      return {}
    }

    /**
     * A 400 about `per_page`: the size Plane's message names ("Cannot exceed 100."), else 100,
     * the size every Plane edition accepts.
     */
    const pageSizeRefusal = (reply: Reply, perPage: number): PageSizeRefused | undefined => {
      const detail = detailOf(reply.body)
      if (reply.status !== 400 || detail === undefined || !/per_page/i.test(detail)) return undefined
      const named = /exceed\D*(\d+)/i.exec(detail)
      const accepted = named ? Number(named[1]) : SAFE_PER_PAGE
      return accepted >= 1 && accepted < perPage
        ? new PageSizeRefused(perPage, accepted, `Plane refused per_page=${perPage} (400: ${detail})`)
        : undefined
    }

    /** One page as the source numbers them: `perPage` rows from row `page * perPage`. */
    const requestPage = (req: PageRequest, page: number, perPage: number) =>
      Effect.gen(function*() {
        const params = { per_page: String(perPage), cursor: `${perPage}:${page}:0`, ...orderParams(req) }
        let reply = yield* getJson(listUrl(req.entity, req.projectId, req.feed), params)
        if (reply.status === 404 && req.entity === "work_items" && workItemsSegment === "work-items" && detailOf(reply.body) === PAGE_NOT_FOUND) {
          // CE before v1.1 has only issues/ (plane-api.md §2): switch for good and ask again.
          workItemsSegment = "issues"
          reply = yield* getJson(listUrl(req.entity, req.projectId, req.feed), params)
        }
        const refusal = pageSizeRefusal(reply, perPage)
        if (refusal) return refusal
        if (req.entity === "projects" && reply.status === 403 && !refusesKey(reply)) return yield* workspaceRefused()
        yield* checkStatus(reply)
        if (reply.status === 404) {
          if (req.entity === "projects") return yield* workspaceMissing()
          return yield* new SourceNotFound({ scope: "project", message: `Plane project ${req.projectId} no longer exists (404)` })
        }
        const envelope = decodeEnvelope(reply.body)
        if (envelope._tag === "Left") {
          return yield* new SourceUnavailable({
            message: `Plane sent a list response that is not the v1 pagination envelope: ${describeParseError(envelope.left)}`
          })
        }
        const rows = envelope.right.results.length
        if (rows > 0 && rows < perPage && envelope.right.next_page_results) {
          // A source that caps the page size quietly also counts its offsets in its own size:
          // these rows are not necessarily the ones asked for.
          return new PageSizeRefused(perPage, rows, `Plane sent ${rows} of the ${perPage} rows asked for and said there were more`)
        }
        return envelope.right
      })

    /**
     * Rows `[page * perPage, (page + 1) * perPage)` of a list, read in source pages of `size`
     * rows (`size` <= `perPage`): the caller's pages, checkpoints and counters stay in its own
     * page size whatever size the source accepts. When `size` does not divide the caller's
     * offsets, the source page that straddles two of the caller's pages is read for both.
     */
    const readRange = (req: PageRequest, size: number) =>
      Effect.gen(function*() {
        const start = req.page * req.perPage
        const end = start + req.perPage
        const raw: Array<unknown> = []
        let hasMore = false
        let totalCount: number | null = null
        let totalPages: number | null = null
        for (let page = Math.floor(start / size); ; page++) {
          const envelope = yield* requestPage(req, page, size)
          if (envelope instanceof PageSizeRefused) return envelope
          totalCount = envelope.total_count ?? totalCount
          if (size === req.perPage) totalPages = envelope.total_pages ?? null
          const first = page * size
          for (let i = Math.max(0, start - first); i < Math.min(envelope.results.length, end - first); i++) {
            raw.push(envelope.results[i])
          }
          if (first + size >= end) {
            // This source page reaches the end of the range: is there a row after it?
            hasMore = first + size === end ? envelope.next_page_results : envelope.results.length > end - first
            break
          }
          if (!envelope.next_page_results) break
        }
        if (size !== req.perPage && totalCount !== null) totalPages = Math.ceil(totalCount / req.perPage)
        const records: Array<SourcePage["records"][number]> = []
        const invalid: Array<SourcePage["invalid"][number]> = []
        for (const r of raw) {
          const record = toSourceRecord(req.entity, r)
          if (isSourceRecord(record)) records.push(record)
          else invalid.push(record)
        }
        return { records, invalid, totalCount, totalPages, hasMore } satisfies SourcePage
      })

    /**
     * One page of the caller's size. A source that refuses that size (a 400 about
     * `per_page`, or fewer rows than asked while saying there are more) is read in the size it
     * accepts from then on, smaller each time it refuses again, so this ends.
     */
    const listPage = (req: PageRequest): Effect.Effect<SourcePage, SourceError> =>
      Effect.gen(function*() {
        while (true) {
          const size = Math.min(req.perPage, acceptedPerPage ?? req.perPage)
          const result = yield* readRange(req, size)
          if (!(result instanceof PageSizeRefused)) return result
          const before = acceptedPerPage
          acceptedPerPage = Math.min(before ?? result.accepted, result.accepted)
          // Requests in flight together may all be refused: the job hears of it once.
          const observer = yield* Effect.serviceOption(RequestObserver)
          if (acceptedPerPage !== before && Option.isSome(observer)) {
            yield* observer.value.pageSizeLimited(acceptedPerPage, result.reason)
          }
        }
      })

    const detailUrl = (entity: EntityType, projectId: string, id: string) =>
      entity === "projects"
        ? `${base}/projects/${id}/`
        : `${base}/projects/${projectId}/${entity === "work_items" ? workItemsSegment : segment[entity]}/${id}/`

    /** Plane's cycle and module details answer 404 for archived ones: look in the archived list. */
    const findArchived = (entity: EntityType, projectId: string, id: string) =>
      Effect.gen(function*() {
        for (let page = 0; ; page++) {
          const result = yield* listPage({ entity, projectId, feed: "archived", page, perPage: 100, order: "created" })
          const found = result.records.find((r) => r.id === id)
          if (found) return { _tag: "Found", record: found } as const
          if (!result.hasMore) return { _tag: "Gone" } as const
        }
      }).pipe(Effect.catchTag("SourceNotFound", (e) => e.scope === "project" ? Effect.succeed({ _tag: "Gone" } as const) : Effect.fail(e)))

    /**
     * Whether the key's owner is not a member of a project. Plane answers the labels of such a
     * project with an empty list and 404s instead of a 403: a missing label there is hidden,
     * not deleted.
     */
    const notAMember = (projectId: string) =>
      Effect.map(
        Effect.flatMap(getJson(`${base}/projects/${projectId}/`, {}), checkStatus),
        (reply) => reply.status === 200 && (reply.body as { is_member?: unknown } | null)?.is_member === false
      )

    const lookup = (entity: EntityType, projectId: string, id: string): Effect.Effect<Lookup, SourceError> =>
      Effect.gen(function*() {
        const reply = yield* Effect.flatMap(getJson(detailUrl(entity, projectId, id), {}), checkStatus)
        if (reply.status === 404) {
          if (archivedSegment[entity]) return yield* findArchived(entity, projectId, id)
          if (entity === "labels" && (yield* notAMember(projectId))) return { _tag: "Hidden" } as const
          return { _tag: "Gone" } as const
        }
        const r = toSourceRecord(entity, reply.body)
        return isSourceRecord(r) ? { _tag: "Found", record: r } as const : { _tag: "Invalid", invalid: r } as const
      }).pipe(
        // The key may no longer read the record's project (or workspace): Plane hid it, it did
        // not delete it, so the mirror keeps it as it was.
        Effect.catchTag("SourceForbidden", () => Effect.succeed({ _tag: "Hidden" } as const))
      )

    const feeds = (entity: EntityType, includeArchived: boolean): ReadonlyArray<Feed> =>
      includeArchived && archivedSegment[entity] !== undefined ? ["active", "archived"] : ["active"]

    return { listPage, lookup, feeds } satisfies Connector
  })
