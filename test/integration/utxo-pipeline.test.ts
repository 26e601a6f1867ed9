/**
 * The initial sync's pipeline: the UTXO table on its own thread (index/utxo-thread.ts) answers a
 * block's ops as the same table on this thread would, and a failing block, bad bytes or an abort
 * stop that thread and leave an index that ends at a whole block, from which the next update
 * resumes to the index of a straight sync.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { parseBlock } from "../../src/bitcoin/block.ts";
import { NETWORKS } from "../../src/bitcoin/network.ts";
import { offlineSource, openBlkFileIndex, type ChainSource, type RawBlock } from "../../src/daemon/sources.ts";
import { ChainError, ParseError } from "../../src/errors.ts";
import { flattenBlock } from "../../src/index/flat-block.ts";
import { OpsWriter, type Resolved } from "../../src/index/prevout-ops.ts";
import { applyOps } from "../../src/index/prevouts.ts";
import { Indexer, noopSyncMetrics } from "../../src/index/sync.ts";
import { SLOT_BYTES, UtxoTable } from "../../src/index/utxo-table.ts";
import { UtxoThread } from "../../src/index/utxo-thread.ts";
import { silentLogger } from "../../src/log.ts";
import { openDb } from "../../src/store/db.ts";
import { FIXTURE_BLOCKS, fixtureBestChain, openBlkFiles } from "../helpers/fixture.ts";
import { digestIndex } from "../helpers/index-check.ts";

const log = silentLogger();
const blkFiles = openBlkFiles();
const fixtureSource = () => offlineSource(openBlkFileIndex(FIXTURE_BLOCKS, NETWORKS.regtest.magic, log), NETWORKS.regtest.genesisHashHex, log);
const fixtureBlocks = () => fixtureBestChain(fixtureSource());

/** The fixture's source with the bytes of the block at `height` edited. */
function tampered(height: number, edit: (bytes: Uint8Array) => Uint8Array): ChainSource {
  const source = fixtureSource();
  return {
    ...source,
    async *blocks(first, hashes) {
      // The edited bytes are in no blk file: the block comes as one over RPC would.
      for await (const raw of source.blocks(first, hashes)) yield raw.height === height ? { ...raw, bytes: edit(raw.bytes), file: undefined } : raw;
    },
  };
}

function openIndexer(utxoCacheBytes?: number) {
  const db = openDb({ dir: ":memory:", network: "regtest", log });
  const indexer = new Indexer(db, log, noopSyncMetrics, { indexUnspendables: false, blkFiles, batchBlocks: 10, utxoCacheBytes });
  return { db, indexer, [Symbol.dispose]: () => (indexer.close(), db.close()) };
}

let blocks: RawBlock[];
/** The digest of a straight sync of the fixture. */
let reference: string;
/** A block above the first commits with a tx spending an output, and where that input's vout is in it. */
let target: { height: number; voutAt: number };

beforeAll(async () => {
  blocks = await fixtureBlocks();
  using straight = openIndexer();
  const source = fixtureSource();
  await straight.indexer.update(source);
  source.close();
  reference = digestIndex(straight.db);
  for (const raw of blocks) {
    if (raw.height < 25) continue;
    const block = parseBlock(raw.bytes, { witness: false });
    const tx = block.txs.find((t) => !t.isCoinbase);
    if (!tx) continue;
    target = { height: raw.height, voutAt: tx.inputs[0]!.prevTxid.byteOffset - raw.bytes.byteOffset + 32 };
    break;
  }
  expect(target).toBeDefined();
});

afterAll(() => blkFiles.close());

