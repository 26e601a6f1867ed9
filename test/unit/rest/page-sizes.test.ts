/**
 * MP's page-size flags over HTTP on the regtest-core30 index (RestConfig): /blocks, the pages of a
 * block's txs (their start must be a multiple of the size), a script's confirmed history pages,
 * /txs/summary's cap. The defaults are electrs' and MP's (pinned by shapes.test.ts and rest-fixture).
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { buildTx, expected, openFixture, startServer, type Fixture, type ServerUnderTest } from "./harness.ts";

let fx: Fixture;
let s: ServerUnderTest;

const popular = expected.scripts[0]!;

beforeAll(async () => {
  fx = await openFixture();
  // Six mempool txs, each spending one of the popular script's outputs back to it.
  for (const u of popular.utxos.slice(0, 6)) {
    const t = buildTx({ inputs: [{ txidHex: u.txid, vout: u.vout }], outputs: [{ scriptHex: popular.script, value: u.value - 1000 }] });
    fx.node.add(t.raw, t.txidHex);
  }
  await fx.mempool.update();
  s = startServer(fx, {
    config: { restDefaultBlockLimit: 3, restDefaultChainTxsPerPage: 4, restDefaultMaxMempoolTxs: 2, restDefaultMaxAddressSummaryTxs: 7, restMaxMempoolTxidPageSize: 5 },
  });
});
afterAll(async () => {
  await s.server.stop();
  fx.close();
});

const json = async <T>(path: string): Promise<T> => {
  const r = await s.get(path);
  if (r.status !== 200) throw new Error(`${path}: ${r.status} ${await r.text()}`);
  return (await r.json()) as T;
};

test("--rest-default-block-limit: /blocks lists that many", async () => {
  const tip = expected.tip.height;
  expect((await json<{ height: number }[]>("/blocks")).map((b) => b.height)).toEqual([tip, tip - 1, tip - 2]);
  expect((await json<{ height: number }[]>("/blocks/1")).map((b) => b.height)).toEqual([1, 0]);
});

test("--rest-default-chain-txs-per-page: block tx pages of that size, starts at its multiples", async () => {
  const block = expected.blocks.find((b) => b.nTx >= 9)!;
  const page = async (start: number) => (await json<{ txid: string }[]>(`/block/${block.hash}/txs/${start}`)).map((t) => t.txid);
  expect(await page(0)).toEqual(block.txids.slice(0, 4));
  expect(await page(4)).toEqual(block.txids.slice(4, 8));
  const r = await s.get(`/block/${block.hash}/txs/2`);
  expect([r.status, await r.text()]).toEqual([400, "start index must be a multiple of 4"]);
});

test("--rest-default-chain-txs-per-page, --rest-default-max-mempool-txs, --rest-default-max-address-summary-txs: a script's pages", async () => {
  const sc = popular;
  const newest = [...sc.history].sort((a, b) => b.height - a.height || b.pos - a.pos).map((h) => h.txid);
  expect((await json<{ txid: string }[]>(`/scripthash/${sc.scripthash}/txs/chain`)).map((t) => t.txid)).toEqual(newest.slice(0, 4));
  // electrs' /txs: the mempool part (2 of its 6 txs), then a page of confirmed ones.
  const page = await json<{ txid: string; status: { confirmed: boolean } }[]>(`/scripthash/${sc.scripthash}/txs`);
  expect(page.map((t) => t.status.confirmed)).toEqual([false, false, true, true, true, true]);
  expect(page.slice(2).map((t) => t.txid)).toEqual(newest.slice(0, 4));
  expect(await json<unknown[]>(`/scripthash/${sc.scripthash}/txs/summary`)).toHaveLength(7);
  expect(await json<unknown[]>(`/scripthash/${sc.scripthash}/txs/summary?max_txs=100`)).toHaveLength(7);
  expect(await json<unknown[]>(`/scripthash/${sc.scripthash}/txs/summary?max_txs=2`)).toHaveLength(2);
});

test("--rest-default-max-mempool-txs and --rest-max-mempool-txid-page-size: the mempool's own pages", async () => {
  expect(await json<unknown[]>(`/scripthash/${popular.scripthash}/txs/mempool`)).toHaveLength(2);
  expect(await json<unknown[]>("/mempool/txids/page")).toHaveLength(5);
  expect(await json<unknown[]>("/mempool/txids/page?max_txs=100")).toHaveLength(5);
  expect(await json<unknown[]>("/mempool/txids")).toHaveLength(6);
});
