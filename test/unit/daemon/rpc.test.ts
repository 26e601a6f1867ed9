/**
 * DaemonClient against a scripted HTTP server on 127.0.0.1: a test double used only to inject the
 * failures a real node produces at awkward moments (warm-up, restarts, overload, slowness).
 * Error bodies are Bitcoin Core 30.0's own, from the fixture's rpc-samples.json.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Server } from "bun";
import { DaemonError, DaemonUnreachableError } from "../../../src/errors.ts";
import { createLogger, silentLogger, type Logger } from "../../../src/log.ts";
import { fromCookieFile, fromUserPass } from "../../../src/daemon/cookie.ts";
import { DaemonClient, type DaemonClientOptions, type RpcMetrics } from "../../../src/daemon/rpc.ts";
import samples from "../../fixtures/regtest-core30/rpc-samples.json";

const T = 5000; // per-test timeout, ms

interface Sample {
  method: string;
  params: unknown[];
  http_status: number;
  response: { result: unknown; error: { code: number; message: string } | null; id: number };
}
const SAMPLES = samples as unknown as Sample[];
const sample = (method: string, status = 200) => SAMPLES.find((s) => s.method === method && s.http_status === status)!;

interface RpcRequestBody {
  jsonrpc?: string;
  id: number;
  method: string;
  params: unknown[];
}
interface Seen {
  body: RpcRequestBody | RpcRequestBody[];
  auth: string | null;
  remotePort: number;
}
type Handler = (seen: Seen, index: number) => Response | Promise<Response>;

/** A Bun.serve on 127.0.0.1:0 that records every request and answers through `handler`. */
function scripted(handler: Handler, port = 0) {
  const seen: Seen[] = [];
  const server: Server<undefined> = Bun.serve({
    hostname: "127.0.0.1",
    port,
    async fetch(req, srv) {
      const entry: Seen = {
        body: (await req.json()) as Seen["body"],
        auth: req.headers.get("authorization"),
        remotePort: srv.requestIP(req)?.port ?? -1,
      };
      seen.push(entry);
      return handler(entry, seen.length - 1);
    },
  });
  servers.push(server);
  return { server, seen, url: `http://127.0.0.1:${server.port}` };
}

const json = (body: unknown, status = 200) =>
  new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });
const ok = (id: number, result: unknown) => json({ result, error: null, id });
const rpcError = (id: number, code: number, message: string, status = 500) =>
  json({ result: null, error: { code, message }, id }, status);
const single = (s: Seen) => s.body as RpcRequestBody;
const many = (s: Seen) => s.body as RpcRequestBody[];

/** A logger that keeps its lines and lets a test await a line. */
function capturingLogger() {
  const lines: string[] = [];
  const waiters: { re: RegExp; resolve: (line: string) => void }[] = [];
  const log = createLogger({
    verbosity: 0,
    timestamp: false,
    sink: (line) => {
      lines.push(line);
      for (const w of waiters.splice(0)) {
        if (w.re.test(line)) w.resolve(line);
        else waiters.push(w);
      }
    },
  });
  const waitFor = (re: RegExp) =>
    new Promise<string>((resolve) => {
      const hit = lines.find((l) => re.test(l));
      if (hit) resolve(hit);
      else waiters.push({ re, resolve });
    });
  return { log, lines, waitFor };
}

const servers: Server<undefined>[] = [];
const clients: DaemonClient[] = [];
const dirs: string[] = [];
afterEach(() => {
  for (const c of clients.splice(0)) c.close();
  for (const s of servers.splice(0)) s.stop(true);
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function client(url: string, extra: Partial<DaemonClientOptions> = {}, log: Logger = silentLogger()) {
  const c = new DaemonClient({
    url,
    auth: fromUserPass("user:pass"),
    parallelism: 4,
    log,
    retry: { initialDelayMs: 5, maxDelayMs: 40 },
    ...extra,
  });
  clients.push(c);
  return c;
}

function freePort(): number {
  const probe = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response(null) });
  const port = probe.port!;
  probe.stop(true);
  return port;
}

