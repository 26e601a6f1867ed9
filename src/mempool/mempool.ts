/**
 * The local view of the node's mempool (electrs' src/new_index/mempool.rs, BS-new's single-pass
 * update): txs with their resolved prevouts and fee info, per-script history rows, spend edges, the
 * recent-tx ring and the cached backlog stats. The node and the chain index come in through the
 * narrow MempoolNode and MempoolChain interfaces (ElectrumX's MemPoolAPI pattern), so tests script them.
 *
 * Txs are keyed by their display-order txid hex, as getrawmempool lists them: diffing a listing of
 * 300k txids against the local map then costs no conversion (converting each costs ~4 µs on Bun).
 */
import { parseTxExact, type Tx } from "../bitcoin/block.ts";
import { bytesToHex, hashToHex } from "../bitcoin/bytes.ts";
import { describeError, type Logger } from "../log.ts";
import { scriptKeyOf } from "../store/rows.ts";
import { backlogOf, feeInfoOf, makeFeeHistogram, type FeeInfo } from "./fee-histogram.ts";
import type { MempoolLatencyPart, MempoolMetrics } from "./metrics.ts";
import { MempoolScriptIndex } from "./script-index.ts";
import type { BacklogStats, MempoolChain, MempoolEntry, MempoolHistoryRow, MempoolNode, MempoolPrevout } from "./types.ts";
import type { MempoolStats, MempoolUpdateResult, MempoolUtxo, MempoolView, TxOverview } from "./types.ts";

export { mempoolMetricsOf, noopMempoolMetrics, type MempoolLatencyPart, type MempoolMetrics, type MempoolCountType } from "./metrics.ts";

/** electrs' RECENT_TXS_SIZE. */
export const RECENT_TXS_SIZE = 10;
/** electrs' BACKLOG_STATS_TTL (10 s), in milliseconds. */
export const BACKLOG_STATS_TTL_MS = 10_000;

export interface MempoolOptions {
  readonly node: MempoolNode;
  readonly chain: MempoolChain;
  readonly log: Logger;
  readonly metrics: MempoolMetrics;
  /** --index-unspendables: funding rows for OP_RETURN (and oversize) outputs too. */
  readonly indexUnspendables: boolean;
  /** Milliseconds since the Unix epoch (default Date.now); injected so tests drive the backlog TTL without sleeping. */
  readonly now?: () => number;
  /** Told of every tx that enters or leaves, and of the size after each change (serve/pool.ts: the serving threads' view). */
  readonly observer?: MempoolObserver;
  /** Txs that `recent` lists (MP's --mempool-recent-txs-size; default RECENT_TXS_SIZE). */
  readonly recentTxsSize?: number;
  /** How long the backlog stats are kept (MP's --mempool-backlog-stats-ttl; default BACKLOG_STATS_TTL_MS). */
  readonly backlogStatsTtlMs?: number;
}

export interface MempoolObserver {
  added(entry: MempoolEntry, scriptKeysHex: readonly string[]): void;
  removed(entry: MempoolEntry, scriptKeysHex: readonly string[]): void;
  changed(size: number, synced: boolean): void;
}

/** One local mempool tx and what its removal needs. */
interface Slot {
  readonly entry: MempoolEntry;
  readonly fee: FeeInfo;
  /** Script key of every output: a child's prevout may be any of them. */
  readonly outKeys: readonly Uint8Array[];
  /** Every script key with a history row of this tx, so removal visits only those (BS-new's tx_scripthashes). */
  readonly scriptKeysHex: readonly string[];
  /** Insertion number: an update removes only txs that were here before it listed the node's mempool. */
  readonly seq: number;
}

interface Fetched {
  readonly tx: Tx;
  readonly raw: Uint8Array;
}

type Resolution = { readonly prevouts: MempoolPrevout[] } | { readonly missingVin: number };

