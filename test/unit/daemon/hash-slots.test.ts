import { describe, expect, test } from "bun:test";
import { HashSlots } from "../../../src/daemon/hash-slots.ts";

/** An owner as block-locations.ts keeps one: hashes in one growable array, entry i at 32·i. */
function owner() {
  let hashes = new Uint8Array(32 * 4);
  let n = 0;
  const slots = new HashSlots(() => hashes);
  return {
    slots,
    add(hash: Uint8Array): number {
      if ((n + 1) * 32 > hashes.length) {
        const bigger = new Uint8Array(hashes.length * 2);
        bigger.set(hashes);
        hashes = bigger;
      }
      hashes.set(hash, n * 32);
      slots.insert(n);
      return n++;
    },
  };
}

const hashOf = (i: number, salt = 0) => new Bun.CryptoHasher("sha256").update(`${salt}:${i}`).digest() as unknown as Uint8Array;

describe("HashSlots", () => {
  test("finds every entry through growth (of its slots and of the owner's array); unknown hashes are not found", () => {
    const o = owner();
    const n = 50_000;
    for (let i = 0; i < n; i++) expect(o.add(new Uint8Array(hashOf(i)))).toBe(i);
    expect(o.slots.size).toBe(n);
    for (let i = 0; i < n; i++) expect(o.slots.find(new Uint8Array(hashOf(i)))).toBe(i);
    for (let i = 0; i < 1000; i++) expect(o.slots.find(new Uint8Array(hashOf(i, 1)))).toBe(-1);
  });

  test("hashes with the same first bytes (one slot) and proof-of-work zeros at the end are told apart", () => {
    const o = owner();
    const base = new Uint8Array(32); // all zero but the byte that differs: the worst case for the slot function
    const made: Uint8Array[] = [];
    for (let i = 0; i < 300; i++) {
      const h = base.slice();
      h[4 + (i % 28)] = 1 + Math.floor(i / 28);
      made.push(h);
      o.add(h);
    }
    made.forEach((h, i) => expect(o.slots.find(h)).toBe(i));
    expect(o.slots.find(base)).toBe(-1);
  });

  test("clear forgets every entry", () => {
    const o = owner();
    o.add(new Uint8Array(hashOf(1)));
    o.slots.clear();
    expect(o.slots.size).toBe(0);
    expect(o.slots.find(new Uint8Array(hashOf(1)))).toBe(-1);
  });
});
