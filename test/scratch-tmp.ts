import { startSimulator } from "../src/simulator/server.js"
import { planeIntegration, tempDir } from "./support/app.js"
import { startChild, writeConfigFile } from "./support/child.js"
const sourceCounts = async (sim: any, ws: string) => (await (await fetch(`${sim.url}/__admin/counts?workspace=${ws}`)).json()) as any; const total = (c: any) => ["projects","states","labels","cycles","modules","work_items"].reduce((n, e) => n + c[e], 0)
const sim = await startSimulator({ workspaces: [{ slug: "big", projects: 3, workItems: 1800, seed: 3 }], seed: 5 })
console.log(await sourceCounts(sim, "big"), total(await sourceCounts(sim, "big")))
const tmp = tempDir()
const cfg = writeConfigFile(tmp.dir + "/c.json", [planeIntegration("p1", sim, "big")])
let t = Date.now()
const c = await startChild({ dbPath: tmp.dbPath, configPath: cfg, apiKey: sim.apiKey })
console.log("ready in", Date.now() - t)
sim.setFaults({ latencyMs: 30 })
t = Date.now()
const r = await c.api.post("/api/sync/jobs", { integrationId: "p1", type: "full_sync", options: { batchSize: 20 } })
while (true) { const j = await c.api.get(`/api/sync/jobs/${r.body.jobId}`); if (j.body.status !== "running" && j.body.status !== "queued") { console.log(j.body.status, j.body.stats); break } await new Promise(r => setTimeout(r, 100)) }
console.log("sync in", Date.now() - t)
const ev = await c.api.get(`/api/sync/jobs/${r.body.jobId}/events`)
console.log(ev.body.events.length, ev.body.events.slice(0,4))
t = Date.now()
console.log(await c.terminate(), "term in", Date.now() - t)
console.log(c.output().slice(0, 3000))
t = Date.now(); await sim.close(); console.log("simclose", Date.now() - t)
tmp.remove(); console.log("end", new Date().toISOString()); setInterval(() => console.log("alive", process.getActiveResourcesInfo()), 5000).unref()
