/**
 * The mempool against a real node (bcoin 1.0.2 on regtest, in process, RPC on 127.0.0.1) and a
 * real index over it (Indexer + rpcSource, in-memory SQLite), wired as the app wires them: the
 * chain side over the index's reader and tip, and confirmed txs dropped from the Indexer's commit
 * listener. Txs are signed bcoin MTXs spending mined coinbases.
 *
 * bcoin 1.0.2 cannot replace a mempool tx: even with its `replaceByFee` option (which only admits
 * BIP125-signalling txs) a conflicting spend is refused as "bad-txns-inputs-spent". A replacement is
 * therefore staged as the node would show it after a real one: the original is evicted from bcoin's
 * mempool (its own evictEntry) and the conflicting spend is then accepted. Real RBF races (both
 * spends seen at once) are covered with the scripted node in test/unit/mempool.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import bcoin, { type BcoinCoin, type BcoinTX } from "bcoin";
import { Transaction } from "bitcoinjs-lib";
import { hashToHex, hexToBytes, hexToHash } from "../../src/bitcoin/bytes.ts";
import { rpcSource, type ChainSource } from "../../src/daemon/sources.ts";
import { Indexer, noopSyncMetrics } from "../../src/index/sync.ts";
import { silentLogger } from "../../src/log.ts";
import { dropConfirmed, mempoolChainOf } from "../../src/mempool/follow.ts";
import { Mempool, noopMempoolMetrics } from "../../src/mempool/mempool.ts";
import { mempoolNodeOf } from "../../src/mempool/node.ts";
import { openDb, type Db } from "../../src/store/db.ts";
import { scriptKeyOf } from "../../src/store/rows.ts";
import { startBcoin, type BcoinNode } from "../helpers/bcoin-node.ts";

const T = 30_000;
const log = silentLogger();
const PAYEE = "0020" + "cd".repeat(32); // a P2WSH output nobody else pays
const PAYEE2 = "0014" + "ef".repeat(20);
let node: BcoinNode;
let db: Db;
let indexer: Indexer;
let source: ChainSource;
let mempool: Mempool;
/** The mempool's clock, moved by hand past the 10 s backlog TTL. */
const clock = { ms: 1_700_000_000_000 };

/** bcoin's mempool internals this test uses to stage a replacement (not in test/helpers/bcoin.d.ts). */
interface BcoinMempoolInternals {
  getEntry(hashHex: string): unknown;
  evictEntry(entry: unknown): void;
}

async function coinbaseCoin(height: number): Promise<BcoinCoin> {
  return bcoin.Coin.fromTX(await node.coinbaseTx(height), 0, height);
}


/** The node's own fee of a mempool tx (getrawmempool verbose, in BTC), in sats. */
async function nodeFees(): Promise<Map<string, number>> {
  const verbose = await node.rpc.call<Record<string, { fee: number }>>("getrawmempool", [true]);
  return new Map(Object.entries(verbose).map(([txid, e]) => [txid, Math.round(e.fee * 1e8)]));
}

const vsizeOf = (tx: BcoinTX) => Transaction.fromBuffer(tx.toRaw()).virtualSize();
const keyOf = (scriptHex: string) => scriptKeyOf(hexToBytes(scriptHex));

beforeAll(async () => {
  node = await startBcoin();
  db = openDb({ dir: ":memory:", network: "regtest", log });
  indexer = new Indexer(db, log, noopSyncMetrics, { indexUnspendables: false });
  source = rpcSource({ rpc: node.rpc, log });
  mempool = new Mempool({
    node: mempoolNodeOf(node.rpc),
    chain: mempoolChainOf(indexer.reader, () => indexer.chain.tipHash),
    log,
    metrics: noopMempoolMetrics(),
    indexUnspendables: false,
    now: () => clock.ms,
  });
  indexer.onCommit((from, to) => void dropConfirmed(mempool, indexer.reader, from, to));
}, T);

afterAll(async () => {
  indexer?.close();
  db?.close();
  await node?.close();
});

