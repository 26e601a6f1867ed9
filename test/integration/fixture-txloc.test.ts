/**
 * Store v3's tx locations: an index built from blk files stores where each tx is (txs.loc) and no
 * bytes, reads them back from the files checked against the txid, and refuses (typed error with a
 * reindex hint, on REST and Electrum) when the files changed; blocks that did not come from the
 * files (RPC) keep their bytes in the index.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { closeSync, cpSync, openSync, readSync, rmSync, statSync, truncateSync, writeSync } from "node:fs";
import { join } from "node:path";
import { bytesToHex, hexToHash } from "../../src/bitcoin/bytes.ts";
import { NETWORKS } from "../../src/bitcoin/network.ts";
import { offlineSource, openBlkFileIndex, type ChainSource } from "../../src/daemon/sources.ts";
import { BlockFilesChangedError, StoreError } from "../../src/errors.ts";
import { Indexer, noopSyncMetrics } from "../../src/index/sync.ts";
import { silentLogger } from "../../src/log.ts";
import { openDb, type Db } from "../../src/store/db.ts";
import { StoreReader } from "../../src/store/read.ts";
import { SCHEMA_VERSION, decodeTxLoc } from "../../src/store/rows.ts";
import { FIXTURE_BLOCKS, loadExpected, openBlkFiles } from "../helpers/fixture.ts";
import { tempDir } from "../helpers/tmp.ts";
import { LineClient, startServer as startElectrum, type Started } from "../unit/electrum/harness.ts";
import { openFixture, startServer as startRest, type Fixture, type ServerUnderTest } from "../unit/rest/harness.ts";

const expected = loadExpected();
const regtest = NETWORKS.regtest;
const log = silentLogger();

function fixtureSource(blocksDir = FIXTURE_BLOCKS): ChainSource {
  return offlineSource(openBlkFileIndex(blocksDir, regtest.magic, log), regtest.genesisHashHex, log);
}

/** The fixture's blocks as an RPC source gives them: no blk file position. */
function withoutFilePositions(inner: ChainSource): ChainSource {
  return {
    ...inner,
    name: "bitcoind RPC",
    async *blocks(firstHeight, hashes) {
      for await (const b of inner.blocks(firstHeight, hashes)) yield { height: b.height, hash: b.hash, bytes: b.bytes };
    },
  };
}

function txColumns(db: Db) {
  return db.sql
    .query<{ n: number; located: number; stored: number }, []>(
      "SELECT count(*) AS n, sum(loc IS NOT NULL AND raw IS NULL) AS located, sum(loc IS NULL AND raw IS NOT NULL) AS stored FROM txs",
    )
    .get()!;
}

function blockColumns(db: Db) {
  return db.sql.query<{ n: number; located: number }, []>("SELECT count(*) AS n, sum(file IS NOT NULL AND data_pos IS NOT NULL) AS located FROM blocks").get()!;
}

/** Every expected tx, by txid and as part of its block's txs (one read of the block's span), with the expected bytes. */
function checkEveryTx(reader: StoreReader): void {
  for (const [txidHex, t] of Object.entries(expected.txs)) {
    const loc = reader.tx(hexToHash(txidHex));
    expect(loc ? bytesToHex(loc.raw) : null).toBe(t.hex);
  }
  for (const b of expected.blocks) {
    const row = reader.blockAt(b.height)!;
    const txs = reader.blockTxs(row, 0, row.txCount);
    expect(txs.map((t) => bytesToHex(t.raw))).toEqual(b.txids.map((id) => expected.txs[id]!.hex));
  }
}

async function index(source: ChainSource, blkFiles: ReturnType<typeof openBlkFiles> | null) {
  const db = openDb({ dir: ":memory:", network: "regtest", log });
  const indexer = new Indexer(db, log, noopSyncMetrics, { indexUnspendables: false, blkFiles });
  await indexer.update(source);
  source.close();
  return { db, indexer };
}

