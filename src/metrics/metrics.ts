/**
 * Prometheus metrics under electrs' names (spec §7), in a registry owned by one `Metrics` object:
 * never prom-client's global registry, so two instances (tests, a benchmark next to a server) never
 * collide. `noopMetrics()` has the same shape and records nothing, so callers never ask whether
 * metrics are on (romanz/electrs' metrics_impl / metrics_fake).
 *
 * Adding a metric is one line: `const q = metrics.histogram("query_duration", "…", ["name"])`.
 */
import { readFileSync, readdirSync } from "node:fs";
import { Counter, Gauge, Registry, exponentialBuckets } from "prom-client";
import { FastHistogram } from "./fast-histogram.ts";
import { LabelSeries } from "./label-series.ts";

/** Label values keyed by label name; prom-client accepts numbers and stringifies them. */
export type Labels<L extends string> = Partial<Record<L, string | number>>;

/** A histogram, optionally with labels. `startTimer` returns a stop function giving elapsed seconds. */
export interface HistogramVec<L extends string = never> {
  observe(value: number, labels?: Labels<L>): void;
  startTimer(labels?: Labels<L>): () => number;
}

export interface GaugeVec<L extends string = never> {
  set(value: number, labels?: Labels<L>): void;
  inc(by?: number, labels?: Labels<L>): void;
  dec(by?: number, labels?: Labels<L>): void;
}

export interface CounterVec<L extends string = never> {
  inc(by?: number, labels?: Labels<L>): void;
}

/** Steps of an index update, the `step` label of `index_duration`. */
export type IndexStep = "fetch" | "parse" | "index" | "commit" | "reorg" | "build_indexes" | "merge";
export type ByteDir = "send" | "recv";

/** What the bitcoind RPC client records: latency and payload size per method. */
export interface DaemonMetrics {
  observeRpc(method: string, seconds: number): void;
  observeBytes(method: string, dir: ByteDir, bytes: number): void;
  /** A failed exchange with the node: `kind` is connection, auth, busy, warmup or unreachable (the retries gave up). */
  observeError(method: string, kind: string): void;
}

export interface IndexMetrics {
  observe(step: IndexStep, seconds: number): void;
  /** Returns a stop function that records and returns the elapsed seconds. */
  startTimer(step: IndexStep): () => number;
  /** Runs `fn` and records its duration, also when it throws or its promise rejects. */
  time<T>(step: IndexStep, fn: () => T): T;
}

export interface SyncMetrics {
  setIndexedHeight(height: number): void;
  /** The node's best height, as the indexer last asked for it. */
  setNodeHeight(height: number): void;
  addTxs(n: number): void;
  /** Fraction of the chain indexed, 0..1 (clamped). */
  setProgress(progress: number): void;
}

export interface Metrics {
  /** The registry behind the exposition; the no-op twin's is real but always empty. */
  readonly registry: Registry;
  readonly daemon: DaemonMetrics;
  readonly index: IndexMetrics;
  readonly tip: { set(height: number): void };
  readonly mainLoop: { inc(): void };
  /** electrs_bun_mempool_update_errors_total. */
  readonly mempoolErrors: { inc(): void };
  readonly sync: SyncMetrics;
  histogram<L extends string = never>(name: string, help: string, labels?: readonly L[], buckets?: number[]): HistogramVec<L>;
  gauge<L extends string = never>(name: string, help: string, labels?: readonly L[]): GaugeVec<L>;
  counter<L extends string = never>(name: string, help: string, labels?: readonly L[]): CounterVec<L>;
  /** The text exposition, refreshed from /proc first when the process collector is on. */
  exposition(): Promise<string>;
  readonly contentType: string;
}

export interface MetricsOptions {
  /** Register and refresh electrs' process_* gauges from /proc (off in tests and benchmarks). */
  processCollector: boolean;
}

/** 64 B … 512 MiB by powers of two: RPC payloads range from a header to a 4 MB block in hex, batched. */
export const BYTE_BUCKETS: readonly number[] = exponentialBuckets(64, 2, 24);

export function createMetrics(opts: MetricsOptions): Metrics {
  const registry = new Registry();
  const factories = realFactories(registry);
  if (opts.processCollector) registerProcessCollector(registry);
  return assemble(registry, factories, () => registry.metrics());
}

/** Same interface, records nothing, costs nothing. */
export function noopMetrics(): Metrics {
  return assemble(new Registry(), NOOP_FACTORIES, async () => "");
}

interface Factories {
  histogram<L extends string>(name: string, help: string, labels?: readonly L[], buckets?: number[]): HistogramVec<L>;
  gauge<L extends string>(name: string, help: string, labels?: readonly L[]): GaugeVec<L>;
  counter<L extends string>(name: string, help: string, labels?: readonly L[]): CounterVec<L>;
}

