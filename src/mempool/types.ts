/**
 * The mempool's contract with the rest of the server: what it needs (from the node and from the
 * chain index, as narrow interfaces, ElectrumX's MemPoolAPI pattern) and what it offers to the
 * query layer (REST, Electrum). Script keys are the store's 11-byte keys (store/rows.ts scriptKeyOf);
 * txids are internal byte order unless named `…Hex` (display order).
 */
import type { Tx } from "../bitcoin/block.ts";
import type { HistoryRow, ScriptStats } from "../store/read.ts";

/** What the mempool asks of the node (implemented over DaemonClient in the app, scripted in tests). */
export interface MempoolNode {
  /** `getrawmempool false`: display-order txid hex strings. */
  rawMempool(): Promise<string[]>;
  /** `getrawtransaction <txid> false` in batches; null in the slot of a tx the node no longer has (-5). */
  rawTransactions(txidHexes: readonly string[]): Promise<(Uint8Array | null)[]>;
  /** `getbestblockhash`, display-order hex. */
  bestBlockHash(): Promise<string>;
}

/** What the mempool asks of the chain index (implemented over StoreReader + the indexer's tip). */
export interface MempoolChain {
  /** A confirmed output of the best chain: its 11-byte script key and value, or null (unknown, or unspendable and not indexed). */
  output(txid: Uint8Array, vout: number): { scriptKey: Uint8Array; valueSat: number } | null;
  /** Display-order hash of the indexed tip ("" before the first block). */
  tipHashHex(): string;
}

/** A previous output as the mempool resolved it when the tx entered. */
export interface MempoolPrevout {
  readonly scriptKey: Uint8Array;
  readonly valueSat: number;
  /** Where it came from: a confirmed output or the output of another mempool tx. */
  readonly confirmed: boolean;
}

export interface MempoolEntry {
  readonly txid: Uint8Array;
  readonly txidHex: string;
  /** Parsed with witness views, over `raw`. */
  readonly tx: Tx;
  readonly raw: Uint8Array;
  /** Sum of prevout values minus sum of outputs. */
  readonly feeSat: number;
  readonly vsize: number;
  readonly weight: number;
  /** One per input, in input order. */
  readonly prevouts: readonly MempoolPrevout[];
  /** Unix seconds when this server first saw it. */
  readonly firstSeen: number;
}

/** One funding or spending row of a script's mempool history (electrs' TxHistoryInfo): a chain row without a place in the chain. */
export type MempoolHistoryRow = Omit<HistoryRow, "txnum" | "height">;

/** The same five sums as the chain's stats (`mempool_stats` next to `chain_stats`). */
export type MempoolStats = ScriptStats;

export interface MempoolUtxo {
  readonly txid: Uint8Array;
  readonly vout: number;
  readonly valueSat: number;
}

/** electrs' TxOverview (`/mempool/recent`): value = sum of input prevout values. */
export interface TxOverview {
  readonly txidHex: string;
  readonly feeSat: number;
  readonly vsize: number;
  readonly valueSat: number;
}

/** electrs' BacklogStats (`/mempool`). */
export interface BacklogStats {
  readonly count: number;
  readonly vsize: number;
  readonly totalFeeSat: number;
  /** [feerate sat/vB (lowest of the bin), vsize of the bin], highest feerate first. */
  readonly feeHistogram: readonly (readonly [number, number])[];
}

export interface MempoolUpdateResult {
  /** "tip-moved": the node's tip is not our indexed tip; nothing was added (index first, then retry). */
  readonly status: "synced" | "tip-moved";
  readonly addedTxidsHex: readonly string[];
  readonly removedTxidsHex: readonly string[];
  /** Hex of the 11-byte script keys whose mempool history changed (Electrum notifications). */
  readonly touchedScriptKeysHex: ReadonlySet<string>;
}

/** The read side used by the query layer. */
export interface MempoolView {
  /** True once one update has completed (`/health/ready`). */
  readonly synced: boolean;
  readonly size: number;
  get(txid: Uint8Array): MempoolEntry | null;
  has(txid: Uint8Array): boolean;
  /** Every txid, in no particular order. */
  txids(): Uint8Array[];
  /** Txids in raw byte order (MP's BTreeMap order), strictly after `afterTxid`, at most `limit`. */
  txidsPage(afterTxid: Uint8Array | null, limit: number): Uint8Array[];
  /** Per-script history in insertion order (funding rows of a tx before its spending rows). */
  history(scriptKey: Uint8Array): MempoolHistoryRow[];
  /** Distinct txids of `history`, in first-seen order. */
  historyTxids(scriptKey: Uint8Array): Uint8Array[];
  stats(scriptKey: Uint8Array): MempoolStats;
  /** Mempool outputs to this script not spent in the mempool, insertion order. */
  utxos(scriptKey: Uint8Array): MempoolUtxo[];
  /** The mempool input spending an outpoint (confirmed or mempool), or null. */
  spendOf(txid: Uint8Array, vout: number): { txid: Uint8Array; vin: number } | null;
  /** Some input spends an output of another mempool tx. */
  hasUnconfirmedParents(txid: Uint8Array): boolean;
  /** electrs' make_fee_histogram over the whole mempool (computed on each call). */
  feeHistogram(): [number, number][];
  /** Cached for 10 s (BACKLOG_STATS_TTL); `[[0.0, 0]]` histogram before the first computation. */
  backlog(): BacklogStats;
  /** Up to 10 most recent entries, newest first (may include txs that left since). */
  recent(): TxOverview[];
}
