/**
 * The status page on the monitoring address: `/status` (a small self-contained HTML page that
 * refreshes itself from the JSON) and `/status.json`. Its figures come from the same registry as
 * the Prometheus exposition (so the page and a scrape never disagree), plus what only the app knows:
 * the phase, the listening addresses. Rates and the sync's ETA are taken over a sliding window of
 * one sample a second, kept here (a timer that does not hold the process open).
 */
import type { Registry } from "prom-client";
// `type: "text"` makes it the file's text (Bun's typings declare every .html import an HTMLBundle).
import statusPageText from "./status.html" with { type: "text" };

const statusPage = statusPageText as unknown as string;

export type Phase = "starting" | "initial sync" | "serving" | "stopping";

export interface StatusJson {
  readonly name: string;
  readonly version: string;
  readonly network: string;
  readonly phase: Phase;
  readonly uptime_s: number;
  readonly index: {
    readonly height: number | null;
    readonly node_height: number | null;
    readonly behind_blocks: number | null;
    readonly progress: number;
    readonly eta_s: number | null;
    readonly indexed_txs: number;
    readonly tx_per_s: number | null;
  };
  readonly mempool: { readonly txs: number | null };
  readonly electrum: { readonly clients: number; readonly subscriptions: number; readonly requests_total: number; readonly requests_per_s: number | null };
  readonly rest: { readonly requests_total: number; readonly requests_per_s: number | null };
  readonly memory: { readonly rss_bytes: number; readonly heap_used_bytes: number };
  readonly listeners: Readonly<Record<string, string>>;
}

interface Sample {
  readonly t: number;
  readonly progress: number;
  readonly txs: number;
  readonly rest: number;
  readonly electrum: number;
}

/** Samples kept: the rates and the ETA are over the last WINDOW seconds. */
const WINDOW = 30;

export interface StatusBoardOptions {
  readonly registry: Registry;
  readonly name: string;
  readonly version: string;
  readonly network: string;
  readonly now?: () => number;
}

export class StatusBoard {
  private phase: Phase = "starting";
  private readonly listeners: Record<string, string> = {};
  private readonly samples: Sample[] = [];
  private readonly started: number;
  private timer: ReturnType<typeof setInterval> | null = null;
  private readonly now: () => number;

  constructor(private readonly opts: StatusBoardOptions) {
    this.now = opts.now ?? (() => performance.now());
    this.started = this.now();
  }

  /** Starts the once-a-second sampling (unref'd: it never keeps the process alive). */
  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.sample(), 1000);
    this.timer.unref?.();
    void this.sample();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  setPhase(phase: Phase): void {
    this.phase = phase;
  }

  /** e.g. ("electrum_tcp", "127.0.0.1:50001"). */
  setListener(name: string, addr: string): void {
    this.listeners[name] = addr;
  }

  async sample(): Promise<Sample> {
    const v = await this.values();
    const s: Sample = { t: this.now(), progress: v.progress, txs: v.txs, rest: v.rest, electrum: v.electrum };
    this.samples.push(s);
    while (this.samples.length > WINDOW + 1) this.samples.shift();
    return s;
  }

  async json(): Promise<StatusJson> {
    const v = await this.values();
    const oldest = this.samples[0];
    const t = this.now();
    const dt = oldest ? (t - oldest.t) / 1000 : 0;
    const rate = (now: number, then: number | undefined) => (oldest && dt >= 1 && then !== undefined ? (now - then) / dt : null);
    const progressRate = rate(v.progress, oldest?.progress);
    const syncing = this.phase === "initial sync";
    const eta = syncing && progressRate !== null && progressRate > 0 ? Math.round((1 - v.progress) / progressRate) : null;
    const mem = process.memoryUsage();
    return {
      name: this.opts.name,
      version: this.opts.version,
      network: this.opts.network,
      phase: this.phase,
      uptime_s: Math.floor((t - this.started) / 1000),
      index: {
        height: v.height,
        node_height: v.nodeHeight,
        behind_blocks: v.height !== null && v.nodeHeight !== null ? Math.max(0, v.nodeHeight - v.height) : null,
        progress: v.progress,
        eta_s: eta,
        indexed_txs: v.txs,
        tx_per_s: syncing ? round1(rate(v.txs, oldest?.txs)) : null,
      },
      mempool: { txs: v.mempoolTxs },
      electrum: { clients: v.clients, subscriptions: v.subscriptions, requests_total: v.electrum, requests_per_s: round1(rate(v.electrum, oldest?.electrum)) },
      rest: { requests_total: v.rest, requests_per_s: round1(rate(v.rest, oldest?.rest)) },
      memory: { rss_bytes: mem.rss, heap_used_bytes: mem.heapUsed },
      listeners: { ...this.listeners },
    };
  }

  /** The page: static HTML whose script fetches `status.json` every two seconds. */
  html(): string {
    return statusPage;
  }

  /** Where the figures are read from now: with serve workers, their registries summed with this thread's (app.ts). */
  readFrom(source: () => Promise<Registry>): void {
    this.source = source;
  }
  private source: (() => Promise<Registry>) | null = null;

  private async values() {
    const reg = this.source ? await this.source() : this.opts.registry;
    const one = async (name: string): Promise<number | null> => {
      const m = reg.getSingleMetric(name);
      if (!m) return null;
      const got = await m.get();
      return got.values.length ? got.values.reduce((a, x) => a + x.value, 0) : null;
    };
    /** The total `_count` of a histogram over all its labels. */
    const count = async (name: string): Promise<number> => {
      const m = reg.getSingleMetric(name);
      if (!m) return 0;
      const got = await m.get();
      return got.values.filter((x) => (x as { metricName?: string }).metricName === `${name}_count`).reduce((a, x) => a + x.value, 0);
    };
    const mempool = reg.getSingleMetric("mempool_count");
    const mempoolTxs = mempool ? ((await mempool.get()).values.find((x) => x.labels["type"] === "txs")?.value ?? null) : null;
    const height = await one("electrs_bun_indexed_height");
    const indexedTxs = await one("electrs_bun_indexed_txs_total");
    return {
      height: height !== null && height >= 0 ? height : null,
      nodeHeight: await one("electrs_bun_node_height"),
      progress: (await one("electrs_bun_sync_progress")) ?? 0,
      txs: indexedTxs ?? 0,
      mempoolTxs,
      clients: (await one("electrum_clients")) ?? 0,
      subscriptions: (await one("electrum_subscriptions")) ?? 0,
      rest: await count("http_request_duration"),
      electrum: await count("electrum_rpc"),
    };
  }
}

const round1 = (x: number | null): number | null => (x === null ? null : Math.round(x * 10) / 10);
