/**
 * Keeps the index on the source's best chain: finds where they part, drops our blocks above that
 * height (one tail delete, see store/rows.ts), then indexes the source's blocks in height order,
 * many blocks to a transaction. Everything a block adds commits together with the block row, so a
 * crash at any moment leaves an index that ends at a whole block; the next run continues there.
 */
import { parseBlock, parseHeader, parseTx } from "../bitcoin/block.ts";
import { bytesEqual, bytesToHex, hashToHex } from "../bitcoin/bytes.ts";
import type { ChainSource } from "../daemon/sources.ts";
import { ChainError } from "../errors.ts";
import { describeError, type Logger } from "../log.ts";
import type { IndexStep } from "../metrics/metrics.ts";
import type { Db } from "../store/db.ts";
import { NO_TRACING, type Span, type Tracing } from "../trace/tracing.ts";
import { StoreReader } from "../store/read.ts";
import { IO_SPAN, indexOfId, locatedIn, txnumOfId, type BlkFilePos } from "../store/rows.ts";
import type { BlkRangeSource } from "../store/tx-bytes.ts";
import { openLevelMerger, slicesFor, type LevelMerger } from "../store/recent.ts";
import { BASE_LEVEL } from "../store/levels.ts";
import { decodeLevelState, emptyLevelState, encodeLevelState, nextMergeLevel, type LevelState } from "./merge-schedule.ts";
import { DeferredSpendMissing, META_DEFERRED_COUNT, META_SPILL_BOUND, openUtxoSpill, type UtxoSpill } from "../store/utxo-spill.ts";
import { createWriter, type StoreWriter } from "../store/write.ts";
import { repairTxids } from "./txid-repair.ts";
import { HeaderChain, findForkHeight } from "./chain.ts";
import { flattenBlock, writeFlatBlock } from "./flat-block.ts";
import { DEFERRED, missingPrevout, type IndexOptions, type SpendSources } from "./indexer.ts";
import { OpsWriter, type Eviction } from "./prevout-ops.ts";
import { applyOps, type PrevoutStats, type ResolvedPrevout } from "./prevouts.ts";
import { UtxoTable } from "./utxo-table.ts";
import { GC_EVERY_BYTES, UtxoThread } from "./utxo-thread.ts";

/** What the indexer reports; the metrics module implements it (a no-op twin in tests). */
export interface SyncMetrics {
  observeStep(step: IndexStep, seconds: number): void;
  setTipHeight(height: number): void;
  /** The node's best height, as last asked for. */
  setNodeHeight(height: number): void;
  addIndexedTxs(count: number): void;
  setProgress(fraction: number): void;
}

export const noopSyncMetrics: SyncMetrics = {
  observeStep() {},
  setTipHeight() {},
  setNodeHeight() {},
  addIndexedTxs() {},
  setProgress() {},
};

export interface IndexerOptions extends IndexOptions {
  /** Commit after this many blocks (default 250, electrs' --initial-sync-batch-size)… */
  readonly batchBlocks?: number;
  /** …or this many txs, whichever comes first (default 200k: big transactions are the sync's speed). */
  readonly batchTxs?: number;
  /** Progress line interval (default 5 s). */
  readonly progressMs?: number;
  /** Bytes of the initial sync's UTXO table (--db-cache-mb); what does not fit is evicted (store/utxo-spill.ts). */
  readonly utxoCacheBytes?: number;
  /** Where `reader` reads the txs of blocks indexed from the blk files (store/tx-bytes.ts). */
  readonly blkFiles?: BlkRangeSource | null;
  /**
   * A merge of the live tail (store/recent.ts) is due once its tables hold this many rows (default
   * 400k); each next level once it holds LEVEL_FANOUT times the rows of the one before (levels.ts).
   */
  readonly recentMergeRows?: number;
  /** Tests only: another LEVEL_FANOUT (levels.ts), to push a small chain through every level. */
  readonly levelFanout?: number;
  /**
   * Failure injection (the crash tests): the process kills itself with SIGKILL at this point, inside
   * the open transaction: "live-commit" (a live block's rows all written, not committed),
   * "merge-slice" (a slice of a merge moved, not committed) or "build-indexes" (every sorted table
   * of the end of the initial sync filled, not committed: a hot rollback journal is left, setBulkMode).
   */
  readonly crashAt?: CrashPoint | string | null;
  /**
   * Failure injection (a stalled initial sync, for the status page's tests): awaited after each
   * committed batch of the initial sync, outside any transaction.
   */
  readonly holdAfterInitialBatch?: (() => Promise<void>) | null;
  /**
   * Spans: each update ("initial sync" or "index update"), each phase of the initial sync, each
   * committed batch ("index batch"), a reorg's rollback and each merge slice; default none.
   */
  readonly tracing?: Tracing;
}

