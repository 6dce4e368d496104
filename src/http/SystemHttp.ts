import { HttpApiBuilder } from "@effect/platform"
import { SqlClient } from "@effect/sql"
import { Effect } from "effect"
import { AppMode } from "../config/Settings.js"
import { NotReady, type ReadinessReason, Unhealthy, ValidationError } from "../domain/errors.js"
import { Integrations } from "../engine/Integrations.js"
import { JobSupervisor } from "../engine/JobSupervisor.js"
import { Scheduler } from "../engine/Scheduler.js"
import * as Database from "../eventlog/Database.js"
import { Views } from "../eventlog/Views.js"
import { SyncApi } from "./Api.js"
import { orDieInfra } from "./infra.js"

export const SystemHttpLive = HttpApiBuilder.group(SyncApi, "system", (handlers) =>
  Effect.gen(function*() {
    const integrations = yield* Integrations
    const scheduler = yield* Scheduler
    const supervisor = yield* JobSupervisor
    const sql = yield* SqlClient.SqlClient
    const mode = yield* AppMode
    const views = yield* Views
    const probe = Database.probe.pipe(
      Effect.provideService(SqlClient.SqlClient, sql),
      Effect.provideService(Database.DatabaseFile, yield* Database.DatabaseFile)
    )

    return handlers
      .handle("initialize", () =>
        Effect.gen(function*() {
          const result = yield* integrations.initialize.pipe(
            Effect.catchTag("ConfigFileError", (e) =>
              Effect.fail(new ValidationError({ message: `The config file could not be used: ${e.message}` })))
          )
          yield* scheduler.start
          yield* supervisor.dispatch
          return {
            success: true as const,
            message: "Sync system initialized",
            schedulerStatus: yield* scheduler.status,
            integrationsFound: result.integrationsFound,
            registered: result.registered,
            updated: result.updated
          }
        }).pipe(orDieInfra))
      .handle("ready", () =>
        Effect.gen(function*() {
          const failing: Array<ReadinessReason> = []
          const problem = yield* probe
          if (problem !== undefined) failing.push({ check: "database", message: problem.message })
          if ((yield* scheduler.status) !== "running") {
            failing.push({ check: "scheduler", message: "the scheduler is not running: POST /api/sync/initialize starts it" })
          }
          if (!(yield* supervisor.recovered)) {
            failing.push({ check: "recovery", message: "start-up recovery of interrupted jobs has not finished" })
          }
          if (failing.length > 0) {
            return yield* Effect.fail(
              new NotReady({ message: failing.map((r) => r.message).join("; "), status: "failing", reasons: failing })
            )
          }
          // Integration trouble does not make the server unready: it is reported, one reason each.
          const degraded: Array<ReadinessReason> = []
          for (const doc of yield* views.integrations) {
            if (!doc.settings.enabled) continue
            const missing = yield* integrations.missingKey(doc)
            const c = doc.circuit
            const message = missing !== undefined
              ? missing
              : c.state !== "closed"
              ? `circuit ${c.state.replace("_", " ")} after ${c.consecutiveFailures} failed job(s)${c.reason ? `: ${c.reason}` : ""}`
              : c.consecutiveFailures > 0
              ? `its last ${c.consecutiveFailures} job(s) failed${c.reason ? `: ${c.reason}` : ""}`
              : undefined
            if (message !== undefined) degraded.push({ check: "integration", integrationId: doc.id, message })
          }
          return { status: degraded.length > 0 ? "degraded" as const : "ok" as const, reasons: degraded }
        }).pipe(orDieInfra))
      .handle("health", () =>
        Effect.gen(function*() {
          // Not only a read: a write probe and the room left (see Database.probe).
          const problem = yield* probe
          const state = { scheduler: yield* scheduler.status, runningJobs: yield* supervisor.running, mode }
          if (problem !== undefined) {
            return yield* Effect.fail(new Unhealthy({ message: problem.message, status: "failing", database: "failing", ...state }))
          }
          return { status: "ok" as const, database: "ok" as const, ...state }
        }).pipe(orDieInfra))
  }))