export class Mempool implements MempoolView {
  private readonly node: MempoolNode;
  private readonly chain: MempoolChain;
  private readonly log: Logger;
  private readonly metrics: MempoolMetrics;
  private readonly now: () => number;
  private readonly slots = new Map<string, Slot>();
  private readonly scripts: MempoolScriptIndex;
  private recentTxs: TxOverview[] = [];
  private backlogStats: BacklogStats = { count: 0, vsize: 0, totalFeeSat: 0, feeHistogram: [[0, 0]] };
  private backlogAt = Number.NEGATIVE_INFINITY;
  /** Txids sorted in raw byte order for txidsPage; rebuilt on the first page after a change. */
  private sortedTxids: { readonly rawHex: string; readonly txid: Uint8Array }[] | null = null;
  /** The Electrum fee histogram, built on the first call after a change (every client asks for it on connect). */
  private histogram: [number, number][] | null = null;
  /** Unparsable txs already warned about (pruned to those still listed), so a bad tx warns once, not every update. */
  private readonly unparsable = new Set<string>();
  private nextSeq = 0;
  private isSynced = false;
  private readonly observer: MempoolObserver | null;
  private readonly recentTxsSize: number;
  private readonly backlogStatsTtlMs: number;

  constructor(opts: MempoolOptions) {
    this.node = opts.node;
    this.chain = opts.chain;
    this.log = opts.log;
    this.metrics = opts.metrics;
    this.scripts = new MempoolScriptIndex(opts.log, opts.indexUnspendables);
    this.now = opts.now ?? Date.now;
    this.observer = opts.observer ?? null;
    this.recentTxsSize = opts.recentTxsSize ?? RECENT_TXS_SIZE;
    this.backlogStatsTtlMs = opts.backlogStatsTtlMs ?? BACKLOG_STATS_TTL_MS;
  }

  get synced(): boolean {
    return this.isSynced;
  }

  get size(): number {
    return this.slots.size;
  }

  /**
   * One pass: list the node's mempool, fetch what is new in one batch, then drop what left the
   * list and add what is new, unless the node's tip is no longer our indexed tip (then the fetched
   * txs may spend outputs we have not indexed, and the txs that left may be in a block we have not
   * indexed: change nothing, index first, then call again). Txs whose prevouts
   * cannot be resolved are left out and retried by the next pass. Rejects with the signal's reason
   * when aborted, before changing anything more.
   */
  async update(signal?: AbortSignal): Promise<MempoolUpdateResult> {
    const stop = this.metrics.startTimer("update");
    try {
      return await this.runUpdate(signal);
    } finally {
      stop();
    }
  }

  private async runUpdate(signal: AbortSignal | undefined): Promise<MempoolUpdateResult> {
    const tip = this.chain.tipHashHex().toLowerCase();
    const seqAtStart = this.nextSeq;
    const listedHex = await this.node.rawMempool();
    signal?.throwIfAborted();
    const listed = new Set(listedHex); // lowercase, as Core and mempoolNodeOf give them
    for (const key of this.unparsable) if (!listed.has(key)) this.unparsable.delete(key);

    const touched = new Set<string>();
    const removed: string[] = [];
    const added: string[] = [];
    const result = (status: MempoolUpdateResult["status"]): MempoolUpdateResult => ({
      status,
      addedTxidsHex: added,
      removedTxidsHex: removed,
      touchedScriptKeysHex: touched,
    });
    const goneNow = (): string[] => {
      const gone: string[] = [];
      for (const [key, slot] of this.slots) if (slot.seq < seqAtStart && !listed.has(key)) gone.push(key);
      return gone;
    };
    const missing: string[] = [];
    for (const hex of listed) if (!this.slots.has(hex)) missing.push(hex);
    this.metrics.setCount("all_txs", listed.size);
    this.metrics.setCount("indexed_txs", listed.size - missing.length);
    this.metrics.setCount("missing_txs", missing.length);
    this.log.debug(`mempool with total ${listed.size} txs, ${listed.size - missing.length} indexed locally, ${missing.length} to fetch`);

    if (missing.length > 0 || goneNow().length > 0) {
      const raws = missing.length > 0 ? await this.node.rawTransactions(missing) : [];
      signal?.throwIfAborted();
      // Asked after getrawmempool: a tx that left the list because a block confirmed it must not
      // leave the mempool before that block is indexed (electrs removes it first, and for a moment
      // the tx is in no answer at all), and new txs may spend outputs we have not indexed.
      const best = (await this.node.bestBlockHash()).toLowerCase();
      signal?.throwIfAborted();
      // Our own tip may also have moved while we awaited (a block committed, removeConfirmed ran).
      if (best !== tip || this.chain.tipHashHex().toLowerCase() !== tip) {
        this.log.debug(`chain tip moved while updating the mempool (node ${best}, indexed ${tip || "none"})`);
        return result("tip-moved");
      }
      const gone = goneNow();
      if (gone.length > 0) this.removeSlots(gone, touched, removed);
      if (missing.length > 0) this.add(this.parseFetched(missing, raws), touched, added);
    }
    this.metrics.setCount("txs", this.slots.size);
    this.refreshBacklogIfStale();
    this.isSynced = true;
    this.observer?.changed(this.slots.size, true);
    return result("synced");
  }