export type CrashPoint = "live-commit" | "merge-slice" | "build-indexes";

/**
 * 400k rows of the `*_recent` tables take ~18 MB with their B-tree slack: a block that dirties all
 * of their pages writes ~36 MB (the WAL frames, then the checkpoint). On the 20M-tx bench that is
 * a merge every ~14 blocks of 4,000 txs.
 */
export const DEFAULT_RECENT_MERGE_ROWS = 400_000;

export const DEFAULT_UTXO_CACHE_BYTES = 768 * 1048576;
/** After the initial sync the table only holds a batch's outputs (9 MiB): misses ask the txid index. */
const LIVE_TABLE_SLOTS = 2 ** 18;
/**
 * Blocks sent to the UTXO table's thread whose rows are not written yet: enough that neither
 * thread waits for the other on an uneven block, few enough that memory stays flat (each holds
 * its bytes, then its flat form, until its rows are written).
 */
const BLOCKS_IN_FLIGHT = 4;
/** Outputs per message when the table is loaded from the store after a restart. */
const TABLE_CHUNK = 65_536;

/** A block of the initial sync on the table's thread: its rows are written once it answers. */
interface InFlight {
  readonly height: number;
  readonly hash: Uint8Array;
  readonly header: Uint8Array;
  readonly size: number;
  readonly file: BlkFilePos | null;
  readonly indexed: ReturnType<UtxoThread["indexBlock"]>;
}

export interface UpdateResult {
  readonly tipHeight: number;
  readonly tipHash: Uint8Array | null;
  readonly blocksAdded: number;
  readonly blocksRemoved: number;
  readonly txsAdded: number;
  /**
   * Hex of the 11-byte script keys that the blocks added after the initial sync fund or spend from
   * (collected while indexing them: the Electrum notifications' input); empty for the initial sync.
   */
  readonly touchedScriptKeysHex: ReadonlySet<string>;
}

const META_INITIAL_SYNC_DONE = "initial_sync_done";
const META_INITIAL_SYNC_SOURCE = "initial_sync_source";
/** The levels' rows and merges under way (merge-schedule.ts). */
const META_LEVELS = "levels";

export class Indexer {
  readonly chain: HeaderChain;
  readonly reader: StoreReader;
  private readonly writer: StoreWriter;
  /** The live table (after the initial sync): a batch's outputs, on this thread. */
  private readonly liveTable = new UtxoTable(LIVE_TABLE_SLOTS);
  /** The initial sync's table, on its own thread; only during an update of the initial sync. */
  private utxoThread: UtxoThread | null = null;
  private readonly stats: PrevoutStats = { evicted: 0, deferred: 0, evictions: 0, evictSeconds: 0 };
  private readonly spill: UtxoSpill;
  private readonly merger: LevelMerger;
  /**
   * Rows of each level below the base and the merges under way (merge-schedule.ts). The live
   * tail's rows are counted at open, after a reorg and after its merge, estimated in between.
   */
  private levels: LevelState = emptyLevelState();
  /** The level of the last slice mergeStep ran (tests, benchmarks). */
  lastMergeLevel: number | null = null;
  /** The merges under way in this process, by level: rows moved and seconds spent so far (for the log line at their end). */
  private readonly mergeRuns: { rows: number; seconds: number }[] = Array.from({ length: BASE_LEVEL }, () => ({ rows: 0, seconds: 0 }));
  private nextTxnum: number;
  private initialDone: boolean;
  private gcSeconds = 0;
  private readonly commitListeners: ((fromHeight: number, toHeight: number) => void)[] = [];
  private readonly rollbackListeners: ((fromHeight: number) => void)[] = [];
  private readonly tracing: Tracing;

  constructor(
    private readonly db: Db,
    private readonly log: Logger,
    private readonly metrics: SyncMetrics,
    private readonly opts: IndexerOptions,
  ) {
    this.tracing = opts.tracing ?? NO_TRACING;
    repairTxids(db, opts.blkFiles ?? null, log);
    this.reader = new StoreReader(db, opts.blkFiles ?? null);
    this.writer = createWriter(db, this.reader);
    this.chain = new HeaderChain(this.reader.chainHashes());
    this.nextTxnum = this.reader.txCount();
    this.initialDone = db.getMeta(META_INITIAL_SYNC_DONE) === "1";
    this.spill = openUtxoSpill(db);
    this.merger = openLevelMerger(db);
    if (this.initialDone) this.loadLevels();
    this.writer.setLive(this.initialDone);
    this.metrics.setTipHeight(this.chain.tipHeight);
  }

  /** True once the first complete sync has built the secondary indexes (later syncs use RPC). */
  get initialSyncDone(): boolean {
    return this.initialDone;
  }

