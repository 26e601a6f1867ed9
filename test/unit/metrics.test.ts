import { describe, expect, test } from "bun:test";
import { silentLogger } from "../../src/log.ts";
import {
  BYTE_BUCKETS,
  createMetrics,
  noopMetrics,
  parseAuxv,
  parseProcStat,
  readProcessStats,
  systemConstants,
  type Metrics,
} from "../../src/metrics/metrics.ts";
import { startMetricsServer } from "../../src/metrics/server.ts";

const isLinux = process.platform === "linux";

/** Value of the first sample line `name{labels} value` (or `name value`) in an exposition. */
function sample(text: string, series: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(series + " "));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

/** The sorted key paths of an object, two levels deep: the shape callers rely on. */
function shape(m: Metrics): string[] {
  return Object.entries(m)
    .flatMap(([k, v]) => [k, ...(v && typeof v === "object" && k !== "registry" ? Object.keys(v).map((s) => `${k}.${s}`) : [])])
    .sort();
}

const ELECTRS_NAMES = [
  "index_duration",
  "tip_height",
  "daemon_rpc",
  "daemon_bytes",
  "electrs_main_loop_count",
  "process_memory_rss",
  "process_cpu_usage",
  "process_fs_fds",
];
const OUR_NAMES = ["electrs_bun_indexed_height", "electrs_bun_indexed_txs_total", "electrs_bun_sync_progress"];

