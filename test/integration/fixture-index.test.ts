/**
 * The whole index of the Core 30 regtest fixture, built offline from its XOR-ed blk files, checked
 * against Bitcoin Core's own RPC answers (expected.json): every block, tx, script history,
 * funded/spent row, utxo and balance, the stale blocks and the RBF-replaced tx.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { parseTxExact } from "../../src/bitcoin/block.ts";
import { hexToBytes } from "../../src/bitcoin/bytes.ts";
import { NETWORKS } from "../../src/bitcoin/network.ts";
import { offlineSource, openBlkFileIndex } from "../../src/daemon/sources.ts";
import { Indexer, noopSyncMetrics } from "../../src/index/sync.ts";
import { silentLogger } from "../../src/log.ts";
import { openDb, type Db } from "../../src/store/db.ts";
import { FIXTURE_BLOCKS, loadExpected, openBlkFiles } from "../helpers/fixture.ts";
import { checkBlocks, checkOutspends, checkReorg, checkScripts, checkTxs, digestIndex } from "../helpers/index-check.ts";
import { SLOT_BYTES } from "../../src/index/utxo-table.ts";

const expected = loadExpected();
let db: Db;
let indexer: Indexer;
const blkFiles = openBlkFiles();

beforeAll(async () => {
  const log = silentLogger();
  db = openDb({ dir: ":memory:", network: "regtest", log });
  indexer = new Indexer(db, log, noopSyncMetrics, { indexUnspendables: false, blkFiles });
  const source = offlineSource(openBlkFileIndex(FIXTURE_BLOCKS, NETWORKS.regtest.magic, log), NETWORKS.regtest.genesisHashHex, log);
  const r = await indexer.update(source);
  expect(r).toMatchObject({ tipHeight: expected.tip.height, blocksAdded: expected.tip.height + 1, blocksRemoved: 0, txsAdded: 769 });
  expect(indexer.initialSyncDone).toBe(true);
  source.close();
});

afterAll(() => {
  indexer.close();
  db.close();
  blkFiles.close();
});

describe("regtest-core30 fixture, indexed offline from the blk files", () => {
  test("with the default UTXO table nothing was evicted", () => expect(indexer.utxoStats).toMatchObject({ evicted: 0, deferred: 0 }));
  test("the tip and every best-chain block", () => checkBlocks(indexer.reader, expected));
  test("every transaction: raw bytes, confirming block and position", () => checkTxs(indexer.reader, expected));
  test("every script: history, funded, spent, utxos, stats and balance", () => checkScripts(indexer.reader, expected));
  test("outspends agree with the spent rows", () => checkOutspends(indexer.reader, expected));
  test("the stale blocks and the replaced tx count nowhere; re-confirmed txs at their best-chain height", () =>
    checkReorg(indexer.reader, expected));
});

describe("spend tables after the initial sync", () => {
  test("one spends and one spend_history row per non-coinbase input of Core's txs; staging empty; no spends_by_* index", () => {
    // Core's best-chain txs (expected.json): every input of a non-coinbase tx is a spend.
    let inputs = 0;
    for (const t of Object.values(expected.txs)) {
      const tx = parseTxExact(hexToBytes(t.hex), { witness: false });
      if (!tx.isCoinbase) inputs += tx.inputs.length;
    }
    expect(inputs).toBeGreaterThan(500);
    const count = (q: string) => (db.sql.prepare(q).get() as { n: number }).n;
    expect(count("SELECT count(*) AS n FROM spends")).toBe(inputs);
    expect(count("SELECT count(*) AS n FROM spend_history")).toBe(inputs);
    expect(count("SELECT count(*) AS n FROM spends_staging")).toBe(0);
    // The two tables hold the same edges.
    expect(count("SELECT count(*) AS n FROM spends s JOIN spend_history h ON h.id = s.id AND h.prev = s.prev")).toBe(inputs);
    // …and each history row's script is its spent output's.
    expect(count("SELECT count(*) AS n FROM spend_history h JOIN outputs o ON o.id = h.prev AND o.script = h.script")).toBe(inputs);
    expect(db.sql.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND name LIKE 'spends_by_%'").all()).toEqual([]);
  });
});

describe("the same fixture through a 16-slot UTXO table: the oldest outputs are evicted and their spends resolved in the sorted pass", () => {
  let small: { db: Db; indexer: Indexer };
  beforeAll(async () => {
    const log = silentLogger();
    const sdb = openDb({ dir: ":memory:", network: "regtest", log });
    const sindexer = new Indexer(sdb, log, noopSyncMetrics, { indexUnspendables: false, utxoCacheBytes: 16 * SLOT_BYTES, batchBlocks: 5, blkFiles });
    const source = offlineSource(openBlkFileIndex(FIXTURE_BLOCKS, NETWORKS.regtest.magic, log), NETWORKS.regtest.genesisHashHex, log);
    await sindexer.update(source);
    source.close();
    small = { db: sdb, indexer: sindexer };
  });
  afterAll(() => {
    small.indexer.close();
    small.db.close();
  });

  test("most spends were deferred to the sorted pass", () => {
    const st = small.indexer.utxoStats;
    expect(st.evictions).toBeGreaterThan(50);
    expect(st.deferred).toBeGreaterThan(300);
  });
  test("every script's history, utxos and balance, and the outspends, as Core reports them", () => {
    checkScripts(small.indexer.reader, expected);
    checkOutspends(small.indexer.reader, expected);
  });
  test("row for row the index of the default table, with the staging tables left empty", () => {
    expect(digestIndex(small.db)).toBe(digestIndex(db));
    const left = "SELECT (SELECT count(*) FROM spends_deferred) + (SELECT count(*) FROM spends_resolved) AS n";
    expect(small.db.sql.prepare(left).get()).toEqual({ n: 0 });
  });
});
