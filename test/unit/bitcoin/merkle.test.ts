import { describe, expect, test } from "bun:test";
import { bytesEqual, hashToHex, hexToBytes, hexToHash } from "../../../src/bitcoin/bytes.ts";
import { sha256d } from "../../../src/bitcoin/hash.ts";
import { parseHeader } from "../../../src/bitcoin/block.ts";
import { merkleBranch, merkleRoot, merkleRootFromBranch } from "../../../src/bitcoin/merkle.ts";
import { expected } from "./fixture.ts";

const pairHash = (a: Uint8Array, b: Uint8Array) => {
  const buf = new Uint8Array(64);
  buf.set(a, 0);
  buf.set(b, 32);
  return sha256d(buf);
};

describe("merkleRoot", () => {
  test("every fixture block: root of its txids is the header's merkle root", () => {
    for (const b of expected.blocks) {
      const root = merkleRoot(b.txids.map(hexToHash));
      expect(hashToHex(root)).toBe(b.merkleroot);
      expect(bytesEqual(root, parseHeader(hexToBytes(b.header)).merkleRoot)).toBe(true);
    }
    // The fixture has odd and even multi-tx blocks, so the duplicate-last rule is exercised.
    const counts = new Set(expected.blocks.map((b) => b.txids.length));
    expect([...counts].some((n) => n > 2 && n % 2 === 1)).toBe(true);
    expect([...counts].some((n) => n > 2 && n % 2 === 0)).toBe(true);
  });

  test("small trees by hand: 1, 2 and 3 leaves; empty list gives zero hash", () => {
    const [a, b, c] = [1, 2, 3].map((i) => sha256d(Uint8Array.of(i))) as [Uint8Array, Uint8Array, Uint8Array];
    expect(merkleRoot([a])).toBe(a);
    expect(bytesEqual(merkleRoot([a, b]), pairHash(a, b))).toBe(true);
    expect(bytesEqual(merkleRoot([a, b, c]), pairHash(pairHash(a, b), pairHash(c, c)))).toBe(true);
    expect(bytesEqual(merkleRoot([]), new Uint8Array(32))).toBe(true);
  });

  test("does not modify its input", () => {
    const ids = expected.blocks.find((b) => b.txids.length > 3)!.txids.map(hexToHash);
    const copy = ids.map((x) => x.slice());
    merkleRoot(ids);
    ids.forEach((x, i) => expect(bytesEqual(x, copy[i]!)).toBe(true));
  });
});

describe("merkleBranch", () => {
  test("every tx of every multi-tx fixture block proves to the header root", () => {
    let checked = 0;
    for (const b of expected.blocks) {
      const ids = b.txids.map(hexToHash);
      const root = hexToHash(b.merkleroot);
      const depth = ids.length === 1 ? 0 : Math.ceil(Math.log2(ids.length));
      for (let i = 0; i < ids.length; i++) {
        const branch = merkleBranch(ids, i);
        expect(branch.length).toBe(depth);
        expect(bytesEqual(merkleRootFromBranch(ids[i]!, branch, i), root)).toBe(true);
        checked++;
      }
    }
    expect(checked).toBe(Object.keys(expected.txs).length);
  });

  test("sibling order and the self-paired last node", () => {
    const [a, b, c] = [1, 2, 3].map((i) => sha256d(Uint8Array.of(i))) as [Uint8Array, Uint8Array, Uint8Array];
    expect(merkleBranch([a], 0)).toEqual([]);
    const br = merkleBranch([a, b, c], 2);
    expect(br.length).toBe(2);
    expect(bytesEqual(br[0]!, c)).toBe(true); // paired with itself
    expect(bytesEqual(br[1]!, pairHash(a, b))).toBe(true);
    expect(bytesEqual(merkleBranch([a, b, c], 1)[0]!, a)).toBe(true);
  });

  test("index out of range throws RangeError", () => {
    const ids = [sha256d(Uint8Array.of(0))];
    expect(() => merkleBranch(ids, 1)).toThrow(RangeError);
    expect(() => merkleBranch(ids, -1)).toThrow(RangeError);
    expect(() => merkleBranch([], 0)).toThrow(RangeError);
  });
});
