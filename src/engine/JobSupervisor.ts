import { Effect, Either, FiberMap, FiberSet, Option } from "effect"
import { EngineSettings } from "../config/Settings.js"
import { nowIso } from "../domain/time.js"
import type { JobStatus } from "../domain/job.js"
import { decided, decidedOrNothing, decideJob, type JobCommand } from "../domain/jobDecider.js"
import { EventStore } from "../eventlog/EventStore.js"
import { Views } from "../eventlog/Views.js"
import { JobLog } from "./JobLog.js"
import { type Command, deliver, expireGrace, JobRunner, type Mailbox, makeMailbox, type Outcome } from "./JobRunner.js"

interface CommandResult {
  readonly jobId: string
  readonly status: JobStatus
  readonly message: string
}

interface Actor {
  readonly integrationId: string
  readonly mailbox: Mailbox
  /** Set by an immediate stop: the actor's own interruption appends `JobStopped`. */
  stopNow: boolean
}

/**
 * The JobActors: one supervised fiber per running job (a FiberMap keyed by job id), started
 * from the queue while an integration runs fewer than its `maxConcurrentJobs` (default 1) and
 * the process has a free permit.
 * Commands reach a running actor through its mailbox; a graceful one has a grace period. Which
 * command is legal in which state, and what it appends, is the job decider's (domain/jobDecider.ts).
 * At start it resumes what a crash or a shutdown left behind; at shutdown it pauses its actors
 * at their next batch boundary.
 */
