/**
 * Electrum statuses of scripts with long histories, kept up to date instead of recomputed: the
 * status is sha256 over the history's `"<txid>:<height>:"` strings (status.ts), so the hash state
 * after the confirmed part can be kept, and a new block only adds its own entries to it (the
 * confirmed part only grows at its end, in txnum order). A notification for a script with 500k
 * txs then reads the block's few rows of it, not 500k txids and heights.
 *
 * An entry is valid while the block it was read at is still in the best chain (a reorg below it
 * drops the entry: the history is read whole again). Bounded: at most `maxEntries` scripts (the
 * least recently used go first), and only histories of `minEntries` confirmed txs or more (short
 * ones cost a read of a few rows anyway). Answers are those of electrum-history.ts: the same
 * statuses, the same "too-large" refusals.
 */
import { bytesEqual, bytesToHex } from "../bitcoin/bytes.ts";
import type { MempoolView } from "../mempool/types.ts";
import type { StoreReader } from "../store/read.ts";
import { mempoolEntries, tooLarge } from "./electrum-history.ts";
import { STATUS_ENTRY_TEXT, writeHistoryEntries } from "./history-bytes.ts";
import { hashStatusEntries } from "./status.ts";

export interface CachedStatus {
  readonly status: string | null;
  readonly hasMempoolParent: boolean;
}

interface Entry {
  tipHeight: number;
  tipHash: Uint8Array;
  /** The last txnum of the confirmed history hashed so far. */
  lastTxnum: number;
  /** Confirmed txs hashed so far. */
  count: number;
  /** sha256 state after the confirmed entries. */
  readonly hasher: Bun.CryptoHasher;
}

export interface StatusCacheOptions {
  readonly maxEntries?: number;
  readonly minEntries?: number;
}

/** ~0.5 kB each (a hash state, a key, a block hash): ~5 MB for 10,000 scripts. */
const DEFAULT_MAX_ENTRIES = 10_000;
const DEFAULT_MIN_ENTRIES = 100;

export class StatusCache {
  private readonly entries = new Map<string, Entry>();
  private readonly maxEntries: number;
  private readonly minEntries: number;
  /** Reads of a whole history, and updates of a kept one (for the tests). */
  readonly counts = { full: 0, incremental: 0 };

  constructor(
    private readonly reader: StoreReader,
    opts: StatusCacheOptions = {},
  ) {
    this.maxEntries = opts.maxEntries ?? DEFAULT_MAX_ENTRIES;
    this.minEntries = opts.minEntries ?? DEFAULT_MIN_ENTRIES;
  }

  get size(): number {
    return this.entries.size;
  }

  /** Whether `key`'s status is kept and still valid (its block in the best chain): then `status` reads only what came after it. */
  has(key: Uint8Array): boolean {
    const e = this.entries.get(bytesToHex(key));
    return e !== undefined && this.valid(e);
  }

  /**
   * The status of `key`'s history (confirmed, then the mempool in canonical order), refused as
   * electrumHistoryTxnums refuses it (QueryError "too-large" over `limit` txs; 0 = no limit).
   */
  status(key: Uint8Array, mempool: MempoolView, limit: number): CachedStatus {
    const pool = mempoolEntries(mempool, key);
    const max = limit === 0 ? Number.MAX_SAFE_INTEGER : limit;
    if (pool.length > max) throw tooLarge(limit);
    const hex = bytesToHex(key);
    const tip = this.reader.tip();
    let e = this.entries.get(hex);
    if (e && !this.valid(e)) {
      this.entries.delete(hex);
      e = undefined;
    }
    if (e && tip && e.tipHeight !== tip.height) {
      const txnums = this.reader.historyTxnumsAsc(key, e.lastTxnum, max - e.count - pool.length + 1);
      if (e.count + txnums.length + pool.length > max) throw tooLarge(limit);
      this.hashConfirmed(e.hasher, txnums);
      e.count += txnums.length;
      if (txnums.length > 0) e.lastTxnum = txnums[txnums.length - 1]!;
      e.tipHeight = tip.height;
      e.tipHash = tip.hash;
      this.counts.incremental++;
    } else if (e) {
      if (e.count + pool.length > max) throw tooLarge(limit);
    }
    let hasher: Bun.CryptoHasher;
    let count: number;
    if (e) {
      // Most recently used last (Map order).
      this.entries.delete(hex);
      this.entries.set(hex, e);
      hasher = e.hasher.copy();
      count = e.count;
    } else {
      const txnums = this.reader.historyTxnumsAsc(key, null, max - pool.length + 1);
      if (txnums.length + pool.length > max) throw tooLarge(limit);
      hasher = new Bun.CryptoHasher("sha256");
      this.hashConfirmed(hasher, txnums);
      count = txnums.length;
      this.counts.full++;
      if (tip && count >= this.minEntries) {
        this.entries.set(hex, { tipHeight: tip.height, tipHash: tip.hash, lastTxnum: txnums[count - 1]!, count, hasher: hasher.copy() });
        if (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
      }
    }
    hashStatusEntries(hasher, pool);
    return { status: count + pool.length === 0 ? null : hasher.digest("hex"), hasMempoolParent: pool.some((p) => p.height === -1) };
  }

  private valid(e: Entry): boolean {
    const b = this.reader.blockAt(e.tipHeight);
    return b !== null && bytesEqual(b.hash, e.tipHash);
  }

  private hashConfirmed(hasher: Bun.CryptoHasher, txnums: readonly number[]): void {
    hasher.update(writeHistoryEntries(this.reader, txnums, STATUS_ENTRY_TEXT, false));
  }
}
