/**
 * The read model shared by the REST API and (later) the Electrum server (electrs' Query +
 * ChainQuery): blocks, txs, statuses, proofs, spends and script histories, the confirmed index and
 * the mempool merged. No protocol types here: answers are plain views (types.ts) in internal byte
 * order, and refusals are QueryErrors.
 *
 * Every method is synchronous, so one answer reads one committed state of the index, and each is
 * timed in `query_duration{name}` under electrs' names.
 */
import { parseHeader, parseTxExact } from "../bitcoin/block.ts";
import { merkleBranch } from "../bitcoin/merkle.ts";
import { compactSize, merkleBlock } from "../bitcoin/merkleblock.ts";
import { bytesEqual, concatBytes } from "../bitcoin/bytes.ts";
import type { NetworkParams } from "../bitcoin/network.ts";
import type { HistogramVec, Metrics } from "../metrics/metrics.ts";
import type { BacklogStats, MempoolView, TxOverview } from "../mempool/types.ts";
import type { StoreReader } from "../store/read.ts";
import { IO_SPAN, type BlockRow } from "../store/rows.ts";
import {
  allUtxos,
  allUtxosSliced,
  chainHistory,
  chainHistoryTxnums,
  chainTxViews,
  historyPage,
  historyPageParts,
  mempoolTxViews,
  mempoolTxids,
  summarySliced,
  utxoPage,
} from "./history.ts";
import { headerTime, MissingPrevoutError, Resolver } from "./resolver.ts";
import type { Pause } from "./sliced-history.ts";
import {
  UNCONFIRMED,
  UNSPENT,
  type BlockStatusView,
  type BlockView,
  type HistoryPageOptions,
  type MerkleProofView,
  type OutpointCursor,
  type OutspendView,
  type ScriptStatsView,
  type TxStatus,
  type TxSummaryView,
  type TxView,
  type UtxoView,
} from "./types.ts";

/** electrs' query_duration names (spec §7) that this layer records. */
export type QueryName =
  | "get_block_txids"
  | "get_block_meta"
  | "get_block_raw"
  | "get_block_header"
  | "get_block_with_meta"
  | "history"
  | "utxo"
  | "stats"
  | "address_search"
  | "lookup_txns"
  | "lookup_txn"
  | "lookup_raw_txn"
  | "lookup_spend"
  | "tx_confirming_block"
  | "get_merkleblock_proof";

export interface ChainQueryDeps {
  readonly reader: StoreReader;
  readonly mempool: MempoolView;
  readonly network: NetworkParams;
  /** Height of the indexed tip (-1 before the first block). */
  readonly tipHeight: () => number;
  /** One ChainQuery per Metrics: `query_duration` is registered here. */
  readonly metrics: Metrics;
  /** A serve worker's: the index can change while one of its reads runs (another thread commits). */
  readonly guard?: ReadGuard | null;
}

/**
 * Reads that another thread's commits can overlap (serve workers: serve/serve-worker.ts): a
 * read is noted before and checked after, and made again when the index changed meanwhile.
 */
export interface ReadGuard {
  /** Before a read: waits out a change under way (bounded), and returns a mark of the state read. */
  begin(): number;
  /** After it: whether the index changed since `mark`. */
  changed(mark: number): boolean;
}

/** Tries of a guarded read: a read overlapping this many changes in a row is answered as it is. */
const GUARDED_TRIES = 3;

/**
 * Whether a guarded read (its `tries`-th run, begun at `mark`) is made again: it overlapped a
 * change, and it has tries left. Its answer, or its error, stands otherwise: an error of a read
 * that overlapped nothing is the answer. (What a read mixing two states can throw: a txid not in
 * the file yet, a prevout gone.)
 */
export function readAgain(guard: ReadGuard, mark: number, tries: number): boolean {
  return tries < GUARDED_TRIES && guard.changed(mark);
}

/** Blocks before this many are used for the median time past (Core's nMedianTimeSpan). */
const MEDIAN_TIME_SPAN = 11;

/** Core's GetDifficulty: the ratio of the difficulty-1 target to nBits' target, as a float. */
export function difficultyOf(bits: number): number {
  let shift = (bits >>> 24) & 0xff;
  let diff = 0x0000ffff / (bits & 0x00ffffff);
  while (shift < 29) {
    diff *= 256;
    shift++;
  }
  while (shift > 29) {
    diff /= 256;
    shift--;
  }
  return diff;
}

export class ChainQuery {
  readonly network: NetworkParams;
  readonly tipHeight: () => number;
  private readonly reader: StoreReader;
  private readonly mempool: MempoolView;
  private readonly duration: HistogramVec<"name">;
  private readonly guard: ReadGuard | null;

