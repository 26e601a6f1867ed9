/**
 * The query connection's reader skips the levels that hold no rows (store/level-reads.ts). It
 * must answer as a reader that reads every level, whatever the indexer did since its last read:
 * live blocks filling the tail, a merge moving them to level 1 (in part, then whole), a reorg
 * removing rows from both, more live blocks. Compared for every script and tx of the fixture.
 */
import { afterEach, expect, test } from "bun:test";
import { hexToBytes, hexToHash } from "../../src/bitcoin/bytes.ts";
import type { Indexer } from "../../src/index/sync.ts";
import { silentLogger } from "../../src/log.ts";
import { openReadDb } from "../../src/store/db.ts";
import { StoreReader } from "../../src/store/read.ts";
import { scriptKeyOf } from "../../src/store/rows.ts";
import { cappedAt, loadExpected, openBlkFiles, openFixtureIndexer } from "../helpers/fixture.ts";
import { checkScripts } from "../helpers/index-check.ts";
import { tempDir } from "../helpers/tmp.ts";

const expected = loadExpected();
const log = silentLogger();
const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0).reverse()) c();
});

const rollback = (indexer: Indexer, height: number) => (indexer as unknown as { rollback(height: number): void }).rollback(height);
const keys = expected.scripts.map((s) => scriptKeyOf(hexToBytes(s.script)));
// Every tx Core reported, stale ones included (not found once a reorg removed them, found again after).
const txids = Object.keys(expected.txs).map(hexToHash);

/** Everything the levels answer, for every script: the skipping reader against the reader of every level. */
function same(skipping: StoreReader, every: StoreReader, stage: string): void {
  for (const key of keys) {
    const read = (r: StoreReader) => ({
      stage,
      asc: r.historyTxnumsAsc(key, null, 1e6),
      desc: r.historyTxnumsDesc(key, null, 1e6),
      deltas: r.historyDeltasDesc(key, null, 1e6),
      utxos: r.utxosPage(key, null, 1e6),
      utxoCount: r.utxoCount(key, 1e6),
      unspentSum: r.unspentSum(key),
      stats: r.stats(key),
    });
    expect(read(skipping)).toEqual(read(every));
  }
  for (const txid of txids) expect({ stage, txnum: skipping.txnumOf(txid) }).toEqual({ stage, txnum: every.txnumOf(txid) });
}

test("a reader that skips empty levels answers as one that reads them all: live blocks, merges, a reorg", async () => {
  const tmp = tempDir();
  cleanups.push(() => tmp[Symbol.dispose]());
  const o = openFixtureIndexer({ dbDir: tmp.path, log, recentMergeRows: 40 }, cleanups);
  await o.indexer.update(cappedAt(o.source, 70));
  const readDb = openReadDb(o.db);
  cleanups.push(() => readDb.close());
  const blkFiles = openBlkFiles();
  cleanups.push(() => blkFiles.close());
  const skipping = new StoreReader(readDb, blkFiles, { skipEmptyLevels: true });
  const every = o.indexer.reader;
  same(skipping, every, "after the initial sync (every level below the base empty)");
  await o.indexer.update(cappedAt(o.source, 100));
  expect(o.indexer.mergeDue).toBe(true);
  same(skipping, every, "live blocks in the tail");
  expect(o.indexer.mergeStep()).toBe(false);
  same(skipping, every, "part of a merge done");
  while (!o.indexer.mergeStep());
  same(skipping, every, "the tail merged into level 1");
  rollback(o.indexer, 85);
  same(skipping, every, "a reorg removed rows from both levels");
  await o.indexer.update(o.source);
  same(skipping, every, "more live blocks, to the tip");
  // (Both readers share the stats cache: the skipping one also against Core's ground truth.)
  checkScripts(skipping, expected);
  expect(skipping.historyTxnumsAsc(keys[0]!, null, 1e6).length).toBeGreaterThan(0);
});
