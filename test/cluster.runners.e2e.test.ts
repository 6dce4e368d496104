import { join } from "node:path"
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest"
import { type RunningSimulator, startSimulator } from "../src/simulator/server.js"
import { planeIntegration, tempDir } from "./support/app.js"
import {
  type ChildServer,
  freePort,
  type Gate,
  killAllChildren,
  spawnOnce,
  startChild,
  startGate,
  takeChildOutputs,
  writeConfigFile
} from "./support/child.js"
import { backend } from "./support/database.js"
import { type Client, waitFor, waitForStatus } from "./support/http.js"
import { expectMirrorEqualsSource, sourceCounts, total } from "./support/source.js"

/**
 * Two runners of a cluster (SYNC_RUNNER_ADDRESS) as real processes on one PostgreSQL database,
 * syncing from the simulator through a gate (a proxy that holds a lane's requests, so a job is
 * pinned mid-sync with its earlier pages committed). Every command goes to runner A; the jobs
 * of the integrations runner B hosts run on B: a stop sent to A stops them there, a resume sent
 * to A resumes them there; SIGKILL of B moves them to A, which resumes them from their last
 * checkpoint; a runner paused with SIGSTOP past its shard lease finds its job taken over, and
 * its late batch is refused. Counters and mirrors are compared with the source each time.
 *
 * Only on PostgreSQL (the `postgres` vitest project): a cluster needs one.
 */

const INTEGRATIONS = 8
const BATCH = 20
const WORK_ITEMS = /\/work-items\//
const workspaceOf = (i: number) => `ws${i}`
const integrationOf = (i: number) => `cl-${workspaceOf(i)}`
const SHARDS = 64

interface Runner {
  readonly server: ChildServer
  readonly address: string
}

