/**
 * bitcoind `-zmqpubhashblock` subscriber (electrs' `--zmq-addr`), speaking ZMTP 3.0 (RFC 23/ZMTP)
 * directly over TCP. The `zeromq` npm binding aborts the process under Bun, and a SUB socket with
 * the NULL mechanism is a small protocol, so we implement just that much:
 *
 *   greeting (64 bytes) → READY command (Socket-Type=SUB) → subscription message `0x01 hashblock`
 *   ← greeting, READY (Socket-Type=PUB), then multipart messages [topic, body, 4-byte LE sequence].
 *
 * A notification only wakes the main loop early (electrs §8: the loop polls every 5 s anyway), so
 * nothing here is allowed to throw into the caller or crash the process: any protocol violation is
 * logged, the connection is dropped and re-established with exponential backoff.
 */
import { ConfigError } from "../errors.ts";
import type { Logger } from "../log.ts";
import { describeError } from "../log.ts";
import { bytesEqual, bytesToHex, concatBytes } from "../bitcoin/bytes.ts";

// ---------------------------------------------------------------------------------------------
// Wire format (RFC 23)
// ---------------------------------------------------------------------------------------------

export const FLAG_MORE = 0x01;
export const FLAG_LONG = 0x02;
export const FLAG_COMMAND = 0x04;
const RESERVED_FLAGS = 0xf8;

export const GREETING_SIZE = 64;
/** A frame larger than this is treated as a protocol error: a hashblock message is ~50 bytes. */
export const DEFAULT_MAX_FRAME_BYTES = 16 * 1024 * 1024;

const enc = new TextEncoder();
const dec = new TextDecoder();

export class ZmtpProtocolError extends Error {
  override name = "ZmtpProtocolError";
}

export interface ZmtpGreeting {
  major: number;
  minor: number;
  /** Mechanism name with the NUL padding stripped, e.g. "NULL" or "CURVE". */
  mechanism: string;
  asServer: boolean;
}

export interface ZmtpFrame {
  more: boolean;
  command: boolean;
  body: Uint8Array;
}

export type ZmtpEvent = { type: "greeting"; greeting: ZmtpGreeting } | { type: "frame"; frame: ZmtpFrame };

const enum Stage {
  Greeting,
  Flags,
  Size,
  Body,
  Failed,
}

/**
 * Incremental ZMTP 3.x decoder: accepts TCP chunks of any size (a frame split anywhere, many frames
 * in one chunk) and emits events in order as soon as each is complete. Memory is bounded by the
 * current frame, whose size is checked against `maxFrameBytes` before anything is allocated.
 */
export class ZmtpDecoder {
  private stage: Stage;
  private readonly greeting = new Uint8Array(GREETING_SIZE);
  private greetingLen = 0;
  private flags = 0;
  private readonly sizeBuf = new Uint8Array(8);
  private sizeLen = 0;
  private sizeNeed = 0;
  private body = new Uint8Array(0);
  private bodyLen = 0;
  private failure: ZmtpProtocolError | null = null;

  constructor(
    private readonly maxFrameBytes = DEFAULT_MAX_FRAME_BYTES,
    /** false to decode a bare frame stream (tests, benchmarks). */
    expectGreeting = true,
  ) {
    this.stage = expectGreeting ? Stage.Greeting : Stage.Flags;
  }

  /**
   * Feed one chunk; `emit` is called for each complete greeting/frame. Throws ZmtpProtocolError on
   * malformed input (events decoded before the bad byte have already been emitted); once failed,
   * every later call throws the same error. An exception thrown by `emit` propagates unchanged.
   */
  push(chunk: Uint8Array, emit: (ev: ZmtpEvent) => void): void {
    if (this.failure) throw this.failure;
    try {
      this.decode(chunk, emit);
    } catch (err) {
      if (err instanceof ZmtpProtocolError) {
        this.failure = err;
        this.stage = Stage.Failed;
      }
      throw err;
    }
  }

