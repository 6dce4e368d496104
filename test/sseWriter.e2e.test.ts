import { existsSync, readdirSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type RunningSimulator, startSimulator } from "../src/simulator/server.js"
import { type AppHandle, planeIntegration, startApp, tempDir } from "./support/app.js"
import { killAllChildren, startChild, writeConfigFile } from "./support/child.js"
import { client, waitForStatus } from "./support/http.js"
import { connectSse } from "./support/sse.js"

/**
 * The SSE writer process (SYNC_SSE_WRITER=process, the default) behind the real server: started
 * at the first stream, from its own bundle as `npm start` runs the server, stopped with the
 * server; a writer that dies closes its streams, and they resume with Last-Event-ID on a new one
 * without a gap. (sseWriters.test.ts tests the sinks themselves, both kinds.)
 */

/** The processes whose parent is `pid` and whose command line contains `text`. */
const childrenOf = (pid: number, text: string): Array<number> =>
  readdirSync(`/proc/${pid}/task`).flatMap((task) => {
    const children = readFileSync(`/proc/${pid}/task/${task}/children`, "utf8").trim()
    return (children === "" ? [] : children.split(" ").map(Number)).filter((child) => {
      try {
        return readFileSync(`/proc/${child}/cmdline`, "utf8").includes(text)
      } catch {
        return false
      }
    })
  })

/** The writer processes of the in-process server (this test process started them, through tsx). */
const writerPids = () => childrenOf(process.pid, "sseWriterProcess")

describe("the SSE writer process behind the real server", () => {
  let sim: RunningSimulator
  let app: AppHandle
  const tmp = tempDir()

  beforeAll(async () => {
    sim = await startSimulator({ workspaces: [{ slug: "acme", projects: 2, workItems: 150, seed: 5 }] })
    app = await startApp({ dbPath: tmp.dbPath, apiKey: sim.apiKey, integrations: [planeIntegration("plane-integration-456", sim, "acme")] })
  })

  afterAll(async () => {
    await app?.close()
    await sim?.close()
    tmp.remove()
  })

  const api = () => client(app.url)

  it("closes the streams of a writer process that dies; they resume with Last-Event-ID on a new one", async () => {
    expect(writerPids()).toEqual([])
    const first = await connectSse(`${app.url}/api/sync/stream`)
    await expect.poll(() => writerPids().length, { timeout: 15_000 }).toBe(1)
    const [dead] = writerPids()
    const created = await api().post("/api/sync/jobs", { integrationId: "plane-integration-456", type: "full", options: { batchSize: 5 } })
    expect(created.status).toBe(200)
    const jobId = created.body.jobId as string
    await first.until("a few events", (ms) => ms.length >= 5, 30_000)
    process.kill(dead!, "SIGKILL")
    // Cut off mid-stream, as by a crash: the client's read fails or ends.
    await first.ended.catch(() => undefined)
    const seen = first.messages.map((m) => Number(m.id))
    const lastSeen = seen[seen.length - 1]!

    await waitForStatus(api(), jobId, ["completed"], 60_000)
    const events = (await api().get(`/api/sync/jobs/${jobId}/events`)).body.events as Array<{ position: number }>
    const end = events[events.length - 1]!.position
    const again = await connectSse(`${app.url}/api/sync/stream`, { "last-event-id": String(lastSeen) })
    try {
      await again.until("the job's last event", (ms) => ms.some((m) => Number(m.id) >= end), 30_000)
      // Every position once, in order, across the two connections.
      const ids = [...seen, ...again.messages.map((m) => Number(m.id)).filter((id) => id <= end)]
      expect(ids).toEqual(Array.from({ length: ids.length }, (_, i) => seen[0]! + i))
      expect(ids[ids.length - 1]).toBe(end)
      const now = writerPids()
      expect(now).toHaveLength(1)
      expect(now[0]).not.toBe(dead)
    } finally {
      again.close()
    }
  })
})

describe("the server as `npm start` runs it", () => {
  let sim: RunningSimulator
  const tmp = tempDir()

  beforeAll(async () => {
    sim = await startSimulator({ workspaces: [{ slug: "acme", projects: 1, workItems: 30, seed: 6 }] })
  })
  afterAll(async () => {
    await killAllChildren()
    await sim?.close()
    tmp.remove()
  })

  it("starts the writer's bundle (sse-writer.js, beside the server's) at the first stream, and stops it with the server", async () => {
    const configPath = writeConfigFile(join(tmp.dir, "synclog.config.json"), [planeIntegration("plane-integration-456", sim, "acme")])
    // SYNC_SSE_WRITER_NICE (default 0, the server's priority) set, to see that it is applied.
    const server = await startChild({ dbPath: tmp.dbPath, configPath, apiKey: sim.apiKey, env: { SYNC_SSE_WRITER_NICE: "7" } })
    expect(childrenOf(server.pid, "sse-writer.js")).toEqual([])
    const stream = await connectSse(`${server.url}/api/sync/stream?after=0`)
    try {
      await stream.until("the log so far", (ms) => ms.length > 0, 15_000)
      const writers = childrenOf(server.pid, "sse-writer.js")
      expect(writers).toHaveLength(1)
      // The nice value asked for: field 19 of /proc/<pid>/stat.
      const stat = readFileSync(`/proc/${writers[0]}/stat`, "utf8")
      expect(Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[16])).toBe(7)
      const exit = await server.terminate()
      expect(exit.code).toBe(0)
      await stream.ended
      await expect.poll(() => existsSync(`/proc/${writers[0]}`), { timeout: 10_000 }).toBe(false)
    } finally {
      stream.close()
    }
  })
})
