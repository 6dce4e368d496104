import { randomBytes } from "node:crypto"
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { gzipSync } from "node:zlib"
import { Schema } from "effect"
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { NotificationEndpointConfig } from "../src/notifications/config.js"
import { type RunningSimulator, startSimulator } from "../src/simulator/server.js"
import { type AppHandle, planeIntegration, startApp, tempDir } from "./support/app.js"
import { type Client, client, waitFor, waitForStatus } from "./support/http.js"
import { type Receiver, startReceiver } from "./support/receiver.js"

/**
 * The dashboard in a real Chromium (Debian's `chromium`, driven by playwright-core) against the
 * real server, SQLite file and simulator. Screenshots of the main screens go to a temp folder,
 * or to docs/ with SYNCLOG_SCREENSHOTS=docs (so that `npm test` leaves the checkout as it was).
 */

// The page.evaluate callbacks run in the browser; this file is type-checked for Node, without the DOM library.
declare const window: any, document: any, MutationObserver: any, getComputedStyle: any, sessionStorage: any

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium"
const SCREENSHOTS_TO_DOCS = process.env.SYNCLOG_SCREENSHOTS === "docs"
const SCREENSHOTS = SCREENSHOTS_TO_DOCS ? join(import.meta.dirname, "..", "docs") : mkdtempSync(join(tmpdir(), "synclog-screenshots-"))
const TOKEN = "dashboard-token-7f3a"

const integrations = (sim: RunningSimulator) => [
  planeIntegration("plane-integration-456", sim, "acme", { name: "Plane.so Integration" }),
  planeIntegration("plane-integration-789", sim, "globex", { name: "Plane.so Integration (Globex)" })
]

/** Console errors and uncaught exceptions of a page: the test fails on any. */
const watchErrors = (page: Page) => {
  const errors: Array<string> = []
  page.on("console", (m) => {
    if (m.type() === "error") errors.push(m.text())
  })
  page.on("pageerror", (e) => errors.push(e.message))
  return errors
}

/** Records every distinct text a node's subtree shows, from inside the page (no sampling gaps). */
const recordTexts = (page: Page, selector: string, key: string) =>
  page.evaluate(({ selector, key }) => {
    const seen: Array<string> = []
    ;(window as any)[key] = seen
    const node = document.querySelector(selector)!
    const note = () => {
      const text = node.textContent ?? ""
      if (seen.at(-1) !== text) seen.push(text)
    }
    note()
    new MutationObserver(note).observe(node, { subtree: true, childList: true, characterData: true })
  }, { selector, key })

const recorded = (page: Page, key: string): Promise<Array<string>> => page.evaluate((key) => (window as any)[key], key)

let browser: Browser

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`Chromium is needed at ${CHROMIUM} (Debian package chromium; .ci/run installs it)`)
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] })
})

afterAll(async () => {
  await browser?.close()
  if (!SCREENSHOTS_TO_DOCS) rmSync(SCREENSHOTS, { recursive: true, force: true })
})

