/**
 * The Electrum RPC server on --electrum-rpc-addr: Bun.listen TCP, newline-delimited JSON-RPC
 * (peers-and-protocol.md §1.2), one Connection per client.
 *
 * A connection answers its requests one at a time, in the order they arrived (pipelining), and
 * keeps memory bounded: a request line is at most `maxLineBytes` (else an error, then the client
 * is closed); while more than `sendHighWater` bytes wait to be written, no further request is
 * answered and reading from the socket pauses (TCP backpressure reaches the client); a client
 * that lets more than `maxSendBuffer` bytes of notifications pile up is disconnected.
 */
import { listenError } from "../listen.ts";
import type { Socket, TCPSocketListener } from "bun";
import { bytesToHex, hashToHex } from "../bitcoin/bytes.ts";
import type { NetworkParams } from "../bitcoin/network.ts";
import { formatAddr, type SocketAddr } from "../config.ts";
import type { Logger } from "../log.ts";
import type { Metrics } from "../metrics/metrics.ts";
import type { MempoolView } from "../mempool/types.ts";
import type { ChainQuery } from "../query/chain-query.ts";
import { electrumHistory, historyStatus } from "../query/electrum-history.ts";
import type { StoreReader } from "../store/read.ts";
import { Dispatcher } from "./dispatch.ts";
import { errorJson, RPC_CODES, RpcError } from "./jsonrpc.ts";
import type { ElectrumConfig, ServerContext } from "./methods.ts";
import { offlineElectrumNode, type ElectrumNode } from "./node.ts";
import { Session, Subscriptions, type ElectrumUpdate, type SessionOutput } from "./subscriptions.ts";

export interface ElectrumLimits {
  /** A request line longer than this is answered with -32600 and the client is closed (ElectrumX MAX_RECV). */
  readonly maxLineBytes: number;
  /** A reply line longer than this becomes a -32600 "response too large" error (ElectrumX MAX_SEND). */
  readonly maxResponseBytes: number;
  readonly maxBatch: number;
  /** Script hash subscriptions per connection (0 = no limit). */
  readonly maxSubscriptions: number;
  /** Unwritten bytes above which the connection stops answering and reading. */
  readonly sendHighWater: number;
  /** Unwritten bytes above which the client is disconnected (notifications to a client that does not read). */
  readonly maxSendBuffer: number;
  /** A client silent for this long is closed (ElectrumX SESSION_TIMEOUT). */
  readonly idleTimeoutS: number;
}

export const DEFAULT_LIMITS: ElectrumLimits = Object.freeze({
  maxLineBytes: 1_000_000,
  maxResponseBytes: 8_000_000,
  maxBatch: 100,
  maxSubscriptions: 10_000,
  sendHighWater: 1_000_000,
  maxSendBuffer: 32_000_000,
  idleTimeoutS: 600,
});

export interface ElectrumServerOptions {
  addr: SocketAddr;
  query: ChainQuery;
  /** The same committed-state reader the query uses. */
  reader: StoreReader;
  mempool: MempoolView;
  /** null with --offline: node calls answer code 2 "no bitcoind". */
  node: ElectrumNode | null;
  network: NetworkParams;
  config: ElectrumConfig;
  log: Logger;
  /** electrum_rpc, electrum_clients, electrum_subscriptions, electrum_notifications_total are registered here. */
  metrics: Metrics;
  /** Called with the txids the node accepted, before the answer (the app passes Mempool.addTxids). */
  onBroadcast?: (txidHexes: string[]) => Promise<unknown>;
  limits?: Partial<ElectrumLimits>;
}

export interface ElectrumServer {
  readonly port: number;
  /** host:port with the bound port. */
  readonly addr: string;
  readonly clientCount: number;
  /** After each index+mempool update: header and script hash notifications. */
  notify(update: ElectrumUpdate): void;
  stop(): Promise<void>;
}

const TLS_HANDSHAKE = 0x16;
const NEWLINE = 0x0a;

