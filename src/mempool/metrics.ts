/**
 * The mempool's metrics under electrs' names (spec §7): mempool_latency{part}, mempool_count{type},
 * mempool_delta{type}, behind an interface with a silent twin so the mempool never asks whether
 * metrics are on.
 */
import type { Metrics } from "../metrics/metrics.ts";

/** `part` label of mempool_latency (electrs' names). */
export type MempoolLatencyPart =
  | "update"
  | "add"
  | "remove"
  | "update_backlog_stats"
  | "history"
  | "history_txids"
  | "utxo"
  | "stats"
  | "txids";
/** `type` label of mempool_count (BS-new's names). */
export type MempoolCountType = "txs" | "all_txs" | "indexed_txs" | "missing_txs";

export interface MempoolMetrics {
  /** Returns a stop function that records and returns the elapsed seconds. */
  startTimer(part: MempoolLatencyPart): () => number;
  setCount(type: MempoolCountType, count: number): void;
  /** Number of txs per add or remove: a histogram in electrs, kept so. */
  observeDelta(type: "add" | "remove", count: number): void;
}

/** Registers the three metrics in `m`; call once per Metrics (a name can be registered once). */
export function mempoolMetricsOf(m: Metrics): MempoolMetrics {
  const latency = m.histogram("mempool_latency", "Mempool requests latency (in seconds)", ["part"]);
  const delta = m.histogram("mempool_delta", "# of transactions added/removed", ["type"]);
  const count = m.gauge("mempool_count", "# of elements currently at the mempool", ["type"]);
  return {
    startTimer: (part) => latency.startTimer({ part }),
    setCount: (type, n) => count.set(n, { type }),
    observeDelta: (type, n) => delta.observe(n, { type }),
  };
}

export function noopMempoolMetrics(): MempoolMetrics {
  return { startTimer: () => () => 0, setCount: () => {}, observeDelta: () => {} };
}
