/**
 * The compact block-location index: what goes in comes out, across growth, duplicates and hashes
 * that share the 53-bit Map key.
 */
import { describe, expect, test } from "bun:test";
import { parseHeader } from "../../../src/bitcoin/block.ts";
import { BlockLocations } from "../../../src/daemon/block-locations.ts";
import type { BlockLocation } from "../../../src/daemon/blkfiles.ts";

/** A location whose header is 80 arbitrary bytes; its hash is what parseHeader computes. */
function location(i: number): BlockLocation {
  const raw = new Uint8Array(80);
  new DataView(raw.buffer).setUint32(0, i, true);
  new DataView(raw.buffer).setUint32(76, i * 7919, true);
  return { fileIndex: i % 50, offset: i * 1000 + 8, size: 200 + i, header: parseHeader(raw) };
}

describe("BlockLocations", () => {
  test("5,000 locations (growing past its first arrays) come back field for field", () => {
    const locs = new BlockLocations();
    const all = Array.from({ length: 5000 }, (_, i) => location(i));
    for (const l of all) expect(locs.add(l)).toBe(true);
    expect(locs.count).toBe(5000);
    for (const l of all) {
      const got = locs.get(l.header.hash)!;
      expect(got.fileIndex).toBe(l.fileIndex);
      expect(got.offset).toBe(l.offset);
      expect(got.size).toBe(l.size);
      expect([...got.header.raw]).toEqual([...l.header.raw]);
      expect([...got.header.hash]).toEqual([...l.header.hash]);
    }
    expect(locs.get(new Uint8Array(32))).toBeUndefined();
  });

  test("the first location of a hash stays; clear forgets everything", () => {
    const locs = new BlockLocations();
    const a = location(1);
    expect(locs.add(a)).toBe(true);
    expect(locs.add({ ...a, offset: 999 })).toBe(false);
    expect(locs.get(a.header.hash)!.offset).toBe(a.offset);
    locs.clear();
    expect(locs.count).toBe(0);
    expect(locs.get(a.header.hash)).toBeUndefined();
  });

  test("hashes that share their first bytes (one slot) are told apart by the whole hash", () => {
    const locs = new BlockLocations();
    const a = location(2);
    const b = location(3);
    // Same first bytes (0-6), different rest: the same slot of the hash table.
    const bHash = b.header.hash.slice();
    bHash.set(a.header.hash.subarray(0, 7));
    const b2 = { ...b, header: { ...b.header, hash: bHash } };
    expect(locs.add(a)).toBe(true);
    expect(locs.add(b2)).toBe(true);
    expect(locs.get(a.header.hash)!.offset).toBe(a.offset);
    expect(locs.get(bHash)!.offset).toBe(b.offset);
    const c = a.header.hash.slice();
    c[31] = c[31]! ^ 1;
    expect(locs.get(c)).toBeUndefined();
  });
});
