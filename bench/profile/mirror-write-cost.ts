/**
 * Attribution experiment (not part of `npm run bench`): where does the SQLite time of a full
 * sync go? It fetches every work item of a simulated workspace once, then writes the same
 * pages (one transaction per 1000-record page, sha1 per payload, WAL + synchronous=NORMAL) into
 * fresh databases shaped step by step from the baseline's table to synclog's `mirror_records`
 * as migration 0001 created it (WITHOUT ROWID, two secondary indexes; 0003 made it a rowid
 * table, the last step here, and 0004-0005 dropped the two indexes since) with the statements
 * `Mirror.apply` issued (src/mirror/Mirror.ts): the lookup of existing rows in chunks of 500,
 * then multi-row upserts of 250. Only better-sqlite3, no Effect: the differences are the
 * schema's and the statements'.
 *
 *   node --import tsx bench/profile/mirror-write-cost.ts [work items = 100000] [db file = $TMPDIR/mirror-write-cost.db]
 */
import Database from "better-sqlite3"
import { createHash } from "node:crypto"
import { rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { startSimulator } from "../../src/simulator/server.js"

type Row = Record<string, unknown> & { readonly id: string; readonly project: string; readonly updated_at: string }

const workItems = Number(process.argv[2] ?? 100_000)
const file = process.argv[3] ?? join(tmpdir(), "mirror-write-cost.db")

const sim = await startSimulator({ workspaces: [{ slug: "w", projects: 20, workItems, seed: 1 }] })
const get = async (path: string) =>
  (await (await fetch(`${sim.url}/api/v1/workspaces/w/${path}`, { headers: { "X-API-Key": sim.apiKey } })).json()) as {
    results: Array<Row>
    next_page_results: boolean
  }
const pages: Array<Array<Row>> = []
for (const project of (await get("projects/?per_page=1000")).results) {
  for (let page = 0; ; page++) {
    const body = await get(`projects/${project.id}/work-items/?per_page=1000&cursor=1000:${page}:0`)
    pages.push(body.results)
    if (!body.next_page_results) break
  }
}
await sim.close()

const open = () => {
  for (const suffix of ["", "-wal", "-shm"]) rmSync(`${file}${suffix}`, { force: true })
  const db = new Database(file)
  db.pragma("journal_mode = WAL")
  db.pragma("synchronous = NORMAL")
  return db
}
const sha1 = (text: string) => createHash("sha1").update(text).digest("base64url")
const time = (name: string, body: () => void) => {
  const started = performance.now()
  body()
  console.log(`${name.padEnd(62)} ${String(Math.round(performance.now() - started)).padStart(6)} ms`)
}

console.log(`${pages.reduce((n, p) => n + p.length, 0)} work items in ${pages.length} pages\n`)

// 1-2: the baseline's table, as a rowid table (what a plain script writes) and WITHOUT ROWID.
for (const [name, suffix] of [["baseline table (rowid, PRIMARY KEY (entity, id))", ""], ["same table WITHOUT ROWID", " WITHOUT ROWID"]] as const) {
  const db = open()
  db.exec(`CREATE TABLE r (entity TEXT NOT NULL, id TEXT NOT NULL, project_id TEXT, payload TEXT NOT NULL, hash TEXT NOT NULL,
    PRIMARY KEY (entity, id))${suffix}`)
  const upsert = db.prepare(`INSERT INTO r VALUES (?, ?, ?, ?, ?) ON CONFLICT (entity, id) DO UPDATE SET
    project_id = excluded.project_id, payload = excluded.payload, hash = excluded.hash`)
  time(name, () => {
    for (const page of pages) {
      db.transaction(() => {
        for (const r of page) {
          const json = JSON.stringify(r)
          upsert.run("work_items", r.id, r.project, json, sha1(json))
        }
      })()
    }
  })
  db.close()
}

// 3-6: synclog's mirror_records, adding its indexes, then its statements.
const MIRROR = `CREATE TABLE mirror_records (integration_id TEXT NOT NULL, entity TEXT NOT NULL, source_id TEXT NOT NULL,
  project_id TEXT, payload TEXT NOT NULL, hash TEXT NOT NULL, source_updated_at TEXT, first_seen_at TEXT NOT NULL,
  last_seen_at TEXT NOT NULL, last_seen_job TEXT NOT NULL, archived_at TEXT, deleted_at TEXT,
  PRIMARY KEY (integration_id, entity, source_id))`
const INDEXES = [
  "CREATE INDEX mirror_by_project ON mirror_records (integration_id, entity, project_id)",
  "CREATE INDEX mirror_by_updated ON mirror_records (integration_id, entity, source_updated_at, source_id)"
]
const COLUMNS = "(integration_id, entity, source_id, project_id, payload, hash, source_updated_at, first_seen_at, last_seen_at, last_seen_job, archived_at, deleted_at)"
const steps = [
  { name: "mirror_records WITHOUT ROWID, PK only, 250-row upserts", withoutRowid: true, indexes: false, lookup: false },
  { name: "+ mirror_by_project and mirror_by_updated (= synclog's schema)", withoutRowid: true, indexes: true, lookup: false },
  { name: "+ SELECT of existing rows per 500 ids (= Mirror.apply)", withoutRowid: true, indexes: true, lookup: true },
  { name: "same statements, mirror_records as a rowid table", withoutRowid: false, indexes: true, lookup: true }
]
for (const step of steps) {
  const db = open()
  db.exec(`${MIRROR}${step.withoutRowid ? " WITHOUT ROWID" : ""}`)
  if (step.indexes) for (const ddl of INDEXES) db.exec(ddl)
  // Prepared once per row count, as synclog's prepare cache does.
  const cache = new Map<string, Database.Statement>()
  const prepared = (sql: string) => {
    let statement = cache.get(sql)
    if (!statement) cache.set(sql, (statement = db.prepare(sql)))
    return statement
  }
  const upsert = (n: number) =>
    prepared(`INSERT INTO mirror_records ${COLUMNS} VALUES ${Array(n).fill("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)").join(", ")}
      ON CONFLICT (integration_id, entity, source_id) DO UPDATE SET project_id = excluded.project_id, payload = excluded.payload,
        hash = excluded.hash, source_updated_at = excluded.source_updated_at, last_seen_at = excluded.last_seen_at,
        last_seen_job = excluded.last_seen_job, archived_at = excluded.archived_at, deleted_at = NULL`)
  const lookup = (n: number) =>
    prepared(`SELECT source_id, hash, archived_at, deleted_at FROM mirror_records
      WHERE integration_id = ? AND entity = ? AND source_id IN (${Array(n).fill("?").join(", ")})`)
  const at = new Date().toISOString()
  time(step.name, () => {
    for (const page of pages) {
      db.transaction(() => {
        if (step.lookup) {
          for (let i = 0; i < page.length; i += 500) {
            const ids = page.slice(i, i + 500).map((r) => r.id)
            lookup(ids.length).all("bench", "work_items", ...ids)
          }
        }
        for (let i = 0; i < page.length; i += 250) {
          const part = page.slice(i, i + 250)
          const params: Array<unknown> = []
          for (const r of part) {
            const json = JSON.stringify(r)
            params.push("bench", "work_items", r.id, r.project, json, sha1(json), r.updated_at, at, at, "job", null, null)
          }
          upsert(part.length).run(...params)
        }
      })()
    }
  })
  db.close()
}
for (const suffix of ["", "-wal", "-shm"]) rmSync(`${file}${suffix}`, { force: true })
