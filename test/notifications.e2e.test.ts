import { createHmac, timingSafeEqual } from "node:crypto"
import { readFileSync } from "node:fs"
import type { IncomingHttpHeaders } from "node:http"
import { Schema } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { parseConfig } from "../src/config/ConfigFile.js"
import { NotificationEndpointConfig } from "../src/notifications/config.js"
import { type RunningSimulator, startSimulator } from "../src/simulator/server.js"
import { planeIntegration, startApp, tempDir } from "./support/app.js"
import { type Client, client, waitFor, waitForStatus } from "./support/http.js"
import { freePort, type Received, startReceiver } from "./support/receiver.js"

const SECRET_ENV = "SYNCLOG_TEST_WEBHOOK_SECRET"
const SECRET = "whsec-test-7d41c0"

/** The receiver's check, exactly as the README's snippet does it. */
function verify(secret: string, headers: IncomingHttpHeaders, body: string) {
  const timestamp = Number(headers["x-synclog-timestamp"])
  const signature = String(headers["x-synclog-signature"] ?? "")
  if (!Number.isInteger(timestamp) || Math.abs(Date.now() / 1000 - timestamp) > 300) return false
  const expected = "sha256=" + createHmac("sha256", secret).update(`${timestamp}.${body}`).digest("hex")
  return signature.length === expected.length && timingSafeEqual(Buffer.from(signature), Buffer.from(expected))
}

/** An endpoint as written in the config file, decoded by its schema; retries are quick here. */
const endpoint = (fields: { readonly url: string } & Record<string, unknown>): NotificationEndpointConfig =>
  Schema.decodeUnknownSync(NotificationEndpointConfig)({ retry: { baseDelay: 0.05, maxDelay: 0.3 }, ...fields })

const json = (r: Received) => JSON.parse(r.body)
const keyOf = (r: Received) => `${r.headers["x-synclog-delivery"]}/${r.headers["x-synclog-event"]}`

/** The received deliveries with repeats dropped (receivers de-duplicate by delivery id and event). */
const deduplicated = (received: ReadonlyArray<Received>) => {
  const seen = new Set<string>()
  return received.filter((r) => {
    const key = keyOf(r)
    if (seen.has(key)) return false
    seen.add(key)
    return true
  })
}

