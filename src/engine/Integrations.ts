import { Clock, Duration, Effect, Option, Redacted, Schema } from "effect"
import { createHash } from "node:crypto"
import type { IntegrationConfig } from "../config/ConfigFile.js"
import { EngineSettings, IntegrationSource, Secrets } from "../config/Settings.js"
import type { Connector } from "../connectors/Connector.js"
import { ConnectorFactory } from "../connectors/ConnectorFactory.js"
import {
  IntegrationRegistered,
  type IntegrationSettings,
  IntegrationStarted,
  SystemInitialized
} from "../domain/events.js"
import { EventStore } from "../eventlog/EventStore.js"
import { nextOccurrence } from "../domain/schedules.js"
import { effectiveSchedule, type IntegrationDoc } from "../eventlog/integrationProjection.js"
import { Views } from "../eventlog/Views.js"

/** The API key named by `apiKeyEnv` is nowhere to be found: permanent until someone sets it. */
export class MissingApiKey extends Schema.TaggedError<MissingApiKey>()("MissingApiKey", {
  message: Schema.String
}) {}

export interface InitializeResult {
  readonly mode: "file" | "demo"
  readonly integrationsFound: number
  readonly registered: ReadonlyArray<string>
  readonly updated: ReadonlyArray<string>
  readonly started: ReadonlyArray<string>
}

/** The config's settings as stored in the event; per-integration keys only when set. */
const settingsOf = (c: IntegrationConfig): IntegrationSettings => {
  const schedule = c.schedule ?? { every: c.syncInterval! }
  const fullSyncSchedule = c.fullSyncSchedule ?? (c.fullSyncInterval !== undefined ? { every: c.fullSyncInterval } : undefined)
  return {
    name: c.name,
    connector: c.type,
    baseUrl: c.baseUrl,
    workspaceSlug: c.workspaceSlug,
    apiKeyEnv: c.apiKeyEnv,
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
    ...(c.circuitBreaker !== undefined ? { circuitBreaker: c.circuitBreaker } : {})
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
    const connectors = new Map<string, { readonly key: string; readonly connector: Connector }>()

    /** (Re)reads the config: registers new or changed integrations and starts new enabled ones. */
    const initialize = Effect.gen(function*() {
      const loaded = yield* source.load
      const now = yield* Clock.currentTimeMillis
      const at = new Date(now).toISOString()
      const registered: Array<string> = []
      const updated: Array<string> = []
      const started: Array<string> = []
      const listed = new Set<string>()
      for (const config of loaded.integrations) {
        listed.add(config.id)
        const settings = settingsOf(config)
        let doc = yield* views.integration(config.id)
        if (doc === undefined || !sameSettings(doc.settings, settings)) {
          ;(doc === undefined ? registered : updated).push(config.id)
          doc = yield* store.appendIntegration(config.id, doc?.version ?? 0, [
            new IntegrationRegistered({ integrationId: config.id, settings, at })
          ])
        }
        if (settings.enabled && !doc.active && doc.stoppedAt === null) {
          const first = config.initialSync === "immediate" && !doc.hasBaseline ? now : nextOccurrence(effectiveSchedule(doc), now)
          yield* store.appendIntegration(config.id, doc.version, [
            new IntegrationStarted({ integrationId: config.id, nextRunAt: new Date(first).toISOString(), at })
          ])
          started.push(config.id)
        }
      }
      // Integrations no longer in the config stay for audit, disabled.
      for (const doc of yield* views.integrations) {
        if (!listed.has(doc.id) && doc.settings.enabled) {
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

    /** The connector of an integration, with its API key resolved now (a changed key is picked up). */
    const connectorFor = (doc: IntegrationDoc) =>
      Effect.gen(function*() {
        const key = yield* secrets.get(doc.settings.apiKeyEnv)
        if (Option.isNone(key)) {
          return yield* new MissingApiKey({
            message: `No API key for integration '${doc.id}': set the environment variable ${doc.settings.apiKeyEnv} (or add it to the secrets file) and resume the job.`
          })
        }
        const cacheKey = `${JSON.stringify(doc.settings)}#${hashKey(key.value)}`
        const cached = connectors.get(doc.id)
        if (cached && cached.key === cacheKey) return cached.connector
        const connector = yield* factory.make(
          {
            integrationId: doc.id,
            connector: doc.settings.connector,
            baseUrl: doc.settings.baseUrl,
            workspaceSlug: doc.settings.workspaceSlug,
            apiKey: key.value,
            apiKeyEnv: doc.settings.apiKeyEnv,
            requestsPerMinute: doc.settings.requestsPerMinute
          },
          policyOf(doc.settings)
        )
        connectors.set(doc.id, { key: cacheKey, connector })
        return connector
      })

    return { initialize, connectorFor } as const
  })
}) {}

/** Cache key material for a secret without keeping the secret itself in the key. */
const hashKey = (value: Redacted.Redacted<string>) => createHash("sha256").update(Redacted.value(value)).digest("base64url")
