/**
 * The live tail (store/recent.ts, schema.sql `*_recent`): blocks indexed after the initial sync put
 * their keys in small tables that a merge later moves into the big sorted ones, one key range (one
 * transaction) at a time. Whatever the state (nothing merged, part of a merge done, all merged),
 * every query answers as Core's ground truth says, the tables keep their invariants, a live reorg
 * removes rows from both levels, and the index equals a fresh sync's, row for row.
 */
import { afterEach, describe, expect, test } from "bun:test";
import type { Indexer } from "../../src/index/sync.ts";
import { createLogger } from "../../src/log.ts";
import { RECENT_TABLES, ROWS_PER_SLICE, sliceBounds, slicesFor } from "../../src/store/recent.ts";
import { BASE_LEVEL, levelTables } from "../../src/store/levels.ts";
import { cappedAt, loadExpected, openFixtureIndexer } from "../helpers/fixture.ts";
import { checkBlocks, checkOutspends, checkReorg, checkScripts, checkSpendTables, checkTxs, digestIndex } from "../helpers/index-check.ts";
import { tempDir } from "../helpers/tmp.ts";

const expected = loadExpected();
const logged: string[] = [];
const log = createLogger({ verbosity: 0, timestamp: false, sink: (line) => void logged.push(line) });
const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
  logged.length = 0;
});

const open = (dbDir = ":memory:", recentMergeRows?: number) => openFixtureIndexer({ dbDir, log, recentMergeRows }, cleanups);

