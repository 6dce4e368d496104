/**
 * Baseline for the API-under-load benchmark: a minimal `node:http` server answering the same
 * three reads as synclog, straight from better-sqlite3 against the same database file, with
 * the same SQL as synclog's views (src/eventlog/Views.ts, src/engine/JobLog.ts: the list's
 * total from job_counts, every integration's current job in one query) and the same response
 * shapes (each stored doc is parsed and re-shaped, as the presenters do). No framework, no
 * schema validation, no Effect: the floor for serving these views.
 *
 *   GET /api/sync/jobs?limit=&offset=     jobs newest first + total
 *   GET /api/sync/jobs/:jobId             one job + its latest 100 log lines
 *   GET /api/sync/integrations/status     every integration + its current job
 *
 *   node --import tsx bench/baseline/api-server.ts <db file>
 *
 * Prints `{"url"}` once it listens; stops on SIGTERM.
 */
import Database from "better-sqlite3"
import { createServer } from "node:http"
import type { ServerResponse } from "node:http"

const file = process.argv[2]
if (!file) {
  console.error("usage: api-server.ts <db file>")
  process.exit(2)
}
const db = new Database(file)
db.pragma("journal_mode = WAL")

const listJobs = db.prepare("SELECT doc FROM jobs WHERE deleted = 0 ORDER BY id DESC LIMIT ? OFFSET ?").pluck()
// `total` as synclog's views get it: from the projection's job_counts when the schema has it
// (migration 0002), else by counting the history.
const hasCounts = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'job_counts'").get() !== undefined
const countJobs = hasCounts
  ? db.prepare("SELECT COALESCE(SUM(n), 0) AS n FROM job_counts").pluck()
  : db.prepare("SELECT COUNT(*) AS n FROM jobs WHERE deleted = 0").pluck()
const oneJob = db.prepare("SELECT doc FROM jobs WHERE id = ? AND deleted = 0").pluck()
const latestLogs = db.prepare(`SELECT timestamp, level, message FROM
  (SELECT id, timestamp, level, message FROM job_logs WHERE job_id = ? ORDER BY id DESC LIMIT 100) ORDER BY id`)
const integrations = db.prepare("SELECT doc FROM integrations ORDER BY id").pluck()
// Every integration's current job in one query (running or stopping first, else the oldest queued).
const activeJobs = db.prepare(`SELECT doc FROM jobs WHERE status IN ('running', 'stopping', 'queued')
  ORDER BY CASE status WHEN 'queued' THEN 1 ELSE 0 END, queued_at`).pluck()

type Doc = Record<string, unknown> & {
  readonly status: string
  readonly startedAt: string | null
  readonly completedAt: string | null
}

const TERMINAL = new Set(["completed", "failed", "stopped"])

/** The fields synclog's presentJob shows (same omissions of fields that do not apply). */
const presentJob = (doc: Doc) => {
  const live = doc.status === "running" || doc.status === "stopping"
  const duration = doc.completedAt !== null && doc.startedAt !== null ? Date.parse(doc.completedAt) - Date.parse(doc.startedAt) : null
  return {
    id: doc.id,
    integrationId: doc.integrationId,
    type: doc.type,
    status: doc.status,
    progress: doc.progress,
    ...(live && doc.stage !== null ? { stage: doc.stage } : {}),
    trigger: doc.trigger,
    attempt: doc.attempt,
    createdAt: doc.createdAt,
    ...(doc.startedAt !== null ? { startedAt: doc.startedAt } : {}),
    ...(doc.completedAt !== null ? { completedAt: doc.completedAt } : {}),
    ...(duration !== null ? { duration } : {}),
    estimatedDuration: doc.estimatedDuration,
    stats: doc.stats,
    ...(TERMINAL.has(doc.status) ? { result: doc.stats } : {}),
    ...(doc.status === "failed" ? { error: doc.error } : {}),
    options: doc.options
  }
}

