/**
 * The Plane simulator as a standalone process for the benchmarks, so it never shares an event
 * loop with the server or the baseline it feeds. `src/simulator/main.ts` has no way to describe
 * 1,000 workspaces compactly or to report the port it picked as JSON, hence this file.
 *
 *   node --import tsx bench/simulator-process.ts '{"workspaces":[{"slug":"w","projects":20,"workItems":100000}]}'
 *   node --import tsx bench/simulator-process.ts '{"many":{"count":1000,"prefix":"ws","projects":1,"workItems":20}}'
 *
 * Prints one JSON line `{"url", "apiKey", "workspaces", "generationMs"}` once it listens; stops on
 * SIGTERM/SIGINT. Throttle and faults stay off (the defaults).
 */
import { startSimulator } from "../src/simulator/server.js"
import type { WorkspaceSpec } from "../src/simulator/generate.js"

export interface SimulatorSpec {
  readonly workspaces?: ReadonlyArray<WorkspaceSpec>
  readonly many?: { readonly count: number; readonly prefix: string; readonly projects: number; readonly workItems: number }
  readonly apiKey?: string
}

export interface SimulatorReady {
  readonly url: string
  readonly apiKey: string
  readonly workspaces: ReadonlyArray<string>
  readonly generationMs: number
}

const spec = JSON.parse(process.argv[2] ?? "{}") as SimulatorSpec
const workspaces: Array<WorkspaceSpec> = [...(spec.workspaces ?? [])]
if (spec.many) {
  for (let i = 0; i < spec.many.count; i++) {
    workspaces.push({ slug: `${spec.many.prefix}${i}`, projects: spec.many.projects, workItems: spec.many.workItems, seed: i + 1 })
  }
}

const started = Date.now()
const sim = await startSimulator({
  port: 0,
  workspaces,
  maxPerPage: 1000,
  rateLimitPerMinute: 0,
  ...(spec.apiKey !== undefined ? { apiKey: spec.apiKey } : {})
})
const ready: SimulatorReady = {
  url: sim.url,
  apiKey: sim.apiKey,
  workspaces: sim.workspaces,
  generationMs: Date.now() - started
}
console.log(JSON.stringify(ready))

const shutdown = () => void sim.close().then(() => process.exit(0))
process.once("SIGTERM", shutdown)
process.once("SIGINT", shutdown)
