const ISO = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?(Z|[+-]\d{2}:?\d{2})?$/

/** Already `YYYY-MM-DDTHH:MM:SS.ffffffZ` (what a UTC key owner gets from Plane): nothing to do. */
const NORMAL = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/

/**
 * Source timestamps come in the key owner's timezone with up to microseconds
 * (`2026-01-14T15:22:41.478363+05:30`). Normalise to UTC with six fraction digits, so strings
 * compare in time order. Returns null for anything that is not a date-time.
 */
export const normalizeTimestamp = (value: unknown): string | null => {
  if (typeof value !== "string") return null
  if (value.length === 27 && NORMAL.test(value)) {
    // Still reject impossible dates (month 13, day 32...).
    return Number.isNaN(Date.parse(value)) ? null : value
  }
  const m = ISO.exec(value)
  if (m === null) return null
  const [, y, mo, d, h, mi, s = "00", frac = "", zone = "Z"] = m
  let offsetMinutes = 0
  if (zone !== "Z") {
    const sign = zone[0] === "-" ? -1 : 1
    const digits = zone.slice(1).replace(":", "")
    offsetMinutes = sign * (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2, 4)))
  }
  const ms = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s)) - offsetMinutes * 60_000
  if (!Number.isFinite(ms)) return null
  const date = new Date(ms)
  if (Number.isNaN(date.getTime())) return null
  const micro = (frac + "000000").slice(0, 6)
  return `${date.toISOString().slice(0, 19)}.${micro}Z`
}
