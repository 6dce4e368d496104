import { Effect } from "effect"
import type { Connector } from "../Connector.js"
import type { RequestPolicy } from "../retryPolicy.js"
import { makePlaneClient, type PlaneSettings } from "./client.js"
import { makeListReader } from "./lists.js"
import { makeLookup } from "./lookup.js"
import { PLANE_PLAN } from "./plan.js"
import { makeRoutes } from "./routes.js"

export type { PlaneSettings } from "./client.js"
export type { RequestPolicy } from "../retryPolicy.js"

/**
 * Plane's v1 REST API (plane-api.md) as a Connector: its plan (plan.ts: what a sync walks, in
 * which order), the HTTP client with the request budget and retries (client.ts), the URLs
 * (routes.ts), pages of lists (lists.ts) and single records (lookup.ts).
 */
export const makePlaneConnector = (settings: PlaneSettings, policy: RequestPolicy) =>
  Effect.gen(function*() {
    const client = yield* makePlaneClient(settings, policy)
    const routes = makeRoutes(settings.baseUrl, settings.workspaceSlug)
    const listPage = makeListReader(settings, client, routes)
    const lookup = makeLookup(client, routes, listPage)
    return { plan: PLANE_PLAN, listPage, lookup } satisfies Connector
  })
