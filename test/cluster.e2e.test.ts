import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest"
import { STAGES } from "../src/domain/job.js"
import { type RunningSimulator, startSimulator } from "../src/simulator/server.js"
import { overlappingStarts } from "./support/activeIntervals.js"
import { planeIntegration } from "./support/app.js"
import { takeChildOutputs } from "./support/child.js"
import { awaitJobsEnded, type Cluster, type JobEvent, jobEvents, jobLogs, type Runner, startCluster } from "./support/cluster.js"
import { waitFor } from "./support/http.js"
import { expectMirrorEqualsSource, sourceCounts, total } from "./support/source.js"
import { type SourceProxy, startSourceProxy } from "./support/sourceProxy.js"

/**
 * Cluster mode, proven (issue 15): three runner processes on one PostgreSQL database, six
 * integrations, twelve full syncs started through all three runners' APIs. One runner is taken
 * out mid-sync (SIGKILL, SIGTERM, or SIGSTOP past its shard lease and SIGCONT afterwards), and
 * then every job must complete with exact counters, the mirror must equal the source record for
 * record, every event stream's versions must be 1..n, no page may be committed twice, and
 * `replay --verify` must find the views equal to the log.
 *
 * The moment is exact, not timed: the runners reach the simulator through a proxy that knows
 * which runner sent each request (support/sourceProxy.ts). The victim is the runner that syncs
 * the most workspaces once the jobs run; the proxy then holds every request it sends, so its
 * jobs are pinned mid-sync with a page in flight when it is taken out, while the other runners
 * go on. The same proxy shows where each job moved.
 *
 * Runs only on PostgreSQL (the vitest project "postgres"; a cluster shares one database).
 */

const WORKSPACES = ["c-alpha", "c-bravo", "c-charlie", "c-delta", "c-echo", "c-foxtrot"] as const
const integrationOf = (workspace: string) => `cl-${workspace.slice(2)}`
/** Small pages: a job makes about 30 requests; the victim is pinned after its jobs' third page. */
const BATCH = 10
const JOB_TIMEOUT = 150_000

interface Sync {
  readonly jobId: string
  readonly workspace: string
  readonly integrationId: string
  /** The runner whose API queued it. */
  readonly queuedOn: string
}

// ---- the stream of one job -----------------------------------------------------------------------

const batchesOf = (events: ReadonlyArray<JobEvent>) => events.filter((e) => e.type === "BatchCommitted")

const sumDeltas = (events: ReadonlyArray<JobEvent>) =>
  batchesOf(events).reduce(
    (n, e) => ({
      processed: n.processed + e.data.deltas.processed,
      created: n.created + e.data.deltas.created,
      updated: n.updated + e.data.deltas.updated,
      deleted: n.deleted + e.data.deltas.deleted,
      errors: n.errors + e.data.deltas.errors
    }),
    { processed: 0, created: 0, updated: 0, deleted: 0, errors: 0 }
  )

/** Where a stream stands after `events`: folded here, independently of the engine's projection. */
const checkpointOf = (events: ReadonlyArray<JobEvent>) => {
  let cp: { stage: string; projectIds: ReadonlyArray<string>; position: unknown } | null = null
  for (const e of events) {
    if (e.type === "StageStarted") cp = { stage: e.data.stage, projectIds: e.data.projectIds, position: { projectIndex: 0, feed: 0, page: 0 } }
    if (e.type === "BatchCommitted") cp = { stage: e.data.stage, projectIds: [...(cp?.projectIds ?? []), ...(e.data.discovered ?? [])], position: e.data.next }
  }
  return cp
}

const positionKey = (e: JobEvent) => [STAGES.indexOf(e.data.stage), e.data.next.projectIndex, e.data.next.feed, e.data.next.page] as const
const before = (a: ReadonlyArray<number>, b: ReadonlyArray<number>) => {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i]! < b[i]!
  return false
}

/** Versions 1..n, each stage started once, committed positions strictly increasing: no page committed twice. */
const expectSoundStream = (what: string, events: ReadonlyArray<JobEvent>) => {
  expect(events.map((e) => e.version), `${what}: versions`).toEqual(events.map((_, i) => i + 1))
  const started = events.filter((e) => e.type === "StageStarted").map((e) => e.data.stage as string)
  expect(started, `${what}: each stage starts once`).toEqual([...new Set(started)])
  let last: ReadonlyArray<number> | undefined
  for (const b of batchesOf(events)) {
    if (b.data.stage === "finalizing") continue
    const key = positionKey(b)
    if (last !== undefined) expect(before(last, key), `${what}: batch v${b.version} at ${key} after ${last} (committed twice?)`).toBe(true)
    last = key
  }
}

