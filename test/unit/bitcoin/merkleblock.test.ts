/**
 * CMerkleBlock serialization, checked by an independent parser that follows Core's
 * CPartialMerkleTree::ExtractMatches (merkleblock.cpp): the proof must rebuild the header's merkle
 * root and yield exactly the matched txids, for every tx of the regtest-core30 chain and for
 * synthetic trees of every shape up to 70 leaves.
 */
import { describe, expect, test } from "bun:test";
import { bytesToHex, hashToHex, hexToBytes, hexToHash } from "../../../src/bitcoin/bytes.ts";
import { sha256d } from "../../../src/bitcoin/hash.ts";
import { merkleRoot } from "../../../src/bitcoin/merkle.ts";
import { merkleBlock } from "../../../src/bitcoin/merkleblock.ts";
import { Reader } from "../../../src/bitcoin/reader.ts";
import { loadExpected } from "../../helpers/fixture.ts";

interface Extracted {
  header: Uint8Array;
  txCount: number;
  root: Uint8Array;
  matches: { txid: Uint8Array; index: number }[];
}

/** Core's ExtractMatches: depth-first, consuming one flag bit per node and one hash per leaf or pruned node. */
function extract(bytes: Uint8Array): Extracted {
  const r = new Reader(bytes);
  const header = r.bytes(80);
  const txCount = r.u32le();
  const hashes = Array.from({ length: r.varint() }, () => r.bytes(32));
  const flags = r.bytes(r.varint());
  expect(r.remaining).toBe(0);
  const width = (h: number) => Math.floor((txCount + 2 ** h - 1) / 2 ** h);
  let height = 0;
  while (width(height) > 1) height++;
  let bit = 0;
  let hashUsed = 0;
  const matches: { txid: Uint8Array; index: number }[] = [];
  const walk = (h: number, pos: number): Uint8Array => {
    const flag = ((flags[bit >> 3]! >> (bit & 7)) & 1) === 1;
    bit++;
    if (h === 0 || !flag) {
      const hash = hashes[hashUsed++]!;
      if (h === 0 && flag) matches.push({ txid: hash, index: pos });
      return hash;
    }
    const left = walk(h - 1, pos * 2);
    const right = pos * 2 + 1 < width(h - 1) ? walk(h - 1, pos * 2 + 1) : left;
    return sha256d(Uint8Array.from([...left, ...right]));
  };
  const root = walk(height, 0);
  expect(hashUsed).toBe(hashes.length);
  expect(Math.ceil(bit / 8)).toBe(flags.length);
  return { header, txCount, root, matches };
}

const fakeTxids = (n: number) => Array.from({ length: n }, (_, i) => sha256d(Uint8Array.of(i, n)));
const fakeHeader = (root: Uint8Array) => Uint8Array.from([...new Uint8Array(36), ...root, ...new Uint8Array(12)]);

describe("merkleBlock", () => {
  test("the Bitcoin developer reference example verifies with this parser", () => {
    const example =
      "0100000082bb869cf3a793432a66e826e05a6fc37469f8efb7421dc880670100000000007f16c5962e8bd963659c793ce370d95f093bc7e367117b3c30c1f8fdd0d9728776381b4d4c86041b554b852907000000043612262624047ee87660be1a707519a443b1c1ce3d248cbfc6c15870f6c5daa2019f5b01d4195ecbc9398fbf3c3b1fa9bb3183301d7a1fb3bd174fcfa40a2b6541ed70551dd7e841883ab8f0b16bf04176b7d1480e4f0af9f3d4c3595768d06820d2a7bc994987302e5b1ac80fc425fe25f8b63169ea78e68fbaaefa59379bbf011d";
    const e = extract(hexToBytes(example));
    expect(e.txCount).toBe(7);
    expect(bytesToHex(e.root)).toBe(bytesToHex(e.header.subarray(36, 68)));
    expect(e.matches.map((m) => m.index)).toEqual([4]);
  });

  test("every tree shape up to 70 leaves, one match at each position and several matches", () => {
    for (let n = 1; n <= 70; n++) {
      const txids = fakeTxids(n);
      const root = merkleRoot(txids);
      for (let i = 0; i < n; i++) {
        const e = extract(merkleBlock(fakeHeader(root), txids, (j) => j === i));
        expect(e.root).toEqual(root);
        expect(e.matches).toEqual([{ txid: txids[i]!, index: i }]);
      }
      const picks = [0, Math.floor(n / 3), n - 1].filter((v, k, a) => a.indexOf(v) === k);
      const e = extract(merkleBlock(fakeHeader(root), txids, (j) => picks.includes(j)));
      expect(e.matches.map((m) => m.index)).toEqual(picks);
      expect(e.root).toEqual(root);
      const none = extract(merkleBlock(fakeHeader(root), txids, () => false));
      expect(none.matches).toEqual([]);
      expect(none.root).toEqual(root);
    }
  });

  test("every tx of the regtest-core30 chain: the proof rebuilds the block's merkle root", () => {
    const expected = loadExpected();
    for (const b of expected.blocks) {
      const txids = b.txids.map(hexToHash);
      b.txids.forEach((txid, i) => {
        const proof = merkleBlock(hexToBytes(b.header), txids, (j) => j === i);
        const e = extract(proof);
        expect(hashToHex(e.root)).toBe(b.merkleroot);
        expect(e.matches.map((m) => hashToHex(m.txid))).toEqual([txid]);
        expect(bytesToHex(e.header)).toBe(b.header);
        expect(e.txCount).toBe(b.nTx);
      });
    }
  });

  test("a single-tx block is header, count 1, the txid and flag byte 01", () => {
    const [txid] = fakeTxids(1);
    const header = fakeHeader(txid!);
    expect(bytesToHex(merkleBlock(header, [txid!], () => true))).toBe(`${bytesToHex(header)}01000000` + `01${bytesToHex(txid!)}` + "0101");
  });

  test("bad inputs are refused", () => {
    expect(() => merkleBlock(new Uint8Array(79), fakeTxids(1), () => true)).toThrow(RangeError);
    expect(() => merkleBlock(new Uint8Array(80), [], () => true)).toThrow(RangeError);
  });
});
