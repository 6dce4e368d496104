import { Effect, Metric, MetricBoundaries } from "effect"
import { describe, expect, it } from "vitest"
import { type LabelledGauges, makePrometheusRenderer, renderPrometheus } from "../src/metrics/prometheus.js"

/** The renderer's memory: a scrape re-renders what moved, and an idle one returns the same bytes. */
describe("Prometheus renderer", () => {
  const counter = Metric.counter("rendertest_things_total", { description: "Things" })
  const gauge = Metric.gauge("rendertest_level", { description: "Level" })
  const histogram = Metric.histogram("rendertest_seconds", MetricBoundaries.linear({ start: 1, width: 1, count: 3 }))
  const tagged = (id: string) => Metric.tagged(gauge, "integration", id)
  const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes)

  it("renders what moved since the last scrape, and the same bytes when nothing did", () => {
    const render = makePrometheusRenderer("rendertest_")
    const snap = () => Metric.unsafeSnapshot()
    Effect.runSync(Effect.all([Metric.incrementBy(counter, 2), Metric.set(tagged("a"), 1), Metric.set(tagged("b"), 5), Metric.update(histogram, 1.5)]))
    const first = render(snap())
    expect(text(first)).toContain('rendertest_level{integration="a"} 1\n')
    expect(text(first)).toContain("rendertest_things_total 2\n")
    expect(text(first)).toContain('rendertest_seconds_bucket{le="2"} 1\n')
    // Nothing moved: the very same bytes.
    expect(render(snap())).toBe(first)
    // One gauge, the counter and the histogram move; the other gauge keeps its line.
    Effect.runSync(Effect.all([Metric.increment(counter), Metric.set(tagged("a"), 7), Metric.update(histogram, 0.5)]))
    const second = text(render(snap()))
    expect(second).toContain('rendertest_level{integration="a"} 7\n')
    expect(second).toContain('rendertest_level{integration="b"} 5\n')
    expect(second).toContain("rendertest_things_total 3\n")
    expect(second).toContain('rendertest_seconds_bucket{le="1"} 1\n')
    expect(second).toContain("rendertest_seconds_count 2\n")
    // A new series shows up even when no other value moved.
    Effect.runSync(Metric.set(tagged("c"), 5))
    expect(text(render(snap()))).toContain('rendertest_level{integration="c"} 5\n')
    // The same text as a renderer without memory.
    expect(text(render(snap()))).toBe(renderPrometheus(snap(), "rendertest_"))
  })

  it("renders gauges kept outside the registry, again only when their version moves", () => {
    const render = makePrometheusRenderer("rendertest_")
    const snap = () => Metric.unsafeSnapshot()
    Effect.runSync(Metric.set(tagged("a"), 1))
    const values = new Map<string, number>()
    const kept = (version: number): LabelledGauges => ({ name: "rendertest_budget", help: "Budget", label: "integration", values, version })
    // No series yet: no block at all.
    expect(text(render(snap(), [kept(0)]))).not.toContain("rendertest_budget")
    values.set("a", 10).set('b"\\', 0)
    const first = render(snap(), [kept(1)])
    expect(text(first)).toContain("# HELP rendertest_budget Budget\n# TYPE rendertest_budget gauge\n" +
      'rendertest_budget{integration="a"} 10\nrendertest_budget{integration="b\\"\\\\"} 0\n')
    // Same version: the same bytes (the map is not read again).
    values.set("a", 99)
    expect(render(snap(), [kept(1)])).toBe(first)
    const second = text(render(snap(), [kept(2)]))
    expect(second).toContain('rendertest_budget{integration="a"} 99\n')
    // Blocks stay sorted by name among the registry's.
    expect(second.indexOf("# HELP rendertest_budget")).toBeLessThan(second.indexOf("# HELP rendertest_level"))
    expect(second.indexOf("# HELP rendertest_budget")).toBeGreaterThan(-1)
  })
})
