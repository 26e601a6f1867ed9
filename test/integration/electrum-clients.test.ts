/**
 * npm Electrum client libraries against the server process over a live node (bcoin 1.0.2 regtest,
 * in this process): `electrum-client` 0.0.6 (JSON-RPC 2.0, numeric ids) and `electrum-cash` 3.2.0
 * (no "jsonrpc" field, string ids for its version negotiation and keep-alive pings, strict about the
 * negotiated version). Each library, on its own connection: version negotiation and
 * server.features; blockchain.headers.subscribe and a header notification per mined block;
 * blockchain.scripthash.subscribe through a mempool tx, its confirmation and an unchanged status;
 * a mempool child whose parent confirms (height -1 → 0, a status change in a block that does not
 * touch the child's script; peers-and-protocol.md §1.7); a block that arrives between the server's
 * tip check and its mempool listing.
 *
 * Blocks arrive at a chosen point of the server's main-loop turn, not at a random one (BeforeAnswer):
 * by default inside bcoin's answer to the turn's first RPC (getbestblockhash), so that the outcome
 * does not depend on timing; the last test makes one arrive inside getrawmempool on purpose.
 *
 * Statuses are computed here from the txids (sha256 of "txid:height:" …, §1.7) and also from the
 * server's own get_history. Notifications must arrive within 1 s of the update they report: of the
 * server's `new tip` log line for blocks, of bcoin accepting the tx for the mempool.
 *
 * "No notification" is asserted deterministically: the server sends all notifications of one
 * main-loop update synchronously, headers first and then script hashes (subscriptions.ts
 * notify()), before it reads any later request of the connection. So once the header notification
 * of a block has arrived, the answer to a server.ping sent after it comes after every script hash
 * notification of that update.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import bcoin, { type BcoinTX } from "bcoin";
import ElectrumClient from "electrum-client";
import { ElectrumClient as ElectrumCashClient } from "electrum-cash";
import { spawnApp, type AppProcess } from "../helpers/app-process.ts";
import { liveAppArgs, stopLiveApp } from "../helpers/live-app.ts";
import { startBcoin, type BcoinNode } from "../helpers/bcoin-node.ts";
import { tempDir } from "../helpers/tmp.ts";
import { NAME, VERSION } from "../../src/version.ts";

const T = 60_000;
/** Bound on any single wait for the server (a notification, a reply, a log line). */
const WAIT_MS = 15_000;
/** The bound: a notification is pushed within 1 s of the index/mempool update. */
const PUSH_MS = 1_000;
const FEE = 10_000;
const PAYMENT = 1_000_000;
const HEADERS = "blockchain.headers.subscribe";
const SCRIPTHASH = "blockchain.scripthash.subscribe";
const SERVER_VERSION = `${NAME} ${VERSION}`;

// ---------------------------------------------------------------------------------------------
// Hashes

const sha256 = (data: string | Uint8Array) => new Bun.CryptoHasher("sha256").update(data).digest();
const sha256Hex = (data: string | Uint8Array) => Buffer.from(sha256(data)).toString("hex");
/** Electrum's script hash: sha256 of the output script, byte-reversed hex. */
const scripthashOf = (scriptHex: string) => Buffer.from(sha256(Buffer.from(scriptHex, "hex"))).reverse().toString("hex");
/** A block hash (display order) from its 80-byte header in hex. */
const headerHashHex = (headerHex: string) => Buffer.from(sha256(sha256(Buffer.from(headerHex, "hex")))).reverse().toString("hex");
/** §1.7: hex sha256 of "txid:height:" for each history entry in order. */
const statusOf = (entries: readonly (readonly [txidHex: string, height: number])[]) => sha256Hex(entries.map(([t, h]) => `${t}:${h}:`).join(""));

interface HistoryEntry {
  tx_hash: string;
  height: number;
  fee?: number;
}
/** The status a client computes from get_history (null for no history). */
const statusOfHistory = (h: readonly HistoryEntry[]) => (h.length === 0 ? null : statusOf(h.map((e) => [e.tx_hash, e.height] as const)));

/** An unspendable P2WSH output script (a witness program nobody has the script of), distinct per n. */
const unspendable = (n: number) => "0020" + n.toString(16).padStart(2, "0").repeat(32);

// ---------------------------------------------------------------------------------------------
// Deadlines and the notifications a client received

