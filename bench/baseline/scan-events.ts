/**
 * Baseline for the replay benchmark: the least work a replay can do, a raw better-sqlite3 scan
 * of the events table in position order that JSON.parses every payload (and touches one field,
 * so the parse cannot be optimised away). No fold, no views, no Effect.
 *
 *   node --import tsx bench/baseline/scan-events.ts <db file>
 *
 * Prints `{"events", "ms", "eventsPerSecond"}` (ms = the scan alone, as `replay` times `rebuild` alone).
 */
import Database from "better-sqlite3"

const file = process.argv[2]
if (!file) {
  console.error("usage: scan-events.ts <db file>")
  process.exit(2)
}
const db = new Database(file, { readonly: true })
const started = performance.now()
const rows = db.prepare("SELECT position, type, schema_version, payload FROM events ORDER BY position").iterate() as IterableIterator<{
  position: number
  type: string
  schema_version: number
  payload: string
}>
let events = 0
let tags = 0
for (const row of rows) {
  const event = JSON.parse(row.payload) as { _tag?: string }
  if (event._tag === row.type) tags++
  events++
}
const ms = performance.now() - started
db.close()
if (tags !== events) throw new Error(`${events - tags} payloads whose _tag differs from their type column`)
console.log(JSON.stringify({ events, ms, eventsPerSecond: Math.round(events / (ms / 1000)) }))
