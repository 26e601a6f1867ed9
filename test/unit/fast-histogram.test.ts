/**
 * src/metrics/fast-histogram.ts against prom-client's own Histogram: for the same observations
 * (values on, between, below and above the bounds, several label sets, none), /metrics shows the
 * same lines and `get()` the same values; unknown labels and non-finite values are refused alike.
 */
import { expect, test } from "bun:test";
import { Histogram, Registry } from "prom-client";
import { DEFAULT_BUCKETS, FastHistogram } from "../../src/metrics/fast-histogram.ts";

const VALUES = [0, 0.001, 0.005, 0.0051, 0.01, 0.3, 1, 2.5, 9.99, 10, 11, 1e6, 0.0002, 0.25];

function both(labelNames: string[], buckets?: number[]) {
  const ours = new Registry();
  const theirs = new Registry();
  const fast = FastHistogram.register(ours, "query_duration", "Time to answer", labelNames, buckets);
  const ref = new Histogram({ name: "query_duration", help: "Time to answer", labelNames, registers: [theirs], ...(buckets ? { buckets } : {}) });
  return { ours, theirs, fast, ref };
}

test("the same exposition and values as prom-client's Histogram, label sets in first-seen order", async () => {
  const { ours, theirs, fast, ref } = both(["method", "code"]);
  const labelSets = [{ method: "blockchain.scripthash.get_balance", code: 200 }, { method: "tx" }, { method: 'we"ird\\name', code: "x" }];
  for (let i = 0; i < VALUES.length * 3; i++) {
    const labels = labelSets[i % labelSets.length]!;
    fast.observe(VALUES[i % VALUES.length]!, labels);
    ref.observe(labels, VALUES[i % VALUES.length]!);
  }
  expect(await ours.metrics()).toBe(await theirs.metrics());
  expect(fast.get() as unknown).toEqual(await ref.get());
  expect(await ours.getMetricsAsJSON()).toEqual(await theirs.getMetricsAsJSON());
});

test("no labels, custom buckets, a timer; buckets out of order are refused", async () => {
  const { ours, theirs, fast, ref } = both([], [0.1, 1, 5]);
  expect(() => new FastHistogram("h", "h", [], [1, 0.1])).toThrow(/increasing/);
  expect(() => new FastHistogram("h", "h", [], [1, 1])).toThrow(/increasing/);
  for (const v of VALUES) {
    fast.observe(v);
    ref.observe(v);
  }
  expect(await ours.metrics()).toBe(await theirs.metrics());
  const stop = fast.startTimer();
  const seconds = stop();
  expect(seconds).toBeGreaterThanOrEqual(0);
  expect(seconds).toBeLessThan(1);
  expect(fast.get().values.find((v) => v.metricName === "query_duration_count")!.value).toBe(VALUES.length + 1);
  expect(DEFAULT_BUCKETS).toEqual([0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]);
});

test("an unknown label and a non-finite value are refused, and change nothing", async () => {
  const { ours, fast, ref } = both(["method"]);
  expect(() => fast.observe(1, { nope: "x" })).toThrow(/not included in initial labelset/);
  expect(() => ref.observe({ nope: "x" }, 1)).toThrow(/not included in initial labelset/);
  expect(() => fast.observe(Number.NaN, { method: "a" })).toThrow(/not a valid number/);
  expect(() => fast.observe(Number.POSITIVE_INFINITY, { method: "a" })).toThrow(/not a valid number/);
  expect(fast.get().values).toEqual([]);
  expect(await ours.metrics()).toBe("# HELP query_duration Time to answer\n# TYPE query_duration histogram\n");
});