describe("web dashboard in Chromium", () => {
  let sim: RunningSimulator
  let app: AppHandle
  let api: Client
  let context: BrowserContext
  let receiver: Receiver
  const tmp = tempDir()

  beforeAll(async () => {
    mkdirSync(SCREENSHOTS, { recursive: true })
    sim = await startSimulator({
      workspaces: [{ slug: "acme", projects: 2, workItems: 400, seed: 456 }, { slug: "globex", projects: 2, workItems: 60, seed: 789 }]
    })
    receiver = await startReceiver()
    app = await startApp({
      dbPath: tmp.dbPath,
      apiKey: sim.apiKey,
      integrations: integrations(sim),
      // Stored keys and a webhook endpoint, for the integration form and the notifications panel.
      masterKey: randomBytes(32).toString("base64"),
      notifications: [Schema.decodeUnknownSync(NotificationEndpointConfig)({ id: "ops", url: `${receiver.url}/hook` })]
    })
    api = client(app.url)
    context = await browser.newContext({ viewport: { width: 1280, height: 800 }, colorScheme: "light" })
  })

  afterAll(async () => {
    await context?.close()
    await app?.close()
    await receiver?.close()
    await sim?.close()
    tmp.remove()
  })

  it("serves its page and assets as exact public routes, small, with a strict CSP", async () => {
    const page = await fetch(`${app.url}/`)
    expect(page.status).toBe(200)
    expect(page.headers.get("content-type")).toContain("text/html")
    expect(page.headers.get("content-security-policy")).toContain("default-src 'self'")
    const js = await fetch(`${app.url}/assets/app.js`)
    const css = await fetch(`${app.url}/assets/app.css`)
    expect(js.headers.get("content-type")).toContain("text/javascript")
    expect(css.headers.get("content-type")).toContain("text/css")
    const jsBytes = Buffer.from(await js.arrayBuffer())
    const cssBytes = Buffer.from(await css.arrayBuffer())
    const etag = js.headers.get("etag")!
    expect((await fetch(`${app.url}/assets/app.js`, { headers: { "if-none-match": etag } })).status).toBe(304)
    // Exact routes: nothing else under /assets, and no prefix match.
    expect((await fetch(`${app.url}/assets/other.js`)).status).toBe(404)
    expect((await fetch(`${app.url}/assets/app.js/x`)).status).toBe(404)
    const gz = gzipSync(jsBytes).length + gzipSync(cssBytes).length
    console.log(`dashboard: app.js ${jsBytes.length} B (${gzipSync(jsBytes).length} B gzipped), app.css ${cssBytes.length} B (${gzipSync(cssBytes).length} B gzipped), total ${gz} B gzipped`)
    expect(gz).toBeLessThan(150 * 1024)
  })

  it("loads with no console errors, shows both integrations, and is usable from the keyboard", async () => {
    const page = await context.newPage()
    const errors = watchErrors(page)
    const external: Array<string> = []
    page.on("request", (r) => {
      if (!r.url().startsWith(app.url)) external.push(r.url())
    })
    await page.goto(`${app.url}/`)
    const first = page.locator("[data-integration=plane-integration-456]")
    const second = page.locator("[data-integration=plane-integration-789]")
    await first.waitFor()
    await second.waitFor()
    expect(await first.locator("h2").textContent()).toBe("Plane.so Integration")
    expect(await second.locator("h2").textContent()).toBe("Plane.so Integration (Globex)")
    await waitFor("the status badge", async () => (await first.locator("[data-field=status]").textContent()) === "active")
    expect(await first.locator("[data-field=syncInterval]").textContent()).toBe("1 h")
    await page.screenshot({ path: join(SCREENSHOTS, "dashboard-integrations.png") })
    // Keyboard: skip link, brand, Integrations, Jobs; Enter follows the link.
    for (let i = 0; i < 4; i++) await page.keyboard.press("Tab")
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe("Jobs")
    await page.keyboard.press("Enter")
    await page.locator("table.jobs[data-loaded]").waitFor()
    expect(page.url()).toContain("#/jobs")
    expect(errors).toEqual([])
    expect(external).toEqual([])
    await page.close()
  })

  it("starts a sync from the page; its row's progress moves in place and it ends completed", async () => {
    // Slow pages until the row is watched: on a busy machine the steps below take seconds.
    sim.setFaults({ latencyMs: 1_000 })
    const page = await context.newPage()
    const errors = watchErrors(page)
    await page.goto(`${app.url}/#/jobs?limit=500`)
    await page.locator("table.jobs[data-loaded]").waitFor()
    // Mark the rows present now: a full re-render would replace them.
    await page.evaluate(() => document.querySelectorAll("tbody tr").forEach((tr: any) => ((tr as any).__kept = true)))

    // Sync now, from the integration's card (another tab of the same session).
    const cards = await context.newPage()
    await cards.goto(`${app.url}/#/`)
    const card = cards.locator("[data-integration=plane-integration-456]")
    await card.locator("select[name=type]").selectOption("full_sync")
    await card.locator("[data-action=sync-now]").click()
    const queued = await waitFor("the queued message", async () => /Queued job (\S+)\./.exec((await card.locator(".notice").textContent()) ?? ""))
    const jobId = queued[1]!

    const row = page.locator(`tr[data-job="${jobId}"]`)
    await row.waitFor()
    await recordTexts(page, `tr[data-job="${jobId}"] td[data-col=progress]`, "__progress")
    await page.evaluate(() => document.querySelectorAll("tbody tr").forEach((tr: any) => ((tr as any).__kept ??= true)))

    // The job's page follows it live too (its own stream): opened now, never reloaded.
    await cards.goto(`${app.url}/#/jobs/${jobId}`)
    await cards.locator("h1 code").waitFor()
    await cards.evaluate(() => ((window as any).__sameDocument = true))

    // Let the sync run until a first batch is in, then hold it there (3 s a page) until the
    // row shows it: live updates may arrive late on a busy machine, but they must arrive.
    sim.setFaults({ latencyMs: 100 })
    const between = (p: number) => p > 0 && p < 100
    await waitFor("a first batch", async () => between((await api.get(`/api/sync/jobs/${jobId}`)).body.progress))
    sim.setFaults({ latencyMs: 3_000 })
    await waitFor("the row between 0% and 100%", async () => between(Number(/(\d+)%/.exec((await row.locator(".pct").textContent()) ?? "")?.[1])))
    sim.setFaults({ latencyMs: 20 })
    await row.locator(".badge.status-completed").waitFor({ timeout: 45_000 })
    await waitFor("the row at 100%", async () => (await row.locator(".pct").textContent()) === "100%")
    const progress = (await recorded(page, "__progress")).map((t) => Number(/(\d+)%/.exec(t)?.[1]))
    expect(progress.some((p) => p > 0 && p < 100)).toBe(true)
    expect(progress.at(-1)).toBe(100)
    // Live updates touched cells, never rebuilt the rows.
    expect(await page.evaluate(() => [...document.querySelectorAll("tbody tr")].every((tr: any) => (tr as any).__kept === true))).toBe(true)
    expect((await api.get(`/api/sync/jobs/${jobId}`)).body.status).toBe("completed")
    await cards.locator(".timeline li[data-type=JobCompleted]").waitFor()
    await cards.locator(".badge.status-completed").waitFor()
    expect(await cards.locator("[data-field=progress]").textContent()).toBe("100%")
    // The timeline and the logs are two requests: wait for the logs to render too.
    await cards.locator(".logs li").nth(1).waitFor()
    expect(await cards.evaluate(() => (window as any).__sameDocument)).toBe(true)
    // Back to the card for the next action.
    await cards.goto(`${app.url}/#/`)

    // A refused action shows the API's message: a second full sync right away is too recent.
    await card.locator("select[name=type]").selectOption("full_sync")
    await card.locator("[data-action=sync-now]").click()
    await waitFor("the refusal", async () => ((await card.locator(".notice.error").textContent()) ?? "").includes("minFullSyncInterval"))

    // Job detail: counters, the timeline from /events, logs.
    await page.goto(`${app.url}/#/jobs/${jobId}`)
    await page.locator(".timeline li[data-type=JobCompleted]").waitFor()
    expect(Number(await page.locator("[data-counter=processed]").textContent())).toBeGreaterThan(400)
    await page.locator(".logs li").first().waitFor()
    await page.screenshot({ path: join(SCREENSHOTS, "dashboard-job-detail.png") })
    expect(errors).toEqual([])
    await page.close()
    await cards.close()
  })

  it("stops and resumes a job from the page", async () => {
    sim.setFaults({ latencyMs: 250 })
    const page = await context.newPage()
    const errors = watchErrors(page)
    await page.goto(`${app.url}/#/`)
    const card = page.locator("[data-integration=plane-integration-456]")
    await card.locator("select[name=type]").selectOption("selective_sync")
    await card.locator("input[name=entities]").fill("work_items")
    await card.locator("[data-action=sync-now]").click()
    const queued = await waitFor("the queued message", async () => /Queued job (\S+)\./.exec((await card.locator(".notice").textContent()) ?? ""))
    const jobId = queued[1]!

    await page.goto(`${app.url}/#/jobs`)
    const row = page.locator(`tr[data-job="${jobId}"]`)
    await row.locator(".badge.status-running").waitFor()
    await row.locator("[data-action=stop]").click()
    await row.locator(".badge.status-stopped").waitFor({ timeout: 30_000 })
    expect((await api.get(`/api/sync/jobs/${jobId}`)).body.status).toBe("stopped")

    sim.setFaults({ latencyMs: 20 })
    await row.locator("[data-action=resume]").click()
    await row.locator(".badge.status-completed").waitFor({ timeout: 45_000 })
    const job = await waitForStatus(api, jobId, ["completed"])
    expect(job.id).toBe(jobId)
    const events = (await api.get(`/api/sync/jobs/${jobId}/events`)).body.events.map((e: { type: string }) => e.type)
    expect(events).toContain("JobStopped")
    expect(events).toContain("JobResumed")
    await page.screenshot({ path: join(SCREENSHOTS, "dashboard-jobs.png") })
    expect(errors).toEqual([])
    await page.close()
  })

  it("browses the mirror with cursor paging and shows a payload as JSON", async () => {
    // The sync test fills the mirror; run alone, this test syncs first.
    const mirrored = await api.get("/api/sync/integrations/plane-integration-456/records?entity=work_items&limit=1")
    if (mirrored.body.total === 0) {
      sim.setFaults({})
      const created = await api.post("/api/sync/jobs", { integrationId: "plane-integration-456", type: "full_sync" })
      await waitForStatus(api, created.body.jobId, ["completed"], 45_000)
    }
    const page = await context.newPage()
    const errors = watchErrors(page)
    await page.goto(`${app.url}/#/records?integrationId=plane-integration-456&entity=work_items`)
    await page.locator("table.records[data-loaded]").waitFor()
    const firstIds = await page.locator("tr[data-record]").evaluateAll((rows) => rows.map((r) => r.getAttribute("data-record")))
    expect(firstIds.length).toBe(50)
    await page.locator("tr[data-record] button").first().click()
    const payload = JSON.parse((await page.locator("tr.payload-row pre").first().textContent())!)
    expect(payload.id).toBe(firstIds[0])
    await page.screenshot({ path: join(SCREENSHOTS, "dashboard-records.png") })
    await page.getByRole("button", { name: "Next →" }).click()
    await waitFor("the next page", async () => {
      const ids = await page.locator("tr[data-record]").evaluateAll((rows) => rows.map((r) => r.getAttribute("data-record")))
      return ids.length === 50 && !ids.includes(firstIds[0]!)
    })
    await page.getByRole("button", { name: "← Previous" }).click()
    await waitFor("the first page again", async () =>
      (await page.locator("tr[data-record]").first().getAttribute("data-record")) === firstIds[0])
    expect(errors).toEqual([])
    await page.close()
  })

  it("reads in dark mode and at phone width", async () => {
    const dark = await browser.newContext({ viewport: { width: 1280, height: 800 }, colorScheme: "dark" })
    const page = await dark.newPage()
    const errors = watchErrors(page)
    await page.goto(`${app.url}/#/jobs`)
    await page.locator("table.jobs[data-loaded]").waitFor()
    const background = await page.evaluate(() => getComputedStyle(document.body).backgroundColor)
    expect(background).toBe("rgb(18, 22, 28)")
    await page.screenshot({ path: join(SCREENSHOTS, "dashboard-jobs-dark.png") })
    await dark.close()

    const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, colorScheme: "light", isMobile: true })
    const small = await phone.newPage()
    await small.goto(`${app.url}/#/`)
    await small.locator("[data-integration=plane-integration-789] [data-field=status]").waitFor()
    // Nothing wider than the screen.
    expect(await small.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390)
    await small.screenshot({ path: join(SCREENSHOTS, "dashboard-phone.png") })
    await phone.close()
    expect(errors).toEqual([])
  })

  it("adds, edits, keys and deletes an integration from the page; the key is never shown again", async () => {
    const SECRET_KEY = "plane_api_dashboard_secret_51c2e9"
    const page = await context.newPage()
    const errors = watchErrors(page)
    await page.goto(`${app.url}/`)
    const config = page.locator("[data-integration=plane-integration-456]")
    await waitFor("the settings of a config integration", async () => (await config.locator("[data-field=source]").textContent()) === "config file")
    expect(await config.locator("[data-field=schedule]").textContent()).toBe("every 1 h")
    // The config file's integrations are edited in the file: no edit or delete on their cards.
    expect(await config.locator("[data-action=edit-integration]").isVisible()).toBe(false)
    expect(await config.locator("[data-action=delete-integration]").isVisible()).toBe(false)

    // Add: the common fields, a cron schedule, and the rest as advanced JSON.
    await page.getByText("Add integration", { exact: true }).click()
    const form = page.locator("form[aria-label='Add integration']")
    await form.locator("#new-integration-id").fill("team-c")
    await form.locator("#new-integration-name").fill("Team C")
    await form.locator("#new-integration-baseUrl").fill(sim.url)
    await form.locator("#new-integration-workspaceSlug").fill("globex")
    await form.locator("#new-integration-scheduleKind").selectOption("cron")
    await form.locator("#new-integration-cron").fill("0 3 * * *")
    await form.locator("#new-integration-timezone").fill("Europe/Berlin")
    await form.locator("#new-integration-advanced").fill('{"initialSync": "scheduled", "syncWindow": {"start": "22:00", "end": "06:00", "timezone": "UTC"}}')
    await page.screenshot({ path: join(SCREENSHOTS, "dashboard-admin.png"), fullPage: true })
    await form.getByRole("button", { name: "Create integration" }).click()
    await waitFor("the created message", async () => ((await form.locator(".notice").textContent()) ?? "").startsWith("Created integration team-c"))
    const card = page.locator("[data-integration=team-c]")
    await waitFor("the new card with its settings", async () => (await card.count()) === 1 && (await card.locator("[data-field=source]").textContent()) === "api (editable here)")
    expect(await card.locator("[data-field=schedule]").textContent()).toBe("cron 0 3 * * * (Europe/Berlin)")
    expect(await card.locator("[data-field=window]").textContent()).toBe("22:00–06:00 (UTC)")
    expect(await card.locator("[data-field=apiKey]").textContent()).toBe("none")
    const created = (await api.get("/api/sync/integrations")).body.integrations.find((i: { id: string }) => i.id === "team-c")
    expect(created).toMatchObject({
      source: "api", name: "Team C", baseUrl: sim.url, workspaceSlug: "globex", enabled: true,
      schedule: { cron: "0 3 * * *", timezone: "Europe/Berlin" }, syncWindow: { start: "22:00", end: "06:00", timezone: "UTC" }
    })

    // A refusal shows the server's message: the same id again is a 409.
    await form.locator("#new-integration-id").fill("team-c")
    await form.locator("#new-integration-name").fill("Again")
    await form.locator("#new-integration-baseUrl").fill(sim.url)
    await form.locator("#new-integration-workspaceSlug").fill("globex")
    await form.getByRole("button", { name: "Create integration" }).click()
    await waitFor("the 409 message", async () => ((await form.locator(".notice.error").textContent()) ?? "").includes("(409 IntegrationExists)"))
    expect(await form.locator(".notice.error").textContent()).toMatch(/^An integration with id 'team-c' exists already/)

    // Set the key: the input is emptied at once, and only the fingerprint is ever shown.
    await card.locator("input[type=password]").fill(SECRET_KEY)
    await card.locator("[data-action=set-key]").click()
    await waitFor("the fingerprint", async () => ((await card.locator("[data-field=apiKey]").textContent()) ?? "").startsWith("stored, fingerprint "))
    const fingerprint = (await api.get("/api/sync/integrations/team-c")).body.credential.fingerprint as string
    expect(await card.locator("[data-field=apiKey]").textContent()).toBe(`stored, fingerprint ${fingerprint}`)
    expect(await card.locator("input[type=password]").inputValue()).toBe("")
    const everything = await page.evaluate(() =>
      document.documentElement.outerHTML + [...document.querySelectorAll("input, textarea")].map((e: any) => e.value).join("\n"))
    expect(everything).not.toContain(SECRET_KEY)

    // Edit (PATCH) in a dialog: a new name and an interval schedule.
    await card.locator("[data-action=edit-integration]").click()
    const dialog = page.locator("dialog.admin-dialog")
    await dialog.locator("#edit-team-c-name").fill("Team Cee")
    await dialog.locator("#edit-team-c-scheduleKind").selectOption("every")
    await dialog.locator("#edit-team-c-every").fill("900")
    await dialog.getByRole("button", { name: "Save" }).click()
    await waitFor("the renamed card", async () => (await card.locator("h2").textContent()) === "Team Cee")
    expect(await card.locator("[data-field=schedule]").textContent()).toBe("every 15 min")
    expect((await api.get("/api/sync/integrations/team-c")).body).toMatchObject({ name: "Team Cee", schedule: { every: 900 } })

    await card.locator("[data-action=remove-key]").click()
    await waitFor("the key removed", async () => (await card.locator("[data-field=apiKey]").textContent()) === "none")
    expect((await api.get("/api/sync/integrations/team-c")).body.credential).toBeNull()

    // Delete, with the purge-mirror choice, after confirming.
    await card.locator("[data-action=delete-integration]").click()
    const confirm = page.locator("dialog.admin-dialog")
    await confirm.locator("#purge-mirror").check()
    await confirm.getByRole("button", { name: "Delete integration" }).click()
    await waitFor("the card gone", async () => (await card.count()) === 0)
    expect(await page.locator("main > .notice").textContent()).toBe("Integration team-c deleted; 0 mirrored record(s) purged.")
    expect((await api.get("/api/sync/integrations/team-c")).status).toBe(404)
    // The browser logs the refused request (the 409 above) as a console error; nothing else.
    expect(errors.filter((e) => !e.includes("status of 409 (Conflict)"))).toEqual([])
    await page.close()
  })

  it("lists webhook endpoints with their state and sends a test notification", async () => {
    const page = await context.newPage()
    const errors = watchErrors(page)
    await page.goto(`${app.url}/`)
    const row = page.locator("tr[data-endpoint=ops]")
    await row.waitFor()
    expect(await row.locator("[data-col=pending]").textContent()).toBe("0")
    const before = receiver.received.length
    await page.locator("[data-action=test-notifications]").click()
    const message = page.locator(".notifications-panel .notice")
    await waitFor("the test's outcome", async () => (await message.textContent()) === "ops: delivered (200)")
    expect(receiver.received.length).toBe(before + 1)
    expect(receiver.received.at(-1)!.headers["x-synclog-event"]).toBe("test")
    expect(errors).toEqual([])
    await page.close()
  })
})

