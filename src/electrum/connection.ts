/**
 * One Electrum client, whatever carries it (peers-and-protocol.md §1.2): a Connection answers the
 * client's messages one at a time in the order they arrived (pipelining) and keeps memory bounded;
 * a Wire is the transport under it. TCP and TLS are byte streams framed by "\n" (StreamWire with
 * LineFramer); WebSocket carries one JSON message per frame, without a newline (WsWire).
 *
 * Bounds, for every transport:
 * - while more than `sendHighWater` bytes wait to be written, no further request is answered and
 *   the wire stops reading (for TCP/TLS, backpressure reaches the client through the kernel);
 * - a client that lets more than `maxSendBuffer` bytes pile up (notifications it does not read) is
 *   disconnected;
 * - requests received but not yet answered are capped too: over `maxLineBytes` the wire stops
 *   reading; a WebSocket cannot stop reading, so there the client is closed past `maxSendBuffer`.
 */
import type { Socket, ServerWebSocket } from "bun";
import type { Logger } from "../log.ts";
import type { Dispatcher } from "./dispatch.ts";
import { errorJson, RPC_CODES, RpcError } from "./jsonrpc.ts";
import { Session, type SessionOutput, type Subscriptions } from "./subscriptions.ts";

export interface ConnectionLimits {
  /** A request longer than this is answered with -32600 and the client is closed (ElectrumX MAX_RECV). */
  readonly maxLineBytes: number;
  /** Unwritten bytes above which the connection stops answering and reading. */
  readonly sendHighWater: number;
  /** Unwritten (or unanswered) bytes above which the client is disconnected. */
  readonly maxSendBuffer: number;
}

export interface ConnectionEnv {
  readonly limits: ConnectionLimits;
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
  pauseReading(): void;
  resumeReading(): void;
  /** Closes once what is queued is written. */
  end(): void;
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
    const { maxLineBytes, maxSendBuffer } = this.env.limits;
    if (this.queueBytes > maxSendBuffer) return this.terminate(`over ${maxSendBuffer} bytes of requests waiting for an answer`);
    if (this.queueBytes > maxLineBytes && !this.paused) {
      this.paused = true;
      this.wire.pauseReading();
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

  /** Queues one message; a client that lets too much pile up is dropped. */
  send(message: string): void {
    if (this.closed) return;
    this.wire.write(message);
    const max = this.env.limits.maxSendBuffer;
    if (this.wire.unsentBytes > max) this.terminate(`client does not read: over ${max} bytes unsent`);
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
    this.queue.length = 0;
    this.env.subs.dropSession(this.session);
    const d = this.drained;
    this.drained = null;
    d?.();
    this.onGone();
  }

  terminate(why: string): void {
    if (this.closed) return;
    this.env.log.debug(`closing electrum client ${this.session.remote} #${this.session.id}: ${why}`);
    this.wire.end();
    this.onClose();
  }

  /** Answers what is queued for writing, then closes. */
  private closeAfterFlush(): void {
    this.closing = true;
    this.queue.length = 0;
    this.queueBytes = 0;
    if (this.wire.unsentBytes === 0) {
      this.wire.end();
      this.onClose();
    }
  }

  private async pump(): Promise<void> {
    if (this.processing) return;
    this.processing = true;
    try {
      while (!this.closed && !this.closing && this.queue.length > 0) {
        if (this.wire.unsentBytes > this.env.limits.sendHighWater) {
          await new Promise<void>((resolve) => (this.drained = resolve));
          continue;
        }
        const line = this.queue.shift()!;
        this.queueBytes -= line.length;
        if (this.paused && this.queueBytes <= this.env.limits.maxLineBytes) {
          this.paused = false;
          this.wire.resumeReading();
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

  constructor(private readonly socket: Socket<unknown>) {}

  get remote(): string {
    return this.socket.remoteAddress;
  }

  get unsentBytes(): number {
    return this.outBytes;
  }

  write(message: string): void {
    const buf = Buffer.from(message + "\n", "utf8");
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
}

// ---------------------------------------------------------------------------------------------
// WebSocket: one JSON message per text frame (§1.2), no newline.

export class WsWire implements Wire {
  constructor(private readonly ws: ServerWebSocket<unknown>) {}

  get remote(): string {
    return this.ws.remoteAddress;
  }

  /** Bun queues what the kernel did not take; this is its backlog. */
  get unsentBytes(): number {
    return this.ws.getBufferedAmount();
  }

  write(message: string): void {
    this.ws.sendText(message);
  }

  // A WebSocket cannot stop reading; Connection caps what it queues instead.
  pauseReading(): void {}
  resumeReading(): void {}

  end(): void {
    this.ws.close(1000);
  }
}
