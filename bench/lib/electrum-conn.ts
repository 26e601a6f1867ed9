/**
 * A lean Electrum (newline-delimited JSON-RPC over TCP) client for benchmarks: many of them live
 * in one process, so it does as little as it can per line.
 *
 * - Replies are matched to requests by id and carry the raw line (a Buffer) and the moment its last
 *   byte arrived (`receivedMs`, performance.now()); the JSON is parsed only when asked for
 *   (`parse()`). A multi-MB get_history answer is then timed by its arrival, not by our parse.
 * - The id is read from the head of the line when it starts like electrs-bun's replies
 *   (`{"jsonrpc":"2.0","id":N,`); any other shape is parsed in full.
 * - Notifications (a `method` and no id) go to `onNotification`, parsed, with their arrival time.
 * - A line is assembled from its chunks once, when its newline arrives (no quadratic concat).
 */
import type { Socket } from "bun";

export interface RpcErrorBody {
  code: number;
  message: string;
}

export interface Reply {
  id: number;
  /** The reply line without its newline. */
  line: Buffer;
  /** performance.now() when the request was written. */
  sentMs: number;
  /** performance.now() when the reply's newline arrived. */
  receivedMs: number;
  /** Parses the line: `result` or `error`. */
  parse(): { result?: unknown; error?: RpcErrorBody };
  /** Whether the line is an error reply (cheap: small lines are parsed, long ones are results). */
  isError(): boolean;
}

export interface Notification {
  method: string;
  params: unknown[];
  receivedMs: number;
  bytes: number;
}

export interface ConnOptions {
  host: string;
  port: number;
  onNotification?: (n: Notification) => void;
  /** Called once when the server closes the connection or it fails (not after close()). */
  onLost?: (why: string) => void;
}

const NEWLINE = 0x0a;
/** `{"jsonrpc":"2.0","id":` as electrs-bun writes every reply. */
const REPLY_HEAD = Buffer.from('{"jsonrpc":"2.0","id":');
/** Error replies are short; a line longer than this that starts like a reply is a result. */
const SMALL_LINE = 4096;

export class RpcCallError extends Error {
  constructor(
    readonly method: string,
    readonly body: RpcErrorBody,
  ) {
    super(`${method}: error ${body.code} ${body.message}`);
  }
}

export class ElectrumConn {
  private socket!: Socket<ElectrumConn>;
  private nextId = 1;
  private readonly pending = new Map<number, { method: string; sentMs: number; resolve: (r: Reply) => void; reject: (e: Error) => void }>();
  private parts: Buffer[] = [];
  private outQueue: Buffer[] = [];
  private lostWhy: string | null = null;
  private closedByUs = false;

  private constructor(private readonly opts: ConnOptions) {}

