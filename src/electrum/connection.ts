/**
 * One Electrum client, whatever carries it (peers-and-protocol.md §1.2): a Connection answers the
 * client's messages one at a time in the order they arrived (pipelining) and keeps memory bounded;
 * a Wire is the transport under it. TCP and TLS are byte streams framed by "\n" (StreamWire with
 * LineInbox); WebSocket carries one JSON message per frame, without a newline (WsWire).
 *
 * Bounds, for every transport (what a client that does not read can cost):
 * - while more than `sendHighWater` bytes wait to be written, no further request is answered (so
 *   unsent answers stay under `sendHighWater` plus the one answer being sent);
 * - requests received but not yet answered: over `readPauseBytes` a stream stops reading (TCP
 *   backpressure reaches the client through the kernel); over `maxQueuedRequestBytes` the client is
 *   dropped (a WebSocket cannot stop reading);
 * - a client that, while answers wait, takes fewer than `stallMinBytes` of them in `stallTimeoutMs`
 *   is dropped, and so is one that lets more than `maxSendBuffer` bytes pile up (notifications it
 *   does not read);
 * - with `maxAgeMs`, a connection is closed after about that long (its answers written first).
 *
 * A paused socket may not report that its peer closed (it reads nothing, so it sees no EOF): while
 * paused, reading is resumed every `watchIntervalMs` for a moment, which lets the close through.
 *
 * Fairness: the queue is worked off in slices of at most `turnMaxRequests` requests or
 * `turnBudgetMs` of work, each granted by the server's TurnScheduler (scheduler.ts), which bounds
 * the work done between two looks at I/O (other clients, REST, /metrics) whatever the number of
 * busy connections. Nothing is answered inside the transport's callback: a transport may deliver
 * thousands of messages from one read (Bun's WebSocket does).
 */
import type { Socket, ServerWebSocket } from "bun";
import type { Logger } from "../log.ts";
import type { Dispatcher } from "./dispatch.ts";
import type { RpcLog } from "./rpc-log.ts";
import { errorJson, RPC_CODES, RpcError, type ReplyMessage } from "./jsonrpc.ts";
import type { TurnScheduler } from "./scheduler.ts";
import { Session, type SessionOutput, type Subscriptions } from "./subscriptions.ts";

export interface ConnectionLimits {
  /** A request longer than this is answered with -32600 and the client is closed (ElectrumX MAX_RECV). */
  readonly maxLineBytes: number;
  /** Unwritten bytes above which the connection stops answering. */
  readonly sendHighWater: number;
  /** Unwritten bytes above which the client is disconnected (the server keeps it at least one largest answer over sendHighWater). */
  readonly maxSendBuffer: number;
  /** Unanswered request bytes above which a stream (TCP, TLS) stops reading. */
  readonly readPauseBytes: number;
  /** Unanswered request bytes above which the client is disconnected (the server keeps it at least maxLineBytes over readPauseBytes). */
  readonly maxQueuedRequestBytes: number;
  /** A client with more than `sendHighWater` bytes unsent that takes fewer than `stallMinBytes` of them in this long is disconnected. */
  readonly stallTimeoutMs: number;
  readonly stallMinBytes: number;
  /** Requests answered in one slice before the connection yields to the others. */
  readonly turnMaxRequests: number;
  /** Milliseconds of work in one slice before the connection yields to the others. */
  readonly turnBudgetMs: number;
  /** Period of the watch over a paused or stalled connection. */
  readonly watchIntervalMs: number;
  /**
   * A connection older than this (ms, plus up to a tenth more, drawn per connection so that a crowd
   * connected at once does not leave at once) is closed once its answers are written; 0: never
   * (electrs' --electrum-rpc-conn-max-age).
   */
  readonly maxAgeMs?: number;
}

/**
 * The bytes of answers and notifications written and not yet taken by the clients, over every
 * connection of a server (each connection counts its own: Connection.account), against electrs'
 * --electrum-rpc-global-response-budget-bytes: past it, requests are answered with an error until
 * slow clients take their bytes or are dropped (the write timeout).
 */
export class ResponseBudget {
  used = 0;
  constructor(readonly limitBytes: number) {}

  get exhausted(): boolean {
    return this.limitBytes > 0 && this.used > this.limitBytes;
  }
}

export interface ConnectionEnv {
  readonly limits: ConnectionLimits;
  readonly scheduler: TurnScheduler;
  readonly dispatcher: Dispatcher;
  readonly subs: Subscriptions;
  readonly log: Logger;
  /** --electrum-rpc-logging: connections opened and closed (the dispatcher logs the requests). */
  readonly rpcLog?: RpcLog | null;
  /** --electrum-rpc-global-response-budget-bytes (the dispatcher refuses requests past it). */
  readonly budget?: ResponseBudget | null;
}

