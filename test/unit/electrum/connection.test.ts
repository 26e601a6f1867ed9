/**
 * Connection's pump and watch against a scripted transport (a Wire whose kernel takes what the
 * test says, failure injection only): the order in which the TurnScheduler serves idle and busy
 * connections, reading resumed by the watch only for a connection that makes no progress, and a
 * backlog that empties without a drain event (#12); and StreamWire writing a reply made of byte
 * parts through a kernel that takes a little at a time. The dispatcher answers each line with itself
 * at once, so what is measured is the order of the answers, not their cost.
 */
import { describe, expect, test } from "bun:test";
import type { Socket } from "bun";
import { Connection, LineInbox, StreamWire, type ConnectionEnv, type ConnectionLimits, type Wire } from "../../../src/electrum/connection.ts";
import { JsonBytes, resultJson, type ReplyMessage } from "../../../src/electrum/jsonrpc.ts";
import { jsonSegment, jsonSegmentsSliced } from "../../../src/query/sliced-history.ts";
import type { Dispatcher } from "../../../src/electrum/dispatch.ts";
import { TurnScheduler } from "../../../src/electrum/scheduler.ts";
import type { Subscriptions } from "../../../src/electrum/subscriptions.ts";
import { silentLogger } from "../../../src/log.ts";

const LIMITS: ConnectionLimits = {
  maxLineBytes: 1_000,
  sendHighWater: 1_000_000_000,
  maxSendBuffer: 2_000_000_000,
  readPauseBytes: 1_000_000_000,
  maxQueuedRequestBytes: 2_000_000_000,
  stallTimeoutMs: 60_000,
  stallMinBytes: 1,
  turnMaxRequests: 20,
  turnBudgetMs: 2,
  watchIntervalMs: 20,
};
/** The server's default: one turn of the scheduler runs slices for at most 5 ms. */
const TICK_BUDGET_MS = 5;

/** A transport whose kernel takes everything (`unsent` stays 0) unless the test holds it back. */
class ScriptedWire implements Wire {
  readonly remote = "127.0.0.1";
  readonly remotePort = 50000;
  unsent = 0;
  queued = 0;
  /** When set, what is written stays unsent until the test empties it. */
  holdBack = false;
  readonly written: string[] = [];
  resumes = 0;
  pauses = 0;

  get unsentBytes(): number {
    return this.unsent;
  }
  get queuedBytes(): number {
    return this.queued;
  }
  write(reply: ReplyMessage): void {
    const message = String(reply);
    this.written.push(message);
    this.queued += message.length + 1;
    if (this.holdBack) this.unsent += message.length + 1;
  }
  /** StreamWire's holding (its own tests are below): counted only. */
  holds = 0;
  hold(): void {
    this.holds++;
  }
  release(): void {}
  pauseReading(): void {
    this.pauses++;
  }
  resumeReading(): void {
    this.resumes++;
  }
  end(): void {}
  destroy(): void {}
}

/** Every answer, in the order they were written, as "connection:line". */
function setup(limits: Partial<ConnectionLimits> = {}) {
  const order: string[] = [];
  const dispatcher = { handleLine: async (_s: unknown, line: string) => line } as unknown as Dispatcher;
  const subs = { dropSession() {} } as unknown as Subscriptions;
  const all = { ...LIMITS, ...limits };
  const env: ConnectionEnv = { limits: all, scheduler: new TurnScheduler(TICK_BUDGET_MS), dispatcher, subs, log: silentLogger() };
  let id = 0;
  const open = (name: string) => {
    const wire = new ScriptedWire();
    const inbox = new LineInbox(all.maxLineBytes);
    const conn = new Connection(wire, inbox, id++, env, () => {});
    const origWrite = wire.write.bind(wire);
    wire.write = (m: ReplyMessage) => {
      order.push(`${name}:${String(m)}`);
      origWrite(m);
    };
    const send = (lines: string[]) => {
      inbox.push(Buffer.from(lines.map((l) => l + "\n").join("")));
      conn.onInput();
    };
    return { wire, inbox, conn, send };
  };
  return { order, open };
}

const lines = (n: number, tag: string) => Array.from({ length: n }, (_, i) => `${tag}${i}`);

async function until(what: string, ok: () => boolean, ms = 5_000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(2);
  }
}

