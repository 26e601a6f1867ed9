/**
 * The same methods over TLS, WebSocket and WebSocket over TLS (peers-and-protocol.md §1.2): TLS is
 * newline-framed like TCP; a WebSocket frame carries exactly one JSON message (a request, a batch,
 * a reply or a notification) with no newline. Wrong use of a port (plain text on the TLS port, an
 * HTTP request without an upgrade, an oversized frame) ends that client only.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { hashToHex } from "../../../src/bitcoin/bytes.ts";
import { sha256d } from "../../../src/bitcoin/hash.ts";
import { buildTx, expected, LineClient, openFixture, startServer, TLS_FILES, WAIT_MS, type Fixture, type RpcReply, type Started } from "./harness.ts";

let fx: Fixture;
let srv: Started;

const MAX_LINE = 50_000;

beforeAll(async () => {
  fx = await openFixture();
  srv = startServer(fx, { transports: { tls: true, ws: true, wss: true }, hosts: null, limits: { maxLineBytes: MAX_LINE } });
});
afterAll(async () => {
  await srv.server.stop();
  fx.close();
});

const portOf = (addr: string | null): number => Number(addr!.slice(addr!.lastIndexOf(":") + 1));

/** A WebSocket client that keeps every frame it receives, in order. */
class WsClient {
  private readonly frames: string[] = [];
  private wake: (() => void) | null = null;
  private nextId = 1;
  closed = false;
  closeCode: number | null = null;

  private constructor(private readonly ws: WebSocket) {
    ws.onmessage = (e) => {
      this.frames.push(typeof e.data === "string" ? e.data : Buffer.from(e.data as ArrayBuffer).toString("utf8"));
      this.kick();
    };
    ws.onclose = (e) => {
      this.closed = true;
      this.closeCode = e.code;
      this.kick();
    };
  }

  static async connect(url: string): Promise<WsClient> {
    // Bun's WebSocket takes TLS options; the test certificate is its own CA.
    const ws = new WebSocket(url, { tls: { ca: TLS_FILES.cert } } as unknown as string[]);
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`timed out connecting to ${url}`)), WAIT_MS);
      ws.onopen = () => (clearTimeout(t), resolve());
      ws.onerror = () => (clearTimeout(t), reject(new Error(`cannot connect to ${url}`)));
    });
    return new WsClient(ws);
  }

  private kick(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  send(text: string): void {
    this.ws.send(text);
  }

  /** The next frame, or null once closed. */
  async nextFrame(timeoutMs = WAIT_MS): Promise<string | null> {
    const deadline = Date.now() + timeoutMs;
    while (this.frames.length === 0) {
      if (this.closed) return null;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error("timed out waiting for a frame");
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.wake = () => (clearTimeout(t), resolve());
      });
    }
    return this.frames.shift()!;
  }

  async next(): Promise<RpcReply> {
    const f = await this.nextFrame();
    if (f === null) throw new Error("connection closed");
    expect(f).not.toContain("\n");
    return JSON.parse(f) as RpcReply;
  }

  async result(method: string, params: unknown = []): Promise<unknown> {
    const id = this.nextId++;
    this.send(JSON.stringify({ jsonrpc: "2.0", id, method, params }));
    const r = await this.next();
    expect(r.id).toBe(id);
    if (r.error) throw new Error(`${method}: ${r.error.code} ${r.error.message}`);
    return r.result;
  }

  async waitClosed(timeoutMs = WAIT_MS): Promise<void> {
    while (!this.closed) if ((await this.nextFrame(timeoutMs)) === null) break;
  }

  close(): void {
    this.ws.close();
  }
}

const tip = expected.tip;
// A fixture script with a few confirmed txs: its history over each transport must be the same as over TCP.
const script = expected.scripts.find((s) => s.history.length >= 2 && s.history.length < 100)!;
const scriptHash = script.electrum_scripthash;

async function sameAnswers(call: (method: string, params?: unknown) => Promise<unknown>): Promise<void> {
  const tcp = await LineClient.connect(srv.server.port);
  try {
    expect(await call("server.version", ["t", "1.6"])).toEqual(await tcp.result("server.version", ["t", "1.6"]));
    const head = (await call("blockchain.headers.subscribe")) as { height: number; hex: string };
    expect(head.height).toBe(tip.height);
    expect(hashToHex(sha256d(Buffer.from(head.hex, "hex")))).toBe(tip.hash);
    for (const m of ["blockchain.scripthash.get_history", "blockchain.scripthash.get_balance", "blockchain.scripthash.listunspent"]) {
      expect(await call(m, [scriptHash])).toEqual(await tcp.result(m, [scriptHash]));
    }
    expect(await call("blockchain.block.header", [1, tip.height])).toEqual(await tcp.result("blockchain.block.header", [1, tip.height]));
  } finally {
    tcp.close();
  }
}