export function startElectrumServer(opts: ElectrumServerOptions): ElectrumServer {
  const limits: ElectrumLimits = { ...DEFAULT_LIMITS, ...opts.limits };
  const { log, reader, mempool, config } = opts;
  const m = opts.metrics;
  const clients = m.gauge("electrum_clients", "Number of connected Electrum clients");
  const subs = new Subscriptions({
    limit: limits.maxSubscriptions,
    status: (key) => {
      const h = electrumHistory(reader, mempool, key, config.txsLimit);
      return { status: historyStatus(h), hasMempoolParent: h.mempool.some((e) => e.height === -1) };
    },
    tip: () => {
      const t = reader.tip();
      return t ? { height: t.height, hashHex: hashToHex(t.hash), headerHex: bytesToHex(t.header) } : null;
    },
    log,
    gauge: m.gauge("electrum_subscriptions", "Number of script hash subscriptions"),
    notifications: m.counter("electrum_notifications_total", "Notifications sent to Electrum clients", ["type"]),
  });
  const ctx: ServerContext = {
    query: opts.query,
    reader,
    mempool,
    node: opts.node ?? offlineElectrumNode(),
    network: opts.network,
    subs,
    config,
    onBroadcast: opts.onBroadcast ?? (async () => {}),
    log,
  };
  const dispatcher = new Dispatcher(ctx, limits, m.histogram("electrum_rpc", "Electrum RPC latency by method (in seconds)", ["method"]), log);
  const live = new Set<Connection>();
  let nextId = 0;
  const env: ConnectionEnv = { limits, dispatcher, subs, log };

  const listener = listen(opts.addr, {
    open(socket) {
      const conn = new Connection(socket, nextId++, env, () => {
        live.delete(conn);
        clients.dec();
      });
      socket.data = conn;
      live.add(conn);
      clients.inc();
      socket.timeout(limits.idleTimeoutS);
    },
    data: (socket, chunk) => socket.data?.onData(chunk),
    drain: (socket) => socket.data?.onDrain(),
    close: (socket) => socket.data?.onClose(),
    error: (socket, err) => {
      log.debug(`electrum client error: ${err.message}`);
      socket.data?.onClose();
    },
    timeout: (socket) => socket.data?.terminate("idle timeout"),
  });
  const port = listener.port;
  const addr = formatAddr({ host: opts.addr.host, port });
  log.info(`Electrum RPC server running on ${addr}`);
  return {
    port,
    addr,
    get clientCount() {
      return live.size;
    },
    notify: (update) => subs.notify(update),
    stop: async () => {
      for (const c of [...live]) c.terminate("server stopping");
      listener.stop(true);
    },
  };
}

type Handlers = Bun.SocketHandler<Connection | undefined>;

function listen(addr: SocketAddr, handlers: Handlers): TCPSocketListener<Connection | undefined> {
  try {
    return Bun.listen<Connection | undefined>({ hostname: addr.host, port: addr.port, socket: handlers, data: undefined });
  } catch (err) {
    throw listenError(addr, "--electrum-rpc-addr", err);
  }
}


interface ConnectionEnv {
  readonly limits: ElectrumLimits;
  readonly dispatcher: Dispatcher;
  readonly subs: Subscriptions;
  readonly log: Logger;
}

class Connection implements SessionOutput {
  readonly session: Session;
  private partial: Buffer[] = [];
  private partialBytes = 0;
  private sawFirstByte = false;
  private readonly queue: string[] = [];
  private queueBytes = 0;
  private readonly out: Buffer[] = [];
  private outBytes = 0;
  private processing = false;
  private paused = false;
  private closing = false;
  private closed = false;
  private drained: (() => void) | null = null;

  constructor(
    private readonly socket: Socket<Connection | undefined>,
    id: number,
    private readonly env: ConnectionEnv,
    private readonly onGone: () => void,
  ) {
    this.session = new Session(id, socket.remoteAddress, this);
  }