describe("web dashboard with SYNC_API_TOKEN", () => {
  let sim: RunningSimulator
  let app: AppHandle
  const tmp = tempDir()

  beforeAll(async () => {
    sim = await startSimulator({ workspaces: [{ slug: "acme", projects: 1, workItems: 10, seed: 1 }, { slug: "globex", projects: 1, workItems: 10, seed: 2 }] })
    app = await startApp({ dbPath: tmp.dbPath, apiKey: sim.apiKey, apiToken: TOKEN, integrations: integrations(sim) })
  })

  afterAll(async () => {
    await app?.close()
    await sim?.close()
    tmp.remove()
  })

  it("asks for the token once, keeps it for the session and then shows the data", async () => {
    // The page itself is public; its data is not.
    expect((await fetch(`${app.url}/`)).status).toBe(200)
    expect((await fetch(`${app.url}/api/sync/integrations/status`)).status).toBe(401)
    const context = await browser.newContext()
    const page = await context.newPage()
    await page.goto(`${app.url}/`)
    const input = page.locator("dialog #token-input")
    await input.waitFor()
    await input.fill("not-the-token")
    await input.press("Enter")
    // A wrong token is refused and asked again.
    await waitFor("the prompt again", async () => ((await page.locator("dialog p.muted").first().textContent()) ?? "").includes("refused"))
    await page.locator("dialog #token-input").fill(TOKEN)
    await page.locator("dialog #token-input").press("Enter")
    await page.locator("[data-integration=plane-integration-456]").waitFor()
    await page.locator("[data-integration=plane-integration-789]").waitFor()
    expect(await page.evaluate(() => sessionStorage.getItem("synclog.token"))).toBe(TOKEN)
    await page.getByRole("button", { name: "Forget token" }).waitFor()
    // Another screen of the same tab needs no new prompt; its live stream carries the token.
    await page.goto(`${app.url}/#/jobs`)
    await page.locator("table.jobs[data-loaded]").waitFor()
    expect(await page.locator("dialog").count()).toBe(0)
    await context.close()
  })
})
