/**
 * Prevout resolution, the table's side: applies a block's ops (prevout-ops.ts) to a UTXO table
 * and answers, for each spend, the id and script key of the output it spends.
 *
 * Outputs go into a fixed-size table in typed arrays (utxo-table.ts). When it is full:
 *  - during the initial sync (no txid index yet) the oldest outputs are evicted in one pass, and
 *    the id bound below which they all were comes back with the answer: the main thread defers a
 *    spend the table then misses to the end of the load, where all of them are resolved in sorted
 *    passes (store/utxo-spill.ts);
 *  - afterwards every output is in the store with its indexes, so the table only spares lookups
 *    within a batch: when full it is emptied, and a miss asks the store's txid index.
 * Memory is the table's size, fixed when it is created, whatever the chain's size.
 *
 * During the initial sync this runs in the table's worker thread (utxo-worker.ts), afterwards on
 * the main thread: the same code either way.
 */
import { hashToHex } from "../bitcoin/bytes.ts";
import { OP_ADD, OP_KIND, OP_SPEND, OP_WORDS, SPENT_WORDS, type Eviction, type Resolved } from "./prevout-ops.ts";
import { EVICT_TO_LOAD, UtxoTable } from "./utxo-table.ts";

export interface ResolvedPrevout {
  readonly id: number;
  readonly scriptKey: Uint8Array;
}

export interface PrevoutStats {
  /** Outputs evicted from the table so far (this process). */
  evicted: number;
  /** Spends the table missed, deferred to the end of the load (this process). */
  deferred: number;
  /** Eviction passes and their total time. */
  evictions: number;
  evictSeconds: number;
}

/** What a full table does: evict its oldest half (initial sync: their spends are deferred), or empty itself (live). */
export type WhenFull = "evict" | "clear";

/** Applies `ops` in order; the table then holds the block's unspent outputs. */
export function applyOps(table: UtxoTable, ops: Uint32Array, whenFull: WhenFull): Resolved {
  if (ops.length % OP_WORDS !== 0) throw new RangeError(`${ops.length} words are not a whole number of ops`);
  let spends = 0;
  for (let o = OP_KIND; o < ops.length; o += OP_WORDS) if (ops[o] === OP_SPEND) spends++;
  const spent = new Uint32Array(spends * SPENT_WORDS);
  const evictions: Eviction[] = [];
  let p = 0;
  for (let o = 0; o < ops.length; o += OP_WORDS) {
    const kind = ops[o + OP_KIND];
    if (kind === OP_SPEND) {
      table.takeOp(ops, o, spent, p);
      p += SPENT_WORDS;
    } else if (kind === OP_ADD) {
      if (table.isFull) {
        if (whenFull === "clear") table.clear();
        else evictions.push(evictOldest(table, p / SPENT_WORDS));
      }
      table.addOp(ops, o);
    } else {
      throw new RangeError(`op ${o / OP_WORDS}: unknown kind ${kind}`);
    }
  }
  return { spent, evictions };
}

function evictOldest(table: UtxoTable, atSpend: number): Eviction {
  const t = performance.now();
  let count = 0;
  const bound = table.evictOldest(Math.floor(table.capacity * EVICT_TO_LOAD), () => count++);
  return { atSpend, bound, count, seconds: (performance.now() - t) / 1000 };
}

/** For error messages. */
export const describeOutpoint = (txid: Uint8Array, vout: number) => `${hashToHex(txid)}:${vout}`;
