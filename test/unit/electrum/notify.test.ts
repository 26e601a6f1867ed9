/** Notifications after index and mempool updates, over a real TCP connection. */
import { afterEach, describe, expect, test } from "bun:test";
import { bytesToHex, hexToBytes } from "../../../src/bitcoin/bytes.ts";
import { scriptKeyOf } from "../../../src/store/rows.ts";
import { scriptKeysOfBlocks } from "../../helpers/index-check.ts";
import { PendingElectrumUpdate } from "../../../src/electrum/pending-update.ts";
import { silentLogger } from "../../../src/log.ts";
import { updateMempool } from "../../../src/mempool/follow.ts";
import { buildTx, expected, LineClient, openFixture, startServer, type Fixture, type Started } from "./harness.ts";

const H = 131;
let fx: Fixture | null = null;
let srv: Started | null = null;
afterEach(async () => {
  await srv?.server.stop();
  fx?.close();
  srv = null;
  fx = null;
});

/** Electrum's scripthash of a script: sha256, reversed hex. */
function electrumHash(scriptHex: string): string {
  const h = new Bun.CryptoHasher("sha256").update(hexToBytes(scriptHex)).digest();
  return Buffer.from(h).reverse().toString("hex");
}
const status = (s: string) => new Bun.CryptoHasher("sha256").update(s).digest("hex");
const FRESH_SCRIPT = "0014" + "11".repeat(20);

/** A tx confirmed above H whose inputs all confirmed at or below H (so the mempool can resolve it at H). */
function txConfirmingAbove(): { txid: string; hex: string; height: number } {
  for (const [txid, t] of Object.entries(expected.txs)) {
    if (t.height <= H + 1 || t.pos === 0) continue;
    const ok = expected.scripts.every((s) => s.spent.every((sp) => sp.spending_txid !== txid || expected.txs[sp.txid]!.height <= H));
    if (ok) return { txid, hex: t.hex, height: t.height };
  }
  throw new Error("no suitable tx in the fixture");
}