describe("TLS", () => {
  test("the same methods, newline-framed, over a verified TLS connection", async () => {
    const c = await LineClient.connect(portOf(srv.server.listeners.tls), { tls: true });
    await sameAnswers((m, p) => c.result(m, p ?? []));
    c.close();
  });

  test("server.features lists the bound TCP and TLS ports", async () => {
    const c = await LineClient.connect(srv.server.port);
    const f = (await c.result("server.features")) as { hosts: unknown };
    expect(f.hosts).toEqual({ "127.0.0.1": { tcp_port: srv.server.port, ssl_port: portOf(srv.server.listeners.tls) } });
    c.close();
  });

  test("plain text on the TLS port ends that client only", async () => {
    const good = await LineClient.connect(portOf(srv.server.listeners.tls), { tls: true });
    const plain = await LineClient.connect(portOf(srv.server.listeners.tls));
    plain.write(JSON.stringify({ id: 1, method: "server.version", params: [] }) + "\n");
    // Whatever the TLS layer sends back (an alert) is not a JSON-RPC answer, and the connection ends.
    await plain.closedPromise;
    expect(await good.result("server.ping")).toBeNull();
    good.close();
  });
});

describe("WebSocket", () => {
  test("ws: the same methods, one JSON message per frame", async () => {
    const c = await WsClient.connect(`ws://${srv.server.listeners.ws}/`);
    await sameAnswers((m, p) => c.result(m, p ?? []));
    c.close();
  });

  test("wss: the same methods over TLS", async () => {
    const c = await WsClient.connect(`wss://localhost:${portOf(srv.server.listeners.wss)}/`);
    await sameAnswers((m, p) => c.result(m, p ?? []));
    c.close();
  });

  test("a batch is one frame in and one frame out; notifications are frames of their own", async () => {
    const c = await WsClient.connect(`ws://${srv.server.listeners.ws}/`);
    await c.result("server.version", ["t", "1.6"]);
    c.send(JSON.stringify([
      { jsonrpc: "2.0", id: 1, method: "server.ping" },
      { jsonrpc: "2.0", id: 2, method: "blockchain.scripthash.subscribe", params: [scriptHash] },
    ]));
    const batch = JSON.parse((await c.nextFrame())!) as RpcReply[];
    expect(batch.map((r) => r.id)).toEqual([1, 2]);
    const status = batch[1]!.result;
    expect(typeof status).toBe("string");

    // A mempool tx paying the subscribed script changes its status: one notification frame.
    const utxo = expected.scripts.find((s) => s.utxos.length > 0)!.utxos[0]!;
    const tx = buildTx({ inputs: [{ txidHex: utxo.txid, vout: utxo.vout }], outputs: [{ scriptHex: script.script, value: utxo.value - 1000 }] });
    fx.node.add(tx.raw, tx.txidHex);
    srv.server.notify({ touchedScriptKeysHex: (await fx.mempool.update()).touchedScriptKeysHex });
    const n = await c.next();
    expect(n.method).toBe("blockchain.scripthash.subscribe");
    expect(n.params?.[0]).toBe(scriptHash);
    expect(n.params?.[1]).not.toBe(status);
    // And back when it leaves the mempool.
    fx.node.txs.clear();
    srv.server.notify({ touchedScriptKeysHex: (await fx.mempool.update()).touchedScriptKeysHex });
    expect((await c.next()).params?.[1]).toBe(status);
    c.close();
  });

  test("a frame over the request limit closes that client only; garbage gets a parse error", async () => {
    const good = await WsClient.connect(`ws://${srv.server.listeners.ws}/`);
    const bad = await WsClient.connect(`ws://${srv.server.listeners.ws}/`);
    bad.send("not json");
    expect((await bad.next()).error?.code).toBe(-32700);
    bad.send("[" + " ".repeat(MAX_LINE + 10) + "]");
    await bad.waitClosed();
    expect(bad.closeCode).toBe(1009);
    expect(await good.result("server.ping")).toBeNull();
    good.close();
  });

  test("an HTTP request without an upgrade is answered 426", async () => {
    const r = await fetch(`http://${srv.server.listeners.ws}/`);
    expect(r.status).toBe(426);
    expect(await r.text()).toContain("WebSocket");
  });
});
