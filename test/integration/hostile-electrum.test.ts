/**
 * Hostile and careless Electrum clients against the server as a process on the fixture chain
 * (issue #12): clients that close while the server has stopped reading from them are released
 * (the clients and subscriptions gauges and the process's fd count return to their baseline); a
 * 1 MB burst of pipelined requests from one client (header chunks, which the server shares, or
 * costly methods whose answers are made each time) does not hold up another client's server.ping
 * and get_balance, nor REST; clients that subscribe and pipeline but never read are dropped and
 * cost bounded memory; a client over --electrum-max-clients-per-ip gets an error, then a close;
 * the burst and the non-readers over WebSocket too (a WebSocket cannot stop reading).
 *
 * Every wait is on an observable: a log line, a metric, a reply, a socket event; each has a bound.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import net from "node:net";
import { metricsUrl, spawnApp, type AppProcess } from "../helpers/app-process.ts";
import { FIXTURE_BLOCKS } from "../helpers/fixture.ts";
import { LineClient as LineRpc } from "../helpers/line-client.ts";
import { tempDir } from "../helpers/tmp.ts";

const T = 90_000;
const expected = JSON.parse(readFileSync(join(FIXTURE_BLOCKS, "..", "expected.json"), "utf8")) as {
  tip: { height: number };
  scripts: { electrum_scripthash: string; history: unknown[] }[];
  txs: Record<string, { height: number }>;
};
/** A script with about 10 txs, for get_balance. */
const TEN_TX_SCRIPT = [...expected.scripts].sort((a, b) => Math.abs(a.history.length - 10) - Math.abs(b.history.length - 10))[0]!.electrum_scripthash;
const HEADERS_REQ = (id: number) => JSON.stringify({ jsonrpc: "2.0", id, method: "blockchain.block.headers", params: [0, 2016] }) + "\n";
/** The script with the longest history (~600 txs): its get_history and listunspent are the fixture's costliest. */
const POPULAR_SCRIPT = [...expected.scripts].sort((a, b) => b.history.length - a.history.length)[0]!.electrum_scripthash;
const CONFIRMED = Object.entries(expected.txs).filter(([, t]) => t.height >= 0);
/** Request `id` of a burst of costly methods whose answers are made each time (header ranges the shared cache mostly misses). */
const MIXED_REQ = (id: number) => {
  const [txid, tx] = CONFIRMED[id % CONFIRMED.length]!;
  const calls: [string, unknown[]][] = [
    ["blockchain.block.headers", [id % 128, 2016]],
    ["blockchain.scripthash.get_history", [POPULAR_SCRIPT]],
    ["blockchain.transaction.get", [txid, true]],
    ["blockchain.scripthash.listunspent", [POPULAR_SCRIPT]],
    ["blockchain.transaction.get_merkle", [txid, tx.height]],
  ];
  const [method, params] = calls[id % calls.length]!;
  return JSON.stringify({ jsonrpc: "2.0", id, method, params }) + "\n";
};
/** `bytes` of pipelined requests, blockchain.block.headers [0, 2016] unless `req` says otherwise. */
function headersBurst(bytes: number, firstId = 1, req = HEADERS_REQ): string {
  const parts: string[] = [];
  let size = 0;
  for (let id = firstId; size < bytes; id++) {
    const r = req(id);
    parts.push(r);
    size += r.length;
  }
  return parts.join("");
}

// ---------------------------------------------------------------------------------------------
// The server process

interface Server {
  app: AppProcess;
  tcpPort: number;
  wsUrl: string | null;
  restUrl: string;
  metrics: string;
  pid: number;
}

const dirs: ReturnType<typeof tempDir>[] = [];
const apps: AppProcess[] = [];

