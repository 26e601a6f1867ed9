/**
 * Every client mistake gets electrs' status and text (spec §1.1, §1.3, §1.4, §1.6), node failures
 * map as BS-new maps them, and a table of bad requests sent to every route never gives a 500 nor
 * hangs. Bodies: 413 over 1,000,000 bytes, 408 for a body that stalls (injected 200 ms deadline).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { connect } from "node:net";
import { DaemonError, DaemonUnreachableError } from "../../../src/errors.ts";
import { silentLogger } from "../../../src/log.ts";
import { errorAnswer, HttpError } from "../../../src/rest/errors.ts";
import { ROUTES } from "../../../src/rest/routes.ts";
import { expected, memoryLogger, openFixture, ScriptedRestNode, startServer, type Fixture, type ServerUnderTest } from "./harness.ts";

let fx: Fixture;
let s: ServerUnderTest;
let limited: ServerUnderTest;
const node = new ScriptedRestNode();

const popular = expected.scripts[0]!;
const unknown = "ab".repeat(32);
const block120 = expected.blocks[120]!;
const smallBlock = expected.blocks.find((b) => b.nTx > 1 && b.nTx < 25)!;
const txHex = expected.txs[block120.txids[1]!]!.hex;

beforeAll(async () => {
  fx = await openFixture({ addressSearch: true });
  node.sendRawTransaction = async () => {
    throw new DaemonError("sendrawtransaction", -27, "Transaction already in block chain");
  };
  s = startServer(fx, { node, bodyTimeoutMs: 200, config: { cors: "*" } });
  limited = startServer(fx, { node, config: { utxosLimit: 100, addressSearch: true } });
});
afterAll(async () => {
  await s.server.stop();
  await limited.server.stop();
  fx.close();
});

async function answer(srv: ServerUnderTest, path: string, init?: RequestInit): Promise<[number, string]> {
  const r = await srv.get(path, init);
  return [r.status, await r.text()];
}
const post = (body: string | Uint8Array): RequestInit => ({ method: "POST", body });

describe("electrs' error texts", () => {
  const cases: [string, RequestInit | undefined, number, string][] = [
    ["/block-height/abc", undefined, 400, "Invalid number"],
    ["/block-height/-1", undefined, 400, "Invalid number"],
    ["/block-height/1.5", undefined, 400, "Invalid number"],
    ["/block-height/99999999999999999999999", undefined, 400, "Invalid number"],
    ["/block-height/1000", undefined, 404, "Block not found"],
    ["/block-height/18446744073709551615", undefined, 404, "Block not found"],
    ["/blocks/1000", undefined, 404, "Block not found"],
    ["/block/invalid_hash/txs/0", undefined, 400, "Invalid hex string"],
    [`/block/${"0".repeat(63)}`, undefined, 400, "Invalid hex string"],
    [`/block/${unknown}`, undefined, 404, "Block not found"],
    [`/block/${unknown}/txids`, undefined, 404, "Block not found"],
    [`/block/${unknown}/header`, undefined, 404, "Block not found"],
    [`/block/${unknown}/raw`, undefined, 404, "Block not found"],
    [`/block/${unknown}/txs/5`, undefined, 404, "Block not found"],
    [`/block/${unknown}/txid/x`, undefined, 400, "Invalid number"],
    [`/block/${block120.hash}/txid/x`, undefined, 400, "Invalid number"],
    [`/block/${block120.hash}/txid/999`, undefined, 404, "tx index out of range"],
    [`/block/${block120.hash}/txs/5`, undefined, 400, "start index must be a multiple of 25"],
    [`/block/${smallBlock.hash}/txs/25`, undefined, 400, "start index out of range"],
    [`/tx/${unknown}`, undefined, 404, "Transaction not found"],
    [`/tx/${unknown}/hex`, undefined, 404, "Transaction not found"],
    [`/tx/${unknown}/raw`, undefined, 404, "Transaction not found"],
    [`/tx/${unknown}/outspends`, undefined, 404, "Transaction not found"],
    [`/tx/${unknown}/merkle-proof`, undefined, 404, "Transaction not found or is unconfirmed"],
    [`/tx/${unknown}/merkleblock-proof`, undefined, 404, "Transaction not found or is unconfirmed"],
    [`/tx/${unknown}/status`, undefined, 200, '{"confirmed":false}'],
    [`/tx/${unknown}/outspend/0`, undefined, 200, '{"spent":false}'],
    [`/tx/${block120.txids[1]}/outspend/99`, undefined, 200, '{"spent":false}'],
    [`/tx/${unknown}/outspend/x`, undefined, 400, "Invalid number"],
    [`/tx/${unknown}/outspend/4294967296`, undefined, 400, "Invalid number"],
    ["/tx/xyz", undefined, 400, "Invalid hex string"],
    [`/block/${unknown}/status`, undefined, 200, '{"in_best_chain":false,"height":null,"next_best":null}'],
    ["/address/bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4", undefined, 400, "Address on invalid network"],
    ["/address/1BoatSLRHtKNngkdXEeobR76b53LETtpyT/txs", undefined, 400, "Address on invalid network"],
    ["/address/notanaddress", undefined, 400, "base58 error"],
    ["/scripthash/zz", undefined, 400, "Invalid scripthash"],
    [`/scripthash/${"a".repeat(62)}/utxo`, undefined, 400, "Invalid scripthash"],
    ["/address-prefix/bcrt", undefined, 400, "address search disabled"],
    [`/address/${popular.address}/txs?after_txid=${unknown}`, undefined, 422, "after_txid not found"],
    [`/address/${popular.address}/txs/summary/${unknown}`, undefined, 422, "after_txid not found"],
    [`/address/${popular.address}/utxo?after=${unknown}:0`, undefined, 422, "after not found"],
    [`/address/${popular.address}/utxo?after=nocolon`, undefined, 400, "Invalid after: expected <txid>:<vout>"],
    [`/address/${popular.address}/utxo?limit=0`, undefined, 400, "Invalid limit"],
    [`/address/${popular.address}/utxo?limit=-3`, undefined, 400, "Invalid number"],
    ["/txs/outspends", undefined, 400, "No txids specified"],
    [`/txs/outspends?txids=${Array(51).fill(unknown).join(",")}`, undefined, 400, "Too many txids requested"],
    [`/txs/outspends?txids=${unknown},${unknown}`, undefined, 200, "[[],[]]"],
    ["/broadcast", undefined, 400, "Missing tx"],
    ["/broadcast?tx=00", undefined, 400, "sendrawtransaction RPC error -27: Transaction already in block chain"],
    ["/tx", post(txHex), 400, "sendrawtransaction RPC error -27: Transaction already in block chain"],
    ["/tx", post(Uint8Array.of(0xff, 0xfe)), 400, "invalid utf-8 sequence"],
    ["/txs/package", post(JSON.stringify(Array(26).fill(txHex))), 400, "Exceeded maximum of 25 transactions"],
    ["/txs/package", post(JSON.stringify([txHex, "00"])), 400, "Invalid transaction size for item 1"],
    ["/txs/package", post(JSON.stringify(["zz".repeat(100)])), 400, "Invalid transaction hex for item 0"],
    ["/txs/package", post(JSON.stringify([txHex + "0"])), 400, "Invalid transaction hex for item 0"],
    ["/txs/package?maxfeerate=abc", post(JSON.stringify([txHex])), 400, "Invalid maxfeerate"],
    ["/txs/package?maxburnamount=1x", post(JSON.stringify([txHex])), 400, "Invalid maxburnamount"],
    ["/txs/package", post("{not json"), 400, "invalid JSON: JSON Parse error: Expected '}'"],
    ["/txs/package", post('{"a":1}'), 400, "invalid type: expected a sequence"],
    ["/txs/package", post("[1]"), 400, "invalid type: expected a string"],
    ["/txs/test", post(JSON.stringify(Array(26).fill(txHex))), 400, "Exceeded maximum of 25 transactions"],
    ["/txs/test?maxfeerate=x", post(JSON.stringify([txHex])), 400, "Invalid maxfeerate"],
    ["/txs/test", post(JSON.stringify(["12"])), 400, "Invalid transaction size for item 0"],
    ["/addresses/txs", post(JSON.stringify(Array(301).fill(popular.address))), 422, "body too long"],
    ["/scripthashes/txs", post(JSON.stringify(Array(250).fill("x".repeat(90)))), 422, "body too long"],
  ];
  for (const [path, init, status, text] of cases) {
    test(`${init?.method ?? "GET"} ${path.slice(0, 90)} → ${status} ${text}`, async () => {
      expect(await answer(s, path, init)).toEqual([status, text]);
    });
  }

  test("errors are text/plain without Cache-Control, with the CORS header", async () => {
    const r = await s.get(`/tx/${unknown}`);
    expect([r.headers.get("content-type"), r.headers.get("cache-control"), r.headers.get("access-control-allow-origin")]).toEqual(["text/plain", null, "*"]);
  });

  test("--utxos-limit: BS-new's text without paging; paging lists big addresses", async () => {
    expect(await answer(limited, `/address/${popular.address}/utxo`)).toEqual([400, "Too many unspent outputs"]);
    const seen: string[] = [];
    let after = "";
    for (;;) {
      const page = (await (await limited.get(`/address/${popular.address}/utxo?limit=100${after}`)).json()) as { txid: string; vout: number }[];
      seen.push(...page.map((u) => `${u.txid}:${u.vout}`));
      if (page.length < 100) break;
      after = `&after=${page[99]!.txid}:${page[99]!.vout}`;
    }
    expect(seen.sort()).toEqual(popular.utxos.map((u) => `${u.txid}:${u.vout}`).sort());
  });

  test("--address-search: up to 10 addresses with the prefix, in byte order", async () => {
    const list = (await (await limited.get("/address-prefix/bcrt1q")).json()) as string[];
    const all = expected.scripts.map((x) => x.address).filter((a): a is string => a !== null && a.startsWith("bcrt1q"));
    expect(list).toEqual([...new Set(all)].sort().slice(0, 10));
    expect(await (await limited.get("/address-prefix/zzz")).json()).toEqual([]);
  });
});

describe("node failures", () => {
  test("errorAnswer maps every error type in one place", () => {
    const { log, lines } = memoryLogger();
    expect(errorAnswer(new HttpError(418, "teapot"), log)).toEqual({ status: 418, message: "teapot" });
    expect(errorAnswer(new DaemonError("sendrawtransaction", -26, "min relay fee not met"), log)).toEqual({
      status: 400,
      message: "sendrawtransaction RPC error -26: min relay fee not met",
    });
    expect(errorAnswer(new DaemonError("sendrawtransaction", -28, "Loading block index…"), log).status).toBe(503);
    expect(errorAnswer(new DaemonError("getblock", -5, "Block not found"), log)).toEqual({ status: 404, message: "Block not found" });
    expect(errorAnswer(new DaemonUnreachableError("connection refused"), log)).toEqual({ status: 504, message: "connection refused" });
    expect(lines).toEqual([]);
    expect(errorAnswer(new TypeError("boom"), log)).toEqual({ status: 500, message: "Internal server error" });
    expect(lines.some((l) => l.startsWith("ERROR") && l.includes("boom"))).toBe(true);
    expect(errorAnswer("weird", silentLogger()).status).toBe(500);
  });

  test("a node that is down or warming up answers 504 and 503", async () => {
    const n = new ScriptedRestNode();
    n.sendRawTransaction = async () => {
      throw new DaemonUnreachableError("sendrawtransaction: bitcoind did not answer within 30000 ms");
    };
    n.submitPackage = async () => {
      throw new DaemonError("submitpackage", -28, "Verifying blocks…");
    };
    const srv = startServer(fx, { node: n });
    try {
      expect(await answer(srv, "/tx", post(txHex))).toEqual([504, "sendrawtransaction: bitcoind did not answer within 30000 ms"]);
      expect(await answer(srv, "/txs/package", post(JSON.stringify([txHex])))).toEqual([503, "submitpackage RPC error -28: Verifying blocks…"]);
    } finally {
      await srv.server.stop();
    }
  });
});

describe("bad input never crashes, hangs or answers 500", () => {
  const values = ["", "x", "-1", "0", "+5", "1e3", "99999999999999999999999999", "%00", "%ZZ", "🙂", "..", "zz".repeat(32), "0".repeat(64), "f".repeat(64), "a".repeat(10_000)];
  const query = "?max_txs=-1&after_txid=zz&limit=x&after=a:b&txids=,&tx=zz&maxfeerate=nan&maxburnamount=&start_index=9";
  const bodies: (string | Uint8Array)[] = ["", "{", "[1,2]", "null", '["zz"]', "[]", Uint8Array.of(0xff, 0x00, 0xc3)];

  const paths = (pattern: string): string[] =>
    values.map((v) => {
      const enc = v.startsWith("%") ? v : encodeURIComponent(v);
      return pattern.replace(/:[a-z_]+/g, enc);
    });

  test("every route, every bad value, with and without bad query params", async () => {
    const node500: string[] = [];
    for (const route of ROUTES) {
      for (const path of paths(route.path)) {
        for (const suffix of ["", query]) {
          const inits: RequestInit[] = route.method === "GET" ? [{}] : bodies.map((b) => ({ method: "POST", body: b }));
          for (const init of inits) {
            const r = await s.get(path + suffix, { ...init, signal: AbortSignal.timeout(2000) });
            await r.arrayBuffer();
            if (r.status >= 500 && r.status !== 503 && r.status !== 504) node500.push(`${route.method} ${path.slice(0, 80)}${suffix} → ${r.status}`);
          }
        }
      }
    }
    expect(node500).toEqual([]);
    expect(s.lines.filter((l) => l.startsWith("ERROR"))).toEqual([]);
    expect(await answer(s, "/blocks/tip/height")).toEqual([200, String(expected.tip.height)]);
  }, 60_000);
});

describe("request bodies", () => {
  test("413 over 1,000,000 bytes, by Content-Length or while streaming; 1,000,000 is accepted", async () => {
    expect(await answer(s, "/tx", post("a".repeat(1_000_001)))).toEqual([413, "Request body too large"]);
    const r = await s.get("/txs/test", post("a".repeat(2_000_000)));
    expect([r.status, r.headers.get("access-control-allow-origin")]).toEqual([413, "*"]);
    await r.arrayBuffer();
    const chunks = new ReadableStream<Uint8Array>({
      start(c) {
        for (let i = 0; i < 20; i++) c.enqueue(new Uint8Array(100_000).fill(0x61));
        c.close();
      },
    });
    expect(await answer(s, "/tx", { method: "POST", body: chunks })).toEqual([413, "Request body too large"]);
    expect((await answer(s, "/tx", post("a".repeat(1_000_000))))[0]).toBe(400);
  });

  test("408 for a body that stops arriving (injected 200 ms deadline)", async () => {
    const started = performance.now();
    const reply = await new Promise<string>((resolve, reject) => {
      const sock = connect(s.server.port, "127.0.0.1", () => {
        // Headers and 10 of the 100 bytes announced, then nothing.
        sock.write(`POST /tx HTTP/1.1\r\nHost: 127.0.0.1:${s.server.port}\r\nContent-Type: text/plain\r\nContent-Length: 100\r\n\r\n0123456789`);
      });
      let buf = "";
      sock.on("data", (d) => {
        buf += d.toString();
        if (buf.includes("Request timeout")) {
          sock.destroy();
          resolve(buf);
        }
      });
      sock.on("error", reject);
      sock.on("close", () => resolve(buf));
    });
    expect(reply).toStartWith("HTTP/1.1 408");
    expect(reply).toContain("\r\n\r\nRequest timeout");
    expect(performance.now() - started).toBeLessThan(2000);
  });
});
