/**
 * The live tail's merge: moves the rows of the small `*_recent` tables (schema.sql) into their big
 * sorted twins, one key range at a time, in key order.
 *
 * Why: after the initial sync every new key of a block lands at a random place of a big B-tree
 * (the txid, script and outpoint keys are hashes or old ids), so a block dirtied one page (then 16 KiB) per
 * row: a 4,000-tx block on the 20M-tx bench index wrote ~300 MiB and took ~0.8 s. Written to small
 * tables, a block dirties their few hundred pages instead; the merge later writes the big tables in
 * key order, many blocks at a time, off the path of a block and its notifications.
 *
 * A merge is a run of transactions ("slices"), one per range of the first two key bytes, about
 * ROWS_PER_SLICE rows each (between two slices the servers answer and a new block may be indexed:
 * a slice is the longest the event loop waits for a merge). A slice moves, for the
 * script keys of its range, the rows of funding, spend_history, spends (found through
 * spend_history_recent, which holds each spend's prev) and unspent together, and deletes from
 * `unspent` the outputs that the moved spends spent; and the txid keys of the same byte range.
 * So the invariants of schema.sql hold between any two transactions, and a crash or a block
 * between two slices leaves a valid index (a restart starts the merge over; merged slices are empty).
 */
import type { Statement } from "bun:sqlite";
import type { Db } from "./db.ts";

/**
 * Rows a slice moves, about: on the 20M-tx bench index a row costs ~14 µs to merge (page cache
 * warm), so ~60 ms a slice.
 */
export const ROWS_PER_SLICE = 4096;
const PREFIXES = 65536;

/** Slices for a merge of `rows` rows: a power of two from 16 to 65,536 (each a range of 2-byte key prefixes). */
export function slicesFor(rows: number): number {
  let n = 16;
  while (n < PREFIXES && n * ROWS_PER_SLICE < rows) n *= 2;
  return n;
}

/** Key bounds of slice `slice` of `slices`: [lo, hi) over blob keys of 2 to 11 bytes (script keys; txid keys are 8). */
export function sliceBounds(slice: number, slices: number): { lo: Uint8Array; hi: Uint8Array } {
  if (!Number.isInteger(slices) || slices < 1 || slices > PREFIXES || (slices & (slices - 1)) !== 0) throw new RangeError(`${slices} slices: not a power of two up to ${PREFIXES}`);
  if (!Number.isInteger(slice) || slice < 0 || slice >= slices) throw new RangeError(`no merge slice ${slice} of ${slices}`);
  const width = PREFIXES / slices;
  const prefix = (p: number) => Uint8Array.of(p >> 8, p & 0xff);
  // Above every key of the last slice: 12 bytes of 0xff sort after any 11-byte key.
  const hi = slice === slices - 1 ? new Uint8Array(12).fill(0xff) : prefix((slice + 1) * width);
  return { lo: prefix(slice * width), hi };
}

/** The live tail's tables (schema.sql), each the twin of a big sorted table. */
export const RECENT_TABLES = ["txid_recent", "funding_recent", "spends_recent", "spend_history_recent", "unspent_recent"] as const;

export interface RecentLevel {
  /** Rows in the five `*_recent` tables now (a count of small tables). */
  countRows(): number;
  /** Moves the rows of slice `slice` of `slices` (sliceBounds) into the big tables; returns how many. Inside the caller's transaction. */
  mergeSlice(slice: number, slices: number): number;
  finalize(): void;
}

export function openRecentLevel(db: Db): RecentLevel {
  const sql = db.sql;
  const count = sql.prepare<{ n: number }, []>(`SELECT ${RECENT_TABLES.map((t) => `(SELECT count(*) FROM ${t})`).join(" + ")} AS n`);
  const inRange = (col: string) => `${col} >= ?1 AND ${col} < ?2`;
  const queries = [
    // Outputs of merged blocks spent by the slice's recent spends leave `unspent` (their
    // spend_history_recent rows hid them until now): point deletes driven by the small table.
    `DELETE FROM unspent WHERE (script, id) IN (SELECT script, prev FROM spend_history_recent WHERE ${inRange("script")})`,
    `INSERT INTO spends(prev, id) SELECT s.prev, s.id FROM spends_recent s WHERE s.prev IN (SELECT prev FROM spend_history_recent WHERE ${inRange("script")}) ORDER BY s.prev`,
    `DELETE FROM spends_recent WHERE prev IN (SELECT prev FROM spend_history_recent WHERE ${inRange("script")})`,
    `INSERT INTO spend_history(script, id, prev) SELECT script, id, prev FROM spend_history_recent WHERE ${inRange("script")} ORDER BY script, id`,
    `DELETE FROM spend_history_recent WHERE ${inRange("script")}`,
    `INSERT INTO unspent(script, id) SELECT script, id FROM unspent_recent WHERE ${inRange("script")} ORDER BY script, id`,
    `DELETE FROM unspent_recent WHERE ${inRange("script")}`,
    `INSERT INTO funding(script, id) SELECT script, id FROM funding_recent WHERE ${inRange("script")} ORDER BY script, id`,
    `DELETE FROM funding_recent WHERE ${inRange("script")}`,
    `INSERT INTO txid_index(key, txnum) SELECT key, txnum FROM txid_recent WHERE ${inRange("key")} ORDER BY key, txnum`,
    `DELETE FROM txid_recent WHERE ${inRange("key")}`,
  ];
  // The deletes from the recent tables count what a slice moved.
  const steps: { stmt: Statement; moves: boolean }[] = queries.map((q) => ({ stmt: sql.prepare(q), moves: /^DELETE FROM \w+_recent /.test(q) }));
  return {
    countRows: () => count.get()!.n,
    mergeSlice(slice, slices) {
      const { lo, hi } = sliceBounds(slice, slices);
      let moved = 0;
      for (const { stmt, moves } of steps) {
        const changes = stmt.run(lo, hi).changes;
        if (moves) moved += changes;
      }
      return moved;
    },
    finalize() {
      count.finalize();
      for (const { stmt } of steps) stmt.finalize();
    },
  };
}
