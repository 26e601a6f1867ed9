/**
 * The REST API over a live node (bcoin 1.0.2 regtest, in this process) through the server process:
 * broadcasts (POST /tx, GET /broadcast) visible at once in every mempool view, rejected broadcasts
 * with the node's error text, confirmation by a new block, a replacement, removal by a conflicting
 * block, a reorg by invalidateblock, /health/ready, /fee-estimates, /txs/test.
 *
 * bcoin's `sendrawtransaction` answers before validating and drops a rejected tx silently, where
 * Core answers after the tx entered its mempool, or with an error (-26 rejected, -27 already in
 * the chain, -25 missing inputs). The server's contract is Core's, so beforeAll makes bcoin's
 * handler behave like Core's (coreLikeSendRawTransaction); bcoin's own parameter and decoding
 * errors are kept as they are.
 *
 * bcoin's regtest addresses are not Core's (`rb…`/`R…`), so scripts are queried by
 * `/scripthash/<sha256 of the output script, natural hex>`. The tests run in order and share the
 * node's chain; each waits for the server by polling with a deadline (the main loop polls the
 * node every --main-loop-delay 100 ms).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import bcoin, { type BcoinCoin, type BcoinTX } from "bcoin";
import { spawnApp, type AppProcess } from "../helpers/app-process.ts";
import { liveAppArgs, stopLiveApp } from "../helpers/live-app.ts";
import { startBcoin, type BcoinNode } from "../helpers/bcoin-node.ts";
import {
  RestClient,
  TTL_SHORT,
  merkleRootOfProof,
  parseMerkleBlock,
  pollUntil,
  restUrl,
  type EsploraBacklog,
  type EsploraBlock,
  type EsploraMerkleProof,
  type EsploraOutspend,
  type EsploraRecent,
  type EsploraScriptInfo,
  type EsploraStats,
  type EsploraStatus,
  type EsploraTx,
  type EsploraUtxo,
  type RestResponse,
} from "../helpers/rest-client.ts";
import { tempDir } from "../helpers/tmp.ts";

const T = 60_000;
const POLL_MS = 15_000;
const COIN_VALUE = 50 * 1e8;
const FEE = 10_000;
const ZERO: EsploraStats = { tx_count: 0, funded_txo_count: 0, spent_txo_count: 0, funded_txo_sum: 0, spent_txo_sum: 0 };

/** Unspendable P2WSH outputs that nobody else pays: one per scenario, so each script's history is ours alone. */
const payee = (n: number) => "0020" + n.toString(16).padStart(2, "0").repeat(32);
const sha256Hex = (hex: string) => new Bun.CryptoHasher("sha256").update(Buffer.from(hex, "hex")).digest("hex");

// The bits of bcoin used here beyond test/helpers/bcoin.d.ts (plain JavaScript, no typings).
interface BcoinMempoolExt {
  getEntry(hashHex: string): unknown;
  evictEntry(entry: unknown): void;
}
const internalHashHex = (tx: BcoinTX) => (tx as unknown as { hash(enc: "hex"): string }).hash("hex");
type RpcHandler = (this: unknown, args: unknown[], help: boolean) => Promise<unknown>;
interface BcoinRpcExt {
  calls: Record<string, RpcHandler>;
}
interface BcoinVerifyError {
  type?: string;
  reason?: string;
}

/** An error bcoin's RPC server answers with this code and message (it reads `type` and `code`). */
const rpcError = (code: number, message: string) => Object.assign(new Error(message), { type: "RPCError", code });

/** Replaces bcoin's sendrawtransaction by one that answers as Core does: after the tx entered the mempool, or with the refusal. */
function coreLikeSendRawTransaction(n: BcoinNode): void {
  const rpc = n.node.rpc as unknown as BcoinRpcExt;
  const original = rpc.calls.sendrawtransaction!;
  rpc.calls.sendrawtransaction = async function (this: unknown, args, help) {
    const hex = args[0];
    let tx: BcoinTX;
    try {
      if (typeof hex !== "string" || !/^([0-9a-fA-F]{2})+$/.test(hex)) throw new Error("not hex");
      tx = bcoin.TX.fromRaw(Buffer.from(hex, "hex"));
    } catch {
      return original.call(this, args, help); // bcoin's own errors for bad parameters and undecodable txs
    }
    let missing: string[] | null;
    try {
      missing = await n.node.mempool.addTX(tx);
    } catch (err) {
      const reason = (err as BcoinVerifyError).type === "VerifyError" ? (err as BcoinVerifyError).reason ?? "rejected" : String(err);
      if (reason === "txn-already-in-mempool") return tx.txid(); // Core: the txid again
      if (reason === "txn-already-known") throw rpcError(-27, "Transaction already in block chain");
      throw rpcError(-26, reason);
    }
    if (missing) throw rpcError(-25, "bad-txns-inputs-missingorspent");
    return tx.txid();
  };
}

