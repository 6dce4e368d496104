import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { firstJsonLine, runJson, spawnNode, stop, tsNode, peakRssOf } from "../lib/proc.js"
import { startServer, createJob, waitForJob } from "../lib/synclog.js"
import type { SimulatorReady } from "../simulator-process.js"

const n = Number(process.argv[2] ?? 100000)
const dir = mkdtempSync(join(tmpdir(), "bench-try-"))
const sim = spawnNode({ args: [...tsNode(), "bench/simulator-process.ts", JSON.stringify({ workspaces: [{ slug: "w", projects: 20, workItems: n, seed: 1 }] })] , captureStdout: true })
const ready = await firstJsonLine<SimulatorReady>(sim)
console.log(ready)
const base = await runJson<any>({ args: [...tsNode(), "bench/baseline/plane-to-sqlite.ts", ready.url, "w", ready.apiKey, join(dir, "base.db")] })
console.log("baseline", base, base.records / base.ms * 1000)
const server = await startServer({ dir: join(dir, "s"), integrations: [{ id: "bench", baseUrl: ready.url, workspaceSlug: "w" }], apiKey: ready.apiKey, cpuProfile: process.argv[3] === "prof" })
const t0 = performance.now()
const id = await createJob(server.url, { integrationId: "bench", type: "full_sync", options: { batchSize: 1000 } })
const job = await waitForJob(server.url, id)
const wall = performance.now() - t0
console.log("synclog", job.duration, wall, job.stats, job.stats.processed / job.duration! * 1000, "hwm MB", peakRssOf(server.child.pid) / 1e6)
await server.stop()
await stop(sim.process ? sim : sim)
console.log(dir)