describe("createMetrics", () => {
  test("the exposition has every electrs name, with its type", async () => {
    const m = createMetrics({ processCollector: true });
    const text = await m.exposition();
    for (const name of [...ELECTRS_NAMES, ...OUR_NAMES]) expect(text).toContain(`# TYPE ${name} `);
    expect(text).toContain("# TYPE index_duration histogram");
    expect(text).toContain("# TYPE daemon_bytes histogram");
    expect(text).toContain("# TYPE tip_height gauge");
    expect(text).toContain("# TYPE electrs_bun_indexed_txs_total counter");
  });

  test("typed accessors record under electrs' labels", async () => {
    const m = createMetrics({ processCollector: false });
    m.daemon.observeRpc("getblock", 0.02);
    m.daemon.observeBytes("getblock", "recv", 1_000_000);
    m.daemon.observeBytes("getblock", "send", 100);
    m.index.observe("commit", 0.5);
    m.tip.set(101);
    m.mainLoop.inc();
    m.mainLoop.inc();
    m.sync.setIndexedHeight(100);
    m.sync.addTxs(7);
    m.sync.addTxs(3);
    m.sync.setProgress(1.5);
    const text = await m.exposition();
    expect(sample(text, 'daemon_rpc_count{method="getblock"}')).toBe(1);
    expect(sample(text, 'daemon_bytes_sum{method="getblock",dir="recv"}')).toBe(1_000_000);
    expect(sample(text, 'daemon_bytes_bucket{le="1048576",method="getblock",dir="recv"}')).toBe(1);
    expect(sample(text, 'daemon_bytes_bucket{le="524288",method="getblock",dir="recv"}')).toBe(0);
    expect(sample(text, 'index_duration_sum{step="commit"}')).toBe(0.5);
    expect(sample(text, "tip_height")).toBe(101);
    expect(sample(text, "electrs_main_loop_count")).toBe(2);
    expect(sample(text, "electrs_bun_indexed_height")).toBe(100);
    expect(sample(text, "electrs_bun_indexed_txs_total")).toBe(10);
    expect(sample(text, "electrs_bun_sync_progress")).toBe(1); // clamped
  });

  test("byte buckets run from 64 B to 512 MiB by powers of two", () => {
    expect(BYTE_BUCKETS[0]).toBe(64);
    expect(BYTE_BUCKETS.at(-1)).toBe(512 * 1024 * 1024);
    expect(BYTE_BUCKETS.every((b, i) => i === 0 || b === 2 * BYTE_BUCKETS[i - 1]!)).toBe(true);
  });

  test("index.time records sync, async and failing steps, and passes results through", async () => {
    const m = createMetrics({ processCollector: false });
    expect(m.index.time("parse", () => 42)).toBe(42);
    expect(await m.index.time("fetch", async () => "ok")).toBe("ok");
    expect(() => m.index.time("commit", () => { throw new Error("boom"); })).toThrow("boom");
    await expect(m.index.time("reorg", () => Promise.reject(new Error("late")))).rejects.toThrow("late");
    const stop = m.index.startTimer("index");
    expect(stop()).toBeGreaterThanOrEqual(0);
    const text = await m.exposition();
    for (const step of ["parse", "fetch", "commit", "reorg", "index"]) {
      expect(sample(text, `index_duration_count{step="${step}"}`)).toBe(1);
    }
  });

  test("adding a metric is one line, in this instance's registry only", async () => {
    const a = createMetrics({ processCollector: false });
    const b = createMetrics({ processCollector: false });
    const q = a.histogram("query_duration", "Time to answer a query (in seconds)", ["name"]);
    q.observe(0.1, { name: "utxo" });
    const clients = a.gauge("electrum_clients", "# of Electrum clients");
    clients.inc();
    const rejects = a.counter("electrum_global_response_budget_rejections", "Rejected responses");
    rejects.inc();
    const text = await a.exposition();
    expect(sample(text, 'query_duration_count{name="utxo"}')).toBe(1);
    expect(sample(text, "electrum_clients")).toBe(1);
    expect(sample(text, "electrum_global_response_budget_rejections")).toBe(1);
    expect(await b.exposition()).not.toContain("query_duration");
    expect(() => a.gauge("electrum_clients", "again")).toThrow();
  });

  test("counters add up between scrapes, per label set, exactly as prom-client's would; bad labels and decrements throw at the call", async () => {
    const m = createMetrics({ processCollector: false });
    const c = m.counter("electrs_bun_test_total", "A test counter", ["kind", "code"]);
    c.inc(1, { kind: "a", code: 1 });
    c.inc(2, { kind: "a", code: 1 });
    c.inc(1, { kind: "b", code: 1 });
    let text = await m.exposition();
    expect(sample(text, 'electrs_bun_test_total{kind="a",code="1"}')).toBe(3);
    expect(sample(text, 'electrs_bun_test_total{kind="b",code="1"}')).toBe(1);
    c.inc(5, { kind: "a", code: 1 });
    text = await m.exposition();
    expect(sample(text, 'electrs_bun_test_total{kind="a",code="1"}')).toBe(8);
    expect(sample(text, 'electrs_bun_test_total{kind="b",code="1"}')).toBe(1);
    const json = await m.registry.getMetricsAsJSON();
    expect(json.find((x) => x.name === "electrs_bun_test_total")!.values.map((v) => v.value).sort()).toEqual([1, 8]);
    expect(() => c.inc(1, { kind: "a", other: 1 } as never)).toThrow('Added label "other" is not included');
    expect(() => c.inc(-1, { kind: "a", code: 1 })).toThrow("not possible to decrease");
  });

  test("without the process collector there are no process_* series", async () => {
    const text = await createMetrics({ processCollector: false }).exposition();
    expect(text).not.toContain("process_");
  });
});

