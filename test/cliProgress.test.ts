import { beforeAll, describe, expect, it } from "vitest"
import { type ProgressState, renderProgress, stageLine, summaryLine } from "../src/cli/progress.js"

/** The `--watch` display as pure functions of a job's progress (times shown in local time: UTC here). */
describe("progress rendering", () => {
  beforeAll(() => {
    process.env.TZ = "UTC"
  })

  const stats = { processed: 1200, created: 1180, updated: 20, deleted: 0, errors: 0 }
  const running: ProgressState = {
    status: "running",
    progress: 42,
    stage: "syncing_work_items",
    stats,
    estimatedCompletion: "2026-11-30T12:03:04.000Z"
  }

  it("shows the bar, percent, stage, counters and ETA on one line", () => {
    expect(renderProgress(running, 120)).toBe(
      "[########............]  42% syncing_work_items  processed 1200 created 1180 updated 20 deleted 0 errors 0  ETA 12:03:04"
    )
    // A narrow terminal gets a shorter bar.
    expect(renderProgress({ ...running, progress: 50 }, 99).startsWith("[#####.....]  50% syncing_work_items")).toBe(true)
  })

  it("shows what the job waits for, and until when", () => {
    const waiting = { ...running, waiting: { reason: "rate_limit_budget", until: "2026-11-30T12:01:30.000Z" } }
    expect(renderProgress(waiting, 200)).toBe(
      "[########............]  42% syncing_work_items  processed 1200 created 1180 updated 20 deleted 0 errors 0  " +
        "ETA 12:03:04  (waiting: rate_limit_budget until 12:01:30)"
    )
    // Too narrow for everything: the counters go first, then the ETA; the wait stays.
    expect(renderProgress(waiting, 110)).toBe(
      "[########............]  42% syncing_work_items  ETA 12:03:04  (waiting: rate_limit_budget until 12:01:30)"
    )
    expect(renderProgress(waiting, 100)).toBe("[########............]  42% syncing_work_items  (waiting: rate_limit_budget until 12:01:30)")
    expect(renderProgress(waiting, 90)).toBe("[####......]  42% syncing_work_items  (waiting: rate_limit_budget until 12:01:30)")
  })

  it("never fills the last column (a wrapped line could not be redrawn)", () => {
    for (const width of [10, 20, 40, 60, 80, 100, 140]) {
      expect(renderProgress({ ...running, waiting: { reason: "backoff", until: "2026-11-30T12:01:30.000Z" } }, width).length)
        .toBeLessThan(width)
    }
  })

  it("shows the status instead of a stage once the job is not running, without an ETA", () => {
    expect(renderProgress({ status: "completed", progress: 100, stats, estimatedCompletion: "2026-11-30T12:03:04.000Z" }, 120)).toBe(
      "[####################] 100% completed  processed 1200 created 1180 updated 20 deleted 0 errors 0"
    )
    expect(renderProgress({ status: "paused", progress: 0, stage: "syncing_states", stats }, 80)).toMatch(/^\[\.{10}\]   0% paused/)
    // Out-of-range progress still draws a bar of the right size.
    expect(renderProgress({ status: "running", progress: 140, stats }, 80)).toMatch(/^\[#{10}\] 140% running/)
  })

  it("prints a stage line and a summary for non-terminals", () => {
    expect(stageLine(running, new Date("2026-11-30T12:00:01.000Z"))).toBe(
      "12:00:01  syncing_work_items  42%  processed 1200 created 1180 updated 20 deleted 0 errors 0"
    )
    expect(summaryLine({ id: "sync-job-1", status: "completed", progress: 100, stats, duration: 4200 })).toBe(
      "Job sync-job-1 completed in 4.2 s; processed 1200 created 1180 updated 20 deleted 0 errors 0"
    )
    expect(summaryLine({ id: "sync-job-2", status: "failed", progress: 10, stats, duration: 65_000, error: "Plane refused the API key" }))
      .toBe("Job sync-job-2 failed after 1 m 05 s: Plane refused the API key; processed 1200 created 1180 updated 20 deleted 0 errors 0")
  })
})
