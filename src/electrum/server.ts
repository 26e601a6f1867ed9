/**
 * The Electrum RPC servers (peers-and-protocol.md §1.2): newline-delimited JSON-RPC over TCP
 * (Bun.listen, --electrum-rpc-addr) and over TLS (--electrum-tls-addr), and one JSON message per
 * frame over WebSocket (Bun.serve, --electrum-ws-addr, and --electrum-wss-addr with TLS). Every
 * listener serves the same methods and shares the subscriptions; each client is one Connection
 * (connection.ts: ordering, limits and backpressure).
 */
import type { Server, Socket } from "bun";
import { bindSocketFile, listenError, removeSocketFile } from "../listen.ts";
import { bytesToHex, hashToHex } from "../bitcoin/bytes.ts";
import type { NetworkParams } from "../bitcoin/network.ts";
import { formatAddr, type ElectrumHosts, type RpcLogSettings, type SocketAddr } from "../config.ts";
import type { Logger } from "../log.ts";
import type { Metrics } from "../metrics/metrics.ts";
import type { MempoolView } from "../mempool/types.ts";
import type { ChainQuery, ReadGuard } from "../query/chain-query.ts";
import { StatusCache } from "../query/status-cache.ts";
import { electrumHistoryBytesSliced, historyStatusSliced } from "../query/sliced-history.ts";
import { STATUS_ENTRY_TEXT } from "../query/history-bytes.ts";
import type { StoreReader } from "../store/read.ts";
import { Dispatcher } from "./dispatch.ts";
import { RpcLog } from "./rpc-log.ts";
import { RPC_CODES, RpcError } from "./jsonrpc.ts";
import { HeaderMerkleCache } from "./header-merkle.ts";
import { HeaderChunkCache, storeBlockHashes } from "./headers.ts";
import { Connection, LineInbox, MessageInbox, ResponseBudget, StreamWire, WsWire, type ConnectionEnv, type ConnectionLimits, type Inbox } from "./connection.ts";
import type { ElectrumConfig, ServerContext } from "./methods.ts";
import { offlineElectrumNode, type ElectrumNode } from "./node.ts";
import { TurnScheduler } from "./scheduler.ts";
import { Subscriptions, type ElectrumUpdate } from "./subscriptions.ts";
import type { TlsFiles } from "./tls.ts";
import { NO_TRACING, type Tracing } from "../trace/tracing.ts";
import { LocalIpCounts, LocalTotal, type IpCounts, type TotalCount } from "../serve/ip-counts.ts";

/** The server's limits: each connection's (ConnectionLimits, connection.ts) and the server-wide ones. */
export interface ElectrumLimits extends ConnectionLimits {
  /** A reply line longer than this becomes a -32600 "response too large" error (ElectrumX MAX_SEND). */
  readonly maxResponseBytes: number;
  readonly maxBatch: number;
  /** Script hash subscriptions per connection (0 = no limit). */
  readonly maxSubscriptions: number;
  /** Work of all the connections between two looks at I/O. */
  readonly tickBudgetMs: number;
  /** A client silent for this long is closed (ElectrumX SESSION_TIMEOUT). */
  readonly idleTimeoutS: number;
  /** Clients connected at once, in all and from one IP address (0 = no limit). */
  readonly maxClients: number;
  readonly maxClientsPerIp: number;
  /** Script hash subscriptions of all the connections of one IP address (0 = no limit). */
  readonly maxSubsPerIp: number;
  /** Unsent bytes of all this server's connections past which requests are refused (connection.ts ResponseBudget; 0 = none). */
  readonly globalResponseBudgetBytes: number;
}

export const DEFAULT_LIMITS: ElectrumLimits = Object.freeze({
  maxLineBytes: 1_000_000,
  maxResponseBytes: 8_000_000,
  maxBatch: 100,
  maxSubscriptions: 10_000,
  // What a client that does not read may cost (#12: 200 of them under 500 MiB): 256 kB of answers
  // waiting (plus the one being written; the kernel's socket buffers come first), 64 kB of requests
  // before its socket is paused, and one request line more (1,064,000 bytes) before it is dropped.
  sendHighWater: 256_000,
  maxSendBuffer: 10_000_000,
  readPauseBytes: 64_000,
  maxQueuedRequestBytes: 1_064_000,
  stallTimeoutMs: 10_000,
  stallMinBytes: 256_000,
  turnMaxRequests: 20,
  turnBudgetMs: 2,
  tickBudgetMs: 5,
  watchIntervalMs: 500,
  idleTimeoutS: 600,
  maxClients: 5_000,
  maxClientsPerIp: 0,
  maxSubsPerIp: 0,
  globalResponseBudgetBytes: 0,
});

