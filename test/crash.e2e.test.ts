import { join } from "node:path"
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest"
import { STAGES } from "../src/domain/job.js"
import { SMALL_LIST_LOOKAHEAD } from "../src/engine/run/paging.js"
import { type RunningSimulator, startSimulator } from "../src/simulator/server.js"
import { Rng } from "../src/simulator/random.js"
import { overlappingStarts } from "./support/activeIntervals.js"
import { planeIntegration, tempDir } from "./support/app.js"
import {
  type Arrival,
  type ChildServer,
  type Gate,
  type HoldRule,
  freePort,
  killAllChildren,
  type Lane,
  spawnOnce,
  startChild,
  startGate,
  takeChildOutputs,
  writeConfigFile
} from "./support/child.js"
import { runCliAsync } from "./support/cli.js"
import { backend } from "./support/database.js"
import { type Client, waitFor, waitForStatus } from "./support/http.js"
import { admin, expectMirrorEqualsSource, sourceCounts, sourceRecords, total } from "./support/source.js"

/**
 * Crash recovery, proven: the real server runs as a child process (tsx src/main.ts) on a SQLite
 * file; it is killed with SIGKILL (or stopped with SIGTERM) in the middle of jobs and started
 * again on the same file. Each recovered job must finish with counters equal to the source, a
 * mirror equal to the source record for record, a contiguous event stream that continues from
 * the checkpoint (no page repeated, none skipped), and views that a replay of the log rebuilds
 * identically (`replay --verify`).
 *
 * Kill moments are exact, not timed: the server reaches the simulator through a gate (a proxy in
 * this process) that holds a chosen page request of a job. A job asks for its pages one after
 * another (fetch, commit, next fetch), so a held request pins it: the pages before it are
 * committed, the held one is in flight when the server dies. "Racing" trials release the held
 * request and kill a seeded few milliseconds after the response left, while the server reads,
 * writes and commits that page. Which page is held is drawn from a seeded generator
 * (SYNCLOG_CRASH_SEED=<n> to choose, =random for a fresh one; the seed is in the suite's name).
 *
 * Each `it` is one crash cycle (start, jobs, crash, restart, checks) over up to three
 * integrations, each with its own workspace, job and kill point: SIGKILL with a page in flight
 * (nothing committed yet, an early stage, the work items) or racing a commit (and at a stage's
 * first page); twice in a row; while stopping, paused or pausing; SIGTERM (the page in
 * flight commits, or is abandoned after shutdownGracePeriod); during an incremental sync; during
 * the finalizing sweep. SYNCLOG_CRASH_DEBUG=1 prints where each job was killed.
 */

const SEED = (() => {
  const v = process.env.SYNCLOG_CRASH_SEED
  if (v === "random") return Math.floor(Math.random() * 2 ** 31)
  if (v !== undefined && v !== "" && Number.isFinite(Number(v))) return Number(v)
  return 20_241_117
})()

/** The simulator's generator over a seed mixed with a name: each cycle draws the same values whatever runs before it. */
const rngFor = (name: string): Rng => {
  let a = SEED >>> 0
  for (const ch of name) a = Math.imul(a ^ ch.charCodeAt(0), 0x9e3779b1) >>> 0
  return new Rng(a)
}

const BATCH = 20
const FULL_WORKSPACES = ["alpha", "bravo", "charlie"] as const
const INCREMENTAL_WORKSPACES = ["delta", "echo"] as const
const SWEEP_WORKSPACE = "foxtrot"
/** A fourth integration where a cycle needs one (the default maxConcurrentJobs is 4). */
const EXTRA_WORKSPACE = "golf"
const integrationOf = (workspace: string) => `crash-${workspace}`
// PostgreSQL answers each statement over a socket: a batch's commit takes a few round trips more.
const JOB_TIMEOUT = backend === "postgres" ? 240_000 : 120_000

const ANY: RegExp = /./
const WORK_ITEMS: RegExp = /\/work-items\//
/** A work item's detail (the finalizing sweep's one-by-one lookups), not a list page. */
const WORK_ITEM_LOOKUP: RegExp = /\/work-items\/[0-9a-f-]{36}\//
const segmentPattern = (segment: string) => new RegExp(`/${segment}/`)
const EARLY_SEGMENTS = ["states", "labels", "cycles", "modules"] as const

// ---- events ---------------------------------------------------------------------------------

interface Ev {
  readonly version: number
  readonly type: string
  readonly recordedAt: string
  readonly data: any
}

interface Checkpoint {
  readonly stage: string
  readonly projectIds: ReadonlyArray<string>
  readonly position: { readonly projectIndex: number; readonly feed: number; readonly page: number; readonly walkStartedAt?: string }
}

const eventsOf = async (api: Client, jobId: string): Promise<Array<Ev>> => {
  const r = await api.get(`/api/sync/jobs/${jobId}/events`)
  expect(r.status).toBe(200)
  return r.body.events
}

const logsOf = async (api: Client, jobId: string): Promise<Array<string>> => {
  const out: Array<string> = []
  for (let offset = 0; ; offset += 500) {
    const r = await api.get(`/api/sync/jobs/${jobId}/logs?limit=500&offset=${offset}`)
    expect(r.status).toBe(200)
    out.push(...r.body.logs.map((l: { message: string }) => l.message))
    if (out.length >= r.body.total || r.body.logs.length === 0) return out
  }
}

const batchesOf = (events: ReadonlyArray<Ev>) => events.filter((e) => e.type === "BatchCommitted")

/** The URLs asked, each once, in order: a retried request asks for the same page or record again. */
const distinctUrls = (arrivals: ReadonlyArray<Arrival>) => [...new Set(arrivals.map((a) => a.url))]

/**
 * Why a job is not pinned where its held request says: its lane's arrivals, the URLs asked more
 * than once, its view, its latest events and log lines. For a failure message only. (Seen once
 * in CI, before pages were counted by URL: the lane had one request more than usual before the
 * hold, so one batch more was expected than the pinned job had committed.)
 */
