/**
 * The merges of the levels (store/levels.ts): moving the rows of one level into the next one, one
 * key range at a time, in key order.
 *
 * Why: after the initial sync every new key of a block lands at a random place of a big B-tree
 * (the txid, script and outpoint keys are hashes or old ids), so a block dirtied one page (then 16 KiB) per
 * row: a 4,000-tx block on the 20M-tx bench index wrote ~300 MiB and took ~0.8 s. Written to small
 * tables, a block dirties their few hundred pages instead; merges later write the bigger levels in
 * key order, many blocks at a time, off the path of a block and its notifications.
 *
 * A merge of level k is a run of transactions ("slices"), one per range of the first two key
 * bytes, about ROWS_PER_SLICE rows of level k each (between two slices the servers answer and a new
 * block may be indexed: a slice is the longest the event loop waits for a merge). A slice moves,
 * for the script keys of its range, the rows of funding, spend_history, spends (found through
 * level k's spend_history, which holds each spend's prev) and unspent together, and deletes from
 * level k+1's unspent the outputs that the moved spends spent; and the txid keys of the same byte
 * range. So the invariants of levels.ts hold between any two transactions, and a crash or a block
 * between two slices leaves a valid index (the merge's cursor is saved with each slice: a restart
 * goes on from there).
 */
import type { Statement } from "bun:sqlite";
import type { Db } from "./db.ts";
import { BASE_LEVEL, levelTable, levelTables, type LeveledTable } from "./levels.ts";

/**
 * Rows a slice moves, about: on the 20M-tx bench index a row of the live tail costs ~14 µs to merge
 * into the base (page cache warm), so ~60 ms a slice.
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

/** The live tail's tables (level 0 of levels.ts). */
export const RECENT_TABLES = levelTables(0);

export interface LevelMerger {
  /** Rows in the tables of `level` (below the base) now: a count, for the live tail and small levels. */
  countRows(level: number): number;
  /**
   * Moves the rows of slice `slice` of `slices` (sliceBounds) of `level` into level + 1, inside
   * the caller's transaction; returns the rows that left `level` and those that reached the next one
   * (fewer: an output and its spend that meet there both go).
   */
  mergeSlice(level: number, slice: number, slices: number): { moved: number; added: number };
  finalize(): void;
}

/** What a merge step's changed rows count as: rows that left the level, rows added to the next, rows deleted there. */
type SliceCount = "moved" | "added" | "removed";

export function openLevelMerger(db: Db): LevelMerger {
  const sql = db.sql;
  const counts = Array.from({ length: BASE_LEVEL }, (_, level) =>
    sql.prepare<{ n: number }, []>(`SELECT ${levelTables(level).map((t) => `(SELECT count(*) FROM ${t})`).join(" + ")} AS n`),
  );
  const inRange = (col: string) => `${col} >= ?1 AND ${col} < ?2`;
  const stepsOf = (level: number) => {
    const from = (t: LeveledTable) => levelTable(t, level);
    const to = (t: LeveledTable) => levelTable(t, level + 1);
    const spentPrevs = `SELECT prev FROM ${from("spend_history")} WHERE ${inRange("script")}`;
    const queries: { q: string; counts: SliceCount }[] = [
      // Outputs of the next level spent by the slice's spends leave its unspent table (the spends'
      // rows hid them until now; an output and its spend never share a level): point deletes
      // driven by the smaller table.
      { q: `DELETE FROM ${to("unspent")} WHERE (script, id) IN (SELECT script, prev FROM ${from("spend_history")} WHERE ${inRange("script")})`, counts: "removed" },
      { q: `INSERT INTO ${to("spends")}(prev, id) SELECT s.prev, s.id FROM ${from("spends")} s WHERE s.prev IN (${spentPrevs}) ORDER BY s.prev`, counts: "added" },
      { q: `DELETE FROM ${from("spends")} WHERE prev IN (${spentPrevs})`, counts: "moved" },
      {
        q: `INSERT INTO ${to("spend_history")}(script, id, prev) SELECT script, id, prev FROM ${from("spend_history")} WHERE ${inRange("script")} ORDER BY script, id`,
        counts: "added",
      },
      { q: `DELETE FROM ${from("spend_history")} WHERE ${inRange("script")}`, counts: "moved" },
      {
        q: `INSERT INTO ${to("unspent")}(script, id, value_sat) SELECT script, id, value_sat FROM ${from("unspent")} WHERE ${inRange("script")} ORDER BY script, id`,
        counts: "added",
      },
      { q: `DELETE FROM ${from("unspent")} WHERE ${inRange("script")}`, counts: "moved" },
      { q: `INSERT INTO ${to("funding")}(script, id) SELECT script, id FROM ${from("funding")} WHERE ${inRange("script")} ORDER BY script, id`, counts: "added" },
      { q: `DELETE FROM ${from("funding")} WHERE ${inRange("script")}`, counts: "moved" },
      { q: `INSERT INTO ${to("txid_index")}(key, txnum) SELECT key, txnum FROM ${from("txid_index")} WHERE ${inRange("key")} ORDER BY key, txnum`, counts: "added" },
      { q: `DELETE FROM ${from("txid_index")} WHERE ${inRange("key")}`, counts: "moved" },
    ];
    return queries.map(({ q, counts }) => ({ stmt: sql.prepare(q), counts }));
  };
  // Prepared on a level's first merge: a small index may never merge its older levels.
  const steps: ({ stmt: Statement; counts: SliceCount }[] | undefined)[] = [];
  return {
    countRows: (level) => counts[level]!.get()!.n,
    mergeSlice(level, slice, slices) {
      if (!Number.isInteger(level) || level < 0 || level >= BASE_LEVEL) throw new RangeError(`level ${level} is not merged (0 to ${BASE_LEVEL - 1})`);
      const { lo, hi } = sliceBounds(slice, slices);
      const r = { moved: 0, added: 0 };
      for (const { stmt, counts } of (steps[level] ??= stepsOf(level))) {
        const changes = stmt.run(lo, hi).changes;
        if (counts === "moved") r.moved += changes;
        else if (counts === "added") r.added += changes;
        else r.added -= changes;
      }
      return r;
    },
    finalize() {
      for (const c of counts) c.finalize();
      for (const level of steps) for (const { stmt } of level ?? []) stmt.finalize();
    },
  };
}
