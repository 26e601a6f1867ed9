/**
 * Core's real reorg, replayed: the fixture's blk00003.dat holds the stale branch (heights 129–130)
 * before the winning one. A copy cut just after the stale blocks is what the files looked like
 * before the reorg; growing it back to its full length is the reorg. The index must then be the
 * one a fresh sync of the full files gives, row for row.
 */
import { afterEach, beforeAll, describe, expect, test } from "bun:test";
import { appendFileSync, copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { hashToHex, hexToHash } from "../../src/bitcoin/bytes.ts";
import { openDb } from "../../src/store/db.ts";
import { createLogger } from "../../src/log.ts";
import type { StoreReader } from "../../src/store/read.ts";
import { SLOT_BYTES } from "../../src/index/utxo-table.ts";
import { FIXTURE_BLOCKS, loadExpected, openFixtureIndexer } from "../helpers/fixture.ts";
import { checkBlocks, checkReorg, checkScripts, checkSpendTables, checkTxs, digestIndex } from "../helpers/index-check.ts";
import { tempDir } from "../helpers/tmp.ts";

const expected = loadExpected();
/** Every line logged by the indexers of a test (emptied after each). */
const logged: string[] = [];
const log = createLogger({ verbosity: 0, timestamp: false, sink: (line) => void logged.push(line) });
const FULL_SCANS = /found by full scans/;
const [STALE_129, STALE_130] = expected.reorg.stale_blocks as [string, string];
/** End of the stale block 15c44005 (height 130) in blk00003.dat: record at 55870 + 8, 472 bytes. */
const CUT_AFTER_STALE = 56350 - 8;
/** End of the best chain's block 130 (ties with the stale branch: Core keeps the first seen). */
const CUT_AFTER_BEST_130 = 57052 + 694;

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
  logged.length = 0;
});

/** A copy of the fixture's blocks dir whose last file is cut at `cut`; returns a function that grows it to `to`. */
function truncatedCopy(cut: number): { dir: string; growTo(to?: number): void } {
  const tmp = tempDir();
  cleanups.push(() => tmp[Symbol.dispose]());
  const dir = join(tmp.path, "blocks");
  mkdirSync(dir);
  for (const f of ["blk00000.dat", "blk00001.dat", "blk00002.dat", "xor.dat"]) copyFileSync(join(FIXTURE_BLOCKS, f), join(dir, f));
  const last = readFileSync(join(FIXTURE_BLOCKS, "blk00003.dat"));
  writeFileSync(join(dir, "blk00003.dat"), last.subarray(0, cut));
  let size = cut;
  return {
    dir,
    growTo(to = last.length) {
      appendFileSync(join(dir, "blk00003.dat"), last.subarray(size, to));
      size = to;
    },
  };
}

/** An indexer on `dbDir` (":memory:" by default) over the blk files of `blocksDir`, closed after the test. */
const open = (blocksDir: string, dbDir = ":memory:", batchBlocks?: number, utxoCacheBytes = cacheBytes) =>
  openFixtureIndexer({ blocksDir, dbDir, log, batchBlocks, utxoCacheBytes }, cleanups);

/**
 * Each case runs twice: with the default UTXO table, and with one of 16 slots, so that almost every
 * output is evicted and almost every input deferred to the sorted pass at the end (store/utxo-spill.ts).
 */
const TINY_UTXO_TABLE_BYTES = 16 * SLOT_BYTES;
let cacheBytes: number | undefined;

/** The digest of a fresh sync with the default table: every variant must end in it. */
async function freshDigest(): Promise<string> {
  const fresh = open(FIXTURE_BLOCKS, ":memory:", undefined, undefined);
  await fresh.indexer.update(fresh.source);
  return digestIndex(fresh.db);
}