  /**
   * Fetches and adds these txs now (electrs' add_by_txid, after a broadcast), with the same
   * resolution rules as update(). Returns the touched script keys (hex).
   */
  async addTxids(txidHexes: readonly string[]): Promise<ReadonlySet<string>> {
    const touched = new Set<string>();
    const tip = this.chain.tipHashHex();
    const wanted = [...new Set(txidHexes.map((h) => h.toLowerCase()))].filter((h) => !this.slots.has(h));
    if (wanted.length === 0) return touched;
    const raws = await this.node.rawTransactions(wanted);
    // A block indexed meanwhile may confirm them (removeConfirmed has run already): leave them to update().
    if (this.chain.tipHashHex() !== tip) return touched;
    this.add(this.parseFetched(wanted, raws), touched, []);
    this.metrics.setCount("txs", this.slots.size);
    this.observer?.changed(this.slots.size, this.isSynced);
    return touched;
  }

  /**
   * Drops txs that a block just committed to the index confirmed (called synchronously after the
   * commit, so no tx is ever both confirmed and in the mempool). Their children stay: the prevouts
   * they resolved are now confirmed outputs with the same script and value.
   */
  removeConfirmed(txids: readonly Uint8Array[]): ReadonlySet<string> {
    const touched = new Set<string>();
    const keys = txids.map(hashToHex).filter((k) => this.slots.has(k));
    if (keys.length > 0) this.removeSlots(keys, touched, []);
    this.metrics.setCount("txs", this.slots.size);
    this.observer?.changed(this.slots.size, this.isSynced);
    return touched;
  }

  get(txid: Uint8Array): MempoolEntry | null {
    return this.slots.get(hashToHex(txid))?.entry ?? null;
  }

  has(txid: Uint8Array): boolean {
    return this.slots.has(hashToHex(txid));
  }

  txids(): Uint8Array[] {
    return this.timed("txids", () => Array.from(this.slots.values(), (s) => s.entry.txid));
  }

  txidsPage(afterTxid: Uint8Array | null, limit: number): Uint8Array[] {
    return this.timed("txids", () => {
      // Sorting on demand (once per change) is cheaper than keeping a sorted structure on every add.
      this.sortedTxids ??= Array.from(this.slots.values(), (s) => ({ rawHex: bytesToHex(s.entry.txid), txid: s.entry.txid })).sort(
        (a, b) => (a.rawHex < b.rawHex ? -1 : a.rawHex > b.rawHex ? 1 : 0),
      );
      const sorted = this.sortedTxids;
      let start = 0;
      if (afterTxid !== null) {
        const after = bytesToHex(afterTxid);
        let hi = sorted.length; // bisect for the first txid > after
        while (start < hi) {
          const mid = (start + hi) >>> 1;
          if (sorted[mid]!.rawHex <= after) start = mid + 1;
          else hi = mid;
        }
      }
      return sorted.slice(start, start + Math.max(0, limit)).map((t) => t.txid);
    });
  }

  history(scriptKey: Uint8Array): MempoolHistoryRow[] {
    return this.timed("history", () => this.scripts.history(scriptKey));
  }

  historyTxids(scriptKey: Uint8Array): Uint8Array[] {
    return this.timed("history_txids", () => this.scripts.historyTxids(scriptKey));
  }

