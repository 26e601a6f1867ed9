/**
 * The JSON of confirmed txs as REST answers them (`/tx/:txid`, the 25-tx pages of
 * `/block/:hash/txs/:start`), by txid: bounded by bytes (--rest-tx-cache-mb), the least recently
 * used evicted first, by the CLOCK approximation of LRU (a hit sets the entry's `used` flag; an
 * eviction gives a flagged entry a second chance, unflagged at the end of the queue). A hit then
 * touches no Map order: re-inserting the key on every hit (an exact LRU) was 6 % of a busy
 * server's CPU under `/tx/:txid`. Rendering a
 * confirmed tx costs ~45 µs on the 20M-tx bench chain (its bytes from the blk file, then each
 * prevout's funding tx: a txid lookup, a read and a parse; then the addresses and the JSON), and
 * explorers ask for the same recent blocks and txs over and over.
 *
 * What a confirmed tx's JSON says never changes while it stays in the best chain: its inputs'
 * prevouts, its fee, its status (height, block hash and time). A reorg is the only thing that
 * changes it, so the app empties the cache on every rollback (the indexer's listener runs
 * synchronously after the commit, and REST answers are synchronous: no answer computed before a
 * reorg is stored after it). Mempool txs are never stored (their status changes on confirmation).
 */

/** Bytes counted for an entry besides its text: the key, the Map's slot, the entry object. */
const ENTRY_OVERHEAD_BYTES = 160;

export interface CachedTxJson {
  /** JSON.stringify of the tx's REST object. */
  readonly text: string;
  /** Its block's height (the answer's Cache-Control depends on the depth). */
  readonly height: number;
}

interface Entry extends CachedTxJson {
  /** Hit since it was stored or last given a second chance. */
  used: boolean;
}

/** What the cache reports (the app's /metrics; nothing by default). */
export interface TxJsonCacheObserver {
  hit(): void;
  miss(): void;
  /** After each store, eviction or clear: the entries and bytes held. */
  held(entries: number, bytes: number): void;
}

const NO_OBSERVER: TxJsonCacheObserver = { hit() {}, miss() {}, held() {} };

export class TxJsonCache {
  /** Map order is insertion order (or a second chance's): the first key is the next to look at for eviction. */
  private readonly entries = new Map<string, Entry>();
  private bytes = 0;
  hits = 0;
  misses = 0;

  private reorgsSeen: number;

  /**
   * `maxBytes` 0: nothing is ever stored. `reorgs`: for a cache in a thread other than the
   * indexer's (a serve worker), a count of reorgs read at each use; the cache empties itself when
   * it changed (the main thread's cache is emptied by its owner instead).
   */
  constructor(
    readonly maxBytes: number,
    private readonly observer: TxJsonCacheObserver = NO_OBSERVER,
    private readonly reorgs: (() => number) | null = null,
  ) {
    this.reorgsSeen = reorgs?.() ?? 0;
  }

  private checkReorgs(): void {
    if (this.reorgs === null) return;
    const n = this.reorgs();
    if (n !== this.reorgsSeen) {
      this.reorgsSeen = n;
      this.clear();
    }
  }

  get size(): number {
    return this.entries.size;
  }

  get sizeBytes(): number {
    return this.bytes;
  }

  /** `txidHex`: display order, lower case. */
  get(txidHex: string): CachedTxJson | undefined {
    this.checkReorgs();
    const e = this.entries.get(txidHex);
    if (e === undefined) {
      this.misses++;
      this.observer.miss();
      return undefined;
    }
    this.hits++;
    this.observer.hit();
    e.used = true;
    return e;
  }

  set(txidHex: string, text: string, height: number): void {
    this.checkReorgs();
    const cost = text.length + ENTRY_OVERHEAD_BYTES;
    if (cost > this.maxBytes) return;
    const old = this.entries.get(txidHex);
    if (old) {
      this.bytes -= old.text.length + ENTRY_OVERHEAD_BYTES;
      this.entries.delete(txidHex);
    }
    this.entries.set(txidHex, { text, height, used: false });
    this.bytes += cost;
    // Oldest first; a used entry goes to the end unflagged (each is moved at most once per pass,
    // so this ends: after one lap every entry is unflagged).
    while (this.bytes > this.maxBytes) {
      const [k, e] = this.entries.entries().next().value!;
      this.entries.delete(k);
      // (the entry being stored is never the one evicted: it fits alone, checked above)
      if (e.used || k === txidHex) {
        e.used = false;
        this.entries.set(k, e);
        continue;
      }
      this.bytes -= e.text.length + ENTRY_OVERHEAD_BYTES;
    }
    this.observer.held(this.entries.size, this.bytes);
  }

  /** A reorg: every entry may name a block that left the chain. */
  clear(): void {
    this.entries.clear();
    this.bytes = 0;
    this.observer.held(0, 0);
  }
}
