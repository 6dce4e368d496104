import { Clock, Duration, Effect, Option, Redacted, Schema } from "effect"
import { createHash } from "node:crypto"
import type { ApiIntegrationConfig } from "../config/apiIntegration.js"
import { EngineSettings, IntegrationSource, Secrets } from "../config/Settings.js"
import { type Connector, type CurrentApiKey, SourceAuthFailed, type SourceError, SourceUnavailable } from "../connectors/Connector.js"
import { ConnectorFactory } from "../connectors/ConnectorFactory.js"
import { CredentialStore } from "../credentials/CredentialStore.js"
import { IntegrationRegistered, type IntegrationSettings, SystemInitialized } from "../domain/events.js"
import { decidedIntegration } from "../domain/integrationDecider.js"
import { EventStore } from "../eventlog/EventStore.js"
import { nextOccurrence } from "../domain/schedules.js"
import { effectiveSchedule, type IntegrationDoc } from "../eventlog/integrationProjection.js"
import { Views } from "../eventlog/Views.js"
import { isoAt } from "../domain/time.js"

/** The API key named by `apiKeyEnv` is nowhere to be found: permanent until someone sets it. */
export class MissingApiKey extends Schema.TaggedError<MissingApiKey>()("MissingApiKey", {
  message: Schema.String
}) {}

interface InitializeResult {
  readonly mode: "file" | "demo"
  readonly integrationsFound: number
  readonly registered: ReadonlyArray<string>
  readonly updated: ReadonlyArray<string>
  readonly started: ReadonlyArray<string>
}

/** The settings an integration's events carry, from the config file or the API (no key, only names). */
export const settingsOf = (c: ApiIntegrationConfig): IntegrationSettings => {
  const schedule = c.schedule ?? { every: c.syncInterval! }
  const fullSyncSchedule = c.fullSyncSchedule ?? (c.fullSyncInterval !== undefined ? { every: c.fullSyncInterval } : undefined)
  return {
    name: c.name,
    connector: c.type,
    baseUrl: c.baseUrl,
    workspaceSlug: c.workspaceSlug,
    apiKeyEnv: c.apiKeyEnv ?? null,
    syncInterval: "every" in schedule ? schedule.every : null,
    fullSyncInterval: fullSyncSchedule !== undefined && "every" in fullSyncSchedule ? fullSyncSchedule.every : null,
    requestsPerMinute: c.requestsPerMinute ?? null,
    enabled: c.enabled,
    // An interval-only config keeps the old event shape, so an upgrade registers nothing anew.
    ...(c.schedule !== undefined ? { schedule: c.schedule } : {}),
    ...(c.fullSyncSchedule !== undefined ? { fullSyncSchedule: c.fullSyncSchedule } : {}),
    ...(c.syncWindow !== undefined ? { syncWindow: c.syncWindow } : {}),
    ...(c.batchSize !== undefined ? { batchSize: c.batchSize } : {}),
    ...(c.includeArchived !== undefined ? { includeArchived: c.includeArchived } : {}),
    ...(c.maxConcurrentJobs !== undefined ? { maxConcurrentJobs: c.maxConcurrentJobs } : {}),
    ...(c.retry !== undefined ? { retry: c.retry } : {}),
    ...(c.autoRetry !== undefined ? { autoRetry: c.autoRetry } : {}),
    ...(c.circuitBreaker !== undefined ? { circuitBreaker: c.circuitBreaker } : {}),
    ...(c.selection !== undefined ? { selection: c.selection } : {})
  }
}

const sameSettings = (a: IntegrationSettings, b: IntegrationSettings) => JSON.stringify(a) === JSON.stringify(b)

/**
 * Integrations: registration from the config source (as events) and one connector per
 * integration, built on demand and rebuilt when its settings change.
 */
