/**
 * mempool/electrs' /internal/* routes over HTTP on the regtest-core30 index with three mempool txs:
 * each answer is what the public routes give for the same txs (so the shapes are pinned there),
 * in the order MP gives them.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { buildTx, expected, openFixture, startServer, type Fixture, type ServerUnderTest } from "./harness.ts";

let fx: Fixture;
let s: ServerUnderTest;
const popular = expected.scripts[0]!;
const pending = popular.utxos.slice(0, 3).map((u) => buildTx({ inputs: [{ txidHex: u.txid, vout: u.vout }], outputs: [{ scriptHex: popular.script, value: u.value - 1000 }] }));

beforeAll(async () => {
  fx = await openFixture();
  for (const t of pending) fx.node.add(t.raw, t.txidHex);
  await fx.mempool.update();
  s = startServer(fx, { config: { restMaxMempoolPageSize: 2 } });
});
afterAll(async () => {
  await s.server.stop();
  fx.close();
});

const text = async (path: string, init?: RequestInit) => {
  const r = await s.get(path, init);
  return { status: r.status, body: await r.text(), cache: r.headers.get("cache-control") };
};
const post = (path: string, body: unknown) => text(path, { method: "POST", body: JSON.stringify(body) });
/** The public answer for one tx, as text. */
const txText = async (txid: string) => (await text(`/tx/${txid}`)).body;
/** The mempool's txids in MP's order (txid bytes), from the public paged route. */
const mempoolOrder = async () => JSON.parse((await text("/mempool/txids/page")).body) as string[];

test("GET /internal/block/:hash/txs: every tx of the block, in block order; 404 for an unknown block", async () => {
  const block = expected.blocks.find((b) => b.nTx >= 5)!;
  const r = await text(`/internal/block/${block.hash}/txs`);
  expect(r.status).toBe(200);
  expect(r.body).toBe(`[${(await Promise.all(block.txids.map(txText))).join(",")}]`);
  expect(r.cache).toBe("public, max-age=157784630");
  const unknown = await text(`/internal/block/${"00".repeat(32)}/txs`);
  expect([unknown.status, unknown.body]).toEqual([404, "Block not found"]);
});

test("POST /internal/txs: chain and mempool txs in the order asked, unknown ones left out, not cached; a bad txid is a 400", async () => {
  const confirmed = expected.blocks[114]!.txids[1]!;
  const r = await post("/internal/txs", [pending[0]!.txidHex, "11".repeat(32), confirmed]);
  expect(r.status).toBe(200);
  expect(r.body).toBe(`[${await txText(pending[0]!.txidHex)},${await txText(confirmed)}]`);
  expect(r.cache).toBe("public, max-age=0");
  expect((await post("/internal/txs", ["nothex"])).status).toBe(400);
  expect((await post("/internal/txs", { not: "a list" })).status).toBe(400);
});

test("the mempool: all, paged after a txid (--rest-max-mempool-page-size 2 here), and by a list", async () => {
  const order = await mempoolOrder();
  expect([...order].sort()).toEqual(pending.map((t) => t.txidHex).sort());
  const all = await text("/internal/mempool/txs/all");
  expect(all.body).toBe(`[${(await Promise.all(order.map(txText))).join(",")}]`);
  const ids = (body: string) => (JSON.parse(body) as { txid: string }[]).map((t) => t.txid);
  expect(ids((await text("/internal/mempool/txs")).body)).toEqual(order.slice(0, 2));
  expect(ids((await text(`/internal/mempool/txs/${order[0]}`)).body)).toEqual(order.slice(1, 3));
  expect(ids((await text(`/internal/mempool/txs/${order[0]}?max_txs=1`)).body)).toEqual(order.slice(1, 2));
  const confirmed = expected.blocks[114]!.txids[1]!;
  const listed = await post("/internal/mempool/txs", [confirmed, pending[2]!.txidHex]);
  expect([listed.body, listed.cache]).toEqual([`[${await txText(pending[2]!.txidHex)}]`, "public, max-age=0"]);
});

test("POST /internal/txs/outspends/by-txid and by-outpoint: what /tx/:txid/outspend(s) say; anything else unspent or empty", async () => {
  const spent = popular.utxos[0]!; // spent by pending[0], in the mempool
  const someTx = expected.blocks[114]!.txids[1]!;
  const byTxid = await post("/internal/txs/outspends/by-txid", [spent.txid, "nothex", "22".repeat(32), someTx]);
  expect(byTxid.status).toBe(200);
  expect(byTxid.body).toBe(`[${(await text(`/tx/${spent.txid}/outspends`)).body},[],[],${(await text(`/tx/${someTx}/outspends`)).body}]`);
  const byOutpoint = await post("/internal/txs/outspends/by-outpoint", [`${spent.txid}:${spent.vout}`, `${someTx}:0`, "nothex:0", `${someTx}:x`, someTx]);
  expect(byOutpoint.body).toBe(
    `[${(await text(`/tx/${spent.txid}/outspend/${spent.vout}`)).body},${(await text(`/tx/${someTx}/outspend/0`)).body},{"spent":false},{"spent":false},{"spent":false}]`,
  );
  expect(JSON.parse(byOutpoint.body)[0]).toMatchObject({ spent: true, txid: pending[0]!.txidHex, vin: 0 });
});
