/**
 * What the serving threads (--serve-workers, serve/pool.ts) must see of the main thread's state at
 * once, not a message later: a SharedArrayBuffer of Int32 fields, written by the main thread only.
 *
 * - `blockSeq` counts the indexer's commits and rollbacks of blocks; the ring's slot `seq % RING`
 *   holds the lowest height each one changed. A worker's StoreReader keeps the block boundaries in
 *   memory (store/block-bounds.ts) and asks its BlockChangeWatcher before each lookup which heights
 *   to read again.
 *   The ring entry is written before the count is raised, so a worker that sees a count sees its height.
 * - `writerCommits` is the writer's commit count (store/db.ts Db.commits), for the reader's
 *   empty-level checks (store/level-reads.ts); `committing` is 1 from just before a COMMIT until
 *   its count is published, so that a reader never keeps what it saw in between.
 * - `changeSeq` is a sequence lock over every change of the index a worker can see: odd from just
 *   before a COMMIT until the synchronous work after it is done (the txid file's records, the block
 *   changes and rollbacks published above), even otherwise. A worker's query notes it before and
 *   compares after (ReadGuard, chain-query.ts): a query that overlapped a change is read again, on
 *   a snapshot at least as new as the change, so that its rows, block boundaries and txids all
 *   come from one committed state, as the main thread's reads always do.
 * - `rollbacks` counts reorgs: a worker's cache of confirmed txs' JSON empties itself when it moved.
 * - `tipHeight`, `mempoolSize` and `mempoolSynced` are what the query layer asks of the indexer and
 *   the mempool without a call.
 */

import type { ReadGuard } from "../query/chain-query.ts";

/** Int32 slots, declared once. */
const F = {
  blockSeq: 0,
  writerCommits: 1,
  tipHeight: 2,
  mempoolSize: 3,
  mempoolSynced: 4,
  rollbacks: 5,
  committing: 6,
  changeSeq: 7,
  ring: 8,
} as const;
/** Block changes a worker can fall behind by before it reads every height again. */
const RING = 64;
export const SHARED_STATE_BYTES = (F.ring + RING) * 4;

export class SharedState {
  private readonly a: Int32Array;

  constructor(readonly buffer: SharedArrayBuffer) {
    if (buffer.byteLength < SHARED_STATE_BYTES) throw new Error(`shared state needs ${SHARED_STATE_BYTES} bytes`);
    this.a = new Int32Array(buffer, 0, SHARED_STATE_BYTES / 4);
  }

  static create(): SharedState {
    const s = new SharedState(new SharedArrayBuffer(SHARED_STATE_BYTES));
    Atomics.store(s.a, F.tipHeight, -1);
    return s;
  }

  // ---- written by the main thread ----

  /** Blocks from `fromHeight` on were committed, replaced or removed; the tip is now `tipHeight`. */
  blocksChanged(fromHeight: number, tipHeight: number): void {
    const seq = Atomics.load(this.a, F.blockSeq) + 1;
    Atomics.store(this.a, F.ring + (seq % RING), Math.max(0, fromHeight));
    Atomics.store(this.a, F.tipHeight, tipHeight);
    Atomics.store(this.a, F.blockSeq, seq);
  }

  /** A reorg removed blocks (caches of confirmed data must be emptied). */
  rolledBack(): void {
    Atomics.add(this.a, F.rollbacks, 1);
  }

  /** Db.observeCommits: between these two the index is changing (a COMMIT, then the txid file's records). */
  committing(): void {
    this.commitOpen = true;
    if (this.changesUnderWay++ === 0) Atomics.add(this.a, F.changeSeq, 1);
    Atomics.store(this.a, F.committing, 1);
  }

  /** Also called alone, to publish the count of an index just opened (no change then). */
  committed(commits: number): void {
    Atomics.store(this.a, F.writerCommits, commits | 0);
    Atomics.store(this.a, F.committing, 0);
    if (!this.commitOpen) return;
    this.commitOpen = false;
    // The sequence stays odd until the code that runs on from the commit has published what
    // follows from it (blocksChanged, rolledBack: the indexer calls its listeners synchronously
    // after each commit): a microtask runs once that synchronous run is over.
    queueMicrotask(() => {
      if (--this.changesUnderWay > 0) return;
      Atomics.add(this.a, F.changeSeq, 1);
      Atomics.notify(this.a, F.changeSeq);
    });
  }
  /** Main thread only: a committing() not yet matched by committed(), and the commits whose sequence step is still to come. */
  private commitOpen = false;
  private changesUnderWay = 0;

