/**
 * The indexer against a real node (bcoin on regtest, in process) over JSON-RPC, as with
 * --jsonrpc-import: initial sync, new blocks, a reorg made with invalidateblock in which a spend
 * re-confirms at another height, and a restart that resumes. After each step the index must be
 * row for row the one a fresh sync of the node's chain gives.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import bcoin from "bcoin";
import { hashToHex, hexToBytes, hexToHash } from "../../src/bitcoin/bytes.ts";
import { rpcSource, type ChainSource } from "../../src/daemon/sources.ts";
import { Indexer, noopSyncMetrics } from "../../src/index/sync.ts";
import { silentLogger } from "../../src/log.ts";
import { openDb, type Db } from "../../src/store/db.ts";
import { scriptKeyOf } from "../../src/store/rows.ts";
import { startBcoin, type BcoinNode } from "../helpers/bcoin-node.ts";
import { digestIndex } from "../helpers/index-check.ts";
import { tempDir } from "../helpers/tmp.ts";

const T = 30_000;
const log = silentLogger();
const PAYEE_SCRIPT = "0020" + "ab".repeat(32); // a P2WSH output nobody else pays
let node: BcoinNode;
let tmp: ReturnType<typeof tempDir>;
let db: Db;
let indexer: Indexer;
let source: ChainSource;

async function freshDigest(): Promise<string> {
  const fdb = openDb({ dir: ":memory:", network: "regtest", log });
  const fresh = new Indexer(fdb, log, noopSyncMetrics, { indexUnspendables: false });
  await fresh.update(rpcSource({ rpc: node.rpc, log }));
  const digest = digestIndex(fdb);
  fresh.close();
  fdb.close();
  return digest;
}

async function nodeChain(): Promise<string[]> {
  const height = (await node.rpc.call<{ blocks: number }>("getblockchaininfo")).blocks;
  return node.rpc.batch<string>("getblockhash", Array.from({ length: height + 1 }, (_, h) => [h]));
}

/** Spends the coinbase of block `height` to PAYEE_SCRIPT and the mining address; returns the txid. */
async function spendCoinbase(height: number): Promise<string> {
  const coin = bcoin.Coin.fromTX(await node.coinbaseTx(height), 0, height);
  return node.sendTx(node.spend(coin, PAYEE_SCRIPT, 1_000_000, 10_000).toRaw());
}

beforeAll(async () => {
  node = await startBcoin();
  tmp = tempDir();
  db = openDb({ dir: tmp.path, network: "regtest", log });
  indexer = new Indexer(db, log, noopSyncMetrics, { indexUnspendables: false, batchBlocks: 10 });
  source = rpcSource({ rpc: node.rpc, log, blocksPerBatch: 7 });
}, T);

afterAll(async () => {
  indexer?.close();
  db?.close();
  await node?.close();
  tmp?.[Symbol.dispose]();
});

describe("indexing a live bcoin regtest node over RPC", () => {
  let spendTxid = "";

  test("initial sync of 101 blocks and a block with a spend", async () => {
    await node.mine(101);
    spendTxid = await spendCoinbase(1);
    await node.mine(1);
    const r = await indexer.update(source);
    expect(r).toMatchObject({ tipHeight: 102, blocksAdded: 103, blocksRemoved: 0 });
    expect(indexer.initialSyncDone).toBe(true);
    expect(indexer.reader.chainHashes().map(hashToHex)).toEqual(await nodeChain());
    expect(indexer.reader.tx(hexToHash(spendTxid))?.height).toBe(102);
    const history = indexer.reader.history(scriptKeyOf(hexToBytes(PAYEE_SCRIPT)));
    expect(history.map((r) => [hashToHex(r.txid), r.height, r.kind, r.valueSat])).toEqual([[spendTxid, 102, "funding", 1_000_000]]);
    expect(digestIndex(db)).toBe(await freshDigest());
  }, T);

  test("new blocks are appended; an unchanged tip is a no-op", async () => {
    await node.mine(3);
    expect(await indexer.update(source)).toMatchObject({ tipHeight: 105, blocksAdded: 3, blocksRemoved: 0 });
    expect(await indexer.update(source)).toMatchObject({ tipHeight: 105, blocksAdded: 0, blocksRemoved: 0 });
  }, T);

  test("a reorg by invalidateblock: the spend leaves, then re-confirms at another height", async () => {
    const at102 = await node.rpc.call<string>("getblockhash", [102]);
    await node.rpc.call("invalidateblock", [at102]);
    // The node now stands at 101; our index is on 105 until it asks.
    const back = await indexer.update(source);
    expect(back).toMatchObject({ tipHeight: 101, blocksRemoved: 4, blocksAdded: 0 });
    expect(indexer.reader.tx(hexToHash(spendTxid))).toBeNull();
    expect(indexer.reader.history(scriptKeyOf(hexToBytes(PAYEE_SCRIPT)))).toEqual([]);

    await node.mine(2); // empty blocks 102, 103
    await spendCoinbase(1); // the same tx again (same inputs and outputs: same txid)
    await node.mine(1); // 104
    const r = await indexer.update(source);
    expect(r).toMatchObject({ tipHeight: 104, blocksRemoved: 0, blocksAdded: 3 });
    expect(indexer.reader.tx(hexToHash(spendTxid))?.height).toBe(104);
    expect(indexer.reader.chainHashes().map(hashToHex)).toEqual(await nodeChain());
    expect(digestIndex(db)).toBe(await freshDigest());
  }, T);

  test("a deeper reorg straight to a longer branch, seen in one update", async () => {
    const at100 = await node.rpc.call<string>("getblockhash", [100]);
    await node.rpc.call("invalidateblock", [at100]);
    await node.mine(8); // 100 … 107 on a new branch
    const r = await indexer.update(source);
    expect(r).toMatchObject({ tipHeight: 107, blocksRemoved: 5, blocksAdded: 8 });
    expect(indexer.reader.tx(hexToHash(spendTxid))).toBeNull();
    expect(indexer.reader.chainHashes().map(hashToHex)).toEqual(await nodeChain());
    expect(digestIndex(db)).toBe(await freshDigest());
  }, T);

  test("a restart resumes from the stored tip", async () => {
    indexer.close();
    db.close();
    await node.mine(4);
    db = openDb({ dir: tmp.path, network: "regtest", log });
    indexer = new Indexer(db, log, noopSyncMetrics, { indexUnspendables: false });
    expect(indexer.chain.tipHeight).toBe(107);
    expect(indexer.initialSyncDone).toBe(true);
    expect(await indexer.update(source)).toMatchObject({ tipHeight: 111, blocksAdded: 4, blocksRemoved: 0 });
    expect(digestIndex(db)).toBe(await freshDigest());
  }, T);
});