  private decode(chunk: Uint8Array, emit: (ev: ZmtpEvent) => void): void {
    const n = chunk.length;
    let i = 0;
    while (i < n) {
      switch (this.stage) {
        case Stage.Greeting: {
          const take = Math.min(GREETING_SIZE - this.greetingLen, n - i);
          this.greeting.set(chunk.subarray(i, i + take), this.greetingLen);
          // Check the fixed bytes as soon as they arrive, so talking to something that is not a
          // ZMTP 3 peer (an HTTP server, an old libzmq) fails at once instead of after 64 bytes.
          for (let k = this.greetingLen; k < this.greetingLen + take; k++) checkGreetingByte(k, this.greeting[k]!);
          this.greetingLen += take;
          i += take;
          if (this.greetingLen === GREETING_SIZE) {
            this.stage = Stage.Flags;
            emit({ type: "greeting", greeting: parseGreeting(this.greeting) });
          }
          break;
        }
        case Stage.Flags: {
          const flags = chunk[i++]!;
          if (flags & RESERVED_FLAGS) throw new ZmtpProtocolError(`reserved frame flag bits set: 0x${flags.toString(16)}`);
          if (flags & FLAG_COMMAND && flags & FLAG_MORE) throw new ZmtpProtocolError("command frame with MORE flag");
          this.flags = flags;
          this.sizeNeed = flags & FLAG_LONG ? 8 : 1;
          this.sizeLen = 0;
          this.stage = Stage.Size;
          break;
        }
        case Stage.Size: {
          const take = Math.min(this.sizeNeed - this.sizeLen, n - i);
          this.sizeBuf.set(chunk.subarray(i, i + take), this.sizeLen);
          this.sizeLen += take;
          i += take;
          if (this.sizeLen < this.sizeNeed) break;
          let size: number;
          if (this.sizeNeed === 1) {
            size = this.sizeBuf[0]!;
          } else {
            const view = new DataView(this.sizeBuf.buffer);
            const hi = view.getUint32(0);
            size = view.getUint32(4);
            if (hi !== 0) size = Number.POSITIVE_INFINITY;
          }
          if (size > this.maxFrameBytes) {
            throw new ZmtpProtocolError(`frame of ${size} bytes exceeds the ${this.maxFrameBytes}-byte limit`);
          }
          this.body = new Uint8Array(size);
          this.bodyLen = 0;
          this.stage = Stage.Body;
          if (size === 0) this.finishFrame(emit);
          break;
        }
        case Stage.Body: {
          const take = Math.min(this.body.length - this.bodyLen, n - i);
          this.body.set(chunk.subarray(i, i + take), this.bodyLen);
          this.bodyLen += take;
          i += take;
          if (this.bodyLen === this.body.length) this.finishFrame(emit);
          break;
        }
        case Stage.Failed:
          throw this.failure ?? new ZmtpProtocolError("decoder failed");
      }
    }
  }

  private finishFrame(emit: (ev: ZmtpEvent) => void): void {
    const frame: ZmtpFrame = {
      more: (this.flags & FLAG_MORE) !== 0,
      command: (this.flags & FLAG_COMMAND) !== 0,
      body: this.body,
    };
    this.body = new Uint8Array(0);
    this.stage = Stage.Flags;
    emit({ type: "frame", frame });
  }
}

function checkGreetingByte(index: number, byte: number): void {
  if (index === 0 && byte !== 0xff) throw new ZmtpProtocolError(`bad ZMTP signature (first byte 0x${hex2(byte)})`);
  if (index === 9 && byte !== 0x7f) throw new ZmtpProtocolError(`bad ZMTP signature (byte 9 is 0x${hex2(byte)})`);
  // ZMTP 1.0/2.0 peers (libzmq < 4) frame differently; we only speak 3.x.
  if (index === 10 && byte < 3) throw new ZmtpProtocolError(`unsupported ZMTP version ${byte}.x`);
}

const hex2 = (b: number) => b.toString(16).padStart(2, "0");

