/**
 * The `webhooks` part of the streams suite (issue 12): 10,000 webhook deliveries queued (10
 * endpoints x 1,000 notifications), then drained to a local receiver; and a full sync while
 * they drain.
 *
 * How the deliveries are queued (the cheapest honest way found): the receiver
 * (bench/load/webhook-receiver.ts, node:http in this process) answers 503 while "down", so
 * synclog keeps every notification pending and retries the head (retry.baseDelay 10 ms,
 * maxDelay 100 ms here). The notifications come from real events through the real API: an
 * integration `stall` points at a source that accepts connections and never answers, so its
 * first job stays `running` on its first request and keeps the integration busy; then M - 1 times
 * a forced full sync of `stall` is queued (`POST /api/sync/jobs`) and stopped while queued
 * (`POST /api/sync/jobs/:id/stop`), 4 clients at a time, and finally the stalled job is stopped
 * at once: M `JobStopped` events, M `job.stopped` notifications for each of E endpoints
 * (subscribed to job.completed, job.failed and job.stopped of `stall` only; one receiver, told
 * apart by `?endpoint=k`). E x M = 10,000 with E = 10: queuing and stopping a job costs the
 * server one HTTP request and a transaction each, and on the loaded machine 10,000 of them took
 * 265 s (one endpoint x 10,000, measured once: it drained at 85 deliveries/s), while ten
 * endpoints share each event. Deliveries are in order per endpoint, so the ten endpoints drain
 * side by side, as ten receivers would. A run of real small syncs would cost more per event.
 *
 * Then, on the same live server, the receiver comes up (204) and:
 * - drain alone: deliveries per second from the first to the last accepted delivery, and every
 *   one there: the distinct delivery ids equal the positions of the log's `JobStopped` events;
 * - sync while draining: the same, with a full sync of the streams workspace (batchSize 1000)
 *   started at the moment the receiver comes up; its records/s against the same sync on a
 *   server prepared the same way but without the endpoint, and against the raw baseline
 *   (bench/baseline/plane-to-sqlite.ts); plus how much of the sync the drain covered.
 * The runs rotate their order each round.
 */
import Database from "better-sqlite3"
import { join } from "node:path"
import { startReceiver, startStallingSource } from "../load/webhook-receiver.js"
import type { Receiver } from "../load/webhook-receiver.js"
import { sleep } from "../lib/proc.js"
import type { Figure } from "../lib/report.js"
import { figure, median } from "../lib/report.js"
import type { JobView, Server } from "../lib/synclog.js"
import { createJob, getJob, startServer, waitForJob } from "../lib/synclog.js"
import type { Env } from "./streams.js"
import { baselineRun, spreadOf } from "./streams.js"

/** Concurrent API clients queuing and stopping the jobs that make the notifications. */
const PREP_CLIENTS = 4

interface WebhookRun {
  /** Time to queue the notifications (M jobs queued and stopped), ms. */
  readonly prepMs: number
  readonly deliveries: number
  /** Distinct delivery ids accepted, and whether they are exactly the expected ones. */
  readonly distinct: number
  readonly idsMatch: boolean
  readonly duplicates: number
  /** Deliveries refused (503) while the receiver was down: the retries of the head. */
  readonly refused: number
  /** Deliveries per second, first to last accepted. */
  readonly rate: number
  readonly drainMs: number
  readonly sync: { readonly job: JobView; readonly rate: number; readonly deliveredDuring: number; readonly coverage: number } | undefined
}

const post = async (url: string, body: unknown) => {
  const res = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) })
  const text = await res.text()
  if (!res.ok) throw new Error(`${res.status} ${url}: ${text.slice(0, 300)}`)
}

/** Queues `count` job.stopped notifications on a server whose `stall` integration is stalled. */
const queueNotifications = async (server: Server, count: number) => {
  const stalled = await createJob(server.url, { integrationId: "stall", type: "full_sync" })
  const deadline = Date.now() + 60_000
  while ((await getJob(server.url, stalled)).status !== "running") {
    if (Date.now() > deadline) throw new Error("the stalled job did not start")
    await sleep(20)
  }
  let left = count - 1
  const worker = async () => {
    while (left > 0) {
      left--
      const jobId = await createJob(server.url, { integrationId: "stall", type: "full_sync", options: { force: true } })
      await post(`${server.url}/api/sync/jobs/${jobId}/stop`, {})
    }
  }
  await Promise.all([...Array(PREP_CLIENTS).keys()].map(worker))
  await post(`${server.url}/api/sync/jobs/${stalled}/stop`, { graceful: false })
  const end = Date.now() + 60_000
  while ((await getJob(server.url, stalled)).status !== "stopped") {
    if (Date.now() > end) throw new Error("the stalled job did not stop")
    await sleep(20)
  }
}

