/**
 * --otlp-tracing, end to end: the compiled executable (built here, as `npm run build` builds it)
 * follows a real node (bcoin on regtest) woken by a real libzmq publisher, and exports its spans
 * over OTLP/HTTP to a receiver that decodes them with OpenTelemetry's own protobuf definitions
 * (test/helpers/otlp-collector.ts). Checked: the span names and attributes, and the parent links
 * that make one block's path (ZMQ wake-up → main-loop turn → RPC calls → index batch → mempool
 * update → Electrum notifications) a single trace. Also: a collector that is down costs one
 * warning and no service; tracing off sends nothing.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import net from "node:net";
import { join } from "node:path";
import { writeFileSync } from "node:fs";
import { hexToBytes } from "../../src/bitcoin/bytes.ts";
import { metricsUrl, spawnCommand, type AppProcess } from "../helpers/app-process.ts";
import { startBcoin, type BcoinNode } from "../helpers/bcoin-node.ts";
import { FIXTURE_BLOCKS } from "../helpers/fixture.ts";
import { startOtlpCollector, type OtlpCollector, type ReceivedSpan } from "../helpers/otlp-collector.ts";
import { tempDir } from "../helpers/tmp.ts";

const ROOT = join(import.meta.dir, "..", "..");
const PUBLISHER = join(import.meta.dir, "..", "helpers", "zmq-publisher.mjs");
const T = 90_000;
const MS = 1_000_000n;

let tmp: ReturnType<typeof tempDir>;
let exe: string;
let collector: OtlpCollector;
let node: BcoinNode | null = null;
let publisher: ReturnType<typeof Bun.spawn> | null = null;
const apps: AppProcess[] = [];

beforeAll(async () => {
  tmp = tempDir();
  exe = join(tmp.path, "electrs-bun");
  const build = Bun.spawnSync([process.execPath, "build.ts", "--outfile", exe], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
  if (build.exitCode !== 0) throw new Error(`build failed: ${build.stderr.toString()}`);
  collector = await startOtlpCollector();
}, T);

afterAll(async () => {
  for (const a of apps) a.kill("SIGKILL");
  await Promise.all(apps.map((a) => a.exited));
  const stdin = publisher?.stdin as import("bun").FileSink | undefined;
  stdin?.write("exit\n");
  stdin?.end();
  await publisher?.exited;
  await node?.close();
  collector?.stop();
  tmp?.[Symbol.dispose]();
});

function startExe(args: string[], env: Record<string, string>): AppProcess {
  const app = spawnCommand([exe, ...args], { cwd: tmp.path, env: { PATH: "/usr/bin:/bin", ...env } });
  apps.push(app);
  return app;
}

const LISTEN = ["--monitoring-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--electrum-rpc-addr", "127.0.0.1:0"];
const FAST_EXPORT = { OTEL_BSP_SCHEDULE_DELAY: "100" };

interface RpcMessage {
  id?: number;
  method?: string;
  params?: unknown[];
  result?: unknown;
  error?: { code: number };
}

/** Newline-delimited JSON-RPC over TCP: requests one at a time, notifications collected. */
async function electrumClient(addr: string) {
  const [host, port] = [addr.slice(0, addr.lastIndexOf(":")), Number(addr.slice(addr.lastIndexOf(":") + 1))];
  const sock = net.connect({ host, port });
  await new Promise<void>((resolve, reject) => sock.once("connect", resolve).once("error", reject));
  let buf = "";
  const messages: RpcMessage[] = [];
  let wake = null as (() => void) | null;
  sock.on("data", (d) => {
    buf += d.toString();
    let nl: number;
    while ((nl = buf.indexOf("\n")) >= 0) {
      messages.push(JSON.parse(buf.slice(0, nl)) as RpcMessage);
      buf = buf.slice(nl + 1);
      wake?.();
    }
  });
  const next = async (pred: (m: RpcMessage) => boolean): Promise<RpcMessage> => {
    for (;;) {
      const m = messages.find(pred);
      if (m) return m;
      await new Promise<void>((r) => (wake = r));
    }
  };
  let id = 0;
  return {
    async call(method: string, params: unknown[]): Promise<RpcMessage> {
      const mine = id++;
      sock.write(JSON.stringify({ jsonrpc: "2.0", id: mine, method, params }) + "\n");
      return next((m) => m.id === mine);
    },
    notification: (method: string) => next((m) => m.method === method),
    close: () => sock.end(),
  };
}

const byName = (spans: ReceivedSpan[], name: string) => spans.filter((s) => s.name === name);
const has = (name: string, pred: (s: ReceivedSpan) => boolean = () => true) => (spans: ReceivedSpan[]) => spans.some((s) => s.name === name && pred(s));

