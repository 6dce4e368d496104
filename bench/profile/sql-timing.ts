/**
 * Per-statement SQLite timing for a profiled server run (a CPU profile charges all of SQLite
 * to one function of @effect/sql-sqlite-node, whatever the statement). Loaded into the server
 * process with `--import ./bench/profile/sql-timing.ts` after tsx; it wraps better-sqlite3's
 * Statement methods (no change to synclog) and, when the process exits, writes
 * `{ "<sql>": { calls, ms, rows } }` to the file named by SYNCLOG_BENCH_SQL_TIMING.
 */
import { mkdirSync, writeFileSync } from "node:fs"
import { createRequire } from "node:module"
import { dirname, join } from "node:path"

const out = process.env.SYNCLOG_BENCH_SQL_TIMING
if (out !== undefined && out !== "") {
  const require = createRequire(join(process.cwd(), "package.json"))
  const Database = require("better-sqlite3") as { prototype: { prepare: (sql: string) => object } }
  const stats = new Map<string, { calls: number; ms: number; rows: number }>()
  const record = (sql: string, ms: number, rows: number) => {
    // One entry per statement shape: collapse the placeholder lists of multi-row statements.
    const key = sql.replace(/\s+/g, " ").replace(/(\(\?(, ?\?)*\)(, ?)?)+/g, "(?…)").replace(/(\?, ?){3,}\?/g, "?…").slice(0, 160)
    const entry = stats.get(key) ?? { calls: 0, ms: 0, rows: 0 }
    entry.calls++
    entry.ms += ms
    entry.rows += rows
    stats.set(key, entry)
  }
  let patched = false
  const prepare = Database.prototype.prepare
  Database.prototype.prepare = function (this: unknown, sql: string) {
    const statement = prepare.call(this, sql) as Record<string, unknown>
    if (!patched) {
      patched = true
      const proto = Object.getPrototypeOf(statement) as Record<string, (...args: Array<unknown>) => unknown>
      for (const method of ["run", "all", "get"] as const) {
        const original = proto[method]!
        proto[method] = function (this: { source: string }, ...args: Array<unknown>) {
          const started = performance.now()
          const result = original.apply(this, args)
          const rows = Array.isArray(result) ? result.length : method === "run" ? Number((result as { changes?: number }).changes ?? 0) : 1
          record(this.source, performance.now() - started, rows)
          return result
        }
      }
    }
    return statement
  }
  process.once("exit", () => {
    const sorted = [...stats.entries()].sort((a, b) => b[1].ms - a[1].ms)
    mkdirSync(dirname(out), { recursive: true })
    writeFileSync(out, JSON.stringify(Object.fromEntries(sorted.map(([k, v]) => [k, { ...v, ms: Math.round(v.ms) }])), null, 2))
  })
}
