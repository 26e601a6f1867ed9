/**
 * The best chain's block boundaries in memory, for the query side's reader (#10's lever: "block
 * boundaries fit in memory, a binary search gives a txnum's height"): the first txnum of every
 * height in a Float64Array (8 bytes a block: ~7.5 MB at mainnet's ~930k blocks), and the last
 * `maxRows` block rows read, by height. A txnum's block was a B-tree read (`first_txnum <= ?
 * ORDER BY first_txnum DESC LIMIT 1`) for every tx located and every history row's height.
 *
 * It is exact only if told of every change: `changed(fromHeight)` after each commit of new blocks
 * and after each rollback (app.ts wires the indexer's onCommit and onRollback), synchronously,
 * before any query runs. Heights from `fromHeight` on are read again from the store.
 */
import type { BlockRow } from "./rows.ts";

export interface BlockBoundsSource {
  /** (height, first txnum) of every block from `fromHeight` on, in height order. */
  firstTxnumsFrom(fromHeight: number): Iterable<{ height: number; firstTxnum: number }>;
  /** The block row at `height`, from the store. */
  blockAt(height: number): BlockRow | null;
}

export class BlockBounds {
  private first = new Float64Array(1024);
  private count = 0;
  private readonly rows = new Map<number, BlockRow>();

  /**
   * `poll`: for a reader in another thread than the writer (serve/shared-state.ts): the lowest
   * height changed since its last call, or -1, asked before every lookup. Such a reader may also
   * see the rows of a commit before it is told of it: a txnum past the last known block's txs
   * makes it read the new blocks at once.
   */
  constructor(
    private readonly source: BlockBoundsSource,
    private readonly maxRows = 4096,
    private readonly poll: (() => number) | null = null,
  ) {
    this.load(0);
  }

  /** Blocks known (heights 0 … count - 1). */
  get height(): number {
    this.follow();
    return this.count - 1;
  }

  private follow(): void {
    if (this.poll === null) return;
    const from = this.poll();
    if (from >= 0) this.changed(from);
  }

  /** Blocks from `fromHeight` on were added, replaced or removed: they are read again. */
  changed(fromHeight: number): void {
    const from = Math.max(0, fromHeight);
    if (from < this.count) this.count = from;
    for (const h of this.rows.keys()) if (h >= from) this.rows.delete(h);
    this.load(this.count);
  }

  /** The height of the block holding `txnum` (the last block whose first txnum is ≤ it), or -1 before the first. */
  heightOf(txnum: number): number {
    this.follow();
    if (this.poll !== null && this.count > 0 && txnum >= this.first[this.count - 1]!) {
      const last = this.blockAtKnown(this.count - 1);
      if (last === null || txnum >= last.firstTxnum + last.txCount) this.changed(this.count);
    }
    let lo = 0;
    let hi = this.count - 1;
    if (hi < 0 || txnum < this.first[0]!) return -1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (this.first[mid]! <= txnum) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  /** The block row at `height`, or null past the tip. */
  blockAt(height: number): BlockRow | null {
    this.follow();
    if (this.poll !== null && height >= this.count) this.changed(this.count);
    return this.blockAtKnown(height);
  }

  private blockAtKnown(height: number): BlockRow | null {
    if (height < 0 || height >= this.count) return null;
    const hit = this.rows.get(height);
    if (hit !== undefined) return hit;
    const row = this.source.blockAt(height);
    if (row === null) return null;
    if (this.rows.size >= this.maxRows) this.rows.delete(this.rows.keys().next().value!);
    this.rows.set(height, row);
    return row;
  }

  /** The block holding `txnum`, or null. */
  blockContaining(txnum: number): BlockRow | null {
    return this.blockAtKnown(this.heightOf(txnum));
  }

  private load(fromHeight: number): void {
    for (const { height, firstTxnum } of this.source.firstTxnumsFrom(fromHeight)) {
      if (height !== this.count) throw new Error(`index inconsistency: block heights not contiguous at ${height} (expected ${this.count})`);
      if (height >= this.first.length) {
        const grown = new Float64Array(this.first.length * 2);
        grown.set(this.first);
        this.first = grown;
      }
      this.first[height] = firstTxnum;
      this.count++;
    }
  }
}