async function startServer(extra: string[] = []): Promise<Server> {
  const work = tempDir();
  dirs.push(work);
  const app = spawnApp(["--offline", "--network", "regtest", "--blocks-dir", FIXTURE_BLOCKS, "--db-dir", work.path, "--monitoring-addr", "127.0.0.1:0", ...extra]);
  apps.push(app);
  const metrics = await metricsUrl(app);
  const tcp = await app.waitFor(/Electrum RPC server running on \S+:(\d+)/, 30_000);
  const ws = extra.includes("--electrum-ws-addr") ? await app.waitFor(/Electrum WS server running on (\S+)/) : null;
  const rest = await app.waitFor(/REST server running on (\S+)/);
  await app.waitFor(/index ready at height/, 30_000);
  return {
    app,
    tcpPort: Number(/:(\d+)$/.exec(tcp)![1]),
    wsUrl: ws ? `ws://${/running on (\S+)/.exec(ws)![1]}/` : null,
    restUrl: `http://${/running on (\S+)/.exec(rest)![1]}`,
    metrics,
    pid: app.proc.pid,
  };
}

async function stopServer(s: Server): Promise<void> {
  s.app.kill("SIGTERM");
  await s.app.exited;
}

afterAll(async () => {
  for (const a of apps) a.kill("SIGKILL");
  await Promise.all(apps.map((a) => a.exited));
  for (const d of dirs) d[Symbol.dispose]();
});

async function metric(s: Server, name: string): Promise<number> {
  const text = await (await fetch(s.metrics)).text();
  let sum = 0;
  let seen = false;
  for (const line of text.split("\n")) {
    if (line.startsWith(name + " ") || line.startsWith(name + "{")) {
      sum += Number(line.slice(line.lastIndexOf(" ") + 1));
      seen = true;
    }
  }
  if (!seen) throw new Error(`no metric ${name}`);
  return sum;
}

const fdCount = (pid: number) => readdirSync(`/proc/${pid}/fd`).length;
function rssMiB(pid: number): number {
  const kb = Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1]);
  return kb / 1024;
}

