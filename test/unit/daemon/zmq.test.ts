import { afterEach, describe, expect, test } from "bun:test";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { createLogger, type Logger } from "../../../src/log.ts";
import { bytesToHex, hexToBytes } from "../../../src/bitcoin/bytes.ts";
import { ConfigError } from "../../../src/errors.ts";
import {
  DEFAULT_MAX_FRAME_BYTES,
  FLAG_COMMAND,
  FLAG_LONG,
  FLAG_MORE,
  ZmtpDecoder,
  ZmtpProtocolError,
  encodeCommand,
  encodeFrame,
  encodeGreeting,
  encodeMessage,
  encodeReady,
  parseCommand,
  parseMetadata,
  parseZmqAddr,
  subscribeHashblock,
  type HashblockSubscription,
  type ZmqConnect,
  type ZmqTransportHandlers,
  type ZmtpEvent,
} from "../../../src/daemon/zmq.ts";

// ---------------------------------------------------------------------------------------------
// Waiting on conditions without fixed sleeps: everything that can make a condition true (a log
// line, a received hash, a line from the publisher, a new connection) calls bump(), which re-checks
// every pending condition. Each wait has its own deadline, so a failure is a clear timeout.
// ---------------------------------------------------------------------------------------------
const waiters = new Set<() => void>();
const bump = () => {
  for (const w of [...waiters]) w();
};
function until<T>(what: string, cond: () => T | undefined | null | false, timeoutMs = 5_000): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const cleanup = () => {
      clearTimeout(timer);
      waiters.delete(check);
    };
    const check = () => {
      const v = cond();
      if (v !== undefined && v !== null && v !== false) {
        cleanup();
        resolve(v);
      }
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
    }, timeoutMs);
    waiters.add(check);
    check();
  });
}

function capture(): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  const log = createLogger({
    verbosity: 2,
    timestamp: false,
    sink: (line) => {
      lines.push(line);
      bump();
    },
  });
  return { log, lines };
}
const count = (lines: string[], prefix: string) => lines.filter((l) => l.startsWith(prefix)).length;

const concat = (parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
};
const utf8 = (s: string) => new TextEncoder().encode(s);
const seqLE = (n: number) => {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n, true);
  return b;
};

// Genesis and block 1 in display (RPC) order; the hashblock body carries exactly these bytes.
const H0 = "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f";
const H1 = "00000000839a8e6886ab5951d76f411475428afc90947ee320161bbf18eb6048";
const hashN = (n: number) => n.toString(16).padStart(8, "0").repeat(8);

/** What bitcoind (libzmq 4.x) greets with: padding byte 8 = routing-id size + 1, version 3.1. */
function libzmqGreeting(): Uint8Array {
  const g = encodeGreeting();
  g[8] = 1;
  g[11] = 1;
  return g;
}
const hashblockMessage = (hex: string, seq: number) => encodeMessage([utf8("hashblock"), hexToBytes(hex), seqLE(seq)]);

function decodeAll(decoder: ZmtpDecoder, chunks: Uint8Array[]): ZmtpEvent[] {
  const events: ZmtpEvent[] = [];
  for (const c of chunks) decoder.push(c, (ev) => events.push(ev));
  return events;
}