  /** What the UTXO table did in this process (evictions, spends deferred to the end of the load). */
  get utxoStats(): Readonly<PrevoutStats> {
    return this.stats;
  }

  /** Whether the initial sync's table thread is running (only inside an update of the initial sync). */
  get tableThreadRunning(): boolean {
    return this.utxoThread !== null;
  }

  /** The source the initial sync started with, so that a restart in the middle resumes from it. */
  get initialSyncSource(): string | null {
    return this.db.getMeta(META_INITIAL_SYNC_SOURCE);
  }

  /**
   * Calls `listener(fromHeight, toHeight)` synchronously right after each commit of new blocks,
   * before anything else can run: the mempool drops the txs they confirm, so no query ever sees a
   * tx both in a block and in the mempool.
   */
  onCommit(listener: (fromHeight: number, toHeight: number) => void): void {
    this.commitListeners.push(listener);
  }

  /** Calls `listener(fromHeight)` synchronously right after a reorg's removal of the blocks from `fromHeight` on is committed. */
  onRollback(listener: (fromHeight: number) => void): void {
    this.rollbackListeners.push(listener);
  }

  /** Brings the index to the source's best chain. `signal` stops it after the current block (committed). */
  update(source: ChainSource, signal?: AbortSignal): Promise<UpdateResult> {
    const attrs = { "index.tip_height": this.chain.tipHeight, "index.source": source.name };
    return this.tracing.inSpan(this.initialDone ? "index update" : "initial sync", attrs, async (span) => {
      const r = await this.updateOnce(source, signal);
      span.setAttributes({ "index.tip_height": r.tipHeight, "index.blocks_added": r.blocksAdded, "index.blocks_removed": r.blocksRemoved, "index.txs_added": r.txsAdded });
      return r;
    });
  }

  private async updateOnce(source: ChainSource, signal?: AbortSignal): Promise<UpdateResult> {
    const t0 = performance.now();
    if (!this.initialDone && this.db.getMeta(META_INITIAL_SYNC_SOURCE) === null) {
      this.db.setMeta(META_INITIAL_SYNC_SOURCE, source.name);
    }
    const tip = await source.bestTip();
    this.metrics.setNodeHeight(tip.height);
    const fork = await findForkHeight(this.chain, (hs) => source.hashesAt(hs));
    const removed = this.chain.tipHeight - fork;
    if (removed > 0) this.rollback(fork + 1);

    let added = 0;
    let txsAdded = 0;
    let bytes = 0;
    const touched = new Set<string>();
    try {
      if (tip.height > fork) {
        const from = fork + 1;
        if (!this.initialDone) {
          this.db.setBulkMode(true);
          await this.tracing.inSpan("load utxo table", undefined, () => this.loadUtxos());
          this.log.info(`${this.chain.tipHeight < 0 ? "initial sync" : "resuming the initial sync"} from height ${from} to ${tip.height} (${source.name})`);
        }
        const range = () => this.indexRange(source, from, tip.height, touched, signal);
        const r = this.initialDone ? await range() : await this.tracing.inSpan("load blocks", { "index.from_height": from, "index.to_height": tip.height }, range);
        added = r.blocks;
        txsAdded = r.txs;
        bytes = r.bytes;
      }
      const complete = !signal?.aborted && this.chain.tipHeight >= tip.height;
      if (!this.initialDone && complete) await this.finishInitialSync(t0, txsAdded, bytes);
    } finally {
      // The table's thread lives for one update: no thread outlives the call, whatever happened
      // (an error, an abort, a shorter chain); the next update reloads the table from the store.
      await this.stopUtxoThread();
    }
    this.metrics.setTipHeight(this.chain.tipHeight);
    return { tipHeight: this.chain.tipHeight, tipHash: this.chain.tipHash, blocksAdded: added, blocksRemoved: removed, txsAdded, touchedScriptKeysHex: touched };
  }