function parseGreeting(g: Uint8Array): ZmtpGreeting {
  let end = 12;
  while (end < 32 && g[end] !== 0) end++;
  return { major: g[10]!, minor: g[11]!, mechanism: dec.decode(g.subarray(12, end)), asServer: g[32] === 1 };
}

/** Our greeting: signature, version 3.0, mechanism "NULL", as-server 0, zero filler. */
export function encodeGreeting(asServer = false): Uint8Array {
  const g = new Uint8Array(GREETING_SIZE);
  g[0] = 0xff;
  g[9] = 0x7f;
  g[10] = 3;
  g[11] = 0;
  g.set(enc.encode("NULL"), 12);
  g[32] = asServer ? 1 : 0;
  return g;
}

/** One frame, short or LONG as the size requires. */
export function encodeFrame(body: Uint8Array, flags = 0): Uint8Array {
  if (body.length <= 255) {
    const out = new Uint8Array(2 + body.length);
    out[0] = flags & ~FLAG_LONG;
    out[1] = body.length;
    out.set(body, 2);
    return out;
  }
  const out = new Uint8Array(9 + body.length);
  out[0] = flags | FLAG_LONG;
  new DataView(out.buffer).setBigUint64(1, BigInt(body.length));
  out.set(body, 9);
  return out;
}

/** A command frame: name-size, name, data. */
export function encodeCommand(name: string, data: Uint8Array = new Uint8Array(0)): Uint8Array {
  const nameBytes = enc.encode(name);
  const body = new Uint8Array(1 + nameBytes.length + data.length);
  body[0] = nameBytes.length;
  body.set(nameBytes, 1);
  body.set(data, 1 + nameBytes.length);
  return encodeFrame(body, FLAG_COMMAND);
}

/** READY with metadata properties (name-size, name, 4-byte BE value-size, value). */
export function encodeReady(properties: Record<string, string>): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const [name, value] of Object.entries(properties)) {
    const n = enc.encode(name);
    const v = enc.encode(value);
    const p = new Uint8Array(1 + n.length + 4 + v.length);
    p[0] = n.length;
    p.set(n, 1);
    new DataView(p.buffer).setUint32(1 + n.length, v.length);
    p.set(v, 5 + n.length);
    parts.push(p);
  }
  return encodeCommand("READY", concatBytes(...parts));
}

/** A multipart message: MORE on every frame but the last. */
export function encodeMessage(parts: Uint8Array[]): Uint8Array {
  return concatBytes(...parts.map((p, i) => encodeFrame(p, i < parts.length - 1 ? FLAG_MORE : 0)));
}

export function parseCommand(body: Uint8Array): { name: string; data: Uint8Array } {
  if (body.length < 1 || body.length < 1 + body[0]!) throw new ZmtpProtocolError("truncated command name");
  const len = body[0]!;
  return { name: dec.decode(body.subarray(1, 1 + len)), data: body.subarray(1 + len) };
}

