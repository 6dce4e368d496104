import { Clock, Effect } from "effect"
import { EngineSettings } from "../config/Settings.js"
import { CircuitClosed, CircuitOpened } from "../domain/events.js"
import { EventStore } from "../eventlog/EventStore.js"
import { Views } from "../eventlog/Views.js"
import { JobLog } from "./JobLog.js"
import type { Outcome } from "./JobRunner.js"
import { isoAt } from "../domain/time.js"

/**
 * Per-integration circuit breaker: closed → open after `failureThreshold` consecutive failed
 * jobs; after a cool-down the scheduler runs one probe job (half-open); its success closes the
 * circuit, its failure reopens it with the cool-down doubled, up to `maxCooldown`.
 * Opening and closing are events on the integration's stream.
 */
export class CircuitBreaker extends Effect.Service<CircuitBreaker>()("synclog/CircuitBreaker", {
  effect: Effect.gen(function*() {
    const store = yield* EventStore
    const views = yield* Views
    const jobLog = yield* JobLog
    const engineSettings = (yield* EngineSettings).circuitBreaker

    /** Reacts to a job's end; returns true when the circuit changed state. */
    const onJobEnded = (jobId: string, outcome: Outcome) =>
      Effect.gen(function*() {
        if (outcome !== "failed" && outcome !== "completed") return false
        const job = yield* views.jobIncludingDeleted(jobId)
        if (job === undefined) return false
        const integration = yield* views.integration(job.integrationId)
        if (integration === undefined) return false
        const now = yield* Clock.currentTimeMillis
        const at = isoAt(now)
        const { circuit } = integration
        // The integration's own values over the engine-wide ones.
        const settings = { ...engineSettings, ...integration.settings.circuitBreaker }
        if (outcome === "completed") {
          if (circuit.state === "closed") return false
          yield* store.appendIntegration(integration.id, integration.version, [
            new CircuitClosed({ integrationId: integration.id, at })
          ])
          yield* jobLog.write(jobId, "info", `Circuit breaker of ${integration.id} closed: this job succeeded`)
          return true
        }
        const probeFailed = circuit.state === "half_open" && circuit.probeJobId === jobId
        if (!probeFailed && (circuit.state !== "closed" || circuit.consecutiveFailures < settings.failureThreshold)) {
          return false
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
        return true
      }).pipe(Effect.orDie)

    return { onJobEnded } as const
  })
}) {}