describe("DaemonClient.call", () => {
  test("sends a JSON-RPC 1.0 body with Basic auth and monotonic ids", async () => {
    const info = sample("getblockchaininfo");
    const srv = scripted((s) => ok(single(s).id, info.response.result));
    const c = client(srv.url);
    expect(await c.call("getblockchaininfo")).toEqual(info.response.result);
    await c.call("getblockhash", [137]);
    const [a, b] = srv.seen.map(single);
    expect(a).toEqual({ jsonrpc: "1.0", id: a!.id, method: "getblockchaininfo", params: [] });
    expect(b!.params).toEqual([137]);
    expect(b!.id).toBeGreaterThan(a!.id);
    expect(srv.seen[0]!.auth).toBe("Basic " + btoa("user:pass"));
  }, T);

  test("Core's HTTP 500 error bodies become DaemonError with code and message, not retried", async () => {
    const errors = SAMPLES.filter((s) => s.http_status === 500);
    expect(errors.length).toBeGreaterThanOrEqual(4);
    for (const s of errors) {
      const srv = scripted((seen) => json({ ...s.response, id: single(seen).id }, 500));
      const c = client(srv.url);
      const err = await c.call(s.method, s.params).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DaemonError);
      const de = err as DaemonError;
      expect(de.code).toBe(s.response.error!.code);
      expect(de.rpcMessage).toBe(s.response.error!.message);
      expect(de.message).toBe(`${s.method} RPC error ${s.response.error!.code}: ${s.response.error!.message}`);
      expect(srv.seen.length).toBe(1);
    }
  }, T);

  test("HTTP 404 with a JSON-RPC body is 'method not found'", async () => {
    const s = sample("nosuchmethod", 404);
    const srv = scripted((seen) => json({ ...s.response, id: single(seen).id }, 404));
    const err = (await client(srv.url).call("nosuchmethod").catch((e: unknown) => e)) as DaemonError;
    expect(err).toBeInstanceOf(DaemonError);
    expect(err.message).toBe("nosuchmethod RPC error -32601: Method not found");
  }, T);

  test("HTTP 404 without a JSON body is a wrong address, not an RPC error", async () => {
    const srv = scripted(() => new Response("not here", { status: 404 }));
    const err = await client(srv.url).call("getblockcount").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DaemonUnreachableError);
    expect((err as Error).message).toContain("HTTP 404");
  }, T);

  test("-28 warming up is retried until the node is ready; one WARN per message, one INFO on recovery", async () => {
    const cap = capturingLogger();
    const srv = scripted((s, i) =>
      i < 3 ? rpcError(single(s).id, -28, "Loading block index…") : ok(single(s).id, 137),
    );
    expect(await client(srv.url, {}, cap.log).call<number>("getblockcount")).toBe(137);
    expect(srv.seen.length).toBe(4);
    expect(cap.lines.filter((l) => l.startsWith("WARN"))).toEqual([
      "WARN  bitcoind warming up: Loading block index…, retrying",
    ]);
    expect(cap.lines.filter((l) => l.startsWith("INFO")).length).toBe(1);
    expect(cap.lines.at(-1)).toMatch(/^INFO  bitcoind at 127\.0\.0\.1:\d+ is available again after/);
  }, T);

  test("HTTP 503 (work queue full) is retried", async () => {
    const srv = scripted((s, i) =>
      i === 0 ? new Response("Work queue depth exceeded", { status: 503 }) : ok(single(s).id, "ok"),
    );
    const cap = capturingLogger();
    expect(await client(srv.url, {}, cap.log).call("getbestblockhash")).toBe("ok");
    expect(cap.lines[0]).toMatch(/busy \(HTTP 503: Work queue depth exceeded\), retrying$/);
  }, T);

  test("401 re-reads the cookie file and retries with the new cookie", async () => {
    const dir = mkdtempSync(join(tmpdir(), "rpc-test-"));
    dirs.push(dir);
    const path = join(dir, ".cookie");
    writeFileSync(path, "__cookie__:old");
    const auth = fromCookieFile(path);
    const want = "Basic " + btoa("__cookie__:new");
    const srv = scripted((s) => (s.auth === want ? ok(single(s).id, 5) : new Response(null, { status: 401 })));
    const c = client(srv.url, { auth });
    writeFileSync(path, "__cookie__:new"); // the node restarted meanwhile
    expect(await c.call<number>("getblockcount")).toBe(5);
    expect(srv.seen.map((s) => s.auth)).toEqual(["Basic " + btoa("__cookie__:old"), want]);
  }, T);

  test("401 with unchanged credentials fails at once with a clear error", async () => {
    const srv = scripted(() => new Response(null, { status: 401 }));
    const err = await client(srv.url).call("getblockcount").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DaemonUnreachableError);
    expect((err as Error).message).toMatch(/rejected the credentials \(user:\*\*\*\): HTTP 401$/);
    expect(srv.seen.length).toBe(1);
  }, T);

  test("connection refused is retried until the node appears; the cookie is re-read on reconnect", async () => {
    const port = freePort();
    const dir = mkdtempSync(join(tmpdir(), "rpc-test-"));
    dirs.push(dir);
    const path = join(dir, ".cookie");
    writeFileSync(path, "__cookie__:before");
    const cap = capturingLogger();
    const c = client(`http://127.0.0.1:${port}`, { auth: fromCookieFile(path) }, cap.log);
    const pending = c.call<number>("getblockcount");
    const warn = await cap.waitFor(/^WARN/);
    expect(warn).toBe(`WARN  bitcoind unreachable at 127.0.0.1:${port} (ECONNREFUSED), retrying`);
    // The node comes up with a fresh cookie.
    writeFileSync(path, "__cookie__:after");
    const want = "Basic " + btoa("__cookie__:after");
    scripted((s) => (s.auth === want ? ok(single(s).id, 42) : new Response(null, { status: 401 })), port);
    expect(await pending).toBe(42);
    expect(cap.lines.filter((l) => l.startsWith("WARN")).length).toBe(1);
    expect(cap.lines.at(-1)).toMatch(/is available again/);
  }, T);

  test("a node restarting on the same port (pooled connection gone) is followed", async () => {
    const first = scripted((s) => ok(single(s).id, 1));
    const port = first.server.port!;
    const c = client(first.url);
    expect(await c.call<number>("getblockcount")).toBe(1);
    first.server.stop(true);
    scripted((s) => ok(single(s).id, 2), port);
    expect(await c.call<number>("getblockcount")).toBe(2);
  }, T);

  test("giveUpAfterMs turns a long outage into DaemonUnreachableError", async () => {
    const port = freePort();
    const c = client(`http://127.0.0.1:${port}`, { retry: { initialDelayMs: 5, maxDelayMs: 20, giveUpAfterMs: 200 } });
    const started = performance.now();
    const err = await c.call("getnetworkinfo").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DaemonUnreachableError);
    expect((err as Error).message).toBe(
      `bitcoind unreachable at 127.0.0.1:${port} (ECONNREFUSED): giving up, past the retry window of 200 ms`,
    );
    expect(performance.now() - started).toBeGreaterThanOrEqual(200);
  }, T);

  test("setRetryPolicy applies to later requests (startup window, then retry forever)", async () => {
    const c = client(`http://127.0.0.1:${freePort()}`, { retry: { initialDelayMs: 5, maxDelayMs: 5, giveUpAfterMs: 20 } });
    expect(await c.call("getblockcount").catch((e: unknown) => e)).toBeInstanceOf(DaemonUnreachableError);
    c.setRetryPolicy({ initialDelayMs: 5, maxDelayMs: 5, giveUpAfterMs: 40 });
    const err = await c.call("getblockcount").catch((e: unknown) => e);
    expect((err as Error).message).toEndWith("giving up, past the retry window of 40 ms");
  }, T);

  test("a slow answer past requestTimeoutMs is abandoned and retried", async () => {
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const cap = capturingLogger();
    const srv = scripted(async (s, i) => {
      if (i === 0) await held;
      return ok(single(s).id, i);
    });
    const c = client(srv.url, { requestTimeoutMs: 100 }, cap.log);
    expect(await c.call<number>("getblockcount")).toBe(1);
    release();
    expect(cap.lines[0]).toMatch(/did not answer getblockcount within 100 ms, retrying$/);
  }, T);

  test("never more than `parallelism` requests in flight", async () => {
    let inFlight = 0;
    let maxInFlight = 0;
    const gates: (() => void)[] = [];
    let onArrival: (() => void) | undefined;
    const srv = scripted(async (s) => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      await new Promise<void>((r) => {
        gates.push(r);
        onArrival?.();
      });
      inFlight--;
      return ok(single(s).id, single(s).params[0]);
    });
    const c = client(srv.url, { parallelism: 2 });
    const calls = [0, 1, 2, 3, 4].map((n) => c.call<number>("getblockhash", [n]));
    const arrivals = (n: number) =>
      new Promise<void>((resolve) => {
        const check = () => (gates.length >= n ? resolve() : undefined);
        onArrival = check;
        check();
      });
    await arrivals(2);
    // Nothing signals the absence of a third request, so give the client a moment to (wrongly) send one.
    await Bun.sleep(50);
    expect(inFlight).toBe(2);
    while (srv.seen.length < 5 || gates.length > 0) {
      const g = gates.shift();
      if (g) g();
      else await arrivals(1);
    }
    expect(await Promise.all(calls)).toEqual([0, 1, 2, 3, 4]);
    expect(maxInFlight).toBe(2);
  }, T);

  test("sequential calls reuse one keep-alive connection", async () => {
    const srv = scripted((s) => ok(single(s).id, null));
    const c = client(srv.url);
    for (let i = 0; i < 10; i++) await c.call("getblockcount");
    expect(new Set(srv.seen.map((s) => s.remotePort)).size).toBe(1);
  }, T);

  test("metrics observe latency and bytes per method", async () => {
    const observed: { rpc: [string, number][]; bytes: [string, string, number][] } = { rpc: [], bytes: [] };
    const metrics: RpcMetrics = {
      observeRpc: (m, s) => observed.rpc.push([m, s]),
      observeBytes: (m, d, b) => observed.bytes.push([m, d, b]),
      observeError: () => {
        throw new Error("no error expected");
      },
    };
    const reply = JSON.stringify({ result: "00".repeat(100), error: null, id: 1 });
    const srv = scripted(() => new Response(reply, { status: 200 }));
    await client(srv.url, { metrics }).call("getblock", ["ab", 0]);
    expect(observed.rpc.length).toBe(1);
    expect(observed.rpc[0]![0]).toBe("getblock");
    expect(observed.rpc[0]![1]).toBeGreaterThanOrEqual(0);
    const sent = JSON.stringify(srv.seen[0]!.body).length;
    expect(observed.bytes).toEqual([
      ["getblock", "send", sent],
      ["getblock", "recv", reply.length],
    ]);
  }, T);

  test("metrics count each failed attempt by kind (warm-up, busy), and a wrong address as unreachable", async () => {
    const errors: string[] = [];
    const metrics: RpcMetrics = { observeRpc: () => {}, observeBytes: () => {}, observeError: (m, k) => errors.push(`${m}:${k}`) };
    const srv = scripted((s, i) =>
      i < 2 ? rpcError(single(s).id, -28, "Loading block index…") : i === 2 ? new Response("Work queue depth exceeded", { status: 503 }) : ok(single(s).id, 1),
    );
    expect(await client(srv.url, { metrics }).call<number>("getblockcount")).toBe(1);
    expect(errors).toEqual(["getblockcount:warmup", "getblockcount:warmup", "getblockcount:busy"]);
    errors.length = 0;
    const wrong = scripted(() => new Response("not here", { status: 404 }));
    await client(wrong.url, { metrics }).call("getblockcount").catch(() => {});
    expect(errors).toEqual(["getblockcount:unreachable"]);
  }, T);

  test("close() ends a request that is waiting out an outage, and later calls", async () => {
    const cap = capturingLogger();
    const c = client(`http://127.0.0.1:${freePort()}`, { retry: { initialDelayMs: 1000, maxDelayMs: 1000 } }, cap.log);
    const pending = c.call("getblockcount").catch((e: unknown) => e);
    await cap.waitFor(/^WARN/);
    c.close();
    const err = await pending;
    expect(err).toBeInstanceOf(DaemonUnreachableError);
    expect((err as Error).message).toMatch(/is closed$/);
    expect(await c.call("getblockcount").catch((e: unknown) => e)).toBeInstanceOf(DaemonUnreachableError);
  }, T);
});

