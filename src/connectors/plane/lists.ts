import { Effect, Option } from "effect"
import {
  type PageRequest,
  RequestObserver,
  type SourceError,
  SourceForbidden,
  SourceNotFound,
  type SourcePage,
  SourceUnavailable
} from "../Connector.js"
import { detailOf, type PlaneClient, type PlaneSettings, refusesKey, type Reply } from "./client.js"
import type { Routes } from "./routes.js"
import { decodeEnvelope, describeParseError, isSourceRecord, toSourceRecord } from "./schemas.js"

const PAGE_NOT_FOUND = "Page not found."

/** A page size every Plane edition accepts (Cloud's SDKs allow up to 100, CE up to 1000). */
const SAFE_PER_PAGE = 100

/** The source would not serve `refused` rows per page; it serves `accepted`. */
class PageSizeRefused {
  constructor(readonly refused: number, readonly accepted: number, readonly reason: string) {}
}

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

/**
 * Pages of Plane's lists: the v1 pagination envelope with `per_page` resent on every page and
 * cursor `per_page:page:0`, stop on `next_page_results: false`; pages of the caller's size
 * whatever size the source accepts.
 */
export const makeListReader = (settings: PlaneSettings, client: PlaneClient, routes: Routes) => {
  const { checkStatus, getJson } = client

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

  /**
   * The largest `per_page` the source serves, once it refused a larger one: remembered for
   * this connector's lifetime (the integration's settings unchanged, in this process), so
   * only the first request after a start or a settings change finds out again.
   */
  let acceptedPerPage: number | undefined

  /** One page as the source numbers them: `perPage` rows from row `page * perPage`. */
  const requestPage = (req: PageRequest, page: number, perPage: number) =>
    Effect.gen(function*() {
      const params = { per_page: String(perPage), cursor: `${perPage}:${page}:0`, ...orderParams(req) }
      let reply = yield* getJson(routes.listUrl(req.entity, req.projectId, req.feed), params)
      if (
        reply.status === 404 && req.entity === "work_items" && detailOf(reply.body) === PAGE_NOT_FOUND &&
        routes.fallBackToIssues()
      ) {
        // CE before v1.1 has only issues/ (plane-api.md §2): switched for good, ask again.
        reply = yield* getJson(routes.listUrl(req.entity, req.projectId, req.feed), params)
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

  return listPage
}