test("a block's path from the ZMQ wake-up to the last notification is one trace; RPC, REST and Electrum spans carry their attributes", async () => {
  node = await startBcoin();
  await node.mine(12);
  publisher = Bun.spawn(["node", PUBLISHER, "--xpub"], { stdin: "pipe", stdout: "pipe", stderr: "inherit" });
  const pubLines: string[] = [];
  let onPubLine = null as (() => void) | null;
  void (async () => {
    let buf = "";
    for await (const chunk of publisher!.stdout as ReadableStream<Uint8Array>) {
      buf += new TextDecoder().decode(chunk);
      let nl: number;
      while ((nl = buf.indexOf("\n")) >= 0) {
        pubLines.push(buf.slice(0, nl));
        buf = buf.slice(nl + 1);
        onPubLine?.();
      }
    }
  })();
  const pubLine = async (re: RegExp) => {
    while (!pubLines.some((l) => re.test(l))) await new Promise<void>((r) => (onPubLine = r));
    return pubLines.find((l) => re.test(l))!;
  };
  const zmqPort = (await pubLine(/^endpoint /)).split(":").at(-1)!;
  const cookie = join(tmp.path, ".cookie");
  writeFileSync(cookie, `__cookie__:${node.apiKey}`);

  const app = startExe(
    [
      "--network", "regtest", "--db-dir", join(tmp.path, "db-live"), "--cookie-file", cookie, "--jsonrpc-import",
      "--daemon-rpc-addr", node.rpcUrl.replace("http://", ""), "--zmq-addr", `127.0.0.1:${zmqPort}`,
      "--main-loop-delay", "600000", "--otlp-tracing", ...LISTEN,
    ],
    { ...FAST_EXPORT, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: collector.tracesUrl, OTEL_SERVICE_NAME: "electrs-bun-test" },
  );
  await metricsUrl(app);
  const started = await app.waitFor(/startup complete: REST on (http:\S+), Electrum on (\S+),/, T);
  const [, restUrl, electrumAddr] = /startup complete: REST on (http:\S+), Electrum on (\S+),/.exec(started)!;
  await pubLine(/^sub hashblock/); // the subscriber's subscription reached the socket

  // The initial sync (over RPC here): one root with its phases, the batches and RPC calls below them.
  await collector.waitFor("the initial sync's spans", has("initial sync"), T);
  const all = () => collector.spans;
  const sync = byName(all(), "initial sync")[0]!;
  expect(sync.parentSpanIdHex).toBe("");
  expect(sync.resource["service.name"]).toBe("electrs-bun-test");
  expect(sync.attributes).toMatchObject({ "index.tip_height": 12, "index.blocks_added": 13, "index.source": "bitcoind RPC" });
  const syncChildren = all().filter((s) => s.parentSpanIdHex === sync.spanIdHex).map((s) => s.name);
  for (const phase of ["load utxo table", "load blocks", "build indexes", "release free pages"]) expect(syncChildren).toContain(phase);
  const load = all().find((s) => s.name === "load blocks" && s.parentSpanIdHex === sync.spanIdHex)!;
  const batch = all().find((s) => s.name === "index batch" && s.parentSpanIdHex === load.spanIdHex)!;
  expect(batch.attributes).toMatchObject({ "index.from_height": 0, "index.to_height": 12, "index.blocks": 13 });
  const getblocks = all().filter((s) => s.name === "bitcoind getblock" && s.traceIdHex === sync.traceIdHex);
  expect(getblocks.map((s) => s.parentSpanIdHex)).toEqual(getblocks.map(() => load.spanIdHex));
  expect(getblocks.reduce((n, s) => n + Number(s.attributes["rpc.batch_size"]), 0)).toBe(13);
  for (const s of getblocks) {
    expect(s.attributes).toMatchObject({ "rpc.system": "jsonrpc", "rpc.method": "getblock", "rpc.attempts": 1, "http.response.status_code": 200 });
    // A getblock request is ~100 bytes per block asked for; a regtest block's hex is over 400.
    expect(s.attributes["rpc.request_bytes"]).toBeGreaterThan(60 * Number(s.attributes["rpc.batch_size"]));
    expect(s.attributes["rpc.response_bytes"]).toBeGreaterThan(400 * Number(s.attributes["rpc.batch_size"]));
  }

  // A subscriber, so that the block has a notification to compute.
  const script = hexToBytes(node.miningScriptHex);
  const scripthash = Buffer.from(createHash("sha256").update(script).digest()).reverse().toString("hex");
  const electrum = await electrumClient(electrumAddr!);
  await electrum.call("server.version", ["otel-test", "1.4"]);
  expect((await electrum.call("blockchain.scripthash.subscribe", [scripthash])).result).toEqual(expect.any(String));
  expect((await electrum.call("blockchain.headers.subscribe", [])).result).toMatchObject({ height: 12 });
  const badCode = (await electrum.call("blockchain.transaction.get", ["not-a-txid"])).error!.code;
  // …and two REST requests.
  expect((await fetch(`${restUrl}/blocks/tip/height`)).status).toBe(200);
  expect((await fetch(`${restUrl}/tx/zz`)).status).toBe(400);
  expect((await fetch(`${restUrl}/no/such/route`)).status).toBe(404);

  // The block: mined on the node, announced over ZMQ (the XPUB reported the subscription, so one message reaches it).
  const [hash] = await node.mine(1);
  const stdin = publisher.stdin as import("bun").FileSink;
  stdin.write(`pub ${hash}\n`);
  stdin.flush();
  await app.waitFor(/new tip: height 13/, T);
  await collector.waitFor("the block's trace", has("zmq hashblock", (s) => s.attributes["bitcoin.block_hash"] === hash), T);
  const zmqSpan = all().find((s) => s.name === "zmq hashblock" && s.attributes["bitcoin.block_hash"] === hash)!;
  expect(zmqSpan.parentSpanIdHex).toBe("");
  // Everything of the block's turn is in that span's trace; every span there has its parent there.
  const trace = all().filter((s) => s.traceIdHex === zmqSpan.traceIdHex);
  const ids = new Set(trace.map((s) => s.spanIdHex));
  for (const s of trace) if (s !== zmqSpan) expect(ids.has(s.parentSpanIdHex)).toBe(true);
  const childOf = (parent: ReceivedSpan, name: string) => {
    const found = trace.find((s) => s.name === name && s.parentSpanIdHex === parent.spanIdHex);
    if (!found) throw new Error(`no ${name} under ${parent.name}; trace: ${trace.map((s) => s.name).join(", ")}`);
    return found;
  };
  const turn = childOf(zmqSpan, "main loop turn");
  expect(turn.attributes["main_loop.wake"]).toBe("woken");
  const update = childOf(turn, "index update");
  expect(update.attributes).toMatchObject({ "index.tip_height": 13, "index.blocks_added": 1, "index.blocks_removed": 0 });
  expect(childOf(update, "index batch").attributes).toMatchObject({ "index.from_height": 13, "index.to_height": 13, "index.blocks": 1, "index.txs": 1 });
  expect(childOf(update, "bitcoind getblock").attributes).toMatchObject({ "rpc.method": "getblock", "rpc.batch_size": 1 });
  const mempool = childOf(turn, "mempool update");
  expect(mempool.attributes).toMatchObject({ "mempool.status": "synced", "mempool.size": 0 });
  expect(childOf(mempool, "bitcoind getrawmempool").attributes["rpc.method"]).toBe("getrawmempool");
  const notify = childOf(turn, "electrum notify");
  // The header and the script hash notification, both received by the client.
  expect(notify.attributes).toMatchObject({ "electrum.new_tip": true, "electrum.notifications": 2 });
  expect((await electrum.notification("blockchain.headers.subscribe")).params).toMatchObject([{ height: 13 }]);
  expect((await electrum.notification("blockchain.scripthash.subscribe")).params?.[0]).toBe(scripthash);
  electrum.close();
  // Nested in time as well: the root covers the turn, the turn its parts (the SDK takes a span's
  // start from the wall clock in whole milliseconds and its end as start + a monotonic duration:
  // a child may seem to end up to 1 ms after its parent).
  const within = (inner: ReceivedSpan, outer: ReceivedSpan) => inner.startNs >= outer.startNs - MS && inner.endNs <= outer.endNs + MS;
  expect(within(turn, zmqSpan)).toBe(true);
  expect(within(notify, turn)).toBe(true);
  expect(within(update, turn)).toBe(true);

  // Requests are roots of their own traces, named by route pattern or method.
  // (Each serving thread exports its own spans, in its own batches: wait for every one looked at.)
  const requestSpans = ["GET /blocks/tip/height", "GET /tx/:txid", "GET", "electrum blockchain.scripthash.subscribe", "electrum blockchain.transaction.get"];
  await collector.waitFor("the request spans", (spans) => requestSpans.every((name) => has(name)(spans)), T);
  const rest = byName(all(), "GET /blocks/tip/height")[0]!;
  expect(rest.parentSpanIdHex).toBe("");
  expect(rest.attributes).toMatchObject({ "http.request.method": "GET", "http.route": "/blocks/tip/height", "http.response.status_code": 200 });
  expect(byName(all(), "GET /tx/:txid")[0]!.attributes["http.response.status_code"]).toBe(400);
  expect(byName(all(), "GET")[0]!.attributes).toEqual({ "http.request.method": "GET", "http.response.status_code": 404 });
  const sub = byName(all(), "electrum blockchain.scripthash.subscribe")[0]!;
  expect(sub.parentSpanIdHex).toBe("");
  expect(sub.attributes).toMatchObject({ "rpc.system": "jsonrpc", "rpc.method": "blockchain.scripthash.subscribe" });
  expect(sub.statusCode).toBe(0);
  const bad = byName(all(), "electrum blockchain.transaction.get")[0]!;
  expect(bad.attributes["rpc.jsonrpc.error_code"]).toBe(badCode);
  expect(bad.statusCode).toBe(2);
  expect(collector.requests.every((r) => r.contentType === "application/x-protobuf")).toBe(true);

  app.kill("SIGTERM");
  expect(await app.exited).toBe(0);
  // (bcoin's version string is the only warning.)
  expect(app.lines.filter((l) => /WARN|ERROR/.test(l) && !l.includes("not Bitcoin Core's"))).toEqual([]);
}, T);