const pinDiagnosis = async (api: Client, t: Trial): Promise<string> => {
  const arrivals = t.lane.arrivals
  const seen = new Map<string, Array<number>>()
  for (const a of arrivals) seen.set(a.url, [...(seen.get(a.url) ?? []), a.index])
  const repeated = [...seen].filter(([, at]) => at.length > 1).map(([url, at]) => `${url} at #${at.join(", #")}`)
  const job = (await api.get(`/api/sync/jobs/${t.jobId}`)).body
  const events = await eventsOf(api, t.jobId).catch(() => [] as Array<Ev>)
  const logs = await logsOf(api, t.jobId).catch(() => [] as Array<string>)
  return [
    `${t.workspace}'s requests (${arrivals.length}):`,
    ...arrivals.map((a) => `  #${a.index} ${a.status} ${a.url}`),
    `asked more than once: ${repeated.length === 0 ? "none" : repeated.join("; ")}`,
    `job: ${JSON.stringify({ status: job?.status, stage: job?.stage, progress: job?.progress, waiting: job?.waiting, stats: job?.stats })}`,
    `latest events: ${events.slice(-6).map((e) => `${e.type}@${e.recordedAt} ${JSON.stringify(e.data.next ?? "")}`).join(" | ")}`,
    `latest log lines:`,
    ...logs.slice(-25).map((m) => `  ${m}`)
  ].join("\n")
}

/** The checkpoint a stream leaves, folded independently of the engine's projection. */
const checkpointOf = (events: ReadonlyArray<Ev>): Checkpoint | null => {
  let cp: Checkpoint | null = null
  for (const e of events) {
    if (e.type === "StageStarted") {
      cp = { stage: e.data.stage, projectIds: e.data.projectIds, position: { projectIndex: 0, feed: 0, page: 0 } }
    } else if (e.type === "BatchCommitted") {
      const previous = cp as Checkpoint | null
      cp = {
        stage: e.data.stage,
        projectIds: [...(previous?.projectIds ?? []), ...(e.data.discovered ?? [])],
        position: e.data.next
      }
    }
  }
  return cp
}

const positionKey = (stage: string, p: { projectIndex: number; feed: number; page: number }) =>
  [STAGES.indexOf(stage as (typeof STAGES)[number]), p.projectIndex, p.feed, p.page] as const

const lexLess = (a: ReadonlyArray<number>, b: ReadonlyArray<number>) => {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i]! < b[i]!
  return false
}

const sumDeltas = (batches: ReadonlyArray<Ev>) =>
  batches.reduce(
    (n, e) => ({
      processed: n.processed + e.data.deltas.processed,
      created: n.created + e.data.deltas.created,
      updated: n.updated + e.data.deltas.updated,
      deleted: n.deleted + e.data.deltas.deleted,
      errors: n.errors + e.data.deltas.errors
    }),
    { processed: 0, created: 0, updated: 0, deleted: 0, errors: 0 }
  )

/**
 * The invariants of one job's whole stream: versions 1..n without a gap, every stage of the walk
 * started once, committed positions strictly increasing (no page committed twice), and the
 * counters equal to the sum of the committed batches.
 */
const expectConsistentStream = (events: ReadonlyArray<Ev>, stats: unknown) => {
  expect(events.map((e) => e.version)).toEqual(events.map((_, i) => i + 1))
  expect(events[0]!.type).toBe("JobQueued")
  const started = events.filter((e) => e.type === "StageStarted").map((e) => e.data.stage as string)
  expect(started, "each stage starts once, crash or not").toEqual([...new Set(started)])
  expect(started).toEqual(STAGES.filter((s) => started.includes(s)))
  let last: ReadonlyArray<number> | undefined
  for (const b of batchesOf(events)) {
    if (b.data.stage === "finalizing") continue
    const key = positionKey(b.data.stage, b.data.next)
    if (last !== undefined) expect(lexLess(last, key), `batch v${b.version} goes back to ${key} after ${last}`).toBe(true)
    last = key
  }
  expect(sumDeltas(batchesOf(events))).toEqual(stats)
}

// ---- one job under test ---------------------------------------------------------------------

interface Trial {
  readonly workspace: string
  readonly integrationId: string
  readonly lane: Lane
  /** What the trial does, for messages. */
  readonly what: string
  readonly hold: HoldRule
  /** Kill this many ms after the held request's response left (racing the commit), instead of while it is held. */
  readonly racingDelayMs?: number
  jobId: string
  /**
   * How many batches the job has committed once it is pinned at `held` (default: one per request
   * before it). The job may ask for a page while it still commits the one before (prefetch), so
   * a held request alone does not mean the job is idle yet.
   */
  pinnedCommits?: (held: Arrival) => number
  /** The request held at the crash (in flight). */
  held?: Arrival
  /** The job's events when it was pinned (in flight) before the crash. */
  pinned?: ReadonlyArray<Ev> | undefined
}

/** Pages of work items a full walk asks for (each project at least one page). */
const workItemPages = async (sim: RunningSimulator, workspace: string) => {
  const perProject = new Map<string, number>()
  for (const r of await sourceRecords(sim, workspace, "work_items")) {
    perProject.set(String(r.project), (perProject.get(String(r.project)) ?? 0) + 1)
  }
  return [...perProject.values()].reduce((n, c) => n + Math.max(1, Math.ceil(c / BATCH)), 0)
}