export class Integrations extends Effect.Service<Integrations>()("synclog/Integrations", {
  effect: Effect.gen(function*() {
    const store = yield* EventStore
    const views = yield* Views
    const source = yield* IntegrationSource
    const secrets = yield* Secrets
    const engine = yield* EngineSettings
    const factory = yield* ConnectorFactory
    const credentials = yield* CredentialStore
    const connectors = new Map<string, { readonly key: string; readonly connector: Connector }>()

    /** (Re)reads the config: registers new or changed integrations and starts new enabled ones. */
    const initialize = Effect.gen(function*() {
      const loaded = yield* source.load
      const now = yield* Clock.currentTimeMillis
      const at = isoAt(now)
      const registered: Array<string> = []
      const updated: Array<string> = []
      const started: Array<string> = []
      const listed = new Set<string>()
      for (const config of loaded.integrations) {
        listed.add(config.id)
        const settings = settingsOf(config)
        // The store's view, removed integrations included: the file names the id, so it is the file's.
        let doc = yield* views.integrationIncludingRemoved(config.id)
        const fromFile = doc !== undefined && !doc.removed && doc.source === "config"
        if (doc === undefined || !fromFile || !sameSettings(doc.settings, settings)) {
          ;(doc === undefined || doc.removed ? registered : updated).push(config.id)
          doc = yield* store.appendIntegration(config.id, doc?.version ?? 0, [
            new IntegrationRegistered({ integrationId: config.id, settings, source: "config", at })
          ])
        }
        const first = config.initialSync === "immediate" && !doc.hasBaseline ? now : nextOccurrence(effectiveSchedule(doc), now)
        const start = yield* decidedIntegration(
          { _tag: "StartIfDue", integrationId: config.id, nextRunAt: isoAt(first) },
          doc,
          at
        ).pipe(Effect.orDie) // registered just above: it exists
        if (start.length > 0) {
          yield* store.appendIntegration(config.id, doc.version, start)
          started.push(config.id)
        }
      }
      // Integrations no longer in the config stay for audit, disabled; the API's are not the file's.
      for (const doc of yield* views.integrations) {
        if (!listed.has(doc.id) && doc.source !== "api" && doc.settings.enabled) {
          yield* store.appendIntegration(doc.id, doc.version, [
            new IntegrationRegistered({ integrationId: doc.id, settings: { ...doc.settings, enabled: false }, at })
          ])
          updated.push(doc.id)
        }
      }
      yield* store.appendSystem([new SystemInitialized({ integrationsFound: loaded.integrations.length, at })])
      return {
        mode: loaded.mode,
        integrationsFound: loaded.integrations.length,
        registered,
        updated,
        started
      } satisfies InitializeResult
    })

    /** The engine's retry policy with the integration's own `retry` values over it. */
    const policyOf = (settings: IntegrationSettings) => {
      const retry = { ...engine.retry, ...settings.retry }
      return {
        requestTimeout: Duration.seconds(engine.requestTimeout),
        maxAttempts: retry.maxAttempts,
        baseDelay: Duration.millis(retry.baseDelay * 1000),
        maxDelay: Duration.millis(retry.maxDelay * 1000),
        maxRateLimitWaits: retry.maxRateLimitWaits
      }
    }

    /**
     * The integration's API key: the variable `apiKeyEnv` names wins when it is set (environment,
     * then secrets file), else the key stored through the API.
     */
    const apiKeyOf = (doc: IntegrationDoc) =>
      Effect.gen(function*() {
        const name = doc.settings.apiKeyEnv
        if (name !== null) {
          const fromEnv = yield* secrets.get(name)
          if (Option.isSome(fromEnv)) return { key: fromEnv.value, source: `environment variable ${name}`, fromEnv: true }
        }
        const stored = yield* credentials.current(doc.id)
        if (stored._tag === "Key") return { key: stored.key, source: storedSource(doc.id), fromEnv: false }
        const store = `store one with PUT /api/sync/integrations/${doc.id}/credentials`
        const howTo = name === null
          ? `${store} (or set apiKeyEnv)`
          : `set the environment variable ${name} (or add it to the secrets file), or ${store}`
        return yield* new MissingApiKey({
          message: `No API key for integration '${doc.id}': ${howTo}, and resume the job.${
            stored._tag === "Unreadable" ? ` A stored key is unusable: ${stored.reason}.` : ""
          }`
        })
      })

    /**
     * The key a connector reads before each request. A key from `apiKeyEnv` is read when a job
     * starts and kept for its run (the variable wins whenever it is set); a
     * stored key comes from the credential store's memory, so a key PUT or DELETEd over the API
     * applies from the next request, without a database read per request.
     */
    const currentKeyOf = (doc: IntegrationDoc, resolved: ResolvedKey): Effect.Effect<CurrentApiKey, SourceError> => {
      if (resolved.fromEnv) return Effect.succeed(resolved)
      const storeOne = `store one with PUT /api/sync/integrations/${doc.id}/credentials${
        doc.settings.apiKeyEnv === null ? " (or set apiKeyEnv)" : ` (or set the environment variable ${doc.settings.apiKeyEnv})`
      }`
      return credentials.current(doc.id).pipe(
        Effect.catchTag("SqlError", (e) =>
          Effect.fail(new SourceUnavailable({ message: `The stored API key of ${doc.id} could not be read: ${e.message}` }))),
        Effect.flatMap((stored) =>
          stored._tag === "Key"
            ? Effect.succeed({ key: stored.key, source: storedSource(doc.id) })
            : Effect.fail(
              new SourceAuthFailed({
                status: 401,
                message: `The API key stored for integration '${doc.id}' was removed while the job ran: ${storeOne}, and resume the job.${
                  stored._tag === "Unreadable" ? ` A stored key is unusable: ${stored.reason}.` : ""
                }`
              })
            )
        )
      )
    }

    /** Why the integration's jobs cannot authenticate, if they cannot (readiness checks). */
    const missingKey = (doc: IntegrationDoc) =>
      Effect.match(apiKeyOf(doc), { onFailure: (e) => e.message, onSuccess: () => undefined })

    /**
     * The connector of an integration. Its key is checked now (a job without one fails before
     * its first request) and read again before every request (see currentKeyOf).
     */
    const connectorFor = (doc: IntegrationDoc) =>
      Effect.gen(function*() {
        const key = yield* apiKeyOf(doc)
        // A key from the environment is fixed in the connector: its hash is in the cache key. A
        // stored key is not: it is read per request, so a rotation keeps the connector.
        const cacheKey = `${JSON.stringify(doc.settings)}#${key.fromEnv ? hashKey(key.key) : "stored"}`
        const cached = connectors.get(doc.id)
        if (cached && cached.key === cacheKey) return cached.connector
        const connector = yield* factory.make(
          {
            integrationId: doc.id,
            connector: doc.settings.connector,
            baseUrl: doc.settings.baseUrl,
            workspaceSlug: doc.settings.workspaceSlug,
            apiKey: key.key,
            apiKeyEnv: doc.settings.apiKeyEnv ?? "",
            apiKeySource: key.source,
            currentApiKey: currentKeyOf(doc, key),
            requestsPerMinute: doc.settings.requestsPerMinute
          },
          policyOf(doc.settings)
        )
        connectors.set(doc.id, { key: cacheKey, connector })
        return connector
      })

    return { initialize, connectorFor, missingKey } as const
  })
}) {}

/** An integration's API key as a job starts, and whether it came from `apiKeyEnv`. */
interface ResolvedKey extends CurrentApiKey {
  readonly fromEnv: boolean
}

const storedSource = (id: string) => `the key stored for ${id} (PUT /api/sync/integrations/${id}/credentials)`

/** Cache key material for a secret without keeping the secret itself in the key. */
const hashKey = (value: Redacted.Redacted<string>) => createHash("sha256").update(Redacted.value(value)).digest("base64url")
