/**
 * Electrum tests: the REST harness's fixture index + real Mempool, an Electrum server on
 * 127.0.0.1 port 0, and a line client over a real TCP connection.
 */
import type { Socket } from "bun";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { SocketAddr } from "../../../src/config.ts";
import { noopMetrics, type Metrics } from "../../../src/metrics/metrics.ts";
import type { ElectrumNode } from "../../../src/electrum/node.ts";
import { DaemonError } from "../../../src/errors.ts";
import { startElectrumServer, type ElectrumLimits, type ElectrumServer } from "../../../src/electrum/server.ts";
import type { ReadGuard } from "../../../src/query/chain-query.ts";
import { memoryLogger, regtest, type Fixture } from "../rest/harness.ts";

export { buildTx, expected, openFixture, regtest, type Fixture } from "../rest/harness.ts";

export const WAIT_MS = 5_000;

/** A self-signed certificate for localhost and 127.0.0.1 (EC P-256, valid to 2126), made with openssl for these tests. */
const TLS_DIR = join(import.meta.dir, "..", "..", "fixtures", "tls");
export const TLS_FILES = { cert: readFileSync(join(TLS_DIR, "cert.pem"), "utf8"), key: readFileSync(join(TLS_DIR, "key.pem"), "utf8") };

export class ScriptedElectrumNode implements ElectrumNode {
  readonly calls: { method: string; params: unknown[] }[] = [];
  estimateSmartFee = async (target: number, mode: string | null): Promise<number | null> => {
    this.calls.push({ method: "estimatesmartfee", params: [target, mode] });
    // bcoin refuses targets past 15 with an error (Core answers every target up to 1008).
    if (target > 15) throw new DaemonError("estimatesmartfee", -32603, "Too many confirmations for estimate.");
    return target <= 2 ? 0.00012 : null;
  };
  relayFee = async () => 0.00001;
  mempoolInfo = async () => ({ mempoolminfee: 0.00001, minrelaytxfee: 0.00001, incrementalrelayfee: 0.00001 });
  sendRawTransaction = async (hex: string): Promise<string> => {
    this.calls.push({ method: "sendrawtransaction", params: [hex] });
    return "ab".repeat(32);
  };
  submitPackage = async (hexes: readonly string[]): Promise<unknown> => {
    this.calls.push({ method: "submitpackage", params: [hexes] });
    return { package_msg: "success", "tx-results": { w1: { txid: "cd".repeat(32), vsize: 100 } } };
  };
}

export interface Started {
  readonly server: ElectrumServer;
  readonly lines: string[];
  readonly broadcasts: string[][];
}

export function startServer(
  fx: Fixture,
  opts: {
    node?: ElectrumNode | null;
    limits?: Partial<ElectrumLimits>;
    txsLimit?: number;
    metrics?: Metrics;
    /** Also listen on TLS, WebSocket, WebSocket over TLS (each on 127.0.0.1 port 0). */
    transports?: { tls?: boolean; ws?: boolean; wss?: boolean };
    /** server.features hosts; null: from the bound ports. */
    hosts?: Record<string, { tcp_port: number | null; ssl_port: number | null }> | null;
    /** A serve worker's read guard (chain-query.ts ReadGuard). */
    readGuard?: ReadGuard | null;
  } = {},
): Started {
  const any: SocketAddr = { host: "127.0.0.1", port: 0 };
  const t = opts.transports ?? {};
  const { log, lines } = memoryLogger();
  const broadcasts: string[][] = [];
  const server = startElectrumServer({
    addr: any,
    tlsAddr: t.tls ? any : null,
    wsAddr: t.ws ? any : null,
    wssAddr: t.wss ? any : null,
    tls: t.tls || t.wss ? TLS_FILES : null,
    query: fx.query,
    reader: fx.indexer.reader,
    mempool: fx.mempool,
    node: opts.node === undefined ? new ScriptedElectrumNode() : opts.node,
    network: regtest,
    config: { txsLimit: opts.txsLimit ?? 0, utxosLimit: 500, banner: "hello", hosts: opts.hosts === undefined ? { "127.0.0.1": { tcp_port: 1, ssl_port: null } } : opts.hosts },
    log,
    metrics: opts.metrics ?? noopMetrics(),
    onBroadcast: async (t) => void broadcasts.push(t),
    ...(opts.limits ? { limits: opts.limits } : {}),
    ...(opts.readGuard ? { readGuard: opts.readGuard } : {}),
  });
  return { server, lines, broadcasts };
}