const rollback = (indexer: Indexer, height: number) => (indexer as unknown as { rollback(height: number): void }).rollback(height);
const count = (db: ReturnType<typeof open>["db"], table: string) => (db.sql.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;
const recentRows = (db: ReturnType<typeof open>["db"]) => RECENT_TABLES.reduce((n, t) => n + count(db, t), 0);

let fresh: string | null = null;
async function freshDigest(): Promise<string> {
  if (fresh) return fresh;
  const f = open();
  await f.indexer.update(f.source);
  expect(recentRows(f.db)).toBe(0); // an initial sync fills the big tables only
  fresh = digestIndex(f.db);
  return fresh;
}

/** Everything a query can see, against Core's ground truth (the index is at the fixture's tip). */
function checkAll(o: ReturnType<typeof open>) {
  checkBlocks(o.indexer.reader, expected);
  checkTxs(o.indexer.reader, expected);
  checkScripts(o.indexer.reader, expected);
  checkOutspends(o.indexer.reader, expected);
  checkReorg(o.indexer.reader, expected);
  checkSpendTables(o.db);
}

/** A synced fixture index whose blocks from `height` on were indexed live (their keys in the live tail). */
async function withLiveBlocksFrom(height: number, recentMergeRows?: number, dbDir?: string) {
  const o = open(dbDir, recentMergeRows);
  await o.indexer.update(o.source);
  rollback(o.indexer, height);
  expect(await o.indexer.update(o.source)).toMatchObject({ tipHeight: expected.tip.height, blocksRemoved: 0 });
  return o;
}

describe("the live tail", () => {
  test("slices cover every key once, in order, and hold about ROWS_PER_SLICE rows", () => {
    const keys = [Uint8Array.of(0, 0), Uint8Array.of(0x0f, 0xff), Uint8Array.of(0x10, 0), Uint8Array.of(0x7f, 1, 2), new Uint8Array(8).fill(0xab), new Uint8Array(11).fill(0xff)];
    const cmp = (a: Uint8Array, b: Uint8Array) => Buffer.compare(Buffer.from(a), Buffer.from(b));
    for (const slices of [16, 64, 4096, 65536]) {
      const all = Array.from({ length: slices }, (_, i) => sliceBounds(i, slices));
      for (let i = 1; i < slices; i++) expect(cmp(all[i - 1]!.hi, all[i]!.lo)).toBe(0);
      for (const k of keys) expect(all.filter(({ lo, hi }) => cmp(lo, k) <= 0 && cmp(k, hi) < 0).length).toBe(1);
    }
    expect(() => sliceBounds(16, 16)).toThrow(RangeError);
    expect(() => sliceBounds(0, 24)).toThrow(RangeError);
    expect(slicesFor(0)).toBe(16);
    expect(slicesFor(400_000)).toBe(128);
    expect(400_000 / slicesFor(400_000)).toBeLessThanOrEqual(ROWS_PER_SLICE);
    expect(slicesFor(1e12)).toBe(65536);
  });

  test("live blocks go to the live tail only; every query sees them; the index equals a fresh sync's", async () => {
    const o = await withLiveBlocksFrom(60);
    // The 78 live blocks' keys are all in the recent tables: none went to the big ones.
    expect(recentRows(o.db)).toBeGreaterThan(1000);
    const firstLiveId = o.indexer.reader.blockAt(60)!.firstTxnum * 2 ** 20;
    expect((o.db.sql.prepare("SELECT count(*) AS n FROM funding WHERE id >= ?").get(firstLiveId) as { n: number }).n).toBe(0);
    expect((o.db.sql.prepare("SELECT count(*) AS n FROM spends WHERE id >= ?").get(firstLiveId) as { n: number }).n).toBe(0);
    // Below the default threshold no merge is due.
    expect(o.indexer.mergeDue).toBe(false);
    checkAll(o);
    expect(digestIndex(o.db)).toBe(await freshDigest());
  });

  test("a whole merge empties the live tail into the big tables: same answers, same index", async () => {
    const o = await withLiveBlocksFrom(60, 1000);
    expect(o.indexer.mergeDue).toBe(true);
    expect(o.indexer.mergeIfDue()).toBe(true);
    expect(recentRows(o.db)).toBe(0);
    expect(o.indexer.mergeDue).toBe(false);
    checkAll(o);
    expect(digestIndex(o.db)).toBe(await freshDigest());
  });

  for (const slices of [1, 7, 15]) {
    test(`part of a merge (${slices} of its 16 slices): same answers; a live reorg then removes rows from both levels`, async () => {
      const o = await withLiveBlocksFrom(40, 1000);
      for (let i = 0; i < slices; i++) expect(o.indexer.mergeStep()).toBe(false);
      expect(o.indexer.mergeDue).toBe(true); // the rest of the merge is still due
      const left = recentRows(o.db);
      expect(left).toBeGreaterThan(0);
      checkAll(o);
      expect(digestIndex(o.db)).toBe(await freshDigest());

      // A deep rollback (to below the live blocks): rows of merged slices and of the tail both leave.
      rollback(o.indexer, 30);
      expect(logged.filter((l) => /found by full scans/.test(l))).toEqual([]);
      checkSpendTables(o.db);
      expect(await o.indexer.update(o.source)).toMatchObject({ tipHeight: expected.tip.height, blocksAdded: expected.tip.height - 29 });
      checkAll(o);
      expect(digestIndex(o.db)).toBe(await freshDigest());
      // The merge goes on from where it stopped; the slices it had done got the re-added blocks'
      // keys meanwhile, which stay for the next merge.
      while (!o.indexer.mergeStep());
      expect(recentRows(o.db)).toBeGreaterThan(0);
      checkAll(o);
      while (!o.indexer.mergeStep());
      expect(recentRows(o.db)).toBe(0);
      checkSpendTables(o.db);
      expect(digestIndex(o.db)).toBe(await freshDigest());
    });
  }

  test("a live reorg of merged live blocks restores the outputs they spent, in the level they are in", async () => {
    const o = await withLiveBlocksFrom(50, 1000);
    o.indexer.mergeIfDue();
    // More live blocks on top of the merged ones: the reorg below removes some of each.
    rollback(o.indexer, 100);
    await o.indexer.update(o.source);
    expect(recentRows(o.db)).toBeGreaterThan(0);
    rollback(o.indexer, 80);
    checkSpendTables(o.db);
    await o.indexer.update(o.source);
    checkAll(o);
    expect(digestIndex(o.db)).toBe(await freshDigest());
  });

  test("a restart finds the live tail and a merge under way as it left them", async () => {
    using tmp = tempDir();
    const first = await withLiveBlocksFrom(60, 1000, tmp.path);
    for (let i = 0; i < 5; i++) first.indexer.mergeStep();
    const left = recentRows(first.db);
    first.close();
    const again = open(tmp.path, 1000);
    expect(recentRows(again.db)).toBe(left);
    // A new process starts the merge over from the first slice: the merged ones are empty.
    expect(again.indexer.mergeDue).toBe(true);
    expect(again.indexer.mergeIfDue()).toBe(true);
    expect(recentRows(again.db)).toBe(0);
    checkAll(again);
    expect(digestIndex(again.db)).toBe(await freshDigest());
  });
});

const levelRows = (db: ReturnType<typeof open>["db"], level: number) => levelTables(level).reduce((n, t) => n + count(db, t), 0);

describe("the levels (store/levels.ts)", () => {
  // Thresholds so small that the fixture's live blocks go through every level into the base.
  for (const { tail, fanout, slicesPerBlock } of [
    { tail: 8, fanout: 2, slicesPerBlock: Infinity },
    { tail: 8, fanout: 2, slicesPerBlock: 5 },
    { tail: 4, fanout: 3, slicesPerBlock: 9 },
  ]) {
    test(`blocks one at a time, merges ${slicesPerBlock === Infinity ? "run to their end" : `of ${slicesPerBlock} slices between blocks`}, reorgs meanwhile (tail ${tail} rows, fanout ${fanout}): same answers, same index`, async () => {
      using tmp = tempDir();
      let o = openFixtureIndexer({ dbDir: tmp.path, log, recentMergeRows: tail, levelFanout: fanout }, cleanups);
      await o.indexer.update(cappedAt(o.source, 30));
      const merged = new Set<number>(); // levels that finished a merge
      for (let h = 31; h <= expected.tip.height; h++) {
        await o.indexer.update(cappedAt(o.source, h));
        for (let n = 0; n < slicesPerBlock && o.indexer.mergeDue; n++) if (o.indexer.mergeStep()) merged.add(o.indexer.lastMergeLevel!);
        if (h % 17 === 0) {
          // A reorg of 4 blocks, whatever merges are under way; the same blocks come back.
          rollback(o.indexer, h - 3);
          checkSpendTables(o.db);
          await o.indexer.update(cappedAt(o.source, h));
        }
        if (h === 90) {
          // A restart in the middle: the levels' rows and merges under way are read back from the index.
          const rows = [...o.indexer.levelRows];
          o.close();
          o = openFixtureIndexer({ dbDir: tmp.path, log, recentMergeRows: tail, levelFanout: fanout }, cleanups);
          expect(o.indexer.levelRows[0]).toBe(rows[0]!);
        }
      }
      const firstLiveId = o.indexer.reader.blockAt(31)!.firstTxnum * 2 ** 20;
      checkAll(o);
      expect(digestIndex(o.db)).toBe(await freshDigest());
      // And once every merge ran to its end, the same again.
      while (o.indexer.mergeDue) if (o.indexer.mergeStep()) merged.add(o.indexer.lastMergeLevel!);
      checkAll(o);
      expect(digestIndex(o.db)).toBe(await freshDigest());
      // Every level got rows and was merged into the next one, the last into the base.
      expect([...merged].sort()).toEqual(Array.from({ length: BASE_LEVEL }, (_, level) => level));
      expect((o.db.sql.prepare("SELECT count(*) AS n FROM funding WHERE id >= ?").get(firstLiveId) as { n: number }).n).toBeGreaterThan(0);
      // The middle levels' row counts kept for scheduling are those of the tables (no reorg left rows behind here that they miss by more than the reorgs' own).
      for (let level = 1; level < BASE_LEVEL; level++) expect(Math.abs(o.indexer.levelRows[level]! - levelRows(o.db, level))).toBeLessThan(400);
    });
  }
});
