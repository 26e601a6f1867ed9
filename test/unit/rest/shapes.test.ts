/**
 * The REST API over real HTTP on the regtest-core30 index: JSON shapes with electrs' key order,
 * content types, Cache-Control by depth, raw and hex bodies, merkle proofs, electrs' 404, the
 * router's empty-segment rules, and the --cors header on every answer.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { connect } from "node:net";
import { bytesToHex, hashToHex, hexToBytes, hexToHash } from "../../../src/bitcoin/bytes.ts";
import { merkleRootFromBranch } from "../../../src/bitcoin/merkle.ts";
import { merkleBlock } from "../../../src/bitcoin/merkleblock.ts";
import { buildTx, expected, openFixture, startServer, type Fixture, type ServerUnderTest } from "./harness.ts";

let fx: Fixture;
let s: ServerUnderTest;
let cors: ServerUnderTest;

const popular = expected.scripts[0]!;
const pending = buildTx({
  inputs: [{ txidHex: popular.utxos[0]!.txid, vout: popular.utxos[0]!.vout }],
  outputs: [{ scriptHex: popular.script, value: popular.utxos[0]!.value - 1000 }],
});
const tip = expected.tip;
/** A non-coinbase tx more than 10 blocks deep. */
const oldTx = expected.blocks.find((b) => b.nTx > 1 && b.height < 120)!.txids[1]!;
const tipTx = expected.blocks[137]!.txids[1]!;

beforeAll(async () => {
  fx = await openFixture();
  fx.node.add(pending.raw, pending.txidHex);
  await fx.mempool.update();
  s = startServer(fx);
  cors = startServer(fx, { config: { cors: "https://example.test" } });
});
afterAll(async () => {
  await s.server.stop();
  await cors.server.stop();
  fx.close();
});

async function getJson(path: string): Promise<{ status: number; headers: Headers; body: unknown }> {
  const r = await s.get(path);
  return { status: r.status, headers: r.headers, body: await r.json() };
}
const keys = (o: unknown) => Object.keys(o as object);
type Obj = Record<string, unknown>;

const TX_KEYS = ["txid", "version", "locktime", "vin", "vout", "size", "weight", "fee", "status"];
const STATUS_KEYS = ["confirmed", "block_height", "block_hash", "block_time"];
const BLOCK_KEYS = ["id", "height", "version", "timestamp", "tx_count", "size", "weight", "merkle_root", "previousblockhash", "mediantime", "nonce", "bits", "difficulty"];

/** vin keys in electrs' order, optional ones where they belong. */
function checkVin(v: Obj): void {
  const order = ["txid", "vout", "prevout", "scriptsig", "scriptsig_asm", "witness", "is_coinbase", "sequence", "inner_redeemscript_asm", "inner_witnessscript_asm"];
  const present = keys(v);
  expect(present).toEqual(order.filter((k) => present.includes(k)));
  for (const k of ["txid", "vout", "prevout", "scriptsig", "scriptsig_asm", "is_coinbase", "sequence"]) expect(present).toContain(k);
  if ("witness" in v) expect((v.witness as string[]).length).toBeGreaterThan(0);
  if (v.prevout !== null) checkVout(v.prevout as Obj);
  const type = (v.prevout as Obj | null)?.scriptpubkey_type;
  if (type === "p2sh") expect(present).toContain("inner_redeemscript_asm");
  if (type === "v0_p2wsh") expect(present).toContain("inner_witnessscript_asm");
}

function checkVout(o: Obj): void {
  const present = keys(o);
  expect(present).toEqual(["scriptpubkey", "scriptpubkey_asm", "scriptpubkey_type", "scriptpubkey_address", "value"].filter((k) => present.includes(k)));
  expect(present).toHaveLength(o.scriptpubkey_address === undefined ? 4 : 5);
}

