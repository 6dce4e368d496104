import type { MetricKey, MetricPair } from "effect"
import { MetricState } from "effect"

/** One series' text, and the numbers it was rendered from. */
interface Rendered {
  readonly kind: Kind
  /** The counter's count or the gauge's value; the histogram's count. */
  a: number
  /** The histogram's sum (0 otherwise). */
  b: number
  lines: string
}

type Kind = "counter" | "gauge" | "histogram"

const kindOf = (state: MetricState.MetricState.Untyped): Kind | undefined =>
  MetricState.isCounterState(state)
    ? "counter"
    : MetricState.isGaugeState(state)
    ? "gauge"
    : MetricState.isHistogramState(state)
    ? "histogram"
    : undefined

/** One metric name's block (`# HELP`, `# TYPE` and its series), kept between scrapes. */
interface Family {
  readonly head: string
  members: Array<Rendered>
  seen: number
  moved: boolean
  bytes: Uint8Array
  /** For a block of `LabelledGauges`: the version its bytes were rendered at (else undefined). */
  version?: number
}

/**
 * A gauge with one series per value of one label, kept by its owner instead of Effect's
 * registry (see metrics.ts, `circuitState`), with a version the owner raises whenever a value
 * changes: the block is rendered again only when the version moved.
 */
export interface LabelledGauges {
  readonly name: string
  readonly help: string
  readonly label: string
  readonly values: ReadonlyMap<string, number>
  readonly version: number
}

/**
 * Effect's metric snapshot in the Prometheus text exposition format (version 0.0.4): one
 * `# HELP` and `# TYPE` per name, samples grouped under it, histograms as cumulative
 * `_bucket{le=...}` series with `_sum` and `_count`. Only metrics whose name starts with
 * `prefix` are rendered (the registry is process-wide; an embedding service may have its own).
 *
 * A renderer keeps each series' text with the numbers it came from, and each name's block as
 * bytes: a scrape compares numbers, re-renders only the series that moved and re-encodes only
 * their blocks. With a thousand integrations most of the ~2,000 series are per-integration
 * gauges that rarely move, so a scrape costs a pass of comparisons and one copy of the bytes.
 */
export const makePrometheusRenderer = (prefix = "synclog_") => {
  const series = new WeakMap<MetricKey.MetricKey.Untyped, Rendered>()
  const families = new Map<string, Family>()
  let names: Array<string> = []
  let last: Uint8Array | undefined
  const encoder = new TextEncoder()

  return (pairs: ReadonlyArray<MetricPair.MetricPair.Untyped>, gauges: ReadonlyArray<LabelledGauges> = []): Uint8Array => {
    for (const family of families.values()) family.seen = 0
    let added = false
    let moved = false
    for (const gauge of gauges) {
      let family = families.get(gauge.name)
      if (family === undefined) {
        family = { head: headOf(gauge.name, gauge.help, "gauge"), members: [], seen: 0, moved: false, bytes: new Uint8Array() }
        families.set(gauge.name, family)
        added = true
      }
      // Left out of the text while it has no series, as an unused labelled metric is.
      family.seen = gauge.values.size
      if (family.version !== gauge.version) {
        const lines: Array<string> = [family.head]
        for (const [value, n] of gauge.values) lines.push(`${gauge.name}{${gauge.label}="${escapeLabel(value)}"} ${formatNumber(n)}\n`)
        family.bytes = encoder.encode(lines.join(""))
        family.version = gauge.version
        moved = true
      }
    }
    for (const pair of pairs) {
      const key = pair.metricKey
      const name = key.name
      if (!name.startsWith(prefix)) continue
      const state = pair.metricState
      let rendered = series.get(key)
      // A known series' kind is known: read its numbers without the state predicates.
      const kind = rendered?.kind ?? kindOf(state)
      if (kind === undefined) continue
      const a = kind === "counter"
        ? Number((state as MetricState.MetricState.Counter<number>).count)
        : kind === "gauge"
        ? Number((state as MetricState.MetricState.Gauge<number>).value)
        : (state as MetricState.MetricState.Histogram).count
      const b = kind === "histogram" ? (state as MetricState.MetricState.Histogram).sum : 0
      let family = families.get(name)
      if (family === undefined) {
        const help = key.description._tag === "Some" ? key.description.value : name
        family = { head: headOf(name, help, kind), members: [], seen: 0, moved: true, bytes: new Uint8Array() }
        families.set(name, family)
        added = true
      }
      if (rendered === undefined) {
        rendered = { kind, a, b, lines: linesOf(name, labelsOf(key), state) }
        series.set(key, rendered)
      } else if (rendered.a !== a || rendered.b !== b) {
        rendered.a = a
        rendered.b = b
        rendered.lines = linesOf(name, labelsOf(key), state)
        family.moved = true
      }
      // The registry's order is stable until a series is added, so a member found at another
      // place than last time means the block's series changed.
      if (family.members[family.seen] !== rendered) {
        family.members[family.seen] = rendered
        family.moved = true
      }
      family.seen++
    }
    if (added) moved = true
    for (const family of families.values()) {
      if (family.version !== undefined) continue
      if (family.members.length !== family.seen) {
        family.members.length = family.seen
        family.moved = true
      }
      if (family.moved) {
        family.bytes = encoder.encode(family.head + family.members.map((m) => m.lines).join("\n") + "\n")
        family.moved = false
        moved = true
      }
    }
    if (added) names = [...families.keys()].sort()
    if (!moved && last !== undefined) return last
    // Names whose series are all gone from this snapshot (another registry) are left out.
    last = Buffer.concat(names.flatMap((name) => {
      const family = families.get(name)!
      return family.seen > 0 ? [family.bytes] : []
    }))
    return last
  }
}