interface IntegrationDoc {
  readonly id: string
  readonly settings: { readonly name: string; readonly connector: string; readonly enabled: boolean; readonly syncInterval: number; readonly fullSyncInterval: number | null }
  readonly active: boolean
  readonly nextRunAt: string | null
  readonly lastSync: string | null
  readonly lastSuccessfulSync: string | null
  readonly intervalOverride: number | null
  readonly stats: { readonly totalJobs: number; readonly completed: number; readonly failed: number; readonly completedDurationMs: number }
  readonly circuit: { readonly state: string; readonly consecutiveFailures: number; readonly openedAt: string | null; readonly probeAt: string | null; readonly reason: string | null }
}

const presentIntegration = (doc: IntegrationDoc, current: Doc | undefined) => {
  const finished = doc.stats.completed + doc.stats.failed
  const status = !doc.settings.enabled ? "disabled" : doc.circuit.state !== "closed" ? "circuit_open" : doc.active ? "active" : "stopped"
  return {
    integrationId: doc.id,
    name: doc.settings.name,
    type: doc.settings.connector,
    status,
    lastSync: doc.lastSync,
    lastSuccessfulSync: doc.lastSuccessfulSync,
    nextSync: status === "active" ? doc.nextRunAt : null,
    syncInterval: doc.intervalOverride ?? doc.settings.syncInterval,
    fullSyncInterval: doc.settings.fullSyncInterval,
    currentJob: current ? { id: current.id, status: current.status, progress: current.progress } : null,
    stats: {
      totalJobs: doc.stats.totalJobs,
      successRate: finished === 0 ? null : Math.round((doc.stats.completed / finished) * 10_000) / 10_000,
      averageDuration: doc.stats.completed === 0 ? null : Math.round(doc.stats.completedDurationMs / doc.stats.completed)
    },
    circuitBreaker: {
      state: doc.circuit.state,
      consecutiveFailures: doc.circuit.consecutiveFailures,
      openedAt: doc.circuit.openedAt,
      nextProbeAt: doc.circuit.state === "open" ? doc.circuit.probeAt : null,
      reason: doc.circuit.reason
    },
    rateLimit: null
  }
}

const send = (res: ServerResponse, status: number, body: unknown) => {
  const text = JSON.stringify(body)
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) })
  res.end(text)
}

const server = createServer((req, res) => {
  const url = new URL(req.url ?? "/", "http://127.0.0.1")
  const path = url.pathname
  if (path === "/api/sync/jobs") {
    const limit = Number(url.searchParams.get("limit") ?? 20)
    const offset = Number(url.searchParams.get("offset") ?? 0)
    const docs = (listJobs.all(limit, offset) as Array<string>).map((d) => presentJob(JSON.parse(d) as Doc))
    return send(res, 200, { jobs: docs, total: countJobs.get() as number })
  }
  if (path === "/api/sync/integrations/status") {
    const docs = (integrations.all() as Array<string>).map((d) => JSON.parse(d) as IntegrationDoc)
    const current = new Map<string, Doc>()
    for (const text of activeJobs.all() as Array<string>) {
      const job = JSON.parse(text) as Doc
      if (!current.has(job.integrationId as string)) current.set(job.integrationId as string, job)
    }
    return send(res, 200, { integrations: docs.map((doc) => presentIntegration(doc, current.get(doc.id))) })
  }
  if (path.startsWith("/api/sync/jobs/")) {
    const jobId = decodeURIComponent(path.slice("/api/sync/jobs/".length))
    const doc = oneJob.get(jobId) as string | undefined
    if (doc === undefined) return send(res, 404, { success: false, error: "JobNotFound", message: `No job ${jobId}` })
    return send(res, 200, { ...presentJob(JSON.parse(doc) as Doc), logs: latestLogs.all(jobId) })
  }
  send(res, 404, { success: false, error: "NotFound", message: "no route" })
})

server.listen(0, "127.0.0.1", () => {
  const address = server.address()
  const port = typeof address === "object" && address !== null ? address.port : 0
  console.log(JSON.stringify({ url: `http://127.0.0.1:${port}` }))
})
process.once("SIGTERM", () => {
  server.close(() => process.exit(0))
  server.closeAllConnections()
})
