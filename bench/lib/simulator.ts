/** Starts `bench/simulator-process.ts` (the Plane simulator in its own process) and its admin calls. */
import type { SimulatorReady, SimulatorSpec } from "../simulator-process.js"
import type { Child } from "./proc.js"
import { firstJsonLine, spawnNode, stop, tsNode } from "./proc.js"

export interface Simulator extends SimulatorReady {
  readonly child: Child
  readonly stop: () => Promise<void>
}

export const startSimulatorProcess = async (spec: SimulatorSpec): Promise<Simulator> => {
  // Large workspaces need more than the default old-space limit while they are generated.
  const child = spawnNode({
    args: [...tsNode(["--max-old-space-size=4096"]), "bench/simulator-process.ts", JSON.stringify(spec)],
    captureStdout: true
  })
  const ready = await firstJsonLine<SimulatorReady>(child, 600_000)
  return { ...ready, child, stop: () => stop(child) }
}

/** `POST /__admin/mutate`: N random updates of one entity type; returns the changed ids. */
export const mutate = async (sim: Simulator, workspace: string, body: { entity: string; updates: number }) => {
  const res = await fetch(`${sim.url}/__admin/mutate?workspace=${encodeURIComponent(workspace)}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body)
  })
  if (!res.ok) throw new Error(`mutate: ${res.status} ${await res.text()}`)
  return (await res.json()) as { updated: Array<string> }
}