/** Positions of the log's JobStopped events: the delivery ids the receiver is owed. */
const expectedIds = (dbPath: string): Array<number> => {
  const db = new Database(dbPath, { readonly: true, fileMustExist: true })
  try {
    return db.prepare("SELECT position FROM events WHERE type = 'JobStopped' ORDER BY position").pluck().all() as Array<number>
  } finally {
    db.close()
  }
}

const webhookRun = async (
  env: Env,
  options: {
    readonly name: string
    readonly workspace: string
    /** Endpoints, and events (notifications per endpoint): endpoints x events deliveries. */
    readonly endpoints: number
    readonly events: number
    readonly endpoint: boolean
    readonly sync: boolean
  }
): Promise<WebhookRun> => {
  const { ctx, sim, root } = env
  const receiver: Receiver = await startReceiver()
  const stall = await startStallingSource()
  const server = await startServer({
    dir: join(root, options.name),
    integrations: [
      { id: "bench", baseUrl: sim.url, workspaceSlug: options.workspace },
      { id: "stall", baseUrl: stall.url, workspaceSlug: "stall" }
    ],
    apiKey: sim.apiKey,
    // The stalled request must outlast the preparation (the default 30 s would fail it).
    engine: { requestTimeout: 3600 },
    notifications: options.endpoint
      ? [...Array(options.endpoints).keys()].map((k) => ({
        id: `bench-receiver-${k}`,
        url: `${receiver.url}?endpoint=${k}`,
        events: ["job.completed", "job.failed", "job.stopped"],
        integrationIds: ["stall"],
        retry: { baseDelay: 0.01, maxDelay: 0.1 }
      }))
      : [],
    mode: "bundle"
  })
  try {
    // The endpoint's outbox starts at the log's end when the server first sees it.
    await sleep(1000)
    const prepStarted = Date.now()
    await queueNotifications(server, options.events)
    const prepMs = Date.now() - prepStarted
    const deliveries = options.endpoints * options.events
    ctx.log(`  ${options.name}: ${options.events} events, ${options.endpoint ? deliveries : 0} deliveries queued in ${prepMs} ms${options.endpoint ? `, ${receiver.refused()} attempts refused meanwhile` : " (no endpoint)"}`)
    const refused = receiver.refused()
    receiver.up()
    const upAt = Date.now()
    const syncJob = options.sync
      ? createJob(server.url, { integrationId: "bench", type: "full_sync", options: { batchSize: 1000 } }).then((id) => waitForJob(server.url, id, 100))
      : undefined
    // Awaited below; if the drain fails first, that error is the one reported.
    syncJob?.catch(() => {})
    if (options.endpoint) await receiver.waitFor(deliveries, 20 * 60_000)
    const job = syncJob ? await syncJob : undefined
    const accepted = receiver.accepted
    const expected = options.endpoint ? expectedIds(server.dbPath) : []
    const distinct = new Set(accepted.map((a) => `${a.endpoint}/${a.id}`))
    const endpointKeys = [...Array(options.endpoints).keys()].map(String)
    const idsMatch = options.endpoint && expected.length === options.events && distinct.size === options.endpoints * expected.length &&
      endpointKeys.every((k) => expected.every((id) => distinct.has(`${k}/${id}`)))
    const first = accepted[0]?.at ?? upAt
    const last = accepted[accepted.length - 1]?.at ?? upAt
    const drainMs = last - first
    const rate = accepted.length > 1 ? (accepted.length - 1) / (drainMs / 1000) : 0
    let sync: WebhookRun["sync"]
    if (job) {
      const from = Date.parse(job.startedAt!)
      const to = Date.parse(job.completedAt!)
      const deliveredDuring = accepted.filter((a) => a.at >= from && a.at <= to).length
      const coverage = options.endpoint ? Math.max(0, Math.min(1, (Math.min(last, to) - Math.max(first, from)) / Math.max(1, to - from))) : 0
      sync = { job, rate: job.stats.processed / (job.duration! / 1000), deliveredDuring, coverage }
    }
    ctx.log(
      `  ${options.name}: ` +
        (options.endpoint
          ? `${accepted.length} deliveries (${distinct.size} distinct, ids ${idsMatch ? "=" : "!="} expected: ${options.endpoints} x ${expected.length}) in ${drainMs} ms: ${Math.round(rate)}/s`
          : "no endpoint") +
        (sync ? `; sync ${sync.job.stats.processed} records in ${sync.job.duration} ms (${Math.round(sync.rate)}/s)` : "") +
        (sync && options.endpoint ? `, ${sync.deliveredDuring} deliveries during it, drain covered ${Math.round(sync.coverage * 100)}% of it` : "")
    )
    return {
      prepMs,
      deliveries: accepted.length,
      distinct: distinct.size,
      idsMatch,
      duplicates: accepted.length - distinct.size,
      refused,
      rate,
      drainMs,
      sync
    }
  } finally {
    await server.stop()
    await receiver.close()
    await stall.close()
  }
}