  constructor(deps: ChainQueryDeps) {
    this.reader = deps.reader;
    this.mempool = deps.mempool;
    this.guard = deps.guard ?? null;
    this.network = deps.network;
    this.tipHeight = deps.tipHeight;
    this.duration = deps.metrics.histogram("query_duration", "Index query duration (in seconds)", ["name"]);
  }

  private timed<T>(name: QueryName, fn: (r: Resolver) => T): T {
    const stop = this.duration.startTimer({ name });
    try {
      const guard = this.guard;
      if (guard === null) return fn(new Resolver(this.reader, this.mempool));
      for (let tries = 1; ; tries++) {
        const mark = guard.begin();
        let out: T;
        try {
          out = fn(new Resolver(this.reader, this.mempool));
        } catch (err) {
          if (readAgain(guard, mark, tries)) continue;
          throw err;
        }
        if (!readAgain(guard, mark, tries)) return out;
      }
    } finally {
      stop();
    }
  }

  /** timed for a read over several event-loop turns, which may need a fresh Resolver to start over. */
  private async timedSliced<T>(name: QueryName, fn: (resolver: () => Resolver) => Promise<T>): Promise<T> {
    const stop = this.duration.startTimer({ name });
    try {
      return await fn(() => new Resolver(this.reader, this.mempool));
    } finally {
      stop();
    }
  }

  // ---- blocks ----

  /** The last committed block (what this connection's reads see), or null before the first. */
  tip(): BlockRow | null {
    return this.timed("get_block_header", () => this.reader.tip());
  }

  /** The best-chain block at `height`, or null. */
  blockAt(height: number): BlockRow | null {
    if (!Number.isSafeInteger(height) || height < 0) return null;
    return this.timed("get_block_header", () => this.reader.blockAt(height));
  }

  /** A best-chain block by hash (internal order), or null (unknown or stale). */
  blockByHash(hash: Uint8Array): BlockRow | null {
    return this.timed("get_block_header", () => this.reader.blockByHash(hash));
  }

  blockView(block: BlockRow): BlockView {
    return this.timed("get_block_with_meta", (r) => blockView(r, block));
  }

  /** Up to `limit` blocks walking back from `startHeight` (inclusive), stopping at genesis. */
  blocksFrom(startHeight: number, limit: number): BlockView[] {
    return this.timed("get_block_with_meta", (r) => {
      const out: BlockView[] = [];
      for (let h = startHeight; h >= 0 && out.length < limit; h--) {
        const b = r.blockAt(h);
        if (!b) break;
        out.push(blockView(r, b));
      }
      return out;
    });
  }

  blockStatus(hash: Uint8Array): BlockStatusView {
    return this.timed("get_block_meta", () => {
      const b = this.reader.blockByHash(hash);
      if (!b) return { inBestChain: false, height: null, nextBest: null };
      return { inBestChain: true, height: b.height, nextBest: this.reader.blockAt(b.height + 1)?.hash ?? null };
    });
  }

  blockTxids(block: BlockRow): Uint8Array[] {
    return this.timed("get_block_txids", () => this.reader.blockTxids(block));
  }

  /** The txid at `index` of the block, or null past its end. */
  blockTxidAt(block: BlockRow, index: number): Uint8Array | null {
    if (index >= block.txCount) return null;
    return this.timed("get_block_txids", () => this.reader.txidAt(block.firstTxnum + index));
  }

  /** The block as bitcoind serializes it: header, tx count, txs. */
  blockRaw(block: BlockRow): Uint8Array {
    return this.timed("get_block_raw", () => {
      const txs = this.reader.blockTxs(block, 0, block.txCount).map((t) => t.raw);
      return concatBytes(block.header, compactSize(block.txCount), ...txs);
    });
  }

  /** Txs `start` … `start + count - 1` of a best-chain block. */
  blockTxs(block: BlockRow, start: number, count: number): TxView[] {
    return this.timed("lookup_txns", (r) =>
      this.reader.blockTxs(block, start, count).map((t) => r.chainTx(parseTxExact(t.raw), block.height)),
    );
  }

  // ---- transactions ----

  /** A tx from the chain, else the mempool, with prevouts and status; null if neither has it. */
  tx(txid: Uint8Array): TxView | null {
    return this.timed("lookup_txn", (r) => r.tx(txid));
  }