  stats(scriptKey: Uint8Array): MempoolStats {
    return this.timed("stats", () => this.scripts.stats(scriptKey));
  }

  utxos(scriptKey: Uint8Array): MempoolUtxo[] {
    return this.timed("utxo", () => this.scripts.utxos(scriptKey));
  }

  spendOf(txid: Uint8Array, vout: number): { txid: Uint8Array; vin: number } | null {
    return this.scripts.spendOf(txid, vout);
  }

  /** Checks the current mempool (electrs' txstore), not the stored `confirmed` flags, which predate later confirmations. */
  hasUnconfirmedParents(txid: Uint8Array): boolean {
    const slot = this.slots.get(hashToHex(txid));
    return slot !== undefined && slot.entry.tx.inputs.some((i) => this.slots.has(hashToHex(i.prevTxid)));
  }

  feeHistogram(): [number, number][] {
    this.histogram ??= makeFeeHistogram(Array.from(this.slots.values(), (s) => s.fee));
    return this.histogram.map(([rate, vsize]) => [rate, vsize]);
  }

  backlog(): BacklogStats {
    return this.backlogStats;
  }

  recent(): TxOverview[] {
    return this.recentTxs.slice();
  }

  /** Sizes of the internal maps, for diagnostics and for tests that check nothing stale is left. */
  get indexSizes(): { txs: number; scripts: number; edges: number } {
    return { txs: this.slots.size, ...this.scripts.counts };
  }

  private timed<T>(part: MempoolLatencyPart, fn: () => T): T {
    const stop = this.metrics.startTimer(part);
    try {
      return fn();
    } finally {
      stop();
    }
  }

  /** Parses what the node sent; a null (gone meanwhile) or unparsable tx is left out. */
  private parseFetched(requestedHex: readonly string[], raws: readonly (Uint8Array | null)[]): Map<string, Fetched> {
    const batch = new Map<string, Fetched>();
    requestedHex.forEach((hex, i) => {
      const raw = raws[i] ?? null;
      if (raw === null) {
        this.log.debug(`mempool tx ${hex} left the node before it could be fetched`);
        return;
      }
      let tx: Tx;
      try {
        tx = parseTxExact(raw);
        if (hashToHex(tx.txid) !== hex) throw new Error(`the node sent tx ${hashToHex(tx.txid)} instead`);
      } catch (err) {
        const level = this.unparsable.has(hex) ? "debug" : "warn";
        this.unparsable.add(hex);
        this.log[level](`skipping mempool tx ${hex}: ${describeError(err)}`);
        return;
      }
      batch.set(hex, { tx, raw });
    });
    return batch;
  }

  /** Adds a batch, parents first (electrs' add); txs with an unresolvable prevout are skipped. */
  private add(batch: Map<string, Fetched>, touched: Set<string>, added: string[]): void {
    if (batch.size === 0) return;
    const stop = this.metrics.startTimer("add");
    this.metrics.observeDelta("add", batch.size);
    for (const key of dependencyOrder(batch)) {
      if (this.slots.has(key)) continue; // added meanwhile by a concurrent update() or addTxids()
      const { tx, raw } = batch.get(key)!;
      const r = this.resolve(tx);
      if ("missingVin" in r) {
        // Its parent was evicted or replaced after getrawmempool (or is itself skipped): the node will
        // drop it too, or list it again with its parent, and the next update retries it.
        const input = tx.inputs[r.missingVin]!;
        this.log.debug(`mempool tx ${hashToHex(tx.txid)} skipped: unknown prevout ${hashToHex(input.prevTxid)}:${input.prevVout}`);
        continue;
      }
      added.push(this.insert(key, tx, raw, r.prevouts, touched));
    }
    this.sortedTxids = null;
    this.histogram = null;
    stop();
  }