for (const [variant, bytes] of [["default UTXO table", undefined], ["16-slot UTXO table (spill)", TINY_UTXO_TABLE_BYTES]] as const) {
  describe(`${variant}:`, () => {
    beforeAll(() => {
      cacheBytes = bytes;
    });
    describe("the fixture's reorg, replayed from truncated blk files", () => {
      test("before the reorg the stale branch is the best chain, with the replaced tx confirmed", async () => {
        const files = truncatedCopy(CUT_AFTER_STALE);
        const { indexer, source } = open(files.dir);
        const r = await indexer.update(source);
        expect(r.tipHeight).toBe(130);
        expect(hashToHex(indexer.chain.tipHash!)).toBe(STALE_130);
        expect(hashToHex(indexer.reader.blockAt(129)!.hash)).toBe(STALE_129);
        expect(indexer.reader.tx(hexToHash(expected.reorg.replaced_txid))?.height).toBe(129);
      });

      test("equal work keeps the first-seen branch, more work reorgs to the best chain: the same index as a fresh sync", async () => {
        const files = truncatedCopy(CUT_AFTER_STALE);
        const { db, indexer, source } = open(files.dir);
        await indexer.update(source);
        expect(indexer.initialSyncDone).toBe(true); // the reorg below is a live one (store/write.ts removeLiveSpends)

        files.growTo(CUT_AFTER_BEST_130); // the best chain's 129 and 130: a tie, nothing changes
        const tie = await indexer.update(source);
        expect(tie).toMatchObject({ tipHeight: 130, blocksAdded: 0, blocksRemoved: 0 });
        expect(hashToHex(indexer.chain.tipHash!)).toBe(STALE_130);

        files.growTo(); // 131 … 137: the best chain has more work
        const reorg = await indexer.update(source);
        expect(reorg).toMatchObject({ tipHeight: 137, blocksRemoved: 2, blocksAdded: 9 });

        checkBlocks(indexer.reader, expected);
        checkTxs(indexer.reader, expected);
        checkScripts(indexer.reader, expected);
        checkReorg(indexer.reader, expected);
        checkSpendTables(db);
        // The removed spends were found from the removed txs' inputs, not by the fallback's scans.
        expect(logged.filter((l) => FULL_SCANS.test(l))).toEqual([]);
        expect(logged.some((l) => /reorg: removed 2 blocks/.test(l))).toBe(true);

        expect(digestIndex(db)).toBe(await freshDigest());
      });

      test("a deep live rollback (37 blocks) unspends what the removed txs spent; growing back gives the same index", async () => {
        const { db, indexer, source } = open(FIXTURE_BLOCKS);
        await indexer.update(source);
        expect(indexer.initialSyncDone).toBe(true);
        checkSpendTables(db);
        // What a reorg does first, without a new branch: the blocks from height 101 leave.
        (indexer as unknown as { rollback(height: number): void }).rollback(101);
        expect(indexer.reader.tip()!.height).toBe(100);
        checkSpendTables(db); // among others: the outputs below the fork that the removed txs spent are unspent again
        expect(logged.filter((l) => FULL_SCANS.test(l))).toEqual([]);
        expect(await indexer.update(source)).toMatchObject({ tipHeight: 137, blocksAdded: 37, blocksRemoved: 0 });
        checkSpendTables(db);
        expect(digestIndex(db)).toBe(await freshDigest());
      });

      // Failure injection on the reader the live reorg takes the removed txs from: either way the rest
      // is done by full scans of the spend tables (one warning), and the index equals a fresh sync.
      const brokenReaders: [string, (real: StoreReader["blockTxs"]) => StoreReader["blockTxs"]][] = [
        ["a live reorg whose removed txs cannot be read (no txs: an inconsistent index)", () => () => []],
        [
          "a live reorg whose second removed block's bytes fail to read (blk files changed since indexing)",
          (real) => (block, start, count) => {
            if (block.height === 130) throw new Error("block files changed since indexing");
            return real(block, start, count);
          },
        ],
      ];
      for (const [name, inject] of brokenReaders) {
        test(`${name} falls back to full scans of the spend tables: the same index`, async () => {
          const files = truncatedCopy(CUT_AFTER_STALE);
          const { db, indexer, source } = open(files.dir);
          await indexer.update(source);
          expect(indexer.initialSyncDone).toBe(true);
          indexer.reader.blockTxs = inject(indexer.reader.blockTxs.bind(indexer.reader));
          files.growTo();
          expect(await indexer.update(source)).toMatchObject({ tipHeight: 137, blocksRemoved: 2, blocksAdded: 9 });
          expect(logged.filter((l) => FULL_SCANS.test(l)).length).toBe(1);
          checkSpendTables(db);
          expect(digestIndex(db)).toBe(await freshDigest());
        });
      }

      test("a reorg during the initial sync (spends still in id order in spends_staging): the same index", async () => {
        const files = truncatedCopy(CUT_AFTER_STALE);
        const { db, indexer, source } = open(files.dir, ":memory:", 7);
        // Stop while the stale tip 130 is delivered: every block is committed, but the sync is not done.
        const stop = new AbortController();
        const blocks = source.blocks.bind(source);
        source.blocks = async function* (from, hashes) {
          for await (const b of blocks(from, hashes)) {
            if (b.height === 130) stop.abort();
            yield b;
          }
        };
        expect(await indexer.update(source, stop.signal)).toMatchObject({ tipHeight: 130 });
        expect(indexer.initialSyncDone).toBe(false);
        expect(db.sql.prepare("SELECT count(*) AS n FROM spends").get()).toEqual({ n: 0 });
        source.blocks = blocks;
        files.growTo();
        expect(await indexer.update(source)).toMatchObject({ tipHeight: 137, blocksRemoved: 2, blocksAdded: 9 });
        expect(indexer.initialSyncDone).toBe(true);
        checkScripts(indexer.reader, expected);
        checkReorg(indexer.reader, expected);
        expect(digestIndex(db)).toBe(await freshDigest());
      });
    });

    describe("restarts", () => {
      test("an initial sync stopped part way resumes in a new process's indexer and ends in the same index", async () => {
        using tmp = tempDir();
        const stopAfter = new AbortController();
        {
          const { indexer, source, close } = open(FIXTURE_BLOCKS, tmp.path, 7);
          // Ask to stop while block 61 is delivered: it is committed, and nothing after it is read.
          const blocks = source.blocks.bind(source);
          source.blocks = async function* (from, hashes) {
            for await (const b of blocks(from, hashes)) {
              if (b.height === 61) stopAfter.abort();
              yield b;
            }
          };
          const r = await indexer.update(source, stopAfter.signal);
          expect(r.tipHeight).toBe(61);
          expect(indexer.initialSyncDone).toBe(false);
          close();
        }
        const { db, indexer, source } = open(FIXTURE_BLOCKS, tmp.path);
        expect(indexer.chain.tipHeight).toBe(61);
        const r = await indexer.update(source);
        expect(r).toMatchObject({ tipHeight: 137, blocksAdded: 76, blocksRemoved: 0 });
        checkScripts(indexer.reader, expected);
        expect(digestIndex(db)).toBe(await freshDigest());
      });

      test("a corrupt block mid-batch rolls back its batch; the next update completes the same index", async () => {
        using tmp = tempDir();
        const { db, indexer, source } = open(FIXTURE_BLOCKS, tmp.path, 7);
        const good = source.blocks.bind(source);
        // Failure injection: block 120 arrives cut short (a disk error, a half-written file).
        source.blocks = async function* (from, hashes) {
          for await (const b of good(from, hashes)) yield b.height === 120 ? { ...b, bytes: b.bytes.subarray(0, b.bytes.length - 5) } : b;
        };
        await expect(indexer.update(source)).rejects.toThrow(/truncated|needs|bytes/i);
        // Batches of 7 blocks: 0–118 committed (17 batches), 119 was in the batch that failed.
        expect(indexer.chain.tipHeight).toBe(118);
        expect(indexer.reader.tip()!.height).toBe(118);
        const tipBlock = indexer.reader.tip()!;
        expect(indexer.reader.txCount()).toBe(tipBlock.firstTxnum + tipBlock.txCount);

        source.blocks = good;
        expect(await indexer.update(source)).toMatchObject({ tipHeight: 137, blocksAdded: 19 });
        expect(digestIndex(db)).toBe(await freshDigest());
      });
    });
  });
}

describe("schema", () => {
  test("an index of another schema version or network is refused with a reindex message, and left untouched", () => {
    using tmp = tempDir();
    const db = openDb({ dir: tmp.path, network: "regtest", log });
    db.setMeta("schema_version", "0");
    db.close();
    expect(() => openDb({ dir: tmp.path, network: "regtest", log })).toThrow(/Incompatible database found \(schema version 0.*Please reindex/);
    expect(() => openDb({ dir: tmp.path, network: "regtest", log })).toThrow(/Please reindex/);
    const db2 = openDb({ dir: join(tmp.path, "x"), network: "regtest", log });
    db2.close();
    expect(() => openDb({ dir: join(tmp.path, "x"), network: "signet", log })).toThrow(/is for network regtest, not signet.*reindex/);
  });
});