  /**
   * Txs by txid, chain first then mempool, in the order asked; unknown ones, and (as MP's
   * prepare_txs) ones whose prevouts cannot be found, are left out.
   */
  txs(txids: readonly Uint8Array[]): TxView[] {
    return this.timed("lookup_txns", (r) =>
      txids.flatMap((txid) => {
        try {
          const v = r.tx(txid);
          return v ? [v] : [];
        } catch (err) {
          if (err instanceof MissingPrevoutError) return [];
          throw err;
        }
      }),
    );
  }

  /** Mempool txs by txid, in the order asked; ones not (or no longer) in the mempool are left out. */
  mempoolTxs(txids: readonly Uint8Array[]): TxView[] {
    return this.timed("lookup_txns", (r) => mempoolTxViews(r, txids));
  }

  /** The raw bytes of a tx (chain first, then mempool) and its status, or null. */
  rawTx(txid: Uint8Array): { raw: Uint8Array; status: TxStatus } | null {
    return this.timed("lookup_raw_txn", (r) => {
      const loc = this.reader.tx(txid);
      if (loc) return { raw: loc.raw, status: r.statusAt(loc.height) };
      const entry = this.mempool.get(txid);
      return entry ? { raw: entry.raw, status: UNCONFIRMED } : null;
    });
  }

  /** Confirmed or not, looking at the chain only (electrs' get_tx_status). */
  txStatus(txid: Uint8Array): TxStatus {
    return this.timed("tx_confirming_block", (r) => r.txStatus(txid));
  }

  /** Esplora's merkle-proof of a confirmed tx (Electrum branch order), or null if unconfirmed. */
  merkleProof(txid: Uint8Array): MerkleProofView | null {
    return this.timed("get_block_txids", () => {
      const loc = this.locate(txid);
      if (!loc) return null;
      return { height: loc.block.height, branch: merkleBranch(this.reader.blockTxids(loc.block), loc.pos), pos: loc.pos };
    });
  }

  /** bitcoind's serialized CMerkleBlock for a confirmed tx, and its height; null if unconfirmed. */
  merkleBlockProof(txid: Uint8Array): { proof: Uint8Array; height: number } | null {
    return this.timed("get_merkleblock_proof", () => {
      const loc = this.locate(txid);
      if (!loc) return null;
      const proof = merkleBlock(loc.block.header, this.reader.blockTxids(loc.block), (i) => i === loc.pos);
      return { proof, height: loc.block.height };
    });
  }

  private locate(txid: Uint8Array): { block: BlockRow; pos: number } | null {
    const txnum = this.reader.txnumOf(txid);
    if (txnum === null) return null;
    const block = this.reader.blockAt(this.reader.heightOfTxnum(txnum));
    return block ? { block, pos: txnum - block.firstTxnum } : null;
  }

  /** Who spends output `vout` of `txid`: a confirmed input first, then a mempool input (electrs' lookup_spend). */
  outspend(txid: Uint8Array, vout: number): OutspendView {
    return this.timed("lookup_spend", (r) => {
      // Ids hold 2^20 outputs per tx: a larger vout would name another tx's output.
      if (!Number.isSafeInteger(vout) || vout < 0 || vout >= IO_SPAN) return UNSPENT;
      const confirmed = this.reader.outspend(txid, vout);
      if (confirmed) return { spent: true, txid: confirmed.txid, vin: confirmed.vin, status: r.statusAt(confirmed.height) };
      const pool = this.mempool.spendOf(txid, vout);
      return pool ? { spent: true, txid: pool.txid, vin: pool.vin, status: UNCONFIRMED } : UNSPENT;
    });
  }

  /** One Outspend per output of a known tx (chain or mempool), or null for an unknown tx. */
  outspends(txid: Uint8Array): OutspendView[] | null {
    return this.timed("lookup_spend", (r) => outspendsOf(r, txid));
  }

  // ---- scripts (11-byte store keys) ----

  scriptStats(key: Uint8Array): ScriptStatsView {
    return this.timed("stats", () => ({ chain: this.reader.stats(key), mempool: this.mempool.stats(key) }));
  }

  /** `/txs`: mempool part then chain part, with MP's paging (see history.ts historyPage). */
  history(keys: readonly Uint8Array[], opts: HistoryPageOptions): TxView[] {
    return this.timed("history", (r) => historyPage(r, keys, opts));
  }

  /** history with its confirmed part as tx numbers (REST renders them through its cache of confirmed txs' JSON). */
  historyParts(keys: readonly Uint8Array[], opts: HistoryPageOptions): { mempool: TxView[]; chainTxnums: number[] } {
    return this.timed("history", (r) => historyPageParts(r, keys, opts));
  }

