import { Clock, Effect } from "effect"
import type { WaitReason } from "./Connector.js"
import { isoAt } from "../domain/time.js"

/** What the status endpoint shows of an integration's request budget. */
export interface RateBudget {
  /** Requests a minute the budget allows now: what the source advertises, capped by the ceiling. */
  readonly limit: number
  readonly remaining: number
  readonly resetAt: string | null
  readonly blockedUntil: string | null
}

/** One request in the window; `at` moves from its send time to its completion time. */
interface Slot {
  at: number
  readonly sentAt: number
  done: boolean
}

/** How an acquire waits: the caller decides (the job shows and logs long waits, a stop ends them). */
type Waiter = (reason: WaitReason, untilMs: number, detail: string) => Effect.Effect<void>

const sleepUntil: Waiter = (_reason, untilMs) =>
  Effect.flatMap(Clock.currentTimeMillis, (now) => Effect.sleep(Math.max(0, untilMs - now)))

interface Window {
  /** `requestsPerMinute` as configured: a ceiling, or null to follow the source. */
  ceiling: number | null
  /** Our requests of the last minute. */
  sent: Array<Slot>
  blockedUntil: number
  blockedReason: WaitReason
  /** The source's limit as its headers imply it (highest lower bound of the last minute). */
  learned: number | null
  learnedAt: number
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

/** The budget of an integration whose `requestsPerMinute` is unset while its source says nothing. */
const SILENT_SOURCE_LIMIT = 60

/**
 * A client-side sliding window per integration, shared by every job of it: at most L requests
 * in any 60 s, the same rule Plane's throttle applies, so a healthy sync never provokes a 429.
 *
 * L follows the source. Plane's `X-RateLimit-Remaining` is its limit minus the requests of the
 * key it counted in its last minute; adding the requests of ours it must have counted (answered
 * before this one was sent, sent within the window) gives a lower bound of its limit, exact
 * when we are its only client, lower when others share the key (so we leave them their share).
 * L is the highest such bound of the last minute, capped by `requestsPerMinute`; when the
 * source says nothing, L is `requestsPerMinute` (60 when unset; 0 turns pacing off).
 * `X-RateLimit-Remaining: 0` and a 429's `Retry-After` block the window further. Time comes
 * from Clock, so tests drive it with TestClock.
 */
export class RateLimiter extends Effect.Service<RateLimiter>()("synclog/RateLimiter", {
  // State per layer build (not per module): two engines in one process never share budgets.
  sync: () => {
    const windows = new Map<string, Window>()

    const windowOf = (key: string, ceiling: number | null): Window => {
      let w = windows.get(key)
      if (w === undefined) {
        w = {
          ceiling,
          sent: [],
          blockedUntil: 0,
          blockedReason: "retry_after",
          learned: null,
          learnedAt: 0,
          sourceRemaining: null,
          sourceResetAt: null
        }
        windows.set(key, w)
      }
      w.ceiling = ceiling
      return w
    }

    /** The requests a minute allowed now; 0 = not paced. */
    const limitOf = (w: Window) => {
      if (w.ceiling === 0) return 0
      const fallback = w.ceiling ?? SILENT_SOURCE_LIMIT
      if (w.learned === null) return fallback
      return w.ceiling === null ? w.learned : Math.min(w.ceiling, w.learned)
    }

    const prune = (w: Window, now: number) => {
      if (w.sent.some((s) => s.at <= now - WINDOW_MS - SAFETY_MS)) {
        w.sent = w.sent.filter((s) => s.at > now - WINDOW_MS - SAFETY_MS)
      }
    }

    /** When our oldest request in the window was sent (slots are not kept in time order). */
    const oldestAt = (w: Window) => {
      let oldest: number | undefined
      for (const s of w.sent) if (oldest === undefined || s.at < oldest) oldest = s.at
      return oldest
    }

    /** When the window has room for one more request. */
    const nextFree = (w: Window, limit: number) => {
      const times = w.sent.map((s) => s.at).sort((a, b) => a - b)
      return times[times.length - limit]! + WINDOW_MS + SAFETY_MS
    }

    /**
     * Waits for room and takes a slot, stamped now. Call `done` with it when the answer comes:
     * the source counted the request when it arrived, so keeping it until then never
     * undercounts. `wait` performs each wait (a plain sleep by default).
     */
    const acquire = (key: string, requestsPerMinute: number | null, wait: Waiter = sleepUntil): Effect.Effect<Slot | null> =>
      Effect.gen(function*() {
        // Without a budget (0) nothing is paced, but a 429's Retry-After still holds everyone back.
        const w = windowOf(key, requestsPerMinute)
        while (true) {
          const now = yield* Clock.currentTimeMillis
          prune(w, now)
          const limit = limitOf(w)
          // One wait for whichever holds the request back longer: a block, or our full window.
          const windowFree = limit > 0 && w.sent.length >= limit ? nextFree(w, limit) : 0
          if (w.blockedUntil > now && w.blockedUntil >= windowFree) {
            yield* wait(
              w.blockedReason,
              w.blockedUntil,
              w.blockedReason === "retry_after"
                ? "Plane asked to wait (429 Retry-After)"
                : "Plane reported no requests left in its window (X-RateLimit-Remaining: 0)"
            )
          } else if (windowFree > now) {
            yield* wait("rate_limit_budget", windowFree, `the request budget of ${limit} a minute is used up`)
          } else {
            if (limit <= 0) return null
            const slot: Slot = { at: now, sentAt: now, done: false }
            w.sent.push(slot)
            return slot
          }
        }
      })

    const done = (slot: Slot | null) =>
      slot === null
        ? Effect.void
        : Effect.map(Clock.currentTimeMillis, (now) => {
          slot.at = Math.max(slot.at, now)
          slot.done = true
        })

    /**
     * The rate-limit headers of an allowed response to `slot`'s request: learn the source's
     * limit, and hold requests back when the source's count (other clients included) is full.
     */
    const observe = (key: string, slot: Slot | null, remaining: number | null, resetEpochSeconds: number | null) =>
      Effect.gen(function*() {
        const w = windows.get(key)
        if (w === undefined || slot === null || remaining === null || limitOf(w) <= 0) return
        const now = yield* Clock.currentTimeMillis
        // Ours the source surely counted: answered before this request left, sent within its
        // window (less the safety margin), plus this request itself.
        let counted = 1
        for (const s of w.sent) {
          if (s !== slot && s.done && s.at <= slot.sentAt && s.sentAt > now - WINDOW_MS + SAFETY_MS) counted++
        }
        const bound = Math.max(1, remaining + counted)
        if (w.learned === null || bound >= w.learned || now - w.learnedAt > WINDOW_MS) {
          w.learned = bound
          w.learnedAt = now
        }
        const sourceReset = resetEpochSeconds !== null && resetEpochSeconds * 1000 > now ? resetEpochSeconds * 1000 : now + WINDOW_MS
        w.sourceRemaining = remaining
        w.sourceResetAt = sourceReset
        if (remaining <= 0) {
          // The source's window is full: a slot opens when its oldest request expires, no later
          // than the reset it announced, nor (when the oldest are ours) than our oldest's expiry.
          const oldest = oldestAt(w)
          const until = Math.min(sourceReset, oldest !== undefined ? oldest + WINDOW_MS : now + WINDOW_MS)
          if (until > w.blockedUntil) {
            w.blockedUntil = until
            w.blockedReason = "rate_limit_budget"
          }
        }
      })

    /** A 429: nobody of this integration sends before Retry-After has passed. */
    const block = (key: string, untilMs: number) =>
      Effect.sync(() => {
        const w = windows.get(key)
        if (w !== undefined && untilMs > w.blockedUntil) {
          w.blockedUntil = untilMs
          w.blockedReason = "retry_after"
        }
      })

    const budget = (key: string): Effect.Effect<RateBudget | null> =>
      Effect.gen(function*() {
        const w = windows.get(key)
        const limit = w === undefined ? 0 : limitOf(w)
        if (w === undefined || limit <= 0) return null
        const now = yield* Clock.currentTimeMillis
        prune(w, now)
        const ours = Math.max(0, limit - w.sent.length)
        const sourceFresh = w.sourceResetAt !== null && w.sourceResetAt > now
        const remaining = sourceFresh && w.sourceRemaining !== null ? Math.min(ours, w.sourceRemaining) : ours
        const oldest = oldestAt(w)
        const resetAt = oldest !== undefined ? oldest + WINDOW_MS : null
        return {
          limit,
          remaining,
          resetAt: resetAt !== null ? isoAt(resetAt) : null,
          blockedUntil: w.blockedUntil > now ? isoAt(w.blockedUntil) : null
        }
      })

    /** Every paced integration's budget in one call (for `/metrics`: no effect per integration). */
    // Suspended: the windows are listed when the effect runs, not when it is built (at start-up,
    // when there are none yet).
    const budgets: Effect.Effect<ReadonlyArray<readonly [string, RateBudget]>> = Effect.suspend(() =>
      Effect.map(
        Effect.forEach([...windows.keys()], (key) => Effect.map(budget(key), (b) => [key, b] as const)),
        (all) => all.filter((entry): entry is readonly [string, RateBudget] => entry[1] !== null)
      )
    )

    return { acquire, done, observe, block, budget, budgets } as const
  }
}) {}

/**
 * About how long `requests` more requests take under `budget` from `now`: what is left goes at
 * once, the next one when the window's oldest request expires, then `limit` per window.
 */
export const budgetTimeMs = (requests: number, budget: RateBudget | null, now: number): number => {
  if (budget === null || budget.limit <= 0 || requests <= budget.remaining) return 0
  const firstFree = budget.resetAt !== null ? Math.max(0, Date.parse(budget.resetAt) + SAFETY_MS - now) : 0
  return Math.round(firstFree + ((requests - budget.remaining - 1) / budget.limit) * (WINDOW_MS + SAFETY_MS))
}
