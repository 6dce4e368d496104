import { Clock, Effect, Redacted } from "effect"
import { checkApiIntegration } from "../config/apiIntegration.js"
import { CredentialStore } from "../credentials/CredentialStore.js"
import { IntegrationConflict, IntegrationNotFound, ValidationError } from "../domain/errors.js"
import {
  IntegrationCredentialChanged,
  IntegrationRegistered,
  IntegrationSettingsChanged
} from "../domain/events.js"
import { decidedIntegration, managedByConfig } from "../domain/integrationDecider.js"
import { EventStore } from "../eventlog/EventStore.js"
import { nextOccurrence } from "../domain/schedules.js"
import { effectiveSchedule, type IntegrationDoc, mergeConfig } from "../eventlog/integrationProjection.js"
import { Views } from "../eventlog/Views.js"
import { Mirror } from "../mirror/Mirror.js"
import { settingsOf } from "./Integrations.js"
import { Scheduler } from "./Scheduler.js"
import { isoAt } from "../domain/time.js"

const invalid = (issues: ReadonlyArray<{ readonly path: string; readonly message: string }>) =>
  new ValidationError({
    message: `Invalid integration: ${issues.map((i) => `${i.path}: ${i.message}`).join("; ")}`,
    issues
  })

/**
 * Integrations managed over the API (create, change, remove) and stored API keys, each change an
 * event on the integration's stream. The config file stays the source of truth for the ids it
 * names: those are changed by editing the file, not here.
 */
