/**
 * Baseline for the full-sync benchmarks: the plainest honest way to copy a Plane workspace into
 * SQLite. It walks the same v1 endpoints synclog walks (projects, then per project states,
 * labels, cycles, modules and work items), pages with `per_page=1000&cursor=1000:N:0` until
 * `next_page_results` is false, and upserts every record (id, project, payload JSON, a sha1 of
 * the payload, as synclog keeps) with better-sqlite3, one transaction per page. The database
 * has the same durability settings as synclog's (WAL, synchronous=NORMAL). No events, no
 * views, no Effect, no validation: this is the floor synclog's bookkeeping is measured against.
 *
 *   node --import tsx bench/baseline/plane-to-sqlite.ts <baseUrl> <workspace> <apiKey> <db file>
 *
 * Prints `{"records", "pages", "ms", "peakRssBytes"}` (ms = first request to last commit).
 */
import Database from "better-sqlite3"
import { createHash } from "node:crypto"

const [baseUrl, workspace, apiKey, dbFile] = process.argv.slice(2)
if (!baseUrl || !workspace || !apiKey || !dbFile) {
  console.error("usage: plane-to-sqlite.ts <baseUrl> <workspace> <apiKey> <db file>")
  process.exit(2)
}

const db = new Database(dbFile)
db.pragma("journal_mode = WAL")
db.pragma("synchronous = NORMAL")
// The table a plain script would create: an ordinary rowid table keyed by (entity, id).
db.exec(`CREATE TABLE IF NOT EXISTS records (
  entity TEXT NOT NULL,
  id TEXT NOT NULL,
  project_id TEXT,
  payload TEXT NOT NULL,
  hash TEXT NOT NULL,
  PRIMARY KEY (entity, id)
)`)
const upsert = db.prepare(`INSERT INTO records (entity, id, project_id, payload, hash) VALUES (?, ?, ?, ?, ?)
  ON CONFLICT (entity, id) DO UPDATE SET project_id = excluded.project_id, payload = excluded.payload, hash = excluded.hash`)

interface Page {
  readonly results: ReadonlyArray<Record<string, unknown>>
  readonly next_page_results: boolean
}

const writePage = db.transaction((entity: string, rows: ReadonlyArray<Record<string, unknown>>) => {
  for (const row of rows) {
    const payload = JSON.stringify(row)
    const hash = createHash("sha1").update(payload).digest("base64url")
    upsert.run(entity, String(row.id), typeof row.project === "string" ? row.project : null, payload, hash)
  }
})

const root = `${baseUrl.replace(/\/+$/, "")}/api/v1/workspaces/${workspace}`
let records = 0
let pages = 0

/** Walks one list to its end; returns every row of it (only the projects list is kept). */
const walk = async (entity: string, path: string, keep: boolean): Promise<Array<Record<string, unknown>>> => {
  const kept: Array<Record<string, unknown>> = []
  for (let page = 0; ; page++) {
    const res = await fetch(`${root}/${path}?per_page=1000&cursor=1000:${page}:0`, {
      headers: { "X-API-Key": apiKey, accept: "application/json" }
    })
    if (!res.ok) throw new Error(`${res.status} on ${path}`)
    const body = (await res.json()) as Page
    writePage(entity, body.results)
    records += body.results.length
    pages++
    if (keep) kept.push(...body.results)
    if (!body.next_page_results) return kept
  }
}

const started = performance.now()
const projects = await walk("projects", "projects/", true)
for (const project of projects) {
  const id = String(project.id)
  for (const [entity, segment] of [
    ["states", "states"],
    ["labels", "labels"],
    ["cycles", "cycles"],
    ["modules", "modules"],
    ["work_items", "work-items"]
  ] as const) {
    await walk(entity, `projects/${id}/${segment}/`, false)
  }
}
const ms = performance.now() - started
db.close()
console.log(JSON.stringify({ records, pages, ms, peakRssBytes: process.resourceUsage().maxRSS * 1024 }))