export interface ElectrumServerOptions {
  /** TCP (--electrum-rpc-addr); null: none (a Unix socket instead, or a worker's share of one: `socketFile`). */
  addr: SocketAddr | null;
  /** MP's --rpc-socket-file: the plain listener on this Unix socket (mode 0660) instead of TCP. */
  socketFile?: string | null;
  /** TLS (--electrum-tls-addr); needs `tls`. */
  tlsAddr?: SocketAddr | null;
  /** WebSocket (--electrum-ws-addr). */
  wsAddr?: SocketAddr | null;
  /** WebSocket over TLS (--electrum-wss-addr); needs `tls`. */
  wssAddr?: SocketAddr | null;
  tls?: TlsFiles | null;
  query: ChainQuery;
  /** The same committed-state reader the query uses. */
  reader: StoreReader;
  mempool: MempoolView;
  /** null with --offline: node calls answer code 2 "no bitcoind". */
  node: ElectrumNode | null;
  network: NetworkParams;
  /** `hosts` null: server.features lists the listen host with the bound TCP and TLS ports. */
  config: Omit<ElectrumConfig, "hosts"> & { readonly hosts: ElectrumHosts | null };
  log: Logger;
  /** electrum_rpc, electrum_clients, electrum_subscriptions, electrum_notifications_total are registered here. */
  metrics: Metrics;
  /** Called with the txids the node accepted, before the answer (the app passes Mempool.addTxids). */
  onBroadcast?: (txidHexes: string[]) => Promise<unknown>;
  limits?: Partial<ElectrumLimits>;
  /** A root span per request (method, error code); default none. */
  tracing?: Tracing;
  /** Several threads listen on the same ports (--serve-workers, serve/pool.ts): SO_REUSEPORT on each listener. */
  reusePort?: boolean;
  /** Which serving thread this is (--serve-workers; "0" the main thread): electrs_bun_electrum_clients_by_thread. */
  thread?: string;
  /** --electrum-rpc-logging: JSON lines on stdout (rpc-log.ts); default off. */
  rpcLogging?: RpcLogSettings | null;
  /** A serve worker's guard of its reads against the main thread's commits (chain-query.ts ReadGuard). */
  readGuard?: ReadGuard | null;
  /** The counts behind maxClients, maxClientsPerIp and maxSubsPerIp: shared by every serving thread (serve/ip-counts.ts); default this server's own. */
  counts?: { readonly clients: TotalCount; readonly clientsPerIp: IpCounts; readonly subsPerIp: IpCounts };
}

export interface ElectrumServer {
  /** The TCP listener's bound port (0: none, a Unix socket instead). */
  readonly port: number;
  /** host:port of the TCP listener, with the bound port, or `unix:<path>` (`none` in a worker that leaves the socket to the main thread). */
  readonly addr: string;
  /** host:port of each listener, with the bound ports (the plain one may be `unix:<path>`). */
  readonly listeners: Readonly<{ tcp: string | null; tls: string | null; ws: string | null; wss: string | null }>;
  /** The bound port of each listener (null: not listening). */
  readonly ports: Readonly<{ tcp: number; tls: number | null; ws: number | null; wss: number | null }>;
  readonly clientCount: number;
  /** After each index+mempool update: header and script hash notifications; resolves with how many were sent. */
  notify(update: ElectrumUpdate): Promise<number>;
  stop(): Promise<void>;
}

/** `blockchain.block.headers` answers kept for the current tip (~322 kB each at 2016 headers). */
const HEADER_CHUNKS_CACHED = 16;

const TLS_HANDSHAKE = 0x16;

