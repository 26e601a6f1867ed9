/**
 * The main thread's end of the UTXO table's worker (utxo-worker.ts). The initial sync hands it a
 * block's bytes (or, when the table is loaded from the store, ops) and carries on with the next
 * blocks; the answer comes back as a promise. Buffers are transferred, never copied, except a
 * block's bytes on their way back (utxo-worker.ts says why). The worker holds the table
 * (--db-cache-mb) and the blocks in flight: terminating it gives the memory back.
 */
import { ChainError, ParseError } from "../errors.ts";
import type { FlatBlock, FlattenOptions } from "./flat-block.ts";
import type { Resolved } from "./prevout-ops.ts";

/**
 * A full collection after every this many block bytes parsed, on each thread that handles them
 * (sync.ts on the main thread, utxo-worker.ts on the table's). JSC sizes its collection budget by
 * the heap it sees, and the UTXO table's arrays count: with a 1 GiB table it let 1.7 GB of parse
 * garbage pile up before collecting (2M-tx bench, peak RSS 2.8 GB). Collecting is cheap here (the
 * table's contents are not scanned): 40-70 ms a pass, 4-6 % of the load. Every 64 MiB halved
 * that but raised the peak by ~300 MiB (2M and 20M-tx benches). Since the table moved to its own
 * thread the main thread's heap no longer holds it; without the collections there the 2M-tx peak
 * was 1,159 MiB instead of 1,072 for the same load time (12.6 vs 12.7 s): kept.
 */
export const GC_EVERY_BYTES = 32 * 1048576;

export type ThreadRequest =
  /** `nextTxnum`: the txnum of the first tx of the first block sent (the store's tx count). */
  | { readonly type: "open"; readonly slots: number; readonly nextTxnum: number; readonly flatten: FlattenOptions }
  | { readonly type: "ops"; readonly seq: number; readonly ops: Uint32Array }
  /**
   * A block's bytes (the whole of their buffer, transferred): parsed, flattened and applied to the
   * table there; `keepBytes`: send a copy of them back (its txs' bytes are stored).
   */
  | { readonly type: "block"; readonly seq: number; readonly bytes: Uint8Array; readonly keepBytes: boolean };

export type ThreadReply =
  | { readonly type: "resolved"; readonly seq: number; readonly resolved: Resolved }
  /** A block sent: its flat form, the table's answer to its ops, its txs' first txnum, and a copy of its bytes if asked. */
  | {
      readonly type: "indexed";
      readonly seq: number;
      readonly flat: FlatBlock;
      readonly resolved: Resolved;
      readonly firstTxnum: number;
      readonly bytes: Uint8Array | null;
    }
  | { readonly type: "error"; readonly seq: number; readonly name: string; readonly message: string };

/** Errors cross the thread as name and message: the classes callers tell apart are rebuilt. */
const ERROR_CLASSES: Record<string, new (message: string) => Error> = { RangeError, ChainError, ParseError };

interface Waiter {
  resolve(reply: ThreadReply): void;
  reject(err: Error): void;
}

export class UtxoThread {
  private readonly worker: Worker;
  private readonly waiters = new Map<number, Waiter>();
  private seq = 0;
  private failure: Error | null = null;
  private readonly closed: Promise<void>;

  /**
   * Starts the worker with an empty table of `slots` slots; the blocks it is sent (indexBlock)
   * number their txs from `nextTxnum` on.
   */
  constructor(slots: number, nextTxnum: number, flatten: FlattenOptions) {
    // A literal URL next to this file: `bun build --compile` embeds the worker as a second entry point (build.ts).
    this.worker = new Worker(new URL("./utxo-worker.ts", import.meta.url).href);
    this.closed = new Promise((resolve) => this.worker.addEventListener("close", () => resolve(), { once: true }));
    this.worker.addEventListener("message", (event: MessageEvent<ThreadReply>) => this.onReply(event.data));
    this.worker.addEventListener("error", (event: ErrorEvent) => this.fail(new Error(`the UTXO table's thread failed: ${event.message}`)));
    this.worker.addEventListener("close", () => this.fail(new Error("the UTXO table's thread stopped")));
    this.post({ type: "open", slots, nextTxnum, flatten });
  }

  /** The table's answer to a block's ops (the buffer is transferred: `ops` is unusable afterwards). */
  async resolve(ops: Uint32Array): Promise<Resolved> {
    const seq = ++this.seq;
    const reply = await this.request(seq, { type: "ops", seq, ops }, [ops.buffer as ArrayBuffer]);
    if (reply.type !== "resolved") throw new Error(`the UTXO table's thread answered ${reply.type} to ops`);
    return reply.resolved;
  }

  /**
   * Parses and flattens a block on the worker, which applies it to the table (flat-block.ts). The
   * bytes' buffer is transferred there (`bytes` is unusable afterwards); with `keepBytes` the
   * reply holds a copy of them. Blocks are numbered in the order they are sent.
   */
  async indexBlock(bytes: Uint8Array, keepBytes: boolean): Promise<Extract<ThreadReply, { type: "indexed" }>> {
    // Only a buffer of its own can be transferred without taking its neighbours along.
    const own = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength ? bytes : bytes.slice();
    const seq = ++this.seq;
    const reply = await this.request(seq, { type: "block", seq, bytes: own, keepBytes }, [own.buffer as ArrayBuffer]);
    if (reply.type !== "indexed") throw new Error(`the UTXO table's thread answered ${reply.type} to a block`);
    return reply;
  }

  /** Stops the thread (whatever it was doing) and waits until it is gone. */
  async terminate(): Promise<void> {
    this.fail(new Error("the UTXO table's thread was stopped"));
    this.worker.terminate();
    await this.closed;
  }

  private request(seq: number, req: ThreadRequest, transfer: ArrayBuffer[]): Promise<ThreadReply> {
    const reply = new Promise<ThreadReply>((resolve, reject) => {
      this.waiters.set(seq, {
        resolve: (r) => {
          this.waiters.delete(seq);
          resolve(r);
        },
        reject,
      });
    });
    this.post(req, transfer);
    return reply;
  }

  private post(req: ThreadRequest, transfer: ArrayBuffer[] = []): void {
    if (this.failure) throw this.failure;
    this.worker.postMessage(req, transfer);
  }

  private onReply(reply: ThreadReply): void {
    if (reply.type === "error") {
      const Class = ERROR_CLASSES[reply.name] ?? Error;
      const err = new Class(`in the UTXO table's thread: ${reply.message}`);
      // An error outside a request (opening the table) fails everything after it.
      if (reply.seq < 0) return this.fail(err);
      const w = this.waiters.get(reply.seq);
      this.waiters.delete(reply.seq);
      w?.reject(err);
      return;
    }
    this.waiters.get(reply.seq)?.resolve(reply);
  }

  /** Every request still waiting fails with `err`, and every later one. */
  private fail(err: Error): void {
    this.failure ??= err;
    for (const w of this.waiters.values()) w.reject(this.failure);
    this.waiters.clear();
  }
}