async function within<T>(ms: number, what: string, p: Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms)));
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}

interface Note {
  readonly method: string;
  readonly params: readonly unknown[];
  /** performance.now() when the library handed it over. */
  readonly atMs: number;
}

/** Every notification a client received, in order, with a wait for the next one matching. */
class NoteLog {
  readonly notes: Note[] = [];
  private wakers: (() => void)[] = [];

  add(method: string, params: readonly unknown[]): void {
    this.notes.push({ method, params, atMs: performance.now() });
    for (const wake of this.wakers.splice(0)) wake();
  }

  popLast(): Note | undefined {
    return this.notes.pop();
  }

  /** The first notification at index ≥ `from` that `match`es; throws after WAIT_MS. */
  async next(what: string, from: number, match: (n: Note) => boolean): Promise<{ note: Note; index: number }> {
    const deadline = performance.now() + WAIT_MS;
    for (;;) {
      const index = this.notes.findIndex((n, i) => i >= from && match(n));
      if (index >= 0) return { note: this.notes[index]!, index };
      const left = deadline - performance.now();
      if (left <= 0) throw new Error(`timed out after ${WAIT_MS} ms waiting for ${what}; received since: ${JSON.stringify(this.notes.slice(from))}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.wakers.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  header(height: number, from: number) {
    return this.next(`the header notification of height ${height}`, from, (n) => n.method === HEADERS && (n.params[0] as { height?: unknown })?.height === height);
  }

  /** The next script hash notification of `sh`, whatever its status. */
  scripthash(sh: string, from: number) {
    return this.next(`a notification of script hash ${sh}`, from, (n) => n.method === SCRIPTHASH && n.params[0] === sh);
  }

  /** The statuses notified for `sh`, in order. */
  statuses(sh: string): unknown[] {
    return this.notes.filter((n) => n.method === SCRIPTHASH && n.params[0] === sh).map((n) => n.params[1]);
  }
}

// ---------------------------------------------------------------------------------------------
// One interface over both libraries

interface TipJson {
  height: number;
  hex: string;
}

interface LibClient {
  readonly notes: NoteLog;
  /** server.version's answer, as the library received it: [software, protocol]. */
  readonly negotiated: readonly [string, string];
  request(method: string, ...params: (string | number)[]): Promise<unknown>;
  subscribeHeaders(): Promise<TipJson>;
  subscribeScripthash(sh: string): Promise<string | null>;
  close(): Promise<void>;
}

interface Library {
  readonly name: string;
  /** The protocol version the server must agree to. */
  readonly protocol: string;
  connect(port: number): Promise<LibClient>;
}

/** electrum-client: JSON-RPC 2.0 with numeric ids; negotiates a version range here. */
async function connectElectrumClient(port: number): Promise<LibClient> {
  const c = new ElectrumClient(port, "127.0.0.1", "tcp");
  const notes = new NoteLog();
  for (const method of [HEADERS, SCRIPTHASH]) c.subscribe.on(method, (params: unknown[]) => notes.add(method, params));
  const closed = new Promise<void>((resolve) => c.conn.once("close", () => resolve()));
  await within(WAIT_MS, "electrum-client connect", c.connect());
  const request = async (method: string, params: unknown[]) => {
    try {
      return await within(WAIT_MS, method, c.request(method, params));
    } catch (err) {
      throw err instanceof Error ? err : new Error(`${method}: ${JSON.stringify(err)}`);
    }
  };
  const negotiated = (await request("server.version", ["electrum-client test", ["1.4", "1.6"]])) as [string, string];
  return {
    notes,
    negotiated,
    request: (method, ...params) => request(method, params),
    subscribeHeaders: async () => (await request(HEADERS, [])) as TipJson,
    subscribeScripthash: async (sh) => (await request(SCRIPTHASH, [sh])) as string | null,
    close: async () => {
      c.close();
      await within(WAIT_MS, "electrum-client socket close", closed);
    },
  };
}

/**
 * electrum-cash: no "jsonrpc" field; server.version is sent by connect() with id "versionNegotiation"
 * and the connection is refused unless the server agrees to exactly the version asked for.
 * subscribe() re-emits the subscription's answer as a "notification" event; the adapter takes it back out.
 */
async function connectElectrumCash(port: number): Promise<LibClient> {
  const c = new ElectrumCashClient("electrum-cash test", "1.5", "127.0.0.1", port, "tcp", WAIT_MS);
  const notes = new NoteLog();
  const seen: { version?: [string, string] } = {};
  c.connection.on("version", (v: { software?: string; protocol?: string }) => (seen.version = [String(v.software), String(v.protocol)]));
  c.on("notification", (msg: { method: string; params?: unknown[] }) => notes.add(msg.method, msg.params ?? []));
  await within(WAIT_MS, "electrum-cash connect", c.connect());
  const negotiated = seen.version;
  if (negotiated === undefined) throw new Error("electrum-cash connected without a server.version answer");
  const request = async (method: string, ...params: (string | number)[]) => {
    const r = await within(WAIT_MS, method, c.request(method, ...params));
    if (r instanceof Error) throw new Error(`${method}: ${r.message}`);
    return r;
  };
  /** subscribe() resolves right after emitting the answer as a notification: no network event comes between. */
  const subscribe = async (method: string, ...params: string[]) => {
    await within(WAIT_MS, method, c.subscribe(method, ...params));
    const echo = notes.popLast();
    if (echo?.method !== method) throw new Error(`electrum-cash did not echo the ${method} answer: ${JSON.stringify(echo)}`);
    const result = echo.params.at(-1);
    if (result instanceof Error) throw new Error(`${method}: ${result.message}`);
    return result;
  };
  return {
    notes,
    negotiated,
    request,
    subscribeHeaders: async () => (await subscribe(HEADERS)) as TipJson,
    subscribeScripthash: async (sh) => (await subscribe(SCRIPTHASH, sh)) as string | null,
    close: async () => {
      await within(WAIT_MS, "electrum-cash disconnect", c.disconnect(true));
    },
  };
}

const LIBRARIES: readonly Library[] = [
  { name: "electrum-client", protocol: "1.6", connect: connectElectrumClient },
  { name: "electrum-cash", protocol: "1.5", connect: connectElectrumCash },
];

// ---------------------------------------------------------------------------------------------
// The node, the server, and transactions

let node: BcoinNode;
let tmp: ReturnType<typeof tempDir>;
let app: AppProcess;
let electrumPort = 0;
let exitCode: number | null = null;
/** The next mature coinbase to spend (110 blocks are mined first: heights 1–10 are mature). */
let nextCoinbaseHeight = 1;

/** Spends the next mature coinbase: PAYMENT to `payeeScriptHex`, the change (minus FEE) back to the mining address. */
async function payFromCoinbase(payeeScriptHex: string): Promise<BcoinTX> {
  const height = nextCoinbaseHeight++;
  return node.spend(bcoin.Coin.fromTX(await node.coinbaseTx(height), 0, height), payeeScriptHex, PAYMENT, FEE);
}

type RpcHandler = (this: unknown, args: unknown[], help: boolean) => Promise<unknown>;
/** The server's RPCs that a test can make a block arrive in. */
type ServerRpc = "getbestblockhash" | "getrawmempool";

/**
 * Runs a test's action inside bcoin's handling of the server's next call of an RPC, before bcoin
 * answers it: a block then arrives at an exact point of the server's main-loop turn, not at a
 * random one. (bcoin updates its mempool for a block before submitblock/generate answer, so the
 * node itself is consistent when the server's call is answered.)
 */
class BeforeAnswer {
  private readonly armed = new Map<ServerRpc, () => Promise<void>>();

  constructor(n: BcoinNode) {
    const calls = (n.node.rpc as unknown as { calls: Record<string, RpcHandler> }).calls;
    const armed = this.armed;
    for (const method of ["getbestblockhash", "getrawmempool"] as const) {
      const original = calls[method]!;
      calls[method] = async function (this: unknown, args, help) {
        const action = armed.get(method);
        armed.delete(method);
        if (action) await action();
        return original.call(this, args, help);
      };
    }
  }

  /** Runs `action` when the server next calls `method`, which waits for it; resolves with its result. */
  next<T>(method: ServerRpc, action: () => Promise<T>): Promise<T> {
    if (this.armed.has(method)) throw new Error(`an action already waits for the server's next ${method}`);
    return new Promise<T>((resolve, reject) => this.armed.set(method, () => action().then(resolve, reject)));
  }
}
let beforeAnswer: BeforeAnswer;

/** Resolves with performance.now() when the server logs its new tip `height` (call before mining it). */
function tipLogged(height: number): Promise<number> {
  const seen = app.waitFor(new RegExp(`new tip: height ${height} \\(`), WAIT_MS).then(() => performance.now());
  seen.catch(() => {}); // a test that fails before awaiting it reports its own error
  return seen;
}

/**
 * Mines one block (all of bcoin's mempool, or exactly `only`); returns its height, hash, and when
 * the server logged it. By default the block arrives as the server asks for the node's tip (the
 * first RPC of a main-loop turn), so that the turn sees the node's chain and mempool after the
 * block; `during: "getrawmempool"` makes it arrive between the index's tip check and the mempool
 * listing instead.
 */
async function mine(only?: BcoinTX[], during: ServerRpc = "getbestblockhash"): Promise<{ height: number; hashHex: string; loggedAtMs: Promise<number> }> {
  const height = node.node.chain.height + 1;
  const loggedAtMs = tipLogged(height);
  const build = async () => (only ? node.mineBlockWith(only) : (await node.mine(1))[0]!);
  const hashHex = await within(WAIT_MS, `block ${height} mined during the server's ${during}`, beforeAnswer.next(during, build));
  return { height, hashHex, loggedAtMs };
}

beforeAll(async () => {
  node = await startBcoin();
  beforeAnswer = new BeforeAnswer(node);
  await node.mine(110);
  tmp = tempDir();
  app = spawnApp(liveAppArgs(node, tmp.path));
  void app.exited.then((code) => (exitCode = code));
  const line = await app.waitFor(/Electrum RPC server running on 127\.0\.0\.1:\d+/, T);
  electrumPort = Number(/running on 127\.0\.0\.1:(\d+)/.exec(line)![1]);
  await app.waitFor(/index ready at height 110\b/, T);
  await app.waitFor(/startup complete/, T);
}, T);

afterAll(async () => {
  await stopLiveApp(app, exitCode);
  await node?.close();
  tmp?.[Symbol.dispose]();
}, T);

// ---------------------------------------------------------------------------------------------
// The same scenarios for each library, on its own scripts

LIBRARIES.forEach((lib, libIndex) => {
  describe(`${lib.name} against the server`, () => {
    let client: LibClient;
    let subscribedTip: TipJson;
    /** Script numbers of this library's unspendable scripts. */
    const scriptBase = 0x10 * (libIndex + 1);

    /** Parent A paying S1 (a fresh key's P2PKH, so that B can spend it), child B spending A:0 to `s2Hex`. */
    const parentAndChild = async (s2Hex: string) => {
      const key = bcoin.KeyRing.generate(true);
      const s1 = bcoin.Script.fromAddress(key.getAddress()).toRaw().toString("hex");
      const parent = await payFromCoinbase(s1);
      const mtx = new bcoin.MTX();
      mtx.addCoin(bcoin.Coin.fromTX(parent, 0, -1));
      mtx.addOutput({ script: bcoin.Script.fromRaw(Buffer.from(s2Hex, "hex")), value: PAYMENT - FEE });
      mtx.sign(key);
      return { parent, child: mtx.toTX(), sh1: scripthashOf(s1), sh2: scripthashOf(s2Hex) };
    };
    const history = async (sh: string) => (await client.request("blockchain.scripthash.get_history", sh)) as HistoryEntry[];
    /** Everything the server sent before the answer to this ping has arrived. */
    const barrier = () => client.request("server.ping");

    beforeAll(async () => {
      client = await lib.connect(electrumPort);
      subscribedTip = await client.subscribeHeaders();
    }, T);

    afterAll(async () => {
      await client?.close();
    }, T);

    test("server.version negotiates, server.features names our chain", async () => {
      expect(client.negotiated).toEqual([SERVER_VERSION, lib.protocol]);
      const features = (await client.request("server.features")) as Record<string, unknown>;
      expect(features).toMatchObject({
        genesis_hash: await node.rpc.call<string>("getblockhash", [0]),
        hash_function: "sha256",
        server_version: SERVER_VERSION,
        protocol_min: "1.4",
        protocol_max: "1.6",
        pruning: null,
      });
      // The host we are connected to, with the port the server really listens on.
      expect(features.hosts).toEqual({ "127.0.0.1": { tcp_port: electrumPort, ssl_port: null } });
    }, T);

    test("headers.subscribe answers the tip; a mined block is notified with its header", async () => {
      expect(subscribedTip.height).toBe(node.node.chain.height);
      expect(headerHashHex(subscribedTip.hex)).toBe(node.node.chain.tip.rhash());

      const from = client.notes.notes.length;
      const block = await mine();
      const { note } = await client.notes.header(block.height, from);
      const tip = note.params[0] as TipJson;
      expect(tip.hex).toMatch(/^[0-9a-f]{160}$/);
      expect(headerHashHex(tip.hex)).toBe(block.hashHex);
      expect(note.atMs - (await block.loggedAtMs)).toBeLessThan(PUSH_MS);
      // One notification for one block.
      await barrier();
      expect(client.notes.notes.slice(from).map((n) => n.method)).toEqual([HEADERS]);
    }, T);

    test("scripthash.subscribe: a mempool tx, its confirmation, then an unchanged status is not notified", async () => {
      const script = unspendable(scriptBase + 1);
      const sh = scripthashOf(script);
      expect(await client.subscribeScripthash(sh)).toBeNull();

      // In the mempool, its input confirmed: height 0.
      let from = client.notes.notes.length;
      const tx = await payFromCoinbase(script);
      const txid = await node.sendTx(tx.toRaw());
      const sentAtMs = performance.now();
      const inMempool = await client.notes.scripthash(sh, from);
      expect(inMempool.note.params[1]).toBe(statusOf([[txid, 0]]));
      expect(inMempool.note.atMs - sentAtMs).toBeLessThan(PUSH_MS);
      const poolHistory = await history(sh);
      expect(poolHistory).toEqual([{ tx_hash: txid, height: 0, fee: FEE }]);
      expect(statusOfHistory(poolHistory)).toBe(inMempool.note.params[1] as string);

      // Confirmed: the header first, then the script hash (one update, in subscriptions.ts's order).
      from = client.notes.notes.length;
      const block = await mine();
      const header = await client.notes.header(block.height, from);
      const confirmed = await client.notes.scripthash(sh, from);
      expect(confirmed.index).toBeGreaterThan(header.index);
      expect(confirmed.note.params[1]).toBe(statusOf([[txid, block.height]]));
      expect(confirmed.note.atMs - (await block.loggedAtMs)).toBeLessThan(PUSH_MS);
      const chainHistory = await history(sh);
      expect(chainHistory).toEqual([{ tx_hash: txid, height: block.height }]);
      expect(statusOfHistory(chainHistory)).toBe(confirmed.note.params[1] as string);

      // Another block that does not touch the script: its header, and nothing for the script.
      from = client.notes.notes.length;
      const unrelated = await mine();
      await client.notes.header(unrelated.height, from);
      await barrier();
      expect(client.notes.statuses(sh)).toEqual([statusOf([[txid, 0]]), statusOf([[txid, block.height]])]);
    }, T);

    test("a mempool child whose parent confirms: height -1 → 0 is notified, though the block does not touch its script", async () => {
      const { parent, child, sh1, sh2 } = await parentAndChild(unspendable(scriptBase + 2));
      const A = parent.txid();
      const B = child.txid();
      expect(await client.subscribeScripthash(sh1)).toBeNull();
      expect(await client.subscribeScripthash(sh2)).toBeNull();

      // The parent alone: S1 sees it at height 0.
      let from = client.notes.notes.length;
      await node.sendTx(parent.toRaw());
      expect((await client.notes.scripthash(sh1, from)).note.params[1]).toBe(statusOf([[A, 0]]));

      // The child: height -1 (its parent is unconfirmed) on both scripts; height-0 txs sort first.
      from = client.notes.notes.length;
      await node.sendTx(child.toRaw());
      const sentAtMs = performance.now();
      const s2Pending = await client.notes.scripthash(sh2, from);
      expect(s2Pending.note.params[1]).toBe(statusOf([[B, -1]]));
      expect(s2Pending.note.atMs - sentAtMs).toBeLessThan(PUSH_MS);
      expect((await client.notes.scripthash(sh1, from)).note.params[1]).toBe(statusOf([[A, 0], [B, -1]]));
      expect(await history(sh2)).toEqual([{ tx_hash: B, height: -1, fee: FEE }]);
      const s1Pool = await history(sh1);
      expect(s1Pool).toEqual([{ tx_hash: A, height: 0, fee: FEE }, { tx_hash: B, height: -1, fee: FEE }]);
      expect(statusOfHistory(s1Pool)).toBe(statusOf([[A, 0], [B, -1]]));

      // An empty block: both scripts are rechecked (a parent might have confirmed), nothing changed, nothing sent.
      from = client.notes.notes.length;
      const empty = await mine([]);
      await client.notes.header(empty.height, from);
      await barrier();
      expect(client.notes.notes.slice(from).map((n) => n.method)).toEqual([HEADERS]);

      // A block with only the parent: the child, still in the mempool, goes to height 0.
      from = client.notes.notes.length;
      const withParent = await mine([parent]);
      await client.notes.header(withParent.height, from);
      const s2Parent = await client.notes.scripthash(sh2, from);
      expect(s2Parent.note.params[1]).toBe(statusOf([[B, 0]]));
      expect(s2Parent.note.atMs - (await withParent.loggedAtMs)).toBeLessThan(PUSH_MS);
      expect((await client.notes.scripthash(sh1, from)).note.params[1]).toBe(statusOf([[A, withParent.height], [B, 0]]));
      const s2Child = await history(sh2);
      expect(s2Child).toEqual([{ tx_hash: B, height: 0, fee: FEE }]);
      expect(statusOfHistory(s2Child)).toBe(statusOf([[B, 0]]));

      // The child confirmed too (bcoin mines its whole mempool).
      from = client.notes.notes.length;
      const withChild = await mine();
      await client.notes.header(withChild.height, from);
      expect((await client.notes.scripthash(sh2, from)).note.params[1]).toBe(statusOf([[B, withChild.height]]));
      expect((await client.notes.scripthash(sh1, from)).note.params[1]).toBe(statusOf([[A, withParent.height], [B, withChild.height]]));
      expect(await history(sh2)).toEqual([{ tx_hash: B, height: withChild.height }]);

      // Each status exactly once, in order.
      await barrier();
      expect(client.notes.statuses(sh2)).toEqual([statusOf([[B, -1]]), statusOf([[B, 0]]), statusOf([[B, withChild.height]])]);
      expect(client.notes.statuses(sh1)).toEqual([
        statusOf([[A, 0]]),
        statusOf([[A, 0], [B, -1]]),
        statusOf([[A, withParent.height], [B, 0]]),
        statusOf([[A, withParent.height], [B, withChild.height]]),
      ]);
    }, T);

    test("a block landing between the server's tip check and its mempool listing: the confirmed parent never leaves the history", async () => {
      const { parent, child, sh1 } = await parentAndChild(unspendable(scriptBase + 3));
      const A = parent.txid();
      const B = child.txid();
      expect(await client.subscribeScripthash(sh1)).toBeNull();
      let from = client.notes.notes.length;
      await node.sendTx(parent.toRaw());
      expect((await client.notes.scripthash(sh1, from)).note.params[1]).toBe(statusOf([[A, 0]]));
      from = client.notes.notes.length;
      await node.sendTx(child.toRaw());
      expect((await client.notes.scripthash(sh1, from)).note.params[1]).toBe(statusOf([[A, 0], [B, -1]]));

      // The block confirming A arrives after the server checked the node's tip and before it lists the
      // node's mempool, which no longer has A. A is either in the mempool or in the chain at every
      // moment: S1's next status is A confirmed and B at height 0, never a history without A.
      from = client.notes.notes.length;
      const withParent = await mine([parent], "getrawmempool");
      await client.notes.header(withParent.height, from);
      await barrier();
      // Named, so that a failure shows which history the server hashed.
      const H = withParent.height;
      const named = new Map<unknown, string>(
        [[[A, H], [B, 0]], [[B, 0]], [[A, H], [B, -1]], [[A, H], [A, 0], [B, -1]], [[A, 0], [B, -1]]].map((h) => [
          statusOf(h as [string, number][]),
          (h as [string, number][]).map(([t, height]) => `${t === A ? "A" : "B"}:${height}`).join(" "),
        ]),
      );
      expect(client.notes.statuses(sh1).slice(2).map((st) => named.get(st) ?? st)).toEqual([`A:${H} B:0`]);

      // B confirmed too: the mempool is empty again.
      from = client.notes.notes.length;
      const withChild = await mine();
      await client.notes.header(withChild.height, from);
      expect((await client.notes.scripthash(sh1, from)).note.params[1]).toBe(statusOf([[A, withParent.height], [B, withChild.height]]));
    }, T);
  });
});
