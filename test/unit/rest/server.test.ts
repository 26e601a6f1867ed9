/**
 * The server's life cycle (port 0, the log line process tests wait for, "address in use", stop),
 * the RestNode over the real JSON-RPC client with Core's recorded answers, and the small pure
 * helpers: serde's float text, Rust's Debug quoting, the raw path of a URL.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fromUserPass } from "../../../src/daemon/cookie.ts";
import { DaemonClient } from "../../../src/daemon/rpc.ts";
import { DaemonError, DaemonUnreachableError } from "../../../src/errors.ts";
import { silentLogger } from "../../../src/log.ts";
import { noopMetrics } from "../../../src/metrics/metrics.ts";
import { debugQuoted, pathOf } from "../../../src/rest/dispatch.ts";
import { formatF64 } from "../../../src/rest/json.ts";
import { restNodeOf } from "../../../src/rest/node.ts";
import { ROUTES } from "../../../src/rest/routes.ts";
import { startRestServer } from "../../../src/rest/server.ts";
import { FIXTURE_DIR } from "../../helpers/fixture.ts";
import { memoryLogger, openFixture, REST_CONFIG, ScriptedRestNode, startServer, type Fixture } from "./harness.ts";

let fx: Fixture;
beforeAll(async () => {
  fx = await openFixture({ maxHeight: 5 });
});
afterAll(() => fx.close());

describe("life cycle", () => {
  test("port 0, the log line, and stop", async () => {
    const s = startServer(fx);
    expect(s.server.port).toBeGreaterThan(0);
    expect(s.server.url).toBe(`http://127.0.0.1:${s.server.port}`);
    expect(s.lines).toEqual([`INFO  REST server running on 127.0.0.1:${s.server.port}`]);
    expect(await (await s.get("/blocks/tip/height")).text()).toBe("5");
    await s.server.stop();
    await expect(fetch(`${s.server.url}/blocks/tip/height`)).rejects.toThrow();
  });

  test("an address in use is reported like the metrics server reports it", async () => {
    const s = startServer(fx);
    try {
      const { log } = memoryLogger();
      expect(() =>
        startRestServer({ addr: { host: "127.0.0.1", port: s.server.port }, query: fx.query, rpc: new ScriptedRestNode(), config: REST_CONFIG, log, metrics: noopMetrics() }),
      ).toThrow(`cannot listen on 127.0.0.1:${s.server.port} for --http-addr: address in use`);
    } finally {
      await s.server.stop();
    }
  });
});

test("--offline (no node): broadcasts answer 504, fee estimates are empty", async () => {
  const { log } = memoryLogger();
  const server = startRestServer({ addr: { host: "127.0.0.1", port: 0 }, query: fx.query, rpc: null, config: REST_CONFIG, log, metrics: noopMetrics() });
  try {
    const r = await fetch(`${server.url}/tx`, { method: "POST", body: "00" });
    expect([r.status, await r.text()]).toEqual([504, "no bitcoind to send to: the server runs with --offline"]);
    expect(await (await fetch(`${server.url}/fee-estimates`)).text()).toBe("{}");
  } finally {
    await server.stop();
  }
});

/** A DaemonClient over a fetch that answers from Core 30's recorded replies (rpc-samples.json). */
function recordedClient(handler: (method: string, params: unknown[]) => unknown): DaemonClient {
  return new DaemonClient({
    url: "http://127.0.0.1:1",
    auth: fromUserPass("u:p"),
    parallelism: 2,
    log: silentLogger(),
    retry: { initialDelayMs: 1, maxDelayMs: 1, giveUpAfterMs: 50 },
    fetch: async (_url, init) => {
      const req = JSON.parse(String(init.body)) as { id: number; method: string; params: unknown[] } | { id: number; method: string; params: unknown[] }[];
      const one = (r: { id: number; method: string; params: unknown[] }) => ({ ...(handler(r.method, r.params) as object), id: r.id });
      return Response.json(Array.isArray(req) ? req.map(one) : one(req));
    },
  });
}

describe("RestNode over DaemonClient", () => {
  const samples = JSON.parse(readFileSync(join(FIXTURE_DIR, "rpc-samples.json"), "utf8")) as {
    method: string;
    params: unknown[];
    response: { result: unknown; error: { code: number; message: string } | null };
  }[];
  const sample = (method: string, pred: (p: unknown[]) => boolean = () => true) => samples.find((x) => x.method === method && pred(x.params))!.response;

  test("sendrawtransaction: Core's refusal is electrs' text", async () => {
    const node = restNodeOf(recordedClient(() => sample("sendrawtransaction", (p) => p[0] === "00")), { timeoutMs: 1000 });
    await expect(node.sendRawTransaction("00")).rejects.toThrow(new DaemonError("sendrawtransaction", -22, "TX decode failed. Make sure the tx has at least one input."));
  });

  test("estimatesmartfee in one batch with ECONOMICAL; missing estimates are null", async () => {
    const seen: unknown[][] = [];
    const node = restNodeOf(
      recordedClient((_, params) => {
        seen.push(params);
        if (params[0] === 6) return sample("estimatesmartfee", (p) => p[1] === "ECONOMICAL");
        return { result: { errors: ["Insufficient data or no feerate found"], blocks: 0 }, error: null };
      }),
      { timeoutMs: 1000 },
    );
    expect(await node.estimateSmartFee([1, 6])).toEqual([null, 0.00020016]);
    expect(seen).toEqual([
      [1, "ECONOMICAL"],
      [6, "ECONOMICAL"],
    ]);
  });

  test("optional trailing params are left out; a later one forces the earlier ones", async () => {
    const seen: [string, unknown[]][] = [];
    const node = restNodeOf(
      recordedClient((method, params) => {
        seen.push([method, params]);
        return { result: [], error: null };
      }),
      { timeoutMs: 1000 },
    );
    await node.testMempoolAccept(["aa"], null);
    await node.submitPackage(["aa"], null, 5);
    await node.submitPackage(["aa"], 0.1, null);
    expect(seen).toEqual([
      ["testmempoolaccept", [["aa"]]],
      ["submitpackage", [["aa"], null, 5]],
      ["submitpackage", [["aa"], 0.1]],
    ]);
  });

  test("a node that does not answer in time is DaemonUnreachableError (504)", async () => {
    const client = new DaemonClient({
      url: "http://127.0.0.1:1",
      auth: fromUserPass("u:p"),
      parallelism: 1,
      log: silentLogger(),
      fetch: () => new Promise<Response>(() => {}),
    });
    const node = restNodeOf(client, { timeoutMs: 50 });
    await expect(node.sendRawTransaction("00")).rejects.toBeInstanceOf(DaemonUnreachableError);
    client.close();
  });
});

