import type { MetricKey, MetricPair } from "effect"
import { MetricState } from "effect"

/**
 * Effect's metric snapshot in the Prometheus text exposition format (version 0.0.4): one
 * `# HELP` and `# TYPE` per name, samples grouped under it, histograms as cumulative
 * `_bucket{le=...}` series with `_sum` and `_count`. Only metrics whose name starts with
 * `prefix` are rendered (the registry is process-wide; an embedding service may have its own).
 */
export const renderPrometheus = (pairs: ReadonlyArray<MetricPair.MetricPair.Untyped>, prefix = "synclog_"): string => {
  // Grouped by name in one pass (the registry keeps a name's series together only by chance),
  // then the few names sorted: no sort over every series.
  const families = new Map<string, { help: string; type: string; lines: Array<string> }>()
  for (const pair of pairs) {
    const key = pair.metricKey
    const name = key.name
    if (!name.startsWith(prefix)) continue
    const state = pair.metricState
    const type = MetricState.isCounterState(state)
      ? "counter"
      : MetricState.isGaugeState(state)
      ? "gauge"
      : MetricState.isHistogramState(state)
      ? "histogram"
      : undefined
    if (type === undefined) continue
    let family = families.get(name)
    if (family === undefined) {
      const help = key.description._tag === "Some" ? key.description.value : name
      family = { help, type, lines: [] }
      families.set(name, family)
    }
    const labels = labelsOf(key)
    if (MetricState.isCounterState(state)) {
      family.lines.push(`${name}${braces(labels)} ${formatNumber(Number(state.count))}`)
    } else if (MetricState.isGaugeState(state)) {
      family.lines.push(`${name}${braces(labels)} ${formatNumber(Number(state.value))}`)
    } else if (MetricState.isHistogramState(state)) {
      for (const [bound, cumulative] of state.buckets) {
        const le = bound === Number.POSITIVE_INFINITY ? "+Inf" : formatNumber(bound)
        family.lines.push(`${name}_bucket${braces(labels, `le="${le}"`)} ${cumulative}`)
      }
      if (!state.buckets.some(([bound]) => bound === Number.POSITIVE_INFINITY)) {
        family.lines.push(`${name}_bucket${braces(labels, 'le="+Inf"')} ${state.count}`)
      }
      family.lines.push(`${name}_sum${braces(labels)} ${formatNumber(state.sum)}`)
      family.lines.push(`${name}_count${braces(labels)} ${state.count}`)
    }
  }
  let out = ""
  for (const name of [...families.keys()].sort()) {
    const family = families.get(name)!
    out += `# HELP ${name} ${escapeHelp(family.help)}\n# TYPE ${name} ${family.type}\n${family.lines.join("\n")}\n`
  }
  return out
}

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

const braces = (labels: string, extra?: string) => {
  const all = extra === undefined ? labels : labels === "" ? extra : `${labels},${extra}`
  return all === "" ? "" : `{${all}}`
}

const escapeLabel = (value: string) => value.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"')
const escapeHelp = (value: string) => value.replace(/\\/g, "\\\\").replace(/\n/g, "\\n")

const formatNumber = (n: number) =>
  Number.isNaN(n) ? "NaN" : n === Number.POSITIVE_INFINITY ? "+Inf" : n === Number.NEGATIVE_INFINITY ? "-Inf" : String(n)