/** N deliveries drained alone; a full sync while they drain, against the same sync without them and the raw baseline. */
export const webhooks = async (
  env: Env,
  sizes: { readonly workItems: number; readonly endpoints: number; readonly events: number; readonly rounds: number; readonly workspace: string }
): Promise<ReadonlyArray<Figure>> => {
  const { ctx } = env
  const n = sizes.endpoints * sizes.events
  const shape = `${sizes.endpoints} endpoint(s) x ${sizes.events}`
  ctx.log(`webhooks: ${n} deliveries queued (${shape}), drained alone and during a full sync of ${sizes.workItems} work items (batchSize 1000); the sync without an endpoint; the raw baseline; ${sizes.rounds} round(s)`)
  const drainAlone: Array<WebhookRun> = []
  const withSync: Array<WebhookRun> = []
  const syncAlone: Array<WebhookRun> = []
  const baseline: Array<number> = []
  for (let round = 0; round < sizes.rounds; round++) {
    const common = { workspace: sizes.workspace, endpoints: sizes.endpoints, events: sizes.events }
    const steps = [
      async () => drainAlone.push(await webhookRun(env, { ...common, name: `webhooks-drain-${round}`, endpoint: true, sync: false })),
      async () => withSync.push(await webhookRun(env, { ...common, name: `webhooks-sync-${round}`, endpoint: true, sync: true })),
      async () => syncAlone.push(await webhookRun(env, { ...common, name: `webhooks-nosync-${round}`, endpoint: false, sync: true })),
      async () => baseline.push(await baselineRun(env, sizes.workspace, `webhooks-baseline-${round}`))
    ]
    for (let i = 0; i < steps.length; i++) await steps[(i + round) % steps.length]!()
  }
  const rateWith = withSync.map((r) => r.sync!.rate)
  const rateWithout = syncAlone.map((r) => r.sync!.rate)
  const noise = Math.max(0.05, spreadOf(rateWithout))
  const allThere = [...drainAlone, ...withSync].every((r) => r.idsMatch)
  ctx.details.streamsWebhooks = {
    deliveries: n,
    endpoints: sizes.endpoints,
    events: sizes.events,
    workItems: sizes.workItems,
    rounds: sizes.rounds,
    noise,
    drainAlone: drainAlone.map(({ sync: _, ...r }) => r),
    withSync: withSync.map(({ sync, ...r }) => ({ ...r, syncMs: sync!.job.duration, syncRate: sync!.rate, deliveredDuringSync: sync!.deliveredDuring, coverage: sync!.coverage })),
    syncAlone: syncAlone.map((r) => ({ prepMs: r.prepMs, syncMs: r.sync!.job.duration, syncRate: r.sync!.rate })),
    baseline
  }
  return [
    figure({
      name: `webhook deliveries drained to a local receiver, ${n} queued (${shape}; first to last)`,
      unit: "deliveries/s",
      candidate: drainAlone.map((r) => r.rate),
      target: "(reported)",
      met: () => true
    }),
    figure({
      name: `webhook deliveries accepted, distinct (endpoint, id) (baseline: endpoints x JobStopped events in the log)`,
      unit: "deliveries",
      candidate: [...drainAlone, ...withSync].map((r) => r.distinct),
      baseline: [...drainAlone, ...withSync].map(() => n),
      target: "all, ids = the log's, every run",
      met: () => allThere
    }),
    figure({
      name: `webhook deliveries/s while a full sync of ${sizes.workItems / 1000}k work items runs (during the sync)`,
      unit: "deliveries/s",
      candidate: withSync.map((r) => r.sync!.deliveredDuring / (r.sync!.job.duration! / 1000)),
      baseline: drainAlone.map((r) => r.rate),
      target: `(reported; the drain covered ${Math.round(median(withSync.map((r) => r.sync!.coverage)) * 100)}% of the sync)`,
      met: () => true
    }),
    figure({
      name: `full sync while ${n} webhook deliveries drain (baseline: the same sync, no endpoint)`,
      unit: "records/s",
      candidate: rateWith,
      baseline: rateWithout,
      target: `within noise: >= ${(1 - noise).toFixed(2)} x`,
      met: (_c, ratio) => ratio !== null && ratio >= 1 - noise
    }),
    figure({
      name: `full sync while ${n} webhook deliveries drain (baseline: raw script)`,
      unit: "records/s",
      candidate: rateWith,
      baseline,
      target: `(reported; without deliveries: ${median(rateWithout.map((r, i) => r / baseline[i]!)).toFixed(2)} x)`,
      met: () => true
    })
  ]
}
