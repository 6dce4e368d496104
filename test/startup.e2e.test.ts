import { type ChildProcess, execFileSync, spawn } from "node:child_process"
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { tempDir } from "./support/app.js"
import { freePort } from "./support/child.js"
import { client, waitFor } from "./support/http.js"

/**
 * `npm start` as a user runs it: the bundle that `prestart` builds, started as a child process
 * with only environment variables, in demo mode and with a config file.
 */
const root = join(import.meta.dirname, "..")

const start = (env: Record<string, string>) => {
  const child = spawn(process.execPath, ["--max-old-space-size=1024", "dist/main.js"], {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"]
  })
  let out = ""
  child.stdout!.on("data", (d: Buffer) => (out += d.toString()))
  child.stderr!.on("data", (d: Buffer) => (out += d.toString()))
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)))
  return { child, exited, output: () => out }
}

describe("npm start", () => {
  const children: Array<ChildProcess> = []
  const tmp = tempDir()

  beforeAll(() => {
    execFileSync("npm", ["run", "build", "--silent"], { cwd: root, stdio: "inherit" })
  })
  afterAll(() => {
    for (const c of children) c.kill("SIGKILL")
    tmp.remove()
  })

  it("runs the demo without a config file, answers the spec's examples and stops cleanly on SIGTERM", async () => {
    const port = await freePort()
    const server = start({
      PORT: String(port),
      SYNC_DB_PATH: join(tmp.dir, "demo", "synclog.db"),
      SYNC_CONFIG: join(tmp.dir, "no-such-config.json"),
      SYNC_LOG_FORMAT: "logfmt"
    })
    children.push(server.child)
    const api = client(`http://127.0.0.1:${port}`)
    await waitFor("the server", async () => (await api.get("/healthz").catch(() => ({ status: 0, body: null }))).status === 200, 30_000)
    expect(server.output()).toContain("Demo mode: no config file")
    expect(server.output()).toContain("To sync a real Plane workspace")

    // Both demo integrations run a first full sync at once.
    const first = await waitFor("the first syncs", async () => {
      const r = await api.get("/api/sync/jobs?status=completed")
      return r.body.total === 2 ? r.body.jobs : undefined
    }, 30_000)
    const status = await api.get("/api/sync/integrations/status")
    expect(status.body.integrations.map((i: any) => [i.integrationId, i.name, i.status, i.syncInterval])).toEqual([
      ["plane-integration-456", "Plane.so Integration", "active", 300],
      ["plane-integration-789", "Plane.so Integration (Globex)", "active", 300]
    ])
    expect(first.every((j: any) => j.type === "full_sync" && j.result.created > 200)).toBe(true)

    // The spec's curl examples, as written (a real job id where it shows sync-job-123).
    const manual = await api.post("/api/sync/jobs", { integrationId: "plane-integration-456", type: "incremental_sync" })
    expect(manual.status).toBe(200)
    expect(manual.body).toMatchObject({ success: true, status: "queued" })
    const stopAll = await fetch(`http://127.0.0.1:${port}/api/sync/jobs/stop-all`, { method: "POST" })
    expect(stopAll.status).toBe(200)
    const interval = await api.put(`/api/sync/jobs/${manual.body.jobId}/interval`, { interval: 600 })
    expect(interval.body).toMatchObject({ success: true, oldInterval: 300, newInterval: 600 })

    server.child.kill("SIGTERM")
    expect(await server.exited).toBe(0)
  })

  it("refuses to start on an invalid config file, naming each bad field", async () => {
    const config = join(tmp.dir, "bad.json")
    writeFileSync(config, JSON.stringify({
      integrations: [{
        id: "x",
        name: "X",
        type: "plane",
        baseUrl: "not a url",
        workspaceSlug: "w",
        apiKeyEnv: "KEY",
        syncInterval: 5,
        colour: "blue"
      }]
    }))
    const server = start({ PORT: String(await freePort()), SYNC_DB_PATH: join(tmp.dir, "bad", "synclog.db"), SYNC_CONFIG: config })
    children.push(server.child)
    expect(await server.exited).toBe(1)
    const output = server.output()
    expect(output).toContain(`${config} is invalid`)
    expect(output).toContain("integrations.0.baseUrl: expected an http(s) URL")
    expect(output).toContain("integrations.0.syncInterval: expected whole seconds between 30 and 2592000")
    expect(output).toContain("integrations.0.colour")
    expect(output).not.toMatch(/\n\s+at .*\.(js|ts):\d+/)
  })
})