export class IntegrationAdmin extends Effect.Service<IntegrationAdmin>()("synclog/IntegrationAdmin", {
  effect: Effect.gen(function*() {
    const store = yield* EventStore
    const views = yield* Views
    const credentials = yield* CredentialStore
    const mirror = yield* Mirror
    const scheduler = yield* Scheduler


    const known = (id: string) =>
      Effect.flatMap(views.integration(id), (doc) => (doc ? Effect.succeed(doc) : Effect.fail(IntegrationNotFound.of(id))))

    /** Enabled, not stopped through the API and off the schedule: put it on (as `initialize` does). */
    const startIfDue = (doc: IntegrationDoc, immediate: boolean, now: number) =>
      Effect.gen(function*() {
        const nextRunAt = isoAt(immediate && !doc.hasBaseline ? now : nextOccurrence(effectiveSchedule(doc), now))
        const events = yield* decidedIntegration({ _tag: "StartIfDue", integrationId: doc.id, nextRunAt }, doc, isoAt(now)).pipe(
          Effect.orDie // just registered or changed: it exists
        )
        return events.length > 0 ? yield* store.appendIntegration(doc.id, doc.version, events) : doc
      })

    const create = (input: unknown) =>
      Effect.gen(function*() {
        const checked = checkApiIntegration(input)
        if (!checked.ok) return yield* Effect.fail(invalid(checked.issues))
        const { config, encoded } = checked
        const now = yield* Clock.currentTimeMillis
        const existing = yield* views.integrationIncludingRemoved(config.id)
        if (existing !== undefined && !existing.removed) {
          return yield* Effect.fail(
            new IntegrationConflict({
              error: "IntegrationExists",
              integrationId: config.id,
              message: `An integration with id '${config.id}' exists already (${
                existing.source === "api" ? "created over the API" : "from the config file"
              }); change it with PATCH /api/sync/integrations/${config.id} or pick another id.`
            })
          )
        }
        const registered = yield* store.appendIntegration(config.id, existing?.version ?? 0, [
          new IntegrationRegistered({ integrationId: config.id, settings: settingsOf(config), source: "api", config: encoded, at: isoAt(now) })
        ])
        const doc = yield* startIfDue(registered, config.initialSync === "immediate", now)
        yield* scheduler.wake
        return doc
      }).pipe(
        // Two creates of one id at once: the second finds the stream moved on.
        Effect.catchTag("ConcurrencyConflict", () =>
          Effect.fail(
            new IntegrationConflict({
              error: "IntegrationExists",
              integrationId: String((input as { id?: unknown }).id),
              message: "The integration was created by another request meanwhile; GET it or pick another id."
            })
          ))
      )

    const update = (id: string, patch: Readonly<Record<string, unknown>>) =>
      Effect.gen(function*() {
        const doc = yield* known(id)
        if (doc.source !== "api" || doc.config === null) return yield* Effect.fail(managedByConfig(id, "change it"))
        if ("id" in patch && patch.id !== id) {
          return yield* Effect.fail(invalid([{ path: "id", message: "an integration's id cannot change; create a new one instead" }]))
        }
        const checked = checkApiIntegration(mergeConfig(doc.config, patch))
        if (!checked.ok) return yield* Effect.fail(invalid(checked.issues))
        const changes: Record<string, unknown> = {}
        for (const key of new Set([...Object.keys(doc.config), ...Object.keys(checked.encoded)])) {
          const before = doc.config[key]
          const after = checked.encoded[key]
          if (JSON.stringify(before) !== JSON.stringify(after)) changes[key] = after ?? null
        }
        const changed = Object.keys(changes)
        if (changed.length === 0) return { doc, changed }
        const now = yield* Clock.currentTimeMillis
        const next = yield* store.appendIntegration(id, doc.version, [
          new IntegrationSettingsChanged({ integrationId: id, changes, settings: settingsOf(checked.config), at: isoAt(now) })
        ])
        const started = yield* startIfDue(next, checked.config.initialSync === "immediate", now)
        yield* scheduler.wake
        return { doc: started, changed }
      })

    const remove = (id: string, purgeMirror: boolean) =>
      Effect.gen(function*() {
        const doc = yield* known(id)
        const at = isoAt(yield* Clock.currentTimeMillis)
        // One transaction: no job can be queued between the check and the removal.
        const purged = yield* Effect.gen(function*() {
          const currentJob = yield* views.currentJob(id)
          const events = yield* decidedIntegration({ _tag: "Remove", integrationId: id, purgeMirror, currentJob }, doc, at)
          yield* credentials.remove(id)
          yield* store.appendIntegration(id, doc.version, events)
          return purgeMirror ? yield* mirror.purge(id) : 0
        }).pipe(store.inOneTransaction)
        yield* scheduler.wake
        return { deleted: id, purgedRecords: purged }
      })

    const putCredential = (id: string, apiKey: Redacted.Redacted<string>) =>
      Effect.gen(function*() {
        const doc = yield* known(id)
        if (!credentials.enabled) {
          return yield* Effect.fail(
            new IntegrationConflict({
              error: "CredentialsDisabled",
              integrationId: id,
              message:
                "Stored credentials are off: set SYNC_MASTER_KEY to 32 random bytes in base64 (e.g. `openssl rand -base64 32`) and restart synclog. Until then, name an environment variable in apiKeyEnv."
            })
          )
        }
        const at = isoAt(yield* Clock.currentTimeMillis)
        const next = yield* Effect.gen(function*() {
          const fingerprint = yield* credentials.put(id, apiKey, at)
          return yield* store.appendIntegration(id, doc.version, [
            new IntegrationCredentialChanged({ integrationId: id, fingerprint, at })
          ])
        }).pipe(store.inOneTransaction)
        return next
      })

    const removeCredential = (id: string) =>
      Effect.gen(function*() {
        const doc = yield* known(id)
        const at = isoAt(yield* Clock.currentTimeMillis)
        return yield* Effect.gen(function*() {
          const had = yield* credentials.remove(id)
          if (!had && doc.credential == null) return { doc, removed: false }
          const next = yield* store.appendIntegration(id, doc.version, [
            new IntegrationCredentialChanged({ integrationId: id, fingerprint: null, at })
          ])
          return { doc: next, removed: true }
        }).pipe(store.inOneTransaction)
      })

    return { create, update, remove, putCredential, removeCredential } as const
  })
}) {}