describe("webhooks", () => {
  let sim: RunningSimulator
  const cleanups: Array<() => Promise<void> | void> = []

  beforeAll(async () => {
    sim = await startSimulator({ workspaces: [{ slug: "acme", projects: 2, workItems: 40, seed: 12 }] })
  })

  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup()
    await sim?.close()
  })

  const good = () => planeIntegration("plane-integration-456", sim, "acme")
  /** An integration whose API key variable is not set: its jobs fail at once, permanently. */
  const broken = () => planeIntegration("broken", sim, "acme", { name: "Broken Plane", apiKeyEnv: "SYNCLOG_TEST_NO_SUCH_KEY" })

  const boot = async (dbPath: string, notifications: ReadonlyArray<NotificationEndpointConfig>) => {
    const app = await startApp({
      dbPath,
      apiKey: sim.apiKey,
      integrations: [good(), broken()],
      engine: { minFullSyncInterval: 0 },
      secrets: { [SECRET_ENV]: SECRET },
      notifications
    })
    return { app, api: client(app.url) }
  }

  const runJob = async (api: Client, integrationId: string, status: "completed" | "failed") => {
    const created = await api.post("/api/sync/jobs", { integrationId, type: "full" })
    expect(created.status, JSON.stringify(created.body)).toBe(200)
    return (await waitForStatus(api, created.body.jobId, [status])) as { id: string }
  }

  /** The log events of a job, [position, type]. */
  const eventsOf = async (api: Client, jobId: string) =>
    ((await api.get(`/api/sync/jobs/${jobId}/events`)).body.events as Array<{ position: number; type: string }>)

  it("posts job.failed with the integration, job, error, counters, attempt and link, signed with the secret", async () => {
    const receiver = await startReceiver()
    cleanups.push(receiver.close)
    const tmp = tempDir()
    cleanups.push(tmp.remove)
    const { api, app } = await boot(tmp.dbPath, [
      endpoint({ id: "ops", url: `${receiver.url}/hooks/synclog`, events: ["job.failed"], secretEnv: SECRET_ENV })
    ])
    cleanups.push(app.close)

    await runJob(api, "plane-integration-456", "completed") // not subscribed: nothing sent
    const job = await runJob(api, "broken", "failed")
    const got = await waitFor("the job.failed delivery", async () => receiver.received[0])
    expect(receiver.received).toHaveLength(1)

    const failedAt = (await eventsOf(api, job.id)).find((e) => e.type === "JobFailed")!.position
    expect(got.method).toBe("POST")
    expect(got.path).toBe("/hooks/synclog")
    expect(got.headers["content-type"]).toContain("application/json")
    expect(got.headers["x-synclog-event"]).toBe("job.failed")
    expect(got.headers["x-synclog-delivery"]).toBe(String(failedAt))
    expect(verify(SECRET, got.headers, got.body)).toBe(true)
    expect(verify("another-secret", got.headers, got.body)).toBe(false)
    expect(verify(SECRET, got.headers, got.body.replace("broken", "brokeN"))).toBe(false)
    expect(verify(SECRET, { ...got.headers, "x-synclog-timestamp": String(Number(got.headers["x-synclog-timestamp"]) - 1) }, got.body))
      .toBe(false)

    const detail = (await api.get(`/api/sync/jobs/${job.id}`)).body
    const body = json(got)
    expect(body).toMatchObject({
      id: String(failedAt),
      event: "job.failed",
      position: failedAt,
      integration: { id: "broken", name: "Broken Plane" },
      job: {
        id: job.id,
        type: "full_sync",
        status: "failed",
        attempt: 1,
        error: detail.error,
        stats: detail.stats,
        link: `/api/sync/jobs/${job.id}`
      }
    })
    expect(body.job.error).toContain("SYNCLOG_TEST_NO_SUCH_KEY")
    expect(body.message).toContain(job.id)
    expect(got.body).not.toContain(SECRET)
  })

  it("delivers every event after the receiver was down across a synclog restart: in log order, none lost", async () => {
    const port = await freePort()
    const tmp = tempDir()
    cleanups.push(tmp.remove)
    const hooks = [
      endpoint({
        id: "down",
        url: `http://127.0.0.1:${port}/hook`,
        events: ["job.failed", "job.completed", "integration.recovered"],
        integrationIds: ["plane-integration-456"]
      })
    ]
    const jobs: Array<string> = []

    // While the receiver is down: a success, a failure (401 from Plane), synclog restarts, a success.
    let { api, app } = await boot(tmp.dbPath, hooks)
    jobs.push((await runJob(api, "plane-integration-456", "completed")).id)
    sim.setFaults({ unauthorizedAfter: 0 })
    try {
      jobs.push((await runJob(api, "plane-integration-456", "failed")).id)
    } finally {
      sim.setFaults({})
    }
    await runJob(api, "broken", "failed") // another integration: filtered out
    const before = await waitFor("the deliveries to fail", async () => {
      const state = (await api.get("/api/sync/notifications")).body.endpoints[0].state
      return state.pending === 2 && state.lastError !== null ? state : undefined
    })
    expect(before.lastError).toContain("connection refused")
    expect(before.lastSuccessAt).toBeNull()
    await app.close()
    ;({ api, app } = await boot(tmp.dbPath, hooks))
    cleanups.push(() => app.close())
    jobs.push((await runJob(api, "plane-integration-456", "completed")).id)
    await waitFor("four pending deliveries", async () =>
      (await api.get("/api/sync/notifications")).body.endpoints[0].state.pending === 4)

    // The log says what must arrive: every matching event, in order.
    const expected: Array<string> = []
    for (const jobId of jobs) {
      for (const e of await eventsOf(api, jobId)) {
        if (e.type === "JobFailed") expected.push(`${e.position}/job.failed`)
        if (e.type === "JobCompleted") {
          expected.push(`${e.position}/job.completed`)
          // The second success follows a failure: the integration recovered.
          if (jobId === jobs[2]) expected.push(`${e.position}/integration.recovered`)
        }
      }
    }

    const receiver = await startReceiver({ port })
    cleanups.push(receiver.close)
    await waitFor("every delivery", async () => deduplicated(receiver.received).length >= expected.length)
    const delivered = deduplicated(receiver.received)
    expect(delivered.map(keyOf)).toEqual(expected)
    const positions = delivered.map((r) => json(r).position as number)
    expect(positions).toEqual([...positions].sort((a, b) => a - b))
    expect(json(delivered[3]!)).toMatchObject({ event: "integration.recovered", failedJobsBefore: 1, job: { id: jobs[2] } })
    const after = await waitFor("the state to settle", async () => {
      const state = (await api.get("/api/sync/notifications")).body.endpoints[0].state
      return state.pending === 0 ? state : undefined
    })
    expect(after.lastSuccessAt).not.toBeNull()
    expect(after.position).toBeGreaterThanOrEqual(Number(expected.at(-1)!.split("/")[0]))

    // The mapping's memory is stored with the checkpoint: a failure delivered before a restart
    // still makes the first success after it a recovery.
    sim.setFaults({ unauthorizedAfter: 0 })
    try {
      const failed = await runJob(api, "plane-integration-456", "failed")
      await waitFor("the failure's delivery", async () =>
        receiver.received.some((r) => json(r).job?.id === failed.id))
    } finally {
      sim.setFaults({})
    }
    await waitFor("the checkpoint to pass the failure", async () =>
      (await api.get("/api/sync/notifications")).body.endpoints[0].state.pending === 0)
    await app.close()
    ;({ api, app } = await boot(tmp.dbPath, hooks))
    const recovered = await runJob(api, "plane-integration-456", "completed")
    const last = await waitFor("the recovery after the restart", async () =>
      receiver.received.find((r) => json(r).event === "integration.recovered" && json(r).job.id === recovered.id))
    expect(json(last)).toMatchObject({ failedJobsBefore: 1, integration: { id: "plane-integration-456" } })
  })

  it("never lets a receiver that does not answer hold up a sync", async () => {
    const receiver = await startReceiver({ mode: "hang" })
    cleanups.push(receiver.close)
    const tmp = tempDir()
    cleanups.push(tmp.remove)
    const { api, app } = await boot(tmp.dbPath, [
      endpoint({ id: "slow", url: `${receiver.url}/hook`, events: ["job.failed", "job.completed"], timeout: 1 })
    ])
    cleanups.push(app.close)

    await runJob(api, "broken", "failed")
    await waitFor("the receiver to hold the delivery open", async () => receiver.open() === 1)
    // The delivery hangs; a full sync runs and completes meanwhile.
    const job = await runJob(api, "plane-integration-456", "completed")
    const detail = (await api.get(`/api/sync/jobs/${job.id}`)).body
    expect(detail.stats.processed).toBeGreaterThan(40)
    expect(receiver.received.every((r) => r.headers["x-synclog-event"] === "job.failed")).toBe(true)
    // The 1 s timeout gives up on the hung request and tries the same delivery again.
    await waitFor("a retry after the timeout", async () => receiver.received.length >= 2)
    expect(new Set(receiver.received.map(keyOf)).size).toBe(1)
    const state = await waitFor("both notifications pending", async () => {
      const s = (await api.get("/api/sync/notifications")).body.endpoints[0].state
      return s.pending === 2 && s.lastError !== null ? s : undefined
    })
    expect(state.lastError).toContain("no answer within 1s")
  })

  it("lists endpoints with masked URLs and delivery state, and sends test notifications", async () => {
    const receiver = await startReceiver()
    cleanups.push(receiver.close)
    const downPort = await freePort()
    const tmp = tempDir()
    cleanups.push(tmp.remove)
    const { api, app } = await boot(tmp.dbPath, [
      endpoint({ id: "ops", url: `http://hook-user:hook-pass@127.0.0.1:${receiver.port}/hook?token=abc123`, secretEnv: SECRET_ENV }),
      endpoint({ url: `${receiver.url}/services/T0001/B0001/abcdefghijklmnopqrstuvwx`, format: "slack" }),
      endpoint({ id: "down", url: `http://127.0.0.1:${downPort}/hook`, events: ["circuit.opened"] }),
      endpoint({ id: "no-secret", url: `${receiver.url}/unsigned`, secretEnv: "SYNCLOG_TEST_UNSET_SECRET" })
    ])
    cleanups.push(app.close)

    const list = await api.get("/api/sync/notifications")
    expect(list.status).toBe(200)
    const [ops, slack, down] = list.body.endpoints
    expect(ops).toMatchObject({
      id: "ops",
      url: `http://***@127.0.0.1:${receiver.port}/hook?token=***`,
      events: ["job.failed", "circuit.opened", "circuit.closed"],
      integrationIds: null,
      format: "json",
      signed: true,
      state: { pending: 0, lastSuccessAt: null, lastErrorAt: null, lastError: null, givenUp: 0 }
    })
    expect(slack.id).toMatch(/^url-[0-9a-f]{12}$/)
    expect(slack).toMatchObject({ url: `${receiver.url}/services/T0001/B0001/***`, format: "slack", signed: false })
    expect(down).toMatchObject({ id: "down", events: ["circuit.opened"] })
    expect(JSON.stringify(list.body)).not.toContain("hook-pass")
    expect(JSON.stringify(list.body)).not.toContain("abc123")

    const all = await api.post("/api/sync/notifications/test")
    expect(all.status).toBe(200)
    expect(all.body.results).toEqual([
      { endpointId: "ops", delivered: true, status: 200, error: null },
      { endpointId: slack.id, delivered: true, status: 200, error: null },
      { endpointId: "down", delivered: false, status: null, error: "connection refused" },
      {
        endpointId: "no-secret",
        delivered: false,
        status: null,
        error: "the signing secret is missing: environment variable SYNCLOG_TEST_UNSET_SECRET is not set"
      }
    ])
    // Never sent unsigned.
    expect(receiver.received.some((r) => r.path.startsWith("/unsigned"))).toBe(false)
    const toOps = receiver.received.find((r) => r.path.startsWith("/hook"))!
    expect(toOps.headers["x-synclog-event"]).toBe("test")
    expect(toOps.headers.authorization).toBe(`Basic ${Buffer.from("hook-user:hook-pass").toString("base64")}`)
    expect(verify(SECRET, toOps.headers, toOps.body)).toBe(true)
    expect(json(toOps)).toMatchObject({ event: "test", position: null, integration: null })
    const toSlack = receiver.received.find((r) => r.path.startsWith("/services"))!
    expect(Object.keys(json(toSlack))).toEqual(["text"])
    expect(json(toSlack).text).toContain("Test notification from synclog")

    const one = await api.post("/api/sync/notifications/test", { endpointId: "ops" })
    expect(one.body.results).toEqual([{ endpointId: "ops", delivered: true, status: 200, error: null }])
    receiver.mode = { status: 503 }
    const failing = await api.post("/api/sync/notifications/test", { endpointId: "ops" })
    expect(failing.body.results[0]).toMatchObject({ delivered: false, status: 503 })
    expect(failing.body.results[0].error).toContain("503")

    const unknown = await api.post("/api/sync/notifications/test", { endpointId: "nope" })
    expect(unknown.status).toBe(404)
    expect(unknown.body).toMatchObject({ success: false, error: "NotFound" })
    expect(unknown.body.message).toContain("ops")
    const bad = await api.post("/api/sync/notifications/test", { endpointId: 12 })
    expect(bad.status).toBe(400)
    expect(bad.body).toMatchObject({ success: false, error: "ValidationError" })

    const spec = (await api.get("/openapi.json")).body
    expect(Object.keys(spec.paths)).toEqual(expect.arrayContaining(["/api/sync/notifications", "/api/sync/notifications/test"]))
  })

  it("answers the routes without endpoints: an empty list, and a test that says what to configure", async () => {
    const tmp = tempDir()
    cleanups.push(tmp.remove)
    const { api, app } = await boot(tmp.dbPath, [])
    cleanups.push(app.close)
    expect((await api.get("/api/sync/notifications")).body).toEqual({ endpoints: [] })
    const test = await api.post("/api/sync/notifications/test")
    expect(test.status).toBe(404)
    expect(test.body.message).toContain("notifications")
  })
})

