/**
 * The OpenTelemetry backend of Tracing: the current span follows the async flow, explicit parents
 * win, failures are marked, and what is queued goes out on shutdown (decoded with OpenTelemetry's
 * own protobuf definitions by the test collector).
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { silentLogger } from "../../../src/log.ts";
import { OtelTracing } from "../../../src/trace/otel.ts";
import { NO_TRACING, NOOP_SPAN } from "../../../src/trace/tracing.ts";
import { startOtlpCollector, type OtlpCollector, type ReceivedSpan } from "../../helpers/otlp-collector.ts";

let collector: OtlpCollector;
beforeAll(async () => {
  collector = await startOtlpCollector();
});
afterAll(() => collector.stop());

async function traced(run: (t: OtelTracing) => Promise<void>): Promise<ReceivedSpan[]> {
  const t = new OtelTracing({ tracesUrl: collector.tracesUrl, serviceName: "unit", serviceVersion: "9.9.9" }, silentLogger());
  const before = collector.spans.length;
  await run(t);
  await t.shutdown();
  return collector.spans.slice(before);
}

const named = (spans: ReceivedSpan[], name: string): ReceivedSpan => {
  const s = spans.find((x) => x.name === name);
  if (!s) throw new Error(`no span ${name} in ${spans.map((x) => x.name).join(", ")}`);
  return s;
};

test("children started after awaits and in timers link to the span they run in; siblings do not nest", async () => {
  const spans = await traced(async (t) => {
    await t.inSpan("outer", { a: 1 }, async () => {
      await Bun.sleep(1);
      t.inSpan("child sync", undefined, () => {});
      await new Promise<void>((resolve) => setTimeout(() => t.inSpan("child in timer", undefined, () => resolve()), 1));
      const manual = t.startSpan("manual", { b: "x" });
      t.withSpan(manual, () => t.inSpan("under manual", undefined, () => {}));
      manual.end();
    });
    t.inSpan("after", undefined, () => {});
  });
  const outer = named(spans, "outer");
  expect(outer.parentSpanIdHex).toBe("");
  expect(outer.attributes).toEqual({ a: 1 });
  expect(outer.resource).toMatchObject({ "service.name": "unit", "service.version": "9.9.9" });
  for (const n of ["child sync", "child in timer", "manual"]) {
    expect(named(spans, n).parentSpanIdHex).toBe(outer.spanIdHex);
    expect(named(spans, n).traceIdHex).toBe(outer.traceIdHex);
  }
  expect(named(spans, "manual").attributes).toEqual({ b: "x" });
  expect(named(spans, "under manual").parentSpanIdHex).toBe(named(spans, "manual").spanIdHex);
  // The span a function ran in does not leak to what its caller does next.
  expect(named(spans, "after").parentSpanIdHex).toBe("");
  expect(named(spans, "after").traceIdHex).not.toBe(outer.traceIdHex);
});

test("an explicit parent wins over the current span, null makes a root, a no-op span is no parent", async () => {
  const spans = await traced(async (t) => {
    const wake = t.startSpan("wake", undefined, null);
    await t.inSpan("current", undefined, async () => {
      t.inSpan("root anyway", undefined, () => {}, null);
      t.inSpan("under wake", undefined, () => {}, wake);
      t.inSpan("under noop", undefined, () => {}, NOOP_SPAN);
    });
    wake.end();
  });
  expect(named(spans, "root anyway").parentSpanIdHex).toBe("");
  expect(named(spans, "under wake").parentSpanIdHex).toBe(named(spans, "wake").spanIdHex);
  expect(named(spans, "under noop").parentSpanIdHex).toBe("");
});

test("a throw and a rejection mark the span failed and are passed on; the result is passed through", async () => {
  const spans = await traced(async (t) => {
    expect(() => t.inSpan("throws", undefined, () => { throw new Error("sync boom"); })).toThrow("sync boom");
    await expect(t.inSpan("rejects", undefined, async () => { throw new Error("async boom"); })).rejects.toThrow("async boom");
    expect(await t.inSpan("returns", undefined, async () => 42)).toBe(42);
    expect(t.inSpan("returns sync", undefined, () => "x")).toBe("x");
  });
  expect(named(spans, "throws")).toMatchObject({ statusCode: 2, statusMessage: "sync boom" });
  expect(named(spans, "rejects")).toMatchObject({ statusCode: 2, statusMessage: "async boom" });
  expect(named(spans, "returns").statusCode).toBe(0);
  expect(named(spans, "returns sync").statusCode).toBe(0);
});

test("NO_TRACING runs the function and records nothing", async () => {
  expect(NO_TRACING.enabled).toBe(false);
  expect(NO_TRACING.inSpan("x", { a: 1 }, (span) => (span === NOOP_SPAN ? 7 : 0))).toBe(7);
  expect(await NO_TRACING.inSpan("x", undefined, async () => 8)).toBe(8);
  expect(NO_TRACING.withSpan(NO_TRACING.startSpan("y"), () => 9)).toBe(9);
});
