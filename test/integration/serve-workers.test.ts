/**
 * --serve-workers 2 against a live bcoin node: the main thread and one serve worker take
 * connections on the same ports. Whichever thread holds a client, its answers are the same, its
 * subscriptions hear of every mempool tx, broadcast and block, and the limits count over both.
 * Connections are opened until each thread holds one (electrs_bun_electrum_clients_by_thread,
 * electrs_bun_rest_requests_by_thread_total), so every check below covers both threads.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import bcoin, { type BcoinTX } from "bcoin";
import { spawnApp, metricsUrl, type AppProcess } from "../helpers/app-process.ts";
import { liveAppArgs, stopLiveApp } from "../helpers/live-app.ts";
import { startBcoin, type BcoinNode } from "../helpers/bcoin-node.ts";
import { FIXTURE_BLOCKS } from "../helpers/fixture.ts";
import { tempDir } from "../helpers/tmp.ts";
import { LineClient as Client } from "../helpers/line-client.ts";

const T = 60_000;
const PAYEE = "0014" + "77".repeat(20);

let node: BcoinNode;
let tmp: ReturnType<typeof tempDir>;
let app: AppProcess;
let appExit: number | null = null;
let electrumPort = 0;
let restUrl = "";
let metrics = "";

const electrumScriptHash = (scriptHex: string) => Buffer.from(new Bun.CryptoHasher("sha256").update(Buffer.from(scriptHex, "hex")).digest()).reverse().toString("hex");
const restScriptHash = (scriptHex: string) => new Bun.CryptoHasher("sha256").update(Buffer.from(scriptHex, "hex")).digest("hex");

/** One metric's samples from /metrics, by their label text (`thread="1"`). */
async function samples(url: string, name: string): Promise<Map<string, number>> {
  const text = await (await fetch(url)).text();
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    const m = new RegExp(`^${name}(?:\\{([^}]*)\\})? (\\S+)$`).exec(line);
    if (m) out.set(m[1] ?? "", Number(m[2]));
  }
  return out;
}

/** A REST GET on a connection of its own (the kernel picks the thread for each). */
async function restGet(path: string): Promise<{ status: number; body: string }> {
  const r = await fetch(`${restUrl}${path}`, { headers: { connection: "close" } });
  return { status: r.status, body: await r.text() };
}

/** The same GET on fresh connections until both threads have answered it: every answer must be the same. */
async function restOnBothThreads(path: string): Promise<{ status: number; body: string }> {
  const before = await samples(metrics, "electrs_bun_rest_requests_by_thread_total");
  const answers: { status: number; body: string }[] = [];
  for (let i = 0; i < 64; i++) {
    answers.push(await restGet(path));
    const now = await samples(metrics, "electrs_bun_rest_requests_by_thread_total");
    const grew = ['thread="0"', 'thread="1"'].filter((k) => (now.get(k) ?? 0) > (before.get(k) ?? 0));
    if (grew.length === 2 && answers.length >= 2) break;
  }
  const after = await samples(metrics, "electrs_bun_rest_requests_by_thread_total");
  expect((after.get('thread="0"') ?? 0) > (before.get('thread="0"') ?? 0)).toBe(true);
  expect((after.get('thread="1"') ?? 0) > (before.get('thread="1"') ?? 0)).toBe(true);
  for (const a of answers) expect(a).toEqual(answers[0]!);
  return answers[0]!;
}

