/**
 * One Electrum client, whatever carries it (peers-and-protocol.md §1.2): a Connection answers the
 * client's messages one at a time in the order they arrived (pipelining) and keeps memory bounded;
 * a Wire is the transport under it. TCP and TLS are byte streams framed by "\n" (StreamWire with
 * LineFramer); WebSocket carries one JSON message per frame, without a newline (WsWire).
 *
 * Bounds, for every transport (what a client that does not read can cost):
 * - while more than `sendHighWater` bytes wait to be written, no further request is answered (so
 *   unsent answers stay under `sendHighWater` plus the one answer being sent);
 * - requests received but not yet answered: over `readPauseBytes` a stream stops reading (TCP
 *   backpressure reaches the client through the kernel); over `maxQueuedRequestBytes` the client is
 *   dropped (a WebSocket cannot stop reading);
 * - a client that, while answers wait, takes fewer than `stallMinBytes` of them in `stallTimeoutMs`
 *   is dropped, and so is one that lets more than `maxSendBuffer` bytes pile up (notifications it
 *   does not read).
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
import { errorJson, RPC_CODES, RpcError } from "./jsonrpc.ts";
import type { TurnScheduler } from "./scheduler.ts";
import { Session, type SessionOutput, type Subscriptions } from "./subscriptions.ts";

export interface ConnectionLimits {
  /** A request longer than this is answered with -32600 and the client is closed (ElectrumX MAX_RECV). */
  readonly maxLineBytes: number;
  /** Unwritten bytes above which the connection stops answering. */
  readonly sendHighWater: number;
  /** Unwritten bytes above which the client is disconnected. */
  readonly maxSendBuffer: number;
  /** Unanswered request bytes above which a stream (TCP, TLS) stops reading. */
  readonly readPauseBytes: number;
  /** Unanswered request bytes above which the client is disconnected. */
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
}

export interface ConnectionEnv {
  readonly limits: ConnectionLimits;
  readonly scheduler: TurnScheduler;
  readonly dispatcher: Dispatcher;
  readonly subs: Subscriptions;
  readonly log: Logger;
}

/** What a Connection needs of its transport. */
export interface Wire {
  readonly remote: string;
  /** Queues one message; the wire adds its framing. */
  write(message: string): void;
  /** Bytes queued and not yet handed to the kernel. */
  readonly unsentBytes: number;
  /** Bytes queued since the start (written to the kernel: queuedBytes - unsentBytes). */
  readonly queuedBytes: number;
  pauseReading(): void;
  resumeReading(): void;
  /** Closes once what is queued is written. */
  end(): void;
  /** Closes now, dropping what is queued. */
  destroy(): void;
}

export class Connection implements SessionOutput {
  readonly session: Session;
  private readonly queue: string[] = [];
  private queueBytes = 0;
  private processing = false;
  private paused = false;
  private closing = false;
  private closed = false;
  private drained: (() => void) | null = null;
  private watch: ReturnType<typeof setInterval> | null = null;
  /** The stall watch: bytes written to the kernel when the current window began, and when. */
  private windowWritten = -1;
  private windowStart = 0;

  constructor(
    private readonly wire: Wire,
    id: number,
    private readonly env: ConnectionEnv,
    private readonly onGone: () => void,
  ) {
    this.session = new Session(id, wire.remote, this);
  }

