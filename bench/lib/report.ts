/**
 * Figures: medians of alternating runs, the ratio to the baseline, the target and whether it
 * was met; the machine they were measured on; `bench/results/latest.json` and a Markdown table.
 */
import { mkdirSync, writeFileSync } from "node:fs"
import { cpus, totalmem } from "node:os"
import { join } from "node:path"

export interface Figure {
  readonly name: string
  readonly unit: string
  /** Median of the candidate's runs, in `unit`. */
  readonly candidate: number
  /** Median of the baseline's runs, in `unit`; null where there is no baseline for the figure. */
  readonly baseline: number | null
  /** candidate / baseline (null without a baseline). */
  readonly ratio: number | null
  readonly target: string
  readonly met: boolean
}

export interface Machine {
  readonly cores: number
  readonly memoryBytes: number
  readonly node: string
  readonly cpuModel: string
  readonly platform: string
}

export const machine = (): Machine => ({
  cores: cpus().length,
  memoryBytes: totalmem(),
  node: process.version,
  cpuModel: cpus()[0]?.model ?? "unknown",
  platform: `${process.platform} ${process.arch}`
})

export const median = (xs: ReadonlyArray<number>): number => {
  if (xs.length === 0) return Number.NaN
  const s = [...xs].sort((a, b) => a - b)
  const mid = Math.floor(s.length / 2)
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2
}

export const round = (x: number, digits = 3) => {
  const f = 10 ** digits
  return Math.round(x * f) / f
}

/** A figure from candidate and baseline samples; `met` decides against the medians. */
export const figure = (options: {
  readonly name: string
  readonly unit: string
  readonly candidate: ReadonlyArray<number>
  readonly baseline?: ReadonlyArray<number> | undefined
  readonly target: string
  readonly met: (candidate: number, ratio: number | null, baseline: number | null) => boolean
}): Figure => {
  const candidate = median(options.candidate)
  const baseline = options.baseline !== undefined && options.baseline.length > 0 ? median(options.baseline) : null
  const ratio = baseline !== null && baseline !== 0 ? candidate / baseline : null
  return {
    name: options.name,
    unit: options.unit,
    candidate: round(candidate),
    baseline: baseline === null ? null : round(baseline),
    ratio: ratio === null ? null : round(ratio),
    target: options.target,
    met: options.met(candidate, ratio, baseline)
  }
}

/**
 * Runs candidate and baseline alternately, `rounds` times each, swapping who goes first every
 * round (ABBA) so slow drift of the machine (page cache, thermal, other tenants) hits both alike.
 */
export const alternate = async <A, B>(
  rounds: number,
  candidate: (round: number) => Promise<A>,
  baseline: (round: number) => Promise<B>,
  log: (message: string) => void = () => {}
): Promise<{ candidate: Array<A>; baseline: Array<B> }> => {
  const a: Array<A> = []
  const b: Array<B> = []
  for (let i = 0; i < rounds; i++) {
    const runCandidate = async () => {
      a.push(await candidate(i))
      log(`  round ${i + 1}/${rounds}: candidate done`)
    }
    const runBaseline = async () => {
      b.push(await baseline(i))
      log(`  round ${i + 1}/${rounds}: baseline done`)
    }
    if (i % 2 === 0) {
      await runCandidate()
      await runBaseline()
    } else {
      await runBaseline()
      await runCandidate()
    }
  }
  return { candidate: a, baseline: b }
}

const fmt = (x: number | null) =>
  x === null ? "–" : Math.abs(x) >= 1000 ? Math.round(x).toLocaleString("en-US") : String(round(x, 2))

export const markdownTable = (figures: ReadonlyArray<Figure>): string =>
  [
    "| figure | unit | synclog | baseline | ratio | target | met |",
    "|---|---|---:|---:|---:|---|:---:|",
    ...figures.map((f) =>
      `| ${f.name} | ${f.unit} | ${fmt(f.candidate)} | ${fmt(f.baseline)} | ${f.ratio === null ? "–" : round(f.ratio, 2)} | ${f.target} | ${f.met ? "yes" : "**no**"} |`
    )
  ].join("\n")

export const consoleTable = (figures: ReadonlyArray<Figure>): string => {
  const rows = figures.map((f) => [
    f.name,
    f.unit,
    fmt(f.candidate),
    fmt(f.baseline),
    f.ratio === null ? "-" : String(round(f.ratio, 2)),
    f.target,
    f.met ? "yes" : "NO"
  ])
  const head = ["figure", "unit", "synclog", "baseline", "ratio", "target", "met"]
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)))
  const line = (cells: ReadonlyArray<string>) => cells.map((c, i) => (i >= 2 && i <= 4 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join("  ")
  return [line(head), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)].join("\n")
}

export const RESULTS_DIR = join(import.meta.dirname, "..", "results")

export const writeResults = (
  file: string,
  figures: ReadonlyArray<Figure>,
  extra: { readonly date: string; readonly mode: string; readonly details: Record<string, unknown> }
) => {
  mkdirSync(RESULTS_DIR, { recursive: true })
  writeFileSync(
    join(RESULTS_DIR, file),
    JSON.stringify({ machine: machine(), date: extra.date, mode: extra.mode, benchmarks: figures, details: extra.details }, null, 2) + "\n"
  )
}