  /** `touched` collects the script keys of the blocks indexed after the initial sync (UpdateResult). */
  private async indexRange(source: ChainSource, from: number, to: number, touched: Set<string>, signal?: AbortSignal) {
    const batchTxs = this.opts.batchTxs ?? 200_000;
    const batchBlocks = this.opts.batchBlocks ?? 250;
    const progress = new Progress(this.log, this.metrics, from, to, this.opts.progressMs ?? 5000);
    const ops = new OpsWriter();
    const spendSources = this.spendSources();
    // The initial sync's blocks are parsed and applied to the UTXO table on its thread while this
    // one writes the rows of the blocks before them (flat-block.ts); live blocks are parsed and
    // resolved here, against the live table.
    const thread = this.utxoThread;
    const inFlight: InFlight[] = [];
    const collect = this.initialDone ? touched : null;
    let pendingRows = 0; // rows the open transaction adds to the live tail's tables (after the initial sync)
    let pendingTxs = 0;
    let txs = 0;
    /** Writes the rows of the oldest blocks on the table's thread until at most `max` are left. */
    const settle = async (max: number) => {
      while (inFlight.length > max) {
        const f = inFlight[0]!;
        const r = await f.indexed;
        inFlight.shift();
        const t = performance.now();
        if (r.firstTxnum !== this.nextTxnum) throw new Error(`the UTXO table's thread numbered block ${f.height}'s txs from ${r.firstTxnum}, the store from ${this.nextTxnum}`);
        writeFlatBlock(r.flat, { header: f.header, size: f.size, bytes: r.bytes }, f.height, f.hash, r.firstTxnum, f.file, r.resolved, this.writer, spendSources);
        this.nextTxnum += r.flat.txCount;
        pendingTxs += r.flat.txCount;
        txs += r.flat.txCount;
        this.metrics.observeStep("index", (performance.now() - t) / 1000);
      }
    };
    let blocks = 0;
    let bytes = 0;
    let bytesSinceGc = 0;
    const HASH_CHUNK = 50_000;
    for (let start = from; start <= to && !signal?.aborted; start += HASH_CHUNK) {
      const end = Math.min(to, start + HASH_CHUNK - 1);
      const heights = Array.from({ length: end - start + 1 }, (_, i) => start + i);
      const hashes = await source.hashesAt(heights);
      if (hashes.some((h) => h === null)) break; // the source's chain got shorter meanwhile: the next update reorgs
      let pending: Uint8Array[] = []; // hashes written in the open transaction
      let batchSpan: Span | null = null; // the open transaction's
      let tFetch = performance.now();
      const commit = async () => {
        // Every block of the transaction whole: its spends too.
        await settle(0);
        const t = performance.now();
        this.writer.flush();
        this.spill.flush();
        if (this.initialDone) this.crashPoint("live-commit");
        this.db.commit();
        const fromHeight = this.chain.tipHeight + 1;
        for (const h of pending) this.chain.push(h);
        this.metrics.setTipHeight(this.chain.tipHeight);
        this.notifyCommit(fromHeight, this.chain.tipHeight);
        if (this.initialDone) {
          this.liveTable.clear();
          this.levels.rows[0]! += pendingRows;
        }
        pendingRows = 0;
        this.metrics.observeStep("commit", (performance.now() - t) / 1000);
        this.metrics.addIndexedTxs(pendingTxs);
        batchSpan?.setAttributes({ "index.to_height": this.chain.tipHeight, "index.blocks": pending.length, "index.txs": pendingTxs });
        batchSpan?.end();
        batchSpan = null;
        pending = [];
        pendingTxs = 0;
        if (!this.initialDone && this.opts.holdAfterInitialBatch) await this.opts.holdAfterInitialBatch();
      };
      try {
        for await (const raw of source.blocks(start, hashes as Uint8Array[])) {
          const tParse = performance.now();
          this.metrics.observeStep("fetch", (tParse - tFetch) / 1000);
          const size = raw.bytes.length; // (the bytes go to the table's thread: read their size first)
          if (pending.length === 0) {
            this.db.begin();
            batchSpan = this.tracing.startSpan("index batch", { "index.from_height": raw.height });
          }
          const file = raw.file ?? null;
          let hash: Uint8Array;
          if (thread) {
            // The header is linked here, before the block goes to the thread: a wrong block is
            // refused before anything of it reaches the table.
            const header = parseHeader(raw.bytes);
            hash = header.hash;
            this.checkLink(raw.height, raw.hash, hash, header.prevHash, pending);
            const headerBytes = header.raw.slice();
            const indexed = thread.indexBlock(raw.bytes, locatedIn(file, size) === null);
            // Awaited in order by settle; one failing after an earlier failure must not go unhandled.
            indexed.catch(() => {});
            inFlight.push({ height: raw.height, hash, header: headerBytes, size, file, indexed });
            this.metrics.observeStep("parse", (performance.now() - tParse) / 1000);
          } else {
            // The index never reads witnesses (tx.raw keeps them): skipping their views is ~25 % of the parse.
            const block = parseBlock(raw.bytes, { witness: false });
            hash = block.header.hash;
            this.checkLink(raw.height, raw.hash, hash, block.header.prevHash, pending);
            const tIndex = performance.now();
            this.metrics.observeStep("parse", (tIndex - tParse) / 1000);
            // The same steps as the initial sync's blocks on the worker, here on the main thread.
            const flat = flattenBlock(block, this.nextTxnum, this.opts, ops);
            const resolved = applyOps(this.liveTable, ops.take(), "clear");
            const blockBytes = { header: block.header.raw, size, bytes: raw.bytes };
            const counts = writeFlatBlock(flat, blockBytes, raw.height, hash, this.nextTxnum, file, resolved, this.writer, spendSources, collect);
            // A txid key per tx, a funding and an unspent key per output; a spends and a spend_history key per input.
            pendingRows += counts.txs + 2 * counts.outputs + 2 * counts.spends;
            this.nextTxnum += counts.txs;
            pendingTxs += counts.txs;
            txs += counts.txs;
            this.metrics.observeStep("index", (performance.now() - tIndex) / 1000);
          }
          pending.push(hash);
          blocks++;
          bytes += size;
          await settle(BLOCKS_IN_FLIGHT);
          if (pendingTxs >= batchTxs || pending.length >= batchBlocks || signal?.aborted) await commit();
          progress.report(raw.height, txs, bytes);
          if (signal?.aborted) break;
          // Only during the initial sync: afterwards a forced full collection every ~20 live
          // blocks would only pause the servers.
          if (!this.initialDone && (bytesSinceGc += size) >= GC_EVERY_BYTES) {
            bytesSinceGc = 0;
            const tGc = performance.now();
            Bun.gc(true);
            this.gcSeconds += (performance.now() - tGc) / 1000;
          }
          tFetch = performance.now();
        }
        if (pending.length) await commit();
      } catch (err) {
        batchSpan?.fail(err);
        batchSpan?.end();
        this.writer.discard();
        this.spill.discard();
        this.db.rollback();
        // The in-memory state may hold rows of the rolled-back transaction (and the initial
        // sync's table outputs of blocks after them): rebuilt from the store by the next update.
        this.nextTxnum = this.reader.txCount();
        this.liveTable.clear();
        await this.stopUtxoThread();
        throw err;
      }
    }
    return { blocks, txs, bytes };
  }

