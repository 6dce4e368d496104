import { createHash, randomBytes } from "node:crypto"
import { existsSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest"
import { type RunningSimulator, startSimulator } from "../src/simulator/server.js"
import { tempDir } from "./support/app.js"
import { killAllChildren, startChild, takeChildOutputs, writeConfigFile, type ChildServer } from "./support/child.js"
import { runCliAsync } from "./support/cli.js"
import type { Reply } from "./support/http.js"
import { waitFor, waitForStatus } from "./support/http.js"
import { admin, expectMirrorEqualsSource } from "./support/source.js"

/**
 * Stored API keys through the real server process (`tsx src/main.ts`, SYNC_MASTER_KEY in its
 * environment, JSON logs on stdout), across a restart: the key is used, rotated and removed,
 * and afterwards appears in no byte of the database, no log line and no response.
 */
describe("stored credentials", () => {
  const KEY = `plane_api_${randomBytes(16).toString("hex")}`
  const WRONG_KEY = `plane_api_${randomBytes(16).toString("hex")}`
  const MASTER_KEY = randomBytes(32).toString("base64")
  let sim: RunningSimulator
  const tmp = tempDir()
  const configPath = join(tmp.dir, "synclog.config.json")
  const responses: Array<string> = []
  const outputs: Array<string> = []

  beforeAll(async () => {
    sim = await startSimulator({ apiKey: KEY, workspaces: [{ slug: "acme", projects: 2, workItems: 30, seed: 41 }] })
    writeConfigFile(configPath, [])
  })

  afterEach(async (ctx) => {
    if (ctx.task.result?.state === "fail") console.log(takeChildOutputs())
  })

  afterAll(async () => {
    await killAllChildren()
    await sim.close()
    tmp.remove()
  })

  const start = (label: string, env: Record<string, string> = { SYNC_MASTER_KEY: MASTER_KEY }) =>
    startChild({ dbPath: tmp.dbPath, configPath, apiKey: "not-used-here", label, env })

  /** Every answer is kept, to be searched for the keys at the end. */
  const recorded = async (reply: Promise<Reply>) => {
    const r = await reply
    responses.push(JSON.stringify(r.body))
    return r
  }

  const runJob = async (server: ChildServer, expected: "completed" | "failed") => {
    const created = await recorded(server.api.post("/api/sync/jobs", { integrationId: "api-cred", type: "full_sync", options: { force: true } }))
    expect(created.status).toBe(200)
    const job = await waitForStatus(server.api, created.body.jobId, ["completed", "failed"])
    responses.push(JSON.stringify(job))
    responses.push(JSON.stringify((await server.api.get(`/api/sync/jobs/${job.id}/events`)).body))
    expect(job.status, JSON.stringify(job)).toBe(expected)
    return job
  }

  it("uses, rotates and removes a key stored encrypted, across a restart, and never shows it", async () => {
    const fingerprint = createHash("sha256").update(KEY).digest("hex").slice(0, 4)
    const first = await start("run 1")
    const api = first.api
    const created = await recorded(api.post("/api/sync/integrations", {
      id: "api-cred",
      name: "Stored key",
      type: "plane",
      baseUrl: sim.url,
      workspaceSlug: "acme",
      syncInterval: 3600,
      requestsPerMinute: 0,
      initialSync: "scheduled"
    }))
    expect(created.status).toBe(201)
    expect(created.body.integration).toMatchObject({ apiKeyEnv: null, credential: null })

    // No key yet: the job fails with the missing-key message, saying how to add one.
    const failed = await runJob(first, "failed")
    expect(failed.error).toContain("No API key for integration 'api-cred'")
    expect(failed.error).toContain("PUT /api/sync/integrations/api-cred/credentials")

    const put = await recorded(api.put("/api/sync/integrations/api-cred/credentials", { apiKey: KEY }))
    expect(put.status).toBe(200)
    expect(put.body).toMatchObject({ success: true, credential: { fingerprint } })
    expect((await recorded(api.get("/api/sync/integrations/api-cred"))).body.credential.fingerprint).toBe(fingerprint)
    // The failed job, resumed, now runs with the stored key.
    expect((await recorded(api.post(`/api/sync/jobs/${failed.id}/resume`))).status).toBe(200)
    const resumed = await waitForStatus(api, failed.id, ["completed", "failed"])
    expect(resumed.status).toBe("completed")

    // Rotation applies from the next job: a wrong key fails, the right one works again.
    await recorded(api.put("/api/sync/integrations/api-cred/credentials", { apiKey: WRONG_KEY }))
    const refused = await runJob(first, "failed")
    expect(refused.error).toContain("Plane refused the API key")
    expect(refused.error).toContain("stored for api-cred")
    await recorded(api.put("/api/sync/integrations/api-cred/credentials", { apiKey: KEY }))
    await runJob(first, "completed")
    await recorded(api.get("/api/sync/integrations"))
    await recorded(api.get("/api/sync/integrations/status"))
    expect((await first.terminate()).code).toBe(0)
    outputs.push(first.output())

    // After a restart: the integration is rebuilt from its events, the key decrypts.
    const second = await start("run 2")
    const after = await recorded(second.api.get("/api/sync/integrations/api-cred"))
    expect(after.body).toMatchObject({ id: "api-cred", source: "api", credential: { fingerprint } })
    await runJob(second, "completed")
    const removed = await recorded(second.api.del("/api/sync/integrations/api-cred/credentials"))
    expect(removed.body).toMatchObject({ success: true, removed: true })
    expect((await recorded(second.api.get("/api/sync/integrations/api-cred"))).body.credential).toBeNull()
    const missing = await runJob(second, "failed")
    expect(missing.error).toContain("No API key")
    expect((await second.terminate()).code).toBe(0)
    outputs.push(second.output())

    // Nowhere: not in the database (nor its WAL), the logs, or any answer.
    const files = [tmp.dbPath, `${tmp.dbPath}-wal`, `${tmp.dbPath}-shm`].filter((f) => existsSync(f))
    const haystacks = [...files.map((f) => readFileSync(f).toString("latin1")), ...outputs, ...responses]
    expect(outputs.join("").length).toBeGreaterThan(1000) // the logs were captured
    for (const secret of [KEY, WRONG_KEY]) {
      expect(haystacks.filter((h) => h.includes(secret)).length).toBe(0)
    }

    const verify = await runCliAsync(["replay", "--verify", "--db", tmp.dbPath])
    expect(verify.stdout).toMatch(/OK: \d+ events replayed/)
  })

  it("applies a key rotated while a job runs from its next request, and a removed one stops it", async () => {
    const NEW_KEY = `plane_api_${randomBytes(16).toString("hex")}`
    const rotTmp = tempDir()
    const simAdmin = admin(sim)
    const usedKeys = async () => ((await simAdmin.get("/api-keys")).requestsByKey ?? {}) as Record<string, number>
    const server = await startChild({ dbPath: rotTmp.dbPath, configPath, apiKey: "not-used-here", label: "rotation", env: { SYNC_MASTER_KEY: MASTER_KEY } })
    const api = server.api
    try {
      await simAdmin.post("/workspaces", { slug: "rotation", projects: 2, workItems: 200, seed: 43 })
      // The source accepts both keys during the rotation, as Plane does until the old one is revoked.
      await simAdmin.put("/api-keys", { keys: [KEY, NEW_KEY] })
      const created = await recorded(api.post("/api/sync/integrations", {
        id: "api-rot",
        name: "Rotation",
        type: "plane",
        baseUrl: sim.url,
        workspaceSlug: "rotation",
        syncInterval: 3600,
        requestsPerMinute: 0,
        initialSync: "scheduled"
      }))
      expect(created.status).toBe(201)
      expect((await recorded(api.put("/api/sync/integrations/api-rot/credentials", { apiKey: KEY }))).status).toBe(200)
      sim.setFaults({ latencyMs: 40 })

      const startJob = async () => {
        const job = await recorded(api.post("/api/sync/jobs", { integrationId: "api-rot", type: "full_sync", options: { force: true, batchSize: 5 } }))
        expect(job.status, JSON.stringify(job.body)).toBe(200)
        return job.body.jobId as string
      }
      const jobStatus = async (jobId: string) => (await recorded(api.get(`/api/sync/jobs/${jobId}`))).body.status
      const keyUsedFor = (key: string, atLeast: number) =>
        waitFor(`${atLeast} requests with a key`, async () => ((await usedKeys())[key] ?? 0) >= atLeast)

      // Rotated while the job runs: its next requests carry the new key.
      const oldBefore = (await usedKeys())[KEY] ?? 0
      const jobId = await startJob()
      await keyUsedFor(KEY, oldBefore + 5)
      const rotated = await recorded(api.put("/api/sync/integrations/api-rot/credentials", { apiKey: NEW_KEY }))
      expect(rotated.status).toBe(200)
      await keyUsedFor(NEW_KEY, 10)
      expect(await jobStatus(jobId)).toBe("running")
      // The old key is revoked at the source: any later request still carrying it would fail the job.
      await simAdmin.put("/api-keys", { keys: [NEW_KEY] })
      const done = await waitForStatus(api, jobId, ["completed", "failed"])
      responses.push(JSON.stringify(done))
      expect(done.status, JSON.stringify(done)).toBe("completed")
      expect(done.attempt).toBe(1)
      const events = (await recorded(api.get(`/api/sync/jobs/${jobId}/events`))).body.events.map((e: any) => e.type)
      expect(events).not.toContain("JobResumed")
      expect((await usedKeys())[NEW_KEY]).toBeGreaterThan(10)
      await expectMirrorEqualsSource(api, "api-rot", sim, "rotation")

      // Removed while a job runs (and no apiKeyEnv): the job fails at its next request, saying why.
      const second = await startJob()
      const newBefore = (await usedKeys())[NEW_KEY] ?? 0
      await keyUsedFor(NEW_KEY, newBefore + 5)
      expect((await recorded(api.del("/api/sync/integrations/api-rot/credentials"))).body.removed).toBe(true)
      const stopped = await waitForStatus(api, second, ["completed", "failed"])
      responses.push(JSON.stringify(stopped))
      expect(stopped.status).toBe("failed")
      expect(stopped.error).toContain("The API key stored for integration 'api-rot' was removed while the job ran")
      expect(stopped.error).toContain("PUT /api/sync/integrations/api-rot/credentials")
    } finally {
      sim.setFaults({})
      await simAdmin.put("/api-keys", { keys: [KEY] })
      expect((await server.terminate()).code).toBe(0)
    }

    // Neither key in the database (nor its WAL), the logs or any answer.
    const files = [rotTmp.dbPath, `${rotTmp.dbPath}-wal`, `${rotTmp.dbPath}-shm`].filter((f) => existsSync(f))
    const haystacks = [...files.map((f) => readFileSync(f).toString("latin1")), server.output(), ...responses]
    expect(server.output().length).toBeGreaterThan(1000)
    for (const secret of [KEY, NEW_KEY]) {
      expect(haystacks.filter((h) => h.includes(secret)).length).toBe(0)
    }
    rotTmp.remove()
  })

  it("refuses to start with a master key that is not 32 bytes of base64, without quoting it", async () => {
    const bad = "dG9vIHNob3J0"
    const error = await start("bad key", { SYNC_MASTER_KEY: bad }).then(() => undefined, (e: Error) => e)
    expect(error).toBeDefined()
    expect(error!.message).toContain("SYNC_MASTER_KEY must be 32 random bytes in base64")
    expect(error!.message).not.toContain(bad)
  })
})
