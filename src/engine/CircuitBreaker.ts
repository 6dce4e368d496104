import { Clock, Effect } from "effect"
import { EngineSettings } from "../config/Settings.js"
import { CircuitClosed, CircuitOpened } from "../domain/events.js"
import { EventStore } from "../eventlog/EventStore.js"
import { Views } from "../eventlog/Views.js"
import { JobLog } from "./JobLog.js"
import { type JobOutcome, JobOutcomes } from "./JobOutcomes.js"
import { isoAt } from "../domain/time.js"

/**
 * Per-integration circuit breaker: closed → open after `failureThreshold` consecutive failed
 * jobs; after a cool-down the scheduler runs one probe job (half-open); its success closes the
 * circuit, its failure reopens it with the cool-down doubled, up to `maxCooldown`.
 * Opening and closing are events on the integration's stream. It decides on every job outcome it
 * is subscribed to; the supervisor waits for that decision before the job's slot is released
 * (JobOutcomes), so the integration's next job and the scheduler's next pass see it.
 */
export class CircuitBreaker extends Effect.Service<CircuitBreaker>()("synclog/CircuitBreaker", {
  scoped: Effect.gen(function*() {
    const store = yield* EventStore
    const views = yield* Views
    const jobLog = yield* JobLog
    const engineSettings = (yield* EngineSettings).circuitBreaker

    /** Reacts to a run's end: opens or closes the circuit, or leaves it. */
    const judge = ({ jobId, outcome }: JobOutcome) =>
      Effect.gen(function*() {
        if (outcome !== "failed" && outcome !== "completed") return
        const job = yield* views.jobIncludingDeleted(jobId)
        if (job === undefined) return
        const integration = yield* views.integration(job.integrationId)
        if (integration === undefined) return
        const now = yield* Clock.currentTimeMillis
        const at = isoAt(now)
        const { circuit } = integration
        // The integration's own values over the engine-wide ones.
        const settings = { ...engineSettings, ...integration.settings.circuitBreaker }
        if (outcome === "completed") {
          if (circuit.state === "closed") return
          yield* store.appendIntegration(integration.id, integration.version, [
            new CircuitClosed({ integrationId: integration.id, at })
          ])
          yield* jobLog.write(jobId, "info", `Circuit breaker of ${integration.id} closed: this job succeeded`)
          return
        }
        const probeFailed = circuit.state === "half_open" && circuit.probeJobId === jobId
        if (!probeFailed && (circuit.state !== "closed" || circuit.consecutiveFailures < settings.failureThreshold)) {
          return
        }
        const cooldown = probeFailed
          ? Math.min(settings.maxCooldown, (circuit.cooldownSeconds ?? settings.cooldown) * 2)
          : settings.cooldown
        const probeAt = new Date(now + cooldown * 1000).toISOString()
        const reason = job.error ?? "job failed"
        yield* store.appendIntegration(integration.id, integration.version, [
          new CircuitOpened({
            integrationId: integration.id,
            consecutiveFailures: circuit.consecutiveFailures,
            reason,
            probeAt,
            cooldownSeconds: cooldown,
            at
          })
        ])
        yield* jobLog.write(
          jobId,
          "warn",
          `Circuit breaker of ${integration.id} opened after ${circuit.consecutiveFailures} consecutive failed jobs; no scheduled syncs until a probe at ${probeAt}`
        )
      }).pipe(Effect.orDie)

    yield* (yield* JobOutcomes).subscribe(judge)
    // Its work is its subscription: nothing to call.
    return {} as const
  })
}) {}