const linesOf = (name: string, labels: string, state: MetricState.MetricState.Untyped): string => {
  if (MetricState.isCounterState(state)) return `${name}${braces(labels)} ${formatNumber(Number(state.count))}`
  if (MetricState.isGaugeState(state)) return `${name}${braces(labels)} ${formatNumber(Number(state.value))}`
  if (!MetricState.isHistogramState(state)) return ""
  const lines: Array<string> = []
  for (const [bound, cumulative] of state.buckets) {
    const le = bound === Number.POSITIVE_INFINITY ? "+Inf" : formatNumber(bound)
    lines.push(`${name}_bucket${braces(labels, `le="${le}"`)} ${cumulative}`)
  }
  if (!state.buckets.some(([bound]) => bound === Number.POSITIVE_INFINITY)) {
    lines.push(`${name}_bucket${braces(labels, 'le="+Inf"')} ${state.count}`)
  }
  lines.push(`${name}_sum${braces(labels)} ${formatNumber(state.sum)}`)
  lines.push(`${name}_count${braces(labels)} ${state.count}`)
  return lines.join("\n")
}

/** The text of one snapshot, without a renderer's memory (tests, one-off use). */
export const renderPrometheus = (pairs: ReadonlyArray<MetricPair.MetricPair.Untyped>, prefix = "synclog_"): string =>
  new TextDecoder().decode(makePrometheusRenderer(prefix)(pairs))

/** A series' labels, sorted and escaped, kept per metric key (the registry's keys live as long as the process). */
const labelCache = new WeakMap<MetricKey.MetricKey.Untyped, string>()
const labelsOf = (key: MetricKey.MetricKey.Untyped) => {
  let labels = labelCache.get(key)
  if (labels === undefined) {
    labels = [...key.tags].sort((a, b) => (a.key < b.key ? -1 : 1)).map((t) => `${t.key}="${escapeLabel(t.value)}"`).join(",")
    labelCache.set(key, labels)
  }
  return labels
}

const headOf = (name: string, help: string, kind: Kind) => `# HELP ${name} ${escapeHelp(help)}\n# TYPE ${name} ${kind}\n`

const braces = (labels: string, extra?: string) => {
  const all = extra === undefined ? labels : labels === "" ? extra : `${labels},${extra}`
  return all === "" ? "" : `{${all}}`
}

const escapeLabel = (value: string) => value.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"')
const escapeHelp = (value: string) => value.replace(/\\/g, "\\\\").replace(/\n/g, "\\n")

const formatNumber = (n: number) =>
  Number.isNaN(n) ? "NaN" : n === Number.POSITIVE_INFINITY ? "+Inf" : n === Number.NEGATIVE_INFINITY ? "-Inf" : String(n)