test("a collector that is down: the server serves on and logs one warning per exporting thread, not one per span or per export", async () => {
  // Failure injection: a listener that takes each connection and drops it at once.
  let connections = 0;
  let onConnection = null as (() => void) | null;
  const dropper = net.createServer((sock) => {
    connections++;
    sock.destroy();
    onConnection?.();
  });
  await new Promise<void>((resolve) => dropper.listen(0, "127.0.0.1", resolve));
  const port = (dropper.address() as net.AddressInfo).port;
  try {
    const app = startExe(
      ["--offline", "--network", "regtest", "--blocks-dir", FIXTURE_BLOCKS, "--db-dir", join(tmp.path, "db-down"), "--otlp-tracing", ...LISTEN],
      // Each export gives up after 1 s (retries included).
      { ...FAST_EXPORT, OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`, OTEL_EXPORTER_OTLP_TIMEOUT: "1000" },
    );
    const started = await app.waitFor(/startup complete: REST on (http:\S+),/, T);
    const restUrl = /REST on (http:\S+),/.exec(started)![1]!;
    await app.waitFor(/WARN\s+otel: cannot export traces to http:\/\/127\.0\.0\.1:\d+\/v1\/traces/, T);
    // Spans keep coming (many per export) and exports keep failing; the server answers throughout.
    const before = connections;
    while (connections < before + 3) {
      const wait = new Promise<void>((r) => (onConnection = r));
      for (let i = 0; i < 20; i++) expect((await fetch(`${restUrl}/blocks/tip/height`)).status).toBe(200);
      await wait;
    }
    // Each serving thread exports its own requests' spans (--serve-workers; the main thread's
    // logger is `otel`, a worker's `serveN.otel`): one warning each, no more.
    const warnings = app.lines.filter((l) => l.includes("cannot export traces"));
    const threads = new Set(warnings.map((l) => /\s(\S*otel): /.exec(l)?.[1]));
    expect(warnings.length).toBeGreaterThanOrEqual(1);
    expect(threads.size).toBe(warnings.length);
    expect(app.lines.filter((l) => /WARN|ERROR/.test(l)).length).toBe(warnings.length);
    app.kill("SIGTERM");
    expect(await app.exited).toBe(0);
  } finally {
    dropper.close();
  }
}, T);

test("tracing off (the default): nothing is sent, even with the OTLP variables set", async () => {
  const sent = collector.requests.length;
  const app = startExe(
    ["--offline", "--network", "regtest", "--blocks-dir", FIXTURE_BLOCKS, "--db-dir", join(tmp.path, "db-off"), ...LISTEN],
    { ...FAST_EXPORT, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: collector.tracesUrl },
  );
  const started = await app.waitFor(/startup complete: REST on (http:\S+),/, T);
  expect((await fetch(`${/REST on (http:\S+),/.exec(started)![1]}/blocks/tip/height`)).status).toBe(200);
  app.kill("SIGTERM");
  expect(await app.exited).toBe(0);
  // A clean stop flushes what tracing has queued: with tracing off there is nothing.
  expect(collector.requests.length).toBe(sent);
  expect(app.log()).not.toContain("otel");
}, T);
