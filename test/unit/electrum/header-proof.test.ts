/**
 * cp_height header proofs (header-merkle.ts): the cached builder against the naive oracle over
 * every (height, cp_height) of small chains and at segment boundaries, through growth and reorgs
 * (told and untold), on the real store, and the protocol document's mainnet example.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { bytesToHex, hashToHex, hexToBytes, hexToHash } from "../../../src/bitcoin/bytes.ts";
import { sha256d } from "../../../src/bitcoin/hash.ts";
import { merkleRootFromBranch } from "../../../src/bitcoin/merkle.ts";
import { DEFAULT_SEGMENT_BITS, HeaderMerkleCache, naiveHeaderProof, type MerkleProof } from "../../../src/electrum/header-merkle.ts";
import { blockHeader, blockHeaders, HeaderChunkCache, MAX_HEADERS, storeBlockHashes } from "../../../src/electrum/headers.ts";
import { openFixture, type Fixture } from "./harness.ts";

const TEST_MS = 10_000;

// ---- the protocol document's example ----

/**
 * spesmilo/electrum-protocol docs/protocol-methods.rst (commit 0108a65c107e260b33fe309cafbbdf52dfb10923),
 * `blockchain.block.header`, "With *cp_height* 8" (height 5; the document says "on the Bitcoin
 * Cash chain", which shares Bitcoin's first 478,558 blocks, so this is Bitcoin mainnet).
 */
const DOC_EXAMPLE = {
  height: 5,
  cpHeight: 8,
  branch: [
    "000000004ebadb55ee9096c9a2f8880e09da59c0d68b1c228da88e48844a1485",
    "96cbbc84783888e4cc971ae8acf86dd3c1a419370336bb3c634c97695a8c5ac9",
    "965ac94082cebbcffe458075651e9cc33ce703ab0115c72d9e8b1a9906b2b636",
    "89e5daa6950b895190716dd26054432b564ccdc2868188ba1da76de8e1dc7591",
  ],
  header:
    "0100000085144a84488ea88d221c8bd6c059da090e88f8a2c99690ee55dbba4e00000000e11c48fecdd9e72510ca84f023370c9a38bf91ac5cae88019bee94d24528526344c36649ffff001d1d03e477",
  root: "e347b1c43fd9b5415bf0d92708db8284b78daf4d0e24f9c3405f45feb85e25db",
};

/**
 * Bitcoin mainnet blocks 0 … 8: hashes (display hex) and raw headers, from libbitcoin's test data,
 * libbitcoin/libbitcoin-database test/mocks/blocks.cpp (commit 0fa28c3decb5bec72383bd66bb37d5ec39e9633b),
 * `block0_hash` … `block8_hash` and `header0_data` … `header8_data`. The test re-derives each hash
 * from its header and checks the links, so a transcription error cannot pass.
 */
