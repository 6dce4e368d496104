import { startSimulator } from "../../src/simulator/server.js"
const t0 = Date.now()
const sim = await startSimulator({ workspaces: [{ slug: "w", projects: 20, workItems: Number(process.argv[2]), seed: 1 }] })
console.log("gen ms", Date.now() - t0, "rss MB", Math.round(process.memoryUsage().rss / 1e6))
const t1 = Date.now()
const projects = await (await fetch(`${sim.url}/api/v1/workspaces/w/projects/?per_page=1000`, { headers: { "X-API-Key": sim.apiKey } })).json() as any
let n = 0
for (const p of projects.results) {
  for (let page = 0; ; page++) {
    const r = await (await fetch(`${sim.url}/api/v1/workspaces/w/projects/${p.id}/work-items/?per_page=1000&cursor=1000:${page}:0`, { headers: { "X-API-Key": sim.apiKey } })).json() as any
    n += r.results.length
    if (!r.next_page_results) break
  }
}
console.log("walk ms", Date.now() - t1, n)
await sim.close()