// ---------------------------------------------------------------------------------------------
// Frame parser
// ---------------------------------------------------------------------------------------------
describe("ZmtpDecoder", () => {
  const long = new Uint8Array(300).map((_, i) => i & 0xff);
  // A LONG-flagged frame whose size would have fit in a short one: legal, and must decode.
  const longSmall = concat([Uint8Array.of(FLAG_LONG, 0, 0, 0, 0, 0, 0, 0, 3), utf8("abc")]);
  const stream = concat([
    libzmqGreeting(),
    encodeReady({ "Socket-Type": "PUB" }),
    encodeCommand("PING", Uint8Array.of(0, 10, 0xaa, 0xbb)),
    encodeCommand("FUTURE-COMMAND"),
    hashblockMessage(H0, 7),
    encodeMessage([utf8("rawblock"), long, seqLE(0)]),
    longSmall,
    encodeFrame(new Uint8Array(0)),
  ]);
  const expected = decodeAll(new ZmtpDecoder(), [stream]);

  test("decodes greeting, commands, multipart, LONG and empty frames from one chunk", () => {
    const summary = expected.map((ev) =>
      ev.type === "greeting"
        ? `greeting ${ev.greeting.major}.${ev.greeting.minor} ${ev.greeting.mechanism} ${ev.greeting.asServer}`
        : `${ev.frame.command ? "cmd" : "msg"}${ev.frame.more ? "+" : ""} ${ev.frame.body.length}`,
    );
    expect(summary).toEqual([
      "greeting 3.1 NULL false",
      "cmd 25",
      "cmd 9",
      "cmd 15",
      "msg+ 9",
      "msg+ 32",
      "msg 4",
      "msg+ 8",
      "msg+ 300",
      "msg 4",
      "msg 3",
      "msg 0",
    ]);
    const frames = expected.flatMap((ev) => (ev.type === "frame" ? [ev.frame] : []));
    const ready = parseCommand(frames[0]!.body);
    expect(ready.name).toBe("READY");
    expect(parseMetadata(ready.data).get("socket-type")).toBe("PUB");
    expect(parseCommand(frames[1]!.body)).toEqual({ name: "PING", data: Uint8Array.of(0, 10, 0xaa, 0xbb) });
    expect(bytesToHex(frames[4]!.body)).toBe(H0);
    expect(frames[7]!.body).toEqual(long);
    expect(new TextDecoder().decode(frames[9]!.body)).toBe("abc");
  });

  test("gives the same events for the stream split at every byte boundary", () => {
    for (let i = 0; i <= stream.length; i++) {
      const got = decodeAll(new ZmtpDecoder(), [stream.subarray(0, i), stream.subarray(i)]);
      expect(got).toEqual(expected);
    }
  });

  test("gives the same events when fed one byte at a time", () => {
    const chunks = Array.from(stream, (b) => Uint8Array.of(b));
    expect(decodeAll(new ZmtpDecoder(), chunks)).toEqual(expected);
  });

  test("emits frames decoded before a protocol error, then stays failed", () => {
    const d = new ZmtpDecoder(DEFAULT_MAX_FRAME_BYTES, false);
    const events: ZmtpEvent[] = [];
    const bad = concat([encodeFrame(utf8("ok")), Uint8Array.of(0x80, 1, 0)]);
    expect(() => d.push(bad, (ev) => events.push(ev))).toThrow(ZmtpProtocolError);
    expect(events.length).toBe(1);
    expect(() => d.push(encodeFrame(utf8("later")), () => {})).toThrow(/reserved frame flag/);
  });

  const rejects: [string, Uint8Array, RegExp, number?][] = [
    ["an HTTP reply instead of a greeting", utf8("HTTP/1.1 400 Bad Request\r\n\r\n"), /bad ZMTP signature/],
    ["a signature without 0x7F", concat([Uint8Array.of(0xff), new Uint8Array(8), Uint8Array.of(0x01)]), /byte 9/],
    ["a ZMTP 2.0 greeting", concat([encodeGreeting().subarray(0, 10), Uint8Array.of(1, 0)]), /version 1/],
  ];
  for (const [what, bytes, re] of rejects) {
    test(`rejects ${what} as soon as the bad byte arrives`, () => {
      expect(() => new ZmtpDecoder().push(bytes, () => {})).toThrow(re);
    });
  }

  test("rejects frames over the size limit before buffering them", () => {
    // 2^40 bytes announced: must fail on the header, not try to allocate.
    const huge = Uint8Array.of(FLAG_LONG, 0, 0, 1, 0, 0, 0, 0, 0);
    expect(() => new ZmtpDecoder(DEFAULT_MAX_FRAME_BYTES, false).push(huge, () => {})).toThrow(/exceeds/);
    const overLimit = encodeFrame(new Uint8Array(2000));
    expect(() => new ZmtpDecoder(1024, false).push(overLimit.subarray(0, 9), () => {})).toThrow(/2000 bytes exceeds the 1024/);
    expect(() => new ZmtpDecoder(1024, false).push(encodeFrame(new Uint8Array(1024)), () => {})).not.toThrow();
  });

  test("rejects a command frame with MORE set", () => {
    expect(() =>
      new ZmtpDecoder(DEFAULT_MAX_FRAME_BYTES, false).push(Uint8Array.of(FLAG_COMMAND | FLAG_MORE, 0), () => {}),
    ).toThrow(/command frame with MORE/);
  });
});