export function startElectrumServer(opts: ElectrumServerOptions): ElectrumServer {
  const merged: ElectrumLimits = { ...DEFAULT_LIMITS, ...opts.limits };
  // A client must be able to hold the largest answer unread (and one request of the largest size queued) before it counts as careless.
  const limits: ElectrumLimits = {
    ...merged,
    maxSendBuffer: Math.max(merged.maxSendBuffer, merged.maxResponseBytes + merged.sendHighWater),
    maxQueuedRequestBytes: Math.max(merged.maxQueuedRequestBytes, merged.maxLineBytes + merged.readPauseBytes),
  };
  const { log, reader, mempool, config } = opts;
  const m = opts.metrics;
  const clients = m.gauge("electrum_clients", "Number of connected Electrum clients");
  const thread = { thread: opts.thread ?? "0" };
  const byThread = m.gauge("electrs_bun_electrum_clients_by_thread", "Connected Electrum clients of each serving thread (--serve-workers; 0 is the main thread)", ["thread"]);
  byThread.set(0, thread);
  const statuses = new StatusCache(reader);
  const counts = opts.counts ?? { clients: new LocalTotal(), clientsPerIp: new LocalIpCounts(), subsPerIp: new LocalIpCounts() };
  const subs = new Subscriptions({
    limit: limits.maxSubscriptions,
    perIpLimit: limits.maxSubsPerIp,
    perIpCounts: counts.subsPerIp,
    // Long histories' statuses are kept and brought up to date by each block (query/status-cache.ts).
    status: (key) => statuses.status(key, mempool, config.txsLimit),
    statusSliced: async (key) => {
      if (statuses.has(key)) return statuses.status(key, mempool, config.txsLimit);
      const h = await electrumHistoryBytesSliced(reader, mempool, key, config.txsLimit, undefined, STATUS_ENTRY_TEXT);
      // A mempool entry that spends a mempool tx (height -1): its status changes when that parent confirms.
      return { status: await historyStatusSliced(h), hasMempoolParent: h.mempool.some((e) => e.height === -1) };
    },
    tip: () => {
      const t = reader.tip();
      return t ? { height: t.height, hashHex: hashToHex(t.hash), headerHex: bytesToHex(t.header) } : null;
    },
    log,
    gauge: m.gauge("electrum_subscriptions", "Number of script hash subscriptions"),
    notifications: m.counter("electrum_notifications_total", "Notifications sent to Electrum clients", ["type"]),
  });
  const live = new Set<Connection>();
  let nextId = 0;
  // Set once every listener is bound (server.features reports the bound ports); no client is served before.
  let env: ConnectionEnv | null = null;
  const accept = (wire: StreamWire | WsWire, inbox: Inbox): Connection => {
    const ip = wire.remote;
    const conn = new Connection(wire, inbox, nextId++, env!, () => {
      live.delete(conn);
      clients.dec();
      byThread.dec(1, thread);
      counts.clients.add(-1);
      counts.clientsPerIp.add(ip, -1);
    });
    live.add(conn);
    clients.inc();
    byThread.inc(1, thread);
    const all = counts.clients.add(1);
    const fromIp = counts.clientsPerIp.add(ip, 1);
    const over = overLimit(limits, all, fromIp);
    if (over) {
      log.debug(`refusing electrum client ${ip}: ${over}`);
      conn.reject(new RpcError(RPC_CODES.LIMIT_EXCEEDED, over));
    }
    return conn;
  };
  const closers: (() => void)[] = [];
  const reusePort = opts.reusePort === true;
  // The bound ports (a listen address may ask for port 0).
  let tcpPort = 0;
  let tlsPort: number | null = null;
  let wsPort: number | null = null;
  let wssPort: number | null = null;
  const socketFile = opts.socketFile ?? null;
  try {
    if (socketFile !== null) {
      const unix = bindSocketFile(socketFile, "--rpc-socket-file", () => listenStream({ unix: socketFile }, "--rpc-socket-file", null, limits, accept, log, false));
      closers.push(() => {
        unix.stop(true);
        removeSocketFile(socketFile);
      });
    } else if (opts.addr !== null) {
      const tcp = listenStream(opts.addr, "--electrum-rpc-addr", null, limits, accept, log, reusePort);
      closers.push(() => tcp.stop(true));
      tcpPort = tcp.port;
    }
    if (opts.tlsAddr) {
      const tls = listenStream(opts.tlsAddr, "--electrum-tls-addr", needTls(opts.tls), limits, accept, log, reusePort);
      closers.push(() => tls.stop(true));
      tlsPort = tls.port;
    }
    if (opts.wsAddr) {
      const ws = listenWebSocket(opts.wsAddr, "--electrum-ws-addr", null, limits, accept, reusePort);
      closers.push(() => void ws.stop(true));
      wsPort = ws.port!;
    }
    if (opts.wssAddr) {
      const wss = listenWebSocket(opts.wssAddr, "--electrum-wss-addr", needTls(opts.tls), limits, accept, reusePort);
      closers.push(() => void wss.stop(true));
      wssPort = wss.port!;
    }
  } catch (err) {
    for (const close of closers) close();
    throw err;
  }
  const addrOf = (addr: SocketAddr | null | undefined, port: number | null): string | null => (addr && port !== null ? formatAddr({ host: addr.host, port }) : null);
  const plain = socketFile !== null ? `unix:${socketFile}` : opts.addr !== null ? addrOf(opts.addr, tcpPort) : null;
  const bound = { tcp: plain, tls: addrOf(opts.tlsAddr, tlsPort), ws: addrOf(opts.wsAddr, wsPort), wss: addrOf(opts.wssAddr, wssPort) };
  // server.features: the TCP port when there is one (a Unix socket has none to announce).
  const host = opts.addr ?? opts.tlsAddr;
  const hosts = config.hosts ?? (host ? { [host.host]: { tcp_port: plain !== null && socketFile === null ? tcpPort : null, ssl_port: tlsPort } } : {});
  const headerMerkle = new HeaderMerkleCache(storeBlockHashes(reader));
  warmHeaderProofs(headerMerkle, reader, log);
  const ctx: ServerContext = {
    query: opts.query,
    maxResponseBytes: limits.maxResponseBytes,
    headerMerkle,
    headerChunks: new HeaderChunkCache(HEADER_CHUNKS_CACHED),
    reader,
    mempool,
    node: opts.node ?? offlineElectrumNode(),
    network: opts.network,
    subs,
    config: { ...config, hosts },
    onBroadcast: opts.onBroadcast ?? (async () => {}),
    log,
  };
  const latency = m.histogram("electrum_rpc", "Electrum RPC latency by method (in seconds)", ["method"]);
  const rpcLog = opts.rpcLogging ? new RpcLog(opts.rpcLogging) : null;
  const budget = limits.globalResponseBudgetBytes > 0 ? new ResponseBudget(limits.globalResponseBudgetBytes) : null;
  const dispatcher = new Dispatcher(ctx, limits, latency, log, opts.tracing ?? NO_TRACING, rpcLog, opts.readGuard ?? null, budget);
  env = { limits, dispatcher, subs, log, scheduler: new TurnScheduler(limits.tickBudgetMs), rpcLog, budget };
  for (const [kind, where] of Object.entries(bound)) {
    if (where) log.info(`Electrum ${kind === "tcp" ? "RPC" : kind.toUpperCase()} server running on ${where}`);
  }
  return {
    port: tcpPort,
    addr: bound.tcp ?? "none",
    listeners: bound,
    ports: { tcp: tcpPort, tls: tlsPort, ws: wsPort, wss: wssPort },
    get clientCount() {
      return live.size;
    },
    notify: (update) => subs.notify(update),
    stop: async () => {
      for (const c of [...live]) c.terminate("server stopping");
      for (const close of closers) close();
    },
  };
}