export class JobSupervisor extends Effect.Service<JobSupervisor>()("synclog/JobSupervisor", {
  scoped: Effect.gen(function*() {
    const store = yield* EventStore
    const views = yield* Views
    const runner = yield* JobRunner
    const jobLog = yield* JobLog
    const engine = yield* EngineSettings
    // Made before the FiberMap, so it closes after the shutdown finalizer below: the grace
    // timers that finalizer starts still run, and none outlives the supervisor.
    const graceTimers = yield* FiberSet.make()
    const fibers = yield* FiberMap.make<string>()
    // Jobs fork with the supervisor's context, never with the HTTP request's that started them.
    const runFork = yield* FiberMap.runtime(fibers)<never>()
    const actors = new Map<string, Actor>()
    const dispatchLock = yield* Effect.makeSemaphore(1)
    const endedHooks: Array<(jobId: string, outcome: Outcome) => Effect.Effect<void>> = []
    let accepting = true

    const start = (job: { readonly id: string; readonly integrationId: string }) =>
      Effect.gen(function*() {
        const at = yield* nowIso
        // Not queued any more (stopped or deleted meanwhile): nothing to start.
        const [, started] = yield* store.updateJob(job.id, decidedOrNothing({ _tag: "Start", jobId: job.id }, at))
        if (started.length === 0) return
        const mailbox = makeMailbox()
        const entry: Actor = { integrationId: job.integrationId, mailbox, stopNow: false }
        actors.set(job.id, entry)
        const actor = runner.run(job.id, mailbox).pipe(
          Effect.tap((outcome) => Effect.forEach(endedHooks, (hook) => hook(job.id, outcome), { discard: true })),
          // The terminal event commits before the permit and the integration are released, so
          // the log never shows the next job started while this one is still active.
          Effect.onInterrupt(() => entry.stopNow ? stoppedImmediately(job.id) : Effect.void),
          Effect.ensuring(Effect.suspend(() => {
            actors.delete(job.id)
            return dispatch
          })),
          Effect.withSpan("job", { root: true, attributes: { jobId: job.id } })
        )
        runFork(job.id, actor)
      })

    /** Starts queued jobs, oldest first, while permits and idle integrations allow. */
    const dispatch: Effect.Effect<void> = dispatchLock.withPermits(1)(
      Effect.gen(function*() {
        if (!accepting) return
        const queued = yield* views.queued
        const running = new Map<string, number>()
        for (const actor of actors.values()) running.set(actor.integrationId, (running.get(actor.integrationId) ?? 0) + 1)
        // Each integration runs up to its own maxConcurrentJobs (default 1) at once.
        const limits = new Map<string, number>()
        for (const job of queued) {
          if (actors.size >= engine.maxConcurrentJobs) break
          let limit = limits.get(job.integrationId)
          if (limit === undefined) {
            limit = (yield* views.integration(job.integrationId))?.settings.maxConcurrentJobs ?? 1
            limits.set(job.integrationId, limit)
          }
          const busy = running.get(job.integrationId) ?? 0
          if (busy >= limit) continue
          yield* start(job)
          running.set(job.integrationId, busy + 1)
        }
      })
    ).pipe(Effect.orDie)

    /**
     * Sends a graceful command; the batch in flight gets `graceSeconds` to commit (a request
     * still waiting to be sent ends at once: it has nothing to commit).
     */
    const send = (actor: Actor, command: Command, graceSeconds: number) =>
      Effect.gen(function*() {
        yield* deliver(actor.mailbox, command)
        yield* FiberSet.run(graceTimers, Effect.sleep(graceSeconds * 1000).pipe(Effect.zipRight(expireGrace(actor.mailbox))))
      })

    /** Ends a live job without its actor (it is gone, or was interrupted); logs `note` when it did. */
    const settle = (command: JobCommand, note: string) =>
      Effect.gen(function*() {
        const at = yield* nowIso
        const [doc, events] = yield* store.updateJob(command.jobId, decidedOrNothing(command, at))
        if (events.length > 0) yield* jobLog.write(command.jobId, "info", note)
        return doc
      })

    const stoppedImmediately = (jobId: string) =>
      settle(
        { _tag: "Settle", jobId, reason: "stopped immediately; the uncommitted batch was discarded" },
        "Stopped immediately; the batch in flight was rolled back, the last committed batch is the checkpoint"
      ).pipe(Effect.orDie)

    const stop = (jobId: string, graceful: boolean) =>
      Effect.gen(function*() {
        const at = yield* nowIso
        const [doc, events] = yield* store.updateJob(jobId, decided({ _tag: "Stop", jobId, graceful }, at))
        // Stopped at once (it was queued or paused), asked of its actor, or asked already.
        const action = events.length === 0 ? "already" : events[0]!._tag === "JobStopped" ? "done" : "signal"
        if (action === "done") {
          yield* jobLog.write(jobId, "info", `Stopped on request before it ran further`)
          return { jobId, status: doc!.status, message: "Job stopped" } satisfies CommandResult
        }
        if (action === "already") return { jobId, status: doc!.status, message: "Job stop already requested" }
        yield* jobLog.write(
          jobId,
          "info",
          graceful ? "Stop requested: the batch in flight commits, then the job stops" : "Immediate stop requested"
        )
        const actor = actors.get(jobId)
        if (actor === undefined) {
          // Running in the log but no actor here (it ended a moment ago): settle it now.
          const after = yield* settle({ _tag: "Settle", jobId, reason: "stopped on request" }, "Stopped")
          return { jobId, status: after?.status ?? "stopped", message: "Job stopped" }
        }
        if (graceful) {
          yield* send(actor, { _tag: "Stop" }, engine.stopGracePeriod)
        } else {
          actor.mailbox.command = { _tag: "Stop" }
          actor.stopNow = true
          yield* FiberMap.remove(fibers, jobId)
          // The actor had already ended if it was not in the FiberMap any more: settle it here.
          yield* stoppedImmediately(jobId)
        }
        const latest = yield* views.job(jobId)
        return { jobId, status: latest?.status ?? "stopping", message: "Job stop requested" }
      })

    /** `window`: the scheduler pauses a scheduled job at the end of its sync window. */
    const pause = (jobId: string, reason: "request" | "window" = "request") =>
      Effect.gen(function*() {
        const at = yield* nowIso
        const [doc] = yield* store.updateJob(jobId, decided({ _tag: "Pause", jobId, reason }, at))
        yield* jobLog.write(
          jobId,
          "info",
          reason === "window"
            ? "The sync window ends: the batch in flight commits, then the job pauses until the window opens again"
            : "Pause requested: the batch in flight commits, then the job pauses"
        )
        const actor = actors.get(jobId)
        if (actor === undefined) {
          yield* settle({ _tag: "Halt", jobId, pause: reason }, "Paused")
        } else yield* send(actor, { _tag: "Pause", reason }, engine.stopGracePeriod)
        const latest = yield* views.job(jobId)
        return {
          jobId,
          status: latest?.status ?? doc!.status,
          message: "Job pause requested; it pauses after the batch in flight commits"
        } satisfies CommandResult
      })

    /**
     * `window`: the scheduler resumes a job it paused at the window's end when the window opens;
     * `retry`: it retries a job that failed with a transient cause (`note` says which attempt).
     */
    const resume = (jobId: string, reason: "request" | "window" | "retry" = "request", note?: string) =>
      Effect.gen(function*() {
        const at = yield* nowIso
        yield* store.updateJob(jobId, decided({ _tag: "Resume", jobId, reason }, at))
        yield* jobLog.write(
          jobId,
          "info",
          note ?? (reason === "window"
            ? "The sync window opened: resuming from the last checkpoint"
            : "Resume requested: it continues from its last checkpoint")
        )
        yield* dispatch
        const latest = yield* views.job(jobId)
        const status = latest?.status ?? "queued"
        return {
          jobId,
          status,
          message: status === "queued" ? "Job resumed; it waits for a free slot" : "Job resumed"
        } satisfies CommandResult
      })

    /** After a restart: continue what a crash or a shutdown interrupted, from its checkpoint. */
    let recovered = false

    const recover = Effect.gen(function*() {
      const at = yield* nowIso
      for (const job of yield* views.withStatus(["running", "stopping", "paused"])) {
        const command: JobCommand = { _tag: "Recover", jobId: job.id }
        // Most paused jobs wait for a resume: the view tells them apart without a transaction.
        if (Either.isLeft(decideJob(command, job, at))) continue
        const [, events] = yield* store.updateJob(job.id, decidedOrNothing(command, at))
        const event = events[0]
        if (event === undefined) continue
        const where = job.checkpoint
          ? `${job.checkpoint.stage}, page ${job.checkpoint.position.page + 1}`
          : "its start"
        if (event._tag === "JobStopped") {
          yield* jobLog.write(job.id, "info", "Stopped: its stop was requested before the server restarted")
        } else if (event._tag === "JobPaused") {
          yield* jobLog.write(job.id, "info", "Paused: its pause was requested before the server restarted")
        } else if (event._tag === "JobResumed" && event.reason === "recovery") {
          yield* jobLog.write(
            job.id,
            "warn",
            `The server stopped while this job was running (crash or kill): resuming from its last checkpoint (${where})`
          )
        } else {
          yield* jobLog.write(job.id, "info", `Resuming after the server restart from its checkpoint (${where})`)
        }
      }
      yield* dispatch
      recovered = true
    }).pipe(Effect.orDie)

    // Registered after the FiberMap, so it runs first at shutdown: ask every actor to pause at
    // its next batch boundary and wait; the FiberMap then interrupts whatever is still running
    // (those jobs stay "running" in the log and are recovered at the next start).
    yield* Effect.addFinalizer(() =>
      Effect.gen(function*() {
        accepting = false
        if (actors.size === 0) return
        yield* Effect.logInfo(`Shutting down: pausing ${actors.size} running job(s) at their next batch boundary`)
        for (const actor of actors.values()) {
          yield* send(actor, { _tag: "Pause", reason: "shutdown" }, engine.shutdownGracePeriod)
        }
        yield* FiberMap.awaitEmpty(fibers).pipe(
          Effect.orElseSucceed(() => undefined),
          Effect.timeoutOption((engine.shutdownGracePeriod + 5) * 1000),
          Effect.flatMap(Option.match({
            onNone: () => Effect.logWarning("Some jobs did not pause in time; they resume from their checkpoint at the next start"),
            onSome: () => Effect.void
          }))
        )
      })
    )

    return {
      dispatch,
      stop,
      pause,
      resume,
      recover,
      isRunning: (jobId: string) => actors.has(jobId),
      running: Effect.sync(() => actors.size),
      /** Whether start-up recovery has run (readiness). */
      recovered: Effect.sync(() => recovered),
      /** Called with every job's outcome when its actor ends (circuit breaker, retries). */
      onJobEnded: (hook: (jobId: string, outcome: Outcome) => Effect.Effect<void>) =>
        Effect.sync(() => void endedHooks.push(hook))
    } as const
  })
}) {}