describe("an index built from the blk files stores tx locations, not bytes", () => {
  const blkFiles = openBlkFiles();
  let db: Db;
  let indexer: Indexer;
  beforeAll(async () => ({ db, indexer } = await index(fixtureSource(), blkFiles)));
  afterAll(() => {
    indexer.close();
    db.close();
    blkFiles.close();
  });

  test("every tx row has a location and a NULL raw; every block a file position", () => {
    const txs = txColumns(db);
    expect(txs.n).toBeGreaterThan(700);
    expect(txs).toEqual({ n: txs.n, located: txs.n, stored: 0 });
    const blocks = blockColumns(db);
    expect(blocks).toEqual({ n: expected.tip.height + 1, located: expected.tip.height + 1 });
    // The genesis block: blk00000.dat, after the 8-byte record prefix; its coinbase after the header and a 1-byte count.
    expect(db.sql.query("SELECT file, data_pos FROM blocks WHERE height = 0").get()).toEqual({ file: 0, data_pos: 8 });
    const genesisTx = db.sql.query<{ loc: number }, []>("SELECT loc FROM txs WHERE txnum = 0").get()!;
    expect(decodeTxLoc(genesisTx.loc)).toEqual({ byteOffset: 81, byteLength: expected.txs[expected.blocks[0]!.txids[0]!]!.hex.length / 2 });
  });

  test("every tx read back from the files is Core's bytes", () => checkEveryTx(indexer.reader));

  test("without readable blk files, a located tx is a BlockFilesChangedError naming --blocks-dir, never bytes", () => {
    const blind = new StoreReader(db);
    const txid = expected.blocks[5]!.txids[0]!;
    expect(() => blind.tx(hexToHash(txid))).toThrow(BlockFilesChangedError);
    expect(() => blind.tx(hexToHash(txid))).toThrow(new RegExp(`tx ${txid} is not at blk00000\\.dat offset \\d+ .*--blocks-dir.*Please reindex`));
    expect(() => blind.blockTxs(blind.blockAt(5)!, 0, 1)).toThrow(BlockFilesChangedError);
    // Everything that needs no tx bytes still answers.
    expect(blind.tip()!.height).toBe(expected.tip.height);
  });
});

describe("an index of blocks without a file position (RPC) stores the bytes", () => {
  let db: Db;
  let indexer: Indexer;
  beforeAll(async () => ({ db, indexer } = await index(withoutFilePositions(fixtureSource()), null)));
  afterAll(() => {
    indexer.close();
    db.close();
  });

  test("every tx row has raw and a NULL loc; no block has a file position", () => {
    const txs = txColumns(db);
    expect(txs).toEqual({ n: txs.n, located: 0, stored: txs.n });
    expect(blockColumns(db)).toEqual({ n: expected.tip.height + 1, located: 0 });
  });

  test("every tx read back is Core's bytes, with no blk files at all", () => checkEveryTx(indexer.reader));
});