describe("JSON shapes and key order", () => {
  test("every confirmed tx: key order, fee, size, weight, status, prevouts", async () => {
    for (const [txid, t] of Object.entries(expected.txs)) {
      const { body, headers } = await getJson(`/tx/${txid}`);
      const tx = body as Obj;
      expect(keys(tx)).toEqual(TX_KEYS);
      expect([tx.txid, tx.fee, tx.size, tx.weight]).toEqual([txid, t.fee_sat ?? 0, t.size, t.weight]);
      expect(keys(tx.status)).toEqual(STATUS_KEYS);
      expect(tx.status).toEqual({ confirmed: true, block_height: t.height, block_hash: t.blockhash, block_time: expected.blocks[t.height]!.time });
      (tx.vin as Obj[]).forEach(checkVin);
      (tx.vout as Obj[]).forEach(checkVout);
      expect(headers.get("cache-control")).toBe(`public, max-age=${tip.height - t.height >= 10 ? 157784630 : 10}`);
      expect(headers.get("content-type")).toBe("application/json");
    }
  });

  test("tx JSON is written as text (json.ts txJsonText): compact, as JSON.stringify writes the same values", async () => {
    // Every confirmed tx, the mempool one, a block's page and a script's page (each tx rendered, then from the cache).
    const paths = [
      ...Object.keys(expected.txs).map((txid) => `/tx/${txid}`),
      `/tx/${pending.txidHex}`,
      `/block/${expected.blocks[137]!.hash}/txs/0`,
      `/scripthash/${popular.scripthash}/txs`,
    ];
    for (let round = 0; round < 2; round++) {
      for (const path of paths) {
        const text = await (await s.get(path)).text();
        expect(JSON.stringify(JSON.parse(text))).toBe(text);
      }
    }
  });

  test("coinbase input: prevout null, is_coinbase true", async () => {
    const cb = (await getJson(`/tx/${expected.blocks[137]!.txids[0]}`)).body as Obj;
    const vin = (cb.vin as Obj[])[0]!;
    expect([vin.txid, vin.vout, vin.prevout, vin.is_coinbase]).toEqual(["00".repeat(32), 4294967295, null, true]);
    expect(cb.fee).toBe(0);
  });

  test("addresses for every script that has one, witness v1+ programs included; none for p2pk and bare multisig", async () => {
    for (const sc of expected.scripts) {
      const f = sc.funded[0]!;
      const tx = (await getJson(`/tx/${f.txid}`)).body as Obj;
      const out = (tx.vout as Obj[])[f.vout]!;
      expect(out.scriptpubkey).toBe(sc.script);
      expect(out.scriptpubkey_address ?? null).toBe(sc.address);
    }
  });

  test("a mempool tx: unconfirmed status with only `confirmed`, TTL_SHORT", async () => {
    const { body, headers } = await getJson(`/tx/${pending.txidHex}`);
    expect(keys(body)).toEqual(TX_KEYS);
    expect((body as Obj).status).toEqual({ confirmed: false });
    expect((body as Obj).fee).toBe(1000);
    expect(headers.get("cache-control")).toBe("public, max-age=10");
  });

  test("blocks: key order, bits as an integer, null previousblockhash at genesis", async () => {
    const { body } = await getJson("/blocks/9");
    const list = body as Obj[];
    expect(list.map((b) => b.height)).toEqual([9, 8, 7, 6, 5, 4, 3, 2, 1, 0]);
    for (const b of list) {
      const e = expected.blocks[b.height as number]!;
      expect(keys(b)).toEqual(BLOCK_KEYS);
      expect(b).toMatchObject({ id: e.hash, version: e.version, timestamp: e.time, tx_count: e.nTx, size: e.size, weight: e.weight });
      expect([b.merkle_root, b.previousblockhash, b.mediantime, b.nonce, b.bits]).toEqual([e.merkleroot, e.previousblockhash, e.mediantime, e.nonce, parseInt(e.bits, 16)]);
    }
    expect(list[9]!.previousblockhash).toBeNull();
  });

  test("small JSON objects", async () => {
    expect((await getJson(`/block/${expected.blocks[5]!.hash}/status`)).body).toEqual({ in_best_chain: true, height: 5, next_best: expected.blocks[6]!.hash });
    expect(keys((await getJson(`/block/${"11".repeat(32)}/status`)).body)).toEqual(["in_best_chain", "height", "next_best"]);
    const sp = popular.spent[0]!;
    const o = (await getJson(`/tx/${sp.txid}/outspend/${sp.vout}`)).body as Obj;
    expect(keys(o)).toEqual(["spent", "txid", "vin", "status"]);
    expect([o.txid, o.vin]).toEqual([sp.spending_txid, sp.vin]);
    const u = ((await getJson(`/address/${popular.address}/utxo`)).body as Obj[])[0]!;
    expect(keys(u)).toEqual(["txid", "vout", "status", "value"]);
  });

  test("address stats: json!{} keys sorted at both levels, so scripthash comes last", async () => {
    const a = (await getJson(`/address/${popular.address}`)).body as Obj;
    expect(keys(a)).toEqual(["address", "chain_stats", "mempool_stats"]);
    // json!{} makes the nested struct a sorted map too.
    expect(keys(a.chain_stats)).toEqual(["funded_txo_count", "funded_txo_sum", "spent_txo_count", "spent_txo_sum", "tx_count"]);
    expect(keys(a.mempool_stats)).toEqual(keys(a.chain_stats));
    expect(a.chain_stats).toEqual(popular.stats);
    expect((a.mempool_stats as Obj).tx_count).toBe(1);
    const h = (await getJson(`/scripthash/${popular.scripthash}`)).body as Obj;
    expect(keys(h)).toEqual(["chain_stats", "mempool_stats", "scripthash"]);
    expect(h.scripthash).toBe(popular.scripthash);
  });

  test("merkle-proof (keys sorted) and merkleblock-proof rebuild the header's merkle root", async () => {
    for (const txid of [oldTx, tipTx, expected.blocks[120]!.txids.at(-1)!]) {
      const t = expected.txs[txid]!;
      const block = expected.blocks[t.height]!;
      const p = (await getJson(`/tx/${txid}/merkle-proof`)).body as { block_height: number; merkle: string[]; pos: number };
      expect(keys(p)).toEqual(["block_height", "merkle", "pos"]);
      expect([p.block_height, p.pos]).toEqual([t.height, t.pos]);
      expect(hashToHex(merkleRootFromBranch(hexToHash(txid), p.merkle.map(hexToHash), p.pos))).toBe(block.merkleroot);
      const r = await s.get(`/tx/${txid}/merkleblock-proof`);
      expect(r.headers.get("content-type")).toBe("text/plain");
      expect(await r.text()).toBe(bytesToHex(merkleBlock(hexToBytes(block.header), block.txids.map(hexToHash), (i) => i === t.pos)));
    }
  });

  test("txs/summary entries", async () => {
    const sum = (await getJson(`/address/${popular.address}/txs/summary?max_txs=2`)).body as Obj[];
    expect(sum).toHaveLength(2);
    expect(keys(sum[0])).toEqual(["txid", "height", "value", "time", "tx_position"]);
  });
});