/** Declares electrs' own metrics once, against either the real or the no-op factories. */
function assemble(registry: Registry, f: Factories, exposition: () => Promise<string>): Metrics {
  const indexDuration = f.histogram("index_duration", "Index update duration (in seconds)", ["step"]);
  const tipHeight = f.gauge("tip_height", "Current chain tip height");
  const daemonRpc = f.histogram("daemon_rpc", "Bitcoind RPC latency (in seconds)", ["method"]);
  const daemonErrors = f.counter("electrs_bun_daemon_rpc_errors_total", "Failed exchanges with bitcoind (each retry counts), by method and kind", ["method", "kind"]);
  const mempoolErrors = f.counter("electrs_bun_mempool_update_errors_total", "Mempool updates that failed (retried at the next main-loop turn)");
  const daemonBytes = f.histogram("daemon_bytes", "Bitcoind RPC size (in bytes)", ["method", "dir"], [...BYTE_BUCKETS]);
  const mainLoop = f.gauge("electrs_main_loop_count", "count of iterations of electrs main loop each 5 seconds or after interrupts");
  const indexedHeight = f.gauge("electrs_bun_indexed_height", "Height of the last block written to the index");
  const nodeHeight = f.gauge("electrs_bun_node_height", "Best block height the node reported at the last index update");
  const indexedTxs = f.counter("electrs_bun_indexed_txs_total", "Transactions indexed since start");
  const progress = f.gauge("electrs_bun_sync_progress", "Fraction of the chain indexed (0..1)");

  const index: IndexMetrics = {
    observe: (step, seconds) => indexDuration.observe(seconds, { step }),
    startTimer: (step) => indexDuration.startTimer({ step }),
    time: (step, fn) => timed(indexDuration.startTimer({ step }), fn),
  };
  return {
    registry,
    daemon: {
      observeRpc: (method, seconds) => daemonRpc.observe(seconds, { method }),
      observeBytes: (method, dir, bytes) => daemonBytes.observe(bytes, { method, dir }),
      observeError: (method, kind) => daemonErrors.inc(1, { method, kind }),
    },
    mempoolErrors: { inc: () => mempoolErrors.inc() },
    index,
    tip: { set: (h) => tipHeight.set(h) },
    mainLoop: { inc: () => mainLoop.inc() },
    sync: {
      setIndexedHeight: (h) => indexedHeight.set(h),
      setNodeHeight: (h) => nodeHeight.set(h),
      addTxs: (n) => indexedTxs.inc(n),
      setProgress: (p) => progress.set(Math.min(1, Math.max(0, p))),
    },
    histogram: f.histogram,
    gauge: f.gauge,
    counter: f.counter,
    exposition,
    contentType: registry.contentType,
  };
}

/** Runs fn, stopping the timer when it returns, throws, or (for a promise) settles. */
function timed<T>(stop: () => number, fn: () => T): T {
  let result: T;
  try {
    result = fn();
  } catch (err) {
    stop();
    throw err;
  }
  if (result instanceof Promise) {
    // The stop is a side effect; callers still see the original promise's value or rejection.
    return result.finally(() => void stop()) as T;
  }
  stop();
  return result;
}

function realFactories(registry: Registry): Factories {
  const reg = [registry];
  return {
    // Our own (fast-histogram.ts): prom-client's observe cost ~10 % of a busy Electrum server's CPU.
    histogram: (name, help, labels = [], buckets) => {
      const h = FastHistogram.register(registry, name, help, labels, buckets);
      return {
        observe: (v, l) => h.observe(v, l),
        startTimer: (l) => h.startTimer(l),
      };
    },
    gauge: (name, help, labels = []) => {
      const g = new Gauge({ name, help, labelNames: labels, registers: reg });
      return {
        set: (v, l) => g.set(l ?? {}, v),
        inc: (by = 1, l) => g.inc(l ?? {}, by),
        dec: (by = 1, l) => g.dec(l ?? {}, by),
      };
    },
    // Increments are added up here and given to prom-client at each scrape (its collect hook):
    // its inc hashes the labels and validates them on every call, ~6 % of a busy REST server's CPU.
    counter: (name, help, labels = []) => {
      // The series exists from its first inc (0 until the next scrape adds what came).
      const pending = new LabelSeries(labels, (own) => {
        c.inc(own as never, 0);
        return { labels: own, n: 0 };
      });
      const c = new Counter({
        name,
        help,
        labelNames: labels,
        registers: reg,
        collect() {
          for (const p of pending.all) {
            if (p.n > 0) c.inc(p.labels as never, p.n);
            p.n = 0;
          }
        },
      });
      return {
        inc: (by = 1, l) => {
          if (!(by >= 0) || !Number.isFinite(by)) throw new Error(`counter ${name}: it is not possible to decrease a counter or add ${by}`);
          pending.of(l).n += by;
        },
      };
    },
  };
}