/** READY metadata; names are case-insensitive (RFC 23), so keys are lower-cased. */
export function parseMetadata(data: Uint8Array): Map<string, string> {
  const out = new Map<string, string>();
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  let i = 0;
  while (i < data.length) {
    const nameLen = data[i]!;
    if (i + 1 + nameLen + 4 > data.length) throw new ZmtpProtocolError("truncated metadata property name");
    const name = dec.decode(data.subarray(i + 1, i + 1 + nameLen)).toLowerCase();
    i += 1 + nameLen;
    const valueLen = view.getUint32(i);
    i += 4;
    if (i + valueLen > data.length) throw new ZmtpProtocolError("truncated metadata property value");
    out.set(name, dec.decode(data.subarray(i, i + valueLen)));
    i += valueLen;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Transport
// ---------------------------------------------------------------------------------------------

export interface ZmqTransportHandlers {
  /** The TCP connection is up; writes made before this are queued by the transport. */
  open(): void;
  data(chunk: Uint8Array): void;
  /** Exactly once per transport: connect failure, peer close, or after `close()`. */
  closed(err?: Error): void;
}

export interface ZmqTransport {
  write(data: Uint8Array): void;
  close(): void;
}

/**
 * Opens a byte stream to host:port. Injectable so tests can script the peer byte by byte.
 * Handlers must not be called before `connect` returns (the subscriber needs the transport to
 * answer), and `closed` must follow `close()` promptly.
 */
export type ZmqConnect = (host: string, port: number, handlers: ZmqTransportHandlers) => ZmqTransport;

/** TCP keepalive so a vanished bitcoind host (no FIN, no RST) is noticed: PUB never sends heartbeats. */
const KEEPALIVE_MS = 60_000;

export const bunConnect: ZmqConnect = (host, port, handlers) => {
  let sock: import("bun").Socket<undefined> | null = null;
  let closing = false;
  let finished = false;
  const queue: Uint8Array[] = [];
  // Bun calls `close` synchronously from inside `end()`; deferring keeps the caller's stack
  // (possibly mid-decode) from re-entering the reconnect logic.
  const finish = (err?: Error) => {
    if (finished) return;
    finished = true;
    queueMicrotask(() => handlers.closed(err));
  };
  const flush = () => {
    // Socket.write may take only part of the buffer under backpressure; the rest waits for `drain`.
    while (sock && queue.length > 0) {
      const buf = queue[0]!;
      const n = sock.write(buf);
      if (n < 0) return;
      if (n < buf.length) {
        queue[0] = buf.subarray(n);
        return;
      }
      queue.shift();
    }
  };
  Bun.connect({
    hostname: host,
    port,
    socket: {
      open(s) {
        if (closing) {
          s.terminate();
          return;
        }
        sock = s;
        s.setKeepAlive(true, KEEPALIVE_MS);
        s.setNoDelay(true);
        handlers.open();
        flush();
      },
      data(_s, chunk) {
        if (!closing) handlers.data(chunk);
      },
      drain() {
        flush();
      },
      close(_s, err) {
        finish(err);
      },
      connectError(_s, err) {
        finish(err);
      },
    },
  }).catch((err: unknown) => {
    // Already reported through connectError; this only keeps the rejection from going unhandled.
    finish(err instanceof Error ? err : new Error(String(err)));
  });
  return {
    write(data) {
      if (closing) return;
      queue.push(data);
      flush();
    },
    close() {
      if (closing) return;
      closing = true;
      if (sock) {
        sock.end();
      } else {
        // Still connecting (possibly to a black hole that takes minutes to time out): report the
        // close now; the open handler terminates the socket if the connect succeeds later.
        finish();
      }
    },
  };
};

// ---------------------------------------------------------------------------------------------
// Address
// ---------------------------------------------------------------------------------------------

/** electrs' `--zmq-addr` is `host:port`; `tcp://host:port` and `[v6]:port` are accepted too. */
export function parseZmqAddr(addr: string): { host: string; port: number } {
  let rest = addr.trim();
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(rest);
  if (scheme) {
    if (scheme[1]!.toLowerCase() !== "tcp") throw new ConfigError(`--zmq-addr: only tcp is supported, got ${addr}`);
    rest = rest.slice(scheme[0].length);
  }
  let host: string;
  let portStr: string;
  const v6 = /^\[([^\]]+)\]:(\d+)$/.exec(rest);
  if (v6) {
    host = v6[1]!;
    portStr = v6[2]!;
  } else {
    const colon = rest.lastIndexOf(":");
    host = rest.slice(0, colon);
    portStr = rest.slice(colon + 1);
    if (colon <= 0 || host.includes(":")) throw new ConfigError(`--zmq-addr: expected host:port, got ${addr}`);
  }
  const port = /^\d+$/.test(portStr) ? Number(portStr) : NaN;
  if (!(port >= 1 && port <= 65535)) throw new ConfigError(`--zmq-addr: bad port in ${addr}`);
  return { host, port };
}

// ---------------------------------------------------------------------------------------------
// hashblock subscriber
// ---------------------------------------------------------------------------------------------

const TOPIC = "hashblock";
const TOPIC_BYTES = enc.encode(TOPIC);
const SUBSCRIBE = encodeFrame(concatBytes(Uint8Array.of(0x01), TOPIC_BYTES));
const READY = encodeReady({ "Socket-Type": "SUB" });
const PUBLISHER_TYPES = new Set(["PUB", "XPUB"]);

export interface HashblockSubscriberOptions {
  /** `host:port` (or `tcp://host:port`) of bitcoind's `-zmqpubhashblock`. Invalid → ConfigError. */
  addr: string;
  log: Logger;
  /** Called with the block hash in display (RPC) hex. Exceptions are logged, never propagated. */
  onBlockHash: (hashHex: string) => void;
  connect?: ZmqConnect;
  /** First reconnect delay; doubles per failed attempt up to `retryMaxMs`. */
  retryMinMs?: number;
  retryMaxMs?: number;
  /** From starting the TCP connect to the peer's READY; a silent or stuck peer is retried. */
  handshakeTimeoutMs?: number;
  maxFrameBytes?: number;
}

export interface HashblockSubscription {
  /** Resolves on the first completed handshake; rejects if closed before that ever happens. */
  connected: Promise<void>;
  /** Stops reconnecting and closes the connection; resolves once the socket is closed. */
  close(): Promise<void>;
}

interface Conn {
  transport: ZmqTransport | null;
  decoder: ZmtpDecoder;
  state: "greeting" | "ready" | "live";
  /** Set once we decided to drop it (and logged why); later events are ignored. */
  dropped: boolean;
  liveSince: number;
  handshakeTimer: ReturnType<typeof setTimeout> | null;
  /** Frames of the message being assembled; null while skipping a message of another topic. */
  parts: Uint8Array[] | null;
  lastSeq: number | null;
}

/**
 * Subscribe to `hashblock` and keep the subscription up until `close()`: reconnects with
 * exponential backoff when bitcoind is not up yet, goes away, or sends something malformed.
 * Logs one WARN per outage and an INFO whenever the subscription is (re-)established.
 */
export function subscribeHashblock(opts: HashblockSubscriberOptions): HashblockSubscription {
  const { host, port } = parseZmqAddr(opts.addr);
  const where = host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
  const log = opts.log;
  const connect = opts.connect ?? bunConnect;
  const retryMinMs = opts.retryMinMs ?? 100;
  const retryMaxMs = Math.max(retryMinMs, opts.retryMaxMs ?? 5_000);
  const handshakeTimeoutMs = opts.handshakeTimeoutMs ?? 10_000;
  const maxFrameBytes = opts.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;

  let closing = false;
  let attempt = 0;
  let outage = false;
  let current: Conn | null = null;
  let retryTimer: ReturnType<typeof setTimeout> | null = null;
  let closeDone: Promise<void> | null = null;
  let resolveCloseDone = () => {};

  let connectedSettled = false;
  let resolveConnected = () => {};
  let rejectConnected = (_err: Error) => {};
  const connected = new Promise<void>((resolve, reject) => {
    resolveConnected = resolve;
    rejectConnected = reject;
  });
  // A caller that never awaits `connected` must not get an unhandled rejection on close().
  connected.catch(() => {});

  /** First failure of an outage is a WARN; the retries that follow are DEBUG. */
  const reportFailure = (reason: string) => {
    if (outage) {
      log.debug(`${reason}; retrying`);
    } else {
      outage = true;
      log.warn(`${reason}; will keep retrying`);
    }
  };

  const start = () => {
    retryTimer = null;
    if (closing) return;
    const conn: Conn = {
      transport: null,
      decoder: new ZmtpDecoder(maxFrameBytes),
      state: "greeting",
      dropped: false,
      liveSince: 0,
      handshakeTimer: null,
      parts: [],
      lastSeq: null,
    };
    current = conn;
    conn.handshakeTimer = setTimeout(() => drop(conn, `zmq handshake with ${where} timed out`), handshakeTimeoutMs);
    log.debug(`connecting to zmq publisher at ${where}`);
    try {
      conn.transport = connect(host, port, {
        open: () => {
          // Our whole greeting at once: RFC 23 allows it, and libzmq reads it in stages anyway.
          if (!conn.dropped) conn.transport?.write(encodeGreeting());
        },
        data: (chunk) => onData(conn, chunk),
        closed: (err) => onClosed(conn, err),
      });
    } catch (err) {
      // An injected connect that throws is treated like a refused connection.
      queueMicrotask(() => onClosed(conn, err instanceof Error ? err : new Error(String(err))));
    }
  };

  const drop = (conn: Conn, reason: string) => {
    if (conn.dropped) return;
    conn.dropped = true;
    if (conn.handshakeTimer) clearTimeout(conn.handshakeTimer);
    reportFailure(reason);
    conn.transport?.close();
  };

  const onClosed = (conn: Conn, err?: Error) => {
    if (conn.handshakeTimer) clearTimeout(conn.handshakeTimer);
    if (conn !== current) return;
    current = null;
    if (closing) {
      resolveCloseDone();
      return;
    }
    if (!conn.dropped) {
      conn.dropped = true;
      const why = err ? `: ${describeSocketError(err)}` : "";
      reportFailure(
        conn.state === "live"
          ? `zmq connection to ${where} lost${why}`
          : `cannot subscribe to zmq publisher at ${where}${why || ": connection closed during handshake"}`,
      );
    }
    // Back off from scratch only after a connection that stayed up; one that keeps flapping
    // (accepts, then fails) backs off like a refused one instead of reconnecting in a hot loop.
    if (conn.state === "live" && Date.now() - conn.liveSince >= retryMaxMs) attempt = 0;
    const delay = Math.min(retryMaxMs, retryMinMs * 2 ** Math.min(attempt, 30));
    attempt++;
    retryTimer = setTimeout(start, delay);
  };

  const onData = (conn: Conn, chunk: Uint8Array) => {
    if (conn.dropped || conn !== current) return;
    try {
      conn.decoder.push(chunk, (ev) => {
        if (!conn.dropped) onEvent(conn, ev);
      });
    } catch (err) {
      drop(conn, `zmq protocol error from ${where}: ${describeError(err)}`);
    }
  };

  const onEvent = (conn: Conn, ev: ZmtpEvent) => {
    if (ev.type === "greeting") {
      const g = ev.greeting;
      if (g.mechanism !== "NULL") throw new ZmtpProtocolError(`publisher wants security mechanism ${g.mechanism}, only NULL is supported`);
      conn.transport?.write(READY);
      conn.state = "ready";
      return;
    }
    const frame = ev.frame;
    if (conn.state === "ready") {
      if (!frame.command) throw new ZmtpProtocolError("message frame before READY");
      const cmd = parseCommand(frame.body);
      if (cmd.name === "ERROR") {
        const len = cmd.data[0] ?? 0;
        throw new ZmtpProtocolError(`publisher refused the handshake: ${dec.decode(cmd.data.subarray(1, 1 + len))}`);
      }
      if (cmd.name !== "READY") throw new ZmtpProtocolError(`expected READY, got ${cmd.name}`);
      const type = parseMetadata(cmd.data).get("socket-type");
      if (type === undefined || !PUBLISHER_TYPES.has(type)) {
        throw new ZmtpProtocolError(`peer socket type is ${type ?? "missing"}, not PUB`);
      }
      conn.transport?.write(SUBSCRIBE);
      conn.state = "live";
      conn.liveSince = Date.now();
      if (conn.handshakeTimer) clearTimeout(conn.handshakeTimer);
      conn.handshakeTimer = null;
      outage = false;
      log.info(`subscribed to hashblock notifications from zmq publisher at ${where}`);
      if (!connectedSettled) {
        connectedSettled = true;
        resolveConnected();
      }
      return;
    }
    if (frame.command) {
      onCommand(conn, frame.body);
      return;
    }
    onMessageFrame(conn, frame);
  };

  const onCommand = (conn: Conn, body: Uint8Array) => {
    const cmd = parseCommand(body);
    if (cmd.name === "PING") {
      // ZMTP 3.1 heartbeat: answer with its context (up to 16 bytes after the 2-byte TTL) so a
      // publisher configured with a heartbeat timeout keeps us.
      conn.transport?.write(encodeCommand("PONG", cmd.data.subarray(2, 18)));
      return;
    }
    log.trace(`ignoring zmq command ${cmd.name}`);
  };

  const onMessageFrame = (conn: Conn, frame: ZmtpFrame) => {
    if (conn.parts !== null) {
      if (conn.parts.length === 0 && !bytesEqual(frame.body, TOPIC_BYTES)) {
        // PUB filters by prefix, so e.g. "hashblockfoo" would reach us; only the exact topic counts.
        // Frames of other topics are not kept: skipping costs no memory beyond the frame itself.
        conn.parts = null;
      } else {
        conn.parts.push(frame.body);
        if (conn.parts.length > 3) throw new ZmtpProtocolError(`malformed hashblock message: more than 3 parts`);
      }
    }
    if (frame.more) return;
    const parts = conn.parts;
    conn.parts = [];
    if (parts !== null) onHashblock(conn, parts);
  };

  const onHashblock = (conn: Conn, parts: Uint8Array[]) => {
    // Core sends [topic, hash, seq]; Core before 0.13 had no sequence part, so 2 parts are fine.
    const body = parts[1];
    if (body === undefined || body.length !== 32) {
      throw new ZmtpProtocolError(`malformed hashblock message: body of ${body?.length ?? 0} bytes, expected 32`);
    }
    const seqPart = parts[2];
    if (seqPart !== undefined) {
      if (seqPart.length !== 4) throw new ZmtpProtocolError(`malformed hashblock message: ${seqPart.length}-byte sequence`);
      const seq = new DataView(seqPart.buffer, seqPart.byteOffset, 4).getUint32(0, true);
      if (conn.lastSeq !== null && seq !== ((conn.lastSeq + 1) >>> 0)) {
        // The publisher's send queue overflowed or it restarted; the main loop's poll catches up.
        log.debug(`hashblock sequence jumped from ${conn.lastSeq} to ${seq}`);
      }
      conn.lastSeq = seq;
    }
    // Byte order: Core's CZMQPublishHashBlockNotifier copies the uint256 in reverse
    // (data[31 - i] = hash.begin()[i]), so the body is already in display order and
    // hex(body) == `getbestblockhash`. electrs reverses it back to get its internal BlockHash;
    // we hand out display hex, which is therefore the body's natural-order hex.
    const hashHex = bytesToHex(body);
    log.trace(`zmq hashblock ${hashHex}`);
    try {
      opts.onBlockHash(hashHex);
    } catch (err) {
      log.error(`hashblock handler failed: ${describeError(err)}`);
    }
  };

  start();

  return {
    connected,
    close() {
      if (closeDone) return closeDone;
      closing = true;
      if (retryTimer) clearTimeout(retryTimer);
      retryTimer = null;
      if (!connectedSettled) {
        connectedSettled = true;
        rejectConnected(new Error(`zmq subscription to ${where} closed before it connected`));
      }
      const conn = current;
      if (conn === null) {
        closeDone = Promise.resolve();
      } else {
        closeDone = new Promise<void>((resolve) => (resolveCloseDone = resolve));
        conn.dropped = true;
        if (conn.handshakeTimer) clearTimeout(conn.handshakeTimer);
        conn.transport?.close();
      }
      return closeDone;
    },
  };
}

/** Bun's connect errors say only "Failed to connect"; the errno code is what tells why. */
function describeSocketError(err: Error): string {
  const code = (err as { code?: unknown }).code;
  const msg = describeError(err);
  return typeof code === "string" && !msg.includes(code) ? `${msg} (${code})` : msg;
}