describe("process collector", () => {
  test.if(isLinux)("reads plausible values from /proc on each scrape", async () => {
    const m = createMetrics({ processCollector: true });
    const text = await m.exposition();
    expect(sample(text, "process_memory_rss")!).toBeGreaterThan(1024 * 1024);
    expect(sample(text, 'process_cpu_usage{type="utime"}')!).toBeGreaterThan(0);
    expect(sample(text, "process_fs_fds")!).toBeGreaterThan(2);
  });

  test.if(isLinux)("page size and clock ticks come from the aux vector", () => {
    const c = systemConstants();
    expect([4096, 16384, 65536]).toContain(c.pageSize);
    expect(c.clockTicks).toBeGreaterThan(0);
    expect(readProcessStats(c).rssBytes).toBeGreaterThan(0);
  });

  test("parseProcStat takes fields 14 and 24, even when the command name holds ') '", () => {
    const fields = Array.from({ length: 52 }, (_, i) => String(i + 1));
    fields[13] = "250"; // utime
    fields[23] = "1234"; // rss
    const line = `4242 (we ird) name) ${fields.slice(2).join(" ")}\n`;
    expect(parseProcStat(line)).toEqual({ utimeTicks: 250, rssPages: 1234 });
  });

  test("parseAuxv finds AT_PAGESZ and AT_CLKTCK and stops at AT_NULL", () => {
    const view = new DataView(new ArrayBuffer(16 * 5));
    const put = (i: number, key: number, value: number) => {
      view.setBigUint64(i * 16, BigInt(key), true);
      view.setBigUint64(i * 16 + 8, BigInt(value), true);
    };
    put(0, 6, 16384);
    put(1, 17, 250);
    put(2, 0, 0);
    put(3, 6, 1); // after AT_NULL: ignored
    expect(parseAuxv(view)).toEqual({ pageSize: 16384, clockTicks: 250 });
    expect(parseAuxv(new DataView(new ArrayBuffer(0)))).toEqual({ pageSize: 4096, clockTicks: 100 });
  });
});

describe("noopMetrics", () => {
  test("has the same keys as the real thing and records nothing", async () => {
    const real = createMetrics({ processCollector: false });
    const noop = noopMetrics();
    expect(shape(noop)).toEqual(shape(real));
    noop.daemon.observeRpc("getblock", 1);
    noop.index.observe("commit", 1);
    expect(noop.index.time("parse", () => 7)).toBe(7);
    noop.histogram("query_duration", "x", ["name"]).observe(1, { name: "utxo" });
    noop.histogram("query_duration", "x", ["name"]).observe(1, { name: "utxo" }); // no duplicate error
    expect(await noop.exposition()).toBe("");
    expect(noop.contentType).toBe(real.contentType);
  });
});

describe("startMetricsServer", () => {
  const log = silentLogger();

  test("answers every path with the exposition", async () => {
    const metrics = createMetrics({ processCollector: true });
    metrics.tip.set(7);
    const server = startMetricsServer({ addr: { host: "127.0.0.1", port: 0 }, metrics, log });
    try {
      expect(server.port).toBeGreaterThan(0);
      expect(server.url).toBe(`http://127.0.0.1:${server.port}/metrics`);
      for (const path of ["/metrics", "/", "/anything/else"]) {
        const res = await fetch(`http://127.0.0.1:${server.port}${path}`);
        expect(res.status).toBe(200);
        expect(res.headers.get("content-type")).toBe(metrics.registry.contentType);
        const text = await res.text();
        expect(sample(text, "tip_height")).toBe(7);
        for (const name of ELECTRS_NAMES) expect(text).toContain(`# TYPE ${name} `);
      }
    } finally {
      await server.stop();
    }
  });

  test("a second server on the same port fails with a clear message; stop() frees the port", async () => {
    const metrics = noopMetrics();
    const first = startMetricsServer({ addr: { host: "127.0.0.1", port: 0 }, metrics, log });
    const port = first.port;
    try {
      expect(() => startMetricsServer({ addr: { host: "127.0.0.1", port }, metrics, log })).toThrow(
        `cannot listen on 127.0.0.1:${port} for --monitoring-addr: address in use`,
      );
      expect(() => startMetricsServer({ addr: { host: "127.0.0.1", port }, metrics, log, flagName: "--http-addr" })).toThrow(
        `cannot listen on 127.0.0.1:${port} for --http-addr: address in use`,
      );
    } finally {
      await first.stop();
    }
    const again = startMetricsServer({ addr: { host: "127.0.0.1", port }, metrics, log });
    expect(again.port).toBe(port);
    await again.stop();
  });
});
