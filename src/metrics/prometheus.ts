import type { MetricPair } from "effect"
import { MetricState } from "effect"

/**
 * Effect's metric snapshot in the Prometheus text exposition format (version 0.0.4): one
 * `# HELP` and `# TYPE` per name, samples grouped under it, histograms as cumulative
 * `_bucket{le=...}` series with `_sum` and `_count`. Only metrics whose name starts with
 * `prefix` are rendered (the registry is process-wide; an embedding service may have its own).
 */
export const renderPrometheus = (pairs: ReadonlyArray<MetricPair.MetricPair.Untyped>, prefix = "synclog_"): string => {
  const families = new Map<string, { help: string; type: string; lines: Array<string> }>()
  const sorted = [...pairs].filter((p) => p.metricKey.name.startsWith(prefix)).sort((a, b) =>
    a.metricKey.name < b.metricKey.name ? -1 : a.metricKey.name > b.metricKey.name ? 1 : 0
  )
  for (const pair of sorted) {
    const { name, tags } = pair.metricKey
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
      const help = pair.metricKey.description._tag === "Some" ? pair.metricKey.description.value : name
      family = { help, type, lines: [] }
      families.set(name, family)
    }
    const labels = [...tags].sort((a, b) => (a.key < b.key ? -1 : 1)).map((t) => `${t.key}="${escapeLabel(t.value)}"`)
    const braces = (extra: ReadonlyArray<string> = []) => {
      const all = [...labels, ...extra]
      return all.length === 0 ? "" : `{${all.join(",")}}`
    }
    if (MetricState.isCounterState(state)) {
      family.lines.push(`${name}${braces()} ${formatNumber(Number(state.count))}`)
    } else if (MetricState.isGaugeState(state)) {
      family.lines.push(`${name}${braces()} ${formatNumber(Number(state.value))}`)
    } else if (MetricState.isHistogramState(state)) {
      for (const [bound, cumulative] of state.buckets) {
        const le = bound === Number.POSITIVE_INFINITY ? "+Inf" : formatNumber(bound)
        family.lines.push(`${name}_bucket${braces([`le="${le}"`])} ${cumulative}`)
      }
      if (!state.buckets.some(([bound]) => bound === Number.POSITIVE_INFINITY)) {
        family.lines.push(`${name}_bucket${braces(['le="+Inf"'])} ${state.count}`)
      }
      family.lines.push(`${name}_sum${braces()} ${formatNumber(state.sum)}`)
      family.lines.push(`${name}_count${braces()} ${state.count}`)
    }
  }
  let out = ""
  for (const [name, family] of families) {
    out += `# HELP ${name} ${escapeHelp(family.help)}\n# TYPE ${name} ${family.type}\n${family.lines.join("\n")}\n`
  }
  return out
}

const escapeLabel = (value: string) => value.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"')
const escapeHelp = (value: string) => value.replace(/\\/g, "\\\\").replace(/\n/g, "\\n")

const formatNumber = (n: number) =>
  Number.isNaN(n) ? "NaN" : n === Number.POSITIVE_INFINITY ? "+Inf" : n === Number.NEGATIVE_INFINITY ? "-Inf" : String(n)
