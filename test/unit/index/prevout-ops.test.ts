/**
 * The ops a block sends to the UTXO table and the answers it gets back (prevout-ops.ts): the word
 * layouts, pinned, and applyOps (prevouts.ts) against the table's own add/take.
 */
import { describe, expect, test } from "bun:test";
import {
  OP_ADD,
  OP_KIND,
  OP_SPEND,
  OP_WORDS,
  OpsWriter,
  SPENT_WORDS,
} from "../../../src/index/prevout-ops.ts";
import { applyOps } from "../../../src/index/prevouts.ts";
import { SLOT_BYTES, UtxoTable } from "../../../src/index/utxo-table.ts";

const IO_SPAN = 2 ** 20;
const txidOf = (n: number) => Uint8Array.from({ length: 32 }, (_, i) => (n * 31 + i * 7) & 0xff);
const keyOf = (n: number) => Uint8Array.from({ length: 11 }, (_, i) => (n + i) & 0xff);
const hexWords = (w: Uint32Array) => Buffer.from(w.buffer, w.byteOffset, w.byteLength).toString("hex");

describe("op layouts", () => {
  test("an op is a table slot and a kind word; an answer four words", () => {
    expect(OP_WORDS).toBe(10);
    expect(SPENT_WORDS).toBe(4);
    expect((OP_WORDS - 1) * 4).toBe(SLOT_BYTES);
  });

  test("a spend and an add, word for word", () => {
    const ops = new OpsWriter(1); // grows
    ops.spend(txidOf(1), 3);
    ops.add(txidOf(2), 0x01020304, 7, keyOf(9));
    expect(ops.count).toBe(2);
    expect(ops.spends).toBe(1);
    const w = ops.take();
    expect(ops.count).toBe(0);
    expect(w.length).toBe(2 * OP_WORDS);
    // (little-endian words, as the table stores them)
    expect(hexWords(w)).toBe(
      // txid prefix                      vout       txnum      script key + pad            kind
      "1f262d343b424950575e656c737a8188" + "03000000" + "00000000" + "000000000000000000000000" + "01000000" +
        "3e454c535a61686f767d848b9299a0a7" + "07000000" + "04030201" + "090a0b0c0d0e0f1011121300" + "02000000",
    );
    expect(w[OP_KIND]).toBe(OP_SPEND);
    expect(w[OP_WORDS + OP_KIND]).toBe(OP_ADD);
  });

  test("a txnum that does not fit the answers' txnum + 1 is refused", () => {
    expect(() => new OpsWriter().add(txidOf(1), 0xffffffff, 0, keyOf(1))).toThrow(RangeError);
  });

});

describe("applyOps", () => {
  test("answers a spend with the txnum + 1 and script key of the output, 0 when the table has none", () => {
    const table = new UtxoTable(64);
    const ops = new OpsWriter();
    ops.add(txidOf(1), 10, 0, keyOf(1));
    ops.add(txidOf(1), 10, 1, keyOf(2));
    ops.spend(txidOf(1), 1);
    ops.spend(txidOf(1), 1); // already spent
    ops.spend(txidOf(2), 0); // never added
    const r = applyOps(table, ops.take(), "evict");
    expect(r.evictions).toEqual([]);
    expect(Array.from(r.spent.subarray(0, 1))).toEqual([11]);
    expect(Buffer.from(r.spent.buffer, 4, 11)).toEqual(Buffer.from(keyOf(2)));
    expect(r.spent[SPENT_WORDS]).toBe(0);
    expect(r.spent[2 * SPENT_WORDS]).toBe(0);
    expect(table.size).toBe(1);
    expect(table.take(txidOf(1), 0)).toEqual({ id: 10 * IO_SPAN, scriptKey: keyOf(1) });
  });

  test("a full table evicts its oldest outputs where it happened, and the spends after it miss them", () => {
    const table = new UtxoTable(16); // holds 12
    const ops = new OpsWriter();
    for (let n = 0; n < 12; n++) ops.add(txidOf(n), n, 0, keyOf(n));
    ops.spend(txidOf(11), 0); // in the table
    ops.add(txidOf(12), 12, 0, keyOf(12)); // 11 held: fits
    ops.add(txidOf(13), 13, 0, keyOf(13)); // full: evicts
    ops.spend(txidOf(0), 0); // evicted before this spend
    const r = applyOps(table, ops.take(), "evict");
    expect(r.spent[0]).toBe(12);
    expect(r.spent[SPENT_WORDS]).toBe(0);
    expect(r.evictions).toHaveLength(1);
    const e = r.evictions[0]!;
    expect(e.atSpend).toBe(1);
    expect(e.count).toBeGreaterThan(0);
    expect(table.size).toBe(12 + 1 - e.count);
    // What is left is at or above the bound; the oldest (output 0, spent after the eviction) went.
    const kept: number[] = [];
    table.forEach((_txid, id) => kept.push(id));
    expect(kept.length).toBe(table.size);
    expect(kept.every((id) => id >= e.bound)).toBe(true);
    expect(e.bound).toBeGreaterThan(0);
  });

  test("in live mode a full table empties itself instead", () => {
    const table = new UtxoTable(16);
    const ops = new OpsWriter();
    for (let n = 0; n < 13; n++) ops.add(txidOf(n), n, 0, keyOf(n));
    const r = applyOps(table, ops.take(), "clear");
    expect(r.evictions).toEqual([]);
    expect(table.size).toBe(1);
  });

  test("malformed ops are refused", () => {
    const table = new UtxoTable(16);
    expect(() => applyOps(table, new Uint32Array(OP_WORDS + 1), "evict")).toThrow(/not a whole number of ops/);
    expect(() => applyOps(table, new Uint32Array(OP_WORDS), "evict")).toThrow(/unknown kind 0/);
  });
});
