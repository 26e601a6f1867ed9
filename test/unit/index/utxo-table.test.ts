/**
 * The off-heap UTXO table against a Map model: random adds, spends and mass evictions, so that
 * backward-shift deletion and the in-place reseat after an eviction are exercised on crowded tables.
 */
import { describe, expect, test } from "bun:test";
import { MAX_LOAD, SLOT_BYTES, UtxoTable } from "../../../src/index/utxo-table.ts";
import { SCRIPT_KEY_BYTES } from "../../../src/store/rows.ts";

/** A deterministic PRNG (mulberry32). */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const IO_SPAN = 2 ** 20;
const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

function randomTxid(rand: () => number): Uint8Array {
  const t = new Uint8Array(32);
  for (let i = 0; i < 32; i++) t[i] = Math.floor(rand() * 256);
  return t;
}

describe("UtxoTable", () => {
  test("slot layout: 16 txid bytes, vout + 1, txnum, an 11-byte script key and a pad byte", () => {
    expect(SLOT_BYTES).toBe(16 + 4 + 4 + SCRIPT_KEY_BYTES + 1);
    expect(UtxoTable.forBytes(1000 * SLOT_BYTES).capacity).toBe(1000);
  });

  test("matches the Map model through random adds, spends and evictions", () => {
    const rand = prng(7);
    const table = new UtxoTable(997); // not a power of two
    const model = new Map<string, { txid: Uint8Array; id: number; key: Uint8Array }>();
    let txnum = 0;
    let evictions = 0;
    for (let step = 0; step < 40_000; step++) {
      if (rand() < 0.55 || model.size === 0) {
        if (table.isFull) {
          const before = table.size;
          const evicted = new Map<string, number>();
          const bound = table.evictOldest(Math.floor(table.capacity * 0.5), (prefix, id) => {
            evicted.set(`${hex(prefix)}:${id % IO_SPAN}`, id);
          });
          evictions++;
          expect(table.size).toBe(before - evicted.size);
          expect(table.size).toBeLessThanOrEqual(Math.ceil(table.capacity * 0.55));
          for (const [k, v] of [...model]) {
            const key = `${hex(v.txid.subarray(0, 16))}:${v.id % IO_SPAN}`;
            if (evicted.has(key)) {
              expect(v.id).toBeLessThan(bound);
              model.delete(k);
            } else {
              expect(v.id).toBeGreaterThanOrEqual(bound);
            }
          }
        }
        const txid = randomTxid(rand);
        const vout = Math.floor(rand() * 3);
        const id = txnum++ * IO_SPAN + vout;
        const key = randomTxid(rand).subarray(0, SCRIPT_KEY_BYTES);
        table.add(txid, id, key);
        model.set(`${hex(txid)}:${vout}`, { txid, id, key: key.slice() });
      } else {
        // Spend a random held output, or look up one that is not there.
        const keys = [...model.keys()];
        if (rand() < 0.1) {
          expect(table.take(randomTxid(rand), 0)).toBeNull();
          continue;
        }
        const k = keys[Math.floor(rand() * keys.length)]!;
        const v = model.get(k)!;
        const got = table.take(v.txid, v.id % IO_SPAN);
        expect(got).not.toBeNull();
        expect(got!.id).toBe(v.id);
        expect(hex(got!.scriptKey)).toBe(hex(v.key));
        expect(table.take(v.txid, v.id % IO_SPAN)).toBeNull();
        model.delete(k);
      }
      expect(table.size).toBe(model.size);
      expect(table.size).toBeLessThanOrEqual(Math.floor(table.capacity * MAX_LOAD));
    }
    expect(evictions).toBeGreaterThan(5);
    // Everything still held is found, and forEach lists exactly the model.
    const listed = new Set<string>();
    table.forEach((prefix, id) => listed.add(`${hex(prefix)}:${id}`));
    expect(listed.size).toBe(model.size);
    for (const v of model.values()) {
      expect(listed.has(`${hex(v.txid.subarray(0, 16))}:${v.id}`)).toBe(true);
      expect(table.take(v.txid, v.id % IO_SPAN)!.id).toBe(v.id);
    }
    expect(table.size).toBe(0);
  });

  test("a walk in chunks (forEachFrom) visits every output once, as forEach does", () => {
    const rand = prng(7);
    const table = new UtxoTable(4096);
    for (let i = 0; i < 2000; i++) table.add(randomTxid(rand), (i + 1) * IO_SPAN + (i % 3), new Uint8Array(SCRIPT_KEY_BYTES).fill(i % 251));
    const all: number[] = [];
    table.forEach((_t, id) => all.push(id));
    expect(all.length).toBe(2000);
    for (const perChunk of [1, 64, 1999, 2000, 5000]) {
      const seen: number[] = [];
      let chunks = 0;
      for (let from = 0; from >= 0; chunks++) {
        const before = seen.length;
        from = table.forEachFrom(from, perChunk, (_t, id) => seen.push(id));
        expect(seen.length - before).toBeLessThanOrEqual(perChunk);
      }
      expect(seen).toEqual(all);
      expect(chunks).toBe(Math.ceil(2000 / perChunk)); // the last chunk says it is the last
    }
  });

  test("an outpoint added twice (a BIP30 duplicate txid) keeps the newer output, counted once", () => {
    const table = new UtxoTable(64);
    const txid = new Uint8Array(32).fill(9);
    table.add(txid, 5 * IO_SPAN, new Uint8Array(11).fill(1));
    table.add(txid, 9 * IO_SPAN, new Uint8Array(11).fill(2));
    expect(table.size).toBe(1);
    const got = table.take(txid, 0)!;
    expect(got.id).toBe(9 * IO_SPAN);
    expect([...got.scriptKey]).toEqual(new Array(11).fill(2));
  });

  test("txids that differ in the 16th byte are different outpoints", () => {
    const table = new UtxoTable(64);
    const a = new Uint8Array(32).fill(3);
    const b = a.slice();
    b[15] = 4;
    table.add(a, 1 * IO_SPAN, new Uint8Array(11));
    table.add(b, 2 * IO_SPAN, new Uint8Array(11));
    expect(table.size).toBe(2);
    expect(table.take(b, 0)!.id).toBe(2 * IO_SPAN);
    expect(table.take(a, 0)!.id).toBe(1 * IO_SPAN);
  });
});