  /** Where writeFlatBlock finds what the table did not hold, and puts what it evicted. */
  private spendSources(): SpendSources {
    if (this.initialDone) {
      return {
        missed: this.storeFallback,
        evicted: () => {
          throw new Error("the live UTXO table evicted outputs: it only ever empties itself");
        },
      };
    }
    return {
      // Before the table's first eviction a miss is an output that does not exist; afterwards it
      // may be an evicted one: the sorted pass at the end of the load finds it (or fails, cutting
      // the index back to below the block, finishInitialSync).
      missed: (prevTxid, vout, inputId) => {
        if (!this.spill.evictedAny) return null;
        this.spill.defer(inputId, prevTxid, vout);
        this.stats.deferred++;
        return DEFERRED;
      },
      evicted: (e) => this.spillEvicted(e),
    };
  }

  /** The table evicted its oldest outputs: only the bound moves (in the open transaction); they are in `outputs`. */
  private spillEvicted(e: Eviction): void {
    this.spill.raiseBound(e.bound);
    this.stats.evicted += e.count;
    this.stats.evictions++;
    this.stats.evictSeconds += e.seconds;
  }

  /** A failing listener must not undo a commit that already happened. */
  private notifyCommit(fromHeight: number, toHeight: number): void {
    for (const listener of this.commitListeners) {
      try {
        listener(fromHeight, toHeight);
      } catch (err) {
        this.log.error(`after committing heights ${fromHeight}..${toHeight}: ${describeError(err)}`);
      }
    }
  }

  /** The block must be the one asked for and extend our tip (or the block before it in this batch). */
  private checkLink(height: number, expected: Uint8Array, got: Uint8Array, prev: Uint8Array, pending: Uint8Array[]): void {
    if (!bytesEqual(expected, got)) {
      throw new ChainError(`asked for block ${hashToHex(expected)} at height ${height}, got ${hashToHex(got)}`);
    }
    const parent = pending.length ? pending[pending.length - 1]! : this.chain.tipHash;
    if (parent ? !bytesEqual(parent, prev) : height !== 0) {
      throw new ChainError(`block ${hashToHex(got)} at height ${height} does not extend ${parent ? hashToHex(parent) : "an empty chain"}`);
    }
  }