/** Why a new client (already counted) is over a connection limit, or null. */
function overLimit(limits: ElectrumLimits, clients: number, fromIp: number): string | null {
  if (limits.maxClients > 0 && clients > limits.maxClients) return `server busy: ${limits.maxClients} clients connected, try again later`;
  if (limits.maxClientsPerIp > 0 && fromIp > limits.maxClientsPerIp) return `too many connections from your address: at most ${limits.maxClientsPerIp}`;
  return null;
}

/**
 * The first cp_height proof reads every block hash (~1 s at mainnet heights): done here, at
 * start-up, instead of stalling the first client that asks.
 */
function warmHeaderProofs(merkle: HeaderMerkleCache, reader: StoreReader, log: Logger): void {
  const tip = reader.tip();
  if (!tip) return;
  const t0 = performance.now();
  merkle.proof(0, tip.height);
  log.debug(`header proof cache: ${merkle.cachedSegments} segments up to height ${tip.height} in ${Math.round(performance.now() - t0)} ms`);
}

function needTls(tls: TlsFiles | null | undefined): TlsFiles {
  if (!tls) throw new Error("a TLS listener needs a certificate and a key");
  return tls;
}

interface StreamData {
  conn: Connection;
  wire: StreamWire;
  inbox: LineInbox;
  /** Plain TCP only: a first byte 0x16 is a TLS ClientHello sent to the wrong port. */
  checkFirstByte: boolean;
}