describe("the notifications config", () => {
  const parse = (notifications: unknown) =>
    parseConfig("synclog.config.json", JSON.stringify({ integrations: [], notifications }))

  it("accepts a minimal endpoint and fills in the defaults", () => {
    const parsed = parse([{ url: "https://hooks.example.com/synclog" }])
    expect(parsed._tag).toBe("Right")
    if (parsed._tag === "Right") {
      expect(parsed.right.notifications).toEqual([{
        url: "https://hooks.example.com/synclog",
        events: ["job.failed", "circuit.opened", "circuit.closed"],
        format: "json",
        timeout: 10,
        retry: { baseDelay: 1, maxDelay: 600, giveUpAfter: 86_400 }
      }])
    }
  })

  it("accepts the documented example (synclog.config.example.json)", () => {
    const example = parseConfig("synclog.config.example.json", readFileSync("synclog.config.example.json", "utf8"))
    expect(example._tag).toBe("Right")
    if (example._tag === "Right") {
      expect(example.right.notifications.map((n) => [n.id, n.format])).toEqual([["ops", "json"], ["team-chat", "slack"]])
    }
  })

  it("names each bad field: URL, event, format, secret variable, unknown key, duplicate id", () => {
    const parsed = parse([
      { url: "ftp://example.com/x" },
      { url: "https://ok.example.com", events: ["job.failed", "job.exploded"] },
      { url: "https://ok.example.com/2", format: "teams", secretEnv: "not a name", colour: "red" },
      { id: "a", url: "https://a.example.com" },
      { id: "a", url: "https://b.example.com" },
      { url: "not a url" }
    ])
    expect(parsed._tag).toBe("Left")
    if (parsed._tag !== "Left") return
    const message = parsed.left.message
    expect(message).toContain("notifications.0.url: expected an http(s) URL")
    expect(message).toContain("notifications.1.events.1: unknown event 'job.exploded'; valid: job.failed, job.completed")
    expect(message).toContain("notifications.2.format")
    expect(message).toContain("notifications.2.secretEnv: expected the NAME of an environment variable")
    expect(message).toContain("notifications.2.colour")
    expect(message).toContain("notifications.5.url: expected an http(s) URL")
    const dup = parse([{ id: "a", url: "https://a.example.com" }, { id: "a", url: "https://b.example.com" }])
    expect(dup._tag === "Left" && dup.left.message).toContain("notifications.1.id: duplicate endpoint id 'a'")
    const sameUrl = parse([{ url: "https://a.example.com" }, { url: "https://a.example.com" }])
    expect(sameUrl._tag === "Left" && sameUrl.left.message).toContain("give each an 'id'")
  })
})