  /** Removes the blocks from `height` on (a reorg, or `why`: the blocks' rows cannot stand). */
  private rollback(height: number, why: string | null = null): void {
    const t = performance.now();
    const oldTip = this.chain.tipHeight;
    const attrs = { "index.from_height": height, "index.blocks_removed": oldTip - height + 1 };
    const r = this.tracing.inSpan("reorg rollback", attrs, () =>
      this.db.write(() => {
        // During the initial sync, outputs the removed blocks spent are unspent again: those below
        // the eviction bound are found by the sorted pass like any evicted output, and the bound
        // comes down to the removed blocks (the table is reloaded above it by the next update).
        const first = this.initialDone ? null : (this.reader.blockAt(height)?.firstTxnum ?? null);
        if (first !== null) this.spill.truncateFrom(first);
        return this.writer.truncateFrom(height);
      }),
    );
    this.chain.truncate(height);
    for (const listener of this.rollbackListeners) {
      try {
        listener(height);
      } catch (err) {
        this.log.error(`after removing the blocks from height ${height}: ${describeError(err)}`);
      }
    }
    this.nextTxnum = this.reader.txCount();
    if (this.initialDone) this.levels.rows[0] = this.merger.countRows(0);
    // After the initial sync the table holds only a batch: emptying it is enough. (During the
    // initial sync the table's thread is not started yet: update reloads it after this.)
    this.liveTable.clear();
    this.metrics.observeStep("reorg", (performance.now() - t) / 1000);
    if (why) this.log.warn(`removed ${oldTip - height + 1} blocks above height ${height - 1} (${r.txs} txs): ${why}`);
    else this.log.warn(`reorg: removed ${oldTip - height + 1} blocks above height ${height - 1} (${r.txs} txs); the new branch follows`);
    if (r.spendsScanned) this.log.warn("reorg: the removed txs' inputs did not give all their spend rows (an index inconsistency): they were found by full scans");
  }

  /**
   * Starts the initial sync's table on its thread. The table holds the young part of the UTXO set;
   * the old part (ids below the eviction bound) is only in the store. After a restart the young
   * part is rebuilt from the store: the outputs at or above the bound that no input spends (at most
   * the table's size, the rest is evicted again).
   */
  private async loadUtxos(): Promise<void> {
    if (this.utxoThread) return;
    const t = performance.now();
    const flatten = { indexUnspendables: this.opts.indexUnspendables, addressSearch: this.opts.addressSearch };
    const thread = new UtxoThread(UtxoTable.slotsFor(this.opts.utxoCacheBytes ?? DEFAULT_UTXO_CACHE_BYTES), this.nextTxnum, flatten);
    this.utxoThread = thread;
    if (this.chain.tipHeight < 0) return;
    let loaded = 0;
    await this.db.writeAsync(async () => {
      const ops = new OpsWriter();
      const send = async () => {
        const r = await thread.resolve(ops.take());
        for (const e of r.evictions) this.spillEvicted(e);
      };
      for (const o of this.spill.unspentSinceBound()) {
        ops.add(o.txid, txnumOfId(o.id), indexOfId(o.id), o.scriptKey);
        loaded++;
        if (ops.count === TABLE_CHUNK) await send();
      }
      await send();
    });
    this.log.info(
      `loaded ${loaded} unspent outputs from the index in ${((performance.now() - t) / 1000).toFixed(1)} s` +
        ` (the older ones, with ids below ${this.spill.bound}, were evicted; their spends wait for the end of the load)`,
    );
  }

  /**
   * A deferred spend whose output is nowhere (the sorted pass at the end of the load found none):
   * the index is cut back to below its block, as a reorg would, so that a later update redoes
   * that block; the error names the block as one met during the load would.
   */
  private cutAtMissingPrevout(missing: DeferredSpendMissing): ChainError {
    const txnum = txnumOfId(missing.inputId);
    const vin = indexOfId(missing.inputId);
    const block = this.reader.blockContaining(txnum);
    if (!block) return new ChainError(`missing previous output of input ${vin} of tx number ${txnum}, which is not in the index either`);
    const pos = txnum - block.firstTxnum;
    // Only the first 16 bytes of the prevout's txid were kept: the whole one is in the spending tx.
    let prevTxid: Uint8Array | null = null;
    try {
      prevTxid = parseTx(this.reader.txAt(txnum)!.raw).tx.inputs[vin]?.prevTxid ?? null;
    } catch (err) {
      this.log.warn(`reading tx #${pos} of block ${block.height}: ${describeError(err)}`);
    }
    const err = prevTxid
      ? missingPrevout(prevTxid, missing.prevVout, pos, block.height)
      : new ChainError(`missing previous output ${bytesToHex(missing.prevTxidPrefix)}…:${missing.prevVout} (txid bytes in internal order) spent by tx #${pos} of block ${block.height}`);
    this.rollback(block.height, err.message);
    return err;
  }

  private async stopUtxoThread(): Promise<void> {
    const thread = this.utxoThread;
    this.utxoThread = null;
    await thread?.terminate();
  }

