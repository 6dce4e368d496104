/**
 * `npx tsx bench/dashboard-render.ts` — the dashboard's first render with 1,000 jobs in the
 * history, and a 500-row live table while a sync streams (BENCHMARKS.md, "Dashboard").
 *
 * The history is made through the API: 1,000 forced full syncs of an empty simulated workspace
 * (one source request each). Then Chromium opens the jobs screen; the figure is the time from
 * navigation start to the `synclog:jobs-rendered` mark (the first page of rows in the DOM) and
 * to the next frame. Printed, not asserted. Needs /usr/bin/chromium (CHROMIUM_PATH overrides).
 */
import { gzipSync } from "node:zlib"
import { chromium } from "playwright-core"
import { startSimulator } from "../src/simulator/server.js"
import { planeIntegration, startApp, tempDir } from "../test/support/app.js"

// The page.evaluate callbacks run in the browser; this file is type-checked for Node, without the DOM library.
declare const window: any, document: any, MutationObserver: any, requestAnimationFrame: any, PerformanceObserver: any
declare const performance: any

const JOBS = Number(process.env.DASHBOARD_BENCH_JOBS ?? 1000)

const post = (url: string, body: unknown) =>
  fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) })

const main = async () => {
  const sim = await startSimulator({
    workspaces: [{ slug: "empty", projects: 0, workItems: 0, seed: 1 }, { slug: "acme", projects: 2, workItems: 400, seed: 2 }]
  })
  const tmp = tempDir("synclog-dashboard-bench-")
  // DASHBOARD_BENCH_DB=<file> keeps the seeded history for the next run.
  const dbPath = process.env.DASHBOARD_BENCH_DB ?? tmp.dbPath
  const app = await startApp({
    dbPath,
    apiKey: sim.apiKey,
    integrations: [planeIntegration("bench-empty", sim, "empty"), planeIntegration("bench-acme", sim, "acme")],
    engine: { maxConcurrentJobs: 8 }
  })
  try {
    const t0 = Date.now()
    const existing = await (await fetch(`${app.url}/api/sync/jobs?integrationId=bench-empty&limit=1`)).json() as { total: number }
    let next = existing.total
    const worker = async () => {
      while (next < JOBS) {
        next++
        const r = await post(`${app.url}/api/sync/jobs`, { integrationId: "bench-empty", type: "full_sync", options: { force: true } })
        if (r.status !== 200) throw new Error(`job creation answered ${r.status}: ${await r.text()}`)
      }
    }
    await Promise.all(Array.from({ length: 8 }, worker))
    for (;;) {
      const active = await (await fetch(`${app.url}/api/sync/jobs?status=queued,running,stopping&limit=1`)).json() as { total: number }
      if (active.total === 0) break
      await new Promise((r) => setTimeout(r, 200))
    }
    console.log(`history: ${JOBS} jobs in ${((Date.now() - t0) / 1000).toFixed(1)} s`)

    const js = Buffer.from(await (await fetch(`${app.url}/assets/app.js`)).arrayBuffer())
    const css = Buffer.from(await (await fetch(`${app.url}/assets/app.css`)).arrayBuffer())
    console.log(`assets: app.js ${js.length} B, ${gzipSync(js).length} B gzipped; app.css ${css.length} B, ${gzipSync(css).length} B gzipped`)

    const browser = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium", args: ["--no-sandbox"] })
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } })
    // Warm the server's bundle cache, so the figure is the page's, not esbuild's.
    await (await context.newPage()).goto(`${app.url}/`)

    const firstRender = async (hash: string) => {
      const page = await context.newPage()
      // Chromium's own counters of main-thread work (seconds), less sensitive to a busy machine.
      const cdp = await context.newCDPSession(page)
      await cdp.send("Performance.enable")
      await page.goto(`${app.url}/${hash}`)
      await page.locator("table.jobs[data-loaded]").waitFor()
      const figures = await page.evaluate(
        () =>
          new Promise<{ mark: number; frame: number; rows: number; scriptsDone: number; dataIn: number }>((resolve) => {
            const mark = performance.getEntriesByName("synclog:jobs-rendered")[0]!.startTime
            const nav = performance.getEntriesByType("navigation")[0]
            const list = performance.getEntriesByType("resource").find((e: any) => e.name.includes("/api/sync/jobs?"))
            requestAnimationFrame(() =>
              resolve({
                mark,
                frame: performance.now(),
                rows: document.querySelectorAll("tbody tr[data-job]").length,
                scriptsDone: nav.domContentLoadedEventEnd,
                dataIn: list.responseEnd
              })
            )
          })
      )
      const metrics = Object.fromEntries((await cdp.send("Performance.getMetrics")).metrics.map((m) => [m.name, m.value]))
      await page.close()
      return { ...figures, busy: (metrics.TaskDuration ?? 0) * 1000, script: (metrics.ScriptDuration ?? 0) * 1000 }
    }
    for (const [label, hash] of [["default page (50 rows)", "#/jobs"], ["500 rows", "#/jobs?limit=500"]] as const) {
      const runs: Array<{ mark: number; frame: number; rows: number; scriptsDone: number; dataIn: number; busy: number; script: number }> = []
      for (let i = 0; i < 5; i++) runs.push(await firstRender(hash))
      const median = (f: (r: (typeof runs)[number]) => number) => runs.map(f).sort((a, b) => a - b)[2]!.toFixed(0)
      console.log(
        `first render, ${label} (${runs[0]!.rows} rows), medians of 5: rows in the DOM at ${median((r) => r.mark)} ms ` +
          `(min ${Math.min(...runs.map((r) => r.mark)).toFixed(0)}), painted at ${median((r) => r.frame)} ms; ` +
          `page and script loaded at ${median((r) => r.scriptsDone)} ms, job list answered at ${median((r) => r.dataIn)} ms, ` +
          `rows built in ${median((r) => r.mark - r.dataIn)} ms after the answer; ` +
          `main thread busy ${median((r) => r.busy)} ms in all (script ${median((r) => r.script)} ms)`
      )
    }

    // 500 rows live while a full sync of 400 work items streams progress.
    sim.setFaults({ latencyMs: 40 })
    const page = await context.newPage()
    await page.goto(`${app.url}/#/jobs?limit=500`)
    await page.locator("table.jobs[data-loaded]").waitFor()
    await page.evaluate(() => {
      const w = window as any
      w.__rowsAdded = 0
      w.__rowsRemoved = 0
      w.__cellWrites = 0
      w.__longTasks = []
      new MutationObserver((records: Array<any>) => {
        for (const r of records) {
          if (r.target.nodeName === "TBODY") {
            w.__rowsAdded += r.addedNodes.length
            w.__rowsRemoved += r.removedNodes.length
          } else w.__cellWrites++
        }
      }).observe(document.querySelector("tbody")!, { childList: true, subtree: true, characterData: true })
      new PerformanceObserver((list: any) => w.__longTasks.push(...list.getEntries().map((e: any) => e.duration))).observe({ type: "longtask" })
    })
    const created = await (await post(`${app.url}/api/sync/jobs`, { integrationId: "bench-acme", type: "full_sync", options: { force: true } })).json() as { jobId: string }
    await page.locator(`tr[data-job="${created.jobId}"] .badge.status-completed`).waitFor({ timeout: 120_000 })
    const live = await page.evaluate(() => {
      const w = window as any
      return { added: w.__rowsAdded, removed: w.__rowsRemoved, cellWrites: w.__cellWrites, longTasks: w.__longTasks as Array<number> }
    })
    console.log(
      `500-row live table during a sync: ${live.added} row(s) added, ${live.removed} removed, ${live.cellWrites} cell mutations, ` +
        `${live.longTasks.length} long task(s) over 50 ms${live.longTasks.length ? ` (max ${Math.max(...live.longTasks).toFixed(0)} ms)` : ""}`
    )
    await browser.close()
  } finally {
    await app.close()
    await sim.close()
    tmp.remove()
  }
}

main().catch((e) => {
  console.error(e)
  process.exit(1)
})
