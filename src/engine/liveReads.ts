/**
 * The services the live routes read directly, named at the engine's level so `http/` imports
 * nothing from `eventlog/` or `connectors/`: the SSE routes (http/StreamsHttp.ts and
 * sseConnection.ts: the feed, a stream's history, a job's view for its progress) and the
 * metrics scrape (the request budgets). Every other route goes through Queries and the commands;
 * these keep their own fast paths (README, "Where this differs from DESIGN.md").
 */
export { EventFeed, type FeedBatch, type FeedCursor, type FeedItem } from "../eventlog/EventFeed.js"
export { EventStore, type StoredEvent } from "../eventlog/EventStore.js"
export { Views } from "../eventlog/Views.js"
