import { Effect } from "effect"
import type { IntegrationConfig } from "./config/ConfigFile.js"
import { startSimulatorScoped } from "./simulator/layer.js"

/** Name of the in-process variable that holds the simulator's API key in demo mode. */
const DEMO_KEY_ENV = "SYNCLOG_DEMO_PLANE_API_KEY"

const DEMO_WORKSPACES = [
  { slug: "acme", projects: 4, workItems: 320, seed: 456 },
  { slug: "globex", projects: 3, workItems: 210, seed: 789 }
]

/**
 * The demo simulator throttles like Plane (sliding window per API key, `X-RateLimit-*` headers,
 * 429 with Retry-After past it), at a demo's speed: a full sync of acme at batchSize 1 makes
 * about 400 requests, so it never waits for the budget. The demo integrations share its key.
 */
export const DEMO_RATE_LIMIT = 600

/** A demo integration: its budget is the simulator's limit, and it follows the simulator's headers. */
export const demoIntegration = (id: string, name: string, baseUrl: string, slug: string): IntegrationConfig => ({
  id: id as IntegrationConfig["id"],
  name,
  type: "plane",
  baseUrl,
  workspaceSlug: slug,
  apiKeyEnv: DEMO_KEY_ENV,
  syncInterval: 300,
  fullSyncInterval: 86_400,
  enabled: true,
  requestsPerMinute: DEMO_RATE_LIMIT,
  initialSync: "immediate"
})

/**
 * The built-in demo: a Plane simulator on loopback with two small workspaces, and the two
 * integrations of the spec's examples pointing at it. The port is fixed when free (so the
 * integrations' settings stay the same across restarts), else ephemeral.
 */
export const startDemo = (preferredPort: number) =>
  Effect.gen(function*() {
    const options = { workspaces: DEMO_WORKSPACES, seed: 1, rateLimitPerMinute: DEMO_RATE_LIMIT }
    const sim = yield* startSimulatorScoped({ ...options, port: preferredPort }).pipe(
      Effect.catchAllDefect(() => startSimulatorScoped({ ...options, port: 0 }))
    )
    return {
      simulator: sim,
      integrations: [
        demoIntegration("plane-integration-456", "Plane.so Integration", sim.url, "acme"),
        demoIntegration("plane-integration-789", "Plane.so Integration (Globex)", sim.url, "globex")
      ],
      secrets: { [DEMO_KEY_ENV]: sim.apiKey },
      describe: DEMO_WORKSPACES.map((w) => `${w.slug} (${w.projects} projects, ${w.workItems} work items)`).join(" and ")
    }
  })
