/**
 * Confirmed index and mempool merged (spec §6.4), with the real Mempool over a scripted node:
 * tx lookups, script histories (mempool part first), MP's after_txid paging, UTXOs minus
 * mempool spends, outspends, stats; and txs moving to the chain part when a block confirms them.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { bytesToHex, hashToHex, hexToBytes, hexToHash } from "../../../src/bitcoin/bytes.ts";
import { QueryError } from "../../../src/query/errors.ts";
import type { TxView, UtxoView } from "../../../src/query/types.ts";
import { scriptKeyFromHash } from "../../../src/store/rows.ts";
import { buildTx, expected, openFixture, type Fixture } from "../rest/harness.ts";

const popular = expected.scripts[0]!;
const other = expected.scripts[1]!;
const P = scriptKeyFromHash(hexToBytes(popular.scripthash));
const Q = scriptKeyFromHash(hexToBytes(other.scripthash));
const [u1, u2] = [popular.utxos[0]!, popular.utxos[1]!];

/** A: U1 → (P 1000, Q rest − 500 fee); B: A:0 + U2 → Q (fee 300). */
const A = buildTx({
  inputs: [{ txidHex: u1.txid, vout: u1.vout }],
  outputs: [
    { scriptHex: popular.script, value: 1000 },
    { scriptHex: other.script, value: u1.value - 1500 },
  ],
});
const B = buildTx({
  inputs: [
    { txidHex: A.txidHex, vout: 0 },
    { txidHex: u2.txid, vout: u2.vout },
  ],
  outputs: [{ scriptHex: other.script, value: 1000 + u2.value - 300 }],
});

const ids = (txs: readonly TxView[]) => txs.map((t) => hashToHex(t.tx.txid));
const outpoints = (us: readonly UtxoView[]) => us.map((u) => `${hashToHex(u.txid)}:${u.vout}`);
const newest = [...popular.history].sort((a, b) => b.height - a.height || b.pos - a.pos).map((h) => h.txid);
const page = (after: string | null, totalLimit: number | null = null) => ({
  afterTxid: after === null ? null : hexToHash(after),
  mempoolLimit: totalLimit ?? 50,
  chainLimit: 25,
  totalLimit,
});

