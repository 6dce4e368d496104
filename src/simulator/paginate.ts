/**
 * Plane's v1 offset paginator (plane-api.md §3.1), reproduced step by step.
 *
 * 1. `per_page`: Python `int()` of the parameter, default 1000. Not an int → 400
 *    `Invalid per_page parameter.`; above the maximum → 400 `Invalid per_page value.
 *    Cannot exceed {max}.`; zero or negative → 500 (Plane divides by it).
 * 2. `cursor`: `value:page:is_prev`, default `{per_page}:0:0`; unparsable → 400
 *    `Invalid cursor parameter.`. The `value` part is ignored: the page size is `per_page`.
 * 3. A negative page → 400 `Error in parsing`.
 * 4. Rows `[page*pp, page*pp + pp + 1)` are fetched; `next_page_results` is whether the
 *    extra row exists.
 * 5. `next_cursor = "{pp}:{page+1}:0"` (always set), `prev_cursor = "{pp}:{page-1}:1"`,
 *    `prev_page_results = page > 0`, `total_pages = ceil(total/pp)` (0 when empty),
 *    `total_count == total_results`, and `grouped_by`, `sub_grouped_by`, `extra_stats` null.
 */

export const DEFAULT_MAX_PER_PAGE = 1000

/**
 * What a `per_page` above the maximum gets: `"reject"` is Plane's 400; `"clamp"` serves
 * pages of the maximum instead (a source that returns fewer rows than asked while saying
 * there are more, and computes offsets and cursors with its own page size).
 */
export type OversizedPerPage = "reject" | "clamp"

/** A query parameter as Django's `request.GET.get` reads it: the last value wins. */
export const queryParam = (query: URLSearchParams, name: string): string | null => {
  const all = query.getAll(name)
  return all.length === 0 ? null : all[all.length - 1]!
}

/** Validated paging parameters of one request. */
export interface PageRequest {
  readonly perPage: number
  readonly page: number
  readonly offset: number
}

/** A rejected request: status and JSON body. */
export interface PaginationError {
  readonly status: 400 | 500
  readonly body: Readonly<Record<string, string>>
}

const SERVER_ERROR: PaginationError = { status: 500, body: { error: "Something went wrong please try again later" } }

const PY_INT = /^\s*[+-]?\d(?:_?\d)*\s*$/
const PY_FLOAT = /^\s*[+-]?(?:\d(?:_?\d)*)?\.?(?:\d(?:_?\d)*)?(?:[eE][+-]?\d(?:_?\d)*)?\s*$/

/** Python's `int(text)` for base-10 strings, or undefined where it raises ValueError. */
export const pythonInt = (text: string): number | undefined =>
  PY_INT.test(text) ? Number(text.trim().replace(/_/g, "")) : undefined

/** Python's `float(text)` for plain decimal strings, or undefined where it raises. */
const pythonFloat = (text: string): number | undefined => {
  if (!PY_FLOAT.test(text) || !/\d/.test(text)) return undefined
  return Number(text.trim().replace(/_/g, ""))
}

/**
 * Parses `per_page` and `cursor` exactly as Plane does. `maxPerPage` caps the page size;
 * the default page size is `min(1000, maxPerPage)`. A larger `per_page` is a 400, or with
 * `oversized: "clamp"` is served as `maxPerPage`.
 */
export const parsePageRequest = (
  query: URLSearchParams,
  maxPerPage: number = DEFAULT_MAX_PER_PAGE,
  oversized: OversizedPerPage = "reject"
): PageRequest | PaginationError => {
  const defaultPerPage = Math.min(DEFAULT_MAX_PER_PAGE, maxPerPage)
  const perPageParam = queryParam(query, "per_page")
  const asked = perPageParam === null ? defaultPerPage : pythonInt(perPageParam)
  if (asked === undefined) return { status: 400, body: { detail: "Invalid per_page parameter." } }
  if (asked > maxPerPage && oversized === "reject") {
    return { status: 400, body: { detail: `Invalid per_page value. Cannot exceed ${maxPerPage}.` } }
  }
  const perPage = Math.min(asked, maxPerPage)

  const cursor = queryParam(query, "cursor") ?? `${perPage}:0:0`
  const bits = cursor.split(":")
  const value = bits.length === 3 ? (bits[0]!.includes(".") ? pythonFloat(bits[0]!) : pythonInt(bits[0]!)) : undefined
  const page = bits.length === 3 ? pythonInt(bits[1]!) : undefined
  const isPrev = bits.length === 3 ? pythonInt(bits[2]!) : undefined
  if (value === undefined || page === undefined || isPrev === undefined) {
    return { status: 400, body: { detail: "Invalid cursor parameter." } }
  }

  // Plane computes `total_pages` by dividing by the page size, and Django refuses
  // negative slices: both end in an unhandled error.
  if (perPage <= 0) return SERVER_ERROR
  const offset = page * perPage
  if (offset < 0) return { status: 400, body: { detail: "Error in parsing" } }
  return { perPage, page, offset }
}

export const isPaginationError = (r: PageRequest | PaginationError): r is PaginationError => "status" in r

/**
 * Serialises one page of `rows` (the whole ordered result set) into the v1 envelope.
 * `render` turns one row into its JSON text. `total` defaults to `rows.length`.
 */
export const renderPage = <A>(
  request: PageRequest,
  rows: ReadonlyArray<A>,
  render: (row: A) => string,
  total: number = rows.length
): string => {
  const { perPage, page, offset } = request
  const fetched = offset >= rows.length ? [] : rows.slice(offset, offset + perPage + 1)
  const hasNext = fetched.length > perPage
  const pageRows = hasNext ? fetched.slice(0, perPage) : fetched
  const parts = new Array<string>(pageRows.length)
  for (let i = 0; i < pageRows.length; i++) parts[i] = render(pageRows[i]!)
  const totalPages = total > 0 ? Math.ceil(total / perPage) : 0
  return (
    `{"grouped_by":null,"sub_grouped_by":null,"total_count":${total},` +
    `"next_cursor":"${perPage}:${page + 1}:0","prev_cursor":"${perPage}:${page - 1}:1",` +
    `"next_page_results":${hasNext},"prev_page_results":${page > 0},"count":${pageRows.length},` +
    `"total_pages":${totalPages},"total_results":${total},"extra_stats":null,"results":[${parts.join(",")}]}`
  )
}