  onData(chunk: Buffer): void {
    if (this.closed || this.closing) return;
    if (!this.sawFirstByte && chunk.length > 0) {
      this.sawFirstByte = true;
      if (chunk[0] === TLS_HANDSHAKE) return this.terminate("TLS handshake on the plain TCP port");
    }
    const max = this.env.limits.maxLineBytes;
    let start = 0;
    for (let nl = chunk.indexOf(NEWLINE, start); nl >= 0; nl = chunk.indexOf(NEWLINE, start)) {
      if (this.partialBytes + nl - start > max) return this.oversize();
      const piece = chunk.subarray(start, nl);
      const bytes = this.partial.length === 0 ? piece : Buffer.concat([...this.partial, piece]);
      this.partial = [];
      this.partialBytes = 0;
      const line = bytes.toString("utf8");
      this.queue.push(line);
      this.queueBytes += line.length;
      start = nl + 1;
    }
    if (start < chunk.length) {
      this.partialBytes += chunk.length - start;
      if (this.partialBytes > max) return this.oversize();
      this.partial.push(Buffer.from(chunk.subarray(start)));
    }
    if (this.queueBytes > max && !this.paused) {
      this.paused = true;
      this.socket.pause();
    }
    void this.pump();
  }

  /** Queues one line; a client that lets too much pile up is dropped. */
  send(line: string): void {
    if (this.closed) return;
    const buf = Buffer.from(line + "\n", "utf8");
    if (this.out.length === 0) {
      const n = this.socket.write(buf);
      if (n >= buf.length) return;
      this.out.push(buf.subarray(Math.max(0, n)));
      this.outBytes += buf.length - Math.max(0, n);
    } else {
      this.out.push(buf);
      this.outBytes += buf.length;
    }
    if (this.outBytes > this.env.limits.maxSendBuffer) this.terminate(`client does not read: over ${this.env.limits.maxSendBuffer} bytes unsent`);
  }

  onDrain(): void {
    while (this.out.length > 0 && !this.closed) {
      const head = this.out[0]!;
      const n = this.socket.write(head);
      if (n >= head.length) {
        this.out.shift();
        this.outBytes -= head.length;
      } else {
        if (n > 0) {
          this.out[0] = head.subarray(n);
          this.outBytes -= n;
        }
        break;
      }
    }
    if (this.outBytes <= this.env.limits.sendHighWater) {
      const d = this.drained;
      this.drained = null;
      d?.();
    }
    if (this.closing && this.outBytes === 0) this.socket.end();
  }

  onClose(): void {
    if (this.closed) return;
    this.closed = true;
    this.queue.length = 0;
    this.out.length = 0;
    this.env.subs.dropSession(this.session);
    const d = this.drained;
    this.drained = null;
    d?.();
    this.onGone();
  }

  terminate(why: string): void {
    if (this.closed) return;
    this.env.log.debug(`closing electrum client ${this.session.remote} #${this.session.id}: ${why}`);
    this.socket.end();
    this.onClose();
  }

  /** Answers, then closes once the answer is written. */
  private closeAfterFlush(): void {
    this.closing = true;
    this.queue.length = 0;
    if (this.outBytes === 0) {
      this.socket.end();
      this.onClose();
    }
  }

  private oversize(): void {
    const max = this.env.limits.maxLineBytes;
    this.send(errorJson(null, new RpcError(RPC_CODES.INVALID_REQUEST, `request line too large (over ${max} bytes)`)));
    this.partial = [];
    this.partialBytes = 0;
    this.closeAfterFlush();
  }

  private async pump(): Promise<void> {
    if (this.processing) return;
    this.processing = true;
    try {
      while (!this.closed && !this.closing && this.queue.length > 0) {
        if (this.outBytes > this.env.limits.sendHighWater) {
          await new Promise<void>((resolve) => (this.drained = resolve));
          continue;
        }
        const line = this.queue.shift()!;
        this.queueBytes -= line.length;
        if (this.paused && this.queueBytes <= this.env.limits.maxLineBytes) {
          this.paused = false;
          this.socket.resume();
        }
        const reply = await this.env.dispatcher.handleLine(this.session, line);
        if (reply !== null) this.send(reply);
        if (this.session.closeAfterReply) this.closeAfterFlush();
      }
    } finally {
      this.processing = false;
    }
  }
}
