/**
 * Timestamps as Plane (Django REST framework) renders them, and the simulator's clock.
 *
 * DRF renders an aware datetime with `isoformat()` and turns `+00:00` into `Z`: six
 * fraction digits when the microseconds are non-zero, none otherwise
 * (`2026-01-14T09:22:41.478363Z`, `2026-01-02T08:00:00Z`). Dates are `YYYY-MM-DD`.
 * Internally the simulator counts time in integer microseconds since the epoch
 * (still exact in a double for the next few centuries).
 */

export const MICROS_PER_MS = 1000
export const MICROS_PER_DAY = 86_400_000_000

const TWO_DIGITS: ReadonlyArray<string> = Array.from({ length: 60 }, (_, i) => String(i).padStart(2, "0"))
const MS_PER_DAY = 86_400_000
/** `YYYY-MM-DD` per epoch day: generating 200k records formats many timestamps of few days. */
const dayPrefix = new Map<number, string>()

const dateOfDay = (day: number): string => {
  let text = dayPrefix.get(day)
  if (text === undefined) {
    text = new Date(day * MS_PER_DAY).toISOString().slice(0, 10)
    if (dayPrefix.size > 10_000) dayPrefix.clear()
    dayPrefix.set(day, text)
  }
  return text
}

/** Renders epoch microseconds as a DRF datetime in UTC. */
export const formatDateTime = (micros: number): string => {
  const wholeSeconds = Math.floor(micros / 1_000_000)
  const fraction = micros - wholeSeconds * 1_000_000
  const day = Math.floor(wholeSeconds / 86_400)
  let rest = wholeSeconds - day * 86_400
  const hours = Math.floor(rest / 3600)
  rest -= hours * 3600
  const minutes = Math.floor(rest / 60)
  const seconds = rest - minutes * 60
  const base = `${dateOfDay(day)}T${TWO_DIGITS[hours]}:${TWO_DIGITS[minutes]}:${TWO_DIGITS[seconds]}`
  return fraction === 0 ? `${base}Z` : `${base}.${String(fraction).padStart(6, "0")}Z`
}

/** Renders epoch microseconds as a date (`YYYY-MM-DD`, UTC). */
export const formatDate = (micros: number): string => dateOfDay(Math.floor(micros / (MS_PER_DAY * 1000)))

const DATE_TIME =
  /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6})\d*)?)?(Z|[+-]\d{2}:?\d{2})?)?$/

/** The number written by `count` ASCII digits of `text` at `at`, or -1 on a non-digit. */
const digitsAt = (text: string, at: number, count: number): number => {
  let n = 0
  for (let i = at; i < at + count; i++) {
    const d = text.charCodeAt(i) - 48
    if (d < 0 || d > 9) return -1
    n = n * 10 + d
  }
  return n
}

/**
 * `parseTimestamp` without the regex for the shapes the simulator itself writes
 * (`YYYY-MM-DD`, `YYYY-MM-DDTHH:MM:SSZ`, `YYYY-MM-DDTHH:MM:SS.ffffffZ`), which sorting
 * parses thousands of times per list; `undefined` for anything else (the regex decides).
 * Same arithmetic as the general path, so the same result.
 */
const parseCanonical = (text: string): number | undefined => {
  const n = text.length
  if (n !== 10 && n !== 20 && n !== 27) return undefined
  if (text.charCodeAt(4) !== 45 || text.charCodeAt(7) !== 45) return undefined // "-"
  const year = digitsAt(text, 0, 4)
  const month = digitsAt(text, 5, 2)
  const day = digitsAt(text, 8, 2)
  if (year < 0 || month < 0 || day < 0) return undefined
  if (n === 10) {
    const ms = Date.UTC(year, month - 1, day)
    return Number.isNaN(ms) ? undefined : ms * 1000
  }
  if (text.charCodeAt(10) !== 84 || text.charCodeAt(13) !== 58 || text.charCodeAt(16) !== 58) return undefined // "T" ":" ":"
  if (text.charCodeAt(n - 1) !== 90) return undefined // "Z"
  const hours = digitsAt(text, 11, 2)
  const minutes = digitsAt(text, 14, 2)
  const seconds = digitsAt(text, 17, 2)
  if (hours < 0 || minutes < 0 || seconds < 0) return undefined
  let fraction = 0
  if (n === 27) {
    if (text.charCodeAt(19) !== 46) return undefined // "."
    fraction = digitsAt(text, 20, 6)
    if (fraction < 0) return undefined
  }
  const ms = Date.UTC(year, month - 1, day, hours, minutes, seconds)
  return Number.isNaN(ms) ? undefined : ms * 1000 + fraction
}

/**
 * Parses a datetime or date string into epoch microseconds, keeping microsecond
 * precision (which `Date.parse` would drop). A missing offset means UTC. Returns
 * `undefined` for anything that is not a date.
 */
export const parseTimestamp = (text: string): number | undefined => {
  const fast = parseCanonical(text)
  if (fast !== undefined) return fast
  const m = DATE_TIME.exec(text)
  if (m === null) return undefined
  const ms = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4] ?? 0), Number(m[5] ?? 0), Number(m[6] ?? 0))
  if (Number.isNaN(ms)) return undefined
  let micros = ms * 1000 + (m[7] === undefined ? 0 : Number(m[7].padEnd(6, "0")))
  const zone = m[8]
  if (zone !== undefined && zone !== "Z") {
    const sign = zone.startsWith("-") ? -1 : 1
    const digits = zone.slice(1).replace(":", "")
    const offsetMinutes = Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2))
    micros -= sign * offsetMinutes * 60_000_000
  }
  return micros
}

/**
 * The simulator's clock: an injectable base clock (ms since the epoch) plus an offset
 * that the admin API can move. Timestamps written by the simulator (`created_at`,
 * `updated_at`, ...) and the rate limiter both read it.
 */
export class SimClock {
  private offsetMs = 0
  private tick = 0

  constructor(private readonly base: () => number = Date.now) {}

  /** Current time in ms since the epoch. */
  now(): number {
    return this.base() + this.offsetMs
  }

  /**
   * Current time in microseconds, for timestamps written by mutations. A small
   * deterministic sub-millisecond part makes writes within one millisecond usually
   * distinct, as on a real database, while staying reproducible under a fixed clock.
   */
  nowMicros(): number {
    this.tick = (this.tick + 1) % 1000
    return this.now() * 1000 + this.tick
  }

  /** Moves the clock forward (or back, with a negative value). */
  advance(ms: number): void {
    this.offsetMs += ms
  }

  /** Makes `now()` return `ms` at this instant (the clock keeps running from there). */
  set(ms: number): void {
    this.offsetMs = ms - this.base()
  }
}