/** What a Connection needs of its transport. */
export interface Wire {
  readonly remote: string;
  /** The client's port, where the transport gives it. */
  readonly remotePort: number | null;
  /** Queues one message; the wire adds its framing. */
  write(message: ReplyMessage): void;
  /** Bytes queued and not yet handed to the kernel. */
  readonly unsentBytes: number;
  /** Bytes queued since the start (written to the kernel: queuedBytes - unsentBytes). */
  readonly queuedBytes: number;
  pauseReading(): void;
  resumeReading(): void;
  /**
   * Holds small messages until `release`, which hands them to the kernel in one write (a slice of
   * pipelined answers: one syscall instead of one per answer). Held bytes count as unsent.
   */
  hold(): void;
  release(): void;
  /** Closes once what is queued is written. */
  end(): void;
  /** Closes now, dropping what is queued. */
  destroy(): void;
}

/** A line over the request limit, found while cutting the input into lines. */
export const OVERSIZE = Symbol("oversize");

/** Requests received and not yet answered, in order. */
export interface Inbox {
  /** Bytes held (complete requests, and the start of one still arriving). */
  readonly bytes: number;
  /** The next complete request; null when none is complete. */
  next(): string | null | typeof OVERSIZE;
  clear(): void;
}

/** WebSocket: one message per frame. */
export class MessageInbox implements Inbox {
  private readonly queue: string[] = [];
  private head = 0;
  private held = 0;

  get bytes(): number {
    return this.held;
  }

  push(text: string): void {
    this.queue.push(text);
    this.held += text.length;
  }

  next(): string | null {
    if (this.head >= this.queue.length) return null;
    const text = this.queue[this.head]!;
    this.queue[this.head++] = "";
    this.held -= text.length;
    if (this.head === this.queue.length) this.clear();
    // A queue that never empties (a steady stream of requests) is compacted now and then.
    else if (this.head >= 1024 && this.head * 2 >= this.queue.length) {
      this.queue.splice(0, this.head);
      this.head = 0;
    }
    return text;
  }

  clear(): void {
    this.queue.length = 0;
    this.head = 0;
    this.held = 0;
  }
}

export class Connection implements SessionOutput {
  readonly session: Session;
  private processing = false;
  private paused = false;
  private closing = false;
  private closed = false;
  private drained: (() => void) | null = null;
  private watch: ReturnType<typeof setInterval> | null = null;
  /** The stall watch: bytes written to the kernel when the current window began, and when. */
  private windowWritten = -1;
  private windowStart = 0;
  /** Request bytes waiting at the watch's last look (Infinity: none yet). */
  private queuedAtCheck = Infinity;
  private ageTimer: ReturnType<typeof setTimeout> | null = null;
  /** This connection's unsent bytes as last counted in the server's ResponseBudget. */
  private accounted = 0;

  constructor(
    private readonly wire: Wire,
    private readonly inbox: Inbox,
    id: number,
    private readonly env: ConnectionEnv,
    private readonly onGone: () => void,
  ) {
    this.session = new Session(id, wire.remote, this, wire.remotePort);
    env.rpcLog?.connection(this.session, true);
    const maxAgeMs = env.limits.maxAgeMs ?? 0;
    if (maxAgeMs > 0) {
      this.ageTimer = setTimeout(() => {
        this.ageTimer = null;
        if (this.closed || this.closing) return;
        this.env.log.debug(`closing electrum client ${this.session.remote} #${this.session.id}: older than ${maxAgeMs} ms (--electrum-rpc-conn-max-age)`);
        this.closeAfterFlush();
      }, maxAgeMs * (1 + Math.random() / 10));
      this.ageTimer.unref?.();
    }
  }

  /** The transport added to the inbox. */
  onInput(): void {
    if (this.closed || this.closing) return this.inbox.clear();
    const queued = this.inbox.bytes;
    const { readPauseBytes, maxQueuedRequestBytes } = this.env.limits;
    if (queued > maxQueuedRequestBytes) return this.terminate(`over ${maxQueuedRequestBytes} bytes of requests waiting for an answer`);
    if (queued > readPauseBytes && !this.paused) {
      this.paused = true;
      this.wire.pauseReading();
      this.armWatch();
    }
    void this.pump();
  }

  /** A request over the size limit: answered with an error, then the client is closed. */
  onOversize(): void {
    if (this.closed || this.closing) return;
    const max = this.env.limits.maxLineBytes;
    this.send(errorJson(null, new RpcError(RPC_CODES.INVALID_REQUEST, `request line too large (over ${max} bytes)`)));
    this.closeAfterFlush();
  }

