// Long (~390 lines) by design: the actors' lifecycle (queue and permits, the protocol's requests,
// start-up resumption, shutdown, a cluster runner's adoption) shares one FiberMap and one permit
// count, and splitting it would pass that state between files.
import { Effect, Either, Exit, FiberMap, Option, Scope } from "effect"
import { EngineSettings } from "../config/Settings.js"
import type { JobEvent } from "../domain/events.js"
import type { JobStatus } from "../domain/job.js"
import { decided, decidedOrNothing, decideJob, type JobCommand } from "../domain/jobDecider.js"
import { nowIso } from "../domain/time.js"
import { EventStore } from "../eventlog/EventStore.js"
import type { JobDoc } from "../eventlog/jobProjection.js"
import { CurrentRun } from "../eventlog/runFence.js"
import { Views } from "../eventlog/Views.js"
import { JobLog } from "./JobLog.js"
import { JobOutcomes } from "./JobOutcomes.js"
import { type JobReply, type JobRequest, Pause, Resume, Start, Stop } from "./jobProtocol.js"
import { JobRunner } from "./JobRunner.js"
import { adoptionOf, Placement } from "./Placement.js"
import { recoverInterrupted } from "./recovery.js"
import { ask, makeRunControl, type RunControl } from "./run/control.js"

interface Actor {
  readonly integrationId: string
  readonly control: RunControl
  /** Set by an immediate stop before it interrupts the run: the run's interruption appends `JobStopped`. */
  stopNow: boolean
  /** Cluster: asked to pause because its integration moved to another runner. */
  handingOver: boolean
}

/** The job log's line naming the runner of a run (cluster), and how to read the address back. */
const RUNNING_ON = "Running on runner "
const runnerOf = (line: string | undefined) => line?.slice(RUNNING_ON.length).split(" ")[0]

/** A job an actor may hold, or a runner's departure left holding its integration's slot. */
const LIVE_STATUSES: ReadonlyArray<JobStatus> = ["running", "stopping", "paused"]

const reply = (jobId: string, status: JobStatus, message: string): JobReply => ({ jobId, status, message })

/** The end a settled run's event stands for. */
const outcomeOf = (event: JobEvent) => (event._tag === "JobPaused" ? "paused" as const : "stopped" as const)

/**
 * The job actors: one supervised fiber per running job (a FiberMap keyed by job id), started
 * from the queue while an integration runs fewer than its `maxConcurrentJobs` (default 1) and
 * the process has a free permit. A job takes the requests of its protocol (jobProtocol.ts)
 * through `send`; which request is legal in which state, and what it appends, is the job
 * decider's (domain/jobDecider.ts). A running actor is steered through its RunControl
 * (run/control.ts); every run's end is published on JobOutcomes. At start it resumes what a
 * crash or a shutdown left behind; at shutdown it pauses its actors at their next batch boundary.
 */