describe("TurnScheduler and Connection: who is answered first", () => {
  test("a client that was idle waits for one request of each other newcomer, not for their pipelines' first slices", async () => {
    const { order, open } = setup();
    const busy = Array.from({ length: 50 }, (_, i) => open(`b${i}`));
    const idle = open("idle");
    // All arrive before the scheduler's next turn: 50 pipelines of 1,000 requests, then one request.
    for (const b of busy) b.send(lines(1_000, "r"));
    idle.send(["ping"]);
    await until("the idle client's answer", () => idle.wire.written.length === 1);
    const before = order.indexOf("idle:ping");
    // One request of each newcomer goes first (they too were idle); then the idle client's.
    expect(before).toBeLessThanOrEqual(50);
    await until("every pipeline answered", () => busy.every((b) => b.wire.written.length === 1_000), 20_000);
    // The busy ones were served round-robin in slices of at most 20, in the order they came.
    expect(busy[0]!.wire.written.slice(0, 3)).toEqual(["r0", "r1", "r2"]);
  }, 30_000);

  test("while pipelines are worked off, a client's new request waits for at most the slice under way", async () => {
    const { order, open } = setup();
    const busy = Array.from({ length: 20 }, (_, i) => open(`b${i}`));
    const idle = open("idle");
    for (const b of busy) b.send(lines(20_000, "r"));
    await until("the pipelines under way", () => busy.every((b) => b.wire.written.length >= 20));
    const mark = order.length;
    idle.send(["ping"]);
    await until("the idle client's answer", () => idle.wire.written.length === 1);
    expect(order.indexOf("idle:ping") - mark).toBeLessThanOrEqual(LIMITS.turnMaxRequests);
    expect(busy.some((b) => b.wire.written.length < 20_000)).toBe(true); // it did not wait for the pipelines
  }, 30_000);
});

describe("Connection's watch", () => {
  test("a paused connection whose requests are being answered is not resumed by the watch; one that makes no progress is", async () => {
    // Requests wait behind a backlog the test empties now and then: slow progress, always paused.
    const { open } = setup({ readPauseBytes: 100, maxQueuedRequestBytes: 10_000_000, sendHighWater: 50, watchIntervalMs: 20 });
    const c = open("c");
    c.wire.holdBack = true;
    c.send(lines(20_000, "q")); // ~120 kB of requests: paused at once
    expect(c.wire.pauses).toBe(1);
    const drain = setInterval(() => {
      c.wire.unsent = 0;
      c.conn.onDrain();
    }, 5);
    await Bun.sleep(200); // ten looks of the watch, while answers flow
    expect(c.wire.written.length).toBeGreaterThan(10);
    expect(c.wire.resumes).toBe(0);
    clearInterval(drain); // now nothing is taken: the watch reads to learn whether the peer is gone
    await until("the watch resumes reading", () => c.wire.resumes > 0, 2_000);
    c.conn.terminate("test over");
  }, 10_000);

  test("a backlog the transport empties without a drain event: answering goes on at the watch's next look", async () => {
    const { open } = setup({ sendHighWater: 50, watchIntervalMs: 20 });
    const c = open("c");
    c.wire.holdBack = true;
    c.send(lines(100, "x".repeat(60)));
    await until("the first answers", () => c.wire.unsent > 50);
    const answered = c.wire.written.length;
    c.wire.holdBack = false;
    c.wire.unsent = 0; // written to the kernel, but onDrain is never called
    await until("every request answered", () => c.wire.written.length === 100, 2_000);
    expect(answered).toBeLessThan(100);
    c.conn.terminate("test over");
  }, 10_000);
});

describe("Connection's age (--electrum-rpc-conn-max-age)", () => {
  test("closed after its age (within a tenth more), once what it was sent is written; none without it", async () => {
    const { open } = setup({ maxAgeMs: 40 });
    const c = open("old");
    let ended = 0;
    c.wire.end = () => void ended++;
    const t0 = performance.now();
    c.send(["ping"]);
    await until("the connection's close", () => ended === 1, 5_000);
    const age = performance.now() - t0;
    expect(age).toBeGreaterThanOrEqual(38);
    expect(c.wire.written).toEqual(["ping"]);
    // A connection without the limit is left alone (its timer is never set: nothing to wait for).
    const { open: openPlain } = setup();
    const plain = openPlain("plain");
    let plainEnded = 0;
    plain.wire.end = () => void plainEnded++;
    plain.send(["ping"]);
    await until("the answer", () => plain.wire.written.length === 1);
    expect(plainEnded).toBe(0);
    plain.conn.onClose();
  });
});