describe("notifications", () => {
  test("scripthash: a mempool change notifies; an unchanged status sends nothing; unsubscribe stops it", async () => {
    fx = await openFixture();
    srv = startServer(fx);
    const c = await LineClient.connect(srv.server.port);
    const other = await LineClient.connect(srv.server.port);
    const sh = electrumHash(FRESH_SCRIPT);
    expect(await c.result("blockchain.scripthash.subscribe", [sh])).toBeNull();
    const utxo = expected.scripts.find((s) => s.utxos.length > 0)!.utxos[0]!;
    const tx = buildTx({ inputs: [{ txidHex: utxo.txid, vout: utxo.vout }], outputs: [{ scriptHex: FRESH_SCRIPT, value: utxo.value - 1000 }] });
    fx.node.add(tx.raw, tx.txidHex);
    const r = await fx.mempool.update();
    expect(r.touchedScriptKeysHex.has(bytesToHex(scriptKeyOf(hexToBytes(FRESH_SCRIPT))))).toBe(true);
    srv.server.notify({ touchedScriptKeysHex: r.touchedScriptKeysHex });
    const n = await c.next();
    expect(n).toEqual({ jsonrpc: "2.0", method: "blockchain.scripthash.subscribe", params: [sh, status(`${tx.txidHex}:0:`)] });
    expect(await c.result("blockchain.scripthash.get_mempool", [sh])).toEqual([{ tx_hash: tx.txidHex, height: 0, fee: 1000 }]);
    // The same update again: status unchanged → no line.
    srv.server.notify({ touchedScriptKeysHex: r.touchedScriptKeysHex });
    await c.expectQuiet();
    await other.expectQuiet();
    expect(await c.result("blockchain.scripthash.unsubscribe", [sh])).toBe(true);
    fx.node.txs.clear();
    const r2 = await fx.mempool.update();
    srv.server.notify({ touchedScriptKeysHex: r2.touchedScriptKeysHex });
    await c.expectQuiet();
    c.close();
    other.close();
  });

  test("new blocks: header notification, and a mempool child whose parent confirms goes from -1 to 0", async () => {
    fx = await openFixture({ maxHeight: H });
    srv = startServer(fx);
    const c = await LineClient.connect(srv.server.port);
    await c.result("server.version", ["t", "1.6"]);
    expect(await c.result("blockchain.headers.subscribe")).toEqual({ height: H, hex: expected.blocks[H]!.header });
    const parent = txConfirmingAbove();
    fx.node.add(hexToBytes(parent.hex), parent.txid);
    const child = buildTx({ inputs: [{ txidHex: parent.txid, vout: 0 }], outputs: [{ scriptHex: FRESH_SCRIPT, value: 1000 }] });
    fx.node.add(child.raw, child.txidHex);
    await fx.mempool.update();
    const sh = electrumHash(FRESH_SCRIPT);
    expect(await c.result("blockchain.scripthash.subscribe", [sh])).toBe(status(`${child.txidHex}:-1:`));

    const indexed = await fx.indexToTip();
    fx.node.txs.delete(parent.txid);
    // What the indexer collected while indexing the blocks is what they fund and spend from, read back from the store.
    const touched = indexed.touchedScriptKeysHex;
    expect([...touched].sort()).toEqual([...scriptKeysOfBlocks(fx.indexer.reader, H + 1, expected.tip.height)].sort());
    expect(touched.size).toBeGreaterThan(10);
    expect(touched.has(bytesToHex(scriptKeyOf(hexToBytes(FRESH_SCRIPT))))).toBe(false);
    const r = await fx.mempool.update();
    srv.server.notify({ newTip: true, touchedScriptKeysHex: new Set([...touched, ...r.touchedScriptKeysHex]) });
    const lines = [await c.next(), await c.next()];
    expect(lines[0]).toEqual({ jsonrpc: "2.0", method: "blockchain.headers.subscribe", params: [{ height: expected.tip.height, hex: expected.blocks[expected.tip.height]!.header }] });
    expect(lines[1]).toEqual({ jsonrpc: "2.0", method: "blockchain.scripthash.subscribe", params: [sh, status(`${child.txidHex}:0:`)] });
    // Same tip again: nothing.
    srv.server.notify({ newTip: true, touchedScriptKeysHex: new Set() });
    await c.expectQuiet();
    c.close();
  });

  test("blocks indexed by a mempool update's catch-up (the node's tip moved) are notified too", async () => {
    fx = await openFixture({ maxHeight: H });
    srv = startServer(fx);
    const c = await LineClient.connect(srv.server.port);
    await c.result("server.version", ["t", "1.6"]);
    await c.result("blockchain.headers.subscribe");
    // A script whose history grows above H.
    const script = expected.scripts.find((s) => s.history.some((h) => h.height <= H) && s.history.some((h) => h.height > H))!;
    const before = await c.result("blockchain.scripthash.subscribe", [script.electrum_scripthash]);

    // One main-loop turn, as src/app.ts runs it: the index finds nothing new; then the node is
    // ahead when the mempool asks, so the mempool update's catch-up indexes the blocks.
    const pending = new PendingElectrumUpdate();
    pending.record({ blocksAdded: 0, blocksRemoved: 0, touchedScriptKeysHex: new Set() });
    fx.node.tipOverrideHex = expected.tip.hash;
    // The tip is compared when the mempool fetches new txs (electrs' rule): one new tx, spending an output unspent at both tips.
    const utxo = expected.scripts.flatMap((s) => s.utxos).find((u) => u.height <= H)!;
    const tx = buildTx({ inputs: [{ txidHex: utxo.txid, vout: utxo.vout }], outputs: [{ scriptHex: FRESH_SCRIPT, value: utxo.value - 1000 }] });
    fx.node.add(tx.raw, tx.txidHex);
    let catchUps = 0;
    const r = await updateMempool(fx.mempool, async () => {
      catchUps++;
      pending.record(await fx!.indexToTip());
    }, silentLogger());
    expect(catchUps).toBe(1);
    expect(r.status).toBe("synced");
    srv.server.notify(pending.take(r.touchedScriptKeysHex));

    const lines = [await c.next(), await c.next()];
    expect(lines[0]).toEqual({ jsonrpc: "2.0", method: "blockchain.headers.subscribe", params: [{ height: expected.tip.height, hex: expected.blocks[expected.tip.height]!.header }] });
    expect(lines[1]).toEqual({ jsonrpc: "2.0", method: "blockchain.scripthash.subscribe", params: [script.electrum_scripthash, script.electrum_status] });
    expect(script.electrum_status).not.toBe(before);
    // Taken once: the next turn has nothing to say.
    srv.server.notify(pending.take(new Set()));
    await c.expectQuiet();
    c.close();
  });

  test("subscriptions end with the connection", async () => {
    fx = await openFixture();
    srv = startServer(fx);
    const c = await LineClient.connect(srv.server.port);
    await c.result("blockchain.scripthash.subscribe", [expected.scripts[0]!.electrum_scripthash]);
    expect(srv.server.clientCount).toBe(1);
    c.close();
    await c.closedPromise;
    // Bounded poll for the server's close event (there is no event to await from outside the server).
    for (let i = 0; i < 2000 && srv.server.clientCount > 0; i++) await Bun.sleep(1);
    expect(srv.server.clientCount).toBe(0);
    const probe = await LineClient.connect(srv.server.port);
    await probe.expectQuiet();
    srv.server.notify({ newTip: true, touchedScriptKeysHex: new Set() });
    probe.close();
  });
});

describe("metrics", () => {
  test("electrum_rpc, electrum_clients, electrum_subscriptions, electrum_notifications_total", async () => {
    const { createMetrics } = await import("../../../src/metrics/metrics.ts");
    const metrics = createMetrics({ processCollector: false });
    fx = await openFixture();
    srv = startServer(fx, { metrics });
    const c = await LineClient.connect(srv.server.port);
    await c.result("blockchain.scripthash.subscribe", [expected.scripts[0]!.electrum_scripthash]);
    await c.result("blockchain.headers.subscribe");
    const text = await metrics.exposition();
    expect(text).toContain('electrum_rpc_count{method="blockchain.scripthash.subscribe"} 1');
    expect(text).toContain("electrum_clients 1");
    expect(text).toContain("electrum_subscriptions 1");
    expect(text).toContain("electrum_notifications_total");
    c.close();
  });
});