const noop = (): void => {};
const NOOP_HISTOGRAM: HistogramVec<string> = { observe: noop, startTimer: () => () => 0 };
const NOOP_GAUGE: GaugeVec<string> = { set: noop, inc: noop, dec: noop };
const NOOP_COUNTER: CounterVec<string> = { inc: noop };
const NOOP_FACTORIES: Factories = {
  histogram: () => NOOP_HISTOGRAM,
  gauge: () => NOOP_GAUGE,
  counter: () => NOOP_COUNTER,
};

// ---------------------------------------------------------------------------------------------
// Process collector: electrs' process_memory_rss, process_cpu_usage{type="utime"}, process_fs_fds.
// electrs refreshes them from a thread every 5 s; we read /proc on each scrape instead, through
// prom-client's collect() hook, so the values are never stale and no timer keeps the process alive.

export interface ProcessStats {
  rssBytes: number;
  utimeSeconds: number;
  fds: number;
}

const ZERO_STATS: ProcessStats = { rssBytes: 0, utimeSeconds: 0, fds: 0 };

function registerProcessCollector(registry: Registry): void {
  const reg = [registry];
  const constants = systemConstants();
  // One /proc read per scrape, shared by the three gauges (collect() runs once per gauge).
  let cached: { at: number; stats: ProcessStats } | null = null;
  const stats = (): ProcessStats => {
    const now = performance.now();
    if (!cached || now - cached.at > 100) cached = { at: now, stats: readProcessStats(constants) };
    return cached.stats;
  };
  new Gauge({
    name: "process_memory_rss",
    help: "Resident memory size [bytes]",
    registers: reg,
    collect() {
      this.set(stats().rssBytes);
    },
  });
  new Gauge({
    name: "process_cpu_usage",
    help: "CPU usage by this process [seconds]",
    labelNames: ["type"],
    registers: reg,
    collect() {
      this.set({ type: "utime" }, stats().utimeSeconds);
    },
  });
  new Gauge({
    name: "process_fs_fds",
    help: "# of file descriptors",
    registers: reg,
    collect() {
      this.set(stats().fds);
    },
  });
}

export interface SystemConstants {
  pageSize: number;
  clockTicks: number;
}

/** Fallbacks when the aux vector cannot be read: the values on every common Linux build. */
const DEFAULT_CONSTANTS: SystemConstants = { pageSize: 4096, clockTicks: 100 };
const AT_PAGESZ = 6n;
const AT_CLKTCK = 17n;

/**
 * Page size and clock ticks per second, as sysconf(_SC_PAGESIZE / _SC_CLK_TCK) would give: Bun has
 * no sysconf, but the kernel hands both to every process in its aux vector (/proc/self/auxv).
 */
export function systemConstants(): SystemConstants {
  try {
    const auxv = readFileSync("/proc/self/auxv");
    return parseAuxv(new DataView(auxv.buffer, auxv.byteOffset, auxv.byteLength));
  } catch {
    return DEFAULT_CONSTANTS;
  }
}

/** auxv is a list of (key, value) pairs of native words, ended by key 0 (AT_NULL); 64-bit LE assumed. */
export function parseAuxv(view: DataView): SystemConstants {
  const found = { ...DEFAULT_CONSTANTS };
  for (let off = 0; off + 16 <= view.byteLength; off += 16) {
    const key = view.getBigUint64(off, true);
    const value = Number(view.getBigUint64(off + 8, true));
    if (key === 0n) break;
    if (key === AT_PAGESZ && value > 0) found.pageSize = value;
    if (key === AT_CLKTCK && value > 0) found.clockTicks = value;
  }
  return found;
}

/** Current stats from /proc; zeros where /proc does not exist (macOS, as electrs reports there). */
export function readProcessStats(constants: SystemConstants = DEFAULT_CONSTANTS): ProcessStats {
  let stat: string;
  try {
    stat = readFileSync("/proc/self/stat", "utf8");
  } catch {
    return ZERO_STATS;
  }
  const { utimeTicks, rssPages } = parseProcStat(stat);
  return {
    rssBytes: rssPages * constants.pageSize,
    utimeSeconds: utimeTicks / constants.clockTicks,
    fds: countFds(),
  };
}

/**
 * Fields 14 (utime, clock ticks) and 24 (rss, pages) of /proc/self/stat (`man 5 proc`). Field 2,
 * the command name, is in parentheses and may itself hold spaces or ')', so split after the last ')'.
 */
export function parseProcStat(stat: string): { utimeTicks: number; rssPages: number } {
  const rest = stat.slice(stat.lastIndexOf(")") + 1).trim().split(/\s+/);
  // rest[0] is field 3 (state), so field n is rest[n - 3].
  const field = (n: number): number => {
    const v = Number(rest[n - 3]);
    return Number.isFinite(v) ? v : 0;
  };
  return { utimeTicks: field(14), rssPages: field(24) };
}

function countFds(): number {
  try {
    return readdirSync("/proc/self/fd").length;
  } catch {
    return 0;
  }
}
