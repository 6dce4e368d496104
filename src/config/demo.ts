import { Effect } from "effect"
import type { IntegrationConfig } from "./ConfigFile.js"
import { startSimulatorScoped } from "../simulator/layer.js"

/** Name of the in-process variable that holds the simulator's API key in demo mode. */
export const DEMO_KEY_ENV = "SYNCLOG_DEMO_PLANE_API_KEY"

const WORKSPACES = [
  { slug: "acme", projects: 4, workItems: 320, seed: 456 },
  { slug: "globex", projects: 3, workItems: 210, seed: 789 }
]

/**
 * The built-in demo: a Plane simulator on loopback with two small workspaces, and the two
 * integrations of the spec's examples pointing at it. The port is fixed when free (so the
 * integrations' settings stay the same across restarts), else ephemeral.
 */
export const startDemo = (preferredPort: number) =>
  Effect.gen(function*() {
    const sim = yield* startSimulatorScoped({ port: preferredPort, workspaces: WORKSPACES, seed: 1 }).pipe(
      Effect.catchAllDefect(() => startSimulatorScoped({ port: 0, workspaces: WORKSPACES, seed: 1 }))
    )
    const integration = (id: string, name: string, slug: string): IntegrationConfig => ({
      id: id as IntegrationConfig["id"],
      name,
      type: "plane",
      baseUrl: sim.url,
      workspaceSlug: slug,
      apiKeyEnv: DEMO_KEY_ENV,
      syncInterval: 300,
      fullSyncInterval: 86_400,
      enabled: true,
      requestsPerMinute: 60,
      initialSync: "immediate"
    })
    return {
      simulator: sim,
      integrations: [
        integration("plane-integration-456", "Plane.so Integration", "acme"),
        integration("plane-integration-789", "Plane.so Integration (Globex)", "globex")
      ],
      secrets: { [DEMO_KEY_ENV]: sim.apiKey },
      describe: WORKSPACES.map((w) => `${w.slug} (${w.projects} projects, ${w.workItems} work items)`).join(" and ")
    }
  })
