/**
 * Plane's API-key throttle (plane-api.md §4, §8.3): DRF's `SimpleRateThrottle`, a sliding
 * window of request timestamps per key.
 *
 * - A request is allowed when fewer than N requests of that key fall in the last 60 s;
 *   it is then recorded. Rejected requests are not recorded.
 * - Allowed responses carry `X-RateLimit-Remaining = N - count_including_this` and
 *   `X-RateLimit-Reset = int(now + 60)` (epoch seconds). There is no `X-RateLimit-Limit`.
 * - A rejected request gets 429 with `Retry-After = ceil(60 - (now - oldest))` seconds and
 *   no `X-RateLimit-*` headers.
 * - N = 0 turns the limiter off (no headers at all).
 *
 * The clock is injected so tests can move time.
 */

export const WINDOW_MS = 60_000

export type ThrottleDecision =
  | { readonly allowed: true; readonly remaining: number; readonly resetEpochSeconds: number }
  | { readonly allowed: false; readonly retryAfterSeconds: number }

export const RATE_LIMITED_BODY = { error_code: 5900, error_message: "RATE_LIMIT_EXCEEDED" } as const

/** Timestamps of one key: a queue with a moving head, compacted now and then. */
interface Window {
  stamps: Array<number>
  head: number
}

export class SlidingWindowLimiter {
  /** Per key: timestamps (ms) of recorded requests, oldest first from `head`. */
  private readonly windows = new Map<string, Window>()

  constructor(
    private limit: number,
    private readonly now: () => number,
    private readonly windowMs: number = WINDOW_MS
  ) {}

  get requestsPerMinute(): number {
    return this.limit
  }

  get enabled(): boolean {
    return this.limit > 0
  }

  /** Changes N; the recorded history is kept. */
  setLimit(limit: number): void {
    this.limit = Math.max(0, Math.floor(limit))
  }

  reset(): void {
    this.windows.clear()
  }

  /** Decides one request of `key` (only call when `enabled`). */
  check(key: string): ThrottleDecision {
    const now = this.now()
    let w = this.windows.get(key)
    if (w === undefined) this.windows.set(key, (w = { stamps: [], head: 0 }))
    // DRF drops entries with `timestamp <= now - duration`.
    while (w.head < w.stamps.length && w.stamps[w.head]! <= now - this.windowMs) w.head++
    if (w.head > 1024 && w.head * 2 > w.stamps.length) {
      w.stamps = w.stamps.slice(w.head)
      w.head = 0
    }
    const count = w.stamps.length - w.head

    if (count >= this.limit) {
      const oldest = w.stamps[w.head] ?? now
      const waitSeconds = (this.windowMs - (now - oldest)) / 1000
      return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil(waitSeconds)) }
    }
    w.stamps.push(now)
    return {
      allowed: true,
      remaining: Math.max(0, this.limit - (count + 1)),
      resetEpochSeconds: Math.floor((now + this.windowMs) / 1000)
    }
  }
}

/** The response headers of an allowed request. */
export const rateLimitHeaders = (d: Extract<ThrottleDecision, { allowed: true }>): Record<string, string> => ({
  "X-RateLimit-Remaining": String(d.remaining),
  "X-RateLimit-Reset": String(d.resetEpochSeconds)
})
