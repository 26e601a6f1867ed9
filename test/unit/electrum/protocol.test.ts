/** Methods, negotiation, proofs, errors and framing over a real TCP connection. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { hashToHex, hexToBytes, hexToHash } from "../../../src/bitcoin/bytes.ts";
import { sha256d } from "../../../src/bitcoin/hash.ts";
import { merkleRootFromBranch } from "../../../src/bitcoin/merkle.ts";
import { expected, LineClient, openFixture, ScriptedElectrumNode, startServer, type Fixture, type RpcReply, type Started } from "./harness.ts";

let fx: Fixture;
let srv: Started;
let node: ScriptedElectrumNode;

beforeAll(async () => {
  fx = await openFixture();
  node = new ScriptedElectrumNode();
  srv = startServer(fx, { node, txsLimit: 500, limits: { maxLineBytes: 100_000, maxBatch: 10, maxSubscriptions: 2 } });
});
afterAll(async () => {
  await srv.server.stop();
  fx.close();
});

async function client(version: string | string[] | null = "1.6"): Promise<LineClient> {
  const c = await LineClient.connect(srv.server.port);
  if (version !== null) await c.result("server.version", ["t", version]);
  return c;
}

const tip = expected.tip.height;
const blockHash = (h: number) => hexToHash(expected.blocks[h]!.hash);

function checkHeaderProof(r: { branch: string[]; root: string; header?: string }, height: number, cp: number): void {
  const leaves = expected.blocks.slice(0, cp + 1).map((b) => hexToHash(b.hash));
  const root = merkleRootFromBranch(blockHash(height), r.branch.map(hexToHash), height);
  expect(hashToHex(root)).toBe(r.root);
  expect(leaves.length).toBe(cp + 1);
}

describe("server.version", () => {
  test("negotiates min(client max, 1.6); a second call is an error", async () => {
    const c = await client(null);
    expect(await c.result("server.version", ["t", ["1.4", "1.6"]])).toEqual(["electrs-bun 0.1.0", "1.6"]);
    const again = await c.call("server.version", ["t", "1.4"]);
    expect(again.error).toEqual({ code: 1, message: "server.version already sent" });
    expect(await c.result("server.ping")).toBeNull();
    c.close();
  });
  test("1.4 client; no common version closes the connection after the error", async () => {
    const c = await client(null);
    expect(await c.result("server.version", ["t", "1.4"])).toEqual(["electrs-bun 0.1.0", "1.4"]);
    c.close();
    const d = await client(null);
    const r = await d.call("server.version", ["t", "2.0"]);
    expect(r.error?.code).toBe(1);
    expect(await d.nextLine()).toBeNull();
  });
  test("per-version methods: headers shape, mempool.get_info, relayfee everywhere", async () => {
    const old = await client("1.4");
    const h14 = (await old.result("blockchain.block.headers", [0, 3])) as { count: number; hex: string; max: number };
    expect(h14).toEqual({ count: 3, hex: expected.blocks.slice(0, 3).map((b) => b.header).join(""), max: 2016 });
    expect((await old.call("mempool.get_info")).error?.code).toBe(-32601);
    expect(await old.result("blockchain.relayfee")).toBe(0.00001);
    const cur = await client("1.6");
    const h16 = await cur.result("blockchain.block.headers", [tip - 1, 10]);
    expect(h16).toEqual({ count: 2, headers: [expected.blocks[tip - 1]!.header, expected.blocks[tip]!.header], max: 2016 });
    expect(await cur.result("mempool.get_info")).toEqual({ mempoolminfee: 0.00001, minrelaytxfee: 0.00001, incrementalrelayfee: 0.00001 });
    expect(await cur.result("blockchain.relayfee")).toBe(0.00001);
    old.close();
    cur.close();
  });
});

describe("methods", () => {
  test("server.* ", async () => {
    const c = await client();
    const f = (await c.result("server.features")) as Record<string, unknown>;
    expect(f["genesis_hash"]).toBe(expected.genesis);
    expect(f["hosts"]).toEqual({ "127.0.0.1": { tcp_port: 1, ssl_port: null } });
    expect([f["protocol_min"], f["protocol_max"], f["hash_function"], f["pruning"]]).toEqual(["1.4", "1.6", "sha256", null]);
    expect(await c.result("server.banner")).toBe("hello");
    expect(await c.result("server.peers.subscribe")).toEqual([]);
    expect(await c.result("server.donation_address")).toBe("");
    c.close();
  });
  test("headers.subscribe, block.header with cp_height proofs (recomputed roots)", async () => {
    const c = await client();
    expect(await c.result("blockchain.headers.subscribe")).toEqual({ height: tip, hex: expected.blocks[tip]!.header });
    expect(await c.result("blockchain.block.header", [5])).toBe(expected.blocks[5]!.header);
    for (const [h, cp] of [[5, 8], [0, 0 + 1], [tip, tip], [100, tip]] as const) {
      const r = (await c.result("blockchain.block.header", [h, cp])) as { branch: string[]; header: string; root: string };
      expect(r.header).toBe(expected.blocks[h]!.header);
      checkHeaderProof(r, h, cp);
    }
    const hs = (await c.result("blockchain.block.headers", [10, 5, 20])) as { branch: string[]; root: string; count: number };
    expect(hs.count).toBe(5);
    checkHeaderProof(hs, 14, 20);
    expect((await c.call("blockchain.block.header", [tip + 1])).error?.code).toBe(1);
    expect((await c.call("blockchain.block.header", [9, 8])).error?.code).toBe(1);
    expect((await c.call("blockchain.block.header", [1, tip + 1])).error?.code).toBe(1);
    c.close();
  });
  test("transaction.get (raw, verbose), get_merkle and id_from_pos against the block merkle roots", async () => {
    const c = await client();
    const [txidHex, t] = Object.entries(expected.txs).find(([, t]) => t.height > 100 && t.pos > 0)!;
    expect(await c.result("blockchain.transaction.get", [txidHex])).toBe(t.hex);
    const v = (await c.result("blockchain.transaction.get", [txidHex, true])) as Record<string, unknown>;
    expect([v["txid"], v["hex"], v["size"], v["vsize"], v["weight"], v["blockhash"]]).toEqual([txidHex, t.hex, t.size, t.vsize, t.weight, t.blockhash]);
    expect(v["confirmations"]).toBe(tip - t.height + 1);
    const mk = (await c.result("blockchain.transaction.get_merkle", [txidHex, t.height])) as { block_height: number; merkle: string[]; pos: number };
    expect([mk.block_height, mk.pos]).toEqual([t.height, t.pos]);
    const root = merkleRootFromBranch(hexToHash(txidHex), mk.merkle.map(hexToHash), mk.pos);
    expect(hashToHex(root)).toBe(expected.blocks[t.height]!.merkleroot);
    expect(await c.result("blockchain.transaction.id_from_pos", [t.height, t.pos])).toBe(txidHex);
    const ip = (await c.result("blockchain.transaction.id_from_pos", [t.height, t.pos, true])) as { tx_hash: string; merkle: string[] };
    expect(ip).toEqual({ tx_hash: txidHex, merkle: mk.merkle });
    expect((await c.call("blockchain.transaction.get_merkle", [txidHex, t.height - 1])).error?.code).toBe(1);
    expect((await c.call("blockchain.transaction.id_from_pos", [t.height, 10_000])).error?.code).toBe(1);
    expect((await c.call("blockchain.transaction.get", ["00".repeat(32)])).error?.code).toBe(1);
    // the block header hashes to the block hash (sanity of the fixture data used above)
    expect(hashToHex(sha256d(hexToBytes(expected.blocks[t.height]!.header)))).toBe(expected.blocks[t.height]!.hash);
    c.close();
  });
  test("fees and broadcasts go through the node; accepted txids reach onBroadcast", async () => {
    const c = await client();
    expect(await c.result("blockchain.estimatefee", [2, "economical"])).toBe(0.00012);
    expect(await c.result("blockchain.estimatefee", [6])).toBe(-1);
    // A node error is "no estimate" too: Electrum drops a server that answers estimatefee with an error.
    expect(await c.result("blockchain.estimatefee", [25])).toBe(-1);
    expect(node.calls.filter((x) => x.method === "estimatesmartfee").map((x) => x.params)).toEqual([[2, "ECONOMICAL"], [6, null], [25, null]]);
    expect((await c.call("blockchain.estimatefee", [2, "FAST"])).error?.code).toBe(1);
    expect(await c.result("blockchain.transaction.broadcast", ["0200"])).toBe("ab".repeat(32));
    expect(await c.result("blockchain.transaction.broadcast_package", [["0200", "0300"]])).toEqual({ success: true });
    expect(srv.broadcasts).toEqual([["ab".repeat(32)], ["cd".repeat(32)]]);
    expect((await c.call("blockchain.transaction.broadcast", ["xyz"])).error?.code).toBe(1);
    expect(await c.result("mempool.get_fee_histogram")).toEqual([]);
    c.close();
  });
  test("--offline: node methods answer code 2 with a clear message", async () => {
    const off = startServer(fx, { node: null });
    const c = await LineClient.connect(off.server.port);
    const r = await c.call("blockchain.relayfee");
    expect(r.error).toEqual({ code: 2, message: "no bitcoind: the server runs with --offline" });
    expect(await c.result("blockchain.estimatefee", [2])).toBe(-1);
    expect(await c.result("server.ping")).toBeNull();
    c.close();
    await off.server.stop();
  });
});

describe("limits", () => {
  const big = expected.scripts.reduce((a, b) => (b.history.length > a.history.length ? b : a));
  test(`--electrum-txs-limit: a ${big.history.length}-tx history is refused with 10001`, async () => {
    const c = await client();
    const r = await c.call("blockchain.scripthash.get_history", [big.electrum_scripthash]);
    expect(r.error?.code).toBe(10001);
    expect(r.error?.message).toContain("history too large");
    expect((await c.call("blockchain.scripthash.subscribe", [big.electrum_scripthash])).error?.code).toBe(10001);
    c.close();
  });
  test("a reply over the response limit becomes an error; in a batch only the parts past it do", async () => {
    const small = startServer(fx, { txsLimit: 0, limits: { maxResponseBytes: 20_000 } });
    const c = await LineClient.connect(small.server.port);
    // Refused before it is read: 601 entries cannot fit in 20,000 bytes.
    const r = await c.call("blockchain.scripthash.get_history", [big.electrum_scripthash]);
    expect(r.error).toEqual({ code: -32600, message: "response too large (over 20000 bytes)" });
    // Refused once built: the headers of the whole fixture chain (160 hex chars each).
    const h = await c.call("blockchain.block.headers", [0, 2016]);
    expect(h.error).toEqual({ code: -32600, message: "response too large (over 20000 bytes)" });
    // The connection goes on; a small answer still comes back whole.
    const tiny = expected.scripts.find((s) => s.history.length === 2)!;
    expect(await c.result("blockchain.scripthash.get_history", [tiny.electrum_scripthash])).toHaveLength(2);
    c.write(JSON.stringify([
      { id: 1, method: "blockchain.scripthash.get_history", params: [tiny.electrum_scripthash] },
      { id: 2, method: "blockchain.scripthash.get_history", params: [big.electrum_scripthash] },
      { id: 3, method: "server.ping" },
    ]) + "\n");
    const line = (await c.nextLine())!;
    expect(line.length).toBeLessThanOrEqual(20_000);
    const batch = JSON.parse(line) as RpcReply[];
    expect(batch.map((x) => x.id)).toEqual([1, 2, 3]);
    expect(batch[0]!.result).toHaveLength(2);
    expect(batch[1]!.error?.code).toBe(-32600);
    expect(batch[2]!.result).toBeNull();
    c.close();
    await small.server.stop();
  });
  test("subscription limit per connection, batch limit", async () => {
    const c = await client();
    const [a, b, d] = expected.scripts.filter((s) => s.history.length < 10).map((s) => s.electrum_scripthash);
    await c.result("blockchain.scripthash.subscribe", [a]);
    await c.result("blockchain.scripthash.subscribe", [b]);
    await c.result("blockchain.scripthash.subscribe", [a]); // re-subscribing is always allowed
    const r = await c.call("blockchain.scripthash.subscribe", [d]);
    expect(r.error?.code).toBe(4);
    expect(await c.result("blockchain.scripthash.unsubscribe", [a])).toBe(true);
    expect(await c.result("blockchain.scripthash.unsubscribe", [a])).toBe(false);
    await c.result("blockchain.scripthash.subscribe", [d]);
    const batch = Array.from({ length: 11 }, (_, i) => ({ id: i, method: "server.ping" }));
    c.write(JSON.stringify(batch) + "\n");
    expect((await c.next()).error?.code).toBe(4);
    c.close();
  });
});

describe("malformed requests", () => {
  const cases: [string, string, number][] = [
    ["bad JSON", "{nope", -32700],
    ["non-object", "42", -32600],
    ["empty batch", "[]", -32600],
    ["method not a string", '{"id":1,"method":5}', -32600],
    ["bad id type", '{"id":{},"method":"server.ping"}', -32600],
    ["unknown method", '{"id":1,"method":"blockchain.nope"}', -32601],
    ["params not an array/object", '{"id":1,"method":"server.ping","params":7}', -32602],
    ["missing param", '{"id":1,"method":"blockchain.scripthash.get_history","params":[]}', -32602],
    ["wrong param type", '{"id":1,"method":"blockchain.block.header","params":["x"]}', -32602],
    ["bad scripthash hex", '{"id":1,"method":"blockchain.scripthash.get_balance","params":["zz"]}', 1],
    ["bad txid", '{"id":1,"method":"blockchain.transaction.get","params":["12"]}', 1],
    ["verbose not a bool", `{"id":1,"method":"blockchain.transaction.get","params":["${"00".repeat(32)}","yes"]}`, -32602],
    ["height past the tip", `{"id":1,"method":"blockchain.block.header","params":[${tip + 5}]}`, 1],
  ];
  test.each(cases)("%s → error, connection still usable", async (_name, line, code) => {
    const c = await client();
    c.write(line + "\n");
    const r = await c.next();
    expect(r.error?.code).toBe(code);
    expect(await c.result("server.ping")).toBeNull();
    c.close();
  });
  test("an id JSON cannot echo exactly (1e400, an integer past 2^53) is an invalid request with id null; exact ones are echoed", async () => {
    const c = await client();
    for (const id of ["1e400", "-1e400", "9007199254740993"]) {
      c.write(`{"jsonrpc":"2.0","id":${id},"method":"server.ping"}\n`);
      const r = await c.next();
      expect(r.id).toBeNull();
      expect(r.error?.code).toBe(-32600);
      expect("result" in r).toBe(false);
    }
    for (const id of [9007199254740991, 1.5, -3]) {
      c.write(`{"jsonrpc":"2.0","id":${id},"method":"server.ping"}\n`);
      expect(await c.next()).toEqual({ jsonrpc: "2.0", id, result: null });
    }
    c.close();
  });
  test("a 10 MB line is refused and that client closed; another client is unaffected", async () => {
    const other = await client();
    const c = await client();
    c.write("[" + "1,".repeat(5_000_000));
    const r = await c.next();
    expect(r.error?.code).toBe(-32600);
    expect(r.error?.message).toContain("request line too large");
    await c.closedPromise;
    expect(await other.result("server.ping")).toBeNull();
    other.close();
  });
  test("a TLS handshake on the plain port closes that client only", async () => {
    const other = await client();
    const c = await LineClient.connect(srv.server.port);
    c.write(Uint8Array.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01]));
    expect(await c.nextLine()).toBeNull();
    expect(await other.result("server.ping")).toBeNull();
    other.close();
  });
});

describe("framing", () => {
  test("pipelined requests are answered in order; 1.0 envelopes, string ids, notifications without id", async () => {
    const c = await client();
    const lines = [
      '{"id":"a","method":"blockchain.block.header","params":[1]}',
      '{"method":"server.ping","params":[]}',
      '{"id":2,"method":"blockchain.scripthash.get_balance","params":{"scripthash":"' + expected.scripts[0]!.electrum_scripthash + '"}}',
      '{"id":3,"method":"blockchain.block.header","params":[2]}',
    ];
    c.write(lines.join("\n") + "\n");
    const replies: RpcReply[] = [await c.next(), await c.next(), await c.next()];
    expect(replies.map((r) => r.id)).toEqual(["a", 2, 3]);
    expect(replies[0]!.result).toBe(expected.blocks[1]!.header);
    expect(replies[1]!.result).toEqual({ confirmed: expected.scripts[0]!.balance, unconfirmed: 0 });
    await c.expectQuiet();
    c.close();
  });
  test("a request split across writes, CRLF line ends, and a batch with an error element", async () => {
    const c = await client();
    const line = JSON.stringify([{ id: 1, method: "server.ping" }, { id: 2, method: "nope" }, { id: 3, method: "blockchain.block.header", params: [0] }]);
    c.write(line.slice(0, 10));
    await Bun.sleep(0);
    c.write(line.slice(10) + "\r\n");
    const r = JSON.parse((await c.nextLine())!) as RpcReply[];
    expect(r.map((x) => x.id)).toEqual([1, 2, 3]);
    expect(r[1]!.error?.code).toBe(-32601);
    expect(r[2]!.result).toBe(expected.blocks[0]!.header);
    c.close();
  });
});

describe("backpressure", () => {
  test("a client that stops reading stalls only itself; its answers resume in order", async () => {
    const slow = startServer(fx, { limits: { sendHighWater: 50_000, maxSendBuffer: 100_000_000 } });
    const c = await LineClient.connect(slow.server.port);
    const other = await LineClient.connect(slow.server.port);
    c.pauseReading();
    const n = 1500; // ~22 kB each in 1.4 hex: ~33 MB of answers, far beyond the socket buffers
    c.write(Array.from({ length: n }, (_, i) => JSON.stringify({ id: i, method: "blockchain.block.headers", params: [0, 138] })).join("\n") + "\n");
    expect(await other.result("server.ping")).toBeNull();
    c.resumeReading();
    for (let i = 0; i < n; i++) expect((await c.next()).id).toBe(i);
    c.close();
    other.close();
    await slow.server.stop();
  }, 30_000);
});