describe("DaemonClient.batch", () => {
  /** Answers a batch like Core: one element per request, here in reverse order to test matching by id. */
  const batchServer = (answer: (req: RpcRequestBody) => unknown) =>
    scripted((s) => json(many(s).map(answer).reverse()));

  test("chunks the list, spreads it over requests and returns results in input order", async () => {
    const srv = batchServer((r) => ({ result: `hash-${r.params[0]}`, error: null, id: r.id }));
    const heights = Array.from({ length: 10 }, (_, i) => [i]);
    const got = await client(srv.url, { maxBatchSize: 3 }).batch<string>("getblockhash", heights);
    expect(got).toEqual(heights.map(([h]) => `hash-${h}`));
    expect(srv.seen.map((s) => many(s).length).sort()).toEqual([1, 3, 3, 3]);
    for (const s of srv.seen) for (const r of many(s)) expect(r).toMatchObject({ jsonrpc: "1.0", method: "getblockhash" });
    const ids = srv.seen.flatMap((s) => many(s).map((r) => r.id));
    expect(new Set(ids).size).toBe(10);
  }, T);

  test("an element error throws DaemonError; batchSettled returns it in place", async () => {
    const outOfRange = sample("getblockhash", 500).response.error!;
    const srv = batchServer((r) =>
      (r.params[0] as number) > 137
        ? { result: null, error: outOfRange, id: r.id }
        : { result: `hash-${r.params[0]}`, error: null, id: r.id },
    );
    const c = client(srv.url);
    const err = await c.batch("getblockhash", [[136], [137], [237]]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DaemonError);
    expect((err as Error).message).toBe("getblockhash RPC error -8: Block height out of range");

    const settled = await c.batchSettled<string>("getblockhash", [[136], [237], [137]]);
    expect(settled[0]).toEqual({ result: "hash-136" });
    expect(settled[2]).toEqual({ result: "hash-137" });
    const bad = settled[1] as { error: DaemonError };
    expect(bad.error).toBeInstanceOf(DaemonError);
    expect(bad.error.code).toBe(-8);
  }, T);

  test("a chunk with a -28 element is retried as a whole", async () => {
    let round = 0;
    const srv = scripted((s) => {
      round++;
      return json(
        many(s).map((r, i) =>
          round === 1 && i === 1
            ? { result: null, error: { code: -28, message: "Verifying blocks…" }, id: r.id }
            : { result: r.params[0], error: null, id: r.id },
        ),
      );
    });
    expect(await client(srv.url).batch<number>("getblockhash", [[1], [2], [3]])).toEqual([1, 2, 3]);
    expect(srv.seen.length).toBe(2);
  }, T);

  test("an empty list sends nothing", async () => {
    const srv = scripted(() => json([]));
    expect(await client(srv.url).batch("getblockhash", [])).toEqual([]);
    expect(srv.seen.length).toBe(0);
  }, T);

  test("a batch rejected as a whole throws the node's error", async () => {
    const srv = scripted(() => rpcError(0, -32700, "Parse error"));
    const err = await client(srv.url).batchSettled("getblockhash", [[1]]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DaemonError);
    expect((err as DaemonError).code).toBe(-32700);
  }, T);
});