describe("bodies, content types and TTLs", () => {
  test("raw and hex", async () => {
    const block = expected.blocks[120]!;
    const raw = await s.get(`/block/${block.hash}/raw`);
    expect(raw.headers.get("content-type")).toBe("application/octet-stream");
    const bytes = new Uint8Array(await raw.arrayBuffer());
    expect(bytes.length).toBe(block.size);
    expect(bytesToHex(bytes.subarray(0, 80))).toBe(block.header);
    const rawTx = await s.get(`/tx/${oldTx}/raw`);
    expect(bytesToHex(new Uint8Array(await rawTx.arrayBuffer()))).toBe(expected.txs[oldTx]!.hex);
    expect(rawTx.headers.get("cache-control")).toBe("public, max-age=157784630");
    const hex = await s.get(`/tx/${tipTx}/hex`);
    expect([await hex.text(), hex.headers.get("content-type"), hex.headers.get("cache-control")]).toEqual([
      expected.txs[tipTx]!.hex,
      "text/plain",
      "public, max-age=10",
    ]);
    expect(await (await s.get(`/tx/${pending.txidHex}/hex`)).text()).toBe(bytesToHex(pending.raw));
    const header = await s.get(`/block/${block.hash}/header`);
    expect(await header.text()).toBe(block.header);
  });

  test("text answers", async () => {
    const cases: [string, string, string][] = [
      ["/blocks/tip/hash", tip.hash, "public, max-age=10"],
      ["/blocks/tip/height", String(tip.height), "public, max-age=10"],
      ["/block-height/0", expected.genesis, "public, max-age=157784630"],
      ["/block-height/137", tip.hash, "public, max-age=10"],
      ["/block-height/127", expected.blocks[127]!.hash, "public, max-age=157784630"],
      ["/block-height/128", expected.blocks[128]!.hash, "public, max-age=10"],
      [`/block/${expected.blocks[3]!.hash}/txid/0`, expected.blocks[3]!.txids[0]!, "public, max-age=157784630"],
    ];
    for (const [path, body, cache] of cases) {
      const r = await s.get(path);
      expect([path, r.status, await r.text(), r.headers.get("content-type"), r.headers.get("cache-control")]).toEqual([path, 200, body, "text/plain", cache]);
    }
  });

  test("TTLs of JSON answers", async () => {
    const cases: [string, string][] = [
      [`/block/${tip.hash}`, "public, max-age=157784630"],
      [`/block/${tip.hash}/status`, "public, max-age=10"],
      [`/block/${expected.blocks[10]!.hash}/status`, "public, max-age=157784630"],
      [`/block/${expected.blocks[10]!.hash}/txs`, "public, max-age=157784630"],
      [`/tx/${oldTx}/status`, "public, max-age=157784630"],
      [`/tx/${"22".repeat(32)}/status`, "public, max-age=10"],
      [`/tx/${oldTx}/outspends`, "public, max-age=10"],
      ["/mempool/recent", "public, max-age=5"],
      ["/mempool", "public, max-age=10"],
      ["/health/ready", "no-cache"],
    ];
    for (const [path, cache] of cases) expect([path, (await s.get(path)).headers.get("cache-control")]).toEqual([path, cache]);
  });

  test("block txs page through the block in 25s", async () => {
    const big = expected.blocks.reduce((a, b) => (b.nTx > a.nTx ? b : a));
    expect(big.nTx).toBeGreaterThan(25);
    const ids: string[] = [];
    for (let start = 0; start < big.nTx; start += 25) {
      ids.push(...((await getJson(`/block/${big.hash}/txs/${start}`)).body as Obj[]).map((t) => t.txid as string));
    }
    expect(ids).toEqual(big.txids);
    expect(((await getJson(`/block/${big.hash}/txids`)).body as string[])).toEqual(big.txids);
  });
});