  /** A client refused at connection time (a limit): one error with id null, then the close. */
  reject(error: RpcError): void {
    if (this.closed || this.closing) return;
    this.send(errorJson(null, error));
    this.closeAfterFlush();
  }

  /** Brings this connection's share of the server's ResponseBudget up to date. */
  private account(): void {
    const budget = this.env.budget;
    if (!budget) return;
    const unsent = this.closed ? 0 : this.wire.unsentBytes;
    budget.used += unsent - this.accounted;
    this.accounted = unsent;
  }

  /** Queues one message; a client that lets too much pile up is dropped. */
  send(message: ReplyMessage): void {
    if (this.closed) return;
    this.wire.write(message);
    this.account();
    const { maxSendBuffer, sendHighWater } = this.env.limits;
    if (this.wire.unsentBytes > maxSendBuffer) return this.terminate(`client does not read: over ${maxSendBuffer} bytes unsent`);
    if (this.wire.unsentBytes > sendHighWater) this.armWatch();
  }

  /** The wire wrote some of what was queued. */
  onDrain(): void {
    if (this.closed) return;
    this.account();
    if (this.wire.unsentBytes <= this.env.limits.sendHighWater) {
      const d = this.drained;
      this.drained = null;
      d?.();
    }
    if (this.closing && this.wire.unsentBytes === 0) {
      this.wire.end();
      this.onClose();
    }
  }

  /** The transport closed (by either side). */
  onClose(): void {
    if (this.closed) return;
    this.closed = true;
    this.account();
    this.env.rpcLog?.connection(this.session, false);
    if (this.ageTimer !== null) clearTimeout(this.ageTimer);
    this.ageTimer = null;
    this.disarmWatch();
    this.inbox.clear();
    this.env.subs.dropSession(this.session);
    const d = this.drained;
    this.drained = null;
    d?.();
    this.onGone();
  }

  /** Drops the client now, whatever is queued. */
  terminate(why: string): void {
    if (this.closed) return;
    this.env.log.debug(`closing electrum client ${this.session.remote} #${this.session.id}: ${why}`);
    this.wire.destroy();
    this.onClose();
  }

  /** Answers what is queued for writing, then closes. */
  private closeAfterFlush(): void {
    this.closing = true;
    this.wire.release();
    this.inbox.clear();
    if (this.paused) {
      // A paused socket would not see the client's side of the close.
      this.paused = false;
      this.wire.resumeReading();
    }
    if (this.wire.unsentBytes === 0) {
      this.wire.end();
      this.onClose();
    } else this.armWatch();
  }

  /** Watches a paused or stalled connection until it is neither. */
  private armWatch(): void {
    if (this.watch !== null || this.closed) return;
    this.windowWritten = -1;
    this.queuedAtCheck = Infinity;
    this.watch = setInterval(() => this.check(), this.env.limits.watchIntervalMs);
    this.watch.unref?.();
  }

  private disarmWatch(): void {
    if (this.watch === null) return;
    clearInterval(this.watch);
    this.watch = null;
  }

  private check(): void {
    if (this.closed) return this.disarmWatch();
    const { sendHighWater, stallTimeoutMs, stallMinBytes } = this.env.limits;
    const queued = this.inbox.bytes;
    if (this.paused && queued >= this.queuedAtCheck) {
      // Reads one chunk (onInput pauses again): the way a paused socket learns that its peer is
      // gone. Not while its requests are being answered: the pump resumes reading when they are
      // under `readPauseBytes`, and a closed peer then shows itself in the writes.
      this.paused = false;
      this.wire.resumeReading();
    }
    this.queuedAtCheck = queued;
    this.account();
    const unsent = this.wire.unsentBytes;
    if (unsent > sendHighWater || (this.closing && unsent > 0)) {
      const now = performance.now();
      const written = this.wire.queuedBytes - unsent;
      if (this.windowWritten < 0) {
        this.windowWritten = written;
        this.windowStart = now;
      } else if (now - this.windowStart >= stallTimeoutMs) {
        const taken = written - this.windowWritten;
        if (taken < stallMinBytes) return this.terminate(`client does not read: ${unsent} bytes unsent, ${taken} taken in ${stallTimeoutMs} ms`);
        this.windowWritten = written;
        this.windowStart = now;
      }
      return;
    }
    this.windowWritten = -1;
    // Answers are waited for, but the backlog is gone without a drain event: Bun's WebSocket
    // flushes its buffer and does not always report it (seen under 40 non-readers, #12); without
    // this the connection would wait, unwatched, for the 10-minute idle timeout.
    if (this.drained !== null) this.onDrain();
    if (!this.paused) this.disarmWatch();
  }

