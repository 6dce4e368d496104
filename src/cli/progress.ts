/** What `--watch` shows of a job: pure functions of its progress, so they are tested on their own. */
import type { Counters } from "../domain/apiShapes.js"
import { clock, duration } from "./format.js"

/** A job's live state as the job stream's `progress` messages (and the job detail) give it. */
export interface ProgressState {
  readonly status: string
  readonly progress: number
  readonly stage?: string | undefined
  readonly stats: Counters
  readonly estimatedCompletion?: string | undefined
  readonly waiting?: { readonly reason: string; readonly until: string } | undefined
}

/** `running` shows the stage it is in; any other status shows itself. */
const label = (state: ProgressState) =>
  state.status === "running" ? (state.stage ?? "running") : state.status

export const counters = (stats: Counters) =>
  `processed ${stats.processed} created ${stats.created} updated ${stats.updated} deleted ${stats.deleted} errors ${stats.errors}`

const bar = (percent: number, cells: number) => {
  const filled = Math.round((Math.max(0, Math.min(100, percent)) / 100) * cells)
  return `[${"#".repeat(filled)}${".".repeat(cells - filled)}]`
}

/**
 * The one-line progress bar, at most `width - 1` characters (a full line would wrap on some
 * terminals, and `\r` could no longer redraw it). Parts that do not fit are left out, the
 * counters first, then the ETA, then the wait.
 */
export const renderProgress = (state: ProgressState, width: number): string => {
  const head = `${bar(state.progress, width >= 100 ? 20 : 10)} ${String(state.progress).padStart(3)}% ${label(state)}`
  const optional = [
    { order: 1, text: counters(state.stats) },
    ...(state.estimatedCompletion !== undefined && state.status === "running"
      ? [{ order: 2, text: `ETA ${clock(state.estimatedCompletion)}` }]
      : []),
    ...(state.waiting !== undefined ? [{ order: 3, text: `(waiting: ${state.waiting.reason} until ${clock(state.waiting.until)})` }] : [])
  ]
  const max = Math.max(1, width - 1)
  // Drop from the lowest priority (counters, then ETA) until the line fits.
  const byPriority = [...optional].sort((a, b) => b.order - a.order)
  while (byPriority.length > 0) {
    const line = [head, ...[...byPriority].sort((a, b) => a.order - b.order).map((p) => p.text)].join("  ")
    if (line.length <= max) return line
    byPriority.pop()
  }
  return head.length <= max ? head : head.slice(0, max)
}

/** A non-terminal's line for a new stage or status: `12:00:01  syncing_states  12%  processed 4 ...`. */
export const stageLine = (state: ProgressState, now: Date) =>
  `${clock(now.toISOString())}  ${label(state)}  ${state.progress}%  ${counters(state.stats)}` +
  (state.waiting !== undefined ? `  (waiting: ${state.waiting.reason} until ${clock(state.waiting.until)})` : "")

/** The last line of a watch: how the job ended, how long it took, its counters. */
export const summaryLine = (job: ProgressState & { readonly id: string; readonly duration?: number | undefined; readonly error?: string | undefined }) => {
  const took = job.duration !== undefined ? (job.status === "completed" ? ` in ${duration(job.duration)}` : ` after ${duration(job.duration)}`) : ""
  const reason = job.error !== undefined ? `: ${job.error}` : ""
  return `Job ${job.id} ${job.status}${took}${reason}; ${counters(job.stats)}`
}
