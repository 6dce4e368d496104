import Database from "better-sqlite3"
import { createHash } from "node:crypto"
const db = new Database(process.argv[2]!)
db.pragma("journal_mode = WAL")
db.pragma("synchronous = NORMAL")
db.exec(`DROP TABLE IF EXISTS records; CREATE TABLE records (entity TEXT NOT NULL, id TEXT NOT NULL, project_id TEXT, payload TEXT NOT NULL, hash TEXT NOT NULL, PRIMARY KEY (entity, id)) WITHOUT ROWID`)
const up = db.prepare(`INSERT INTO records VALUES (?,?,?,?,?) ON CONFLICT (entity,id) DO UPDATE SET payload=excluded.payload`)
const payload = JSON.stringify({ name: "x".repeat(1500) })
const t0 = performance.now()
for (let p = 0; p < 100; p++) {
  db.transaction(() => { for (let i = 0; i < 1000; i++) { const id = crypto.randomUUID(); up.run("w", id, "p", payload, createHash("sha1").update(payload).digest("base64url")) } })()
}
console.log(performance.now() - t0)