  /** Prevouts from the mempool (including txs added earlier in this batch), else from the chain. */
  private resolve(tx: Tx): Resolution {
    const prevouts: MempoolPrevout[] = [];
    for (let vin = 0; vin < tx.inputs.length; vin++) {
      const input = tx.inputs[vin]!;
      const parent = this.slots.get(hashToHex(input.prevTxid));
      if (parent !== undefined) {
        const out = parent.entry.tx.outputs[input.prevVout];
        if (out === undefined) return { missingVin: vin };
        prevouts.push({ scriptKey: parent.outKeys[input.prevVout]!, valueSat: out.valueSat, confirmed: false });
        continue;
      }
      const confirmed = this.chain.output(input.prevTxid, input.prevVout);
      if (confirmed === null) return { missingVin: vin };
      prevouts.push({ scriptKey: confirmed.scriptKey, valueSat: confirmed.valueSat, confirmed: true });
    }
    return { prevouts };
  }

  /** Indexes one resolved tx: fee info, recent ring, history rows (funding before spending), edges. */
  private insert(key: string, tx: Tx, raw: Uint8Array, prevouts: MempoolPrevout[], touched: Set<string>): string {
    const txid = tx.txid;
    let valueIn = 0;
    for (const p of prevouts) valueIn += p.valueSat;
    let valueOut = 0;
    for (const o of tx.outputs) valueOut += o.valueSat;
    const feeSat = valueIn - valueOut;
    const entry: MempoolEntry = {
      txid,
      txidHex: hashToHex(txid),
      tx,
      raw,
      feeSat,
      vsize: tx.vsize,
      weight: tx.weight,
      prevouts,
      firstSeen: Math.floor(this.now() / 1000),
    };
    const outKeys = tx.outputs.map((o) => scriptKeyOf(o.script));
    const keys = this.scripts.add(tx, outKeys, prevouts);
    for (const k of keys) touched.add(k);
    this.observer?.added(entry, keys);
    this.slots.set(key, { entry, fee: feeInfoOf(feeSat, tx.weight), outKeys, scriptKeysHex: keys, seq: this.nextSeq++ });
    this.recentTxs.unshift({ txidHex: entry.txidHex, feeSat, vsize: tx.vsize, valueSat: valueIn });
    if (this.recentTxs.length > this.recentTxsSize) this.recentTxs.length = this.recentTxsSize;
    return entry.txidHex;
  }

  /** Removes txs by key, visiting only their own script keys and outpoints. */
  private removeSlots(keys: readonly string[], touched: Set<string>, removed: string[]): void {
    const stop = this.metrics.startTimer("remove");
    this.metrics.observeDelta("remove", keys.length);
    for (const key of keys) {
      const slot = this.slots.get(key);
      if (slot === undefined) continue;
      this.slots.delete(key);
      this.scripts.remove(slot.entry.tx, slot.scriptKeysHex);
      this.observer?.removed(slot.entry, slot.scriptKeysHex);
      for (const hex of slot.scriptKeysHex) touched.add(hex);
      removed.push(slot.entry.txidHex);
    }
    this.sortedTxids = null;
    this.histogram = null;
    stop();
  }

  /** electrs refreshes the backlog stats at the end of an update when they are older than the TTL. */
  private refreshBacklogIfStale(): void {
    const now = this.now();
    if (now - this.backlogAt <= this.backlogStatsTtlMs) return;
    const stop = this.metrics.startTimer("update_backlog_stats");
    this.backlogStats = backlogOf(Array.from(this.slots.values(), (s) => s.fee));
    this.backlogAt = now;
    stop();
  }
}

/**
 * Keys of `batch` with every tx after its parents from the same batch (iterative depth-first
 * post-order, so a long chain cannot overflow the stack). Parents outside the batch are ignored.
 */
function dependencyOrder(batch: ReadonlyMap<string, Fetched>): string[] {
  const order: string[] = [];
  const seen = new Set<string>();
  for (const root of batch.keys()) {
    if (seen.has(root)) continue;
    seen.add(root);
    const stack: { key: string; next: number }[] = [{ key: root, next: 0 }];
    while (stack.length > 0) {
      const top = stack[stack.length - 1]!;
      const inputs = batch.get(top.key)!.tx.inputs;
      if (top.next < inputs.length) {
        const parent = hashToHex(inputs[top.next++]!.prevTxid);
        if (batch.has(parent) && !seen.has(parent)) {
          seen.add(parent);
          stack.push({ key: parent, next: 0 });
        }
      } else {
        stack.pop();
        order.push(top.key);
      }
    }
  }
  return order;
}