const MAINNET_HASHES = [
  "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f",
  "00000000839a8e6886ab5951d76f411475428afc90947ee320161bbf18eb6048",
  "000000006a625f06636b8bb6ac7b960a8d03705d1ace08b1a19da3fdcc99ddbd",
  "0000000082b5015589a3fdf2d4baff403e6f0be035a5d9742c1cae6295464449",
  "000000004ebadb55ee9096c9a2f8880e09da59c0d68b1c228da88e48844a1485",
  "000000009b7262315dbf071787ad3656097b892abffd1f95a1a022f896f533fc",
  "000000003031a0e73735690c5a1ff2a4be82553b2a12b776fbd3a215dc8f778d",
  "0000000071966c2b1d065fd446b1e485b2c9d9594acd2007ccbd5441cfc89444",
  "00000000408c48f847aa786c2268fc3e6ec2af68e8468a34a28c61b7f1de0dc6",
];
const MAINNET_HEADERS = [
  "0100000000000000000000000000000000000000000000000000000000000000000000003ba3edfd7a7b12b27ac72c3e67768f617fc81bc3888a51323a9fb8aa4b1e5e4a29ab5f49ffff001d1dac2b7c",
  "010000006fe28c0ab6f1b372c1a6a246ae63f74f931e8365e15a089c68d6190000000000982051fd1e4ba744bbbe680e1fee14677ba1a3c3540bf7b1cdb606e857233e0e61bc6649ffff001d01e36299",
  "010000004860eb18bf1b1620e37e9490fc8a427514416fd75159ab86688e9a8300000000d5fdcc541e25de1c7a5addedf24858b8bb665c9f36ef744ee42c316022c90f9bb0bc6649ffff001d08d2bd61",
  "01000000bddd99ccfda39da1b108ce1a5d70038d0a967bacb68b6b63065f626a0000000044f672226090d85db9a9f2fbfe5f0f9609b387af7be5b7fbb7a1767c831c9e995dbe6649ffff001d05e0ed6d",
  "010000004944469562ae1c2c74d9a535e00b6f3e40ffbad4f2fda3895501b582000000007a06ea98cd40ba2e3288262b28638cec5337c1456aaf5eedc8e9e5a20f062bdf8cc16649ffff001d2bfee0a9",
  "0100000085144a84488ea88d221c8bd6c059da090e88f8a2c99690ee55dbba4e00000000e11c48fecdd9e72510ca84f023370c9a38bf91ac5cae88019bee94d24528526344c36649ffff001d1d03e477",
  "01000000fc33f596f822a0a1951ffdbf2a897b095636ad871707bf5d3162729b00000000379dfb96a5ea8c81700ea4ac6b97ae9a9312b2d4301a29580e924ee6761a2520adc46649ffff001d189c4c97",
  "010000008d778fdc15a2d3fb76b7122a3b5582bea4f21f5a0c693537e7a03130000000003f674005103b42f984169c7d008370967e91920a6a5d64fd51282f75bc73a68af1c66649ffff001d39a59c86",
  "010000004494c8cf4154bdcc0720cd4a59d9c9b285e4b146d45f061d2b6c967100000000e3855ed886605b6d4a99d5fa2ef2e9b0b164e63df3c4136bebf2d0dac0f1f7a667c86649ffff001d1c4b5666",
];

// ---- a synthetic chain whose hashes chain like block hashes ----

/**
 * Block hashes that commit to their parent (hash = sha256d(parent ‖ height ‖ branch tag)), so a
 * reorg from height f changes every hash from f up, as in a real chain.
 */
class SyntheticChain {
  readonly hashes: Uint8Array[] = [];
  /** Leaves handed out by `read` (what a store read costs). */
  leavesRead = 0;

  constructor(length: number, tag = 0) {
    this.extend(length, tag);
  }

  extend(count: number, tag = 0): void {
    for (let i = 0; i < count; i++) {
      const height = this.hashes.length;
      const data = new Uint8Array(40);
      data.set(this.hashes[height - 1] ?? new Uint8Array(32), 0);
      new DataView(data.buffer).setUint32(32, height, true);
      new DataView(data.buffer).setUint32(36, tag, true);
      this.hashes.push(sha256d(data));
    }
  }

  /** Replaces heights >= fromHeight with `newLength - fromHeight` blocks of another branch. */
  reorg(fromHeight: number, newLength: number, tag: number): void {
    this.hashes.length = fromHeight;
    this.extend(newLength - fromHeight, tag);
  }

  readonly read = (fromHeight: number, count: number): Uint8Array[] => {
    const out = this.hashes.slice(fromHeight, fromHeight + count);
    this.leavesRead += out.length;
    return out;
  };
}

const hex = (p: MerkleProof) => ({ branch: p.branch.map(hashToHex), root: hashToHex(p.root) });