/** TCP, or TLS when `tls` is given: newline-framed JSON-RPC. */
function listenStream(
  addr: SocketAddr | { readonly unix: string },
  flag: string,
  tls: TlsFiles | null,
  limits: ElectrumLimits,
  accept: (wire: StreamWire, inbox: Inbox) => Connection,
  log: Logger,
  reusePort: boolean,
): { readonly port: number; stop(closeActive?: boolean): void } {
  const handlers: Bun.SocketHandler<StreamData | undefined> = {
    open(socket) {
      const wire = new StreamWire(socket as Socket<unknown>);
      const inbox = new LineInbox(limits.maxLineBytes);
      socket.data = { conn: accept(wire, inbox), wire, inbox, checkFirstByte: tls === null };
      socket.timeout(limits.idleTimeoutS);
      // A reply written in parts (connection.ts) ends with a small write: it must not wait for
      // the ACK of the big one before it (Nagle). (A Unix socket has no Nagle.)
      if (!("unix" in addr)) socket.setNoDelay(true);
    },
    data(socket, chunk) {
      const d = socket.data;
      if (!d || chunk.length === 0) return;
      if (d.checkFirstByte) {
        d.checkFirstByte = false;
        if (chunk[0] === TLS_HANDSHAKE) return d.conn.terminate("TLS handshake on the plain TCP port");
      }
      if (d.inbox.push(chunk)) d.conn.onInput();
      else d.conn.onOversize();
    },
    drain(socket) {
      const d = socket.data;
      if (!d) return;
      d.wire.flush();
      d.conn.onDrain();
    },
    close: (socket) => socket.data?.conn.onClose(),
    error(socket, err) {
      log.debug(`electrum client error: ${err.message}`);
      socket.data?.conn.onClose();
    },
    // A TLS handshake that fails (a plain-text client on the TLS port, a bad ClientHello) ends that client only.
    handshake(socket, success, err) {
      if (!success) socket.data?.conn.terminate(`TLS handshake failed: ${err?.message ?? "unknown error"}`);
    },
    timeout: (socket) => socket.data?.conn.terminate("idle timeout"),
  };
  if ("unix" in addr) {
    // (bindSocketFile names the path in the error.)
    const unix = Bun.listen<StreamData | undefined>({ unix: addr.unix, socket: handlers, data: undefined });
    return { port: 0, stop: (closeActive) => unix.stop(closeActive) };
  }
  try {
    return Bun.listen<StreamData | undefined>({
      hostname: addr.host,
      port: addr.port,
      socket: handlers,
      data: undefined,
      // (Bun.listen takes reusePort; its type declarations do not list it yet.)
      ...(reusePort ? { reusePort: true } : {}),
      ...(tls ? { tls: { cert: tls.cert, key: tls.key } } : {}),
    });
  } catch (err) {
    throw listenError(addr, flag, err);
  }
}

interface WsData {
  conn: Connection | null;
  inbox: MessageInbox;
}

/** WebSocket, or WSS when `tls` is given: one JSON message per frame; any path is accepted. */
function listenWebSocket(
  addr: SocketAddr,
  flag: string,
  tls: TlsFiles | null,
  limits: ElectrumLimits,
  accept: (wire: WsWire, inbox: Inbox) => Connection,
  reusePort: boolean,
): Server<WsData> {
  try {
    return Bun.serve<WsData>({
      hostname: addr.host,
      port: addr.port,
      reusePort,
      ...(tls ? { tls: { cert: tls.cert, key: tls.key } } : {}),
      fetch(req, server) {
        if (server.upgrade(req, { data: { conn: null, inbox: new MessageInbox() } })) return undefined;
        return new Response("Electrum JSON-RPC over WebSocket: connect with a WebSocket client\n", { status: 426, headers: { upgrade: "websocket" } });
      },
      websocket: {
        // A frame over the request limit closes that client (1009, message too big).
        maxPayloadLength: limits.maxLineBytes,
        idleTimeout: Math.min(limits.idleTimeoutS, 960),
        // Connection applies maxSendBuffer itself; Bun must not drop frames on its own.
        backpressureLimit: limits.maxSendBuffer * 2,
        closeOnBackpressureLimit: false,
        perMessageDeflate: false,
        sendPings: true,
        open(ws) {
          ws.data.conn = accept(new WsWire(ws as import("bun").ServerWebSocket<unknown>), ws.data.inbox);
        },
        message(ws, message) {
          ws.data.inbox.push(typeof message === "string" ? message : Buffer.from(message).toString("utf8"));
          ws.data.conn?.onInput();
        },
        drain: (ws) => ws.data.conn?.onDrain(),
        close: (ws) => ws.data.conn?.onClose(),
      },
    });
  } catch (err) {
    throw listenError(addr, flag, err);
  }
}