export class JobSupervisor extends Effect.Service<JobSupervisor>()("synclog/JobSupervisor", {
  scoped: Effect.gen(function*() {
    const store = yield* EventStore
    const views = yield* Views
    const runner = yield* JobRunner
    const jobLog = yield* JobLog
    const engine = yield* EngineSettings
    const outcomes = yield* JobOutcomes
    const placement = yield* Placement
    const fibers = yield* FiberMap.make<string>()
    // Jobs fork with the supervisor's context, never with the HTTP request's that started them.
    const runFork = yield* FiberMap.runtime(fibers)<never>()
    const actors = new Map<string, Actor>()
    const dispatchLock = yield* Effect.makeSemaphore(1)
    let accepting = true

    /** Ends a live job whose run is gone (interrupted, or ended a moment ago); logs `note` and publishes the end when it did. */
    const settle = (command: JobCommand, note: string) =>
      Effect.gen(function*() {
        const at = yield* nowIso
        const [doc, events] = yield* store.updateJob(command.jobId, decidedOrNothing(command, at))
        if (events.length > 0) {
          yield* jobLog.write(command.jobId, "info", note)
          yield* outcomes.publish({ jobId: command.jobId, integrationId: doc!.integrationId, outcome: outcomeOf(events[0]!) })
        }
        return doc
      })

    const stoppedImmediately = (jobId: string) =>
      settle(
        { _tag: "Settle", jobId, reason: "stopped immediately; the uncommitted batch was discarded" },
        "Stopped immediately; the batch in flight was rolled back, the last committed batch is the checkpoint"
      ).pipe(Effect.orDie)

    const onStart = (jobId: string) =>
      Effect.gen(function*() {
        const at = yield* nowIso
        const [doc] = yield* store.updateJob(jobId, decided({ _tag: "Start", jobId }, at))
        // The run's control lives in the actor's own scope: its timers and requests end with it.
        const scope = yield* Scope.make()
        const actor: Actor = {
          integrationId: doc!.integrationId,
          control: yield* Scope.extend(makeRunControl, scope),
          stopNow: false,
          handingOver: false
        }
        actors.set(jobId, actor)
        if (placement.runner !== null) yield* jobLog.write(jobId, "info", `${RUNNING_ON}${placement.runner} (run ${doc!.runs})`)
        // The run appends only while it is the job's latest run (eventlog/runFence.ts).
        const run = runner.run(jobId, actor.control).pipe(
          Effect.locally(CurrentRun, { jobId, run: doc!.runs }),
          // The run's end is in the log, and the outcome's subscribers (the circuit breaker) have
          // acted on it, before the slot is released: the log never shows the integration's next
          // job started while this one is still active.
          Effect.tap((outcome) => outcomes.publish({ jobId, integrationId: actor.integrationId, outcome })),
          Effect.onInterrupt(() => (actor.stopNow ? stoppedImmediately(jobId) : Effect.void)),
          Effect.ensuring(Effect.suspend(() => {
            actors.delete(jobId)
            // Its slot is this runner's: only this runner's queue can start in it.
            return Effect.zipRight(Scope.close(scope, Exit.void), dispatchHere)
          })),
          Effect.withSpan("job", { root: true, attributes: { jobId } })
        )
        runFork(jobId, run)
        return reply(jobId, doc!.status, "Job started")
      })

    /**
     * Starts queued jobs, oldest first, while permits and idle integrations allow: the jobs of
     * the integrations this process hosts (all of them on a single server). Call it holding
     * `dispatchLock`. `live` is the running, stopping and paused jobs when the caller has just
     * read them (adoptOrphans), so they are not read twice.
     */
    const startQueued = (live?: ReadonlyArray<JobDoc>) =>
      Effect.gen(function*() {
        if (!accepting) return
        const queued = yield* views.queued
        const running = new Map<string, number>()
        for (const actor of actors.values()) running.set(actor.integrationId, (running.get(actor.integrationId) ?? 0) + 1)
        // Cluster: a job that no actor here runs but that a runner's departure interrupted holds
        // its integration's slot too (running or stopping on a runner that left, or paused for
        // its shutdown), until adoptOrphans resumes it here: a job queued after it must not start
        // first, or beside it. (Its resume keeps its place in the queue: jobProjection.ts.)
        if (placement.runner !== null) {
          for (const job of live ?? (yield* views.withStatus(LIVE_STATUSES))) {
            if (!LIVE_STATUSES.includes(job.status)) continue
            if (actors.has(job.id) || (job.status === "paused" && job.pauseReason !== "shutdown")) continue
            running.set(job.integrationId, (running.get(job.integrationId) ?? 0) + 1)
          }
        }
        // Each integration runs up to its own maxConcurrentJobs (default 1) at once.
        const limits = new Map<string, number>()
        for (const job of queued) {
          // Another runner's: its owner starts it (woken when it was queued, and on its own job
          // ends and adoption pass).
          if (!placement.owns(job.integrationId)) continue
          if (actors.size >= engine.maxConcurrentJobs) break
          let limit = limits.get(job.integrationId)
          if (limit === undefined) {
            limit = (yield* views.integration(job.integrationId))?.settings.maxConcurrentJobs ?? 1
            limits.set(job.integrationId, limit)
          }
          const busy = running.get(job.integrationId) ?? 0
          if (busy >= limit) continue
          const started = yield* sendHere(job.id, new Start()).pipe(
            Effect.as(true),
            // Not queued any more (stopped or deleted meanwhile): nothing to start.
            Effect.catchTags({ InvalidTransition: () => Effect.succeed(false), JobNotFound: () => Effect.succeed(false) })
          )
          if (started) running.set(job.integrationId, busy + 1)
        }
      })

    /** Starts what can start here: the queue of the integrations this process hosts. */
    const dispatchHere: Effect.Effect<void> = dispatchLock.withPermits(1)(Effect.suspend(() => startQueued())).pipe(Effect.orDie)

    /**
     * After jobs of these integrations were queued (or resumed): starts what can start here when
     * this process hosts one of them, and wakes the owner of each of the others, once. Only
     * their owners: slots are per runner, so no other runner's queue changed (and each runner
     * starts its own queue on its job ends and in its adoption pass every second).
     */
    const dispatchFor = (integrationIds: Iterable<string>): Effect.Effect<void> =>
      Effect.suspend(() => {
        const elsewhere = new Set<string>()
        let here = false
        for (const id of integrationIds) {
          if (placement.owns(id)) here = true
          else elsewhere.add(id)
        }
        return Effect.zipRight(
          here ? dispatchHere : Effect.void,
          Effect.forEach(elsewhere, placement.wake, { discard: true })
        )
      })

    const onStop = (jobId: string, graceful: boolean) =>
      Effect.gen(function*() {
        const at = yield* nowIso
        const [doc, events] = yield* store.updateJob(jobId, decided({ _tag: "Stop", jobId, graceful }, at))
        // Stopped at once (it was queued or paused), asked of its actor, or asked already.
        if (events.length === 0) return reply(jobId, doc!.status, "Job stop already requested")
        if (events[0]!._tag === "JobStopped") {
          yield* jobLog.write(jobId, "info", `Stopped on request before it ran further`)
          return reply(jobId, doc!.status, "Job stopped")
        }
        yield* jobLog.write(
          jobId,
          "info",
          graceful ? "Stop requested: the batch in flight commits, then the job stops" : "Immediate stop requested"
        )
        const actor = actors.get(jobId)
        if (actor === undefined) {
          // Running in the log but no actor here (it ended a moment ago): settle it now.
          const after = yield* settle({ _tag: "Settle", jobId, reason: "stopped on request" }, "Stopped")
          return reply(jobId, after?.status ?? "stopped", "Job stopped")
        }
        if (graceful) {
          yield* ask(actor.control, { _tag: "Stop" }, engine.stopGracePeriod * 1000)
        } else {
          // Interrupted where it is: the batch in flight rolls back whole.
          actor.stopNow = true
          yield* FiberMap.remove(fibers, jobId)
          // The actor had already ended if it was not in the FiberMap any more: settle it here.
          yield* stoppedImmediately(jobId)
        }
        const latest = yield* views.job(jobId)
        return reply(jobId, latest?.status ?? "stopping", "Job stop requested")
      })

    const onPause = (jobId: string, reason: "request" | "window") =>
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
        } else yield* ask(actor.control, { _tag: "Pause", reason }, engine.stopGracePeriod * 1000)
        const latest = yield* views.job(jobId)
        return reply(jobId, latest?.status ?? doc!.status, "Job pause requested; it pauses after the batch in flight commits")
      })

    const onResume = (jobId: string, reason: "request" | "window" | "retry", note: string | undefined) =>
      Effect.gen(function*() {
        const at = yield* nowIso
        const [resumed] = yield* store.updateJob(jobId, decided({ _tag: "Resume", jobId, reason }, at))
        yield* jobLog.write(
          jobId,
          "info",
          note ?? (reason === "window"
            ? "The sync window opened: resuming from the last checkpoint"
            : "Resume requested: it continues from its last checkpoint")
        )
        yield* dispatchFor([resumed!.integrationId])
        const status = (yield* views.job(jobId))?.status ?? "queued"
        return reply(jobId, status, status === "queued" ? "Job resumed; it waits for a free slot" : "Job resumed")
      })

    /** A request handled by this process's actors (the cluster delivers here on the owner). */
    const sendHere = (jobId: string, request: JobRequest) => {
      switch (request._tag) {
        case "Start":
          return onStart(jobId)
        case "Stop":
          return onStop(jobId, request.graceful)
        case "Pause":
          return onPause(jobId, request.reason)
        case "Resume":
          return onResume(jobId, request.reason, request.note)
      }
    }

    /**
     * The one entry of the job actor's protocol: the public methods below wrap it. On a cluster
     * the request goes to the runner hosting the job's integration.
     */
    const send = (jobId: string, request: JobRequest) => {
      const deliver = placement.deliver
      if (deliver === null) return sendHere(jobId, request)
      return Effect.flatMap(views.job(jobId), (doc) =>
        // Unknown here is unknown everywhere (the views are shared): the decider's 404.
        doc === undefined ? sendHere(jobId, request) : deliver(doc.integrationId, jobId, request))
    }

    /**
     * Cluster: the jobs of the integrations this runner hosts now that no actor here runs (their
     * runner left: killed, cut off, or shut down) resume from their checkpoint, each saying in
     * its log where it moved; the takeover's events come first, so a late batch of the runner
     * that left is refused (runFence.ts). Local runs of integrations that moved elsewhere are
     * asked to pause at their next batch boundary, for the new host to take them over.
     */
    const adoptOrphans = Effect.gen(function*() {
      const here = placement.runner
      if (here === null || !accepting) return
      yield* dispatchLock.withPermits(1)(Effect.gen(function*() {
        // Read once: what adoption changes is written back here, and the dispatch below reads it.
        const live = [...(yield* views.withStatus(LIVE_STATUSES))]
        for (const [i, job] of live.entries()) {
          const actor = actors.get(job.id)
          const action = adoptionOf({
            hostedHere: placement.owns(job.integrationId),
            actorHere: actor !== undefined,
            handingOver: actor?.handingOver ?? false
          })
          if (action === "hand-over") {
            actor!.handingOver = true
            yield* jobLog.write(job.id, "info", `Integration ${job.integrationId} moved to another runner: pausing on ${here} at the next batch boundary`)
            yield* ask(actor!.control, { _tag: "Pause", reason: "shutdown", handOver: true }, engine.shutdownGracePeriod * 1000)
          }
          if (action !== "adopt") continue
          const at = yield* nowIso
          const command: JobCommand = { _tag: "Recover", jobId: job.id }
          if (Either.isLeft(decideJob(command, job, at))) continue
          const [after, events] = yield* store.updateJob(job.id, decidedOrNothing(command, at))
          if (after !== undefined) live[i] = after
          const event = events[0]
          if (event === undefined) continue
          const before = runnerOf((yield* jobLog.latestWith(job.id, RUNNING_ON))?.message)
          const left = before === undefined ? "the runner that ran it left" : `runner ${before} left`
          const where = job.checkpoint ? `${job.checkpoint.stage}, page ${job.checkpoint.position.page + 1}` : "its start"
          yield* jobLog.write(
            job.id,
            event._tag === "JobResumed" && event.reason === "recovery" ? "warn" : "info",
            event._tag === "JobStopped"
              ? `Stopped on runner ${here} after ${left}: its stop was requested before`
              : event._tag === "JobPaused"
              ? `Paused on runner ${here} after ${left}: its pause was requested before`
              : `Resumed on runner ${here} after ${left}: from its last checkpoint (${where})`
          )
        }
        // The queue of the integrations hosted here, adopted jobs first (they kept their place).
        yield* startQueued(live)
      }))
    }).pipe(Effect.orDie)

    /** After a restart: continue what a crash or a shutdown interrupted, from its checkpoint. */
    let recovered = false

    const recover = Effect.gen(function*() {
      // On a cluster the jobs of another runner are its own: each runner adopts those of the
      // integrations it hosts once it holds their shards (adoptOrphans, run by src/cluster/).
      if (placement.runner === null) yield* recoverInterrupted(store, views, jobLog)
      yield* dispatchHere
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
          yield* ask(actor.control, { _tag: "Pause", reason: "shutdown" }, engine.shutdownGracePeriod * 1000)
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
      send,
      /** Graceful: the batch in flight commits first; immediate: the run is interrupted. */
      stop: (jobId: string, graceful: boolean) => send(jobId, new Stop({ graceful })),
      /** `window`: the scheduler pauses a scheduled job at the end of its sync window. */
      pause: (jobId: string, reason: "request" | "window" = "request") => send(jobId, new Pause({ reason })),
      /**
       * `window`: the scheduler resumes a job it paused at the window's end when the window opens;
       * `retry`: it retries a job that failed with a transient cause (`note` says which attempt).
       */
      resume: (jobId: string, reason: "request" | "window" | "retry" = "request", note?: string) =>
        send(jobId, new Resume({ reason, ...(note === undefined ? {} : { note }) })),
      /**
       * Starts what can start here from the queue (cluster: the jobs of the integrations this
       * runner hosts; the other runners start theirs themselves). The cluster's `Wake` runs it on
       * the owner.
       */
      dispatchHere,
      dispatchFor,
      /** The request handled here, by this process's actors (the cluster's delivery on the owner). */
      sendHere,
      adoptOrphans,
      recover,
      isRunning: (jobId: string) => actors.has(jobId),
      running: Effect.sync(() => actors.size),
      /** Whether start-up recovery has run (readiness). */
      recovered: Effect.sync(() => recovered)
    } as const
  })
}) {}
