/** What every suite gets from the driver: the size of the run, a scratch folder, a logger. */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { formatSummary, readProfiles, summarize } from "../profile/summarize.js"
import type { Figure } from "./report.js"
import { RESULTS_DIR } from "./report.js"

export interface Context {
  /** `--quick`: small sizes, fewer rounds, no profiles; under two minutes in all. */
  readonly quick: boolean
  /** Take a CPU profile of the candidate (an extra, unmeasured run) and save its summary. */
  readonly profile: boolean
  /** A fresh scratch folder for this suite. */
  readonly dir: (name: string) => string
  readonly log: (message: string) => void
  /** Extra, per-run facts for latest.json's `details` (not figures). */
  readonly details: Record<string, unknown>
}

export type Suite = (ctx: Context) => Promise<ReadonlyArray<Figure>>

export const makeContext = (options: { quick: boolean; profile: boolean; root: string }): Context => {
  const started = Date.now()
  return {
    quick: options.quick,
    profile: options.profile,
    dir: (name) => {
      mkdirSync(options.root, { recursive: true })
      return mkdtempSync(join(options.root, `${name}-`))
    },
    log: (message) => console.log(`[${((Date.now() - started) / 1000).toFixed(0).padStart(4)} s] ${message}`),
    details: {}
  }
}

/** Summarises the profiles in `profileDir` (the busiest thread) into results/profiles/<name>.txt. */
export const saveProfileSummary = (name: string, profileDir: string, note: string): string => {
  const profiles = readProfiles(profileDir).map((p) => summarize(p, 30))
  // tsx's loader runs in a worker thread with its own profile: keep the busiest one.
  const busiest = profiles.sort(
    (a, b) => b.totalMs - (b.areas.find((r) => r.name === "(idle)")?.ms ?? 0) - (a.totalMs - (a.areas.find((r) => r.name === "(idle)")?.ms ?? 0))
  )[0]
  if (!busiest) return "(no profile written)"
  const text = `${note}\n\n${formatSummary(busiest)}\n${sqlTable(join(profileDir, "sql-timing.json"))}`
  const dir = join(RESULTS_DIR, "profiles")
  mkdirSync(dir, { recursive: true })
  writeFileSync(join(dir, `${name}.txt`), text)
  return text
}

/** The per-statement SQLite timing of a profiled run (bench/profile/sql-timing.ts), top 15. */
const sqlTable = (file: string): string => {
  if (!existsSync(file)) return ""
  const stats = JSON.parse(readFileSync(file, "utf8")) as Record<string, { calls: number; ms: number; rows: number }>
  const rows = Object.entries(stats).slice(0, 15)
  const total = Object.values(stats).reduce((sum, s) => sum + s.ms, 0)
  return [
    "",
    `SQLite time by statement (better-sqlite3 calls, ${Math.round(total)} ms in all):`,
    ...rows.map(([sql, s]) => `  ${String(s.ms).padStart(7)} ms  ${String(s.calls).padStart(7)} calls  ${String(s.rows).padStart(9)} rows  ${sql}`)
  ].join("\n") + "\n"
}
