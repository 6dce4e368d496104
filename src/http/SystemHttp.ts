import { HttpApiBuilder } from "@effect/platform"
import { SqlClient } from "@effect/sql"
import { Effect } from "effect"
import { AppMode } from "../config/Settings.js"
import { Unhealthy, ValidationError } from "../domain/errors.js"
import { Integrations } from "../engine/Integrations.js"
import { JobSupervisor } from "../engine/JobSupervisor.js"
import { Scheduler } from "../engine/Scheduler.js"
import * as Database from "../eventlog/Database.js"
import { SyncApi } from "./Api.js"
import { orDieInfra } from "./infra.js"

export const SystemHttpLive = HttpApiBuilder.group(SyncApi, "system", (handlers) =>
  Effect.gen(function*() {
    const integrations = yield* Integrations
    const scheduler = yield* Scheduler
    const supervisor = yield* JobSupervisor
    const sql = yield* SqlClient.SqlClient
    const mode = yield* AppMode
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