  private async finishInitialSync(t0: number, txs: number, bytes: number): Promise<void> {
    const t = performance.now();
    this.log.info("building the secondary indexes (txid, script history, spends, unspent outputs)…");
    // The UTXO set is every output that no spend names: indexes.sql reads it from `outputs` and
    // `spends` (both in id order), not from the table, so a restart that finds every block indexed
    // but no sorted tables yet (a crash in this pass) has nothing to rebuild. The table is given
    // back before the sorts, which want the memory.
    await this.stopUtxoThread();
    Bun.gc(true);
    // (A bigger page cache for this pass was tried: 384 MiB made the 2M-tx build 14 → 23 s.)
    const deferred = this.spill.deferredCount;
    let byFullTxid = 0;
    let built: Map<string, number>;
    try {
      built = this.tracing.inSpan("build indexes", undefined, () =>
        this.db.write(() => {
          const seconds = this.db.createIndexes((table, rows) => {
            if (table === "spends_resolved") byFullTxid = this.spill.resolveRest(deferred, rows);
            if (table === "unspent" && this.spill.dropOverwrittenCoinbases() > 0) this.log.info("BIP 30: the outputs of coinbases whose txid a later coinbase repeats are not unspent");
          });
          this.db.setMeta(META_INITIAL_SYNC_DONE, "1");
          this.db.deleteMeta(META_SPILL_BOUND); // the initial sync's table is gone for good
          this.db.deleteMeta(META_DEFERRED_COUNT); // and its deferred spends (indexes.sql emptied them)
          this.crashPoint("build-indexes");
          return seconds;
        }),
      );
    } catch (err) {
      throw err instanceof DeferredSpendMissing ? this.cutAtMissingPrevout(err) : err;
    }
    this.log.info(`sorted tables built: ${[...built].map(([table, s]) => `${table} ${s.toFixed(1)} s`).join(", ")}`);
    const tVacuum = performance.now();
    this.tracing.inSpan("release free pages", undefined, () => {
      this.db.releaseFreePages();
      this.db.setBulkMode(false);
      this.db.sql.exec("PRAGMA wal_checkpoint(TRUNCATE)");
    });
    const tEnd = performance.now();
    this.metrics.observeStep("build_indexes", (tEnd - t) / 1000);
    this.initialDone = true;
    this.writer.setLive(true);
    const st = this.stats;
    this.log.info(
      `UTXO table: ${st.evicted} outputs evicted in ${st.evictions} passes ` +
        `(${st.evictSeconds.toFixed(1)} s), ${deferred} spends deferred to the sorted pass (${byFullTxid} of them resolved by full txid)`,
    );
    const secs = (a: number, b: number) => ((b - a) / 1000).toFixed(1);
    // One line the benchmark reads (bench/index-bench.ts): the time of each phase, in seconds.
    this.log.info(
      `initial sync phases: load=${secs(t0, t)} gc=${this.gcSeconds.toFixed(1)} build_indexes=${secs(t, tVacuum)} vacuum=${secs(tVacuum, tEnd)}`,
    );
    this.metrics.setProgress(1);
    const seconds = (tEnd - t0) / 1000;
    this.log.info(
      `initial sync complete: height=${this.chain.tipHeight} txs=${txs} bytes=${bytes} seconds=${seconds.toFixed(2)}` +
        ` (${Math.round(txs / Math.max(seconds, 1e-9))} tx/s, indexes built in ${secs(t, tEnd)} s)`,
      { height: this.chain.tipHeight, txs, bytes, seconds },
    );
  }

  /**
   * Whether a level (the live tail or a middle one, store/levels.ts) is due a merge: it reached
   * its size, or its merge is under way. The main loop runs merges between blocks, one slice at a time.
   */
  get mergeDue(): boolean {
    return this.initialDone && this.nextMergeLevel() !== null;
  }

  /** Rows of each level below the base now (the live tail's estimated since its last count). */
  get levelRows(): readonly number[] {
    return this.levels.rows;
  }

  private nextMergeLevel(): number | null {
    return nextMergeLevel(this.levels, this.opts.recentMergeRows ?? DEFAULT_RECENT_MERGE_ROWS, this.opts.levelFanout);
  }

  /** The levels' rows and merges as the last committed slice saved them (merge-schedule.ts); the live tail counted. */
  private loadLevels(): void {
    const saved = decodeLevelState(this.db.getMeta(META_LEVELS));
    this.levels = saved ?? emptyLevelState();
    // None saved (an index of a build before the middle levels, or just synced): they are empty or small.
    if (!saved) for (let level = 1; level < BASE_LEVEL; level++) this.levels.rows[level] = this.merger.countRows(level);
    this.levels.rows[0] = this.merger.countRows(0);
  }