export interface RpcReply {
  jsonrpc?: string;
  id?: unknown;
  result?: unknown;
  error?: { code: number; message: string };
  method?: string;
  params?: unknown[];
}

/** A newline-delimited JSON client; replies and notifications are kept apart. */
export class LineClient {
  private buf = "";
  private readonly lines: string[] = [];
  private wake: (() => void) | null = null;
  private socket!: Socket<undefined>;
  private nextId = 1;
  closed = false;
  readonly closedPromise: Promise<void>;
  private resolveClosed!: () => void;

  private constructor() {
    this.closedPromise = new Promise((r) => (this.resolveClosed = r));
  }

  /** With `tls`, the server's certificate is checked against the test CA (itself) for "localhost". */
  static async connect(port: number, opts: { tls?: boolean } = {}): Promise<LineClient> {
    const c = new LineClient();
    // A Bun TLS client socket drops what is written before its handshake completes, so wait for it.
    let handshake!: (ok: boolean) => void;
    const shaken = new Promise<boolean>((r) => (handshake = r));
    c.socket = await Bun.connect({
      hostname: "127.0.0.1",
      port,
      ...(opts.tls ? { tls: { ca: TLS_FILES.cert, serverName: "localhost" } } : {}),
      socket: {
        data: (_s, chunk) => c.onData(chunk.toString("utf8")),
        close: () => c.onClose(),
        error: () => c.onClose(),
        handshake: (_s, ok) => handshake(ok),
      },
    });
    if (opts.tls && !(await Promise.race([shaken, Bun.sleep(WAIT_MS).then(() => false)]))) throw new Error("TLS handshake failed");
    return c;
  }

  private onData(text: string): void {
    this.buf += text;
    let nl: number;
    while ((nl = this.buf.indexOf("\n")) >= 0) {
      this.lines.push(this.buf.slice(0, nl));
      this.buf = this.buf.slice(nl + 1);
    }
    this.kick();
  }

  private onClose(): void {
    this.closed = true;
    this.resolveClosed();
    this.kick();
  }

  private kick(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  write(text: string | Uint8Array): void {
    this.socket.write(text);
  }

  /** The next line, or null once the server closed the connection. */
  async nextLine(timeoutMs = WAIT_MS): Promise<string | null> {
    const deadline = Date.now() + timeoutMs;
    while (this.lines.length === 0) {
      if (this.closed) return null;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error("timed out waiting for a line");
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
    return this.lines.shift()!;
  }

  async next(): Promise<RpcReply> {
    const line = await this.nextLine();
    if (line === null) throw new Error("connection closed");
    return JSON.parse(line) as RpcReply;
  }

  async call(method: string, params: unknown = []): Promise<RpcReply> {
    const id = this.nextId++;
    this.write(JSON.stringify({ jsonrpc: "2.0", id, method, params }) + "\n");
    const r = await this.next();
    if (r.id !== id) throw new Error(`expected the reply to ${id}, got ${JSON.stringify(r).slice(0, 200)}`);
    return r;
  }

  async result(method: string, params: unknown = []): Promise<unknown> {
    const r = await this.call(method, params);
    if (r.error) throw new Error(`${method}: ${r.error.code} ${r.error.message}`);
    return r.result;
  }

  /** Asserts nothing is pending: a ping's reply must be the very next line. */
  async expectQuiet(): Promise<void> {
    const r = await this.call("server.ping");
    if (r.result !== null) throw new Error("unexpected line before the ping reply");
  }

  pauseReading(): void {
    this.socket.pause();
  }

  resumeReading(): void {
    this.socket.resume();
  }

  close(): void {
    this.socket.end();
  }
}