describe(`crash recovery of a child server (seed ${SEED})`, () => {
  let sim: RunningSimulator
  let gate: Gate
  let dirs: Array<ReturnType<typeof tempDir>> = []

  beforeAll(async () => {
    sim = await startSimulator({
      workspaces: [
        ...FULL_WORKSPACES.map((slug, i) => ({ slug, projects: 3, workItems: 1200, seed: 101 + i })),
        ...INCREMENTAL_WORKSPACES.map((slug, i) => ({ slug, projects: 3, workItems: 900, seed: 201 + i })),
        { slug: SWEEP_WORKSPACE, projects: 3, workItems: 600, seed: 301 },
        { slug: EXTRA_WORKSPACE, projects: 3, workItems: 600, seed: 401 }
      ],
      seed: 7
    })
    gate = await startGate(sim.url)
  })

  afterEach(async (ctx) => {
    await killAllChildren()
    const outputs = takeChildOutputs()
    if (ctx.task.result?.state === "fail") {
      const tail = (text: string) => text.split("\n").slice(-400).join("\n")
      console.error(
        `[crash test "${ctx.task.name}" failed; seed ${SEED}; databases kept in ${dirs.map((d) => d.dir).join(", ")}]\n` +
          `gate requests:\n${tail(gate.describe())}\n\nserver output (last lines of each start):\n${outputs
            .split(/(?=^----- )/m)
            .map(tail)
            .join("\n")}`
      )
    } else {
      for (const d of dirs) d.remove()
    }
    dirs = []
    gate.resetAll()
  })

  afterAll(async () => {
    await killAllChildren()
    await gate?.close()
    await sim?.close()
  })

  // ---- helpers over the suite's simulator and gate -------------------------------------------

  /** A fresh database and config file; `start` (re)starts the server on them. */
  const cycle = (workspaces: ReadonlyArray<string>, engine: Record<string, unknown> = {}) => {
    const tmp = tempDir("synclog-crash-")
    dirs.push(tmp)
    const configPath = writeConfigFile(
      join(tmp.dir, "synclog.config.json"),
      workspaces.map((ws) => planeIntegration(integrationOf(ws), sim, ws, { baseUrl: gate.url })),
      engine
    )
    let starts = 0
    return {
      dbPath: tmp.dbPath,
      configPath,
      start: (label: string) => startChild({ dbPath: tmp.dbPath, configPath, apiKey: sim.apiKey, label: `start ${++starts}: ${label}` })
    }
  }

  const trial = (workspace: string, what: string, hold: HoldRule, racingDelayMs?: number): Trial => ({
    workspace,
    integrationId: integrationOf(workspace),
    lane: gate.lane(workspace),
    what,
    hold,
    ...(racingDelayMs === undefined ? {} : { racingDelayMs }),
    jobId: ""
  })

  /** Queues the trial's job with its hold rule set; its requests are counted from 1. */
  const startJob = async (api: Client, t: Trial, type: "full_sync" | "incremental_sync") => {
    t.lane.reset()
    t.lane.holdAt(t.hold)
    const r = await api.post("/api/sync/jobs", { integrationId: t.integrationId, type, options: { batchSize: BATCH } })
    expect(r.status, JSON.stringify(r.body)).toBe(200)
    t.jobId = r.body.jobId
  }

  /**
   * Waits until the job is pinned: its hold rule caught a request and every page before that one
   * is committed. It then waits for the held page and appends nothing more.
   */
  const awaitHeld = async (api: Client, t: Trial) => {
    const held = await waitFor(`${t.workspace} (${t.what}) to be held`, async () => t.lane.held(), 60_000, 10)
    t.held = held
    const expected = t.pinnedCommits?.(held) ?? held.page - 1
    t.pinned = await waitFor(
      `${t.what}: the ${expected} batches before the held request to commit`,
      async () => {
        const events = await eventsOf(api, t.jobId)
        const n = batchesOf(events).length
        if (n > expected) throw new Error(`${t.what}: ${n} batches committed while request #${held.index} is held, expected ${expected}`)
        return n === expected ? events : undefined
      },
      60_000,
      10
    ).catch(async (error: Error) => {
      throw new Error(`${error.message}\n${await pinDiagnosis(api, t)}`)
    })
    // A retried request is asked twice (pages count URLs, not requests): said, with the job's
    // reason, and only a retry may ask for a page again.
    const repeated = t.lane.repeated()
    if (repeated.length > 0) {
      const retries = (await logsOf(api, t.jobId)).filter((m) => m.includes("; retry "))
      const asked = repeated.map((a) => `#${a.index} ${a.url}`).join(", ")
      console.warn(`[${t.workspace}] asked again: ${asked}; the job's retries: ${retries.join(" | ") || "none logged"}`)
      expect(retries.length, `${t.what}: pages asked again without a retry: ${asked}`).toBeGreaterThanOrEqual(repeated.length)
    }
    const job = (await api.get(`/api/sync/jobs/${t.jobId}`)).body
    expect(job.status, `${t.what}: pinned job is ${job.status}`).toBe("running")
  }

  /**
   * Pins every trial at its held request, then SIGKILLs the server: at once, or for a racing
   * trial its held request is let through and the kill comes `racingDelayMs` after the response
   * left (the server is then reading, writing or committing that page).
   */
  const crashWhenPinned = async (server: ChildServer, trials: ReadonlyArray<Trial>) => {
    for (const t of trials) await awaitHeld(server.api, t)
    const racing = trials.find((t) => t.racingDelayMs !== undefined)
    if (racing === undefined) {
      await server.crash()
    } else {
      const killed = new Promise<void>((resolve, reject) => {
        racing.lane.release(racing.held!, () => {
          setTimeout(() => server.crash().then(() => resolve(), reject), racing.racingDelayMs)
        })
      })
      await killed
      racing.pinned = undefined
    }
    expect(server.hasExited()).toBe(true)
    const crashedAt = Date.now()
    gate.resetAll()
    return crashedAt
  }

  /** The pre-crash stream and the post-restart stream of a job, split at the crash time. */
  const splitAt = (events: ReadonlyArray<Ev>, crashedAt: number) => {
    const before = events.filter((e) => Date.parse(e.recordedAt) <= crashedAt)
    const after = events.filter((e) => Date.parse(e.recordedAt) > crashedAt)
    expect([...before, ...after]).toEqual(events)
    return { before, after }
  }

  /**
   * After the restart the job asks first for the page after its last committed one: the one
   * that was in flight at the crash when there was one (pages and commits pair up one to one: a
   * job commits each page it fetched before it fetches the next; a retried request is one page),
   * and no page it had committed. A small list's walk asks for the next projects' first pages
   * in the same instant, so those may reach the gate first.
   */
  const expectContinuesAtCheckpoint = (t: Trial, committedBefore: number) => {
    const before = t.lane.history[t.lane.history.length - 1] ?? []
    const served = new Set(before.filter((a) => a.status === "served").map((a) => a.page))
    expect(served.size, `${t.what}: pages served before the crash`).toBeGreaterThanOrEqual(committedBefore)
    const inFlight = before.find((a) => a.page === committedBefore + 1)
    if (process.env.SYNCLOG_CRASH_DEBUG) {
      const short = (u: string | undefined) => u?.replace(/^\/api\/v1\/workspaces\/[^/]+/, "").replace(/[0-9a-f]{8}-[0-9a-f-]{27}/g, "…")
      console.log(
        `[${t.workspace}] ${t.what} (request #${t.held?.index}): ${committedBefore} batches committed before the crash, ${before.length} requests; ` +
          `in flight ${short(inFlight?.url) ?? "none"}; first request after the restart ${short(t.lane.arrivals[0]?.url)}`
      )
    }
    const committed = new Set(before.filter((a) => a.page <= committedBefore).map((a) => a.url))
    expect(t.lane.arrivals.filter((a) => committed.has(a.url)).map((a) => a.url), `${t.what}: committed pages asked again`).toEqual([])
    if (inFlight === undefined) return
    const firstAsked = t.lane.arrivals.slice(0, 1 + SMALL_LIST_LOOKAHEAD).map((a) => a.url)
    expect(firstAsked, `${t.what}: the first pages asked after the restart`).toContain(inFlight.url)
  }

  const verifyReplay = async (dbPath: string) => {
    const r = await runCliAsync(["replay", "--db", dbPath, "--verify"])
    expect(r.code, `replay --verify:\n${r.stdout}\n${r.stderr}`).toBe(0)
    expect(r.stdout).toContain("OK:")
  }

  /** Each trial's mirror equals its workspace record for record, and a replay rebuilds the views identically. */
  const expectMirrorsAndReplay = async (api: Client, dbPath: string, trials: ReadonlyArray<Trial>) => {
    await Promise.all([
      verifyReplay(dbPath),
      (async () => {
        for (const t of trials) await expectMirrorEqualsSource(api, t.integrationId, sim, t.workspace)
      })()
    ])
    // Across the kills and restarts: no integration ever had two active jobs in the log.
    expect(overlappingStarts(dbPath)).toEqual([])
  }

  /** A completed full sync of a fresh database: exactly the source, once. */
  const expectExactFullSync = async (api: Client, t: Trial) => {
    const job = await waitForStatus(api, t.jobId, ["completed", "failed", "stopped", "paused"], JOB_TIMEOUT)
    expect(job.status, `${t.what}: ${job.error ?? ""}`).toBe("completed")
    const expected = total(await sourceCounts(sim, t.workspace))
    expect(job.result, t.what).toEqual({ processed: expected, created: expected, updated: 0, deleted: 0, errors: 0 })
    expect(job.stats).toEqual(job.result)
    const events = await eventsOf(api, t.jobId)
    expectConsistentStream(events, job.result)
    expect(events[events.length - 1]!.type).toBe("JobCompleted")
    return { job, events }
  }

  /** The checks shared by every job that a SIGKILL interrupted while running and a restart recovered. */
  const expectRecovered = (
    t: Trial,
    events: ReadonlyArray<Ev>,
    crashedAt: number,
    committedBefore: ReadonlyArray<number>,
    /** False where requests and batches do not pair up (the sweep's lookups): the caller checks the requests. */
    pagesPairWithBatches = true
  ) => {
    const { before, after } = splitAt(events, crashedAt)
    if (t.pinned !== undefined) expect(before, `${t.what}: the log before the crash is what it was when pinned`).toEqual(t.pinned)
    const n = batchesOf(before).length
    expect(committedBefore, `${t.what}: ${n} batches committed before the crash`).toContain(n)
    expect(before.some((e) => ["JobCompleted", "JobPaused", "JobStopped", "JobFailed"].includes(e.type))).toBe(false)
    // Recovered on start, from the checkpoint the log held, and not started over.
    const resumed = after[0]!
    expect(resumed.type).toBe("JobResumed")
    expect(resumed.data.reason).toBe("recovery")
    const cp = checkpointOf(before)
    expect(resumed.data.from).toEqual(cp)
    expect(after[1]?.type).toBe("JobStarted")
    expect(after.filter((e) => e.type === "JobResumed")).toHaveLength(1)
    if (cp !== null) {
      const cpStage = STAGES.indexOf(cp.stage as (typeof STAGES)[number])
      const restarted = after.filter((e) => e.type === "StageStarted" && STAGES.indexOf(e.data.stage) <= cpStage)
      expect(restarted, `${t.what}: no stage started again`).toEqual([])
      const first = batchesOf(after)[0]
      if (first !== undefined && first.data.stage !== "finalizing") {
        expect(lexLess(positionKey(cp.stage, cp.position), positionKey(first.data.stage, first.data.next))).toBe(true)
      }
    }
    if (pagesPairWithBatches) expectContinuesAtCheckpoint(t, n)
    return { before, after, committed: n, checkpoint: cp }
  }

  /** The job's log says it was recovered, once, and from where. */
  const expectRecoveryLogs = async (api: Client, t: Trial, checkpoint: Checkpoint | null) => {
    const logs = await logsOf(api, t.jobId)
    const recovery = logs.filter((m) => m.includes("resuming from its last checkpoint"))
    expect(recovery, `${t.what}: recovery log line`).toHaveLength(1)
    expect(recovery[0]).toContain(checkpoint === null ? "(its start)" : `(${checkpoint.stage}, page ${checkpoint.position.page + 1})`)
    expect(logs.some((m) => m.startsWith("Resuming from checkpoint:")), `${t.what}: runner resume line`).toBe(true)
  }

  // ---- scenario 1: SIGKILL while running --------------------------------------------------------

  const earlyHold = (rng: Rng) => {
    const segment = rng.pick(EARLY_SEGMENTS)
    const nth = rng.between(1, 3)
    return { what: `${segment} page of project ${nth} in flight`, hold: { match: segmentPattern(segment), nth } }
  }

  const workItemsHold = async (rng: Rng, workspace: string, prefix = "work-items page") => {
    const nth = rng.between(1, await workItemPages(sim, workspace))
    return { what: `${prefix} #${nth} in flight`, hold: { match: WORK_ITEMS, nth } }
  }

  it("SIGKILL with a page in flight: each job resumes from its checkpoint and ends exactly equal to the source", async () => {
    const rng = rngFor("kill-in-flight")
    const early = earlyHold(rng)
    const late = await workItemsHold(rng, "charlie")
    const trials = [
      trial("alpha", "first request (projects page) in flight, nothing committed", { match: ANY, nth: 1 }),
      trial("bravo", early.what, early.hold),
      trial("charlie", late.what, late.hold)
    ]
    const c = cycle(FULL_WORKSPACES)
    const first = await c.start("until the crash")
    for (const t of trials) await startJob(first.api, t, "full_sync")
    const crashedAt = await crashWhenPinned(first, trials)

    const second = await c.start("after the crash")
    for (const t of trials) {
      const { events } = await expectExactFullSync(second.api, t)
      const { committed, checkpoint } = expectRecovered(t, events, crashedAt, [t.held!.page - 1])
      if (t.workspace === "alpha") expect(committed).toBe(0)
      await expectRecoveryLogs(second.api, t, checkpoint)
    }
    await expectMirrorsAndReplay(second.api, c.dbPath, trials)
  }, JOB_TIMEOUT)

  it("SIGKILL while a page is being committed, at a stage's start and right after the projects stage", async () => {
    const rng = rngFor("kill-racing")
    const racing = await workItemsHold(rng, "alpha", "work-items page")
    const delay = rng.between(0, 20)
    const trials = [
      trial("alpha", `${racing.what.replace(" in flight", "")} answered, SIGKILL ${delay} ms later`, racing.hold, delay),
      trial("bravo", "first work-items page in flight (stage just started)", { match: WORK_ITEMS, nth: 1 }),
      trial("charlie", "first states page in flight (projects stage just finished)", { match: segmentPattern("states"), nth: 1 })
    ]
    const c = cycle(FULL_WORKSPACES)
    const first = await c.start("until the crash")
    for (const t of trials) await startJob(first.api, t, "full_sync")
    const crashedAt = await crashWhenPinned(first, trials)

    const second = await c.start("after the crash")
    for (const t of trials) {
      const { events } = await expectExactFullSync(second.api, t)
      const held = t.held!.page
      // The racing one: its page committed or not; either way nothing half done.
      const { committed, checkpoint } = expectRecovered(t, events, crashedAt, t.racingDelayMs === undefined ? [held - 1] : [held - 1, held])
      if (t.workspace === "charlie") {
        expect(committed).toBe(1)
        expect(events.filter((e) => e.type === "StageStarted" && e.data.stage === "syncing_projects")).toHaveLength(1)
      }
      await expectRecoveryLogs(second.api, t, checkpoint)
    }
    await expectMirrorsAndReplay(second.api, c.dbPath, trials)
  }, JOB_TIMEOUT)

  it("SIGKILL again before the recovered job committed anything: it recovers from the same checkpoint", async () => {
    const rng = rngFor("kill-twice")
    const late = await workItemsHold(rng, "alpha")
    const t = trial("alpha", late.what, late.hold)
    const c = cycle(["alpha"])
    const first = await c.start("until the first crash")
    await startJob(first.api, t, "full_sync")
    const firstCrash = await crashWhenPinned(first, [t])
    const inFlight = t.held!

    // Recovered at the next start, and pinned again at its very first request: the same page.
    t.lane.holdAt({ match: ANY, nth: 1 })
    t.pinnedCommits = () => inFlight.page - 1
    const second = await c.start("recovering, until the second crash")
    await awaitHeld(second.api, t)
    expect(t.held!.url).toBe(inFlight.url)
    const secondCrash = await crashWhenPinned(second, [])

    const third = await c.start("after the second crash")
    const { events } = await expectExactFullSync(third.api, t)
    const before = events.filter((e) => Date.parse(e.recordedAt) <= firstCrash)
    const between = events.filter((e) => Date.parse(e.recordedAt) > firstCrash && Date.parse(e.recordedAt) <= secondCrash)
    const after = events.filter((e) => Date.parse(e.recordedAt) > secondCrash)
    expect(batchesOf(before)).toHaveLength(inFlight.page - 1)
    const cp = checkpointOf(before)
    // The second run committed nothing; both recoveries start from the one checkpoint.
    expect(between.map((e) => e.type)).toEqual(["JobResumed", "JobStarted"])
    expect(after.slice(0, 2).map((e) => e.type)).toEqual(["JobResumed", "JobStarted"])
    for (const resumed of [between[0]!, after[0]!]) expect(resumed.data).toMatchObject({ reason: "recovery", from: cp })
    expect(events.filter((e) => e.type === "JobStarted").map((e) => e.data.run)).toEqual([1, 2, 3])
    expect(t.lane.arrivals[0]?.url).toBe(inFlight.url)
    const logs = await logsOf(third.api, t.jobId)
    expect(logs.filter((m) => m.includes("resuming from its last checkpoint"))).toHaveLength(2)
    await expectMirrorsAndReplay(third.api, c.dbPath, [t])
  }, JOB_TIMEOUT)

  // ---- scenarios 2 and 3: SIGKILL while stopping, paused or pausing -----------------------------

  it("SIGKILL while stopping, paused or pausing: stopped or paused after the restart, not resumed; resumed, exact", async () => {
    const rng = rngFor("kill-commands")
    const stopLate = await workItemsHold(rng, "alpha")
    const stopEarly = earlyHold(rng)
    const pauseLate = await workItemsHold(rng, "charlie")
    const pauseEarly = earlyHold(rng)
    const stopping = [
      trial("alpha", `stop requested, ${stopLate.what}`, stopLate.hold),
      trial("bravo", `stop requested, ${stopEarly.what}`, stopEarly.hold)
    ]
    const paused = trial("charlie", `paused after ${pauseLate.what.replace(" in flight", "")}`, pauseLate.hold)
    const pausing = trial(EXTRA_WORKSPACE, `pause requested, ${pauseEarly.what}`, pauseEarly.hold)
    const trials = [...stopping, paused, pausing]
    const c = cycle(trials.map((t) => t.workspace))
    const first = await c.start("until the crash")
    for (const t of trials) await startJob(first.api, t, "full_sync")
    for (const t of trials) await awaitHeld(first.api, t)
    for (const t of stopping) {
      const stop = await first.api.post(`/api/sync/jobs/${t.jobId}/stop`, { graceful: true })
      expect(stop.status).toBe(200)
      expect(stop.body.status).toBe("stopping")
    }
    for (const t of [paused, pausing]) expect((await first.api.post(`/api/sync/jobs/${t.jobId}/pause`)).status).toBe(200)
    // charlie: its page in flight commits, then it pauses. The others' pages stay in flight, so
    // their commands wait (stopGracePeriod is 30 s): still stopping, or running with a pause requested.
    paused.lane.release(paused.held!)
    await waitForStatus(first.api, paused.jobId, ["paused"], JOB_TIMEOUT)
    for (const t of stopping) expect((await first.api.get(`/api/sync/jobs/${t.jobId}`)).body.status).toBe("stopping")
    expect((await first.api.get(`/api/sync/jobs/${pausing.jobId}`)).body.status).toBe("running")
    await first.crash()
    const crashedAt = Date.now()
    gate.resetAll()

    const second = await c.start("after the crash")
    expect((await second.api.get("/healthz")).body.runningJobs).toBe(0)
    for (const t of trials) {
      const job = (await second.api.get(`/api/sync/jobs/${t.jobId}`)).body
      const { before, after } = splitAt(await eventsOf(second.api, t.jobId), crashedAt)
      expect(after.some((e) => e.type === "JobResumed"), `${t.what}: not resumed on start`).toBe(false)
      expect(job.stats).toEqual(sumDeltas(batchesOf(before)))
      if (t === paused) {
        expect(job.status, `${t.what}: status after the restart`).toBe("paused")
        expect(batchesOf(before)).toHaveLength(t.held!.page)
        expect(before[before.length - 1]).toMatchObject({ type: "JobPaused", data: { reason: "request" } })
        expect(after).toEqual([])
      } else if (t === pausing) {
        expect(job.status, `${t.what}: status after the restart`).toBe("paused")
        expect(batchesOf(before)).toHaveLength(t.held!.page - 1)
        expect(before[before.length - 1]!.type).toBe("PauseRequested")
        expect(after.map((e) => [e.type, e.data.reason])).toEqual([["JobPaused", "request"]])
      } else {
        expect(job.status, `${t.what}: status after the restart`).toBe("stopped")
        expect(batchesOf(before)).toHaveLength(t.held!.page - 1)
        expect(before[before.length - 1]).toMatchObject({ type: "StopRequested", data: { graceful: true } })
        expect(after.map((e) => e.type)).toEqual(["JobStopped"])
        expect(after[0]!.data.reason).toContain("before the restart")
        const logs = await logsOf(second.api, t.jobId)
        expect(logs.some((m) => m.startsWith("Stopped: its stop was requested before the server restarted"))).toBe(true)
      }
    }
    // Still so a moment later: nothing picks a requested stop or pause up by itself.
    await new Promise((r) => setTimeout(r, 500))
    for (const t of trials) {
      expect((await second.api.get(`/api/sync/jobs/${t.jobId}`)).body.status).toBe(stopping.includes(t) ? "stopped" : "paused")
      expect(t.lane.arrivals, `${t.what}: asked nothing before its resume`).toEqual([])
      expect((await second.api.post(`/api/sync/jobs/${t.jobId}/resume`)).status).toBe(200)
    }
    for (const t of trials) {
      const { events } = await expectExactFullSync(second.api, t)
      const { before, after } = splitAt(events, crashedAt)
      const resumed = after.find((e) => e.type === "JobResumed")!
      expect(resumed.data.reason).toBe("request")
      expect(resumed.data.from).toEqual(checkpointOf(before))
      expect(after.filter((e) => e.type === "StageStarted" && STAGES.indexOf(e.data.stage) <= STAGES.indexOf(resumed.data.from.stage)))
        .toEqual([])
      expectContinuesAtCheckpoint(t, batchesOf(before).length)
    }
    await expectMirrorsAndReplay(second.api, c.dbPath, trials)
  }, JOB_TIMEOUT)

  // ---- scenario 4: SIGTERM while running --------------------------------------------------------

  it("SIGTERM while running: jobs pause for the shutdown and resume by themselves at the next start", async () => {
    const rng = rngFor("sigterm")
    const late = await workItemsHold(rng, "alpha")
    const early = earlyHold(rng)
    // alpha's page in flight is answered during the shutdown: it commits, then the job pauses.
    const commits = trial("alpha", `${late.what}, answered during the shutdown`, late.hold)
    // bravo's is never answered: after shutdownGracePeriod the job pauses without it.
    const abandons = trial("bravo", `${early.what}, never answered`, early.hold)
    const trials = [commits, abandons]
    const c = cycle(["alpha", "bravo"], { shutdownGracePeriod: 2 })
    const first = await c.start("until SIGTERM")
    for (const t of trials) await startJob(first.api, t, "full_sync")
    for (const t of trials) await awaitHeld(first.api, t)
    const exit = first.terminate(60_000)
    await waitFor(
      "the shutdown to ask the jobs to pause",
      async () => first.logLines().some((l) => String(l.message).startsWith("Shutting down: pausing 2 running job(s)")),
      30_000,
      10
    )
    commits.lane.release(commits.held!)
    const exited = await exit
    expect(exited.signal === null ? exited.code : exited.signal, first.output()).toBe(0)
    const stoppedAt = Date.now()
    gate.resetAll()

    // replay --verify on the database as the shutdown left it (it snapshots the file before the
    // next server, starting meanwhile, writes to it; either way the views must equal the log).
    const verified = verifyReplay(c.dbPath)
    const second = await c.start("after SIGTERM")
    await verified
    for (const t of trials) {
      const { events } = await expectExactFullSync(second.api, t)
      const { before, after } = splitAt(events, stoppedAt)
      expect(before[before.length - 1]).toMatchObject({ type: "JobPaused", data: { reason: "shutdown" } })
      const committed = batchesOf(before).length
      expect(committed, t.what).toBe(t === commits ? t.held!.page : t.held!.page - 1)
      if (t === commits) expect(before[before.length - 2]!.type).toBe("BatchCommitted")
      expect(after[0]).toMatchObject({ type: "JobResumed", data: { reason: "restart", from: checkpointOf(before) } })
      expect(after.filter((e) => e.type === "JobResumed")).toHaveLength(1)
      expectContinuesAtCheckpoint(t, committed)
      const logs = await logsOf(second.api, t.jobId)
      expect(logs.some((m) => m.startsWith("Paused for server shutdown")), `${t.what}: shutdown log line`).toBe(true)
      expect(logs.some((m) => m.startsWith("Resuming after the server restart"))).toBe(true)
    }
    await expectMirrorsAndReplay(second.api, c.dbPath, trials)
  }, JOB_TIMEOUT)

  // ---- scenario 5: SIGKILL during an incremental sync -------------------------------------------

  it("SIGKILL during an incremental sync: it completes with deltas equal to the source changes", async () => {
    const rng = rngFor("kill-incremental")
    const c = cycle(INCREMENTAL_WORKSPACES)
    const first = await c.start("baseline and incremental until the crash")
    // Baseline: a full sync of each, without holds.
    const baseline: Array<string> = []
    for (const ws of INCREMENTAL_WORKSPACES) {
      const r = await first.api.post("/api/sync/jobs", { integrationId: integrationOf(ws), type: "full_sync", options: { batchSize: BATCH } })
      expect(r.status).toBe(200)
      baseline.push(r.body.jobId)
    }
    for (const id of baseline) expect((await waitForStatus(first.api, id, ["completed", "failed"], JOB_TIMEOUT)).status).toBe("completed")

    // Changes in the source: distinct work items renamed, new ones created.
    const sa = admin(sim)
    const changes = new Map<string, { updated: number; created: number }>()
    for (const ws of INCREMENTAL_WORKSPACES) {
      const items = (await sa.get(`/records/work_items?workspace=${ws}`)) as Array<{ id: string; project: string }>
      const updated = rng.between(30, 60)
      const created = rng.between(10, 30)
      const chosen = new Set<string>()
      while (chosen.size < updated) chosen.add(rng.pick(items).id)
      for (const id of chosen) await sa.patch(`/records/work_items/${id}?workspace=${ws}`, { name: `Changed before the crash ${id.slice(0, 8)}` })
      for (let i = 0; i < created; i++) {
        await sa.post(`/records/work_items?workspace=${ws}`, { project: rng.pick(items).project, name: `Created before the crash ${i}` })
      }
      changes.set(ws, { updated, created })
    }

    // Each project's walk asks for at least one page of work items: three pages at least.
    const inFlight = rng.between(1, 3)
    const racing = rng.between(1, 3)
    const delay = rng.between(0, 20)
    const trials = [
      trial("delta", `incremental, work-items page #${inFlight} in flight`, { match: WORK_ITEMS, nth: inFlight }),
      trial("echo", `incremental, work-items page #${racing} answered, SIGKILL ${delay} ms later`, { match: WORK_ITEMS, nth: racing }, delay)
    ]
    for (const t of trials) await startJob(first.api, t, "incremental_sync")
    const crashedAt = await crashWhenPinned(first, trials)

    const second = await c.start("after the crash")
    for (const t of trials) {
      const job = await waitForStatus(second.api, t.jobId, ["completed", "failed", "stopped", "paused"], JOB_TIMEOUT)
      expect(job.status, `${t.what}: ${job.error ?? ""}`).toBe("completed")
      const events = await eventsOf(second.api, t.jobId)
      expectConsistentStream(events, job.stats)
      const held = t.held!.page
      const { checkpoint } = expectRecovered(t, events, crashedAt, t.racingDelayMs === undefined ? [held - 1] : [held - 1, held])
      await expectRecoveryLogs(second.api, t, checkpoint)
      // Exactly the changes, counted once across the crash.
      const { updated, created } = changes.get(t.workspace)!
      const workItems = sumDeltas(batchesOf(events).filter((e) => e.data.entity === "work_items"))
      expect({ ...workItems, processed: 0 }, t.what).toEqual({ processed: 0, created, updated, deleted: 0, errors: 0 })
      expect(workItems.processed).toBeGreaterThanOrEqual(created + updated)
      expect(job.result).toMatchObject({ created, updated, deleted: 0, errors: 0 })
    }
    await expectMirrorsAndReplay(second.api, c.dbPath, trials)
  }, JOB_TIMEOUT)
  // ---- scenario 6: SIGKILL during the finalizing sweep -----------------------------------------

  it("SIGKILL during the finalizing sweep of a full sync: deletions confirmed and counted once", async () => {
    const rng = rngFor("kill-sweep")
    const c = cycle([SWEEP_WORKSPACE])
    const first = await c.start("baseline and sweep until the crash")
    const integrationId = integrationOf(SWEEP_WORKSPACE)
    const base = await first.api.post("/api/sync/jobs", { integrationId, type: "full_sync", options: { batchSize: BATCH } })
    expect((await waitForStatus(first.api, base.body.jobId, ["completed", "failed"], JOB_TIMEOUT)).status).toBe("completed")

    // Deleted in the source: the walk no longer sees them, the sweep confirms each one by one.
    // (Cycles and modules count their work items: those a deletion changes are updates.)
    const others = ["projects", "states", "labels", "cycles", "modules"] as const
    const snapshot = async () =>
      new Map((await Promise.all(others.map((e) => sourceRecords(sim, SWEEP_WORKSPACE, e)))).flat().map((r) => [r.id, JSON.stringify(r)]))
    const beforeDeletion = await snapshot()
    const sa = admin(sim)
    const items = (await sa.get(`/records/work_items?workspace=${SWEEP_WORKSPACE}`)) as Array<{ id: string }>
    const deleted = new Set<string>()
    const count = rng.between(25, 45)
    while (deleted.size < count) deleted.add(rng.pick(items).id)
    for (const id of deleted) expect(await sa.del(`/records/work_items/${id}?workspace=${SWEEP_WORKSPACE}`)).toBe(200)
    const afterDeletion = await snapshot()
    expect([...afterDeletion.keys()].sort()).toEqual([...beforeDeletion.keys()].sort())
    const changed = [...afterDeletion].filter(([id, json]) => beforeDeletion.get(id) !== json).length

    const nth = rng.between(1, count)
    const t = trial(SWEEP_WORKSPACE, `sweep lookup #${nth} of ${count} in flight`, { match: WORK_ITEM_LOOKUP, nth })
    // The walk's pages, then one batch per BATCH lookups.
    /** Which lookup the held request is (`nth` unless a lookup was retried). */
    const heldLookup = (arrivals: ReadonlyArray<Arrival>, held: Arrival) =>
      distinctUrls(arrivals.filter((a) => a.index <= held.index && WORK_ITEM_LOOKUP.test(a.url))).length
    t.pinnedCommits = (held) =>
      distinctUrls(t.lane.arrivals.filter((a) => !WORK_ITEM_LOOKUP.test(a.url))).length + Math.floor((heldLookup(t.lane.arrivals, held) - 1) / BATCH)
    t.lane.reset()
    t.lane.holdAt(t.hold)
    const r = await first.api.post("/api/sync/jobs", { integrationId, type: "full_sync", options: { batchSize: BATCH, force: true } })
    expect(r.status).toBe(200)
    t.jobId = r.body.jobId
    const crashedAt = await crashWhenPinned(first, [t])

    const second = await c.start("after the crash")
    const job = await waitForStatus(second.api, t.jobId, ["completed", "failed", "stopped", "paused"], JOB_TIMEOUT)
    expect(job.status, job.error ?? "").toBe("completed")
    const expected = total(await sourceCounts(sim, SWEEP_WORKSPACE))
    // The walk examines what the source has, the sweep each deleted record once more.
    expect(job.result).toEqual({ processed: expected + count, created: 0, updated: changed, deleted: count, errors: 0 })
    const events = await eventsOf(second.api, t.jobId)
    expectConsistentStream(events, job.result)
    // Lookups and batches do not pair up one to one here: a sweep batch confirms up to BATCH records.
    const pre = t.lane.history[t.lane.history.length - 1]!
    const walkPages = distinctUrls(pre.filter((a) => !WORK_ITEM_LOOKUP.test(a.url))).length
    const held = heldLookup(pre, t.held!)
    const sweepBatchesBefore = Math.floor((held - 1) / BATCH)
    const { before, checkpoint } = expectRecovered(t, events, crashedAt, [walkPages + sweepBatchesBefore], false)
    expect(checkpoint?.stage).toBe("finalizing")
    expect(sumDeltas(batchesOf(before)).deleted).toBe(sweepBatchesBefore * BATCH)
    // After the restart: no page walked again, and only the lookups of the uncommitted batches.
    const lookupsBefore = distinctUrls(pre.filter((a) => WORK_ITEM_LOOKUP.test(a.url)))
    const lookupsAfter = distinctUrls(t.lane.arrivals)
    if (process.env.SYNCLOG_CRASH_DEBUG) {
      console.log(`[${t.workspace}] ${t.what}: ${sweepBatchesBefore} sweep batches committed before the crash, ${lookupsAfter.length} lookups after`)
    }
    expect(lookupsAfter.every((u) => WORK_ITEM_LOOKUP.test(u))).toBe(true)
    expect(lookupsAfter).toHaveLength(count - sweepBatchesBefore * BATCH)
    expect(lookupsAfter.slice(0, held - sweepBatchesBefore * BATCH)).toEqual(lookupsBefore.slice(sweepBatchesBefore * BATCH))
    await expectRecoveryLogs(second.api, t, checkpoint)
    for (const id of deleted) {
      const rec = await second.api.get(`/api/sync/integrations/${integrationId}/records/work_items/${id}`)
      expect(rec.status).toBe(200)
      expect(rec.body.deletedAt, `work item ${id} tombstoned`).not.toBeNull()
    }
    await expectMirrorsAndReplay(second.api, c.dbPath, [t])
  }, JOB_TIMEOUT)

  // SQLite's file lock has its own test (storage.e2e.test.ts); PostgreSQL's is an advisory lock
  // on a connection of the server's, which must go with the process however it ends.
  if (backend === "postgres") {
    it("one server per PostgreSQL database: a second start is refused naming the first's pid, and a SIGKILL frees the lock", async () => {
      const c = cycle([EXTRA_WORKSPACE])
      const first = await c.start("first")
      const second = await spawnOnce({ dbPath: c.dbPath, configPath: c.configPath, apiKey: sim.apiKey, label: "second" }, await freePort())
      expect((await second.exited).code).toBe(1)
      const lines = second.output().split("\n").filter((l) => l.startsWith("[second err] ") && l.trim() !== "[second err]")
      expect(lines).toHaveLength(1)
      const refused = /is in use by another synclog process \(pid (\d+), running since [^)]+\): stop it first, or set SYNC_DATABASE_URL to another database/
        .exec(lines[0]!)
      expect(refused, lines[0]).not.toBeNull()
      expect(lines[0]).not.toContain(":@") // no password, not even an empty one
      expect((await first.api.get("/healthz")).status).toBe(200)
      await first.crash()
      const third = await c.start("after the crash")
      expect((await third.api.get("/healthz")).status).toBe(200)
    }, JOB_TIMEOUT)
  }
})