  /**
   * Merges the next slice of the level nextMergeLevel names, or of the live tail when no merge is
   * due (one transaction, which also saves the merge's cursor); returns true when that ends a merge.
   */
  mergeStep(): boolean {
    const level = this.nextMergeLevel() ?? 0;
    this.lastMergeLevel = level;
    const t = performance.now();
    const cursor = this.levels.cursors[level] ?? { slice: 0, slices: slicesFor(this.levels.rows[level]!) };
    const attrs = { "merge.level": level, "merge.slice": cursor.slice, "merge.slices": cursor.slices };
    const r = this.tracing.inSpan(level === 0 ? "merge live tail" : "merge level", attrs, (span) => {
      const r = this.db.write(() => {
        const r = this.merger.mergeSlice(level, cursor.slice, cursor.slices);
        const rows = [...this.levels.rows];
        rows[level] = Math.max(0, rows[level]! - r.moved);
        if (level + 1 < BASE_LEVEL) rows[level + 1] = Math.max(0, rows[level + 1]! + r.added);
        const cursors = [...this.levels.cursors];
        cursors[level] = cursor.slice + 1 < cursor.slices ? { slice: cursor.slice + 1, slices: cursor.slices } : null;
        // At its end the level holds only what came to it meanwhile (the live tail: blocks): a
        // count of a small table, which also drops the estimate's drift (reorgs).
        if (cursors[level] === null) rows[level] = this.merger.countRows(level);
        this.db.setMeta(META_LEVELS, encodeLevelState({ rows, cursors }));
        this.crashPoint("merge-slice");
        this.levels = { rows, cursors };
        return r;
      });
      span.setAttributes({ "merge.rows": r.moved });
      return r;
    });
    const done = this.levels.cursors[level] === null;
    const seconds = (performance.now() - t) / 1000;
    this.metrics.observeStep("merge", seconds);
    const run = this.mergeRuns[level]!;
    run.rows += r.moved;
    run.seconds += seconds;
    if (!done) return false;
    const into = level + 1 === BASE_LEVEL ? "the base tables" : `level ${level + 1}`;
    this.log.info(
      `${level === 0 ? "live tail" : `level ${level}`} merged: ${run.rows} rows into ${into} in ${cursor.slices} slices, ` +
        `${run.seconds.toFixed(2)} s (${this.levels.rows[level]} newer rows left; rows by level: ${this.levels.rows.join(", ")})`,
    );
    this.mergeRuns[level] = { rows: 0, seconds: 0 };
    return true;
  }

  /**
   * Runs the merge due next to its end (and any merge of a lower level that interleaves with it),
   * if one is due (tests, benchmarks, shutdown-free tools); returns whether one ran.
   */
  mergeIfDue(): boolean {
    const level = this.nextMergeLevel();
    if (level === null || !this.initialDone) return false;
    while (this.nextMergeLevel() !== null) if (this.mergeStep() && this.levels.cursors[level] === null) break;
    return true;
  }

  private crashPoint(point: CrashPoint): void {
    if (this.opts.crashAt === point) process.kill(process.pid, "SIGKILL");
  }

  /**
   * After the initial sync: outputs of earlier batches are found through the txid index. The open
   * batch's own outputs are in the live table unless it filled up and was emptied: the rows a
   * lookup reads (txs, outputs, txid keys) are flushed first, which after the block's first miss
   * is a no-op (only spend rows are buffered then; flushing everything at every miss made each of a
   * live block's inserts a statement of its own).
   */
  private readonly storeFallback = (prevTxid: Uint8Array, vout: number): ResolvedPrevout | null => {
    this.writer.flushLookups();
    const txnum = this.reader.txnumOfPrevout(prevTxid);
    if (txnum === null) return null;
    const id = txnum * IO_SPAN + vout;
    const out = this.reader.output(id);
    return out ? { id, scriptKey: out.scriptKey } : null;
  };

  close(): void {
    // update() stops the table's thread before it returns; this is for a caller that did not await it.
    void this.stopUtxoThread();
    this.writer.finalize();
    this.spill.finalize();
    this.merger.finalize();
  }
}

/** The initial sync's progress line: height, %, tx/s, ETA, every few seconds. */
class Progress {
  private last = performance.now();
  private readonly start = performance.now();

  constructor(
    private readonly log: Logger,
    private readonly metrics: SyncMetrics,
    private readonly from: number,
    private readonly to: number,
    private readonly everyMs: number,
  ) {}

  report(height: number, txs: number, bytes: number): void {
    const now = performance.now();
    const frac = this.to > this.from ? (height - this.from + 1) / (this.to - this.from + 1) : 1;
    this.metrics.setProgress(frac);
    if (now - this.last < this.everyMs) return;
    this.last = now;
    const secs = (now - this.start) / 1000;
    const eta = frac > 0 ? (secs / frac) * (1 - frac) : 0;
    const txPerS = Math.round(txs / secs);
    this.log.info(
      `indexed height ${height}/${this.to} (${(frac * 100).toFixed(1)} %), ${txPerS} tx/s, ` +
        `${(bytes / 1048576 / secs).toFixed(1)} MB/s, ETA ${formatDuration(eta)}`,
      { height, target_height: this.to, progress: frac, tx_per_s: txPerS, eta_s: Math.round(eta) },
    );
  }
}

function formatDuration(seconds: number): string {
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}