describe("electrs' router", () => {
  test("unknown routes, methods, HEAD and OPTIONS: 404 with the Debug-quoted path, no Cache-Control", async () => {
    const cases: [string, string][] = [
      ["GET", "/nope"],
      ["GET", "/blocks/tip/hash/"],
      ["PUT", "/tx"],
      ["HEAD", "/blocks/tip/height"],
      ["OPTIONS", "/blocks"],
      ["GET", "/tx"],
      ["POST", "/blocks"],
      ["GET", "/"],
    ];
    for (const [method, path] of cases) {
      const r = await s.get(path, { method });
      expect([method, path, r.status, r.headers.get("cache-control")]).toEqual([method, path, 404, null]);
      if (method !== "HEAD") expect(await r.text()).toBe(`endpoint does not exist "${path}"`);
    }
    expect(await (await s.get("/a%22b")).text()).toBe('endpoint does not exist "/a%22b"');
  });

  test("leading empty segments, over a raw socket (Bun's fetch client folds a leading `//`)", async () => {
    const rawGet = (target: string, host = `127.0.0.1:${s.server.port}`) =>
      new Promise<string>((resolve, reject) => {
        const sock = connect(s.server.port, "127.0.0.1", () => sock.write(`GET ${target} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`));
        let buf = "";
        sock.on("data", (d) => (buf += d.toString()));
        sock.on("error", reject);
        sock.on("close", () => resolve(buf));
      });
    for (const target of ["//", "///", "//blocks"]) {
      const reply = await rawGet(target);
      expect(reply).toStartWith("HTTP/1.1 404");
      expect(reply).toEndWith(`\r\n\r\nendpoint does not exist "${target}"`);
    }
    // A short Host (a reverse proxy's upstream name) routes like any other.
    expect(await rawGet("/blocks/tip/height", "api")).toEndWith(`\r\n\r\n${tip.height}`);
  });

  test("an empty segment is a parameter whose value is empty", async () => {
    expect(((await getJson("/blocks/")).body as Obj[])[0]!.height).toBe(tip.height);
    expect(((await getJson("/blocks/tip")).body as Obj[])[0]!.height).toBe(tip.height);
    const first = (await getJson(`/block/${expected.blocks[120]!.hash}/txs/`)).body as Obj[];
    expect(first[0]!.txid).toBe(expected.blocks[120]!.txids[0]);
    const chain = (await getJson(`/address/${popular.address}/txs/chain/`)).body as Obj[];
    expect(chain).toHaveLength(25);
    const empty = await s.get("/tx/");
    expect([empty.status, await empty.text()]).toEqual([400, "Invalid hex string"]);
  });

  test("--cors: the header on successes and errors alike, and nothing else", async () => {
    for (const path of ["/blocks/tip/height", `/tx/${oldTx}`, "/nope", `/tx/${"00".repeat(32)}`, "/block-height/x"]) {
      const r = await cors.get(path);
      expect([path, r.headers.get("access-control-allow-origin")]).toEqual([path, "https://example.test"]);
      expect([...r.headers.keys()].filter((k) => k.startsWith("access-control"))).toEqual(["access-control-allow-origin"]);
    }
    expect((await s.get("/blocks/tip/height")).headers.get("access-control-allow-origin")).toBeNull();
  });
});