describe("StreamWire: replies as text or as bytes in parts", () => {
  /** A socket whose kernel takes at most `room` bytes until the test makes more. */
  function scriptedSocket() {
    const taken: Uint8Array[] = [];
    const sock = {
      room: 0,
      remoteAddress: "127.0.0.1",
      write(buf: Uint8Array) {
        const n = Math.min(buf.length, sock.room);
        sock.room -= n;
        taken.push(Uint8Array.prototype.slice.call(buf, 0, n));
        return n;
      },
      pause() {},
      resume() {},
      end() {},
      terminate() {},
    };
    return { sock, bytes: () => Buffer.concat(taken).toString("utf8") };
  }

  test("a reply of shared parts reaches the kernel whole and in order, a little at a time, and the shared bytes stay as they were", () => {
    const { sock, bytes } = scriptedSocket();
    const wire = new StreamWire(sock as unknown as Socket<unknown>);
    const shared = Buffer.from(JSON.stringify({ count: 2, hex: "ab".repeat(5_000), max: 2016 }));
    const copy = Buffer.from(shared);
    const result = new JsonBytes([shared]);
    const first = resultJson(7, result);
    const second = resultJson("x", result);
    const expected = JSON.stringify({ jsonrpc: "2.0", id: 7, result: JSON.parse(shared.toString()) }) + "\n" + '{"jsonrpc":"2.0","id":"x","result":' + shared.toString() + "}\n" + '{"jsonrpc":"2.0","id":1,"result":"é"}\n';
    sock.room = 1_000;
    wire.write(first);
    wire.write(second);
    wire.write(resultJson(1, "é"));
    expect(wire.queuedBytes).toBe(Buffer.byteLength(expected));
    expect(wire.unsentBytes).toBe(Buffer.byteLength(expected) - 1_000);
    for (let i = 0; wire.unsentBytes > 0 && i < 100; i++) {
      sock.room = 777;
      wire.flush();
    }
    expect(wire.unsentBytes).toBe(0);
    expect(bytes()).toBe(expected);
    expect(shared.equals(copy)).toBe(true);
  });

  test("held answers reach the kernel in one write at release, in order around a big part, counted as unsent meanwhile", () => {
    const { sock, bytes } = scriptedSocket();
    const writes: number[] = [];
    const write = sock.write;
    sock.write = (buf: Uint8Array) => {
      writes.push(buf.length);
      return write(buf);
    };
    sock.room = Number.MAX_SAFE_INTEGER;
    const wire = new StreamWire(sock as unknown as Socket<unknown>);
    const small = Array.from({ length: 50 }, (_, i) => resultJson(i, { confirmed: i, unconfirmed: 0 }));
    const text = (m: ReplyMessage) => (typeof m === "string" ? m : m.toString()) + "\n";
    wire.hold();
    for (const m of small) wire.write(m);
    expect(writes).toEqual([]);
    const heldBytes = small.reduce((n, m) => n + Buffer.byteLength(text(m)), 0);
    expect(wire.unsentBytes).toBe(heldBytes);
    expect(wire.queuedBytes).toBe(heldBytes);
    wire.release();
    expect(writes).toEqual([heldBytes]);
    expect(wire.unsentBytes).toBe(0);
    expect(wire.queuedBytes).toBe(heldBytes);
    // A big part while holding: what is held first, the big part as it is, then holding goes on.
    const big = resultJson("big", new JsonBytes([Buffer.from(JSON.stringify("x".repeat(40_000)))]));
    wire.hold();
    wire.write(small[0]!);
    wire.write(big);
    wire.write(small[1]!);
    wire.release();
    wire.release(); // nothing held: no write
    const bigPrefix = '{"jsonrpc":"2.0","id":"big","result":';
    // (The big answer's small first part is held with the answer before it.)
    expect(writes.slice(1)).toEqual([Buffer.byteLength(text(small[0]!)) + bigPrefix.length, 40_002, Buffer.byteLength("}\n") + Buffer.byteLength(text(small[1]!))]);
    expect(bytes()).toBe([...small, small[0]!, big, small[1]!].map(text).join(""));
    // end() writes what is held before closing; destroy() drops it.
    wire.hold();
    wire.write(small[2]!);
    wire.end();
    expect(bytes().endsWith(text(small[2]!))).toBe(true);
    const other = scriptedSocket();
    other.sock.room = Number.MAX_SAFE_INTEGER;
    const dropped = new StreamWire(other.sock as unknown as Socket<unknown>);
    dropped.hold();
    dropped.write(small[3]!);
    dropped.destroy();
    expect(other.bytes()).toBe("");
    expect(dropped.unsentBytes).toBe(0);
  });

  test("held answers the kernel takes only in part wait in the backlog, in order", () => {
    const { sock, bytes } = scriptedSocket();
    const wire = new StreamWire(sock as unknown as Socket<unknown>);
    const all = Array.from({ length: 30 }, (_, i) => resultJson(i, "a".repeat(i * 10)));
    sock.room = 100;
    wire.hold();
    for (const m of all.slice(0, 20)) wire.write(m);
    wire.release();
    for (const m of all.slice(20)) wire.write(m);
    for (let i = 0; wire.unsentBytes > 0 && i < 1000; i++) {
      sock.room = 97;
      wire.flush();
    }
    expect(bytes()).toBe(all.map((m) => (typeof m === "string" ? m : m.toString()) + "\n").join(""));
  });

  test("a sliced array's parts make the text JSON.stringify gives", async () => {
    const { sock, bytes } = scriptedSocket();
    sock.room = Number.MAX_SAFE_INTEGER;
    const wire = new StreamWire(sock as unknown as Socket<unknown>);
    const items = Array.from({ length: 2_500 }, (_, i) => ({ tx_hash: i.toString(16).padStart(64, "0"), height: i }));
    wire.write(resultJson(3, new JsonBytes(await jsonSegmentsSliced([jsonSegment(items, (e) => JSON.stringify(e))], async () => {}, 1_000))));
    expect(bytes()).toBe(JSON.stringify({ jsonrpc: "2.0", id: 3, result: items }) + "\n");
  });
});
