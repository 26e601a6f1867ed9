/**
 * The mempool through the REST API: broadcasts visible at once (POST /tx, /broadcast,
 * /txs/package), /txs/test, mempool views, address pages with mempool parts and MP's paging,
 * multi-address POSTs, /health/ready, /fee-estimates (cache, single flight) and the metrics.
 * The node is scripted (Core-shaped answers); the mempool is the real one.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { silentLogger } from "../../../src/log.ts";
import { createMetrics } from "../../../src/metrics/metrics.ts";
import { FEE_TARGETS, FeeEstimates } from "../../../src/rest/fees.ts";
import { buildTx, expected, openFixture, ScriptedRestNode, startServer, type Fixture, type ServerUnderTest } from "./harness.ts";

const popular = expected.scripts[0]!;
const other = expected.scripts[1]!;
const spend = (i: number, toScript: string, fee: number) =>
  buildTx({ inputs: [{ txidHex: popular.utxos[i]!.txid, vout: popular.utxos[i]!.vout }], outputs: [{ scriptHex: toScript, value: popular.utxos[i]!.value - fee }] });
const t1 = spend(0, other.script, 1000);
const t2 = spend(1, other.script, 2000);
const t3 = spend(2, popular.script, 3000);

let fx: Fixture;
let s: ServerUnderTest;
const node = new ScriptedRestNode();
const metrics = createMetrics({ processCollector: false });
const broadcasts: string[][] = [];

beforeAll(async () => {
  fx = await openFixture();
  const accept = (raw: Uint8Array, txid: string) => fx.node.add(raw, txid);
  node.sendRawTransaction = async (hex) => {
    node.calls.push({ method: "sendrawtransaction", params: [hex] });
    for (const t of [t1, t2, t3]) {
      if (hex === Buffer.from(t.raw).toString("hex")) {
        accept(t.raw, t.txidHex);
        return t.txidHex;
      }
    }
    throw new Error("unexpected tx");
  };
  s = startServer(fx, {
    node,
    metrics,
    onBroadcast: async (txids) => {
      broadcasts.push(txids);
      return fx.mempool.addTxids(txids);
    },
  });
});
afterAll(async () => {
  await s.server.stop();
  fx.close();
});

const getJson = async (path: string, init?: RequestInit) => (await s.get(path, init)).json() as Promise<unknown>;
const hexOf = (b: Uint8Array) => Buffer.from(b).toString("hex");
const txids = (list: unknown) => (list as { txid: string }[]).map((t) => t.txid);

describe("broadcast", () => {
  test("/health/ready is 503 until the mempool synced once", async () => {
    expect((await s.get("/health/ready")).status).toBe(503);
    await fx.mempool.update();
    const r = await s.get("/health/ready");
    expect([r.status, await r.text()]).toEqual([200, '{"chain_synced":true,"mempool_synced":true}']);
  });

  test("POST /tx: the txid as text, max-age=0, and the tx is in every mempool answer at once", async () => {
    const r = await s.get("/tx", { method: "POST", body: hexOf(t1.raw) + "\n" });
    expect([r.status, await r.text(), r.headers.get("cache-control"), r.headers.get("content-type")]).toEqual([200, t1.txidHex, "public, max-age=0", "text/plain"]);
    expect(node.calls.at(-1)).toEqual({ method: "sendrawtransaction", params: [hexOf(t1.raw)] });
    expect(broadcasts.at(-1)).toEqual([t1.txidHex]);
    expect(((await getJson(`/tx/${t1.txidHex}`)) as { status: unknown }).status).toEqual({ confirmed: false });
    expect(await getJson("/mempool/txids")).toEqual([t1.txidHex]);
    expect(txids(await getJson(`/address/${other.address}/txs/mempool`))).toEqual([t1.txidHex]);
    expect(((await getJson(`/tx/${popular.utxos[0]!.txid}/outspend/${popular.utxos[0]!.vout}`)) as { txid: string }).txid).toBe(t1.txidHex);
  });

  test("GET /broadcast?tx=", async () => {
    const r = await s.get(`/broadcast?tx=${hexOf(t2.raw)}`);
    expect([r.status, await r.text()]).toEqual([200, t2.txidHex]);
    expect(((await getJson("/mempool/txids")) as string[]).sort()).toEqual([t1.txidHex, t2.txidHex].sort());
  });

  test("POST /txs/test passes the hexes and maxfeerate, and answers Core's array as is", async () => {
    const answer = [{ txid: t3.txidHex, wtxid: t3.txidHex, allowed: true, vsize: 85, fees: { base: 0.00003 } }];
    let seen: unknown[] = [];
    node.testMempoolAccept = async (hexes, maxFeeRate) => {
      seen = [hexes, maxFeeRate];
      return answer;
    };
    expect(await getJson("/txs/test?maxfeerate=0.25", { method: "POST", body: JSON.stringify([hexOf(t3.raw)]) })).toEqual(answer);
    expect(seen).toEqual([[hexOf(t3.raw)], 0.25]);
    expect(((await getJson("/mempool/txids")) as string[]).includes(t3.txidHex)).toBe(false);
  });

  test("POST /txs/package: Core's object as is; accepted txs are added at once, rejected ones not", async () => {
    const result = {
      package_msg: "transaction failed",
      "tx-results": {
        w3: { txid: t3.txidHex, vsize: 85, fees: { base: 0.00003 } },
        wx: { txid: "cd".repeat(32), error: "missing-inputs" },
      },
      "replaced-transactions": [],
    };
    node.submitPackage = async (hexes, maxFeeRate, maxBurn) => {
      expect([hexes, maxFeeRate, maxBurn]).toEqual([[hexOf(t3.raw)], null, 0]);
      fx.node.add(t3.raw, t3.txidHex);
      return result;
    };
    expect(await getJson("/txs/package?maxburnamount=0", { method: "POST", body: JSON.stringify([hexOf(t3.raw)]) })).toEqual(result);
    expect(broadcasts.at(-1)).toEqual([t3.txidHex]);
    expect(((await getJson("/mempool/txids")) as string[]).includes(t3.txidHex)).toBe(true);
  });
});

describe("mempool answers", () => {
  test("/mempool backlog, /mempool/recent, /mempool/txids/page", async () => {
    const backlog = (await getJson("/mempool")) as { count: number; total_fee: number; fee_histogram: unknown[] };
    expect(Object.keys(backlog)).toEqual(["count", "vsize", "total_fee", "fee_histogram"]);
    const recent = (await getJson("/mempool/recent")) as Record<string, unknown>[];
    expect(recent.map((r) => Object.keys(r))).toEqual(recent.map(() => ["txid", "fee", "vsize", "value"]));
    expect(recent.map((r) => r.txid).sort()).toEqual([t1.txidHex, t2.txidHex, t3.txidHex].sort());
    expect(recent.find((r) => r.txid === t2.txidHex)).toMatchObject({ fee: 2000, value: popular.utxos[1]!.value });
    const all = (await getJson("/mempool/txids/page")) as string[];
    expect(all).toHaveLength(3);
    expect(await getJson("/mempool/txids/page?max_txs=1")).toEqual([all[0]]);
    expect(await getJson(`/mempool/txids/page/${all[0]}?max_txs=5`)).toEqual(all.slice(1));
  });

  test("address pages: mempool part first; max_txs and after_txid over HTTP", async () => {
    const page = txids(await getJson(`/address/${popular.address}/txs`));
    expect(page.slice(0, 3).sort()).toEqual([t1.txidHex, t2.txidHex, t3.txidHex].sort());
    expect(page).toHaveLength(3 + 25);
    const small = txids(await getJson(`/address/${popular.address}/txs?max_txs=4`));
    expect(small).toEqual(page.slice(0, 4));
    expect(txids(await getJson(`/address/${popular.address}/txs?max_txs=4&after_txid=${small[3]}`))).toEqual(page.slice(4, 8));
    expect(txids(await getJson(`/scripthash/${popular.scripthash}/txs/chain?max_txs=2`))).toEqual(page.slice(3, 5));
    const chain = [...popular.history].sort((a, b) => b.height - a.height || b.pos - a.pos).map((h) => h.txid);
    expect(page.slice(3)).toEqual(chain.slice(0, 25));
    expect(txids(await getJson(`/scripthash/${popular.scripthash}/txs/chain/${chain[1]}`))).toEqual(chain.slice(2, 27));
    // An unparseable cursor is ignored (first page), as electrs.
    expect(txids(await getJson(`/address/${popular.address}/txs/chain/nothex`))).toEqual(page.slice(3, 28));
  });

  test("POST /addresses/txs and /scripthashes/txs merge histories; bad entries are dropped", async () => {
    const merged = txids(await getJson("/addresses/txs", { method: "POST", body: JSON.stringify([other.address, "junk", popular.address]) }));
    expect(merged.slice(0, 3).sort()).toEqual([t1.txidHex, t2.txidHex, t3.txidHex].sort());
    const byHash = txids(await getJson("/scripthashes/txs", { method: "POST", body: JSON.stringify([other.scripthash, popular.scripthash, "zz"]) }));
    expect(byHash).toEqual(merged);
    const sum = (await getJson(`/addresses/txs/summary`, { method: "POST", body: JSON.stringify([popular.address]) })) as unknown[];
    expect(sum).toHaveLength(popular.history.length);
  });

  test("utxos over HTTP: mempool spends removed, mempool outputs appended", async () => {
    const utxos = (await getJson(`/address/${other.address}/utxo`)) as { txid: string; status: { confirmed: boolean } }[];
    expect(utxos.map((u) => u.txid).sort()).toEqual([t1.txidHex, t2.txidHex].sort());
    expect(utxos.every((u) => !u.status.confirmed)).toBe(true);
    const p = (await getJson(`/address/${popular.address}/utxo`)) as unknown[];
    expect(p).toHaveLength(popular.utxos.length - 3 + 1);
  });

  test("/txs/outspends", async () => {
    const u = popular.utxos[1]!;
    const out = (await getJson(`/txs/outspends?txids=${u.txid},${t1.txidHex}`)) as { spent: boolean; txid?: string }[][];
    expect(out[0]![u.vout]).toMatchObject({ spent: true, txid: t2.txidHex });
    expect(out[1]).toEqual([{ spent: false }]);
  });
});

describe("/fee-estimates", () => {
  // 0.00020016 × 100000 is 20.016000000000002 in f64, in electrs too; serde prints it so.
  test("28 targets, BTC/kvB to sat/vB, serde's float text, cached and shared by concurrent callers", async () => {
    const calls: number[][] = [];
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => (release = r));
    let called: () => void = () => {};
    const firstCall = new Promise<void>((r) => (called = r));
    node.estimateSmartFee = async (targets) => {
      calls.push([...targets]);
      called();
      await gate;
      return targets.map((t) => (t === 1 ? 0.00020016 : t === 2 ? 0.00001 : t === 144 ? 0.000015 : null));
    };
    const pending = Array.from({ length: 5 }, () => s.get("/fee-estimates").then((r) => r.text()));
    await firstCall;
    release();
    const bodies = await Promise.all(pending);
    expect(new Set(bodies)).toEqual(new Set(['{"1":20.016000000000002,"2":1.0,"144":1.5}']));
    expect(calls).toEqual([[...FEE_TARGETS]]);
    expect(FEE_TARGETS).toHaveLength(28);
    await s.get("/fee-estimates");
    expect(calls).toHaveLength(1);
  });

  test("the TTL, and a failed refresh keeps the last estimates and retries", async () => {
    let now = 0;
    let fail = false;
    const n = new ScriptedRestNode();
    let count = 0;
    n.estimateSmartFee = async (targets) => {
      count++;
      if (fail) throw new Error("node down");
      return targets.map(() => 0.00002);
    };
    const fees = new FeeEstimates(n, silentLogger(), 60_000, () => now);
    const concurrent = await Promise.all([fees.get(), fees.get(), fees.get()]);
    expect(count).toBe(1);
    expect(concurrent[0]).toBe(concurrent[2]);
    expect((await fees.get()).get(6)).toBe(2);
    now = 59_999;
    await fees.get();
    expect(count).toBe(1);
    now = 60_000;
    fail = true;
    expect((await fees.get()).get(6)).toBe(2);
    expect(count).toBe(2);
    await fees.get();
    expect(count).toBe(3);
  });
});

test("metrics: http_request_duration by route pattern and status, query_duration by name", async () => {
  await s.get("/nope");
  await s.get(`/tx/${"00".repeat(32)}`);
  const text = await metrics.exposition();
  expect(text).toContain('http_request_duration_count{route="/tx/:txid",status="200"}');
  expect(text).toContain('http_request_duration_count{route="/tx/:txid",status="404"}');
  expect(text).toContain('http_request_duration_count{route="unmatched",status="404"}');
  expect(text).toContain('http_request_duration_count{route="/tx",status="200"}');
  expect(text).not.toContain(`route="/tx/${"00".repeat(32)}"`);
});