  /** Works off the queue in slices the scheduler grants (never inside the transport's callback). */
  private async pump(): Promise<void> {
    if (this.processing) return;
    this.processing = true;
    const { sendHighWater, readPauseBytes, turnMaxRequests, turnBudgetMs } = this.env.limits;
    const scheduler = this.env.scheduler;
    let fresh = true;
    try {
      while (!this.closed && !this.closing && this.inbox.bytes > 0) {
        if (this.wire.unsentBytes > sendHighWater) {
          scheduler.idle();
          this.armWatch();
          await new Promise<void>((resolve) => (this.drained = resolve));
          continue;
        }
        await scheduler.turn(fresh);
        // A slice at the front of the queue (the client was idle) answers one request: the front
        // is for the next small request of many clients at once, not for a pipeline's first 20.
        const maxRequests = fresh ? 1 : turnMaxRequests;
        fresh = false;
        const sliceStart = performance.now();
        // The slice's answers go to the kernel together, before anything else is waited for.
        this.wire.hold();
        try {
          for (let n = 0; n < maxRequests && performance.now() - sliceStart < turnBudgetMs; n++) {
            if (this.closed || this.closing || this.wire.unsentBytes > sendHighWater) break;
            const line = this.inbox.next();
            if (line === null) return; // the rest is the start of a request still arriving
            if (line === OVERSIZE) return this.onOversize();
            if (this.paused && this.inbox.bytes <= readPauseBytes) {
              this.paused = false;
              this.wire.resumeReading();
            }
            const reply = await this.env.dispatcher.handleLine(this.session, line);
            if (reply !== null) this.send(reply);
            if (this.session.closeAfterReply) this.closeAfterFlush();
          }
        } finally {
          if (!this.closed) this.wire.release();
          this.account();
        }
      }
    } finally {
      this.processing = false;
      scheduler.idle();
    }
  }
}

// ---------------------------------------------------------------------------------------------
// TCP and TLS: a byte stream, messages end with "\n".

const NEWLINE = 0x0a;

/**
 * A byte stream's requests: the bytes are kept as they came and cut into lines (without the "\n")
 * only when the next one is asked for, so that a long pipeline costs its bytes and no work until
 * it is answered. A line over `maxLineBytes` is OVERSIZE (or refused by push() while it arrives).
 */
export class LineInbox implements Inbox {
  private chunks: Buffer[] = [];
  /** Read offset in chunks[0]. */
  private head = 0;
  private held = 0;
  /** Bytes since the last newline pushed: the line still arriving. */
  private tail = 0;

  constructor(private readonly maxLineBytes: number) {}

  get bytes(): number {
    return this.held;
  }

  /** false (and nothing kept) when the line still arriving is already over the limit. */
  push(chunk: Uint8Array): boolean {
    // Copied: the socket reuses its read buffer.
    const buf = Buffer.from(chunk);
    const last = buf.lastIndexOf(NEWLINE);
    this.tail = last < 0 ? this.tail + buf.length : buf.length - last - 1;
    if (this.tail > this.maxLineBytes) {
      this.clear();
      return false;
    }
    this.chunks.push(buf);
    this.held += buf.length;
    return true;
  }

  next(): string | null | typeof OVERSIZE {
    while (this.chunks.length > 0) {
      const first = this.chunks[0]!;
      const nl = first.indexOf(NEWLINE, this.head);
      if (nl >= 0) {
        const start = this.head;
        this.head = nl + 1;
        this.held -= nl + 1 - start;
        if (this.head >= first.length) {
          this.chunks.shift();
          this.head = 0;
        }
        if (nl - start > this.maxLineBytes) return OVERSIZE;
        return first.toString("utf8", start, nl);
      }
      if (this.chunks.length === 1) return null;
      // A line across chunks: the rest of the first joined with the second.
      this.chunks.splice(0, 2, Buffer.concat([first.subarray(this.head), this.chunks[1]!]));
      this.head = 0;
    }
    return null;
  }

  clear(): void {
    this.chunks = [];
    this.head = 0;
    this.held = 0;
    this.tail = 0;
  }
}

const NEWLINE_BYTES = Buffer.from("\n");
/**
 * A part at least this big is written as it is, after what is held, never copied into a held
 * batch. Measured with 200 connections × 50 pipelined get_balance: one write per answer spent 23 %
 * of the server's CPU in the write call.
 */
const HOLD_MAX_PART_BYTES = 16_384;

