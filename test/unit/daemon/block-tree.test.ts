/**
 * The offline block tree: the most-work chain connected to genesis, whatever order the headers
 * come in, the first seen winning a tie, as Bitcoin Core chooses.
 */
import { describe, expect, test } from "bun:test";
import { BlockTree } from "../../../src/daemon/block-tree.ts";

const BITS = 0x207fffff; // regtest: every block has the same work
const hash = (n: number) => {
  const h = new Uint8Array(32);
  new DataView(h.buffer).setUint32(0, n * 2654435761, true);
  h[31] = n & 0xff;
  h[30] = n >> 8;
  return h;
};
const header = (n: number, parent: number) => ({ hash: hash(n), prevHash: hash(parent), bits: BITS });
const chainOf = (t: BlockTree) => Array.from({ length: t.tipHeight + 1 }, (_, h) => [...t.hashAt(h)!]);

describe("BlockTree", () => {
  // Genesis 0; main branch 0-1-2-3; fork 2-10-11 (longer by one); tie branch 1-20 at height 2.
  test("headers in any order give the same most-work chain", () => {
    const headers = [header(0, 999), header(1, 0), header(2, 1), header(3, 2), header(10, 2), header(11, 10)];
    const expected = [0, 1, 2, 10, 11].map((n) => [...hash(n)]);
    for (const order of [headers, [...headers].reverse(), [headers[3]!, headers[5]!, headers[0]!, headers[4]!, headers[2]!, headers[1]!]]) {
      const t = new BlockTree(hash(0));
      t.addAll(order);
      expect(chainOf(t)).toEqual(expected);
    }
  });

  test("equal work: the branch seen first stays; more work takes over, in a later refresh too", () => {
    const t = new BlockTree(hash(0));
    expect(t.addAll([header(0, 999), header(1, 0), header(2, 1)])).toBe(true);
    expect(t.addAll([header(20, 1)])).toBe(false); // same height as 2: a tie
    expect([...t.hashAt(2)!]).toEqual([...hash(2)]);
    expect(t.addAll([header(21, 20)])).toBe(true);
    expect(chainOf(t)).toEqual([0, 1, 20, 21].map((n) => [...hash(n)]));
  });

  test("blocks not connected to genesis never count; a duplicate header is ignored", () => {
    const t = new BlockTree(hash(0));
    t.addAll([header(50, 49), header(51, 50), header(52, 51)]);
    expect(t.tipHeight).toBe(-1);
    t.addAll([header(0, 999), header(0, 999)]);
    expect(t.tipHeight).toBe(0);
    expect(t.hashAt(1)).toBeNull();
  });

  test("grows past its first arrays: a 5,000-block chain found backwards", () => {
    const t = new BlockTree(hash(0));
    const hs = Array.from({ length: 5000 }, (_, i) => header(i, i === 0 ? 99999 : i - 1));
    t.addAll(hs.reverse());
    expect(t.tipHeight).toBe(4999);
    expect([...t.hashAt(4999)!]).toEqual([...hash(4999)]);
  });
});