describe("the table's thread", () => {
  test("answers every fixture block's ops as the same table on this thread, evictions included", async () => {
    const slots = 64; // small enough to evict many times
    const thread = new UtxoThread(slots, 0, { indexUnspendables: false });
    const local = new UtxoTable(slots);
    const ops = new OpsWriter();
    let txnum = 0;
    let evictions = 0;
    try {
      for (const raw of blocks) {
        const block = parseBlock(raw.bytes, { witness: false });
        txnum += flattenBlock(block, txnum, { indexUnspendables: false }, ops).txCount;
        const words = ops.take();
        const expected = applyOps(local, words.slice(), "evict");
        const got: Resolved = await thread.resolve(words);
        expect(words.length).toBe(0); // transferred
        expect(Array.from(got.spent)).toEqual(Array.from(expected.spent));
        expect(got.evictions.map((e) => [e.atSpend, e.bound, e.count])).toEqual(expected.evictions.map((e) => [e.atSpend, e.bound, e.count]));
        evictions += got.evictions.length;
      }
      expect(evictions).toBeGreaterThan(10);
    } finally {
      await thread.terminate();
    }
  });

  test("an error in the thread comes back as its class, and a stopped thread refuses work", async () => {
    const thread = new UtxoThread(16, 0, { indexUnspendables: false });
    await expect(thread.resolve(new Uint32Array(11))).rejects.toThrow(RangeError);
    await expect(thread.resolve(new Uint32Array(11))).rejects.toThrow(/in the UTXO table's thread: 11 words are not a whole number of ops/);
    await thread.terminate();
    await expect(thread.resolve(new Uint32Array(10))).rejects.toThrow(/stopped/);
  });
});

describe("the initial sync through the pipeline", () => {
  for (const [label, cache] of [["default table", undefined], ["16-slot table", 16 * SLOT_BYTES]] as const) {
    test(`${label}: a spend of an unknown output is a ChainError; the thread stops; a clean update resumes to the straight sync's index`, async () => {
      using x = openIndexer(cache);
      const bad = tampered(target.height, (bytes) => {
        const copy = bytes.slice();
        new DataView(copy.buffer).setUint32(target.voutAt, 999, true);
        return copy;
      });
      const err = await x.indexer.update(bad).catch((e: unknown) => e);
      bad.close();
      expect(err).toBeInstanceOf(ChainError);
      expect((err as Error).message).toMatch(new RegExp(`missing previous output [0-9a-f]{64}:999 spent by tx #\\d+ of block ${target.height}$`));
      expect(x.indexer.tableThreadRunning).toBe(false);
      if (cache === undefined) {
        // Nothing was evicted, so the miss is a missing output at once: whole batches of 10 blocks, all below the bad block.
        expect(x.indexer.chain.tipHeight).toBe(Math.floor(target.height / 10) * 10 - 1);
      } else {
        // The miss came after evictions: deferred to the sorted pass at the end of the load, which
        // found no output and cut the index back to below the bad block.
        expect(x.indexer.chain.tipHeight).toBe(target.height - 1);
        expect(x.indexer.utxoStats.deferred).toBeGreaterThan(100);
      }
      expect(x.indexer.initialSyncDone).toBe(false);
      const source = fixtureSource();
      await x.indexer.update(source);
      source.close();
      expect(x.indexer.tableThreadRunning).toBe(false);
      expect(digestIndex(x.db)).toBe(reference);
    });
  }

  test("bad block bytes are a ParseError from the block; the thread stops", async () => {
    using x = openIndexer();
    const bad = tampered(target.height, (bytes) => bytes.subarray(0, bytes.length - 3));
    const err = await x.indexer.update(bad).catch((e: unknown) => e);
    bad.close();
    expect(err).toBeInstanceOf(ParseError);
    expect(x.indexer.tableThreadRunning).toBe(false);
    expect(x.indexer.chain.tipHeight).toBe(Math.floor(target.height / 10) * 10 - 1);
  });

  test("an abort commits whole blocks and stops the thread; the next update resumes to the straight sync's index", async () => {
    using x = openIndexer(16 * SLOT_BYTES);
    const ac = new AbortController();
    x.indexer.onCommit(() => ac.abort());
    const source = fixtureSource();
    const r = await x.indexer.update(source, ac.signal);
    expect(r.tipHeight).toBe(9);
    expect(x.indexer.tableThreadRunning).toBe(false);
    expect(x.indexer.initialSyncDone).toBe(false);
    await x.indexer.update(source);
    source.close();
    expect(x.indexer.initialSyncDone).toBe(true);
    expect(digestIndex(x.db)).toBe(reference);
  });
});
