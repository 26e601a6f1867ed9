/**
 * Prevout resolution for the indexer: for an input, the id and script key of the output it spends.
 *
 * Outputs go into a fixed-size table in typed arrays (utxo-table.ts). When it is full:
 *  - during the initial sync (no txid index yet) the oldest outputs are evicted to the store's
 *    spill table (store/utxo-spill.ts) in one sorted pass; a miss in memory is looked up there;
 *  - afterwards every output is in the store with its indexes, so the table only spares lookups
 *    within a batch: when full it is emptied, and a miss asks the store's txid index.
 * Memory is the table's size, fixed when it is created, whatever the chain's size.
 */
import { hashToHex } from "../bitcoin/bytes.ts";
import type { UtxoSpill } from "../store/utxo-spill.ts";
import { EVICT_TO_LOAD, UtxoTable, type OutputVisitor } from "./utxo-table.ts";

export interface ResolvedPrevout {
  readonly id: number;
  readonly scriptKey: Uint8Array;
}

/** Lookup of an output in the store's indexes (after the initial sync). */
export type PrevoutFallback = (prevTxid: Uint8Array, vout: number) => ResolvedPrevout | null;

export type PrevoutMode =
  | { readonly kind: "initial"; readonly spill: UtxoSpill }
  | {
      readonly kind: "live";
      readonly fallback: PrevoutFallback;
      /** Called before a full table is emptied: the outputs it held must be readable by `fallback` from then on. */
      readonly beforeClear: () => void;
    };

export interface PrevoutStats {
  /** Outputs evicted to the spill table so far (this process). */
  evicted: number;
  /** Spends resolved from the spill table (this process). */
  spillHits: number;
  /** Eviction passes and their total time. */
  evictions: number;
  evictSeconds: number;
}

export class Prevouts {
  readonly stats: PrevoutStats = { evicted: 0, spillHits: 0, evictions: 0, evictSeconds: 0 };

  constructor(
    private table: UtxoTable,
    private mode: PrevoutMode,
  ) {}

  get size(): number {
    return this.table.size;
  }

  /** Switches mode and table (the end of the initial sync gives the big table back). */
  reset(table: UtxoTable, mode: PrevoutMode): void {
    this.table = table;
    this.mode = mode;
  }

  /**
   * The initial sync's mode with a table of `slots`, emptied: the one in use when it already has
   * that size (a retry after a rolled-back batch), since two tables at once would double the peak.
   */
  startInitial(slots: number, spill: UtxoSpill): void {
    if (this.table.capacity === slots) this.table.clear();
    else this.table = new UtxoTable(slots);
    this.mode = { kind: "initial", spill };
  }

  /** Registers output `id` (txnum·2^20 + vout) of `txid`. */
  add(txid: Uint8Array, id: number, scriptKey: Uint8Array): void {
    if (this.table.isFull) this.makeRoom();
    this.table.add(txid, id, scriptKey);
  }

  /** Resolves and removes the output spent by an input; null when it is unknown. */
  spend(prevTxid: Uint8Array, vout: number): ResolvedPrevout | null {
    const hit = this.table.take(prevTxid, vout);
    if (hit) return hit;
    if (this.mode.kind === "live") return this.mode.fallback(prevTxid, vout);
    const spilled = this.mode.spill.take(prevTxid, vout);
    if (spilled) this.stats.spillHits++;
    return spilled;
  }

  clear(): void {
    this.table.clear();
  }

  /** Every output held in memory (the end of the initial sync writes them to the store). */
  forEach(fn: OutputVisitor): void {
    this.table.forEach(collectingEvery(GC_EVERY_ROWS, fn));
  }

  private makeRoom(): void {
    const mode = this.mode;
    if (mode.kind === "live") {
      mode.beforeClear();
      this.table.clear();
      return;
    }
    const t = performance.now();
    const keep = Math.floor(this.table.capacity * EVICT_TO_LOAD);
    const before = this.table.size;
    const bound = this.table.evictOldest(keep, collectingEvery(GC_EVERY_ROWS, mode.spill.stage));
    mode.spill.commitStaged(bound);
    this.stats.evicted += before - this.table.size;
    this.stats.evictions++;
    this.stats.evictSeconds += (performance.now() - t) / 1000;
  }
}

/**
 * Each bun:sqlite `run()` leaves a little garbage (its arguments and result), and JSC, seeing the
 * table's big arrays, lets it pile up: writing 13M outputs took the peak RSS from 1.9 to 3.2 GB.
 * A full collection every million rows keeps it flat (measured: no growth, same speed).
 */
const GC_EVERY_ROWS = 1_000_000;

function collectingEvery(rows: number, fn: OutputVisitor): OutputVisitor {
  let n = 0;
  return (txidPrefix, id, scriptKey) => {
    fn(txidPrefix, id, scriptKey);
    if (++n % rows === 0) Bun.gc(true);
  };
}

/** For error messages. */
export const describeOutpoint = (txid: Uint8Array, vout: number) => `${hashToHex(txid)}:${vout}`;