describe("parseZmqAddr", () => {
  test("accepts electrs' host:port, tcp:// and bracketed IPv6", () => {
    expect(parseZmqAddr("127.0.0.1:28332")).toEqual({ host: "127.0.0.1", port: 28332 });
    expect(parseZmqAddr("tcp://localhost:28332")).toEqual({ host: "localhost", port: 28332 });
    expect(parseZmqAddr("[::1]:28332")).toEqual({ host: "::1", port: 28332 });
    expect(parseZmqAddr("tcp://[::1]:1")).toEqual({ host: "::1", port: 1 });
  });
  test("rejects other schemes, missing or bad ports", () => {
    for (const bad of ["ipc:///tmp/x", "127.0.0.1", "127.0.0.1:0", "127.0.0.1:65536", "h:12x", ":28332", "::1:28332"]) {
      expect(() => parseZmqAddr(bad)).toThrow(ConfigError);
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Client against a scripted in-memory peer
// ---------------------------------------------------------------------------------------------
class FakePeer {
  readonly written: Uint8Array[] = [];
  closedByClient = false;
  private closedReported = false;
  constructor(private readonly handlers: ZmqTransportHandlers) {}
  readonly transport = {
    write: (data: Uint8Array) => {
      this.written.push(data.slice());
      bump();
    },
    close: () => {
      this.closedByClient = true;
      this.hangUp();
    },
  };
  feed(bytes: Uint8Array) {
    this.handlers.data(bytes);
  }
  /** The peer (or the network) closes the connection. */
  hangUp(err?: Error) {
    if (this.closedReported) return;
    this.closedReported = true;
    queueMicrotask(() => {
      this.handlers.closed(err);
      bump();
    });
  }
  /** What the client sent, decoded from the publisher's side. */
  received(): ZmtpEvent[] {
    return decodeAll(new ZmtpDecoder(), [concat(this.written)]);
  }
}

function fakeNetwork(script: (peer: FakePeer, index: number) => void = () => {}) {
  const peers: FakePeer[] = [];
  const connect: ZmqConnect = (_host, _port, handlers) => {
    const peer = new FakePeer(handlers);
    peers.push(peer);
    queueMicrotask(() => {
      handlers.open();
      script(peer, peers.length - 1);
      bump();
    });
    return peer.transport;
  };
  return { peers, connect };
}

/** Play a well-behaved publisher's side of the handshake. */
function handshake(peer: FakePeer) {
  peer.feed(concat([libzmqGreeting(), encodeReady({ "Socket-Type": "PUB", Identity: "" })]));
}

const subs: HashblockSubscription[] = [];
function subscribe(opts: Omit<Parameters<typeof subscribeHashblock>[0], "onBlockHash"> & { onBlockHash?: (h: string) => void }) {
  const hashes: string[] = [];
  const sub = subscribeHashblock({
    retryMinMs: 5,
    retryMaxMs: 40,
    ...opts,
    onBlockHash: (h) => {
      hashes.push(h);
      bump();
      opts.onBlockHash?.(h);
    },
  });
  subs.push(sub);
  return { sub, hashes };
}

afterEach(async () => {
  await Promise.all(subs.splice(0).map((s) => s.close()));
});

describe("subscribeHashblock (scripted peer)", () => {
  test("handshakes as a ZMTP 3.0 NULL SUB and subscribes to exactly 'hashblock'", async () => {
    const net = fakeNetwork(handshake);
    const { log, lines } = capture();
    const { sub } = subscribe({ addr: "127.0.0.1:28332", log, connect: net.connect });
    await sub.connected;
    const peer = net.peers[0]!;
    const got = peer.received();
    expect(got[0]).toEqual({ type: "greeting", greeting: { major: 3, minor: 0, mechanism: "NULL", asServer: false } });
    expect(concat(peer.written).subarray(0, 11)).toEqual(Uint8Array.of(0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0x7f, 3));
    const ready = got[1]!.type === "frame" ? parseCommand(got[1]!.frame.body) : null;
    expect(ready?.name).toBe("READY");
    expect([...parseMetadata(ready!.data)]).toEqual([["socket-type", "SUB"]]);
    expect(got[2]).toEqual({ type: "frame", frame: { more: false, command: false, body: concat([Uint8Array.of(1), utf8("hashblock")]) } });
    expect(got.length).toBe(3);
    expect(lines).toContain("INFO  subscribed to hashblock notifications from zmq publisher at 127.0.0.1:28332");
  });

  test("delivers display-order hashes in order, split anywhere; ignores other topics and commands", async () => {
    const net = fakeNetwork(handshake);
    const { log } = capture();
    const { sub, hashes } = subscribe({ addr: "tcp://127.0.0.1:28332", log, connect: net.connect });
    await sub.connected;
    const peer = net.peers[0]!;
    const stream = concat([
      encodeCommand("PING", Uint8Array.of(0, 30, 1, 2, 3)),
      encodeMessage([utf8("rawtx"), new Uint8Array(300), seqLE(0)]),
      hashblockMessage(H0, 0),
      encodeCommand("SOMETHING-NEW", utf8("x")),
      // PUB filters by prefix, so this topic does reach a "hashblock" subscriber.
      encodeMessage([utf8("hashblockx"), new Uint8Array(32), seqLE(0)]),
      encodeMessage([utf8("hashblock"), hexToBytes(H1)]), // pre-0.13 Core: no sequence part
      hashblockMessage(hashN(2), 2),
    ]);
    const perPass = [H0, H1, hashN(2)];
    // Split at a few awkward places, then byte by byte: the result must not depend on chunking.
    const cuts = [1, 2, 9, 10, 11, 50, stream.length - 1];
    let pos = 0;
    for (const c of cuts) {
      peer.feed(stream.subarray(pos, c));
      pos = c;
    }
    peer.feed(stream.subarray(pos));
    for (const b of stream) peer.feed(Uint8Array.of(b));
    expect(hashes).toEqual([...perPass, ...perPass]);
    // PING answered with PONG carrying the context, once per pass.
    const pongs = peer
      .received()
      .flatMap((ev) => (ev.type === "frame" && ev.frame.command ? [parseCommand(ev.frame.body)] : []))
      .filter((c) => c.name === "PONG");
    expect(pongs).toEqual([
      { name: "PONG", data: Uint8Array.of(1, 2, 3) },
      { name: "PONG", data: Uint8Array.of(1, 2, 3) },
    ]);
    expect(peer.closedByClient).toBe(false);
    expect(net.peers.length).toBe(1);
  });

  test("a throwing onBlockHash is logged and does not drop the connection", async () => {
    const net = fakeNetwork(handshake);
    const { log, lines } = capture();
    const { sub, hashes } = subscribe({
      addr: "127.0.0.1:1",
      log,
      connect: net.connect,
      onBlockHash: () => {
        throw new Error("boom");
      },
    });
    await sub.connected;
    net.peers[0]!.feed(concat([hashblockMessage(H0, 0), hashblockMessage(H1, 1)]));
    expect(hashes).toEqual([H0, H1]);
    expect(count(lines, "ERROR hashblock handler failed: boom")).toBe(2);
    expect(net.peers[0]!.closedByClient).toBe(false);
  });

  const malformed: [string, (peer: FakePeer) => void, RegExp][] = [
    ["a 31-byte hashblock body", (p) => p.feed(encodeMessage([utf8("hashblock"), new Uint8Array(31), seqLE(0)])), /body of 31 bytes/],
    ["a 4-part hashblock message", (p) => p.feed(encodeMessage([utf8("hashblock"), new Uint8Array(32), seqLE(0), seqLE(0)])), /more than 3 parts/],
    ["a 2-byte sequence", (p) => p.feed(encodeMessage([utf8("hashblock"), new Uint8Array(32), new Uint8Array(2)])), /2-byte sequence/],
    ["an oversized frame", (p) => p.feed(Uint8Array.of(FLAG_LONG, 0, 0, 0, 0, 0x10, 0, 0, 1)), /exceeds/],
    ["reserved flag bits", (p) => p.feed(Uint8Array.of(0x40, 0)), /reserved frame flag/],
  ];
  for (const [what, misbehave, re] of malformed) {
    test(`${what}: logs, drops the connection, reconnects and keeps working`, async () => {
      const net = fakeNetwork((peer, i) => {
        handshake(peer);
        if (i === 0) misbehave(peer);
        else peer.feed(hashblockMessage(H1, 0));
      });
      const { log, lines } = capture();
      const { hashes } = subscribe({ addr: "127.0.0.1:1", log, connect: net.connect });
      await until("the hash from the second connection", () => hashes.length === 1);
      expect(hashes).toEqual([H1]);
      expect(net.peers[0]!.closedByClient).toBe(true);
      const warns = lines.filter((l) => l.startsWith("WARN"));
      expect(warns.length).toBe(1);
      expect(warns[0]).toMatch(/zmq protocol error from 127\.0\.0\.1:1: /);
      expect(warns[0]).toMatch(re);
      expect(count(lines, "INFO  subscribed")).toBe(2);
    });
  }

  const badHandshakes: [string, (peer: FakePeer) => void, RegExp][] = [
    ["an ERROR command", (p) => p.feed(concat([libzmqGreeting(), encodeCommand("ERROR", concat([Uint8Array.of(6), utf8("denied")]))])), /refused the handshake: denied/],
    ["a REP socket", (p) => p.feed(concat([libzmqGreeting(), encodeReady({ "Socket-Type": "REP" })])), /socket type is REP/],
    ["a CURVE publisher", (p) => p.feed(Object.assign(libzmqGreeting(), { 12: 0x43, 13: 0x55, 14: 0x52, 15: 0x56, 16: 0x45 })), /mechanism CURVE/],
    ["a message before READY", (p) => p.feed(concat([libzmqGreeting(), encodeFrame(utf8("hi"))])), /before READY/],
  ];
  for (const [what, misbehave, re] of badHandshakes) {
    test(`handshake with ${what} is a protocol error and is retried`, async () => {
      const net = fakeNetwork(misbehave);
      const { log, lines } = capture();
      const { sub } = subscribe({ addr: "127.0.0.1:1", log, connect: net.connect });
      await until("three attempts", () => net.peers.length >= 3);
      const warns = lines.filter((l) => l.startsWith("WARN"));
      expect(warns.length).toBe(1); // once per outage, not once per attempt
      expect(warns[0]).toMatch(re);
      expect(count(lines, "DEBUG zmq protocol error")).toBeGreaterThanOrEqual(1);
      let settled = false;
      sub.connected.then(() => (settled = true)).catch(() => (settled = true));
      await sub.close();
      await expect(sub.connected).rejects.toThrow(/closed before it connected/);
      expect(settled).toBe(true);
    });
  }

  test("a peer that never completes the handshake is timed out and retried", async () => {
    const net = fakeNetwork((peer, i) => {
      if (i > 0) handshake(peer); // the first one stays silent
    });
    const { log, lines } = capture();
    const { sub } = subscribe({ addr: "127.0.0.1:1", log, connect: net.connect, handshakeTimeoutMs: 50 });
    await sub.connected;
    expect(net.peers.length).toBe(2);
    expect(net.peers[0]!.closedByClient).toBe(true);
    expect(lines.filter((l) => l.startsWith("WARN"))).toEqual(["WARN  zmq handshake with 127.0.0.1:1 timed out; will keep retrying"]);
  });

  test("one WARN per outage, INFO on each (re)connect, backoff between refused attempts", async () => {
    let refuse = true;
    const net = fakeNetwork((peer) => (refuse ? peer.hangUp(new Error("Connection refused")) : handshake(peer)));
    const { log, lines } = capture();
    const { sub } = subscribe({ addr: "127.0.0.1:1", log, connect: net.connect, retryMinMs: 1, retryMaxMs: 8 });
    await until("five refused attempts", () => net.peers.length >= 5);
    refuse = false;
    await sub.connected;
    expect(count(lines, "WARN")).toBe(1);
    expect(lines[0]).toBe("DEBUG connecting to zmq publisher at 127.0.0.1:1");
    expect(lines.find((l) => l.startsWith("WARN"))).toBe(
      "WARN  cannot subscribe to zmq publisher at 127.0.0.1:1: Connection refused; will keep retrying",
    );
    expect(count(lines, "INFO")).toBe(1);
    // The publisher goes away: a new outage, a new WARN.
    refuse = true;
    const before = net.peers.length;
    net.peers.at(-1)!.hangUp();
    await until("reconnect attempts", () => net.peers.length >= before + 3);
    expect(lines.filter((l) => l.startsWith("WARN"))[1]).toBe("WARN  zmq connection to 127.0.0.1:1 lost; will keep retrying");
    refuse = false;
    await until("second INFO", () => count(lines, "INFO") === 2);
    expect(count(lines, "WARN")).toBe(2);
  });

  test("close() stops reconnecting and resolves; connected rejects if it never connected", async () => {
    const net = fakeNetwork((peer) => peer.hangUp(new Error("Connection refused")));
    const { log } = capture();
    const sub = subscribeHashblock({ addr: "127.0.0.1:1", log, connect: net.connect, onBlockHash: () => {}, retryMinMs: 1, retryMaxMs: 1 });
    await until("two attempts", () => net.peers.length >= 2);
    await sub.close();
    await sub.close(); // idempotent
    await expect(sub.connected).rejects.toThrow();
    const n = net.peers.length;
    // No timers may survive close(): a 1 ms retry would have fired by the time this one does.
    await new Promise((r) => setTimeout(r, 20));
    expect(net.peers.length).toBe(n);
  });

  test("an invalid address is a ConfigError at subscribe time", () => {
    const { log } = capture();
    expect(() => subscribeHashblock({ addr: "nope", log, onBlockHash: () => {} })).toThrow(ConfigError);
  });
});

// ---------------------------------------------------------------------------------------------
// Over real TCP: garbage and misbehaving servers (Bun.listen)
// ---------------------------------------------------------------------------------------------
describe("subscribeHashblock over TCP against fake servers", () => {
  test("garbage from the server: logs once, reconnects, never throws", async () => {
    let connections = 0;
    const server = Bun.listen({
      hostname: "127.0.0.1",
      port: 0,
      socket: {
        open(s) {
          connections++;
          bump();
          s.write("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
        },
        data() {},
      },
    });
    try {
      const { log, lines } = capture();
      const { sub, hashes } = subscribe({ addr: `127.0.0.1:${server.port}`, log });
      await until("three connections", () => connections >= 3, 10_000);
      const warns = lines.filter((l) => l.startsWith("WARN"));
      expect(warns.length).toBe(1);
      expect(warns[0]).toContain(`zmq protocol error from 127.0.0.1:${server.port}: bad ZMTP signature (first byte 0x48)`);
      expect(hashes).toEqual([]);
      await sub.close();
      await expect(sub.connected).rejects.toThrow();
    } finally {
      server.stop(true);
    }
  }, 15_000);

  test("a server that handshakes, then sends a malformed message, then a good one on reconnect", async () => {
    let connections = 0;
    const server = Bun.listen({
      hostname: "127.0.0.1",
      port: 0,
      socket: {
        open(s) {
          const n = connections++;
          bump();
          // Greeting, READY and the payload in one write: the client must cope with all three
          // arriving in one chunk before it has even sent its READY.
          const payload =
            n === 0
              ? encodeMessage([utf8("hashblock"), new Uint8Array(5), seqLE(0)])
              : hashblockMessage(H0, 0);
          s.write(concat([libzmqGreeting(), encodeReady({ "Socket-Type": "PUB" }), payload]));
        },
        data() {},
      },
    });
    try {
      const { log, lines } = capture();
      const { sub, hashes } = subscribe({ addr: `127.0.0.1:${server.port}`, log });
      await until("the hash from the second connection", () => hashes.length >= 1, 10_000);
      expect(hashes[0]).toBe(H0);
      expect(connections).toBe(2);
      expect(lines.filter((l) => l.startsWith("WARN")).length).toBe(1);
      await sub.close();
    } finally {
      server.stop(true);
    }
  }, 15_000);

  test("close() while the connect is still pending resolves promptly", async () => {
    // Nothing listens on this port (bound, then released), so the connect is refused or pending.
    const probe = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    const port = probe.port;
    probe.stop(true);
    const { log } = capture();
    const sub = subscribeHashblock({ addr: `127.0.0.1:${port}`, log, onBlockHash: () => {} });
    await sub.close();
    await expect(sub.connected).rejects.toThrow();
  });
});

// ---------------------------------------------------------------------------------------------
// Against real libzmq (node child running test/helpers/zmq-publisher.mjs)
// ---------------------------------------------------------------------------------------------
const HELPER = join(import.meta.dir, "../../helpers/zmq-publisher.mjs");

class NodePublisher {
  readonly lines: string[] = [];
  private stderr = "";
  private constructor(private readonly proc: Subprocess<"pipe", "pipe", "pipe">) {}

  static async start(args: string[] = []): Promise<NodePublisher> {
    const proc = Bun.spawn(["node", HELPER, ...args], { stdin: "pipe", stdout: "pipe", stderr: "pipe" });
    const pub = new NodePublisher(proc);
    live.add(pub);
    void pub.pump(proc.stdout, (line) => pub.lines.push(line));
    void pub.pump(proc.stderr, (line) => (pub.stderr += line + "\n"));
    await until("the publisher's endpoint", () => pub.lines.some((l) => l.startsWith("endpoint ")) || pub.exitedEarly(), 10_000);
    if (!pub.endpoint) throw new Error(`zmq-publisher failed to start: ${pub.stderr}`);
    return pub;
  }

  private exitedEarly(): boolean {
    return this.proc.exitCode !== null;
  }

  private async pump(stream: ReadableStream<Uint8Array>, onLine: (line: string) => void) {
    const decoder = new TextDecoder();
    let buf = "";
    for await (const chunk of stream) {
      buf += decoder.decode(chunk, { stream: true });
      let nl: number;
      while ((nl = buf.indexOf("\n")) >= 0) {
        onLine(buf.slice(0, nl));
        buf = buf.slice(nl + 1);
        bump();
      }
    }
    bump();
  }

  get endpoint(): string | undefined {
    return this.lines.find((l) => l.startsWith("endpoint "))?.slice("endpoint ".length);
  }
  get port(): number {
    return Number(this.endpoint!.split(":").at(-1));
  }

  send(cmd: string) {
    this.proc.stdin.write(cmd + "\n");
    this.proc.stdin.flush();
  }

  async stop() {
    live.delete(this);
    if (this.proc.exitCode === null) {
      this.send("exit");
      const timer = setTimeout(() => this.proc.kill(), 5_000);
      await this.proc.exited;
      clearTimeout(timer);
    }
  }
}
const live = new Set<NodePublisher>();
afterEach(async () => {
  await Promise.all([...live].map((p) => p.stop()));
});

describe("subscribeHashblock against libzmq", () => {
  test("receives Core-style PUB notifications in order with the display hash; other topics ignored", async () => {
    const pub = await NodePublisher.start();
    const { log, lines } = capture();
    const { sub, hashes } = subscribe({ addr: `127.0.0.1:${pub.port}`, log });
    await sub.connected;
    // Slow joiner: a PUB socket silently drops what it sends before it has processed our
    // subscription, and nothing on the wire tells us when that happened. So publish a warm-up
    // hash every 50 ms until it arrives; from then on the subscription is in place.
    const warm = setInterval(() => pub.send(`pub ${H0}`), 50);
    try {
      await until("the warm-up hash", () => hashes.includes(H0), 10_000);
    } finally {
      clearInterval(warm);
    }
    const want = [H1, hashN(2), hashN(3), hashN(4), hashN(5)];
    for (const [i, h] of want.entries()) {
      pub.send(`pub ${h}`);
      if (i === 2) pub.send(`send rawtx ${"00".repeat(60)}`);
    }
    await until("the last hash", () => hashes.includes(hashN(5)));
    // Warm-up copies still in flight arrive before H1: one TCP connection keeps the order.
    const firstReal = hashes.indexOf(H1);
    expect(hashes.slice(0, firstReal).every((h) => h === H0)).toBe(true);
    expect(hashes.slice(firstReal)).toEqual(want);
    expect(count(lines, "WARN")).toBe(0);
  }, 20_000);

  test("with an XPUB handshake: exact 'hashblock' subscription, rawtx and prefix topics ignored", async () => {
    const pub = await NodePublisher.start(["--xpub"]);
    const { log } = capture();
    const { sub, hashes } = subscribe({ addr: `tcp://127.0.0.1:${pub.port}`, log });
    await sub.connected;
    // XPUB reports the subscription once it is registered, so one publish is enough.
    await until("the subscription at the publisher", () => pub.lines.includes("sub hashblock"), 10_000);
    pub.send(`send rawtx ${"00".repeat(60)}`);
    pub.send(`send hashblockx ${"11".repeat(32)}`);
    pub.send(`pub ${H1}`);
    pub.send(`send hashblockx ${"22".repeat(32)}`);
    pub.send(`pub ${H0}`);
    await until("two hashes", () => hashes.length >= 2);
    expect(hashes).toEqual([H1, H0]);
  }, 20_000);

  test("reconnects to a publisher restarted on the same port", async () => {
    const pub1 = await NodePublisher.start(["--xpub"]);
    const port = pub1.port;
    const { log, lines } = capture();
    const { sub, hashes } = subscribe({ addr: `127.0.0.1:${port}`, log, retryMinMs: 10, retryMaxMs: 100 });
    await sub.connected;
    await until("subscription 1", () => pub1.lines.includes("sub hashblock"), 10_000);
    pub1.send(`pub ${H0}`);
    await until("hash 1", () => hashes.length === 1);

    await pub1.stop();
    await until("the outage warning", () => count(lines, "WARN") === 1, 10_000);
    expect(lines.find((l) => l.startsWith("WARN"))).toContain(`zmq connection to 127.0.0.1:${port} lost`);

    const pub2 = await NodePublisher.start(["--xpub", `tcp://127.0.0.1:${port}`]);
    expect(pub2.port).toBe(port);
    await until("subscription 2", () => pub2.lines.includes("sub hashblock"), 10_000);
    pub2.send(`pub ${H1}`);
    await until("hash 2", () => hashes.length === 2);
    expect(hashes).toEqual([H0, H1]);
    expect(count(lines, "INFO  subscribed")).toBe(2);
    expect(count(lines, "WARN")).toBe(1);
  }, 30_000);
});
