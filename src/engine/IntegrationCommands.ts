import { Effect, Redacted } from "effect"
import { ValidationError } from "../domain/errors.js"
import { orDieOnStorage } from "./boundary.js"
import { IntegrationAdmin } from "./IntegrationAdmin.js"
import { IntegrationControl } from "./IntegrationControl.js"
import { Integrations } from "./Integrations.js"
import { JobSupervisor } from "./JobSupervisor.js"
import { presentSettings } from "./presenters.js"
import { Scheduler } from "./Scheduler.js"

/**
 * The write side of the engine's front door for integrations: their schedules (IntegrationControl),
 * their settings and stored keys over the API (IntegrationAdmin), and re-reading the config file.
 * Storage failures die here (boundary.ts); the errors left are the API's.
 */
export class IntegrationCommands extends Effect.Service<IntegrationCommands>()("synclog/IntegrationCommands", {
  effect: Effect.gen(function*() {
    const control = yield* IntegrationControl
    const admin = yield* IntegrationAdmin
    const integrations = yield* Integrations
    const scheduler = yield* Scheduler
    const supervisor = yield* JobSupervisor

    /** Puts the integration on its schedule and, unless told not to, queues a job now (or names the one in progress). */
    const start = (integrationId: string, syncType: "full" | "incremental" | "selective", scheduleImmediate: boolean) =>
      control.start(integrationId, syncType, scheduleImmediate).pipe(
        // A job the integration's own settings make invalid is not the request's fault.
        Effect.catchTag("ValidationError", (e) => Effect.die(e)),
        orDieOnStorage
      )

    /** Takes the integration off its schedule and stops its queued and running jobs. */
    const stop = (integrationId: string) => orDieOnStorage(control.stop(integrationId))

    /** Sets the schedule of the job's integration to `{every: interval}`. */
    const changeInterval = (jobId: string, interval: number) => orDieOnStorage(control.changeInterval(jobId, interval))

    /** Creates an integration from the config file's keys; answers its settings. */
    const create = (input: unknown) =>
      admin.create(input).pipe(Effect.map(presentSettings), orDieOnStorage)

    /** Changes an API integration's keys (`null` unsets one); answers which changed and the settings. */
    const update = (integrationId: string, patch: Readonly<Record<string, unknown>>) =>
      admin.update(integrationId, patch).pipe(
        Effect.map(({ changed, doc }) => ({ changed, integration: presentSettings(doc) })),
        orDieOnStorage
      )

    const remove = (integrationId: string, purgeMirror: boolean) => orDieOnStorage(admin.remove(integrationId, purgeMirror))

    /** Stores the integration's API key encrypted; answers its fingerprint, never the key. */
    const putCredential = (integrationId: string, apiKey: Redacted.Redacted<string>) =>
      admin.putCredential(integrationId, apiKey).pipe(
        Effect.map((doc) => ({
          integrationId: doc.id,
          // Just stored: the view has its fingerprint.
          credential: doc.credential!,
          message: doc.settings.apiKeyEnv === null
            ? "API key stored; used from the next request, by running jobs too."
            : `API key stored; used from the next request, by running jobs too, unless the environment variable ${doc.settings.apiKeyEnv} is set, which wins.`
        })),
        orDieOnStorage
      )

    const removeCredential = (integrationId: string) =>
      admin.removeCredential(integrationId).pipe(
        Effect.map(({ doc, removed }) => ({ integrationId: doc.id, removed })),
        orDieOnStorage
      )

    /** Re-reads the config, registers new or changed integrations, (re)starts the scheduler; idempotent. */
    const initialize = Effect.gen(function*() {
      const result = yield* integrations.initialize.pipe(
        Effect.catchTag("ConfigFileError", (e) =>
          Effect.fail(new ValidationError({ message: `The config file could not be used: ${e.message}` })))
      )
      yield* scheduler.start
      yield* supervisor.dispatchHere
      return {
        schedulerStatus: yield* scheduler.status,
        integrationsFound: result.integrationsFound,
        registered: result.registered,
        updated: result.updated
      }
    }).pipe(orDieOnStorage)

    return { start, stop, changeInterval, create, update, remove, putCredential, removeCredential, initialize } as const
  })
}) {}