describe("blk files that changed after indexing", () => {
  const tmp = tempDir();
  const blocksDir = join(tmp.path, "blocks");
  cpSync(FIXTURE_BLOCKS, blocksDir, { recursive: true });
  let fx: Fixture;
  let rest: ServerUnderTest;
  let electrum: Started;
  let client: LineClient;
  // A non-coinbase tx and a tx of another block that stays intact.
  const block = expected.blocks.find((b) => b.txids.length > 2)!;
  const victim = block.txids[1]!;
  const bystander = expected.blocks[3]!.txids[0]!;

  /** The file and offset of a byte in the middle of `txidHex`. */
  function middleOf(txidHex: string): { path: string; offset: number; fileName: string } {
    const txnum = new StoreReader(fx.db).txnumOf(hexToHash(txidHex))!;
    const r = fx.db.sql
      .query<{ loc: number; file: number; data_pos: number }, [number]>(
        "SELECT t.loc AS loc, b.file AS file, b.data_pos AS data_pos FROM txs t JOIN blocks b ON b.first_txnum <= t.txnum AND t.txnum < b.first_txnum + b.tx_count WHERE t.txnum = ?",
      )
      .get(txnum)!;
    const { byteOffset, byteLength } = decodeTxLoc(r.loc);
    const fileName = `blk${String(r.file).padStart(5, "0")}.dat`;
    return { path: join(blocksDir, fileName), offset: r.data_pos + byteOffset + Math.floor(byteLength / 2), fileName };
  }

  function flipByte(path: string, offset: number): void {
    const fd = openSync(path, "r+");
    try {
      const b = new Uint8Array(1);
      readSync(fd, b, 0, 1, offset);
      b[0] = b[0]! ^ 0x5a;
      writeSync(fd, b, 0, 1, offset);
    } finally {
      closeSync(fd);
    }
  }

  beforeAll(async () => {
    fx = await openFixture({ blocksDir });
    rest = startRest(fx);
    electrum = startElectrum(fx);
    client = await LineClient.connect(electrum.server.port);
  });
  afterAll(async () => {
    client.close();
    await electrum.server.stop();
    await rest.server.stop();
    fx.close();
    tmp[Symbol.dispose]();
  });

  test("before: the tx is served", async () => {
    expect(await (await rest.get(`/tx/${victim}/hex`)).text()).toBe(expected.txs[victim]!.hex);
  });

  test("bytes of a tx overwritten: REST 500 and Electrum error with the reindex hint, never other bytes; other txs still served", async () => {
    const where = middleOf(victim);
    flipByte(where.path, where.offset);
    const hint = new RegExp(`block files changed since indexing: tx ${victim} is not at ${where.fileName.replace(".", "\\.")} offset \\d+ .*Please reindex`);
    for (const path of [`/tx/${victim}/hex`, `/tx/${victim}`, `/tx/${victim}/raw`, `/block/${block.hash}/raw`, `/block/${block.hash}/txs`]) {
      const res = await rest.get(path);
      expect({ path, status: res.status }).toEqual({ path, status: 500 });
      expect(await res.text()).toMatch(hint);
    }
    expect(rest.lines.some((l) => l.startsWith("ERROR") && hint.test(l))).toBe(true);

    const reply = await client.call("blockchain.transaction.get", [victim]);
    expect(reply.result).toBeUndefined();
    expect(reply.error!.code).toBe(-32603);
    expect(reply.error!.message).toMatch(hint);
    const verbose = await client.call("blockchain.transaction.get", [victim, true]);
    expect(verbose.error!.message).toMatch(hint);
    expect(electrum.lines.some((l) => l.startsWith("ERROR") && hint.test(l))).toBe(true);

    expect(await (await rest.get(`/tx/${bystander}/hex`)).text()).toBe(expected.txs[bystander]!.hex);
    expect(await client.result("blockchain.transaction.get", [bystander])).toBe(expected.txs[bystander]!.hex);

    // Put back: served again (nothing wrong was remembered).
    flipByte(where.path, where.offset);
    expect(await (await rest.get(`/tx/${victim}/hex`)).text()).toBe(expected.txs[victim]!.hex);
    expect(await client.result("blockchain.transaction.get", [victim])).toBe(expected.txs[victim]!.hex);
  });

  /** A reader with its own (fresh) descriptors: a cached one would still see a removed file. */
  function withFreshReader(fn: (reader: StoreReader) => void): void {
    const files = openBlkFiles(blocksDir);
    try {
      fn(new StoreReader(fx.db, files));
    } finally {
      files.close();
    }
  }

  test("a file cut short or removed: the same error", () => {
    const where = middleOf(victim);
    const size = statSync(where.path).size;
    truncateSync(where.path, where.offset);
    withFreshReader((reader) => {
      expect(() => reader.tx(hexToHash(victim))).toThrow(BlockFilesChangedError);
      expect(() => reader.tx(hexToHash(victim))).toThrow(/block files changed since indexing: .*cannot read it: .*Please reindex/);
    });
    rmSync(where.path);
    withFreshReader((reader) => expect(() => reader.tx(hexToHash(victim))).toThrow(/block files changed since indexing: .*cannot read it: .*Please reindex/));
    cpSync(join(FIXTURE_BLOCKS, where.fileName), where.path);
    expect(statSync(where.path).size).toBe(size);
    withFreshReader((reader) => expect(bytesToHex(reader.tx(hexToHash(victim))!.raw)).toBe(expected.txs[victim]!.hex));
  });
});

for (const [old, what] of [
  ["4", "SQLite indexes for txids and funding, no live tail"],
  ["5", "txids in the txs table, no txid file"],
  ["6", "an outpoint-keyed spill of the evicted outputs"],
  ["7", "no value in the unspent rows"],
] as const) {
  test(`an index of schema version ${old} (${what}) is refused with the reindex message`, () => {
    using tmp = tempDir();
    const db = openDb({ dir: tmp.path, network: "regtest", log });
    db.setMeta("schema_version", old);
    db.close();
    expect(SCHEMA_VERSION).toBe(8);
    expect(() => openDb({ dir: tmp.path, network: "regtest", log })).toThrow(StoreError);
    expect(() => openDb({ dir: tmp.path, network: "regtest", log })).toThrow(new RegExp(`schema version ${old}, this build uses 8.*Please reindex`));
  });
}
