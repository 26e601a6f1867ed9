/**
 * BlockBounds (src/store/block-bounds.ts) and a StoreReader that keeps the block boundaries in
 * memory: every answer equal to the plain reader's over the real fixture, before and after the
 * chain grows and shrinks, as long as the owner reports each change (blocksChanged).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { BlockBounds, type BlockBoundsSource } from "../../../src/store/block-bounds.ts";
import { StoreReader } from "../../../src/store/read.ts";
import type { BlockRow } from "../../../src/store/rows.ts";
import { openBlkFiles } from "../../helpers/fixture.ts";
import { openFixture, type Fixture } from "../rest/harness.ts";

/** A chain of blocks with the given tx counts, as the store would give it; counts reads. */
function scriptedChain(txCounts: number[]) {
  let rows: BlockRow[] = [];
  const set = (counts: number[]) => {
    let first = 0;
    rows = counts.map((n, height) => {
      const row: BlockRow = { height, hash: new Uint8Array(32).fill(height & 255), header: new Uint8Array(80), firstTxnum: first, txCount: n, size: 0, weight: 0, file: null };
      first += n;
      return row;
    });
  };
  set(txCounts);
  const reads = { rows: 0 };
  const source: BlockBoundsSource = {
    firstTxnumsFrom: (from) => rows.slice(from).map((r) => ({ height: r.height, firstTxnum: r.firstTxnum })),
    blockAt: (h) => {
      reads.rows++;
      return rows[h] ?? null;
    },
  };
  /** The naive answer: the last block whose first txnum is ≤ txnum. */
  const naiveHeight = (txnum: number) => {
    let h = -1;
    for (const r of rows) if (r.firstTxnum <= txnum) h = r.height;
    return h;
  };
  return { source, set, reads, naiveHeight, rows: () => rows };
}

describe("BlockBounds", () => {
  test("a txnum's height is the last block starting at or before it, for every txnum, across growth and truncation", () => {
    const counts = Array.from({ length: 3000 }, (_, h) => 1 + ((h * 7919) % 13));
    const chain = scriptedChain(counts);
    const bounds = new BlockBounds(chain.source, 16);
    const total = counts.reduce((a, b) => a + b, 0);
    for (let t = 0; t < total + 5; t++) expect(bounds.heightOf(t)).toBe(chain.naiveHeight(t));
    expect(bounds.heightOf(-1)).toBe(-1);
    expect(bounds.height).toBe(2999);
    // A reorg: the blocks from 2500 on are replaced by 700 others of other sizes.
    chain.set([...counts.slice(0, 2500), ...Array.from({ length: 700 }, (_, i) => 1 + (i % 5))]);
    bounds.changed(2500);
    expect(bounds.height).toBe(3199);
    const total2 = chain.rows().reduce((a, r) => a + r.txCount, 0);
    for (let t = 0; t < total2 + 5; t++) expect(bounds.heightOf(t)).toBe(chain.naiveHeight(t));
    // A rollback without a new branch.
    chain.set(counts.slice(0, 10));
    bounds.changed(10);
    expect(bounds.height).toBe(9);
    expect(bounds.blockAt(10)).toBeNull();
    expect(bounds.blockContaining(10_000)!.height).toBe(9);
  });

  test("block rows are read once while cached, at most maxRows kept, and read again after a change", () => {
    const chain = scriptedChain([1, 2, 3, 4, 5, 6]);
    const bounds = new BlockBounds(chain.source, 2);
    expect(bounds.blockAt(3)!.firstTxnum).toBe(6);
    expect(bounds.blockAt(3)!.firstTxnum).toBe(6);
    expect(chain.reads.rows).toBe(1);
    bounds.blockAt(4);
    bounds.blockAt(5); // evicts 3
    bounds.blockAt(3);
    expect(chain.reads.rows).toBe(4);
    chain.set([1, 2, 3, 9, 9, 9]);
    bounds.changed(4);
    expect(bounds.blockAt(3)!.txCount).toBe(4); // still cached: below the change
    expect(bounds.blockAt(4)!.txCount).toBe(9);
    expect(bounds.heightOf(15)).toBe(4);
    expect(() => bounds.changed(-3)).not.toThrow();
    expect(bounds.height).toBe(5);
  });
});

describe("StoreReader with the block boundaries in memory, over the fixture", () => {
  let fx: Fixture;
  let blk: ReturnType<typeof openBlkFiles>;
  beforeAll(async () => {
    fx = await openFixture({ maxHeight: 60 });
    blk = openBlkFiles();
  });
  afterAll(() => {
    blk.close();
    fx.close();
  });

  /** Every block, tx and txnum answer of `bounded` equals the plain reader's. */
  function expectSame(bounded: StoreReader, plain: StoreReader): void {
    const tip = plain.tip()!.height;
    for (let h = 0; h <= tip + 1; h++) expect(bounded.blockAt(h)).toEqual(plain.blockAt(h));
    const txs = plain.txCount();
    const txnums = Array.from({ length: txs }, (_, i) => i);
    expect(bounded.txidsAndHeights(txnums)).toEqual(plain.txidsAndHeights(txnums));
    // Any order, repeats included: the answers come in the order given.
    const mixed = [txs - 1, 5, 3, 5, 0, Math.floor(txs / 2), 3];
    expect(bounded.txidsAndHeights(mixed)).toEqual(plain.txidsAndHeights(mixed));
    expect(() => bounded.txidsAndHeights([0, txs])).toThrow(/index inconsistency/);
    expect(() => plain.txidsAndHeights([0, txs])).toThrow(/index inconsistency/);
    for (const t of txnums) {
      expect(bounded.heightOfTxnum(t)).toBe(plain.heightOfTxnum(t));
      const a = bounded.txAt(t)!;
      const b = plain.txAt(t)!;
      expect({ height: a.height, pos: a.pos, hash: a.blockHash, raw: a.raw }).toEqual({ height: b.height, pos: b.pos, hash: b.blockHash, raw: b.raw });
    }
  }

  test("the same answers as the plain reader, after the chain grows (reported) and after a rollback (reported)", async () => {
    const plain = new StoreReader(fx.db, blk);
    const bounded = new StoreReader(fx.db, blk, { blockBounds: true });
    expectSame(bounded, plain);
    fx.indexer.onCommit((from) => bounded.blocksChanged(from));
    fx.indexer.onRollback((from) => bounded.blocksChanged(from));
    await fx.indexToTip();
    expect(plain.tip()!.height).toBe(137);
    expectSame(bounded, plain);
    (fx.indexer as unknown as { rollback(height: number): void }).rollback(101);
    expect(plain.tip()!.height).toBe(100);
    expectSame(bounded, plain);
    await fx.indexToTip();
    expectSame(bounded, plain);
  }, 30_000);
});
