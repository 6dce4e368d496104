import { Effect, Metric, MetricBoundaries } from "effect"
import { describe, expect, it } from "vitest"
import { makePrometheusRenderer, renderPrometheus } from "../src/metrics/prometheus.js"

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
})