test("the route table is the spec's route list (§1.3, §1.4, §1.6, MP's /internal/* included)", () => {
  const scripts = (k: string, plural: string) => [
    `GET /${k}/:${k}`,
    `GET /${k}/:${k}/txs`,
    `GET /${k}/:${k}/txs/chain`,
    `GET /${k}/:${k}/txs/chain/:last_seen`,
    `GET /${k}/:${k}/txs/mempool`,
    `GET /${k}/:${k}/txs/summary`,
    `GET /${k}/:${k}/txs/summary/:last_seen`,
    `GET /${k}/:${k}/utxo`,
    `POST /${plural}/txs`,
    `POST /${plural}/txs/summary`,
    `POST /${plural}/txs/summary/:last_seen`,
  ];
  const want = [
    "GET /blocks/tip/hash",
    "GET /blocks/tip/height",
    "GET /blocks",
    "GET /blocks/:start_height",
    "GET /block-height/:height",
    "GET /block/:hash",
    "GET /block/:hash/status",
    "GET /block/:hash/txids",
    "GET /block/:hash/header",
    "GET /block/:hash/raw",
    "GET /block/:hash/txid/:index",
    "GET /block/:hash/txs",
    "GET /block-template",
    "GET /block/:hash/txs/:start_index",
    ...scripts("address", "addresses"),
    ...scripts("scripthash", "scripthashes"),
    "GET /address-prefix/:prefix",
    "GET /tx/:txid",
    "GET /tx/:txid/hex",
    "GET /tx/:txid/raw",
    "GET /tx/:txid/status",
    "GET /tx/:txid/merkle-proof",
    "GET /tx/:txid/merkleblock-proof",
    "GET /tx/:txid/outspend/:vout",
    "GET /tx/:txid/outspends",
    "GET /txs/outspends",
    "POST /tx",
    "GET /broadcast",
    "POST /txs/test",
    "POST /txs/package",
    "GET /health/ready",
    "GET /mempool",
    "GET /mempool/txids",
    "GET /mempool/txids/page",
    "GET /mempool/txids/page/:last_seen",
    "GET /mempool/recent",
    "GET /fee-estimates",
    "GET /internal/block/:hash/txs",
    "POST /internal/txs",
    "GET /internal/mempool/txs/all",
    "GET /internal/mempool/txs",
    "GET /internal/mempool/txs/:last_seen",
    "POST /internal/mempool/txs",
    "POST /internal/txs/outspends/by-txid",
    "POST /internal/txs/outspends/by-outpoint",
  ];
  expect(ROUTES.map((r) => `${r.method} ${r.path}`)).toEqual(want);
  // The metrics label is the pattern, never a raw path.
  expect(ROUTES.every((r) => r.name === r.path)).toBe(true);
});

describe("helpers", () => {
  test("formatF64 prints f64 as serde_json (ryu) does", () => {
    const cases: [number, string][] = [
      [0, "0.0"],
      [1, "1.0"],
      [-2, "-2.0"],
      [1.5, "1.5"],
      [20.016000000000002, "20.016000000000002"],
      [4.6565423739069247e-10, "4.6565423739069247e-10"],
      [1e15, "1000000000000000.0"],
      [1e16, "1e16"],
      [1.5e17, "1.5e17"],
      [0.0001, "0.0001"],
      [0.00001, "0.00001"],
      [0.000001, "1e-6"],
      [1.25e-7, "1.25e-7"],
      [123456789.125, "123456789.125"],
      [Number.NaN, "null"],
    ];
    for (const [x, text] of cases) expect([x, formatF64(x)]).toEqual([x, text]);
  });

  test("Rust's Debug quoting of a path", () => {
    expect(debugQuoted("/nope")).toBe('"/nope"');
    expect(debugQuoted('/a"b\\c')).toBe('"/a\\"b\\\\c"');
    expect(debugQuoted("/\n\t\u0001")).toBe('"/\\n\\t\\u{1}"');
  });

  test("pathOf keeps the raw path and drops the query", () => {
    expect(pathOf("http://127.0.0.1:3000/tx/ab?x=1")).toBe("/tx/ab");
    expect(pathOf("http://[::1]:3000/a//b/")).toBe("/a//b/");
    expect(pathOf("http://h:1")).toBe("/");
  });

  test("pathOf of a request without a Host header (Bun's URL is then the request target)", () => {
    expect(pathOf("/blocks/tip/height")).toBe("/blocks/tip/height");
    expect(pathOf("/tx/ab?x=1")).toBe("/tx/ab");
    expect(pathOf("//blocks/tip/height")).toBe("//blocks/tip/height");
    expect(pathOf("/")).toBe("/");
  });
});
