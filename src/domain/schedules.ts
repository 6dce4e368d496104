import { Cron, Either } from "effect"
import type { IntegrationSettings, ScheduleSpec, SyncWindowSpec } from "./events.js"

/**
 * Schedules and sync windows as pure functions of time (epoch milliseconds), so the scheduler,
 * the status endpoint and the tests agree on every due time. Cron times come from Effect's
 * `Cron` in the schedule's time zone (UTC without one), daylight-saving changes included: a
 * local time that does not exist on the spring-forward day runs at the first instant after it.
 */

/** The schedule of an integration; events written before `schedule` existed carry `syncInterval`. */
export const scheduleOf = (settings: IntegrationSettings): ScheduleSpec =>
  settings.schedule ?? { every: settings.syncInterval ?? 3600 }

/** The full-sync schedule, or null when scheduled runs are incremental once there is a baseline. */
export const fullScheduleOf = (settings: IntegrationSettings): ScheduleSpec | null =>
  settings.fullSyncSchedule ?? (settings.fullSyncInterval !== null ? { every: settings.fullSyncInterval } : null)

const crons = new Map<string, Cron.Cron>()

/** Parsed once per expression and zone; the config and API bodies were validated already. */
const cronOf = (expression: string, timezone: string | undefined): Cron.Cron => {
  const key = `${expression}|${timezone ?? ""}`
  let cron = crons.get(key)
  if (cron === undefined) {
    cron = Either.getOrThrow(Cron.parse(expression, timezone ?? "UTC"))
    crons.set(key, cron)
  }
  return cron
}

/** The first due time strictly after `from`. */
export const nextOccurrence = (spec: ScheduleSpec, from: number): number =>
  "every" in spec ? from + spec.every * 1000 : Cron.next(cronOf(spec.cron, spec.timezone), new Date(from)).getTime()

const dailyAt = (hhmm: string, timezone: string | undefined) => {
  const [h, m] = hhmm.split(":")
  return cronOf(`${Number(m)} ${Number(h)} * * *`, timezone)
}

/** Inside when the latest window boundary at or before `t` is a start. */
export const insideWindow = (window: SyncWindowSpec, t: number): boolean => {
  // Cron.prev is strictly before its argument: one second later includes a boundary at `t`.
  const probe = new Date(t + 1000)
  const lastStart = Cron.prev(dailyAt(window.start, window.timezone), probe).getTime()
  const lastEnd = Cron.prev(dailyAt(window.end, window.timezone), probe).getTime()
  return lastStart > lastEnd
}

export const nextWindowStart = (window: SyncWindowSpec, t: number): number =>
  Cron.next(dailyAt(window.start, window.timezone), new Date(t)).getTime()

export const nextWindowEnd = (window: SyncWindowSpec, t: number): number =>
  Cron.next(dailyAt(window.end, window.timezone), new Date(t)).getTime()

/**
 * The answers of deferToWindow, which the status endpoint asks for every integration on every
 * request with the same due times (a Cron step in a time zone costs about a millisecond). It is
 * a pure function of its arguments, so a remembered answer never goes stale; emptied when full.
 */
const deferred = new Map<string, number>()
const MAX_DEFERRED = 4096

/** A time outside the window moves to the window's next start; without a window it stays. */
export const deferToWindow = (window: SyncWindowSpec | undefined, t: number): number => {
  if (window === undefined) return t
  const key = `${t}|${window.start}|${window.end}|${window.timezone ?? ""}`
  let answer = deferred.get(key)
  if (answer === undefined) {
    answer = insideWindow(window, t) ? t : nextWindowStart(window, t)
    if (deferred.size >= MAX_DEFERRED) deferred.clear()
    deferred.set(key, answer)
  }
  return answer
}

/**
 * Whether a scheduled run at `now` is a full sync: the full schedule has a due time after the
 * last completed full sync (`every`: that many seconds have passed since it).
 */
export const fullSyncDue = (settings: IntegrationSettings, lastFullSyncCompletedAt: string | null, now: number): boolean => {
  const full = fullScheduleOf(settings)
  if (full === null) return false
  if (lastFullSyncCompletedAt === null) return true
  return nextOccurrence(full, Date.parse(lastFullSyncCompletedAt)) <= now
}