/** Polls `f` every 50 ms until `ok` holds for its value; fails with the last value after `ms`. */
async function until<V>(what: string, f: () => V | Promise<V>, ok: (v: V) => boolean, ms: number): Promise<V> {
  const end = Date.now() + ms;
  let v = await f();
  while (!ok(v)) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what} (last value ${JSON.stringify(v)})`);
    await Bun.sleep(50);
    v = await f();
  }
  return v;
}

/** Polls `f` until its value stays the same for `quietMs`: the server has stopped making progress. */
async function settled(what: string, f: () => Promise<number>, quietMs: number, ms: number): Promise<number> {
  const end = Date.now() + ms;
  let last = await f();
  let since = Date.now();
  for (;;) {
    await Bun.sleep(50);
    const v = await f();
    if (v !== last) {
      last = v;
      since = Date.now();
    } else if (Date.now() - since >= quietMs) return v;
    if (Date.now() > end) throw new Error(`${what} did not settle within ${ms} ms`);
  }
}

// ---------------------------------------------------------------------------------------------
// Clients

/** A raw TCP client that has not read anything yet (reading paused). */
interface RawClient {
  readonly sock: net.Socket;
  /** Bytes read so far. */
  received: number;
  readonly gone: Promise<void>;
}
function rawClient(port: number): Promise<RawClient> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: "127.0.0.1", port });
    const c: RawClient = { sock, received: 0, gone: new Promise((r) => sock.once("close", () => r())) };
    sock.on("data", (b: Buffer) => (c.received += b.length));
    sock.on("error", () => {});
    sock.pause();
    sock.once("connect", () => resolve(c));
    sock.once("error", reject);
  });
}

/** A masked client frame (RFC 6455 §5.2) with one text message. */
function wsFrame(text: string): Buffer {
  const payload = Buffer.from(text, "utf8");
  const n = payload.length;
  const head = n < 126 ? Buffer.from([0x81, 0x80 | n]) : n < 65536 ? Buffer.from([0x81, 0x80 | 126, n >> 8, n & 0xff]) : null;
  if (!head) throw new Error("frame too long for this test");
  const mask = Buffer.from([0x12, 0x34, 0x56, 0x78]);
  for (let i = 0; i < n; i++) payload[i]! ^= mask[i & 3]!;
  return Buffer.concat([head, mask, payload]);
}

/**
 * A WebSocket client on a raw TCP socket (so that, unlike a WebSocket object, it can stop reading
 * and costs this process nothing per message): the upgrade done, reading paused.
 */
async function rawWsClient(url: string): Promise<RawClient> {
  const { hostname, port } = new URL(url);
  const c = await rawClient(Number(port));
  const upgraded = new Promise<void>((resolve, reject) => {
    let head = "";
    const onData = (b: Buffer) => {
      head += b.toString("latin1");
      if (!head.includes("\r\n\r\n")) return;
      c.sock.off("data", onData);
      c.sock.pause();
      if (head.startsWith("HTTP/1.1 101")) resolve();
      else reject(new Error(`no upgrade: ${head.slice(0, 100)}`));
    };
    c.sock.on("data", onData);
  });
  c.sock.write(`GET / HTTP/1.1\r\nHost: ${hostname}:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`);
  c.sock.resume();
  await upgraded;
  return c;
}

/** Each line of `lines` (newline-separated requests) as one WebSocket frame. */
const wsFrames = (lines: string) => Buffer.concat(lines.split("\n").filter((l) => l).map(wsFrame));


/** A WebSocket client that reads: one request per frame. */
class WsRpc {
  private next = 1;
  private readonly waiting = new Map<number, (v: { result?: unknown; error?: unknown }) => void>();
  private constructor(private readonly ws: WebSocket) {
    ws.onmessage = (e) => {
      const msg = JSON.parse(String(e.data));
      this.waiting.get(msg.id)?.(msg);
      this.waiting.delete(msg.id);
    };
  }
  static connect(url: string): Promise<WsRpc> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url);
      ws.onopen = () => resolve(new WsRpc(ws));
      ws.onerror = () => reject(new Error("websocket error"));
    });
  }
  call(method: string, params: unknown[] = []): Promise<{ result?: unknown; error?: unknown }> {
    const id = this.next++;
    return new Promise((resolve) => {
      this.waiting.set(id, resolve);
      this.ws.send(JSON.stringify({ jsonrpc: "2.0", id, method, params }));
    });
  }
  close(): void {
    this.ws.close();
  }
}

interface Latencies {
  worst: number;
  p99: number;
  n: number;
}
function summarize(ms: number[]): Latencies {
  const sorted = [...ms].sort((a, b) => a - b);
  return { worst: sorted[sorted.length - 1] ?? 0, p99: sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.99))] ?? 0, n: sorted.length };
}

/** Measures `probe` back to back until `stop` resolves (at least `min` samples). */
async function measure(probe: () => Promise<unknown>, stop: Promise<unknown>, min: number): Promise<Latencies> {
  const ms: number[] = [];
  let done = false;
  void stop.then(
    () => (done = true),
    () => (done = true),
  );
  while (!done || ms.length < min) {
    const t0 = performance.now();
    await probe();
    ms.push(performance.now() - t0);
  }
  await stop;
  return summarize(ms);
}

/** The bounds for another client while one misbehaves. */
function expectFast(what: string, l: Latencies): void {
  expect({ what, worstUnder250: l.worst < 250, p99Under50: l.p99 < 50, ...l }).toMatchObject({ what, worstUnder250: true, p99Under50: true });
}

// ---------------------------------------------------------------------------------------------

describe("close while the server has stopped reading", () => {
  let s: Server;
  beforeAll(async () => {
    // One serving thread: the fd count is the process's, and a serve worker that no client of
    // this test reached yet would open its files (the WAL, blk files) in the middle of it.
    s = await startServer(["--serve-workers", "1"]);
  }, T);
  afterAll(() => stopServer(s));

  test("clients that pipeline without reading, then read a little and close, are released: gauges and fds back to baseline", async () => {
    // One client connected and gone first: whatever the runtime opens lazily for sockets is in the baseline.
    const warm = await LineRpc.connect(s.tcpPort);
    await warm.call("server.ping");
    warm.close();
    await until("no clients", () => metric(s, "electrum_clients"), (v) => v === 0, 10_000);
    const baseFds = fdCount(s.pid);
    const baseSubs = await metric(s, "electrum_subscriptions");
    for (let round = 0; round < 2; round++) {
      const clients = await Promise.all(Array.from({ length: 6 }, () => rawClient(s.tcpPort)));
      for (const c of clients) {
        c.sock.write(JSON.stringify({ id: 0, method: "blockchain.scripthash.subscribe", params: [TEN_TX_SCRIPT] }) + "\n");
        // More than the server takes before it stops reading (64 kB), less than what gets a client dropped (1,064,000 bytes).
        c.sock.write(headersBurst(800_000));
      }
      await until("clients connected", () => metric(s, "electrum_clients"), (v) => v === 6, 10_000);
      // The server answers until its buffers are full, then stops answering and reading.
      await settled("headers answered", () => metric(s, "electrum_rpc_count"), 500, 30_000);
      // Each reads for a moment, then closes with replies unsent (half with a reset, half with a FIN).
      await Promise.all(
        clients.map(async (c, i) => {
          c.sock.resume();
          await until("some replies read", () => c.received, (n) => n > 200_000, 10_000);
          c.sock.pause();
          if (i % 2 === 0) c.sock.resetAndDestroy();
          else c.sock.destroy();
          await c.gone;
        }),
      );
      // Well before the stall timeout (10 s), which would release them too.
      await until("electrum_clients back to 0", () => metric(s, "electrum_clients"), (v) => v === 0, 3_000);
      await until("electrum_subscriptions back to baseline", () => metric(s, "electrum_subscriptions"), (v) => v === baseSubs, 5_000);
      await until("fd count back to baseline", () => fdCount(s.pid), (n) => n <= baseFds, 10_000);
    }
  }, T);
});

describe("one client's burst does not hold up the others", () => {
  let s: Server;
  beforeAll(async () => {
    s = await startServer(["--electrum-ws-addr", "127.0.0.1:0"]);
  }, T);
  afterAll(() => stopServer(s));

  /** While `burst` runs, another client's ping and get_balance and REST's tip height stay fast. */
  async function othersStayFast(call: (method: string, params?: unknown[]) => Promise<unknown>, burst: () => Promise<() => void>): Promise<void> {
    const answered0 = await metric(s, "electrum_rpc_count");
    const stopBurst = await burst();
    // The burst is being worked off: measure until the server has answered a good part of it.
    const worked = until("burst answered", () => metric(s, "electrum_rpc_count"), (n) => n - answered0 >= 3_000, 30_000);
    const [ping, balance, rest] = await Promise.all([
      measure(() => call("server.ping"), worked, 50),
      measure(() => call("blockchain.scripthash.get_balance", [TEN_TX_SCRIPT]), worked, 50),
      measure(async () => (await fetch(`${s.restUrl}/blocks/tip/height`)).text(), worked, 50),
    ]);
    stopBurst();
    expectFast("server.ping", ping);
    expectFast("get_balance", balance);
    expectFast("REST /blocks/tip/height", rest);
  }

  /** Over TCP, while a client that reads its answers sends `burst` in one write. */
  async function tcpBurst(burst: string, onAnswers?: (text: string) => void, check?: () => void): Promise<void> {
    const other = await LineRpc.connect(s.tcpPort);
    expect((await other.call("blockchain.scripthash.get_balance", [TEN_TX_SCRIPT])).result).toBeDefined();
    await othersStayFast(
      async (m, p) => other.call(m, p),
      async () => {
        const c = await rawClient(s.tcpPort);
        c.sock.resume(); // it reads: its answers flow
        if (onAnswers) c.sock.on("data", (b: Buffer) => onAnswers(b.toString("utf8")));
        c.sock.write(burst);
        return () => {
          c.sock.destroy();
          check?.();
        };
      },
    );
    other.close();
  }

  test("TCP: 1 MB of pipelined blockchain.block.headers [0, 2016] in one write", async () => {
    await tcpBurst(headersBurst(1_000_000));
  }, T);

  test("TCP: 1 MB of pipelined requests of costly methods (uncached header ranges, a 600-tx history, verbose txs, merkle proofs)", async () => {
    let errors = 0;
    let tail = "";
    const count = (chunk: string) => {
      const text = tail + chunk;
      const cut = text.lastIndexOf("\n");
      tail = text.slice(cut + 1);
      for (const line of text.slice(0, cut + 1).split("\n")) if (line.includes('"error"')) errors++;
    };
    // Every answer is a real one, not an error.
    await tcpBurst(headersBurst(1_000_000, 1, MIXED_REQ), count, () => expect(errors).toBe(0));
  }, T);

  test("WebSocket: the same burst, one request per frame", async () => {
    const other = await WsRpc.connect(s.wsUrl!);
    expect((await other.call("blockchain.scripthash.get_balance", [TEN_TX_SCRIPT])).result).toBeDefined();
    await othersStayFast(
      async (m, p) => other.call(m, p),
      async () => {
        const c = await rawWsClient(s.wsUrl!);
        c.sock.resume(); // it reads: its answers flow
        c.sock.write(wsFrames(headersBurst(1_000_000)));
        return () => c.sock.destroy();
      },
    );
    other.close();
  }, T);
});

describe("clients that subscribe and pipeline but never read", () => {
  let s: Server;
  beforeAll(async () => {
    // One serving thread: the bound is per client, against the RSS of the whole process; each
    // serve worker's heap keeps its own garbage until its own collection.
    s = await startServer(["--electrum-ws-addr", "127.0.0.1:0", "--serve-workers", "1"]);
  }, T);
  afterAll(() => stopServer(s));

  /**
   * `n` non-readers: half pipeline 3 MB (past the 1,064,000 bytes of unanswered requests a client
   * may have: dropped as soon as the server has read that much), half 1 MB (under it: dropped by
   * the stall rule, fewer than 256 kB of their answers taken in 10 s). Meanwhile another client stays fast, the
   * server's memory stays bounded, and every non-reader is closed by the server.
   */
  async function nonReaders(connect: () => Promise<RawClient>, frame: (lines: string) => Buffer | string, call: (m: string, p?: unknown[]) => Promise<unknown>): Promise<void> {
    const n = 40;
    const baseRss = rssMiB(s.pid);
    const clients = await Promise.all(Array.from({ length: n }, () => connect()));
    await until("clients connected", () => metric(s, "electrum_clients"), (v) => v >= n, 10_000);
    let peakRss = baseRss;
    const watchRss = setInterval(() => (peakRss = Math.max(peakRss, rssMiB(s.pid))), 20);
    try {
      for (const [i, c] of clients.entries()) {
        const subscribe = [
          JSON.stringify({ jsonrpc: "2.0", id: "h", method: "blockchain.headers.subscribe", params: [] }),
          JSON.stringify({ jsonrpc: "2.0", id: "s", method: "blockchain.scripthash.subscribe", params: [TEN_TX_SCRIPT] }),
        ].join("\n");
        c.sock.write(frame(subscribe + "\n" + headersBurst(i % 2 === 0 ? 3_000_000 : 1_000_000)));
      }
      // The server's count, not the clients' close events: a client that does not read may not see the close.
      const allGone = until("non-readers dropped", () => metric(s, "electrum_clients"), (v) => v === 1, 30_000);
      const [ping, balance] = await Promise.all([
        measure(() => call("server.ping"), allGone, 50),
        measure(() => call("blockchain.scripthash.get_balance", [TEN_TX_SCRIPT]), allGone, 50),
      ]);
      expectFast("server.ping", ping);
      expectFast("get_balance", balance);
    } finally {
      clearInterval(watchRss);
      for (const c of clients) c.sock.destroy();
    }
    await until("subscriptions back", () => metric(s, "electrum_subscriptions"), (v) => v === 0, 5_000);
    // About 1.4 MB each at most (1,064,000 bytes of requests, 256 kB of answers and the one being
    // written; README) and what the runtime has not collected yet: 40 × 1.4 MB = 56 MiB.
    expect({ peakRssGrowthMiB: Math.round(peakRss - baseRss), under: peakRss - baseRss < 150 }).toMatchObject({ under: true });
  }

  test("over TCP: dropped, the others stay fast, memory bounded", async () => {
    const other = await LineRpc.connect(s.tcpPort);
    try {
      await nonReaders(() => rawClient(s.tcpPort), (lines) => lines, (m, p) => other.call(m, p));
    } finally {
      other.close();
    }
  }, T);

  test("over WebSocket (which cannot stop reading): dropped, the others stay fast, memory bounded", async () => {
    const other = await WsRpc.connect(s.wsUrl!);
    try {
      await nonReaders(() => rawWsClient(s.wsUrl!), wsFrames, (m, p) => other.call(m, p));
    } finally {
      other.close();
    }
  }, T);
});

describe("operator limits: a client over a limit gets a JSON-RPC error, then a close", () => {
  const refusal = async (port: number): Promise<{ code: number; message: string }> => {
    const c = await rawClient(port);
    c.sock.resume();
    let text = "";
    c.sock.on("data", (b: Buffer) => (text += b.toString("utf8")));
    await c.gone;
    const reply = JSON.parse(text.trim());
    expect(reply.id).toBeNull();
    return reply.error;
  };

  test("--electrum-max-clients-per-ip and --electrum-max-subs-per-ip", async () => {
    const s = await startServer(["--electrum-max-clients-per-ip", "2", "--electrum-max-subs-per-ip", "3"]);
    const a = await LineRpc.connect(s.tcpPort);
    const b = await LineRpc.connect(s.tcpPort);
    expect(await a.call("server.ping")).toMatchObject({ result: null });
    expect(await b.call("server.ping")).toMatchObject({ result: null });
    const err = await refusal(s.tcpPort);
    expect(err.code).toBe(4);
    expect(err.message).toContain("too many connections from your address: at most 2");
    // The first two are still served; once one leaves, a new one is let in.
    const scripts = expected.scripts.filter((x) => x.history.length < 50).slice(0, 4).map((x) => x.electrum_scripthash);
    expect((await a.call("blockchain.scripthash.subscribe", [scripts[0]])).error).toBeUndefined();
    expect((await a.call("blockchain.scripthash.subscribe", [scripts[1]])).error).toBeUndefined();
    expect((await b.call("blockchain.scripthash.subscribe", [scripts[2]])).error).toBeUndefined();
    const over = await b.call("blockchain.scripthash.subscribe", [scripts[3]]);
    expect(over.error?.code).toBe(4);
    expect(over.error?.message).toContain("at most 3 script hashes per IP address");
    a.close();
    await a.closed;
    await until("one client left", () => metric(s, "electrum_clients"), (v) => v === 1, 5_000);
    // a's subscriptions went with it: b may subscribe again.
    expect((await b.call("blockchain.scripthash.subscribe", [scripts[3]])).error).toBeUndefined();
    const c = await LineRpc.connect(s.tcpPort);
    expect(await c.call("server.ping")).toMatchObject({ result: null });
    b.close();
    c.close();
    await stopServer(s);
  }, T);

  test("--electrum-max-clients", async () => {
    const s = await startServer(["--electrum-max-clients", "1"]);
    const a = await LineRpc.connect(s.tcpPort);
    expect(await a.call("server.ping")).toMatchObject({ result: null });
    const err = await refusal(s.tcpPort);
    expect(err.code).toBe(4);
    expect(err.message).toContain("server busy: 1 clients connected");
    expect(await a.call("server.ping")).toMatchObject({ result: null });
    a.close();
    await stopServer(s);
  }, T);
});
