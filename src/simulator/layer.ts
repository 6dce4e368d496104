/**
 * Effect integration: the simulator as a scoped resource.
 *
 * `startSimulatorScoped(options)` starts a simulator and closes it (sockets included)
 * when the scope closes; `SimulatorServer.layer(options)` provides it as a service.
 *
 *   it.scoped("syncs", () => Effect.gen(function* () {
 *     const sim = yield* startSimulatorScoped({ workspaces: [{ slug: "acme", workItems: 300 }] })
 *     // ... point the connector at sim.url with sim.apiKey
 *   }))
 */
import { Context, Effect, Layer } from "effect"
import type { Scope } from "effect"
import { startSimulator } from "./server.js"
import type { RunningSimulator, SimulatorOptions } from "./server.js"

/** Starts a simulator for the lifetime of the current scope. Failing to listen is a defect. */
export const startSimulatorScoped = (options: SimulatorOptions = {}): Effect.Effect<RunningSimulator, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.promise(() => startSimulator(options)),
    (sim) => Effect.promise(() => sim.close())
  )

/** A running simulator as a service. */
export class SimulatorServer extends Context.Tag("synclog/simulator/SimulatorServer")<SimulatorServer, RunningSimulator>() {
  /** A layer that starts the simulator when built and closes it when released. */
  static readonly layer = (options: SimulatorOptions = {}): Layer.Layer<SimulatorServer> =>
    Layer.scoped(SimulatorServer, startSimulatorScoped(options))
}