describe("a cluster of three runners on PostgreSQL", () => {
  let sim: RunningSimulator
  let proxy: SourceProxy
  let cluster: Cluster | undefined
  const totals = new Map<string, number>()

  beforeAll(async () => {
    sim = await startSimulator({
      workspaces: WORKSPACES.map((slug, i) => ({ slug, projects: 2, workItems: 150, seed: 501 + i })),
      seed: 15
    })
    proxy = await startSourceProxy(sim.url, () => cluster?.runners ?? [])
    for (const ws of WORKSPACES) totals.set(ws, total(await sourceCounts(sim, ws)))
  })

  afterEach(async (ctx) => {
    const failed = ctx.task.result?.state === "fail"
    await cluster?.close(failed)
    const outputs = takeChildOutputs()
    if (failed) {
      const tail = (text: string) => text.split("\n").slice(-300).join("\n")
      console.error(
        `[cluster test "${ctx.task.name}" failed; database kept: ${cluster?.databaseUrl}]\n` +
          `source requests:\n${tail(proxy.describe())}\n\nrunner output (last lines of each):\n${outputs.split(/(?=^----- )/m).map(tail).join("\n")}`
      )
    }
    cluster = undefined
  })

  afterAll(async () => {
    await cluster?.close()
    await proxy?.close()
    await sim?.close()
  })

  // ---- steps ------------------------------------------------------------------------------------

  /** Seconds since the test began, per phase: printed with the outcome (the file's time budget is about 3 minutes). */
  let began = 0
  const marks: Array<string> = []
  const mark = (what: string) => marks.push(`${what} ${((Date.now() - began) / 1000).toFixed(1)} s`)

  const startThree = async () => {
    began = Date.now()
    marks.length = 0
    cluster = await startCluster({
      runners: 3,
      integrations: WORKSPACES.map((ws) => planeIntegration(integrationOf(ws), sim, ws, { baseUrl: proxy.url })),
      apiKey: sim.apiKey
    })
    mark("runners up")
    return cluster
  }

  /** Each runner reports its own address and holds shards of its own; each serves the whole API. */
  const expectFormed = async (c: Cluster) => {
    const shards = await waitFor("every runner to hold shards", async () => {
      const all = await Promise.all(c.runners.map((r) => c.readiness(r)))
      return all.every((x) => x.status === 200 && (typeof x.shards === "number" ? x.shards > 0 : (x.shards?.length ?? 0) > 0)) ? all : undefined
    }, 60_000, 250)
    for (const [i, r] of c.runners.entries()) expect(shards[i]!.address, `${r.label}'s /readyz runner.address`).toBe(r.address)
    const lists = shards.map((s) => s.shards).filter((s): s is ReadonlyArray<string> => Array.isArray(s))
    const ids = lists.flat()
    expect(new Set(ids).size, "no shard on two runners").toBe(ids.length)
    for (const r of c.runners) {
      const status = await r.api.get("/api/sync/integrations/status")
      expect(status.status).toBe(200)
      expect(status.body.integrations.map((i: { integrationId: string }) => i.integrationId).sort()).toEqual(WORKSPACES.map(integrationOf).sort())
    }
  }

  /** Two full syncs of each integration, queued through the three runners in turn. */
  const startTwelve = async (c: Cluster): Promise<Array<Sync>> => {
    const syncs: Array<Sync> = []
    for (let k = 0; k < 12; k++) {
      const workspace = WORKSPACES[k % WORKSPACES.length]!
      const runner = c.runners[k % c.runners.length]!
      // force: the second full sync of an integration is queued while its first one is active.
      const r = await runner.api.post("/api/sync/jobs", { integrationId: integrationOf(workspace), type: "full_sync", options: { batchSize: BATCH, force: true } })
      expect(r.status, `POST /api/sync/jobs on ${runner.label}: ${JSON.stringify(r.body)}`).toBe(200)
      syncs.push({ jobId: r.body.jobId, workspace, integrationId: integrationOf(workspace), queuedOn: runner.label })
    }
    return syncs
  }

  /** The runner each workspace's latest request came from. */
  const ownersNow = () => {
    const owner = new Map<string, string>()
    for (const r of proxy.requests()) if (WORKSPACES.includes(r.workspace as never)) owner.set(r.workspace, r.runner)
    return owner
  }

  /**
   * Once the jobs run (a few pages committed), the runner syncing the most workspaces is the
   * victim: the proxy holds its requests from then on, and this waits until each of its jobs has
   * a request held (pinned with a page in flight). Returns it, its jobs and their events then.
   */
  const pinVictim = async (c: Cluster, syncs: ReadonlyArray<Sync>) => {
    await waitFor("jobs to commit a few pages", async () => {
      for (const s of syncs) if (batchesOf(await jobEvents(c.api(), s.jobId)).length >= 3) return true
      return false
    }, 60_000, 100)
    const owners = ownersNow()
    const counts = new Map<string, Array<string>>()
    for (const [ws, runner] of owners) counts.set(runner, [...(counts.get(runner) ?? []), ws])
    const [label, workspaces] = [...counts.entries()].sort((a, b) => b[1].length - a[1].length)[0]!
    const victim = c.runners.find((r) => r.label === label)
    expect(victim, `requests came from ${label}, not a runner`).toBeDefined()
    proxy.freeze(label)
    const frozenAt = Date.now()
    // A workspace is pinned once the victim has asked for one of its pages since the freeze (all
    // are held from then on; one may since have been given up by the runner's own 30 s timeout and
    // be waiting for its retry), or once its jobs have ended. Not "all held at one instant": a
    // retry can arrive later than its backoff says on a loaded machine (seen once in CI, 30 s late).
    const unpinned = async () => {
      const missing: Array<string> = []
      for (const ws of workspaces) {
        if (proxy.requests().some((r) => r.runner === label && r.workspace === ws && r.at >= frozenAt)) continue
        const jobs = await Promise.all(syncs.filter((s) => s.workspace === ws).map(async (s) => (await c.api().get(`/api/sync/jobs/${s.jobId}`)).body.status))
        if (!jobs.every((st) => ["completed", "failed", "stopped"].includes(st))) missing.push(`${ws} (${jobs.join(", ")})`)
      }
      return missing
    }
    await waitFor(`${label}'s jobs to be pinned`, async () => (await unpinned()).length === 0, 120_000, 50).catch(async (e) => {
      const last = proxy.requests().filter((r) => r.runner === label).slice(-8).map((r) => `${r.workspace} ${r.status} +${r.at - frozenAt} ms`)
      throw new Error(`${String(e)}; not pinned: ${(await unpinned()).join("; ")}; ${label}'s last requests: ${last.join(", ")}`)
    })
    // Its running jobs, as the log held them when it was taken out.
    const pinned = new Map<string, Array<JobEvent>>()
    for (const s of syncs.filter((x) => workspaces.includes(x.workspace))) {
      const job = (await c.api().get(`/api/sync/jobs/${s.jobId}`)).body
      if (job.status === "running") pinned.set(s.jobId, await jobEvents(c.api(), s.jobId))
    }
    expect(pinned.size, `${label} runs none of the jobs (${workspaces.join(", ")})`).toBeGreaterThan(0)
    return { victim: victim!, workspaces, pinned }
  }

  /** Waits until the survivors fetch every workspace of the victim's pinned jobs; how long each took. */
  const awaitTakeover = async (victim: Runner, syncs: ReadonlyArray<Sync>, pinned: ReadonlyMap<string, unknown>, since: number, timeoutMs: number) => {
    const moved = syncs.filter((s) => pinned.has(s.jobId))
    return waitFor("the survivors to take the victim's jobs over", async () => {
      const firsts = moved.map((s) => proxy.requests().find((r) => r.workspace === s.workspace && r.runner !== victim.label && r.at >= since))
      return firsts.every((f) => f !== undefined) ? moved.map((s, i) => ({ workspace: s.workspace, runner: firsts[i]!.runner, afterMs: firsts[i]!.at - since })) : undefined
    }, timeoutMs, 100)
  }

  /** The whole outcome: every job completed, exact, sound streams, mirror = source, replay clean. */
  const expectExact = async (c: Cluster, syncs: ReadonlyArray<Sync>) => {
    const jobs = await awaitJobsEnded(c, syncs.map((s) => s.jobId), JOB_TIMEOUT)
    mark("jobs ended")
    const api = c.api()
    const created = new Map<string, number>()
    for (const [i, s] of syncs.entries()) {
      const job = jobs[i]
      expect(job.status, `${s.jobId} (${s.workspace}): ${job.error ?? ""}`).toBe("completed")
      const expected = totals.get(s.workspace)!
      expect(job.result, `${s.jobId} (${s.workspace})`).toMatchObject({ processed: expected, updated: 0, deleted: 0, errors: 0 })
      expect(job.stats).toEqual(job.result)
      const events = await jobEvents(api, s.jobId)
      expectSoundStream(`${s.jobId} (${s.workspace})`, events)
      expect(sumDeltas(events), `${s.jobId}: counters = the sum of its committed batches`).toEqual(job.result)
      expect(events[events.length - 1]!.type).toBe("JobCompleted")
      created.set(s.workspace, (created.get(s.workspace) ?? 0) + job.result.created)
    }
    // The first full sync creates every record, the second finds them all unchanged.
    for (const ws of WORKSPACES) expect(created.get(ws), `${ws}: records created by its two syncs`).toBe(totals.get(ws))
    expect(c.versionGaps(), "streams whose versions are not 1..n").toEqual([])
    expect(overlappingStarts(c.databaseUrl), "two jobs of one integration active at once").toEqual([])
    const [verified] = await Promise.all([
      c.replayVerify(),
      (async () => {
        for (const ws of WORKSPACES) await expectMirrorEqualsSource(api, integrationOf(ws), sim, ws)
      })()
    ])
    expect(verified.code, `replay --verify:\n${verified.stdout}\n${verified.stderr}`).toBe(0)
    expect(verified.stdout).toContain("OK:")
    mark("checked")
    console.log(`[cluster] ${marks.join(", ")}`)
  }

  /**
   * Each job the victim was running moved: it went on from the checkpoint its log held (a
   * `JobResumed` from it, no stage started again), and its log names both runners.
   */
  const expectMoved = async (c: Cluster, victim: Runner, pinned: ReadonlyMap<string, ReadonlyArray<JobEvent>>) => {
    const api = c.api()
    const survivors = c.runners.filter((r) => r !== victim).map((r) => r.address)
    for (const [jobId, atPin] of pinned) {
      const events = await jobEvents(api, jobId)
      expect(events.slice(0, atPin.length), `${jobId}: its log up to the moment it was pinned`).toEqual(atPin)
      const later = events.slice(atPin.length)
      const resumedAt = later.findIndex((e) => e.type === "JobResumed")
      expect(resumedAt, `${jobId}: resumed elsewhere (${later.map((e) => e.type).join(", ")})`).toBeGreaterThanOrEqual(0)
      const resumed = later[resumedAt]!
      const upTo = events.slice(0, atPin.length + resumedAt)
      expect(upTo.some((e) => ["JobCompleted", "JobFailed", "JobStopped"].includes(e.type)), `${jobId}: ended before it moved`).toBe(false)
      if (resumed.data.from !== undefined) expect(resumed.data.from, `${jobId}: resumed from its last checkpoint`).toEqual(checkpointOf(upTo))
      const cpStage = STAGES.indexOf(checkpointOf(upTo)?.stage as (typeof STAGES)[number])
      // After the move (the old runner may still have begun a stage during a graceful shutdown).
      expect(later.slice(resumedAt).filter((e) => e.type === "StageStarted" && STAGES.indexOf(e.data.stage) <= cpStage), `${jobId}: no stage started again`).toEqual([])
      const logs = await jobLogs(api, jobId)
      expect(logs.some((m) => m.includes(victim.address)), `${jobId}: its log names ${victim.address}, where it ran:\n${logs.join("\n")}`).toBe(true)
      expect(logs.some((m) => survivors.some((a) => m.includes(a))), `${jobId}: its log names the runner it moved to:\n${logs.join("\n")}`).toBe(true)
    }
  }

  // ---- scenarios --------------------------------------------------------------------------------

  it("SIGKILL on a runner mid-sync: its jobs run again on the survivors from their checkpoints; all twelve exact", async () => {
    const c = await startThree()
    await expectFormed(c)
    const syncs = await startTwelve(c)
    const { victim, pinned } = await pinVictim(c, syncs)
    await c.kill(victim)
    const killedAt = Date.now()
    proxy.thaw(victim.label)
    const takeover = await awaitTakeover(victim, syncs, pinned, killedAt, 60_000)
    // The issue asks for 10 s; printed rather than asserted (wall-clock on a shared machine).
    console.log(`[cluster] SIGKILL ${victim.label}: ${takeover.map((t) => `${t.workspace} on ${t.runner} after ${t.afterMs} ms`).join(", ")}`)
    await expectExact(c, syncs)
    await expectMoved(c, victim, pinned)
    // The survivors hold every shard now.
    const survivors = c.live()
    expect(survivors).toHaveLength(2)
    for (const r of survivors) expect((await c.readiness(r)).status).toBe(200)
  }, 300_000)

  it("SIGTERM on a runner mid-sync: it hands its shards over, its jobs pause at a batch boundary and finish elsewhere", async () => {
    const c = await startThree()
    await expectFormed(c)
    const syncs = await startTwelve(c)
    const { victim, pinned } = await pinVictim(c, syncs)
    const terminatedAt = Date.now()
    const exit = c.terminate(victim, 60_000)
    // Its pages in flight are answered during the shutdown: they commit, then the jobs pause.
    proxy.thaw(victim.label)
    const exited = await exit
    expect(exited.signal === null ? exited.code : exited.signal, victim.server.output().split("\n").slice(-50).join("\n")).toBe(0)
    const takeover = await awaitTakeover(victim, syncs, pinned, terminatedAt, 60_000)
    console.log(`[cluster] SIGTERM ${victim.label}: ${takeover.map((t) => `${t.workspace} on ${t.runner}`).join(", ")}`)
    await expectExact(c, syncs)
    await expectMoved(c, victim, pinned)
    // A graceful handover pauses at a batch boundary first: nothing of the victim was left half done.
    for (const jobId of pinned.keys()) {
      const events = await jobEvents(c.api(), jobId)
      const resumed = events.findIndex((e, i) => i >= pinned.get(jobId)!.length && e.type === "JobResumed")
      expect(events[resumed - 1]?.type, `${jobId}: paused before it moved`).toBe("JobPaused")
    }
  }, 300_000)

  it("SIGSTOP past the shard lease (a partition): another runner takes the jobs; after SIGCONT the stale runner commits nothing", async () => {
    const c = await startThree()
    await expectFormed(c)
    const syncs = await startTwelve(c)
    const { victim, pinned } = await pinVictim(c, syncs)
    c.pause(victim)
    const pausedAt = Date.now()
    const takeover = await awaitTakeover(victim, syncs, pinned, pausedAt, 90_000)
    console.log(`[cluster] SIGSTOP ${victim.label}: ${takeover.map((t) => `${t.workspace} on ${t.runner} after ${t.afterMs} ms`).join(", ")}`)
    // The new owners resume those jobs and commit pages of them while the old one sleeps.
    await waitFor("the new owners to resume the jobs and commit", async () => {
      for (const [jobId, atPin] of pinned) {
        const later = (await jobEvents(c.api(), jobId)).slice(atPin.length)
        const resumed = later.findIndex((e) => e.type === "JobResumed")
        if (resumed < 0 || !later.slice(resumed).some((e) => e.type === "BatchCommitted" || e.type === "JobCompleted")) return false
      }
      return true
    }, 60_000, 100)
    // The stale runner wakes up with its pages in flight answered: whatever it commits must fail.
    const stale = proxy.held(victim.label)
    proxy.thaw(victim.label)
    c.resume(victim)
    await expectExact(c, syncs)
    await expectMoved(c, victim, pinned)
    // It was handed its stale pages, and for each job it found that it had lost it (refused
    // at its commit, or told by its lease) instead of committing: the checks above found no
    // page twice and exact counters.
    expect(stale.map((r) => r.status), "the stale runner's pages in flight were answered").toEqual(stale.map(() => "served"))
    const gaveUp = (jobId: string) =>
      victim.server.logLines().some((l) =>
        l.annotations?.jobId === jobId &&
        typeof l.message === "string" &&
        (l.message.startsWith("Another runner took this job over") || l.message.includes("moved to another runner"))
      )
    await waitFor("the stale runner to give up each of its jobs", async () => [...pinned.keys()].every(gaveUp), 30_000, 100)
  }, 300_000)
})
