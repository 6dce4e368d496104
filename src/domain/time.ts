/** Timestamps as the API, the events and the logs write them: ISO-8601 UTC with milliseconds. */
import { Clock, Effect } from "effect"

/** An epoch-milliseconds instant as ISO-8601 UTC with milliseconds. */
export const isoAt = (epochMs: number): string => new Date(epochMs).toISOString()

/** Now, read from Effect's Clock (so TestClock drives it in tests). */
export const nowIso: Effect.Effect<string> = Effect.map(Clock.currentTimeMillis, isoAt)