describe("--daemon-rpc-fallback-addr", () => {
  const GENESIS = "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206";
  /** A node that answers getblockhash 0 with `genesis` and everything else with `name`. */
  const node = (name: string, genesis = GENESIS, port = 0) =>
    scripted((s) => {
      const r = single(s);
      return ok(r.id, r.method === "getblockhash" && (r.params as unknown[])[0] === 0 ? genesis : name);
    }, port);

  test("an unreachable node: requests go to the fallback once it proved to be on our chain, and stay there", async () => {
    const fallback = node("fallback");
    const { log, lines } = capturingLogger();
    const c = client(`http://127.0.0.1:${freePort()}`, { fallbackUrl: fallback.url, genesisHashHex: GENESIS }, log);
    expect(await c.call("getbestblockhash")).toBe("fallback");
    expect(await c.call("getbestblockhash")).toBe("fallback");
    // The chain check, then both calls: the second went there directly.
    expect(fallback.seen.map((s) => single(s).method)).toEqual(["getblockhash", "getbestblockhash", "getbestblockhash"]);
    expect(lines.filter((l) => /requests go to 127\.0\.0\.1:\d+ from now on \(--daemon-rpc-fallback-addr\)/.test(l))).toHaveLength(1);
  }, T);

  test("a fallback on another chain is never used: the requests wait for the node as without one", async () => {
    const other = node("other", "00".repeat(32));
    const { log, lines } = capturingLogger();
    const c = client(`http://127.0.0.1:${freePort()}`, { fallbackUrl: other.url, genesisHashHex: GENESIS, retry: { initialDelayMs: 5, maxDelayMs: 20, giveUpAfterMs: 200 } }, log);
    await expect(c.call("getbestblockhash")).rejects.toBeInstanceOf(DaemonUnreachableError);
    expect(other.seen.map((s) => single(s).method)).toEqual(["getblockhash"]);
    expect(lines.some((l) => /is on another chain: its genesis is 0{64}, not 0f9188/.test(l))).toBe(true);
  }, T);

  test("back to the first node when the fallback fails in turn (it is trusted: no check)", async () => {
    const first = node("first");
    const port = first.server.port!;
    const fallback = node("fallback");
    const c = client(first.url, { fallbackUrl: fallback.url, genesisHashHex: GENESIS });
    expect(await c.call("getbestblockhash")).toBe("first");
    first.server.stop(true);
    expect(await c.call("getbestblockhash")).toBe("fallback");
    const again = node("first again", GENESIS, port);
    fallback.server.stop(true);
    expect(await c.call("getbestblockhash")).toBe("first again");
    expect(again.seen.map((s) => single(s).method)).toEqual(["getbestblockhash"]);
  }, T);

  test("without a genesis to check against, a fallback is refused at construction", () => {
    expect(() => client("http://127.0.0.1:1", { fallbackUrl: "http://127.0.0.1:2" })).toThrow(/genesis/);
  });
});