  /** chainHistory's tx numbers, newest first. */
  chainHistoryTxnums(keys: readonly Uint8Array[], lastSeen: Uint8Array | null, limit: number): number[] {
    return this.timed("history", (r) => chainHistoryTxnums(r, keys, lastSeen, limit));
  }

  /** Display hex of the txid of each tx number. */
  txidHexesOf(txnums: readonly number[]): string[] {
    return txnums.map((n) => this.reader.txidHexAt(n));
  }

  /** Confirmed txs by tx number, with prevouts and status (one that left the chain meanwhile is skipped). */
  chainTxsByNum(txnums: readonly number[]): TxView[] {
    return this.timed("lookup_txns", (r) => chainTxViews(r, txnums));
  }

  /** `/txs/chain[/:last_seen]`: confirmed txs newest first after `lastSeen`. */
  chainHistory(keys: readonly Uint8Array[], lastSeen: Uint8Array | null, limit: number): TxView[] {
    return this.timed("history", (r) => chainHistory(r, keys, lastSeen, limit));
  }

  /** `/txs/mempool`: the first `limit` mempool txs of the scripts, insertion order. */
  mempoolHistory(keys: readonly Uint8Array[], limit: number): TxView[] {
    return this.timed("history", (r) => mempoolTxViews(r, mempoolTxids(r, keys).slice(0, limit)));
  }

  /** MP's txs/summary, over several event-loop turns when it reads much (history.ts summarySliced). */
  summary(keys: readonly Uint8Array[], lastSeen: Uint8Array | null, limit: number, sliceRows: number, pause: Pause): Promise<TxSummaryView[]> {
    return this.timedSliced("history", (resolver) => summarySliced(resolver, keys, lastSeen, limit, sliceRows, pause));
  }

  /** All UTXOs (electrs' limit `cap` on the confirmed set), or a page after `after` when `limit` is set. */
  utxos(key: Uint8Array, paging: { after: OutpointCursor | null; limit: number } | null, cap: number): UtxoView[] {
    return this.timed("utxo", (r) => (paging ? utxoPage(r, key, paging.after, paging.limit) : allUtxos(r, key, cap)));
  }

  /** utxos without paging, over several event-loop turns for a big set (Electrum listunspent). */
  utxosSliced(key: Uint8Array, cap: number, sliceRows: number, pause: Pause): Promise<UtxoView[]> {
    return this.timedSliced("utxo", (resolver) => allUtxosSliced(resolver, key, cap, sliceRows, pause));
  }

  addressSearch(prefix: string, limit: number): string[] {
    return this.timed("address_search", () => this.reader.addressesWithPrefix(prefix, limit));
  }

  // ---- mempool ----

  get mempoolSynced(): boolean {
    return this.mempool.synced;
  }

  mempoolTxids(): Uint8Array[] {
    return this.mempool.txids();
  }

  mempoolTxidsPage(after: Uint8Array | null, limit: number): Uint8Array[] {
    return this.mempool.txidsPage(after, limit);
  }

  mempoolBacklog(): BacklogStats {
    return this.mempool.backlog();
  }

  mempoolRecent(): TxOverview[] {
    return this.mempool.recent();
  }
}

function blockView(r: Resolver, row: BlockRow): BlockView {
  const header = parseHeader(row.header);
  const times: number[] = [];
  for (let h = row.height; h >= 0 && h > row.height - MEDIAN_TIME_SPAN; h--) {
    const b = h === row.height ? row : r.blockAt(h);
    if (b) times.push(headerTime(b.header));
  }
  times.sort((a, b) => a - b);
  return { row, header, mediantime: times[Math.floor(times.length / 2)]!, difficulty: difficultyOf(header.bits) };
}

function outspendsOf(r: Resolver, txid: Uint8Array): OutspendView[] | null {
  const loc = r.reader.tx(txid);
  if (loc) {
    const tx = parseTxExact(loc.raw, { witness: false });
    const confirmed = r.reader.outspendsOf(loc.txnum, tx.outputs.length);
    return confirmed.map((c, vout) => {
      if (c) return { spent: true, txid: c.txid, vin: c.vin, status: r.statusAt(c.height) };
      return poolSpend(r, txid, vout);
    });
  }
  const entry = r.mempool.get(txid);
  if (!entry || !bytesEqual(entry.txid, txid)) return null;
  return entry.tx.outputs.map((_, vout) => poolSpend(r, txid, vout));
}

function poolSpend(r: Resolver, txid: Uint8Array, vout: number): OutspendView {
  const s = r.mempool.spendOf(txid, vout);
  return s ? { spent: true, txid: s.txid, vin: s.vin, status: UNCONFIRMED } : UNSPENT;
}