describe("the mempool over a live bcoin regtest node", () => {
  let tx1: BcoinTX;
  let tx2: BcoinTX;
  let tx3: BcoinTX;

  test("an empty mempool after the initial sync", async () => {
    await node.mine(110);
    await indexer.update(source);
    const r = await mempool.update();
    expect(r).toMatchObject({ status: "synced", addedTxidsHex: [], removedTxidsHex: [] });
    expect(mempool.synced).toBe(true);
    expect(mempool.size).toBe(0);
  }, T);

  test("txs spending coinbases and a mempool parent enter with the node's fees and their vsize", async () => {
    tx1 = node.spend(await coinbaseCoin(1), PAYEE, 1_000_000, 10_000);
    tx2 = node.spend(bcoin.Coin.fromTX(tx1, 1, -1), PAYEE2, 2_000_000, 20_000); // spends tx1's change
    tx3 = node.spend(await coinbaseCoin(2), PAYEE, 3_000_000, 5_000);
    for (const tx of [tx1, tx2, tx3]) await node.sendTx(tx.toRaw());

    clock.ms += 10_001; // the backlog computed by the first update is stale now
    const r = await mempool.update();
    expect(r.status).toBe("synced");
    expect([...r.addedTxidsHex].sort()).toEqual([tx1.txid(), tx2.txid(), tx3.txid()].sort());
    expect(r.addedTxidsHex.indexOf(tx1.txid())).toBeLessThan(r.addedTxidsHex.indexOf(tx2.txid()));
    expect(r.touchedScriptKeysHex.has(Buffer.from(keyOf(PAYEE)).toString("hex"))).toBe(true);

    const fees = await nodeFees();
    expect(fees.size).toBe(3);
    for (const [tx, fee] of [[tx1, 10_000], [tx2, 20_000], [tx3, 5_000]] as const) {
      const e = mempool.get(hexToHash(tx.txid()))!;
      expect(e.feeSat).toBe(fee);
      expect(e.feeSat).toBe(fees.get(tx.txid())!);
      expect(e.vsize).toBe(vsizeOf(tx));
    }
    expect(mempool.hasUnconfirmedParents(hexToHash(tx2.txid()))).toBe(true);
    expect(mempool.hasUnconfirmedParents(hexToHash(tx1.txid()))).toBe(false);
    expect(mempool.spendOf(hexToHash(tx1.txid()), 1)).toEqual({ txid: hexToHash(tx2.txid()), vin: 0 });
    expect(mempool.stats(keyOf(PAYEE))).toEqual({ txCount: 2, fundedTxoCount: 2, fundedTxoSum: 4_000_000, spentTxoCount: 0, spentTxoSum: 0 });
    const mining = keyOf(node.miningScriptHex);
    expect(mempool.utxos(mining).map((u) => [hashToHex(u.txid), u.vout]).sort()).toEqual(
      [[tx2.txid(), 1], [tx3.txid(), 1]].sort(),
    );
    expect(mempool.backlog()).toMatchObject({ count: 3, totalFeeSat: 35_000, vsize: vsizeOf(tx1) + vsizeOf(tx2) + vsizeOf(tx3) });
    expect(mempool.get(hexToHash(tx1.txid()))!.firstSeen).toBe(1_700_000_010);
  }, T);

  test("a broadcast tx is added at once by addTxids", async () => {
    const tx = node.spend(await coinbaseCoin(3), PAYEE2, 1_000_000, 7_000);
    const txid = await node.sendTx(tx.toRaw());
    const touched = await mempool.addTxids([txid]);
    expect(touched.has(Buffer.from(keyOf(PAYEE2)).toString("hex"))).toBe(true);
    expect(mempool.get(hexToHash(txid))?.feeSat).toBe(7_000);
    expect((await mempool.update()).addedTxidsHex).toEqual([]);
    expect(mempool.size).toBe(4);
  }, T);

  test("a mined block empties the mempool as soon as it is indexed", async () => {
    await node.mine(1);
    await indexer.update(source);
    // The commit listener dropped the confirmed txs before the mempool asked the node anything.
    expect(mempool.size).toBe(0);
    const r = await mempool.update();
    expect(r).toMatchObject({ status: "synced", addedTxidsHex: [], removedTxidsHex: [] });
    expect(mempool.history(keyOf(PAYEE))).toEqual([]);
    expect(indexer.reader.history(keyOf(PAYEE)).length).toBe(2);
  }, T);

  test("a child of a tx in an unindexed block waits for the index: tip-moved, then added", async () => {
    const parent = node.spend(await coinbaseCoin(4), PAYEE, 1_000_000, 10_000);
    await node.sendTx(parent.toRaw());
    await node.mine(1); // the node confirms the parent; our index has not seen that block
    const child = node.spend(bcoin.Coin.fromTX(parent, 1, -1), PAYEE2, 1_000_000, 10_000);
    await node.sendTx(child.toRaw());

    const r = await mempool.update();
    expect(r.status).toBe("tip-moved");
    expect(mempool.size).toBe(0);

    await indexer.update(source);
    const r2 = await mempool.update();
    expect(r2).toMatchObject({ status: "synced", addedTxidsHex: [child.txid()] });
    const change = Number(Transaction.fromBuffer(parent.toRaw()).outs[1]!.value);
    expect(mempool.get(hexToHash(child.txid()))!.prevouts[0]).toEqual({ scriptKey: keyOf(node.miningScriptHex), valueSat: change, confirmed: true });
    await node.mine(1);
    await indexer.update(source);
    expect(mempool.size).toBe(0);
  }, T);

  test("a replaced tx (evicted, then a conflicting spend accepted) leaves; the replacement enters", async () => {
    const coin = await coinbaseCoin(5);
    const original = node.spend(coin, PAYEE, 1_000_000, 10_000);
    await node.sendTx(original.toRaw());
    expect((await mempool.update()).addedTxidsHex).toEqual([original.txid()]);

    const pool = node.node.mempool as unknown as BcoinMempoolInternals;
    pool.evictEntry(pool.getEntry(Buffer.from(hexToHash(original.txid())).toString("hex")));
    const replacement = node.spend(coin, PAYEE2, 1_000_000, 50_000);
    await node.sendTx(replacement.toRaw());

    const r = await mempool.update();
    expect(r).toMatchObject({ status: "synced", addedTxidsHex: [replacement.txid()], removedTxidsHex: [original.txid()] });
    const coinTxid = Transaction.fromBuffer(original.toRaw()).ins[0]!.hash;
    expect(mempool.spendOf(coinTxid, 0)).toEqual({ txid: hexToHash(replacement.txid()), vin: 0 });
    expect(mempool.history(keyOf(PAYEE))).toEqual([]);
    expect(mempool.historyTxids(keyOf(PAYEE2))).toEqual([hexToHash(replacement.txid())]);
    expect(mempool.get(hexToHash(replacement.txid()))!.feeSat).toBe(50_000);
  }, T);
});
