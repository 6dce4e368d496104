import { HttpApiBuilder } from "@effect/platform"
import { SqlClient } from "@effect/sql"
import { Effect } from "effect"
import { AppMode } from "../config/Settings.js"
import { ValidationError } from "../domain/errors.js"
import { Integrations } from "../engine/Integrations.js"
import { JobSupervisor } from "../engine/JobSupervisor.js"
import { Scheduler } from "../engine/Scheduler.js"
import { SyncApi } from "./Api.js"
import { orDieInfra } from "./infra.js"

export const SystemHttpLive = HttpApiBuilder.group(SyncApi, "system", (handlers) =>
  Effect.gen(function*() {
    const integrations = yield* Integrations
    const scheduler = yield* Scheduler
    const supervisor = yield* JobSupervisor
    const sql = yield* SqlClient.SqlClient
    const mode = yield* AppMode

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
      .handle("health", () =>
        Effect.gen(function*() {
          yield* sql`SELECT 1`
          return {
            status: "ok" as const,
            database: "ok" as const,
            scheduler: yield* scheduler.status,
            runningJobs: yield* supervisor.running,
            mode
          }
        }).pipe(orDieInfra))
  }))
