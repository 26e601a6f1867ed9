/**
 * The txid file (store/txid-file.ts): what the query side reads while a reorg's batch is open, and
 * the start-up repair (index/txid-repair.ts) of records a crash left unwritten, against a fresh
 * index of the fixture (digestIndex covers every txid).
 */
import { afterEach, describe, expect, test } from "bun:test";
import { closeSync, openSync, statSync, truncateSync, writeSync } from "node:fs";
import { join } from "node:path";
import { NETWORKS } from "../../src/bitcoin/network.ts";
import { offlineSource, openBlkFileIndex, type ChainSource } from "../../src/daemon/sources.ts";
import { Indexer, noopSyncMetrics } from "../../src/index/sync.ts";
import { silentLogger } from "../../src/log.ts";
import { META_TXIDS_REPAIR_FROM, openDb } from "../../src/store/db.ts";
import { TXID_BYTES, TXID_FILE, openTxidFile, openTxidReader } from "../../src/store/txid-file.ts";
import { FIXTURE_BLOCKS, openFixtureIndexer } from "../helpers/fixture.ts";
import { digestIndex } from "../helpers/index-check.ts";
import { tempDir } from "../helpers/tmp.ts";

const log = silentLogger();
const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

const txid = (n: number) => new Uint8Array(TXID_BYTES).fill(n);

describe("txid file: reads without the memory map", () => {
  for (const where of ["memory", "file"] as const) {
    test(`${where}: txidAtUnmapped reads what txidAt reads (stored, buffered, waiting for the commit) and maps nothing`, () => {
      const tmp = tempDir();
      cleanups.push(() => tmp[Symbol.dispose]());
      const path = join(tmp.path, TXID_FILE);
      const f = openTxidFile(where === "memory" ? null : path);
      cleanups.push(() => f.close());
      f.setCommittedCount(0);
      for (let i = 0; i < 5000; i++) f.put(i, txid((i % 250) + 1));
      expect(f.beforeCommit(true)).toBeNull();
      f.afterCommit();
      const mapped = () => (process.platform === "linux" ? require("node:fs").readFileSync("/proc/self/maps", "utf8").includes(path) : false);
      for (const t of [0, 1, 2047, 4999]) expect(f.txidAtUnmapped(t)).toEqual(txid((t % 250) + 1));
      expect(mapped()).toBe(false);
      // Records of the open transaction: appended (buffered) and a reorg's (waiting for the commit).
      f.truncate(4998);
      f.put(4998, txid(77));
      f.put(4999, txid(88));
      f.put(5000, txid(99));
      expect(f.txidAtUnmapped(4998)).toEqual(txid(77));
      expect(f.txidAtUnmapped(5000)).toEqual(txid(99));
      expect(f.txidAtUnmapped(10)).toEqual(txid(11));
      expect(() => f.txidAtUnmapped(90_000)).toThrow(/index inconsistency/);
      expect(mapped()).toBe(false);
      // (txidAt reads through the map; the last commit's record 4998 is still the old one there.)
      expect(f.committed.txidAt(4998)).toEqual(txid((4998 % 250) + 1));
      if (where === "file" && process.platform === "linux") expect(mapped()).toBe(true);
    });
  }
});

describe("txid file: a reader in another thread (serve workers)", () => {
  test("reads what the writer committed, including records appended after it opened (it looks at the size again)", () => {
    const tmp = tempDir();
    cleanups.push(() => tmp[Symbol.dispose]());
    const path = join(tmp.path, TXID_FILE);
    const w = openTxidFile(path);
    cleanups.push(() => w.close());
    for (let n = 0; n < 3; n++) w.put(n, txid(n + 1));
    w.beforeCommit(false);
    w.afterCommit();
    const r = openTxidReader(path);
    cleanups.push(() => r.close());
    expect(r.txidAt(2)).toEqual(txid(3));
    expect(() => r.txidAt(3)).toThrow("no txid for tx number 3");
    for (let n = 3; n < 10; n++) w.put(n, txid(n + 1));
    w.beforeCommit(false);
    w.afterCommit();
    expect(r.txidAt(9)).toEqual(txid(10));
    expect(r.txidHexAt(4)).toBe("05".repeat(32));
  });
});