  setMempool(size: number, synced: boolean): void {
    Atomics.store(this.a, F.mempoolSize, size);
    Atomics.store(this.a, F.mempoolSynced, synced ? 1 : 0);
  }

  // ---- read by the workers ----

  get blockSeq(): number {
    return Atomics.load(this.a, F.blockSeq);
  }

  /**
   * The lowest height changed by the block changes after `seenSeq` up to `seq` (0 when the ring no
   * longer holds them all), or -1 when there were none.
   */
  lowestChangedSince(seenSeq: number, seq: number): number {
    if (seq === seenSeq) return -1;
    if (seq - seenSeq > RING - 1) return 0;
    let low = Number.MAX_SAFE_INTEGER;
    for (let s = seenSeq + 1; s <= seq; s++) low = Math.min(low, Atomics.load(this.a, F.ring + (s % RING)));
    return low;
  }

  get rollbacks(): number {
    return Atomics.load(this.a, F.rollbacks);
  }

  /** The change sequence (odd while a change is under way). */
  get changeSeq(): number {
    return Atomics.load(this.a, F.changeSeq);
  }

  /**
   * The change sequence once no change is under way: blocks this thread (Atomics.wait, workers
   * only) while one is, at most `maxWaitMs` in all; then returns the sequence as it is, odd or not.
   */
  settledChangeSeq(maxWaitMs: number): number {
    const now = Atomics.load(this.a, F.changeSeq);
    if ((now & 1) === 0) return now;
    const until = performance.now() + maxWaitMs;
    for (;;) {
      const seq = Atomics.load(this.a, F.changeSeq);
      const left = until - performance.now();
      if ((seq & 1) === 0 || left <= 0) return seq;
      Atomics.wait(this.a, F.changeSeq, seq, left);
    }
  }

  /**
   * The writer's commit count for a reader's empty-level checks (store/level-reads.ts): while a
   * commit is under way, a new value at each call, so that the reader looks at the levels every
   * time and keeps nothing it saw then.
   */
  writerCommits(): number {
    if (Atomics.load(this.a, F.committing) === 1) return -1 - this.changingReads++;
    return Atomics.load(this.a, F.writerCommits);
  }
  private changingReads = 0;

  get tipHeight(): number {
    return Atomics.load(this.a, F.tipHeight);
  }

  get mempoolSize(): number {
    return Atomics.load(this.a, F.mempoolSize);
  }

  get mempoolSynced(): boolean {
    return Atomics.load(this.a, F.mempoolSynced) === 1;
  }
}

/** A worker's follower of the block changes: `poll()` gives the lowest height to read again, or -1. */
export class BlockChangeWatcher {
  private seen: number;

  constructor(private readonly state: SharedState) {
    this.seen = state.blockSeq;
  }

  poll(): number {
    const seq = this.state.blockSeq;
    if (seq === this.seen) return -1;
    const low = this.state.lowestChangedSince(this.seen, seq);
    this.seen = seq;
    return low;
  }
}

/** How long a read waits for a change of the index under way (a COMMIT and what follows it: milliseconds). */
const CHANGE_WAIT_MS = 1_000;

/**
 * A worker's reads against the main thread's commits (changeSeq above, a sequence lock):
 * a read starts once no change is under way, on a read transaction opened after the last change
 * (`endSnapshot` ends an older one), and is made again if a change began or ended meanwhile.
 */
export function changeGuard(state: SharedState, endSnapshot: () => void): ReadGuard {
  let snapshotSeq = -1;
  return {
    begin() {
      const seq = state.settledChangeSeq(CHANGE_WAIT_MS);
      if (seq !== snapshotSeq) {
        endSnapshot();
        snapshotSeq = seq;
      }
      return seq;
    },
    changed: (mark) => (mark & 1) === 1 || state.changeSeq !== mark,
  };
}
