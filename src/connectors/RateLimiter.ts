import { Clock, Effect } from "effect"

/** What the status endpoint shows of an integration's request budget. */
export interface RateBudget {
  readonly limit: number
  readonly remaining: number
  readonly resetAt: string | null
  readonly blockedUntil: string | null
}

/** One request in the window; `at` moves from its send time to its completion time. */
export interface Slot {
  at: number
}

interface Window {
  limit: number
  /** Our requests of the last minute. */
  sent: Array<Slot>
  blockedUntil: number
  /** What the source said last (its own count includes other clients of the same key). */
  sourceRemaining: number | null
  sourceResetAt: number | null
}

const WINDOW_MS = 60_000
/**
 * Our send time is a little earlier than the source's receipt (network, clock skew): waiting this
 * much longer than the window keeps our count from ever touching the source's limit.
 */
const SAFETY_MS = 1_000

/**
 * A client-side sliding window per integration, shared by every job of it: at most
 * `requestsPerMinute` requests in any 60 s, the same rule Plane's throttle applies, so a healthy
 * sync never provokes a 429. The source's `X-RateLimit-Remaining` and a 429's `Retry-After`
 * block the window further when other clients use the same key. Time comes from Clock, so
 * tests drive it with TestClock.
 */
export class RateLimiter extends Effect.Service<RateLimiter>()("synclog/RateLimiter", {
  // State per layer build (not per module): two engines in one process never share budgets.
  sync: () => {
    const windows = new Map<string, Window>()

    const windowOf = (key: string, limit: number): Window => {
      let w = windows.get(key)
      if (w === undefined) {
        w = { limit, sent: [], blockedUntil: 0, sourceRemaining: null, sourceResetAt: null }
        windows.set(key, w)
      }
      w.limit = limit
      return w
    }

    const prune = (w: Window, now: number) => {
      if (w.sent.some((s) => s.at <= now - WINDOW_MS - SAFETY_MS)) {
        w.sent = w.sent.filter((s) => s.at > now - WINDOW_MS - SAFETY_MS)
      }
    }

    /** When our oldest request in the window was sent (slots are not kept in time order). */
    const oldestAt = (w: Window) => (w.sent.length > 0 ? Math.min(...w.sent.map((s) => s.at)) : undefined)

    /** When the window has room for one more request. */
    const nextFree = (w: Window) => {
      const times = w.sent.map((s) => s.at).sort((a, b) => a - b)
      return times[times.length - w.limit]! + WINDOW_MS + SAFETY_MS
    }

    /**
     * Waits for room and takes a slot, stamped now. Call `done` with it when the answer comes:
     * the source counted the request when it arrived, so keeping it until then never
     * undercounts.
     */
    const acquire = (key: string, requestsPerMinute: number): Effect.Effect<Slot | null> =>
      Effect.gen(function*() {
        // Without a budget (0) nothing is paced, but a 429's Retry-After still holds everyone back.
        const w = windowOf(key, requestsPerMinute)
        while (true) {
          const now = yield* Clock.currentTimeMillis
          prune(w, now)
          let wait = Math.max(0, w.blockedUntil - now)
          if (wait === 0 && w.limit > 0 && w.sent.length >= w.limit) wait = nextFree(w) - now
          if (wait <= 0) {
            if (w.limit <= 0) return null
            const slot = { at: now }
            w.sent.push(slot)
            return slot
          }
          yield* Effect.sleep(wait)
        }
      })

    const done = (slot: Slot | null) =>
      slot === null ? Effect.void : Effect.map(Clock.currentTimeMillis, (now) => void (slot.at = Math.max(slot.at, now)))

    /** Headers of an allowed response: pace harder when the source's count is the tighter one. */
    const observe = (key: string, remaining: number | null, resetEpochSeconds: number | null) =>
      Effect.gen(function*() {
        const w = windows.get(key)
        if (w === undefined || remaining === null || w.limit <= 0) return
        const now = yield* Clock.currentTimeMillis
        w.sourceRemaining = remaining
        w.sourceResetAt = resetEpochSeconds !== null ? resetEpochSeconds * 1000 : now + WINDOW_MS
        if (remaining <= 0) {
          // The source's window is full: the next slot opens when its oldest request expires,
          // which is no later than our own oldest (or a whole window when we know no better).
          const oldest = oldestAt(w)
          w.blockedUntil = Math.max(w.blockedUntil, oldest !== undefined ? oldest + WINDOW_MS : now + WINDOW_MS)
        }
      })

    /** A 429: nobody of this integration sends before Retry-After has passed. */
    const block = (key: string, untilMs: number) =>
      Effect.sync(() => {
        const w = windows.get(key)
        if (w !== undefined) w.blockedUntil = Math.max(w.blockedUntil, untilMs)
      })

    const budget = (key: string): Effect.Effect<RateBudget | null> =>
      Effect.gen(function*() {
        const w = windows.get(key)
        if (w === undefined || w.limit <= 0) return null
        const now = yield* Clock.currentTimeMillis
        prune(w, now)
        const ours = Math.max(0, w.limit - w.sent.length)
        const sourceFresh = w.sourceResetAt !== null && w.sourceResetAt > now
        const remaining = sourceFresh && w.sourceRemaining !== null ? Math.min(ours, w.sourceRemaining) : ours
        const oldest = oldestAt(w)
        const resetAt = oldest !== undefined ? oldest + WINDOW_MS : null
        return {
          limit: w.limit,
          remaining,
          resetAt: resetAt !== null ? new Date(resetAt).toISOString() : null,
          blockedUntil: w.blockedUntil > now ? new Date(w.blockedUntil).toISOString() : null
        }
      })

    return { acquire, done, observe, block, budget } as const
  }
}) {}