describe("txid file: the open transaction and the last commit", () => {
  for (const where of ["memory", "file"] as const) {
    test(`${where}: appends, a reorg's records kept until the commit, a rollback forgotten`, () => {
      const tmp = tempDir();
      cleanups.push(() => tmp[Symbol.dispose]());
      const f = openTxidFile(where === "memory" ? null : join(tmp.path, TXID_FILE));
      cleanups.push(() => f.close());
      f.setCommittedCount(0);
      for (let i = 0; i < 10; i++) f.put(i, txid(i + 1));
      // The writer reads its own batch before any flush.
      expect(f.txidAt(9)).toEqual(txid(10));
      expect(f.beforeCommit(true)).toBeNull();
      f.afterCommit();
      expect(f.committed.txidAt(9)).toEqual(txid(10));
      expect(f.storedCount).toBe(10);
      // A reorg: txs 6… replaced by 6, 7 of another chain.
      f.truncate(6);
      f.put(6, txid(60));
      f.put(7, txid(70));
      expect(f.txidAt(6)).toEqual(txid(60));
      expect(f.committed.txidAt(6)).toEqual(txid(7));
      expect(f.beforeCommit(true)).toBe(6);
      // (the commit happens here)
      expect(f.committed.txidAt(7)).toEqual(txid(8));
      f.afterCommit();
      expect(f.committed.txidAt(6)).toEqual(txid(60));
      expect(f.committed.txidAt(7)).toEqual(txid(70));
      // Appends after it start at 8 (the committed count), straight to the store.
      f.put(8, txid(80));
      expect(f.beforeCommit(false)).toBeNull();
      f.afterCommit();
      expect(f.committed.txidAt(8)).toEqual(txid(80));
      // A rolled-back reorg leaves the committed records, and the writer's view, as they were.
      f.truncate(2);
      f.put(2, txid(99));
      expect(f.txidAt(2)).toEqual(txid(99));
      f.afterRollback();
      expect(f.txidAt(2)).toEqual(txid(3));
      expect(f.committed.txidAt(2)).toEqual(txid(3));
      expect(() => f.committed.txidAt(1000)).toThrow(/no txid for tx number 1000/);
      if (where === "file") {
        // Records past the count (a reorg to a shorter chain leaves them) are dropped at the next open.
        f.close();
        const again = openTxidFile(join(tmp.path, TXID_FILE));
        cleanups.push(() => again.close());
        expect(again.storedCount).toBe(10);
        again.setCommittedCount(7);
        expect(again.storedCount).toBe(7);
        expect(again.committed.txidAt(6)).toEqual(txid(60));
        expect(() => again.committed.txidAt(7)).toThrow(/no txid/);
      }
    });
  }
});

/** The fixture indexed into a directory; its digest. */
async function indexed(dir: string, source?: ChainSource) {
  if (!source) {
    const o = openFixtureIndexer({ dbDir: dir, log }, cleanups);
    await o.indexer.update(o.source);
    const digest = digestIndex(o.db);
    const count = o.indexer.reader.txCount();
    o.close();
    return { digest, count };
  }
  const db = openDb({ dir, network: "regtest", log });
  const indexer = new Indexer(db, log, noopSyncMetrics, { indexUnspendables: false, blkFiles: null });
  await indexer.update(source);
  source.close();
  const digest = digestIndex(db);
  const count = indexer.reader.txCount();
  indexer.close();
  db.close();
  return { digest, count };
}

/** Opening an indexer repairs the file; the digest after it. */
function reopened(dir: string, rpc: boolean): { digest: string; repairFrom: string | null } {
  if (!rpc) {
    const o = openFixtureIndexer({ dbDir: dir, log }, cleanups);
    const out = { digest: digestIndex(o.db), repairFrom: o.db.getMeta(META_TXIDS_REPAIR_FROM) };
    o.close();
    return out;
  }
  const db = openDb({ dir, network: "regtest", log });
  const indexer = new Indexer(db, log, noopSyncMetrics, { indexUnspendables: false, blkFiles: null });
  const out = { digest: digestIndex(db), repairFrom: db.getMeta(META_TXIDS_REPAIR_FROM) };
  indexer.close();
  db.close();
  return out;
}

function rpcSource(): ChainSource {
  const inner = offlineSource(openBlkFileIndex(FIXTURE_BLOCKS, NETWORKS.regtest.magic, log), NETWORKS.regtest.genesisHashHex, log);
  return {
    ...inner,
    name: "bitcoind RPC",
    async *blocks(firstHeight, hashes) {
      for await (const b of inner.blocks(firstHeight, hashes)) yield { height: b.height, hash: b.hash, bytes: b.bytes };
    },
  };
}

describe("txid file: records a crash left unwritten are recomputed at start-up", () => {
  for (const rpc of [false, true]) {
    const kind = rpc ? "txs stored in the index (RPC)" : "txs in Core's blk files";
    test(`${kind}: a file cut short (a power failure during the initial sync)`, async () => {
      const tmp = tempDir();
      cleanups.push(() => tmp[Symbol.dispose]());
      const dir = join(tmp.path, "db");
      const fresh = await indexed(dir, rpc ? rpcSource() : undefined);
      const path = join(dir, TXID_FILE);
      truncateSync(path, 100 * TXID_BYTES + 5);
      expect(reopened(dir, rpc)).toEqual({ digest: fresh.digest, repairFrom: null });
      expect(statSync(path).size).toBe(fresh.count * TXID_BYTES);
    });

    test(`${kind}: a reorg's records after their commit (the meta key left behind)`, async () => {
      const tmp = tempDir();
      cleanups.push(() => tmp[Symbol.dispose]());
      const dir = join(tmp.path, "db");
      const fresh = await indexed(dir, rpc ? rpcSource() : undefined);
      // Records 300… overwritten with other bytes, and the key the commit leaves until they are written.
      const fd = openSync(join(dir, TXID_FILE), "r+");
      writeSync(fd, new Uint8Array((fresh.count - 300) * TXID_BYTES).fill(0xab), 0, (fresh.count - 300) * TXID_BYTES, 300 * TXID_BYTES);
      closeSync(fd);
      const db = openDb({ dir, network: "regtest", log });
      db.setMeta(META_TXIDS_REPAIR_FROM, "300");
      expect(digestIndex(db)).not.toBe(fresh.digest);
      db.close();
      expect(reopened(dir, rpc)).toEqual({ digest: fresh.digest, repairFrom: null });
    });
  }
});