describe("cluster of runners", () => {
  let sim: RunningSimulator
  let gate: Gate
  let dir: ReturnType<typeof tempDir>
  let configPath: string
  // Runner A takes every command; B is the other runner (killed by the first test, started
  // anew by the second). Starting runners is the slow part, so the tests share them.
  let a: Runner
  let b: Runner

  beforeAll(async () => {
    if (backend !== "postgres") throw new Error("the cluster suite needs PostgreSQL: run it in the postgres vitest project (SYNC_TEST_DATABASE_URL)")
    sim = await startSimulator({
      workspaces: Array.from({ length: INTEGRATIONS }, (_, i) => ({ slug: workspaceOf(i), projects: 1, workItems: 60, seed: i + 1 }))
    })
    gate = await startGate(sim.url)
    dir = tempDir("synclog-cluster-")
    configPath = writeConfigFile(
      join(dir.dir, "synclog.config.json"),
      Array.from({ length: INTEGRATIONS }, (_, i) =>
        planeIntegration(integrationOf(i), sim, workspaceOf(i), { baseUrl: gate.url, initialSync: "scheduled" })),
      { maxConcurrentJobs: INTEGRATIONS, shutdownGracePeriod: 5 }
    )
    ;[a, b] = await Promise.all([startRunner("runner A"), startRunner("runner B")])
  }, 120_000)

  afterAll(async () => {
    await killAllChildren()
    await gate?.close()
    await sim?.close()
    dir?.remove()
  })

  afterEach((ctx) => {
    const outputs = takeChildOutputs()
    if (ctx.task.result?.state === "fail") console.log(`${gate.describe()}\n${outputs}`)
    gate.resetAll()
  })

  const startRunner = async (label: string): Promise<Runner> => {
    // The address's port is free when chosen, not when the runner binds it: another process (or
    // the other runner's HTTP port, chosen meanwhile) can take it first (seen once in CI). Then
    // another address, as startChild does for the HTTP port.
    for (let attempt = 1; ; attempt++) {
      const address = `127.0.0.1:${await freePort()}`
      try {
        const server = await startChild({
          dbPath: dir.dbPath,
          configPath,
          apiKey: sim.apiKey,
          label,
          env: { SYNC_RUNNER_ADDRESS: address }
        })
        return { server, address }
      } catch (e) {
        if (attempt >= 3 || !String(e).includes(`the runner's address ${address} is in use`)) throw e
      }
    }
  }

  const readyz = async (api: Client) => (await api.get("/readyz")).body as { runner?: { address: string; shards: number } }

  /** Until the runners hold every shard between them, each some. */
  const awaitShardsSpread = (runners: ReadonlyArray<Runner>) =>
    waitFor("every shard held, by every runner", async () => {
      const shards = await Promise.all(runners.map(async (r) => (await readyz(r.server.api)).runner?.shards ?? 0))
      return shards.every((n) => n > 0) && shards.reduce((a, b) => a + b, 0) === SHARDS ? shards : undefined
    }, 45_000, 250)

  /** The runner a job's latest run started on, from its log ("Running on runner host:port"). */
  const runnerOfJob = async (api: Client, jobId: string) => {
    const logs = (await api.get(`/api/sync/jobs/${jobId}/logs?limit=500`)).body.logs as Array<{ message: string }>
    const line = logs.filter((l) => l.message.startsWith("Running on runner ")).at(-1)
    return line?.message.split(" ")[3]
  }

  const logOf = async (api: Client, jobId: string) =>
    ((await api.get(`/api/sync/jobs/${jobId}/logs?limit=500`)).body.logs as Array<{ message: string }>).map((l) => l.message)

  /** Queues a full sync of every integration through `api`; answers the job ids by integration index. */
  const startAll = async (api: Client) => {
    const ids: Array<string> = []
    for (let i = 0; i < INTEGRATIONS; i++) {
      const r = await api.post("/api/sync/jobs", { integrationId: integrationOf(i), type: "full_sync", options: { batchSize: BATCH, force: true } })
      expect(r.status).toBe(200)
      ids.push(r.body.jobId)
    }
    return ids
  }

  /** Whether the integration's mirror holds records already (a full sync then creates none). */
  const mirrored = async (api: Client, i: number) =>
    (await api.get(`/api/sync/integrations/${integrationOf(i)}/records?entity=projects&limit=1`)).body.total > 0

  /**
   * A completed job whose counters equal the source (every record created once, or none on a
   * mirror a full sync filled before), and whose mirror is the source record for record.
   */
  const expectExact = async (api: Client, i: number, jobId: string, creates: "all" | "none" = "all") => {
    const job = await waitForStatus(api, jobId, ["completed", "failed", "stopped"], 60_000)
    expect(job.status, JSON.stringify(job.error)).toBe("completed")
    const counts = await sourceCounts(sim, workspaceOf(i))
    expect(job.stats.processed).toBe(total(counts))
    expect(job.stats.created).toBe(creates === "all" ? total(counts) : 0)
    expect(job.stats.updated).toBe(0)
    expect(job.stats.errors).toBe(0)
    await expectMirrorEqualsSource(api, integrationOf(i), sim, workspaceOf(i))
    // One version after another, each once: no batch appended twice, none lost.
    const events = (await api.get(`/api/sync/jobs/${jobId}/events`)).body.events as Array<{ version: number }>
    expect(events.map((e) => e.version)).toEqual(events.map((_, k) => k + 1))
  }

  /** Every job stops at its second work-items page, with what came before committed. */
  const holdEveryLane = () => {
    for (let i = 0; i < INTEGRATIONS; i++) gate.lane(workspaceOf(i)).holdAt({ match: WORK_ITEMS, nth: 2 })
  }

  /** Until every job ran up to the gate; answers the runner each one runs on. */
  const awaitPinned = (ids: ReadonlyArray<string>) =>
    waitFor("every job running and pinned at the gate", async () => {
      const where = await Promise.all(ids.map((id) => runnerOfJob(a.server.api, id)))
      const held = ids.every((_, i) => gate.lane(workspaceOf(i)).held() !== undefined)
      return held && where.every((w) => w !== undefined) ? where as Array<string> : undefined
    }, 45_000, 200)

  it("runs a job where its integration lives, takes commands through any runner, and moves a killed runner's jobs", async () => {
    holdEveryLane()
    await awaitShardsSpread([a, b])
    expect((await readyz(a.server.api)).runner?.address).toBe(a.address)

    // Every job is queued through A; each runs on the runner holding its integration's shard.
    const ids = await startAll(a.server.api)
    const placed = await awaitPinned(ids)
    expect(new Set(placed)).toEqual(new Set([a.address, b.address]))
    const onB = ids.flatMap((id, i) => (placed[i] === b.address ? [{ id, i }] : []))
    const onA = ids.flatMap((id, i) => (placed[i] === a.address ? [{ id, i }] : []))
    // Queued through A, running on B: both runners read the same view of it.
    const first = onB[0]!
    expect((await b.server.api.get(`/api/sync/jobs/${first.id}`)).body.status).toBe("running")
    expect((await a.server.api.get(`/api/sync/jobs/${first.id}`)).body.status).toBe("running")

    // A graceful stop sent to A reaches B's actor: the page in flight commits, then it stops.
    const lane = gate.lane(workspaceOf(first.i))
    const stop = await a.server.api.post(`/api/sync/jobs/${first.id}/stop`, { graceful: true })
    expect(stop.status).toBe(200)
    lane.release(lane.held()!)
    const stopped = await waitForStatus(b.server.api, first.id, ["stopped"], 30_000)
    expect(stopped.stats.processed).toBeGreaterThan(0)
    expect(await logOf(a.server.api, first.id)).toContain("Stop requested: the batch in flight commits, then the job stops")

    // A resume sent to A runs it on B again, from its checkpoint, until the gate pins it anew.
    const matched = lane.arrivals.filter((x) => WORK_ITEMS.test(x.url)).length
    lane.holdAt({ match: WORK_ITEMS, nth: matched + 2 })
    expect((await a.server.api.post(`/api/sync/jobs/${first.id}/resume`)).status).toBe(200)
    await waitFor("the resumed job pinned again on B", async () => {
      const job = (await a.server.api.get(`/api/sync/jobs/${first.id}`)).body
      return job.status === "running" && lane.held() !== undefined && (await runnerOfJob(a.server.api, first.id)) === b.address
    }, 30_000, 100)

    // SIGKILL of B: A takes its shards and resumes B's jobs from their last committed batch.
    await b.server.crash()
    gate.resetAll()
    for (const { id, i } of onB) await expectExact(a.server.api, i, id)
    for (const { id, i } of onA) await expectExact(a.server.api, i, id)
    for (const { id } of onB) {
      expect((await logOf(a.server.api, id)).some((m) => m.startsWith(`Resumed on runner ${a.address} after runner ${b.address} left`))).toBe(true)
      expect(await runnerOfJob(a.server.api, id)).toBe(a.address)
    }
    expect((await readyz(a.server.api)).runner?.shards).toBe(SHARDS)
  })

  it("refuses the late batch of a runner paused past its shard lease: nothing is counted twice", async () => {
    // B anew if the first test killed it (on a new address: a new runner).
    if (b.server.hasExited()) b = await startRunner("runner B2")
    holdEveryLane()
    await awaitShardsSpread([a, b])
    const creates = await Promise.all(Array.from({ length: INTEGRATIONS }, async (_, i) => (await mirrored(a.server.api, i)) ? "none" as const : "all" as const))
    const ids = await startAll(a.server.api)
    const placed = await awaitPinned(ids)
    const onB = ids.flatMap((id, i) => (placed[i] === b.address ? [{ id, i }] : []))
    expect(onB.length).toBeGreaterThan(0)
    const zombie = onB[0]!
    const lane = gate.lane(workspaceOf(zombie.i))
    const heldPage = lane.held()!

    // B stops answering (a partition stand-in) while its page is in flight; A takes over.
    process.kill(-b.server.pid, "SIGSTOP")
    try {
      await waitFor("A to take B's job over", async () =>
        (await logOf(a.server.api, zombie.id)).some((m) => m.startsWith(`Resumed on runner ${a.address} after runner ${b.address} left`)), 45_000, 250)
      // The page B asked for is answered now, into a socket B does not read while stopped;
      // A's run walks the rest of the job.
      lane.release(heldPage)
      gate.resetAll()
      await expectExact(a.server.api, zombie.i, zombie.id, creates[zombie.i])
    } finally {
      process.kill(-b.server.pid, "SIGCONT")
    }
    // B wakes up, reads its page and tries to commit it: refused, its run ends without a trace
    // (had it been committed, the completed job's counters would have moved).
    const completed = (await a.server.api.get(`/api/sync/jobs/${zombie.id}`)).body.stats.processed
    const gaveUp = () => b.server.logLines().some((l) => String(l.message).includes("Another runner took this job over"))
    await waitFor("B to give the job up, or its late batch to count", async () =>
      gaveUp() || (await a.server.api.get(`/api/sync/jobs/${zombie.id}`)).body.stats.processed !== completed, 30_000, 100)
    expect(gaveUp()).toBe(true)
    await expectExact(a.server.api, zombie.i, zombie.id, creates[zombie.i])
  })

  it("refuses a single server on the runners' database, with one line", async () => {
    // (A runner without PostgreSQL is refused by the environment's check: clusterPlacement.test.ts.)
    const single = await spawnOnce({ dbPath: dir.dbPath, configPath, apiKey: sim.apiKey, label: "single server" }, await freePort())
    expect((await single.exited).code).toBe(1)
    expect(single.output()).toMatch(/is in use by the runners of a synclog cluster \(one is pid \d+, running since [^)]+\): start this server as a runner too \(set SYNC_RUNNER_ADDRESS=host:port\)/)
    expect(single.output()).not.toMatch(/\n\s+at /)
  })

  it("refuses a runner whose address another runner holds, with one line naming it", async () => {
    const taken = await spawnOnce({
      dbPath: dir.dbPath,
      configPath,
      apiKey: sim.apiKey,
      label: "runner on a taken address",
      env: { SYNC_RUNNER_ADDRESS: a.address }
    }, await freePort())
    expect((await taken.exited).code).toBe(1)
    expect(taken.output()).toContain(
      `the runner's address ${a.address} is in use (EADDRINUSE): give SYNC_RUNNER_ADDRESS (or SYNC_RUNNER_LISTEN) a free port, or stop the other process`
    )
    expect(taken.output()).not.toMatch(/\n\s+at /)
    // The runners already there are unaffected.
    expect((await readyz(a.server.api)).runner?.address).toBe(a.address)
  })

  it("hands a runner's jobs over on SIGTERM: they pause at a batch boundary and continue elsewhere from there", async () => {
    if (b.server.hasExited()) b = await startRunner("runner B3")
    holdEveryLane()
    await awaitShardsSpread([a, b])
    const creates = await Promise.all(Array.from({ length: INTEGRATIONS }, async (_, i) => (await mirrored(a.server.api, i)) ? "none" as const : "all" as const))
    const ids = await startAll(a.server.api)
    const placed = await awaitPinned(ids)
    const onB = ids.flatMap((id, i) => (placed[i] === b.address ? [{ id, i }] : []))
    expect(onB.length).toBeGreaterThan(0)

    // SIGTERM: B asks its runs to pause; the pages in flight are answered and commit first.
    const leaving = b.server.terminate()
    await waitFor("B's runs asked to pause", async () =>
      b.server.logLines().some((l) => String(l.message).startsWith("Shutting down: pausing")), 30_000, 50)
    for (const { i } of onB) gate.lane(workspaceOf(i)).release(gate.lane(workspaceOf(i)).held()!)
    expect((await leaving).code).toBe(0)
    gate.resetAll()
    for (const { id, i } of onB) {
      await expectExact(a.server.api, i, id, creates[i])
      const log = await logOf(a.server.api, id)
      const paused = log.findIndex((m) => m.startsWith("Paused for server shutdown at "))
      const resumed = log.findIndex((m) => m.startsWith(`Resumed on runner ${a.address} after runner ${b.address} left`))
      expect(paused, log.join("\n")).toBeGreaterThan(-1)
      expect(resumed).toBeGreaterThan(paused)
    }
  })
})
