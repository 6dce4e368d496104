import { Clock, Effect } from "effect"

/**
 * A backlog of notifications (a receiver was down for a while) drains at full speed while no job
 * runs, and at most BACKLOG_RATE a second, over all endpoints together, while one does: each
 * delivery costs the server's one event loop about a millisecond, and a sync shares that loop.
 * Live notifications (an endpoint with fewer than BACKLOG queued) are never held back.
 */
export const BACKLOG = 10
export const BACKLOG_RATE = 50

/** When the next delivery may go, and where the shared slot moves to; pure, for tests. */
export const backlogSlot = (input: {
  readonly now: number
  readonly nextSlot: number
  readonly queued: number
  readonly runningJobs: number
}): { readonly startAt: number; readonly nextSlot: number } => {
  if (input.queued < BACKLOG || input.runningJobs === 0) return { startAt: input.now, nextSlot: input.nextSlot }
  const startAt = Math.max(input.now, input.nextSlot)
  return { startAt, nextSlot: startAt + 1000 / BACKLOG_RATE }
}

/** One pacer shared by every endpoint: `giveWay(queued)` waits for the delivery's slot. */
export const makeBacklogPacer = (runningJobs: Effect.Effect<number>) => {
  let nextSlot = 0
  const giveWay = (queued: number) =>
    Effect.gen(function*() {
      if (queued < BACKLOG) return
      const now = yield* Clock.currentTimeMillis
      const slot = backlogSlot({ now, nextSlot, queued, runningJobs: yield* runningJobs })
      nextSlot = slot.nextSlot
      if (slot.startAt > now) yield* Effect.sleep(slot.startAt - now)
    })
  return { giveWay } as const
}