  /** One request (a line without its newline, or a WebSocket message). */
  onMessage(text: string): void {
    if (this.closed || this.closing) return;
    this.queue.push(text);
    this.queueBytes += text.length;
    const { readPauseBytes, maxQueuedRequestBytes } = this.env.limits;
    if (this.queueBytes > maxQueuedRequestBytes) return this.terminate(`over ${maxQueuedRequestBytes} bytes of requests waiting for an answer`);
    if (this.queueBytes > readPauseBytes && !this.paused) {
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

  /** Queues one message; a client that lets too much pile up is dropped. */
  send(message: string): void {
    if (this.closed) return;
    this.wire.write(message);
    const { maxSendBuffer, sendHighWater } = this.env.limits;
    if (this.wire.unsentBytes > maxSendBuffer) return this.terminate(`client does not read: over ${maxSendBuffer} bytes unsent`);
    if (this.wire.unsentBytes > sendHighWater) this.armWatch();
  }

  /** The wire wrote some of what was queued. */
  onDrain(): void {
    if (this.closed) return;
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
    this.disarmWatch();
    this.queue.length = 0;
    this.queueBytes = 0;
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
    this.queue.length = 0;
    this.queueBytes = 0;
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
    if (this.paused) {
      // Reads one chunk (onMessage pauses again): the way a paused socket learns that its peer is gone.
      this.paused = false;
      this.wire.resumeReading();
    }
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
      while (!this.closed && !this.closing && this.queue.length > 0) {
        if (this.wire.unsentBytes > sendHighWater) {
          scheduler.idle();
          this.armWatch();
          await new Promise<void>((resolve) => (this.drained = resolve));
          continue;
        }
        await scheduler.turn(fresh);
        fresh = false;
        const sliceStart = performance.now();
        for (let n = 0; n < turnMaxRequests && performance.now() - sliceStart < turnBudgetMs; n++) {
          if (this.closed || this.closing || this.queue.length === 0 || this.wire.unsentBytes > sendHighWater) break;
          const line = this.queue.shift()!;
          this.queueBytes -= line.length;
          if (this.paused && this.queueBytes <= readPauseBytes) {
            this.paused = false;
            this.wire.resumeReading();
          }
          const reply = await this.env.dispatcher.handleLine(this.session, line);
          if (reply !== null) this.send(reply);
          if (this.session.closeAfterReply) this.closeAfterFlush();
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

/** Splits a byte stream into lines of at most `maxLineBytes` (without the "\n"). */
export class LineFramer {
  private partial: Buffer[] = [];
  private partialBytes = 0;

  constructor(private readonly maxLineBytes: number) {}

  /** Calls onLine for each complete line; false (and stops) when a line is over the limit. */
  push(chunk: Uint8Array, onLine: (line: string) => void): boolean {
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    let start = 0;
    for (let nl = buf.indexOf(NEWLINE, start); nl >= 0; nl = buf.indexOf(NEWLINE, start)) {
      if (this.partialBytes + nl - start > this.maxLineBytes) return this.reset();
      const piece = buf.subarray(start, nl);
      const bytes = this.partial.length === 0 ? piece : Buffer.concat([...this.partial, piece]);
      this.partial = [];
      this.partialBytes = 0;
      onLine(bytes.toString("utf8"));
      start = nl + 1;
    }
    if (start < buf.length) {
      this.partialBytes += buf.length - start;
      if (this.partialBytes > this.maxLineBytes) return this.reset();
      // Copied: the socket reuses its read buffer.
      this.partial.push(Buffer.from(buf.subarray(start)));
    }
    return true;
  }

  private reset(): false {
    this.partial = [];
    this.partialBytes = 0;
    return false;
  }
}

/** A Bun socket (plain or TLS): writes what the kernel takes now and keeps the rest in order. */
export class StreamWire implements Wire {
  private readonly out: Buffer[] = [];
  private outBytes = 0;
  private queued = 0;

  constructor(private readonly socket: Socket<unknown>) {}

  get remote(): string {
    return this.socket.remoteAddress;
  }

  get unsentBytes(): number {
    return this.outBytes;
  }

  get queuedBytes(): number {
    return this.queued;
  }

  write(message: string): void {
    const buf = Buffer.from(message + "\n", "utf8");
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
    this.out.length = 0;
    this.outBytes = 0;
    this.socket.end();
  }

  destroy(): void {
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

  /** Bun queues what the kernel did not take; this is its backlog. */
  get unsentBytes(): number {
    return this.ws.getBufferedAmount();
  }

  /** UTF-16 units, not bytes: the same for the ASCII of JSON answers, close enough otherwise. */
  get queuedBytes(): number {
    return this.queued;
  }

  write(message: string): void {
    this.queued += message.length;
    this.ws.sendText(message);
  }

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
