/**
 * synclog as a library: the engine as Effect layers (embed it in another Effect service), the
 * HttpApi contract and a typed client for it, the domain schemas and the Plane simulator.
 */
import { HttpApiClient } from "@effect/platform"
import { SyncApi } from "./http/Api.js"

export { type AppOptions, type EngineOptions, makeAppLayer, makeEngineLayer } from "./app.js"
export * as ConfigFile from "./config/ConfigFile.js"
export { AppMode, EngineSettings, IntegrationSource, Secrets } from "./config/Settings.js"
export type { Connector, SourcePage, SourceRecord } from "./connectors/Connector.js"
export { ConnectorFactory } from "./connectors/ConnectorFactory.js"
export * from "./domain/entities.js"
export * from "./domain/errors.js"
export * as Events from "./domain/events.js"
export * from "./domain/job.js"
export { IntegrationControl } from "./engine/IntegrationControl.js"
export { Integrations } from "./engine/Integrations.js"
export { JobLog } from "./engine/JobLog.js"
export { Jobs } from "./engine/Jobs.js"
export { JobSupervisor } from "./engine/JobSupervisor.js"
export { Scheduler } from "./engine/Scheduler.js"
export { EventStore } from "./eventlog/EventStore.js"
export { Views } from "./eventlog/Views.js"
export { IntegrationsGroup, JobsGroup, SyncApi, SystemGroup } from "./http/Api.js"
export { ApiLive, makeHttpLayer } from "./http/Server.js"
export { ApiTokens, Authorization, AuthorizationLive } from "./http/Authorization.js"
export { MirrorReader } from "./mirror/MirrorReader.js"
export { NotificationEndpointConfig, NotificationSettings } from "./notifications/config.js"
export { Notifier } from "./notifications/Notifier.js"
export { startSimulator } from "./simulator/server.js"
export { SimulatorServer, startSimulatorScoped } from "./simulator/layer.js"

/** A typed client of the sync API (needs an HttpClient, e.g. FetchHttpClient.layer). */
export const makeClient = (baseUrl: string) => HttpApiClient.make(SyncApi, { baseUrl })