/** A deterministic shuffle (LCG), so proofs are asked in an order that grows the cache unevenly. */
function shuffled<T>(items: T[], seed: number): T[] {
  const out = [...items];
  let s = seed;
  for (let i = out.length - 1; i > 0; i--) {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    const j = s % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

function allPairs(length: number): [number, number][] {
  const pairs: [number, number][] = [];
  for (let cp = 0; cp < length; cp++) for (let h = 0; h <= cp; h++) pairs.push([h, cp]);
  return pairs;
}

/** Every pair's cached proof equals the naive one; returns how many pairs were checked. */
function expectSameAsNaive(cache: HeaderMerkleCache, chain: SyntheticChain, pairs: readonly [number, number][]): number {
  for (const [h, cp] of pairs) {
    const cached = hex(cache.proof(h, cp));
    const naive = hex(naiveHeaderProof(chain.hashes, h, cp));
    if (cached.root !== naive.root || cached.branch.join() !== naive.branch.join()) {
      // One readable failure instead of thousands of expect calls.
      expect({ h, cp, ...cached }).toEqual({ h, cp, ...naive });
    }
  }
  return pairs.length;
}

/** Pairs around every segment boundary (cp_height and height at, before and after 2^k multiples). */
function boundaryPairs(length: number, segmentSize: number): [number, number][] {
  const cps = new Set<number>([0, 1, 2, length - 1]);
  for (let b = segmentSize; b <= length; b += segmentSize) for (const d of [-2, -1, 0, 1]) cps.add(b + d);
  const pairs: [number, number][] = [];
  for (const cp of [...cps].filter((c) => c >= 0 && c < length)) {
    const hs = new Set<number>([0, 1, cp, cp - 1, Math.floor(cp / 2)]);
    for (let b = segmentSize; b <= cp; b += segmentSize) for (const d of [-1, 0, 1]) hs.add(b + d);
    for (const h of hs) if (h >= 0 && h <= cp) pairs.push([h, cp]);
  }
  return pairs;
}

describe("the protocol document's example (mainnet heights 0 … 8)", () => {
  const leaves = MAINNET_HASHES.map(hexToHash);

  test("the quoted hashes are mainnet's: each header hashes to its hash and links to its parent", () => {
    expect(MAINNET_HEADERS.map((h) => hashToHex(sha256d(hexToBytes(h))))).toEqual(MAINNET_HASHES);
    for (let h = 1; h < MAINNET_HEADERS.length; h++) {
      expect(hashToHex(hexToBytes(MAINNET_HEADERS[h]!).subarray(4, 36))).toBe(MAINNET_HASHES[h - 1]!);
    }
  }, TEST_MS);

  test("the example's header hashes to the leaf at height 5", () => {
    expect(hashToHex(sha256d(hexToBytes(DOC_EXAMPLE.header)))).toBe(MAINNET_HASHES[5]!);
    expect(DOC_EXAMPLE.header).toBe(MAINNET_HEADERS[5]!);
  }, TEST_MS);

  test("naive and cached proofs (every segment size) give exactly the example's branch and root", () => {
    const want = { branch: DOC_EXAMPLE.branch, root: DOC_EXAMPLE.root };
    expect(hex(naiveHeaderProof(leaves, DOC_EXAMPLE.height, DOC_EXAMPLE.cpHeight))).toEqual(want);
    for (const segmentBits of [0, 1, 2, 3, 4, DEFAULT_SEGMENT_BITS]) {
      const cache = new HeaderMerkleCache((from, count) => leaves.slice(from, from + count), { segmentBits });
      expect(hex(cache.proof(DOC_EXAMPLE.height, DOC_EXAMPLE.cpHeight))).toEqual(want);
    }
    const root = merkleRootFromBranch(leaves[5]!, DOC_EXAMPLE.branch.map(hexToHash), DOC_EXAMPLE.height);
    expect(hashToHex(root)).toBe(DOC_EXAMPLE.root);
  }, TEST_MS);
});

describe("cached proofs equal the naive oracle", () => {
  test("every (height, cp_height) of a 41-block chain, segments of 1, 2, 4, 8, 16 leaves", () => {
    const chain = new SyntheticChain(41);
    for (const segmentBits of [0, 1, 2, 3, 4]) {
      const cache = new HeaderMerkleCache(chain.read, { segmentBits });
      expect(expectSameAsNaive(cache, chain, shuffled(allPairs(41), segmentBits + 1))).toBe((41 * 42) / 2);
      expect(cache.cachedSegments).toBe(Math.floor(41 / 2 ** segmentBits));
    }
  }, TEST_MS);

  test("cp_height 0 is the genesis hash with an empty branch; height = cp_height is the tree's last leaf", () => {
    const chain = new SyntheticChain(20);
    const cache = new HeaderMerkleCache(chain.read, { segmentBits: 2 });
    expect(hex(cache.proof(0, 0))).toEqual({ branch: [], root: hashToHex(chain.hashes[0]!) });
    for (const cp of [1, 3, 4, 5, 8, 12, 19]) {
      expectSameAsNaive(cache, chain, [[cp, cp]]);
      // An odd last leaf is paired with itself: its first branch entry is itself.
      if (cp % 2 === 0) expect(cache.proof(cp, cp).branch[0]).toEqual(chain.hashes[cp]!);
    }
  }, TEST_MS);

  test("the default segment size (1,024) at and across segment boundaries of a 4,200-block chain", () => {
    const chain = new SyntheticChain(4200);
    const cache = new HeaderMerkleCache(chain.read);
    const pairs = shuffled(boundaryPairs(4200, 1024), 7);
    expect(pairs.length).toBeGreaterThan(100);
    expectSameAsNaive(cache, chain, pairs);
    expect(cache.cachedSegments).toBe(4);
  }, TEST_MS);

  test("once warm, a proof reads at most two segments and one check hash, not the chain", () => {
    const chain = new SyntheticChain(20_000);
    const cache = new HeaderMerkleCache(chain.read);
    cache.proof(0, 19_999);
    for (const [h, cp] of [[19_999, 19_999], [5, 19_999], [10_240, 15_000], [0, 1_024], [12_345, 12_345]] as const) {
      chain.leavesRead = 0; // the oracle reads chain.hashes directly: only the cache counts
      expectSameAsNaive(cache, chain, [[h, cp]]);
      // ≤ 1,024 (the segment of h) + 1,023 (the partial segment) + 1 (the reorg check)
      expect(chain.leavesRead).toBeLessThanOrEqual(2 * 1024);
    }
  }, TEST_MS);

  test("bad heights are rejected", () => {
    const chain = new SyntheticChain(10);
    const cache = new HeaderMerkleCache(chain.read, { segmentBits: 1 });
    expect(() => cache.proof(5, 4)).toThrow(RangeError);
    expect(() => cache.proof(-1, 4)).toThrow(RangeError);
    expect(() => cache.proof(0, 10)).toThrow(/not all in the store/);
    expect(() => naiveHeaderProof(chain.hashes, 0, 10)).toThrow(RangeError);
    expect(() => new HeaderMerkleCache(chain.read, { segmentBits: 1.5 })).toThrow(RangeError);
  }, TEST_MS);
});

describe("growth and reorgs", () => {
  test("growth: new segments are added from the store, older ones are not re-read", () => {
    const chain = new SyntheticChain(23);
    const cache = new HeaderMerkleCache(chain.read, { segmentBits: 2 });
    expectSameAsNaive(cache, chain, allPairs(23));
    expect(cache.cachedSegments).toBe(5);
    chain.extend(30);
    chain.leavesRead = 0;
    cache.proof(52, 52);
    // 1 check + 8 new segments × 4 + the partial segment of height 52 (1 leaf)
    expect(chain.leavesRead).toBe(1 + 8 * 4 + 1);
    expect(cache.cachedSegments).toBe(13);
    expectSameAsNaive(cache, chain, shuffled(allPairs(53), 3));
  }, TEST_MS);

  for (const told of [true, false]) {
    const how = told ? "told (invalidateFrom)" : "untold (found by the check)";
    test(`reorg ${how}: inside a segment, at a boundary, deeper than the cache, to a shorter and a longer chain`, () => {
      const chain = new SyntheticChain(60);
      const cache = new HeaderMerkleCache(chain.read, { segmentBits: 3 });
      let tag = 1;
      // [fork height, new length]: inside a segment; at a boundary, longer; blocks removed, none added;
      // shorter; deeper than several segments; from genesis; at a boundary, longer
      for (const [fork, newLength] of [[45, 60], [40, 70], [58, 58], [56, 57], [13, 50], [0, 35], [8, 64]] as const) {
        cache.proof(0, chain.hashes.length - 1); // warm: every complete segment cached
        const before = chain.hashes.slice();
        chain.reorg(fork, newLength, tag++);
        expect(chain.hashes[fork]).not.toEqual(before[fork]!);
        if (told) {
          cache.invalidateFrom(fork);
          expect(cache.cachedSegments).toBe(Math.min(Math.floor(before.length / 8), Math.floor(fork / 8)));
        }
        expectSameAsNaive(cache, chain, shuffled(allPairs(newLength), fork));
        // Untold, segments past the new tip are only checked once a proof needs them again.
        if (told) expect(cache.cachedSegments).toBe(Math.floor(newLength / 8));
        else expect(cache.cachedSegments).toBeGreaterThanOrEqual(Math.floor(newLength / 8));
      }
    }, TEST_MS);
  }

  test("untold reorg found with few reads: one check when nothing changed, a bisection when it did", () => {
    const chain = new SyntheticChain(1000);
    const cache = new HeaderMerkleCache(chain.read, { segmentBits: 2 });
    cache.proof(999, 999);
    chain.leavesRead = 0;
    cache.proof(999, 999);
    expect(chain.leavesRead).toBe(1 + 4 + 0); // check + the segment of 999 (no partial: 1,000 = 250 × 4)
    chain.reorg(990, 1000, 9);
    chain.leavesRead = 0;
    expectSameAsNaive(cache, chain, [[999, 999]]);
    // check + bisection over 250 segments (8) + segments 247 … 249 again (12) + the segment of 999 (4)
    expect(chain.leavesRead).toBeLessThanOrEqual(1 + 8 + 12 + 4);
    expect(cache.cachedSegments).toBe(250);
  }, TEST_MS);
});

describe("on the real store (regtest fixture) and through the Electrum handlers", () => {
  let fx: Fixture;
  beforeAll(async () => {
    fx = await openFixture({ maxHeight: 60 });
  }, TEST_MS);
  afterAll(() => fx.close());

  test("store-backed cache equals the naive proof over the store's hashes, before and after the chain grows", async () => {
    const reader = fx.indexer.reader;
    const cache = new HeaderMerkleCache(storeBlockHashes(reader), { segmentBits: 3 });
    expect(expectSameAsNaiveOverStore(cache, reader.chainHashes(), allPairs(61))).toBe((61 * 62) / 2);
    await fx.indexToTip();
    const hashes = reader.chainHashes();
    expect(hashes.length).toBeGreaterThan(100);
    expectSameAsNaiveOverStore(cache, hashes, shuffled(boundaryPairs(hashes.length, 8), 5));
    expect(storeBlockHashes(reader)(hashes.length - 2, 5).length).toBe(2); // stops at the tip
  }, 20_000);

  test("blockchain.block.header(s) answer the naive proof as display hex", async () => {
    await fx.indexToTip(); // a no-op when the test above already grew the chain
    const reader = fx.indexer.reader;
    const leaves = reader.chainHashes();
    const tip = leaves.length - 1;
    const merkle = new HeaderMerkleCache(storeBlockHashes(reader));
    for (const [h, cp] of [[5, 8], [0, 1], [tip, tip], [77, tip], [64, 64]] as const) {
      const r = blockHeader(reader, merkle, [h, cp]) as { branch: string[]; header: string; root: string };
      expect({ branch: r.branch, root: r.root }).toEqual(hex(naiveHeaderProof(leaves, h, cp)));
      expect(r.header).toBe(bytesToHex(reader.blockAt(h)!.header));
    }
    const hs = JSON.parse(blockHeaders(reader, merkle, [10, 5, 20], [1, 6], new HeaderChunkCache(4)).toString()) as { branch: string[]; root: string; count: number };
    expect(hs.count).toBe(5);
    expect({ branch: hs.branch, root: hs.root }).toEqual(hex(naiveHeaderProof(leaves, 14, 20)));
  }, TEST_MS);
});

function expectSameAsNaiveOverStore(cache: HeaderMerkleCache, leaves: Uint8Array[], pairs: readonly [number, number][]): number {
  for (const [h, cp] of pairs) expect({ h, cp, ...hex(cache.proof(h, cp)) }).toEqual({ h, cp, ...hex(naiveHeaderProof(leaves, h, cp)) });
  return pairs.length;
}

describe("HeaderChunkCache: blockchain.block.headers answers shared between requests", () => {
  let fx: Fixture;
  beforeAll(async () => {
    fx = await openFixture({ maxHeight: 60 });
  }, TEST_MS);
  afterAll(() => fx.close());

  /** The answer as the protocol spells it, built from the store without the cache. */
  const expectedAnswer = (start: number, count: number, version: "1.4" | "1.6") => {
    const reader = fx.indexer.reader;
    const headers: string[] = [];
    for (let h = start; h < start + Math.min(count, MAX_HEADERS) && reader.blockAt(h); h++) headers.push(bytesToHex(reader.blockAt(h)!.header));
    return version === "1.6" ? { count: headers.length, headers, max: MAX_HEADERS } : { count: headers.length, hex: headers.join(""), max: MAX_HEADERS };
  };

  test("a cached answer is the one the store gives, per version and range, and is made once per tip", async () => {
    const reader = fx.indexer.reader;
    const merkle = new HeaderMerkleCache(storeBlockHashes(reader));
    const chunks = new HeaderChunkCache(8);
    const ask = (start: number, count: number, v: "1.4" | "1.6") => blockHeaders(reader, merkle, [start, count], v === "1.6" ? [1, 6] : [1, 4], chunks);
    const first = ask(0, 2016, "1.4");
    expect(JSON.parse(first.toString())).toEqual(expectedAnswer(0, 2016, "1.4"));
    expect(JSON.parse(first.toString()).count).toBe(61);
    expect(ask(0, 2016, "1.4")).toBe(first); // the same text, not made again
    expect(JSON.parse(ask(0, 2016, "1.6").toString())).toEqual(expectedAnswer(0, 2016, "1.6"));
    expect(JSON.parse(ask(10, 5, "1.6").toString())).toEqual(expectedAnswer(10, 5, "1.6"));
    expect(JSON.parse(ask(59, 100, "1.4").toString())).toEqual(expectedAnswer(59, 100, "1.4"));
    expect(chunks.size).toBe(4);
    // A new tip: the answers are made again, with the new headers in them.
    await fx.indexToTip();
    const grown = ask(0, 2016, "1.4");
    expect(grown).not.toBe(first);
    expect(JSON.parse(grown.toString())).toEqual(expectedAnswer(0, 2016, "1.4"));
    expect(JSON.parse(grown.toString()).count).toBe(reader.tip()!.height + 1);
    expect(chunks.size).toBe(1);
  }, TEST_MS);

  test("the oldest entry goes past the bound, and a refused request is not kept", () => {
    const reader = fx.indexer.reader;
    const merkle = new HeaderMerkleCache(storeBlockHashes(reader));
    const chunks = new HeaderChunkCache(2);
    const ask = (start: number, cp = 0) => blockHeaders(reader, merkle, [start, 3, cp], [1, 4], chunks);
    const a = ask(0);
    ask(1);
    ask(2); // evicts start 0
    expect(chunks.size).toBe(2);
    expect(ask(0)).not.toBe(a);
    expect(ask(0).toString()).toBe(a.toString());
    expect(() => ask(5, 1)).toThrow(/cp_height/); // header 7 > cp_height 1
    expect(chunks.size).toBe(2);
    const proof = JSON.parse(ask(5, 20).toString()) as { branch: string[]; root: string };
    expect({ branch: proof.branch, root: proof.root }).toEqual(hex(naiveHeaderProof(reader.chainHashes(), 7, 20)));
  }, TEST_MS);
});