  /** Connects; rejects when the connection is refused or not made within `timeoutMs`. */
  static async open(opts: ConnOptions, timeoutMs = 30_000): Promise<ElectrumConn> {
    const conn = new ElectrumConn(opts);
    const connect = Bun.connect<ElectrumConn>({
      hostname: opts.host,
      port: opts.port,
      data: conn,
      socket: {
        data: (s, chunk) => s.data.onData(chunk),
        drain: (s) => s.data.onDrain(),
        close: (s) => s.data.onLost("closed by the server"),
        error: (s, err) => s.data.onLost(`socket error: ${err.message}`),
        end: (s) => s.data.onLost("ended by the server"),
      },
    });
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`connect to ${opts.host}:${opts.port}: no connection within ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      conn.socket = await Promise.race([connect, timeout]);
    } finally {
      clearTimeout(timer);
    }
    return conn;
  }

  get lost(): string | null {
    return this.lostWhy;
  }

  get inFlight(): number {
    return this.pending.size;
  }

  /** Sends one request; the reply (result or error) resolves the promise, a lost connection rejects it. */
  request(method: string, params: unknown[] = []): Promise<Reply> {
    if (this.lostWhy) return Promise.reject(new Error(`${method}: connection lost (${this.lostWhy})`));
    const id = this.nextId++;
    return new Promise<Reply>((resolve, reject) => {
      const sentMs = performance.now();
      this.pending.set(id, { method, sentMs, resolve, reject });
      this.write(Buffer.from(JSON.stringify({ jsonrpc: "2.0", id, method, params }) + "\n"));
    });
  }

  /** A request whose error reply is thrown (RpcCallError); returns the parsed result. */
  async call<T>(method: string, params: unknown[] = []): Promise<T> {
    const reply = await this.request(method, params);
    const body = reply.parse();
    if (body.error) throw new RpcCallError(method, body.error);
    return body.result as T;
  }

  close(): void {
    if (this.closedByUs) return;
    this.closedByUs = true;
    this.socket.end();
    this.failPending("closed by the client");
  }

  // ---- socket events ----

  private write(buf: Buffer): void {
    if (this.outQueue.length > 0) {
      this.outQueue.push(buf);
      return;
    }
    const n = this.socket.write(buf);
    if (n < buf.length) this.outQueue.push(buf.subarray(Math.max(0, n)));
  }

  private onDrain(): void {
    while (this.outQueue.length > 0) {
      const head = this.outQueue[0]!;
      const n = this.socket.write(head);
      if (n >= head.length) {
        this.outQueue.shift();
      } else {
        if (n > 0) this.outQueue[0] = head.subarray(n);
        return;
      }
    }
  }

  private onData(chunk: Buffer): void {
    const now = performance.now();
    let start = 0;
    for (let nl = chunk.indexOf(NEWLINE, start); nl >= 0; nl = chunk.indexOf(NEWLINE, start)) {
      const piece = chunk.subarray(start, nl);
      let line: Buffer;
      if (this.parts.length === 0) {
        // The chunk's buffer is reused by Bun after this callback: keep a copy.
        line = Buffer.from(piece);
      } else {
        this.parts.push(piece);
        line = Buffer.concat(this.parts);
        this.parts = [];
      }
      this.onLine(line, now);
      start = nl + 1;
    }
    if (start < chunk.length) this.parts.push(Buffer.from(chunk.subarray(start)));
  }

  private onLine(line: Buffer, receivedMs: number): void {
    const id = replyId(line);
    if (id !== null) return this.settle(id, line, receivedMs);
    let msg: { id?: unknown; method?: unknown; params?: unknown };
    try {
      msg = JSON.parse(line.toString("utf8")) as typeof msg;
    } catch {
      return this.onLost(`unparsable line from the server: ${line.subarray(0, 200).toString("utf8")}`);
    }
    if (typeof msg.id === "number") return this.settle(msg.id, line, receivedMs);
    if (typeof msg.method === "string" && msg.id === undefined) {
      this.opts.onNotification?.({ method: msg.method, params: Array.isArray(msg.params) ? msg.params : [], receivedMs, bytes: line.length + 1 });
      return;
    }
    this.onLost(`unexpected line from the server: ${line.subarray(0, 200).toString("utf8")}`);
  }

  private settle(id: number, line: Buffer, receivedMs: number): void {
    const p = this.pending.get(id);
    if (!p) return this.onLost(`reply to an unknown id ${id}`);
    this.pending.delete(id);
    p.resolve(makeReply(id, line, p.sentMs, receivedMs));
  }

  private onLost(why: string): void {
    if (this.lostWhy || this.closedByUs) return;
    this.lostWhy = why;
    this.failPending(why);
    this.opts.onLost?.(why);
  }

  private failPending(why: string): void {
    for (const [, p] of this.pending) p.reject(new Error(`${p.method}: connection lost (${why})`));
    this.pending.clear();
  }
}

/** The id of an electrs-bun-shaped reply line, or null (then the line is parsed in full). */
function replyId(line: Buffer): number | null {
  if (line.length < REPLY_HEAD.length + 2 || line.compare(REPLY_HEAD, 0, REPLY_HEAD.length, 0, REPLY_HEAD.length) !== 0) return null;
  let id = 0;
  let i = REPLY_HEAD.length;
  for (; i < line.length && i < REPLY_HEAD.length + 16; i++) {
    const c = line[i]!;
    if (c < 0x30 || c > 0x39) break;
    id = id * 10 + (c - 0x30);
  }
  return i > REPLY_HEAD.length && line[i] === 0x2c /* , */ ? id : null;
}

function makeReply(id: number, line: Buffer, sentMs: number, receivedMs: number): Reply {
  let parsed: { result?: unknown; error?: RpcErrorBody } | undefined;
  const parse = () => (parsed ??= JSON.parse(line.toString("utf8")) as { result?: unknown; error?: RpcErrorBody });
  return {
    id,
    line,
    sentMs,
    receivedMs,
    parse,
    isError: () => line.length <= SMALL_LINE && parse().error !== undefined,
  };
}

/** Resolves when `pred` holds (checked every `everyMs`), or with false after `timeoutMs`. */
export async function waitUntil(pred: () => boolean, timeoutMs: number, everyMs = 5): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  while (!pred()) {
    if (performance.now() > deadline) return false;
    await Bun.sleep(everyMs);
  }
  return true;
}
