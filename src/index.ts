/**
 * synclog as a library: the engine as Effect layers (embed it in another Effect service), the
 * HttpApi contract and a typed client for it, the domain schemas and the Plane simulator.
 */

export { type AppOptions, type EngineOptions, makeAppLayer, makeEngineLayer } from "./app.js"
export * as ConfigFile from "./config/ConfigFile.js"
export {
  defaultEngineConfig,
  EngineConfig,
  type EngineConfigInput,
  IntegrationConfig,
  type IntegrationConfigInput,
  makeEngineConfig,
  makeIntegrationConfig
} from "./config/ConfigFile.js"
export { AppMode, EngineSettings, IntegrationSource, Secrets } from "./config/Settings.js"
export type { Connector, SourcePage, SourceRecord } from "./connectors/Connector.js"
export { ConnectorFactory } from "./connectors/ConnectorFactory.js"
export { type EntityStream, type SourcePlan, sourcePlan } from "./connectors/SourcePlan.js"
export * from "./domain/entities.js"
export * from "./domain/errors.js"
export * as Events from "./domain/events.js"
export { IntegrationId, JobId } from "./domain/ids.js"
export * from "./domain/job.js"
export { IntegrationCommands } from "./engine/IntegrationCommands.js"
export { IntegrationControl } from "./engine/IntegrationControl.js"
export { Integrations } from "./engine/Integrations.js"
export { JobCommands } from "./engine/JobCommands.js"
export { JobLog } from "./engine/JobLog.js"
export { type JobOutcome, JobOutcomes, type Outcome } from "./engine/JobOutcomes.js"
export { Jobs } from "./engine/Jobs.js"
export { JobSupervisor } from "./engine/JobSupervisor.js"
export { Queries } from "./engine/Queries.js"
export { Scheduler } from "./engine/Scheduler.js"
export { DEFAULT_FOLLOWER_BUFFER, EventFeed, type FeedBatch, type FeedCursor, type FeedItem } from "./eventlog/EventFeed.js"
export { EventStore, type StoredEvent } from "./eventlog/EventStore.js"
export { Views } from "./eventlog/Views.js"
export { IntegrationsGroup, JobsGroup, StreamsGroup, SyncApi, SystemGroup } from "./http/Api.js"
export { ApiLive, makeHttpLayer } from "./http/Server.js"
export { ApiTokens, Authorization, AuthorizationLive, StreamAuthorization, StreamAuthorizationLive } from "./http/Authorization.js"
export { MirrorReader } from "./mirror/MirrorReader.js"
export { NotificationEndpointConfig, NotificationSettings } from "./notifications/config.js"
export { Notifier } from "./notifications/Notifier.js"
export { startSimulator } from "./simulator/server.js"
export { SimulatorServer, startSimulatorScoped } from "./simulator/layer.js"

// The types an embedder writes its code with (README, "Embedding").
export type { IntegrationDoc } from "./eventlog/integrationProjection.js"
export type { JobDoc } from "./eventlog/jobProjection.js"
export { IntegrationStatusView, JobDetail, JobView, MirrorRecordView } from "./http/Api.js"
export { presentJob } from "./engine/presenters.js"
export type { MirroredRecord, RecordQuery } from "./mirror/MirrorReader.js"

// The typed client lives in its own module so a client (the CLI) loads it without the engine.
export { type ClientOptions, makeClient } from "./client.js"