let node: BcoinNode;
let tmp: ReturnType<typeof tempDir>;
let app: AppProcess;
let rest: RestClient;
let MINING_SH: string;
let exitCode: number | null = null;

/** Non-null once the server process has exited: its code and the end of its log. */
function serverGone(): string | null {
  if (exitCode === null) return null;
  return `the server exited with ${exitCode}:\n${app.lines.slice(-30).join("\n")}`;
}
const poll = <T>(what: string, probe: () => Promise<T | undefined>, everyMs = 50) => pollUntil(what, probe, POLL_MS, everyMs, serverGone);

interface Spend {
  tx: BcoinTX;
  hex: string;
  txid: string;
  vsize: number;
  /** The coinbase spent. */
  parent: string;
  payeeScript: string;
  payeeValue: number;
  change: number;
}

async function coinbase(height: number): Promise<{ coin: BcoinCoin; txid: string }> {
  const cb = await node.coinbaseTx(height);
  return { coin: bcoin.Coin.fromTX(cb, 0, height), txid: cb.txid() };
}

/** Spends the coinbase of block `height`: `payeeValue` to `payeeScript`, the change (minus `fee`) back to the mining address. */
async function spendCoinbase(height: number, payeeScript: string, payeeValue = 1_000_000, fee = FEE): Promise<Spend> {
  const { coin, txid: parent } = await coinbase(height);
  const change = coin.value - payeeValue - fee;
  const tx = node.spend(coin, payeeScript, payeeValue, fee);
  const raw = tx.toRaw();
  return { tx, hex: raw.toString("hex"), txid: tx.txid(), vsize: raw.length, parent, payeeScript, payeeValue, change };
}

/** A JSON-RPC call straight to bcoin, for its own error code and message. */
async function rawRpc(method: string, params: unknown[]): Promise<{ result: unknown; error: { code: number; message: string } | null }> {
  const res = await fetch(node.rpcUrl, {
    method: "POST",
    headers: { Authorization: "Basic " + btoa(`x:${node.apiKey}`), "Content-Type": "application/json" },
    body: JSON.stringify({ method, params, id: 1 }),
    signal: AbortSignal.timeout(10_000),
  });
  return (await res.json()) as { result: unknown; error: { code: number; message: string } | null };
}

async function bcoinMempool(): Promise<string[]> {
  return (await node.rpc.call<string[]>("getrawmempool", [false])).sort();
}


const txsOf = (r: RestResponse) => (r.json as EsploraTx[]).map((t) => t.txid);
const statusOf = async (txid: string) => (await rest.json<EsploraStatus>(`/tx/${txid}/status`));

async function untilConfirmed(txid: string): Promise<EsploraStatus> {
  return poll(`${txid} confirmed`, async () => {
    const s = await statusOf(txid);
    return s.confirmed ? s : undefined;
  });
}

async function untilTip(height: number): Promise<void> {
  await poll(`the server's tip at ${height}`, async () => ((await rest.get("/blocks/tip/height")).text === String(height) ? true : undefined));
}

/** The server's mempool equals bcoin's (as sets): its sync caught up with the node. */
async function untilMempoolMatchesNode(): Promise<string[]> {
  return poll("the server's mempool to equal bcoin's", async () => {
    const ours = (await rest.json<string[]>("/mempool/txids")).sort();
    const theirs = await bcoinMempool();
    return Bun.deepEquals(ours, theirs) ? ours : undefined;
  });
}

beforeAll(async () => {
  node = await startBcoin();
  coreLikeSendRawTransaction(node);
  MINING_SH = sha256Hex(node.miningScriptHex);
  await node.mine(110);
  tmp = tempDir();
  // /mempool's stats kept 1 s, not 10 (MP's --mempool-backlog-stats-ttl): the polls below wait less.
  app = spawnApp(liveAppArgs(node, tmp.path, ["--enable-mining-rest", "--mempool-backlog-stats-ttl", "1"]));
  void app.exited.then((code) => (exitCode = code));
  rest = new RestClient(await restUrl(app, T), 10_000);
  await untilTip(110);
}, T);

afterAll(async () => {
  await stopLiveApp(app, exitCode);
  await node?.close();
  tmp?.[Symbol.dispose]();
});

