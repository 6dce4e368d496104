/**
 * Summarises V8 CPU profiles (`node --cpu-prof`): self time per function and per source file,
 * top N, with the share of the sampled time. `(program)`, `(idle)` and `(garbage collector)`
 * are V8's own buckets: idle is time the event loop waited (for I/O, usually the source).
 *
 *   node --import tsx bench/profile/summarize.ts <file.cpuprofile | folder> [--top 25]
 */
import { readdirSync, readFileSync, statSync } from "node:fs"
import { join, relative } from "node:path"
import { tsxSourceMapper } from "./sourcemap.js"

interface ProfileNode {
  readonly id: number
  readonly callFrame: {
    readonly functionName: string
    readonly url: string
    readonly lineNumber: number
    readonly columnNumber: number
  }
  readonly children?: ReadonlyArray<number>
}

interface Profile {
  readonly nodes: ReadonlyArray<ProfileNode>
  readonly samples: ReadonlyArray<number>
  readonly timeDeltas: ReadonlyArray<number>
  readonly startTime: number
  readonly endTime: number
}

export interface Row {
  readonly name: string
  readonly ms: number
  readonly share: number
}

export interface Summary {
  readonly totalMs: number
  readonly functions: ReadonlyArray<Row>
  readonly files: ReadonlyArray<Row>
  /** Self time grouped by area: synclog's src/ folders, node_modules packages, node internals. */
  readonly areas: ReadonlyArray<Row>
  /** Inclusive time of synclog's own functions (src/): self time plus everything they called. */
  readonly inclusive: ReadonlyArray<Row>
}

const ROOT = join(import.meta.dirname, "..", "..")

const shortUrl = (url: string): string => {
  if (url === "") return "(native)"
  const path = url.startsWith("file://") ? url.slice("file://".length) : url
  return path.startsWith(ROOT) ? relative(ROOT, path) : path
}

const areaOf = (url: string): string => {
  const file = shortUrl(url)
  if (file === "(native)") return "(native / V8)"
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(file)
  if (pkg) return pkg[1]!
  if (file.startsWith("src/")) return file.split("/").slice(0, 2).join("/")
  if (file.startsWith("node:")) return "node internals"
  return file.split("/")[0]!
}

const top = (map: Map<string, number>, total: number, n: number): Array<Row> =>
  [...map.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([name, ms]) => ({ name, ms: Math.round(ms), share: total > 0 ? ms / total : 0 }))

/** Self time of every node, from the samples (each sample's delta is charged to its node). */
export const summarize = (profile: Profile, n = 25): Summary => {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]))
  const self = new Map<number, number>()
  for (let i = 0; i < profile.samples.length; i++) {
    const delta = (profile.timeDeltas[i + 1] ?? 0) / 1000
    self.set(profile.samples[i]!, (self.get(profile.samples[i]!) ?? 0) + delta)
  }
  const mapper = tsxSourceMapper()
  const sourceLines = new Map<string, Array<string>>()
  /** `name src/file.ts:LINE  source text` for our TypeScript; generated position otherwise. */
  const label = (frame: ProfileNode["callFrame"]): string => {
    const fn = frame.functionName || "(anonymous)"
    if (frame.url === "") return fn
    const path = frame.url.startsWith("file://") ? frame.url.slice("file://".length) : frame.url
    const line = path.endsWith(".ts") ? mapper.lineOf(path, frame.lineNumber, frame.columnNumber) : undefined
    if (line === undefined) return `${fn} ${shortUrl(frame.url)}:${frame.lineNumber + 1}`
    let text = sourceLines.get(path)
    if (!text) {
      text = readFileSync(path, "utf8").split("\n")
      sourceLines.set(path, text)
    }
    return `${fn} ${shortUrl(frame.url)}:${line}  ${(text[line - 1] ?? "").trim().slice(0, 70)}`
  }
  const functions = new Map<string, number>()
  const files = new Map<string, number>()
  const areas = new Map<string, number>()
  // Inclusive time: each sample counts once for every distinct src/ function on its stack.
  const parent = new Map<number, number>()
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id)
  const labels = new Map<number, string | null>()
  const srcLabel = (id: number): string | null => {
    let cached = labels.get(id)
    if (cached === undefined) {
      const frame = byId.get(id)!.callFrame
      cached = frame.url.includes("/src/") && !frame.url.includes("node_modules") ? label(frame) : null
      labels.set(id, cached)
    }
    return cached
  }
  const inclusive = new Map<string, number>()
  for (const [id, ms] of self) {
    const seen = new Set<string>()
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const l = srcLabel(at)
      if (l !== null && !seen.has(l)) {
        seen.add(l)
        inclusive.set(l, (inclusive.get(l) ?? 0) + ms)
      }
    }
  }
  let total = 0
  for (const [id, ms] of self) {
    const frame = byId.get(id)!.callFrame
    total += ms
    const fn = frame.functionName || "(anonymous)"
    const key = label(frame)
    functions.set(key, (functions.get(key) ?? 0) + ms)
    const file = frame.url === "" ? fn : shortUrl(frame.url)
    files.set(file, (files.get(file) ?? 0) + ms)
    const area = frame.url === "" && fn.startsWith("(") ? fn : areaOf(frame.url)
    areas.set(area, (areas.get(area) ?? 0) + ms)
  }
  return {
    totalMs: Math.round(total),
    functions: top(functions, total, n),
    files: top(files, total, n),
    areas: top(areas, total, n),
    inclusive: top(inclusive, total, n)
  }
}

export const readProfiles = (path: string): Array<Profile> =>
  statSync(path).isDirectory()
    ? readdirSync(path)
      .filter((f) => f.endsWith(".cpuprofile"))
      .map((f) => JSON.parse(readFileSync(join(path, f), "utf8")) as Profile)
    : [JSON.parse(readFileSync(path, "utf8")) as Profile]

export const formatSummary = (summary: Summary): string => {
  const table = (title: string, rows: ReadonlyArray<Row>) =>
    [
      `${title}`,
      ...rows.map((r) => `  ${(r.share * 100).toFixed(1).padStart(5)}%  ${String(r.ms).padStart(7)} ms  ${r.name}`)
    ].join("\n")
  return [
    `sampled ${summary.totalMs} ms`,
    table("self time by area:", summary.areas),
    table("self time by file:", summary.files),
    table("self time by function:", summary.functions),
    table("inclusive time of synclog's functions (src/; self + callees):", summary.inclusive)
  ].join("\n\n")
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const path = process.argv[2]
  if (!path) {
    console.error("usage: summarize.ts <file.cpuprofile | folder> [--top N]")
    process.exit(2)
  }
  const n = process.argv[3] === "--top" ? Number(process.argv[4]) : 25
  for (const profile of readProfiles(path)) console.log(formatSummary(summarize(profile, n)))
}