describe("a parent and a child in the mempool", () => {
  let fx: Fixture;
  beforeAll(async () => {
    fx = await openFixture();
    fx.node.add(A.raw, A.txidHex);
    fx.node.add(B.raw, B.txidHex);
    expect((await fx.mempool.update()).status).toBe("synced");
    expect(fx.mempool.size).toBe(2);
  });
  afterAll(() => fx.close());

  test("tx lookups fall back to the mempool, with prevouts from the chain and from the parent", () => {
    const a = fx.query.tx(hexToHash(A.txidHex))!;
    expect(a.status).toEqual({ confirmed: false });
    expect(a.feeSat).toBe(500);
    expect(a.prevouts.map((p) => p!.valueSat)).toEqual([u1.value]);
    const b = fx.query.tx(hexToHash(B.txidHex))!;
    expect(b.feeSat).toBe(300);
    expect(b.prevouts.map((p) => [bytesToHex(p!.script), p!.valueSat])).toEqual([
      [popular.script, 1000],
      [popular.script, u2.value],
    ]);
    expect(fx.query.rawTx(hexToHash(B.txidHex))!.raw).toEqual(B.raw);
    expect(fx.query.txStatus(hexToHash(A.txidHex))).toEqual({ confirmed: false });
  });

  test("history: mempool part first, then the chain part newest first", () => {
    expect(ids(fx.query.history([P], page(null)))).toEqual([A.txidHex, B.txidHex, ...newest.slice(0, 25)]);
    expect(ids(fx.query.history([Q], page(null)))).toEqual([
      A.txidHex,
      B.txidHex,
      ...[...other.history].reverse().map((h) => h.txid),
    ]);
    expect(ids(fx.query.mempoolHistory([P], 1))).toEqual([A.txidHex]);
  });

  test("MP paging: max_txs bounds the whole page; after_txid continues in either part", () => {
    expect(ids(fx.query.history([P], page(null, 3)))).toEqual([A.txidHex, B.txidHex, newest[0]!]);
    expect(ids(fx.query.history([P], page(A.txidHex, 3)))).toEqual([B.txidHex, newest[0]!, newest[1]!]);
    // The last mempool tx as cursor continues with the chain (MP would answer []).
    expect(ids(fx.query.history([P], page(B.txidHex, 3)))).toEqual(newest.slice(0, 3));
    expect(ids(fx.query.history([P], page(newest[2]!, 3)))).toEqual(newest.slice(3, 6));
    expect(() => fx.query.history([P], page("ab".repeat(32)))).toThrow(new QueryError("cursor-not-found", "after_txid not found"));
    // A tx of another script's history is not a cursor of this one.
    expect(() => fx.query.history([P], page(other.history[0]!.txid))).toThrow("after_txid not found");
  });

  test("utxos: chain outputs spent in the mempool are removed, unspent mempool outputs appended", () => {
    const p = fx.query.utxos(P, null, 1000);
    expect(p).toHaveLength(popular.utxos.length - 2);
    expect(outpoints(p)).not.toContain(`${u1.txid}:${u1.vout}`);
    expect(outpoints(p)).not.toContain(`${A.txidHex}:0`); // spent by B
    const q = fx.query.utxos(Q, null, 1000);
    expect(outpoints(q)).toEqual([`${A.txidHex}:1`, `${B.txidHex}:0`]);
    expect(q.every((u) => !u.status.confirmed)).toBe(true);
    expect(outpoints(fx.query.utxos(Q, { after: { txid: hexToHash(A.txidHex), vout: 1 }, limit: 10 }, 1000))).toEqual([`${B.txidHex}:0`]);
    // The limit counts the confirmed set only (BS-new).
    expect(() => fx.query.utxos(P, null, 349)).toThrow("Too many unspent outputs");
  });

  test("a utxo page crosses from the chain part into the mempool part", () => {
    const all = outpoints(fx.query.utxos(P, null, 1000));
    const last = fx.query.utxos(P, { after: null, limit: 1000 }, 0);
    expect(outpoints(last)).toEqual(all);
    const q1 = fx.query.utxos(Q, { after: null, limit: 1 }, 0);
    expect(outpoints(q1)).toEqual([`${A.txidHex}:1`]);
    expect(() => fx.query.utxos(Q, { after: { txid: hexToHash("cd".repeat(32)), vout: 0 }, limit: 1 }, 0)).toThrow("after not found");
  });

  test("outspends merge chain and mempool spends", () => {
    expect(fx.query.outspend(hexToHash(u1.txid), u1.vout)).toEqual({ spent: true, txid: hexToHash(A.txidHex), vin: 0, status: { confirmed: false } });
    expect(fx.query.outspends(hexToHash(A.txidHex))).toEqual([
      { spent: true, txid: hexToHash(B.txidHex), vin: 0, status: { confirmed: false } },
      { spent: false },
    ]);
    expect(fx.query.outspends(hexToHash(B.txidHex))).toEqual([{ spent: false }]);
  });

  test("stats: chain and mempool separately", () => {
    const s = fx.query.scriptStats(P);
    expect(s.chain.txCount).toBe(popular.stats.tx_count);
    expect(s.mempool).toEqual({ txCount: 2, fundedTxoCount: 1, fundedTxoSum: 1000, spentTxoCount: 3, spentTxoSum: u1.value + 1000 + u2.value });
  });

  test("mempool views", () => {
    expect(fx.query.mempoolTxids().map(hashToHex).sort()).toEqual([A.txidHex, B.txidHex].sort());
    const byRaw = [A.txidHex, B.txidHex].sort((x, y) => (hashToHex(hexToHash(x).reverse()) < hashToHex(hexToHash(y).reverse()) ? -1 : 1));
    expect(fx.query.mempoolTxidsPage(null, 1).map(hashToHex)).toEqual([byRaw[0]!]);
    expect(fx.query.mempoolTxidsPage(hexToHash(byRaw[0]!), 10).map(hashToHex)).toEqual([byRaw[1]!]);
    expect(fx.query.mempoolRecent().map((r) => r.txidHex).sort()).toEqual([A.txidHex, B.txidHex].sort());
  });
});

describe("a block confirms mempool txs", () => {
  let fx: Fixture;
  const tipTx = expected.blocks[137]!.txids[1]!;
  const tipTxHex = expected.txs[tipTx]!.hex;
  const outScript = expected.scripts.find((s) => s.history.some((h) => h.txid === tipTx && h.height === 137) && s.funded.some((f) => f.txid === tipTx))!;
  const key = scriptKeyFromHash(hexToBytes(outScript.scripthash));

  beforeAll(async () => {
    fx = await openFixture({ maxHeight: 136 });
    fx.node.add(hexToBytes(tipTxHex), tipTx);
    expect((await fx.mempool.update()).status).toBe("synced");
  });
  afterAll(() => fx.close());

  test("they move from the mempool part to the chain part at once", async () => {
    expect(fx.query.tx(hexToHash(tipTx))!.status).toEqual({ confirmed: false });
    expect(ids(fx.query.history([key], page(null)))[0]).toBe(tipTx);
    expect(ids(fx.query.mempoolHistory([key], 50))).toEqual([tipTx]);

    fx.node.txs.clear(); // the node mined it
    await fx.indexToTip();
    expect(fx.query.tx(hexToHash(tipTx))!.status).toMatchObject({ confirmed: true, height: 137 });
    expect(ids(fx.query.mempoolHistory([key], 50))).toEqual([]);
    const h = ids(fx.query.history([key], page(null)));
    expect(h[0]).toBe(tipTx);
    expect(h.filter((t) => t === tipTx)).toHaveLength(1);
    expect(fx.query.utxos(key, null, 1000).every((u) => u.status.confirmed)).toBe(true);
  });
});