describe("the REST API over a live bcoin node", () => {
  let tx1: Spend; // POST /tx, confirmed at 111, then reorged out
  let tx2: Spend; // GET /broadcast
  let block111 = "";

  test("POST /tx: 200 with the txid, and the tx is at once in every mempool view", async () => {
    tx1 = await spendCoinbase(1, payee(1));
    const r = await rest.post("/tx", tx1.hex);
    expect(`${r.status} ${r.text}`).toBe(`200 ${tx1.txid}`);
    expect(r.contentType).toBe("text/plain");
    expect(r.cacheControl).toBe("public, max-age=0");
    // electrs' test: POST /tx of a tx already in the mempool answers 200 with its txid.
    const again = await rest.post("/tx", tx1.hex);
    expect(`${again.status} ${again.text}`).toBe(`200 ${tx1.txid}`);

    // At once: electrs adds a broadcast tx to its mempool before answering.
    const t = await rest.get(`/tx/${tx1.txid}`);
    expect(t.status).toBe(200);
    expect(t.cacheControl).toBe(`public, max-age=${TTL_SHORT}`);
    const tx = t.json as EsploraTx;
    expect(tx.status).toEqual({ confirmed: false });
    expect(tx.fee).toBe(FEE);
    expect(tx.vin[0]).toMatchObject({ txid: tx1.parent, vout: 0, is_coinbase: false, prevout: { value: COIN_VALUE, scriptpubkey: node.miningScriptHex } });
    expect(tx.vout.map((o) => [o.scriptpubkey, o.value])).toEqual([[tx1.payeeScript, tx1.payeeValue], [node.miningScriptHex, tx1.change]]);
    expect((await rest.get(`/tx/${tx1.txid}/status`)).text).toBe(`{"confirmed":false}`);
    expect(await rest.text(`/tx/${tx1.txid}/hex`)).toBe(tx1.hex);
    const proof = await rest.get(`/tx/${tx1.txid}/merkle-proof`);
    expect(`${proof.status} ${proof.text}`).toBe("404 Transaction not found or is unconfirmed");
    expect(await rest.json<EsploraOutspend[]>(`/tx/${tx1.txid}/outspends`)).toEqual([{ spent: false }, { spent: false }]);

    expect(await rest.json<string[]>("/mempool/txids")).toContain(tx1.txid);
    const recent = await rest.json<EsploraRecent[]>("/mempool/recent");
    expect(recent.find((x) => x.txid === tx1.txid)).toEqual({ txid: tx1.txid, fee: FEE, vsize: tx1.vsize, value: COIN_VALUE });

    // The payee's script: the tx in the mempool part of every route.
    const P1 = sha256Hex(tx1.payeeScript);
    expect(await rest.json<EsploraScriptInfo>(`/scripthash/${P1}`)).toEqual({
      chain_stats: ZERO,
      mempool_stats: { tx_count: 1, funded_txo_count: 1, spent_txo_count: 0, funded_txo_sum: tx1.payeeValue, spent_txo_sum: 0 },
      scripthash: P1,
    });
    expect(txsOf(await rest.get(`/scripthash/${P1}/txs/mempool`))).toEqual([tx1.txid]);
    expect(txsOf(await rest.get(`/scripthash/${P1}/txs`))).toEqual([tx1.txid]);
    expect(await rest.json<EsploraTx[]>(`/scripthash/${P1}/txs/chain`)).toEqual([]);
    expect(await rest.json<EsploraUtxo[]>(`/scripthash/${P1}/utxo`)).toEqual([{ txid: tx1.txid, vout: 0, status: { confirmed: false }, value: tx1.payeeValue }]);

    // The mining script: 110 coinbases in the chain, one spent and one change output in the mempool.
    const mining = await rest.json<EsploraScriptInfo>(`/scripthash/${MINING_SH}`);
    expect(mining.chain_stats).toEqual({ tx_count: 110, funded_txo_count: 110, spent_txo_count: 0, funded_txo_sum: 110 * COIN_VALUE, spent_txo_sum: 0 });
    expect(mining.mempool_stats).toEqual({ tx_count: 1, funded_txo_count: 1, spent_txo_count: 1, funded_txo_sum: tx1.change, spent_txo_sum: COIN_VALUE });
    const txs = (await rest.json<EsploraTx[]>(`/scripthash/${MINING_SH}/txs`));
    expect(txs[0]!.txid).toBe(tx1.txid); // the mempool first
    expect(txs[0]!.status).toEqual({ confirmed: false });
    expect(txs.slice(1).map((t) => t.status.block_height)).toEqual(Array.from({ length: 25 }, (_, i) => 110 - i));
    const utxos = await rest.json<EsploraUtxo[]>(`/scripthash/${MINING_SH}/utxo`);
    const keys = utxos.map((u) => `${u.txid}:${u.vout}`);
    expect(keys).not.toContain(`${tx1.parent}:0`); // spent in the mempool
    expect(utxos.find((u) => u.txid === tx1.txid)).toEqual({ txid: tx1.txid, vout: 1, status: { confirmed: false }, value: tx1.change });
    expect(utxos.length).toBe(110);

    // The coinbase's output: spent by the mempool tx.
    expect(await rest.json<EsploraOutspend>(`/tx/${tx1.parent}/outspend/0`)).toEqual({ spent: true, txid: tx1.txid, vin: 0, status: { confirmed: false } });
    expect((await rest.json<EsploraOutspend[]>(`/tx/${tx1.parent}/outspends`))[0]).toEqual({ spent: true, txid: tx1.txid, vin: 0, status: { confirmed: false } });

    // /mempool is recomputed at most every second here (--mempool-backlog-stats-ttl 1): poll.
    const backlog = await poll("/mempool to count the tx", async () => {
      const b = await rest.json<EsploraBacklog>("/mempool");
      return b.count >= 1 ? b : undefined;
    }, 250);
    expect(backlog.vsize).toBeGreaterThanOrEqual(tx1.vsize);
    expect(backlog.total_fee).toBeGreaterThanOrEqual(FEE);
    expect(Array.isArray(backlog.fee_histogram)).toBe(true);
    expect(Object.keys(backlog)).toEqual(["count", "vsize", "total_fee", "fee_histogram"]);
  }, T);

  test("GET /broadcast?tx=<hex> broadcasts too", async () => {
    tx2 = await spendCoinbase(2, payee(2));
    const r = await rest.get(`/broadcast?tx=${tx2.hex}`);
    expect(`${r.status} ${r.text}`).toBe(`200 ${tx2.txid}`);
    expect(r.cacheControl).toBe("public, max-age=0");
    expect((await rest.json<EsploraTx>(`/tx/${tx2.txid}`)).status).toEqual({ confirmed: false });
    expect(await bcoinMempool()).toContain(tx2.txid);
  }, T);

  test("rejected broadcasts: 400 with the node's `sendrawtransaction RPC error <code>: <message>`", async () => {
    for (const bad of ["zz", "00", "0100"]) {
      const direct = await rawRpc("sendrawtransaction", [bad]);
      expect(direct.error).not.toBeNull();
      const expected = `sendrawtransaction RPC error ${direct.error!.code}: ${direct.error!.message}`;
      const post = await rest.post("/tx", bad);
      expect(`${post.status} ${post.text}`).toBe(`400 ${expected}`);
      expect(post.contentType).toBe("text/plain");
      const get = await rest.get(`/broadcast?tx=${bad}`);
      expect(`${get.status} ${get.text}`).toBe(`400 ${expected}`);
    }

    // A double spend of tx1's coin, and a tx spending an output that does not exist.
    const double = await spendCoinbase(1, payee(99), 2_000_000);
    const orphan = bcoin.TX.fromRaw(Buffer.from(double.hex.replace(tx1.parent.match(/../g)!.reverse().join(""), "ab".repeat(32)), "hex"));
    for (const bad of [double.hex, orphan.toRaw().toString("hex")]) {
      const r = await rest.post("/tx", bad);
      expect(r.status).toBe(400);
      expect(r.text).toMatch(/^sendrawtransaction RPC error -2[56]: .+/);
      expect(r.cacheControl).toBeNull();
    }
    expect(await bcoinMempool()).not.toContain(double.txid);
    const gone = await rest.get(`/tx/${double.txid}`);
    expect(`${gone.status} ${gone.text}`).toBe("404 Transaction not found");
    expect(await rest.json<string[]>("/mempool/txids")).not.toContain(double.txid);
    expect(await rest.json<EsploraTx[]>(`/scripthash/${sha256Hex(payee(99))}/txs`)).toEqual([]);
    expect(await rest.json<EsploraOutspend>(`/tx/${tx1.parent}/outspend/0`)).toEqual({ spent: true, txid: tx1.txid, vin: 0, status: { confirmed: false } });
  }, T);

  test("a new block: the txs confirm at its height and leave the mempool views", async () => {
    block111 = (await node.mine(1))[0]!;
    const header = await node.rpc.call<{ time: number }>("getblockheader", [block111, true]);
    const status = await untilConfirmed(tx1.txid);
    expect(status).toEqual({ confirmed: true, block_height: 111, block_hash: block111, block_time: header.time });
    await untilTip(111);
    expect(await statusOf(tx2.txid)).toEqual(status);
    // The whole tx confirmed too (its mempool answer was not kept by the cache of confirmed txs'
    // JSON); this answer is kept, and the reorg below must drop it.
    for (let i = 0; i < 2; i++) expect((await rest.json<EsploraTx>(`/tx/${tx1.txid}`)).status).toEqual(status);
    expect((await rest.json<EsploraTx[]>(`/block/${block111}/txs`)).map((t) => [t.txid, t.status])).toContainEqual([tx1.txid, status]);
    const mempool = await untilMempoolMatchesNode();
    expect(mempool).not.toContain(tx1.txid);
    expect(mempool).not.toContain(tx2.txid);

    const P1 = sha256Hex(tx1.payeeScript);
    const info = await rest.json<EsploraScriptInfo>(`/scripthash/${P1}`);
    expect(info.mempool_stats).toEqual(ZERO);
    expect(info.chain_stats).toEqual({ tx_count: 1, funded_txo_count: 1, spent_txo_count: 0, funded_txo_sum: tx1.payeeValue, spent_txo_sum: 0 });
    const txs = await rest.json<EsploraTx[]>(`/scripthash/${P1}/txs`);
    expect(txs.map((t) => [t.txid, t.status])).toEqual([[tx1.txid, status]]);
    expect(await rest.json<EsploraTx[]>(`/scripthash/${P1}/txs/mempool`)).toEqual([]);
    expect(await rest.json<EsploraUtxo[]>(`/scripthash/${P1}/utxo`)).toEqual([{ txid: tx1.txid, vout: 0, status, value: tx1.payeeValue }]);
    expect(await rest.json<EsploraOutspend>(`/tx/${tx1.parent}/outspend/0`)).toEqual({ spent: true, txid: tx1.txid, vin: 0, status });

    // Now it has a merkle proof to the block's root.
    const block = await rest.json<EsploraBlock>(`/block/${block111}`);
    const proof = await rest.json<EsploraMerkleProof>(`/tx/${tx1.txid}/merkle-proof`);
    expect(proof.block_height).toBe(111);
    expect(merkleRootOfProof(tx1.txid, proof.merkle, proof.pos)).toBe(block.merkle_root);
    expect(block.tx_count).toBe(3); // coinbase, tx1, tx2
    // electrs' test: broadcasting a confirmed tx is the node's -27.
    const confirmed = await rest.post("/tx", tx1.hex);
    expect(`${confirmed.status} ${confirmed.text}`).toBe("400 sendrawtransaction RPC error -27: Transaction already in block chain");

    // The backlog follows within its cache (1 s here).
    const pending = (await bcoinMempool()).length;
    await poll("/mempool to drop the confirmed txs", async () => ((await rest.json<EsploraBacklog>("/mempool")).count === pending ? true : undefined), 250);
  }, T);

  test("a replacement (bcoin 1.0.2 has no RBF: the node evicts the first tx, then takes the second): the old one is gone, the new one listed", async () => {
    const first = await spendCoinbase(3, payee(3));
    expect(`${(await rest.post("/tx", first.hex)).status}`).toBe("200");
    await poll("the first tx", async () => ((await rest.get(`/tx/${first.txid}`)).status === 200 ? true : undefined));
    // Its replacement pays another script with a higher fee. bcoin refuses it while the first is there.
    const second = await spendCoinbase(3, payee(4), 900_000, 3 * FEE);
    await expect(node.sendTx(second.hex)).rejects.toThrow();
    const mempool = node.node.mempool as unknown as BcoinMempoolExt;
    mempool.evictEntry(mempool.getEntry(internalHashHex(first.tx)));
    await node.sendTx(second.hex);

    const txids = await untilMempoolMatchesNode();
    expect(txids).toContain(second.txid);
    expect(txids).not.toContain(first.txid);
    const gone = await rest.get(`/tx/${first.txid}`);
    expect(`${gone.status} ${gone.text}`).toBe("404 Transaction not found");
    expect((await rest.get(`/tx/${first.txid}/status`)).text).toBe(`{"confirmed":false}`);
    expect((await rest.json<EsploraTx>(`/tx/${second.txid}`)).status).toEqual({ confirmed: false });
    expect(await rest.json<EsploraOutspend>(`/tx/${first.parent}/outspend/0`)).toEqual({ spent: true, txid: second.txid, vin: 0, status: { confirmed: false } });
    expect(await rest.json<EsploraTx[]>(`/scripthash/${sha256Hex(payee(3))}/txs`)).toEqual([]);
    expect((await rest.json<EsploraScriptInfo>(`/scripthash/${sha256Hex(payee(3))}`)).mempool_stats).toEqual(ZERO);
    expect(txsOf(await rest.get(`/scripthash/${sha256Hex(payee(4))}/txs/mempool`))).toEqual([second.txid]);
    const utxos = (await rest.json<EsploraUtxo[]>(`/scripthash/${MINING_SH}/utxo`)).map((u) => `${u.txid}:${u.vout}`);
    expect(utxos).toContain(`${second.txid}:1`);
    expect(utxos).not.toContain(`${first.txid}:1`);
    const mine = await rest.json<EsploraTx[]>(`/scripthash/${MINING_SH}/txs/mempool`);
    expect(mine.map((t) => t.txid)).not.toContain(first.txid);
  }, T);

  test("removal by a conflicting block: the mempool tx disappears from every mempool answer", async () => {
    const inMempool = await spendCoinbase(4, payee(5));
    await node.sendTx(inMempool.hex);
    await poll("the mempool tx", async () => ((await rest.get(`/tx/${inMempool.txid}`)).status === 200 ? true : undefined));
    const conflicting = await spendCoinbase(4, payee(6), 800_000);
    const hash = await node.mineBlockWith([conflicting.tx]);
    expect(await bcoinMempool()).not.toContain(inMempool.txid); // bcoin dropped the double spend

    const status = await untilConfirmed(conflicting.txid);
    expect(status).toMatchObject({ confirmed: true, block_height: 112, block_hash: hash });
    await untilMempoolMatchesNode();
    const gone = await rest.get(`/tx/${inMempool.txid}`);
    expect(`${gone.status} ${gone.text}`).toBe("404 Transaction not found");
    expect(await rest.json<string[]>("/mempool/txids")).not.toContain(inMempool.txid);
    const P5 = sha256Hex(payee(5));
    expect(await rest.json<EsploraTx[]>(`/scripthash/${P5}/txs`)).toEqual([]);
    expect(await rest.json<EsploraTx[]>(`/scripthash/${P5}/txs/mempool`)).toEqual([]);
    expect(await rest.json<EsploraUtxo[]>(`/scripthash/${P5}/utxo`)).toEqual([]);
    expect((await rest.json<EsploraScriptInfo>(`/scripthash/${P5}`)).mempool_stats).toEqual(ZERO);
    expect(await rest.json<EsploraOutspend>(`/tx/${inMempool.parent}/outspend/0`)).toEqual({ spent: true, txid: conflicting.txid, vin: 0, status });
    const utxos = (await rest.json<EsploraUtxo[]>(`/scripthash/${MINING_SH}/utxo`)).map((u) => `${u.txid}:${u.vout}`);
    expect(utxos).not.toContain(`${inMempool.txid}:1`);
    expect(utxos).toContain(`${conflicting.txid}:1`);
    expect((await rest.json<EsploraTx[]>(`/scripthash/${MINING_SH}/txs/mempool`)).map((t) => t.txid)).not.toContain(inMempool.txid);
  }, T);

  test("a reorg (invalidateblock of tx1's block): the tx returns to the mempool, never shows at a stale block, confirms again in the new branch", async () => {
    await node.rpc.call("invalidateblock", [block111]);
    // bcoin rewinds to 110 and forgets 111 and 112; its mempool is reset (emptied), not refilled.
    expect(node.node.chain.height).toBe(110);
    const nodeMempool = await bcoinMempool();
    await untilTip(110);
    const ours = await untilMempoolMatchesNode();
    expect(ours).toEqual(nodeMempool);

    const back = nodeMempool.includes(tx1.txid);
    // Not the answer kept while it was confirmed at 111 (the app empties the cache on a reorg).
    const t = await rest.get(`/tx/${tx1.txid}`);
    if (back) {
      expect(t.status).toBe(200);
      expect((t.json as EsploraTx).status).toEqual({ confirmed: false });
    } else {
      expect(`${t.status} ${t.text}`).toBe("404 Transaction not found");
    }
    expect((await rest.get(`/tx/${tx1.txid}/status`)).text).toBe(`{"confirmed":false}`);
    const proof = await rest.get(`/tx/${tx1.txid}/merkle-proof`);
    expect(`${proof.status} ${proof.text}`).toBe("404 Transaction not found or is unconfirmed");
    const stale = await rest.get(`/block/${block111}`);
    expect(`${stale.status} ${stale.text}`).toBe("404 Block not found");
    expect(await rest.json<unknown>(`/block/${block111}/status`)).toEqual({ in_best_chain: false, height: null, next_best: null });
    const P1 = sha256Hex(tx1.payeeScript);
    expect((await rest.json<EsploraScriptInfo>(`/scripthash/${P1}`)).chain_stats).toEqual(ZERO);
    const history = await rest.json<EsploraTx[]>(`/scripthash/${P1}/txs`);
    expect(history.filter((x) => x.status.confirmed)).toEqual([]);
    expect((await rest.json<EsploraOutspend>(`/tx/${tx1.parent}/outspend/0`)).status?.confirmed ?? false).toBe(false);

    // Core puts the txs of disconnected blocks back into its mempool; bcoin 1.0.2 drops them, so
    // the test does what Core would: tx1 returns to the node's mempool, and so to ours, unconfirmed.
    if (!back) await node.sendTx(tx1.hex);
    await untilMempoolMatchesNode();
    const returned = await rest.get(`/tx/${tx1.txid}`);
    expect(returned.status).toBe(200);
    expect((returned.json as EsploraTx).status).toEqual({ confirmed: false });
    expect((await rest.json<string[]>("/mempool/txids")).includes(tx1.txid)).toBe(true);
    expect((await rest.json<EsploraTx[]>(`/scripthash/${P1}/txs/mempool`)).map((x) => x.txid)).toEqual([tx1.txid]);

    // A new branch: the next block confirms tx1 again, at a new block of the same height.
    const [at111] = await node.mine(1);
    const header = await node.rpc.call<{ time: number }>("getblockheader", [at111, true]);
    await untilTip(111);
    const again = await untilConfirmed(tx1.txid);
    expect(at111).not.toBe(block111);
    expect(again).toEqual({ confirmed: true, block_height: 111, block_hash: at111, block_time: header.time });
    expect((await rest.json<EsploraTx[]>(`/scripthash/${P1}/txs`)).map((x) => [x.txid, x.status])).toEqual([[tx1.txid, again]]);
    expect((await rest.json<string[]>("/mempool/txids")).includes(tx1.txid)).toBe(false);
    expect((await rest.json<EsploraBlock>(`/block/${at111}`)).height).toBe(111);
    await untilMempoolMatchesNode();
  }, T);

  test("/health/ready, /fee-estimates", async () => {
    const h = await rest.get("/health/ready");
    expect(`${h.status} ${h.text}`).toBe(`200 {"chain_synced":true,"mempool_synced":true}`);
    expect(h.contentType).toBe("application/json");
    expect(h.cacheControl).toBe("no-cache");
    const f = await rest.get("/fee-estimates");
    expect(f.status).toBe(200);
    expect(f.contentType).toBe("application/json");
    const estimates = f.json as Record<string, unknown>;
    expect(typeof estimates === "object" && estimates !== null && !Array.isArray(estimates)).toBe(true);
    for (const [k, v] of Object.entries(estimates)) {
      expect(k).toMatch(/^\d+$/);
      expect(typeof v).toBe("number");
    }
  }, T);

  test("POST /txs/test and /txs/package: the node's answer, or its error (bcoin 1.0.2 has neither method)", async () => {
    const candidate = await spendCoinbase(5, payee(7));
    for (const [route, method, params] of [
      ["/txs/test", "testmempoolaccept", [[candidate.hex]]],
      ["/txs/package", "submitpackage", [[candidate.hex]]],
    ] as const) {
      const direct = await rawRpc(method, [...params]);
      const r = await rest.post(route, JSON.stringify([candidate.hex]));
      if (direct.error) {
        expect(`${r.status} ${r.text}`).toBe(`400 ${method} RPC error ${direct.error.code}: ${direct.error.message}`);
      } else {
        expect(r.status).toBe(200);
        expect(r.json).toEqual(direct.result);
      }
    }
    // Nothing was broadcast.
    expect(await bcoinMempool()).not.toContain(candidate.txid);
    expect(await rest.json<string[]>("/mempool/txids")).not.toContain(candidate.txid);
  }, T);

  test("electrs' tests/rest.rs checks against the node: the tip, a block of 2 txs, an address with a confirmed and a mempool tx, mempool counts", async () => {
    const P = payee(8);
    const PSH = sha256Hex(P);
    await untilMempoolMatchesNode();
    expect(await bcoinMempool()).toEqual([]);
    const a = await spendCoinbase(6, P, 119_123_000);
    expect((await rest.post("/tx", a.hex)).status).toBe(200);
    const hash = (await node.mine(1))[0]!;
    const height = node.node.chain.height;
    await untilTip(height);
    await untilConfirmed(a.txid);

    // The tip and heights match the node.
    expect(await rest.text("/blocks/tip/hash")).toBe(await node.rpc.call<string>("getbestblockhash"));
    expect(await rest.text("/blocks/tip/height")).toBe(String(height));
    expect(await rest.text(`/block-height/${height}`)).toBe(hash);
    const blocks = await rest.json<EsploraBlock[]>("/blocks");
    expect(blocks.length).toBe(10);
    expect(blocks[0]!.id).toBe(hash);
    blocks.slice(0, -1).forEach((b, i) => expect(b.previousblockhash).toBe(blocks[i + 1]!.id));
    expect(blocks.map((b) => b.height)).toEqual(Array.from({ length: 10 }, (_, i) => height - i));

    // The block: 2 txs, the coinbase first, ours at index 1; raw and header as the node has them.
    const block = await rest.json<EsploraBlock>(`/block/${hash}`);
    expect(block.tx_count).toBe(2);
    expect(typeof block.bits).toBe("number");
    expect(typeof block.difficulty).toBe("number");
    const btxs = await rest.json<EsploraTx[]>(`/block/${hash}/txs`);
    expect(btxs[0]!.vin[0]!.is_coinbase).toBe(true);
    expect(btxs[0]!.vin[0]!.prevout).toBeNull();
    expect(btxs[0]!.fee).toBe(0);
    expect(btxs[1]!.txid).toBe(a.txid);
    expect(await rest.text(`/block/${hash}/txid/1`)).toBe(a.txid);
    const txids = await rest.json<string[]>(`/block/${hash}/txids`);
    expect(txids).toEqual(btxs.map((t) => t.txid));
    const raw = await rest.get(`/block/${hash}/raw`);
    expect(raw.contentType).toBe("application/octet-stream");
    expect(Buffer.from(raw.bytes).toString("hex")).toBe(await node.rpc.call<string>("getblock", [hash, 0]));
    expect(await rest.text(`/block/${hash}/header`)).toBe(await node.rpc.call<string>("getblockheader", [hash, false]));
    expect(await rest.json<unknown>(`/block/${hash}/status`)).toEqual({ in_best_chain: true, height, next_best: null });
    expect(await rest.json<unknown>(`/block/${blocks[1]!.id}/status`)).toEqual({ in_best_chain: true, height: height - 1, next_best: hash });
    const invalid = await rest.get("/block/invalid_hash/txs/0");
    expect(`${invalid.status} ${invalid.text}`).toBe("400 Invalid hex string");
    const unknown = await rest.get(`/block/${"00".repeat(31)}01/txs/0`);
    expect(`${unknown.status} ${unknown.text}`).toBe("404 Block not found");
    const notMultiple = await rest.get(`/block/${hash}/txs/1`);
    expect(notMultiple.status).toBe(400);
    expect(notMultiple.text).toMatch(/^start index must be a (multiple|multipication) of 25$/);
    const past = await rest.get(`/block/${hash}/txs/25`);
    expect([400, 404]).toContain(past.status);
    expect(past.text).toBe("start index out of range");
    const mb = parseMerkleBlock(await rest.text(`/tx/${a.txid}/merkleblock-proof`));
    expect(mb).toMatchObject({ blockHash: hash, totalTxs: 2, matches: [{ txid: a.txid, pos: 1 }] });
    expect(mb.computedRoot).toBe(block.merkle_root);

    // An address with one confirmed and one mempool tx.
    const b = await spendCoinbase(7, P, 71_130_000);
    expect((await rest.post("/tx", b.hex)).status).toBe(200);
    const info = await rest.json<EsploraScriptInfo>(`/scripthash/${PSH}`);
    expect(info.chain_stats).toMatchObject({ tx_count: 1, funded_txo_count: 1, funded_txo_sum: 119_123_000 });
    expect(info.mempool_stats).toMatchObject({ tx_count: 1, funded_txo_count: 1, funded_txo_sum: 71_130_000 });
    const history = await rest.json<EsploraTx[]>(`/scripthash/${PSH}/txs`);
    expect(history.map((t) => [t.txid, t.status.confirmed, t.status.block_height])).toEqual([[b.txid, false, undefined], [a.txid, true, height]]);
    const tx = await rest.json<EsploraTx>(`/tx/${a.txid}`);
    expect(tx.vout.find((o) => o.value === 119_123_000)?.scriptpubkey).toBe(P);
    expect(tx.status.block_height).toBe(height);
    expect((await rest.get(`/tx/${b.txid}/status`)).text).toBe(`{"confirmed":false}`);

    // Mempool counts: 1 then 2 txids; /mempool follows within its cache (1 s here); all 0 after a block.
    expect((await rest.json<string[]>("/mempool/txids")).length).toBe(1);
    const c = await spendCoinbase(8, payee(10));
    expect((await rest.post("/tx", c.hex)).status).toBe(200);
    expect((await rest.json<string[]>("/mempool/txids")).sort()).toEqual([b.txid, c.txid].sort());
    const two = await poll("/mempool to count 2", async () => {
      const m = await rest.json<EsploraBacklog>("/mempool");
      return m.count === 2 ? m : undefined;
    }, 250);
    expect(two.vsize).toBe(b.vsize + c.vsize);
    expect(two.total_fee).toBe(2 * FEE);
    expect(two.fee_histogram.reduce((sum, [, vsize]) => sum + vsize, 0)).toBe(two.vsize);
    const recent = await rest.json<EsploraRecent[]>("/mempool/recent");
    expect(recent.slice(0, 2).map((r) => r.txid)).toEqual([c.txid, b.txid]); // newest first

    await node.mine(1);
    await untilTip(height + 1);
    expect(await rest.json<string[]>("/mempool/txids")).toEqual([]);
    const zero = await poll("/mempool to count 0", async () => {
      const m = await rest.json<EsploraBacklog>("/mempool");
      return m.count === 0 ? m : undefined;
    }, 250);
    expect(zero).toEqual({ count: 0, vsize: 0, total_fee: 0, fee_histogram: [] });
    expect(await rest.text("/blocks/tip/hash")).toBe(await node.rpc.call<string>("getbestblockhash"));
  }, T);

  test("GET /block-template (--enable-mining-rest): the node's template, no-store, kept until the next block", async () => {
    const pendingTx = await spendCoinbase(9, payee(11));
    expect((await rest.post("/tx", pendingTx.hex)).status).toBe(200);
    await untilMempoolMatchesNode();
    const tip = await rest.text("/blocks/tip/hash");
    const first = await rest.get("/block-template");
    expect(first.status).toBe(200);
    expect(first.contentType).toBe("application/json");
    expect(first.cacheControl).toBe("no-store");
    const template = first.json as { previousblockhash: string; height: number; transactions: { txid: string }[] };
    expect(template.previousblockhash).toBe(tip);
    expect(template.height).toBe(node.node.chain.height + 1);
    expect(template.transactions.map((t) => t.txid)).toContain(pendingTx.txid);
    // The same answer again (kept: bcoin's own template would carry a new curtime).
    expect((await rest.get("/block-template")).text).toBe(first.text);
    // A new block makes it stale at once.
    await node.mine(1);
    const height = node.node.chain.height;
    await untilTip(height);
    const next = (await rest.json<{ previousblockhash: string; height: number; transactions: { txid: string }[] }>("/block-template"));
    expect(next.previousblockhash).toBe(await node.rpc.call<string>("getbestblockhash"));
    expect(next.height).toBe(height + 1);
    expect(next.transactions.map((t) => t.txid)).not.toContain(pendingTx.txid);
  }, T);
});
