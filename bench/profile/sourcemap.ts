/**
 * Maps positions in the code tsx actually ran back to the TypeScript sources, so a CPU profile
 * of `node --import tsx` names `src/eventlog/replay.ts:33` instead of `replay.ts:1:1306` (tsx
 * emits whitespace-minified code: a whole module sits on one or two lines).
 *
 * tsx keeps every transformed module in its cache folder (`$TMPDIR/tsx-<uid>/`) as JSON
 * `{code, map}`; the map's `sources[0]` is the absolute source path. Only function start
 * positions can be mapped (V8's line ticks are per generated line, useless on one-line code).
 */
import { readdirSync, readFileSync, statSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"

interface CacheEntry {
  readonly map: { readonly mappings: string; readonly sources: ReadonlyArray<string> }
}

/** Per generated line: sorted segments [generatedColumn, sourceLine, sourceColumn]. */
type Lines = Array<Array<readonly [number, number, number]>>

const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
const B64_INDEX = new Map([...B64].map((c, i) => [c, i]))

/** Decodes a source map's `mappings` (base64 VLQ) for a single-source map. */
const decode = (mappings: string): Lines => {
  const lines: Lines = []
  let sourceLine = 0
  let sourceColumn = 0
  let sourceIndex = 0
  for (const line of mappings.split(";")) {
    const segments: Array<readonly [number, number, number]> = []
    let column = 0
    for (const segment of line.split(",")) {
      if (segment === "") continue
      const values: Array<number> = []
      let value = 0
      let shift = 0
      for (const char of segment) {
        const digit = B64_INDEX.get(char)!
        value += (digit & 31) << shift
        if (digit & 32) shift += 5
        else {
          values.push(value & 1 ? -(value >>> 1) : value >>> 1)
          value = 0
          shift = 0
        }
      }
      column += values[0]!
      if (values.length >= 4) {
        sourceIndex += values[1]!
        sourceLine += values[2]!
        sourceColumn += values[3]!
        segments.push([column, sourceLine, sourceColumn])
      }
    }
    lines.push(segments)
  }
  void sourceIndex
  return lines
}

export interface SourceMapper {
  /** 1-based source line of a 0-based generated (line, column) in `path`, if known. */
  readonly lineOf: (path: string, line: number, column: number) => number | undefined
}

/** Reads tsx's cache once; the newest entry per source file wins. */
export const tsxSourceMapper = (): SourceMapper => {
  const dir = join(tmpdir(), `tsx-${process.getuid?.() ?? 0}`)
  const newest = new Map<string, { mtime: number; file: string }>()
  let names: Array<string> = []
  try {
    names = readdirSync(dir)
  } catch {
    return { lineOf: () => undefined }
  }
  for (const name of names) {
    const file = join(dir, name)
    try {
      const stat = statSync(file)
      if (!stat.isFile()) continue
      const text = readFileSync(file, "utf8")
      const match = /"sources":\["([^"]+)"\]/.exec(text.slice(-20_000))
      if (!match) continue
      const previous = newest.get(match[1]!)
      if (!previous || previous.mtime < stat.mtimeMs) newest.set(match[1]!, { mtime: stat.mtimeMs, file })
    } catch {
      // pipes, partial writes: not cache entries
    }
  }
  const decoded = new Map<string, Lines>()
  return {
    lineOf: (path, line, column) => {
      const entry = newest.get(path)
      if (!entry) return undefined
      let lines = decoded.get(path)
      if (!lines) {
        lines = decode((JSON.parse(readFileSync(entry.file, "utf8")) as CacheEntry).map.mappings)
        decoded.set(path, lines)
      }
      const segments = lines[line]
      if (!segments || segments.length === 0) return undefined
      let best: readonly [number, number, number] | undefined
      for (const s of segments) {
        if (s[0] <= column) best = s
        else break
      }
      return (best ?? segments[0]!)[1] + 1
    }
  }
}