/** A Bun socket (plain or TLS): writes what the kernel takes now and keeps the rest in order. */
export class StreamWire implements Wire {
  private readonly out: Uint8Array[] = [];
  private outBytes = 0;
  private queued = 0;
  /** Messages held (hold), or null when not holding; their bytes. */
  private held: Uint8Array[] | null = null;
  private heldBytes = 0;

  constructor(private readonly socket: Socket<unknown>) {}

  /** The client's IP; `unix` for a client of a Unix socket (--rpc-socket-file), which has none. */
  get remote(): string {
    return this.socket.remoteAddress || "unix";
  }

  get remotePort(): number | null {
    return this.socket.remotePort || null;
  }

  get unsentBytes(): number {
    return this.outBytes;
  }

  get queuedBytes(): number {
    return this.queued;
  }

  write(message: ReplyMessage): void {
    if (typeof message === "string") return this.writeBytes(Buffer.from(message + "\n", "utf8"));
    // Part by part: a shared part (a cached answer) is handed to the kernel as it is, and what
    // the kernel does not take is kept as a view of it, never a copy.
    for (const part of message.parts) this.writeBytes(part);
    this.writeBytes(NEWLINE_BYTES);
  }

  hold(): void {
    this.held ??= [];
  }

  release(): void {
    const held = this.held;
    this.held = null;
    if (held === null || held.length === 0) return;
    const bytes = this.heldBytes;
    this.heldBytes = 0;
    // Counted when held: counted again by writeBytes.
    this.queued -= bytes;
    this.outBytes -= bytes;
    this.writeBytes(held.length === 1 ? held[0]! : Buffer.concat(held, bytes));
  }

  private writeBytes(buf: Uint8Array): void {
    if (this.held !== null) {
      if (buf.length < HOLD_MAX_PART_BYTES) {
        this.held.push(buf);
        this.heldBytes += buf.length;
        this.queued += buf.length;
        this.outBytes += buf.length;
        return;
      }
      // A big part: what is held goes first, in order; holding goes on after it.
      this.release();
      this.held = [];
    }
    this.queued += buf.length;
    if (this.out.length === 0) {
      const n = Math.max(0, this.socket.write(buf));
      if (n >= buf.length) return;
      this.out.push(buf.subarray(n));
      this.outBytes += buf.length - n;
    } else {
      this.out.push(buf);
      this.outBytes += buf.length;
    }
  }

  /** Called from the socket's drain handler; writes as much of the backlog as the kernel takes. */
  flush(): void {
    while (this.out.length > 0) {
      const head = this.out[0]!;
      const n = this.socket.write(head);
      if (n >= head.length) {
        this.out.shift();
        this.outBytes -= head.length;
        continue;
      }
      if (n > 0) {
        this.out[0] = head.subarray(n);
        this.outBytes -= n;
      }
      break;
    }
  }

  pauseReading(): void {
    this.socket.pause();
  }

  resumeReading(): void {
    this.socket.resume();
  }

  end(): void {
    this.release();
    this.out.length = 0;
    this.outBytes = 0;
    this.socket.end();
  }

  destroy(): void {
    this.held = null;
    this.heldBytes = 0;
    this.out.length = 0;
    this.outBytes = 0;
    this.socket.terminate();
  }
}

// ---------------------------------------------------------------------------------------------
// WebSocket: one JSON message per text frame (§1.2), no newline.

export class WsWire implements Wire {
  private queued = 0;

  constructor(private readonly ws: ServerWebSocket<unknown>) {}

  get remote(): string {
    return this.ws.remoteAddress;
  }

  /** (Bun's ServerWebSocket does not give the client's port.) */
  get remotePort(): number | null {
    return null;
  }

  /** Bun queues what the kernel did not take; this is its backlog. */
  get unsentBytes(): number {
    return this.ws.getBufferedAmount();
  }

  /** UTF-16 units, not bytes: the same for the ASCII of JSON answers, close enough otherwise. */
  get queuedBytes(): number {
    return this.queued;
  }

  write(message: ReplyMessage): void {
    // One text frame per message: bytes in parts are joined here (Bun's sendText takes a string).
    const text = typeof message === "string" ? message : message.toString();
    this.queued += text.length;
    this.ws.sendText(text);
  }

  // One frame per message whatever is held: nothing to gather.
  hold(): void {}
  release(): void {}

  // A WebSocket cannot stop reading; Connection caps what it queues instead.
  pauseReading(): void {}
  resumeReading(): void {}

  end(): void {
    this.ws.close(1000);
  }

  destroy(): void {
    this.ws.terminate();
  }
}