async function waitUntil<V>(what: string, get: () => Promise<V>, ok: (v: V) => boolean, ms = 20_000): Promise<V> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await get();
    if (ok(v)) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what} (last ${JSON.stringify(v)})`);
    await Bun.sleep(50);
  }
}

describe("two serving threads on a live node", () => {
  /** Connections, opened until each thread holds at least two; each subscribed to headers and PAYEE. */
  const clients: Client[] = [];
  const sh = electrumScriptHash(PAYEE);
  let paid: BcoinTX;

  beforeAll(async () => {
    node = await startBcoin();
    await node.mine(110);
    tmp = tempDir();
    app = spawnApp(liveAppArgs(node, tmp.path, ["--serve-workers", "2"]));
    void app.exited.then((code) => (appExit = code));
    metrics = await metricsUrl(app);
    await app.waitFor(/serving from 2 threads on the same ports/, T);
    const line = await app.waitFor(/startup complete: REST on (\S+), Electrum on \S+:(\d+)/, T);
    const m = /startup complete: REST on (\S+), Electrum on \S+:(\d+)/.exec(line)!;
    restUrl = m[1]!;
    electrumPort = Number(m[2]);
  }, T);

  afterAll(async () => {
    for (const c of clients) c.close();
    await stopLiveApp(app, appExit);
    await node?.close();
    tmp?.[Symbol.dispose]();
  });

  test("connections spread over both threads; each answers the same", async () => {
    for (let i = 0; i < 64; i++) {
      const c = await Client.connect(electrumPort);
      clients.push(c);
      expect(await c.result<{ height: number }>("blockchain.headers.subscribe")).toMatchObject({ height: 110 });
      expect(await c.result("blockchain.scripthash.subscribe", [sh])).toBeNull();
      const byThread = await samples(metrics, "electrs_bun_electrum_clients_by_thread");
      if ((byThread.get('thread="0"') ?? 0) >= 2 && (byThread.get('thread="1"') ?? 0) >= 2) break;
    }
    const byThread = await samples(metrics, "electrs_bun_electrum_clients_by_thread");
    expect(byThread.get('thread="0"')!).toBeGreaterThanOrEqual(2);
    expect(byThread.get('thread="1"')!).toBeGreaterThanOrEqual(2);
    // /metrics sums the threads: every client counted once.
    expect((await samples(metrics, "electrum_clients")).get("")).toBe(clients.length);
    expect((await samples(metrics, "electrum_subscriptions")).get("")).toBe(clients.length);
    // The coinbase of block 1 pays the mining script: the same history and balance on every connection.
    const miningSh = electrumScriptHash(node.miningScriptHex);
    const histories = await Promise.all(clients.map((c) => c.result<{ tx_hash: string; height: number }[]>("blockchain.scripthash.get_history", [miningSh])));
    expect(histories[0]!.length).toBe(110);
    for (const h of histories) expect(h).toEqual(histories[0]!);
    const tip = await restOnBothThreads("/blocks/tip/height");
    expect(tip).toEqual({ status: 200, body: "110" });
  }, T);

  test("a mempool tx: every subscriber hears of it, and both threads answer from the one mempool", async () => {
    const coin = bcoin.Coin.fromTX(await node.coinbaseTx(1), 0, 1);
    paid = node.spend(coin, PAYEE, 1_000_000, 10_000);
    const txid = await node.sendTx(paid.toRaw());
    for (const c of clients) {
      const n = await c.notification((n) => n.method === "blockchain.scripthash.subscribe" && n.params[0] === sh);
      expect(typeof n.params[1]).toBe("string");
    }
    for (const c of clients) {
      expect(await c.result("blockchain.scripthash.get_history", [sh])).toEqual([{ tx_hash: txid, height: 0, fee: 10_000 }]);
      expect(await c.result("blockchain.scripthash.get_balance", [sh])).toEqual({ confirmed: 0, unconfirmed: 1_000_000 });
      expect(await c.result("blockchain.scripthash.get_mempool", [sh])).toEqual([{ tx_hash: txid, height: 0, fee: 10_000 }]);
    }
    const tx = JSON.parse((await restOnBothThreads(`/tx/${txid}`)).body);
    expect(tx.status).toEqual({ confirmed: false });
    expect(tx.fee).toBe(10_000);
    // The coinbase's output is spent by the mempool tx (a spend only the mempool knows).
    const outspend = JSON.parse((await restOnBothThreads(`/tx/${(await node.coinbaseTx(1)).txid()}/outspend/0`)).body);
    expect(outspend).toEqual({ spent: true, txid, vin: 0, status: { confirmed: false } });
    const mempoolTxs = JSON.parse((await restOnBothThreads(`/scripthash/${restScriptHash(PAYEE)}/txs/mempool`)).body);
    expect(mempoolTxs.map((t: { txid: string }) => t.txid)).toEqual([txid]);
    expect(JSON.parse((await restOnBothThreads("/mempool/txids")).body)).toEqual([txid]);
  }, T);

  test("a broadcast over any thread reaches every subscriber at once", async () => {
    // A broadcast from every client: both threads hold some (the first test). Each spends an output
    // of one mature coinbase's split (in the mempool): the clients are 4 to 64, and past the 10th a
    // coinbase of its own would be immature at tip 110, which bcoin's sendrawtransaction drops silently.
    const coin = bcoin.Coin.fromTX(await node.coinbaseTx(2), 0, 2);
    const split = new bcoin.MTX();
    split.addCoin(coin);
    const eachSat = Math.floor((coin.value - 100_000) / clients.length);
    for (const _ of clients) split.addOutput({ address: node.miningAddress, value: eachSat });
    split.sign(node.miningKey);
    const splitTx = split.toTX();
    await node.sendTx(splitTx.toRaw());
    const sent: string[] = [];
    for (const [i, c] of clients.entries()) {
      const tx = node.spend(bcoin.Coin.fromTX(splitTx, i, -1), PAYEE, 2_000, 1_000);
      const txid = await c.result<string>("blockchain.transaction.broadcast", [tx.toRaw().toString("hex")]);
      expect(txid).toBe(tx.txid());
      sent.push(txid);
    }
    // Every client's status moves to include each tx: the last status equals one computed now.
    for (const c of clients) {
      await waitUntil(
        "every broadcast in this client's history",
        () => c.result<{ tx_hash: string }[]>("blockchain.scripthash.get_history", [sh]),
        (h) => sent.every((t) => h.some((e) => e.tx_hash === t)),
      );
    }
    const status = await clients[0]!.result<string>("blockchain.scripthash.subscribe", [sh]);
    for (const c of clients) {
      await c.notification((n) => n.method === "blockchain.scripthash.subscribe" && n.params[1] === status);
    }
  }, T);

  test("a block: every connection gets the new header and the confirmed status; REST agrees on both threads", async () => {
    const [hash] = await node.mine(1);
    for (const c of clients) {
      const n = await c.notification((n) => n.method === "blockchain.headers.subscribe" && (n.params[0] as { height: number }).height === 111);
      expect(n.params[0]).toMatchObject({ height: 111 });
    }
    for (const c of clients) {
      const h = await waitUntil(
        "the paid tx confirmed",
        () => c.result<{ tx_hash: string; height: number }[]>("blockchain.scripthash.get_history", [sh]),
        (h) => h.some((e) => e.tx_hash === paid.txid() && e.height === 111),
      );
      expect(h.every((e) => e.height === 111)).toBe(true);
    }
    expect(await restOnBothThreads("/blocks/tip/hash")).toEqual({ status: 200, body: hash! });
    const tx = JSON.parse((await restOnBothThreads(`/tx/${paid.txid()}`)).body);
    expect(tx.status).toMatchObject({ confirmed: true, block_height: 111, block_hash: hash });
    expect(JSON.parse((await restOnBothThreads("/mempool/txids")).body)).toEqual([]);
  }, T);

  test("a reorg: both threads drop the stale block, their caches too", async () => {
    // Warm both threads' REST caches with the tx's confirmed JSON, then replace its block.
    await restOnBothThreads(`/tx/${paid.txid()}`);
    const stale = await node.rpc.call<string>("getbestblockhash", []);
    await node.rpc.call("invalidateblock", [stale]);
    const [a, b] = await node.mine(2);
    for (const c of clients) {
      await c.notification((n) => n.method === "blockchain.headers.subscribe" && (n.params[0] as { height: number }).height === 112);
    }
    expect(await restOnBothThreads("/block-height/111")).toEqual({ status: 200, body: a! });
    expect(await restOnBothThreads("/blocks/tip/hash")).toEqual({ status: 200, body: b! });
    expect((await restOnBothThreads(`/block/${stale}/status`)).body).toContain('"in_best_chain":false');
    // The JSON both threads had cached (confirmed in the stale block) is gone with it: the tx is
    // in the new branch or the mempool (bcoin puts a stale block's txs back), never in `stale`.
    const again = await restOnBothThreads(`/tx/${paid.txid()}`);
    expect(again.status === 200 || again.status === 404).toBe(true);
    expect(again.body).not.toContain(stale);
  }, T);
});

describe("the Electrum limits count over every thread", () => {
  let offline: AppProcess;
  let dir: ReturnType<typeof tempDir>;
  let port = 0;
  let metricsAt = "";

  beforeAll(async () => {
    dir = tempDir();
    offline = spawnApp([
      "--offline", "--network", "regtest", "--blocks-dir", FIXTURE_BLOCKS, "--db-dir", dir.path, "--monitoring-addr", "127.0.0.1:0",
      "--serve-workers", "2", "--electrum-max-clients-per-ip", "3",
    ]);
    metricsAt = await metricsUrl(offline);
    const line = await offline.waitFor(/startup complete: REST on \S+, Electrum on \S+:(\d+)/, T);
    port = Number(/Electrum on \S+:(\d+)/.exec(line)![1]);
  }, T);

  afterAll(async () => {
    offline?.kill("SIGTERM");
    await offline?.exited;
    dir?.[Symbol.dispose]();
  });

  test("--electrum-max-clients-per-ip 3: a fourth client is refused whichever thread it reaches, in every round", async () => {
    const spread = new Set<string>();
    for (let round = 0; round < 12; round++) {
      const three = await Promise.all([0, 1, 2].map(() => Client.connect(port)));
      for (const c of three) expect(await c.result("server.ping")).toBeNull();
      for (const [k, v] of await samples(metricsAt, "electrs_bun_electrum_clients_by_thread")) if (v > 0) spread.add(k);
      // Refused at once: an error with id null, then a close.
      const fourth = await Client.connect(port);
      await fourth.closed;
      expect(fourth.notifications).toEqual([{ method: undefined, params: undefined, error: { code: 4, message: "too many connections from your address: at most 3" } }] as never);
      for (const c of three) c.close();
      await Promise.all(three.map((c) => c.closed));
      await waitUntil("no clients", async () => (await samples(metricsAt, "electrum_clients")).get(""), (v) => v === 0);
    }
    // Over 12 rounds the clients reached both threads (2^-35 odds otherwise).
    expect([...spread].sort()).toEqual(['thread="0"', 'thread="1"']);
  }, T);
});

describe("a serve worker that crashes", () => {
  test("is started again; meanwhile the other thread takes every connection", async () => {
    const dir = tempDir();
    const crashing = spawnApp(
      ["--offline", "--network", "regtest", "--blocks-dir", FIXTURE_BLOCKS, "--db-dir", dir.path, "--monitoring-addr", "127.0.0.1:0", "--serve-workers", "2"],
      // Failure injection: the worker throws an uncaught error once it listens, on its first start only.
      { ELECTRS_BUN_TEST_CRASH_WORKER: "1" },
    );
    try {
      const at = await metricsUrl(crashing);
      const line = await crashing.waitFor(/startup complete: REST on \S+, Electrum on \S+:(\d+)/, T);
      const port = Number(/Electrum on \S+:(\d+)/.exec(line)![1]);
      await crashing.waitFor(/serve worker 1 crashed \(.*injected crash.*\)/, T);
      // Once the thread is gone (its listeners closed), and before it is started again:
      await crashing.waitFor(/serve worker 1 stopped; starting it again in 1 s/, T);
      // Before it is back, every new connection is answered (the dead thread's listeners are gone, not left unanswered).
      const meanwhile = await Promise.all(Array.from({ length: 8 }, () => Client.connect(port)));
      for (const c of meanwhile) expect(await c.result("server.ping")).toBeNull();
      for (const c of meanwhile) c.close();
      // Started again: its listeners log a second time.
      await waitUntil("the worker listening again", async () => crashing.lines.filter((l) => /serve1\.electrum: Electrum RPC server running on/.test(l)).length, (n) => n === 2);
      const clients: Client[] = [];
      for (let i = 0; i < 64; i++) {
        const c = await Client.connect(port);
        clients.push(c);
        expect(await c.result<{ height: number }>("blockchain.headers.subscribe")).toMatchObject({ height: 137 });
        const byThread = await samples(at, "electrs_bun_electrum_clients_by_thread");
        if ((byThread.get('thread="0"') ?? 0) >= 1 && (byThread.get('thread="1"') ?? 0) >= 1) break;
      }
      const byThread = await samples(at, "electrs_bun_electrum_clients_by_thread");
      expect(byThread.get('thread="1"')!).toBeGreaterThanOrEqual(1);
      for (const c of clients) c.close();
      expect(crashing.lines.filter((l) => /crashed/.test(l)).length).toBe(1);
      // Restarted within a second of stopping, not more than once.
      expect(crashing.lines.filter((l) => /serve worker 1 stopped/.test(l)).length).toBe(1);
    } finally {
      crashing.kill("SIGTERM");
      expect(await crashing.exited).toBe(0);
      dir[Symbol.dispose]();
    }
  }, T);
});
