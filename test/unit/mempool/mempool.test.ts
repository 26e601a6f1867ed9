/**
 * The mempool driven by a scripted node (it plays getrawmempool / getrawtransaction /
 * getbestblockhash answers, and can change its mempool between two calls of one update) and a
 * chain index backed by a Map. Every tx is a real serialized transaction built with bitcoinjs-lib,
 * parsed by our own parser, so fees, weights and txids are those of real data.
 */
import { describe, expect, test } from "bun:test";
import { Transaction } from "bitcoinjs-lib";
import { bytesToHex, hashToHex } from "../../../src/bitcoin/bytes.ts";
import { fromUserPass } from "../../../src/daemon/cookie.ts";
import { DaemonClient, type FetchFn } from "../../../src/daemon/rpc.ts";
import { DaemonError } from "../../../src/errors.ts";
import { createLogger, silentLogger, type Logger } from "../../../src/log.ts";
import { makeFeeHistogram, type FeeInfo } from "../../../src/mempool/fee-histogram.ts";
import { BACKLOG_STATS_TTL_MS, Mempool, mempoolMetricsOf, noopMempoolMetrics } from "../../../src/mempool/mempool.ts";
import { mempoolNodeOf } from "../../../src/mempool/node.ts";
import type { BacklogStats, MempoolChain, MempoolNode } from "../../../src/mempool/types.ts";
import { createMetrics } from "../../../src/metrics/metrics.ts";
import { scriptKeyOf } from "../../../src/store/rows.ts";
import samples from "../../fixtures/regtest-core30/rpc-samples.json";

const TIP = "00".repeat(31) + "aa";

// ---- Real transactions ----

interface Built {
  readonly raw: Uint8Array;
  /** Internal byte order. */
  readonly txid: Uint8Array;
  /** Display order. */
  readonly hex: string;
  readonly weight: number;
  readonly vsize: number;
  readonly outputs: readonly { script: Uint8Array; valueSat: number }[];
}

type Outpoint = readonly [Built | Uint8Array, number];

/** A P2WPKH-shaped script whose 20-byte program is `n` repeated: one distinct script per n. */
function script(n: number): Uint8Array {
  return Uint8Array.from([0x00, 0x14, ...new Array<number>(20).fill(n)]);
}
const OP_RETURN = Uint8Array.from([0x6a, 0x04, 1, 2, 3, 4]);

/** A version-2, RBF-signalling tx; inputs carry a dummy signature and key as witness (segwit weight). */
function build(inputs: readonly Outpoint[], outputs: readonly (readonly [Uint8Array, number])[], locktime = 0): Built {
  const t = new Transaction();
  t.version = 2;
  t.locktime = locktime;
  for (const [prev, vout] of inputs) t.addInput(prev instanceof Uint8Array ? prev : prev.txid, vout, 0xfffffffd);
  for (const [s, v] of outputs) t.addOutput(s, BigInt(v));
  inputs.forEach((_, i) => t.setWitness(i, [new Uint8Array(72).fill(0x30), new Uint8Array(33).fill(0x02)]));
  return {
    raw: t.toBuffer(),
    txid: t.getHash(),
    hex: t.getId(),
    weight: t.weight(),
    vsize: t.virtualSize(),
    outputs: outputs.map(([s, v]) => ({ script: s, valueSat: v })),
  };
}

/** A "confirmed" tx funding the given outputs (its own input is a made-up coin, never looked up). */
function confirmedTx(chain: MapChain, outputs: readonly (readonly [Uint8Array, number])[]): Built {
  const tx = build([[chain.madeUpCoin(), 0]], outputs);
  chain.confirm(tx);
  return tx;
}

const keyHex = (s: Uint8Array) => bytesToHex(scriptKeyOf(s));

// ---- Test doubles: the node's answers and the chain index ----

class ScriptedNode implements MempoolNode {
  /** The node's mempool in its listing order: display hex → raw bytes (null: listed, then unparsable garbage). */
  readonly pool = new Map<string, Uint8Array>();
  tip = TIP;
  /** Run once, right after the next getrawmempool answer is taken (the node changes meanwhile). */
  onListed: (() => void) | null = null;
  /** Run once, right after the next getrawtransaction batch is answered. */
  onFetched: (() => void) | null = null;
  fetches: string[][] = [];

  put(...txs: Built[]): void {
    for (const t of txs) this.pool.set(t.hex, t.raw);
  }
  drop(...txs: Built[]): void {
    for (const t of txs) this.pool.delete(t.hex);
  }
  async rawMempool(): Promise<string[]> {
    const listed = [...this.pool.keys()];
    const hook = this.onListed;
    this.onListed = null;
    hook?.();
    return listed;
  }
  async rawTransactions(txidHexes: readonly string[]): Promise<(Uint8Array | null)[]> {
    this.fetches.push([...txidHexes]);
    const out = txidHexes.map((h) => this.pool.get(h) ?? null);
    const hook = this.onFetched;
    this.onFetched = null;
    hook?.();
    return out;
  }
  async bestBlockHash(): Promise<string> {
    return this.tip;
  }
}

class MapChain implements MempoolChain {
  private readonly outputs = new Map<string, { scriptKey: Uint8Array; valueSat: number }>();
  tip = TIP;
  private coins = 0;
  /** A distinct txid for the input of a made-up confirmed tx. */
  madeUpCoin(): Uint8Array {
    const txid = new Uint8Array(32).fill(0xee);
    txid[0] = ++this.coins;
    return txid;
  }
  confirm(tx: Built): void {
    tx.outputs.forEach((o, vout) => {
      if (o.script[0] !== 0x6a) this.outputs.set(`${bytesToHex(tx.txid)}:${vout}`, { scriptKey: scriptKeyOf(o.script), valueSat: o.valueSat });
    });
  }
  output(txid: Uint8Array, vout: number) {
    return this.outputs.get(`${bytesToHex(txid)}:${vout}`) ?? null;
  }
  tipHashHex(): string {
    return this.tip;
  }
}

interface Setup {
  node: ScriptedNode;
  chain: MapChain;
  mempool: Mempool;
  clock: { ms: number };
  lines: string[];
}

function setup(opts: { indexUnspendables?: boolean; log?: Logger; recentTxsSize?: number; backlogStatsTtlMs?: number } = {}): Setup {
  const node = new ScriptedNode();
  const chain = new MapChain();
  const clock = { ms: 1_700_000_000_000 };
  const lines: string[] = [];
  const log = opts.log ?? createLogger({ verbosity: 1, timestamp: false, sink: (l) => lines.push(l) });
  const mempool = new Mempool({
    node,
    chain,
    log,
    metrics: noopMempoolMetrics(),
    indexUnspendables: opts.indexUnspendables ?? false,
    now: () => clock.ms,
    ...(opts.recentTxsSize !== undefined ? { recentTxsSize: opts.recentTxsSize } : {}),
    ...(opts.backlogStatsTtlMs !== undefined ? { backlogStatsTtlMs: opts.backlogStatsTtlMs } : {}),
  });
  return { node, chain, mempool, clock, lines };
}

const hexes = (txids: Uint8Array[]) => txids.map(hashToHex);
const sorted = (s: Iterable<string>) => [...s].sort();

// ---- Tests ----

describe("update", () => {
  test("a chain of 3 dependent txs listed child first is added parents first", async () => {
    const { node, chain, mempool } = setup();
    const funding = confirmedTx(chain, [[script(1), 100_000]]);
    const a = build([[funding, 0]], [[script(2), 90_000]]);
    const b = build([[a, 0]], [[script(3), 80_000]]);
    const c = build([[b, 0]], [[script(4), 70_000]]);
    node.put(c, b, a);

    expect(mempool.synced).toBe(false);
    const r = await mempool.update();
    expect(r.status).toBe("synced");
    expect(r.addedTxidsHex).toEqual([a.hex, b.hex, c.hex]);
    expect(r.removedTxidsHex).toEqual([]);
    expect(sorted(r.touchedScriptKeysHex)).toEqual(sorted([1, 2, 3, 4].map((n) => keyHex(script(n)))));
    expect(mempool.synced).toBe(true);
    expect(mempool.size).toBe(3);
    expect(node.fetches).toEqual([[c.hex, b.hex, a.hex]]); // one batch

    const eb = mempool.get(b.txid)!;
    expect(eb).toMatchObject({ txidHex: b.hex, feeSat: 10_000, vsize: b.vsize, weight: b.weight });
    expect(eb.raw).toEqual(b.raw);
    expect(eb.prevouts).toEqual([{ scriptKey: scriptKeyOf(script(2)), valueSat: 90_000, confirmed: false }]);
    expect(mempool.get(a.txid)!.prevouts).toEqual([{ scriptKey: scriptKeyOf(script(1)), valueSat: 100_000, confirmed: true }]);
    expect([a, b, c].map((t) => mempool.hasUnconfirmedParents(t.txid))).toEqual([false, true, true]);
    expect(mempool.spendOf(a.txid, 0)).toEqual({ txid: b.txid, vin: 0 });
    expect(mempool.spendOf(funding.txid, 0)).toEqual({ txid: a.txid, vin: 0 });
    expect(mempool.spendOf(c.txid, 0)).toBeNull();

    // A later child of c resolves its parent from the mempool (added by an earlier update).
    const d = build([[c, 0]], [[script(5), 60_000]]);
    node.put(d);
    const r2 = await mempool.update();
    expect(r2.addedTxidsHex).toEqual([d.hex]);
    expect(node.fetches[1]).toEqual([d.hex]);
    expect(mempool.get(d.txid)!.prevouts[0]).toMatchObject({ valueSat: 70_000, confirmed: false });
    // Nothing new: no fetch at all.
    expect((await mempool.update()).addedTxidsHex).toEqual([]);
    expect(node.fetches.length).toBe(2);
  });

  test("fee, vsize and electrs' fee rate of a segwit tx", async () => {
    const { node, chain, mempool } = setup();
    const f = confirmedTx(chain, [[script(1), 50_000], [script(1), 25_000]]);
    const t = build([[f, 0], [f, 1]], [[script(2), 60_000], [script(3), 14_000]]);
    node.put(t);
    await mempool.update();
    const e = mempool.get(t.txid)!;
    expect(t.weight % 4).not.toBe(0); // so that vsize rounds up and the rate uses the fractional vsize
    expect(e.feeSat).toBe(1_000);
    expect(e.vsize).toBe(Math.ceil(t.weight / 4));
    expect(mempool.feeHistogram()).toEqual([[1_000 / (t.weight / 4), e.vsize]]);
    expect(mempool.recent()).toEqual([{ txidHex: t.hex, feeSat: 1_000, vsize: e.vsize, valueSat: 75_000 }]);
  });

  test("a child whose parent vanished before getrawtransaction is skipped, then added when the parent returns", async () => {
    const { node, chain, mempool, lines } = setup();
    const f = confirmedTx(chain, [[script(1), 100_000]]);
    const parent = build([[f, 0]], [[script(2), 90_000]]);
    const child = build([[parent, 0]], [[script(3), 80_000]]);
    const grandchild = build([[child, 0]], [[script(4), 70_000]]);
    node.put(parent, child, grandchild);
    node.onListed = () => node.drop(parent); // gone between the two calls

    const r = await mempool.update();
    expect(r.status).toBe("synced");
    expect(r.addedTxidsHex).toEqual([]);
    expect(r.touchedScriptKeysHex.size).toBe(0);
    expect(mempool.size).toBe(0);
    expect(mempool.indexSizes).toEqual({ txs: 0, scripts: 0, edges: 0 });
    expect(mempool.spendOf(f.txid, 0)).toBeNull();
    expect(mempool.history(scriptKeyOf(script(3)))).toEqual([]);
    expect(lines.some((l) => l.startsWith("DEBUG") && l.includes(`${child.hex} skipped`))).toBe(true);
    expect(lines.some((l) => l.startsWith("WARN"))).toBe(false);

    // Still listed by the node (it came back, e.g. re-broadcast): the next update retries.
    node.put(parent);
    const r2 = await mempool.update();
    expect(sorted(r2.addedTxidsHex)).toEqual(sorted([parent.hex, child.hex, grandchild.hex]));
    expect(mempool.size).toBe(3);
  });

  test("RBF: the replaced tx leaves with all its rows and edges, the replacement takes its place", async () => {
    const { node, chain, mempool } = setup();
    const f = confirmedTx(chain, [[script(1), 100_000]]);
    const original = build([[f, 0]], [[script(2), 99_000]]);
    const child = build([[original, 0]], [[script(5), 98_000]]);
    node.put(original, child);
    await mempool.update();
    expect(mempool.indexSizes).toEqual({ txs: 2, scripts: 3, edges: 2 });

    const replacement = build([[f, 0]], [[script(3), 95_000]]);
    node.drop(original, child); // the node drops the replaced tx with its descendants
    node.put(replacement);
    const r = await mempool.update();
    expect(r.status).toBe("synced");
    expect(sorted(r.removedTxidsHex)).toEqual(sorted([original.hex, child.hex]));
    expect(r.addedTxidsHex).toEqual([replacement.hex]);
    expect(sorted(r.touchedScriptKeysHex)).toEqual(sorted([1, 2, 3, 5].map((n) => keyHex(script(n)))));
    expect(mempool.spendOf(f.txid, 0)).toEqual({ txid: replacement.txid, vin: 0 });
    expect(mempool.spendOf(original.txid, 0)).toBeNull();
    expect(mempool.history(scriptKeyOf(script(2)))).toEqual([]);
    expect(mempool.history(scriptKeyOf(script(5)))).toEqual([]);
    expect(mempool.history(scriptKeyOf(script(1)))).toEqual([
      { txid: replacement.txid, kind: "spending", index: 0, valueSat: 100_000, prevTxid: f.txid, prevVout: 0 },
    ]);
    expect(mempool.history(scriptKeyOf(script(3)))).toEqual([{ txid: replacement.txid, kind: "funding", index: 0, valueSat: 95_000 }]);
    expect(mempool.indexSizes).toEqual({ txs: 1, scripts: 2, edges: 1 });
  });

  test("RBF seen as a conflict for a moment: the newer spend owns the edge and keeps it", async () => {
    const { node, chain, mempool, lines } = setup();
    const f = confirmedTx(chain, [[script(1), 100_000]]);
    const original = build([[f, 0]], [[script(2), 99_000]]);
    node.put(original);
    await mempool.update();

    // Broadcast of the replacement: added at once, while the original is still local.
    const replacement = build([[f, 0]], [[script(3), 95_000]]);
    node.drop(original);
    node.put(replacement);
    const touched = await mempool.addTxids([replacement.hex]);
    expect(sorted(touched)).toEqual(sorted([1, 3].map((n) => keyHex(script(n)))));
    expect(mempool.size).toBe(2);
    expect(mempool.spendOf(f.txid, 0)).toEqual({ txid: replacement.txid, vin: 0 });
    expect(lines.some((l) => l.startsWith("DEBUG") && l.includes("conflict"))).toBe(true);

    const r = await mempool.update();
    expect(r.removedTxidsHex).toEqual([original.hex]);
    expect(mempool.spendOf(f.txid, 0)).toEqual({ txid: replacement.txid, vin: 0 });
    expect(mempool.historyTxids(scriptKeyOf(script(1)))).toEqual([replacement.txid]);
    expect(mempool.indexSizes).toEqual({ txs: 1, scripts: 2, edges: 1 });
  });

  test("eviction removes the tx and its rows; recent keeps it", async () => {
    const { node, chain, mempool } = setup();
    const f = confirmedTx(chain, [[script(1), 100_000]]);
    const t = build([[f, 0]], [[script(2), 90_000]]);
    node.put(t);
    await mempool.update();
    node.drop(t);
    const r = await mempool.update();
    expect(r).toMatchObject({ status: "synced", addedTxidsHex: [], removedTxidsHex: [t.hex] });
    expect(sorted(r.touchedScriptKeysHex)).toEqual(sorted([keyHex(script(1)), keyHex(script(2))]));
    expect(mempool.get(t.txid)).toBeNull();
    expect(mempool.has(t.txid)).toBe(false);
    expect(mempool.indexSizes).toEqual({ txs: 0, scripts: 0, edges: 0 });
    expect(mempool.recent().map((o) => o.txidHex)).toEqual([t.hex]);
  });

  test("the node's tip moving during the update adds nothing", async () => {
    const { node, chain, mempool } = setup();
    const f = confirmedTx(chain, [[script(1), 100_000]]);
    const t = build([[f, 0]], [[script(2), 90_000]]);
    node.put(t);
    node.onFetched = () => (node.tip = "00".repeat(31) + "bb");
    const r = await mempool.update();
    expect(r).toMatchObject({ status: "tip-moved", addedTxidsHex: [], removedTxidsHex: [] });
    expect(mempool.size).toBe(0);
    expect(mempool.synced).toBe(false);

    // Our own tip moving meanwhile (a block committed while we awaited) counts as well.
    chain.tip = node.tip;
    node.onListed = () => (chain.tip = "00".repeat(31) + "cc");
    expect((await mempool.update()).status).toBe("tip-moved");
    expect(mempool.size).toBe(0);

    chain.tip = node.tip;
    const r3 = await mempool.update();
    expect(r3).toMatchObject({ status: "synced", addedTxidsHex: [t.hex] });
    expect(mempool.synced).toBe(true);
  });

  test("a tx that left the node's list because a block we have not indexed confirmed it stays until that block is indexed", async () => {
    const { node, chain, mempool } = setup();
    const f = confirmedTx(chain, [[script(1), 100_000]]);
    const t = build([[f, 0]], [[script(2), 90_000]]);
    node.put(t);
    await mempool.update();
    // The node mines t: it leaves getrawmempool and the node's tip moves; our index is still behind.
    node.drop(t);
    node.tip = "00".repeat(31) + "bb";
    const r = await mempool.update();
    expect(r).toMatchObject({ status: "tip-moved", addedTxidsHex: [], removedTxidsHex: [] });
    expect(r.touchedScriptKeysHex.size).toBe(0);
    expect(mempool.has(t.txid)).toBe(true);
    expect(hexes(mempool.historyTxids(scriptKeyOf(script(2))))).toEqual([t.hex]);
    // Once the block is indexed (the commit hook drops what it confirms), the update is a no-op.
    chain.tip = node.tip;
    mempool.removeConfirmed([t.txid]);
    expect(mempool.has(t.txid)).toBe(false);
    expect(await mempool.update()).toMatchObject({ status: "synced", removedTxidsHex: [] });
  });

  test("an eviction with the node on our tip needs no fetch; the tip is still asked", async () => {
    const { node, chain, mempool } = setup();
    const f = confirmedTx(chain, [[script(1), 100_000]]);
    const t = build([[f, 0]], [[script(2), 90_000]]);
    node.put(t);
    await mempool.update();
    node.fetches = [];
    node.drop(t);
    expect(await mempool.update()).toMatchObject({ status: "synced", removedTxidsHex: [t.hex] });
    expect(node.fetches).toEqual([]);
  });

  test("a tx the node sends unparsable, or under another txid, is skipped with one warning", async () => {
    const { node, chain, mempool, lines } = setup();
    const f = confirmedTx(chain, [[script(1), 100_000], [script(1), 50_000]]);
    const good = build([[f, 0]], [[script(2), 90_000]]);
    const bad = build([[f, 1]], [[script(3), 40_000]]);
    const other = build([[f, 1]], [[script(4), 40_000]], 7);
    node.put(good, bad, other);
    node.pool.set(bad.hex, bad.raw.subarray(0, bad.raw.length - 3)); // truncated
    node.pool.set(other.hex, good.raw); // the wrong tx
    const r = await mempool.update();
    expect(r.addedTxidsHex).toEqual([good.hex]);
    const warns = () => lines.filter((l) => l.startsWith("WARN"));
    expect(warns().length).toBe(2);
    expect(warns()[0]).toContain(bad.hex);
    expect(warns()[1]).toContain(other.hex);
    // Still listed: fetched again, but warned only once.
    await mempool.update();
    expect(node.fetches[1]).toEqual([bad.hex, other.hex]);
    expect(warns().length).toBe(2);
    expect(mempool.size).toBe(1);
  });

  test("an aborted update rejects without adding", async () => {
    const { node, chain, mempool } = setup();
    const f = confirmedTx(chain, [[script(1), 100_000]]);
    node.put(build([[f, 0]], [[script(2), 90_000]]));
    const ac = new AbortController();
    node.onFetched = () => ac.abort();
    await expect(mempool.update(ac.signal)).rejects.toThrow();
    expect(mempool.size).toBe(0);
    expect(mempool.synced).toBe(false);
  });

  test("a tx added by addTxids while an update is in flight is not removed by that update", async () => {
    const { node, chain, mempool } = setup();
    const f = confirmedTx(chain, [[script(1), 100_000]]);
    const t = build([[f, 0]], [[script(2), 90_000]]);
    let added: Promise<ReadonlySet<string>> | null = null;
    node.onListed = () => {
      // Broadcast after the node answered getrawmempool: the listing does not have it yet.
      node.put(t);
      added = mempool.addTxids([t.hex]);
    };
    await mempool.update();
    await added;
    expect(mempool.has(t.txid)).toBe(true);
    expect((await mempool.update()).removedTxidsHex).toEqual([]);
    expect(mempool.has(t.txid)).toBe(true);
  });
});

describe("removeConfirmed", () => {
  test("drops the confirmed tx at once; its child stays, now with a confirmed parent", async () => {
    const { node, chain, mempool } = setup();
    const f = confirmedTx(chain, [[script(1), 100_000]]);
    const parent = build([[f, 0]], [[script(2), 90_000]]);
    const child = build([[parent, 0]], [[script(3), 80_000]]);
    node.put(parent, child);
    await mempool.update();

    chain.confirm(parent); // the indexer committed a block with the parent
    const touched = mempool.removeConfirmed([parent.txid, new Uint8Array(32).fill(9)]);
    expect(sorted(touched)).toEqual(sorted([keyHex(script(1)), keyHex(script(2))]));
    expect(mempool.has(parent.txid)).toBe(false);
    expect(mempool.has(child.txid)).toBe(true);
    expect(mempool.hasUnconfirmedParents(child.txid)).toBe(false);
    expect(mempool.get(child.txid)!.prevouts[0]).toMatchObject({ scriptKey: scriptKeyOf(script(2)), valueSat: 90_000 });
    expect(mempool.history(scriptKeyOf(script(2)))).toEqual([
      { txid: child.txid, kind: "spending", index: 0, valueSat: 90_000, prevTxid: parent.txid, prevVout: 0 },
    ]);
    expect(mempool.spendOf(parent.txid, 0)).toEqual({ txid: child.txid, vin: 0 });
    expect(mempool.spendOf(f.txid, 0)).toBeNull();

    node.drop(parent);
    const r = await mempool.update();
    expect(r).toMatchObject({ addedTxidsHex: [], removedTxidsHex: [] });
    expect(mempool.size).toBe(1);
  });
});

describe("per-script queries", () => {
  test("stats, utxos and history of a script funded and spent within the mempool", async () => {
    const { node, chain, mempool } = setup();
    const s = script(7);
    const f = confirmedTx(chain, [[script(1), 10_000]]);
    const a = build([[f, 0]], [[s, 1_000], [s, 2_000], [OP_RETURN, 0], [script(8), 6_000]]);
    const b = build([[a, 0]], [[script(9), 400], [s, 500]]);
    node.put(a, b);
    await mempool.update();
    const key = scriptKeyOf(s);
    expect(mempool.history(key)).toEqual([
      { txid: a.txid, kind: "funding", index: 0, valueSat: 1_000 },
      { txid: a.txid, kind: "funding", index: 1, valueSat: 2_000 },
      { txid: b.txid, kind: "funding", index: 1, valueSat: 500 },
      { txid: b.txid, kind: "spending", index: 0, valueSat: 1_000, prevTxid: a.txid, prevVout: 0 },
    ]);
    expect(hexes(mempool.historyTxids(key))).toEqual([a.hex, b.hex]);
    expect(mempool.stats(key)).toEqual({ txCount: 2, fundedTxoCount: 3, fundedTxoSum: 3_500, spentTxoCount: 1, spentTxoSum: 1_000 });
    expect(mempool.utxos(key)).toEqual([
      { txid: a.txid, vout: 1, valueSat: 2_000 },
      { txid: b.txid, vout: 1, valueSat: 500 },
    ]);
    expect(mempool.history(scriptKeyOf(OP_RETURN))).toEqual([]);
    expect(mempool.stats(scriptKeyOf(script(99)))).toEqual({ txCount: 0, fundedTxoCount: 0, fundedTxoSum: 0, spentTxoCount: 0, spentTxoSum: 0 });
    expect(mempool.utxos(scriptKeyOf(script(99)))).toEqual([]);
  });

  test("with --index-unspendables an OP_RETURN output gets a funding row", async () => {
    const { node, chain, mempool } = setup({ indexUnspendables: true });
    const f = confirmedTx(chain, [[script(1), 10_000]]);
    const a = build([[f, 0]], [[OP_RETURN, 0], [script(2), 9_000]]);
    node.put(a);
    await mempool.update();
    expect(mempool.history(scriptKeyOf(OP_RETURN))).toEqual([{ txid: a.txid, kind: "funding", index: 0, valueSat: 0 }]);
  });

  test("txidsPage pages in raw byte order", async () => {
    const { node, chain, mempool } = setup();
    const f = confirmedTx(chain, Array.from({ length: 7 }, (_, i) => [script(1), 10_000 + i] as const));
    const txs = Array.from({ length: 7 }, (_, i) => build([[f, i]], [[script(2), 9_000]]));
    node.put(...txs);
    await mempool.update();
    const order = txs.map((t) => bytesToHex(t.txid)).sort();
    const page = (after: Uint8Array | null, limit: number) => mempool.txidsPage(after, limit).map(bytesToHex);
    expect(page(null, 3)).toEqual(order.slice(0, 3));
    const third = mempool.txidsPage(null, 3)[2]!;
    expect(page(third, 3)).toEqual(order.slice(3, 6));
    expect(page(mempool.txidsPage(third, 3)[2]!, 3)).toEqual(order.slice(6));
    expect(page(null, 100)).toEqual(order);
    // A cursor that is not a mempool txid continues after its position.
    const cursor = new Uint8Array(32).fill(0x80);
    expect(page(cursor, 100)).toEqual(order.filter((k) => k > bytesToHex(cursor)));
    expect(page(null, 0)).toEqual([]);
    // The order follows changes.
    node.drop(txs[0]!);
    await mempool.update();
    expect(page(null, 100)).toEqual(order.filter((k) => k !== bytesToHex(txs[0]!.txid)));
    expect(sorted(mempool.txids().map(bytesToHex))).toEqual(order.filter((k) => k !== bytesToHex(txs[0]!.txid)));
  });
});

describe("recent", () => {
  test("a 10-slot ring, newest first, valued by input prevouts, never pruned", async () => {
    const { node, chain, mempool } = setup();
    const f = confirmedTx(chain, Array.from({ length: 12 }, (_, i) => [script(1), 1_000 * (i + 1)] as const));
    const txs = Array.from({ length: 12 }, (_, i) => build([[f, i]], [[script(2), 1_000 * (i + 1) - 100]]));
    for (const t of txs) {
      node.put(t);
      await mempool.update();
    }
    const recent = mempool.recent();
    expect(recent.map((o) => o.txidHex)).toEqual(txs.slice(2).reverse().map((t) => t.hex));
    expect(recent[0]).toEqual({ txidHex: txs[11]!.hex, feeSat: 100, vsize: txs[11]!.vsize, valueSat: 12_000 });
    node.drop(...txs);
    await mempool.update();
    expect(mempool.size).toBe(0);
    expect(mempool.recent()).toEqual(recent);
  });

  test("--mempool-recent-txs-size sets the ring's size", async () => {
    const { node, chain, mempool } = setup({ recentTxsSize: 3 });
    const f = confirmedTx(chain, Array.from({ length: 5 }, (_, i) => [script(1), 1_000 * (i + 1)] as const));
    const txs = Array.from({ length: 5 }, (_, i) => build([[f, i]], [[script(2), 1_000 * (i + 1) - 100]]));
    for (const t of txs) {
      node.put(t);
      await mempool.update();
    }
    expect(mempool.recent().map((o) => o.txidHex)).toEqual(txs.slice(2).reverse().map((t) => t.hex));
  });
});

describe("fee histogram", () => {
  const fi = (feePerVbyte: number, vsize: number): FeeInfo => ({ feeSat: feePerVbyte * vsize, vsize, feePerVbyte });

  test("electrs' make_fee_histogram on a hand-computed example", () => {
    // Walking from the highest rate: 100×30k, 50×25k → 55k > 50k, but the next rate is again 50,
    // so the bin stays open (equal rates never straddle bins) → 65k; 20 differs → emit [50, 65k].
    // 20×40k, 10×5k, 5×6k → 51k; 1 differs → emit [5, 51k]; the rest is the last bin [1, 1k].
    const entries = [fi(5, 6_000), fi(50, 10_000), fi(1, 1_000), fi(100, 30_000), fi(20, 40_000), fi(50, 25_000), fi(10, 5_000)];
    expect(makeFeeHistogram(entries)).toEqual([
      [50, 65_000],
      [5, 51_000],
      [1, 1_000],
    ]);
  });

  test("a bin of exactly 50,000 vB stays open; empty gives []", () => {
    expect(makeFeeHistogram([fi(100, 50_000), fi(90, 1)])).toEqual([[90, 50_001]]);
    expect(makeFeeHistogram([fi(100, 50_001), fi(90, 1)])).toEqual([
      [100, 50_001],
      [90, 1],
    ]);
    expect(makeFeeHistogram([])).toEqual([]);
  });

  test("over the mempool's real txs, and [] when empty", async () => {
    const { node, chain, mempool } = setup();
    expect(mempool.feeHistogram()).toEqual([]);
    const f = confirmedTx(chain, [[script(1), 100_000], [script(1), 100_000]]);
    const cheap = build([[f, 0]], [[script(2), 99_000]]);
    const dear = build([[f, 1]], [[script(2), 90_000]]);
    node.put(cheap, dear);
    await mempool.update();
    const rate = (fee: number, t: Built) => fee / (t.weight / 4);
    expect(mempool.feeHistogram()).toEqual([[rate(1_000, cheap), cheap.vsize + dear.vsize]]);
    expect(rate(10_000, dear)).toBeGreaterThan(rate(1_000, cheap));
  });
});

describe("backlog", () => {
  test("[[0, 0]] before the first update, then refreshed by update() only when older than 10 s", async () => {
    const { node, chain, mempool, clock } = setup();
    expect(mempool.backlog()).toEqual({ count: 0, vsize: 0, totalFeeSat: 0, feeHistogram: [[0, 0]] });
    const f = confirmedTx(chain, [[script(1), 100_000], [script(1), 100_000]]);
    const t1 = build([[f, 0]], [[script(2), 99_000]]);
    const t2 = build([[f, 1]], [[script(2), 98_000]]);
    node.put(t1);
    await mempool.update();
    const first: BacklogStats = { count: 1, vsize: t1.vsize, totalFeeSat: 1_000, feeHistogram: [[1_000 / (t1.weight / 4), t1.vsize]] };
    expect(mempool.backlog()).toEqual(first);

    node.put(t2);
    clock.ms += BACKLOG_STATS_TTL_MS; // exactly 10 s: not older than the TTL
    await mempool.update();
    expect(mempool.size).toBe(2);
    expect(mempool.backlog()).toEqual(first);

    clock.ms += 1;
    await mempool.update();
    expect(mempool.backlog()).toMatchObject({ count: 2, vsize: t1.vsize + t2.vsize, totalFeeSat: 3_000 });

    // An update that only removes refreshes too (once the TTL has passed).
    node.drop(t1, t2);
    clock.ms += BACKLOG_STATS_TTL_MS + 1;
    await mempool.update();
    expect(mempool.backlog()).toEqual({ count: 0, vsize: 0, totalFeeSat: 0, feeHistogram: [] });
  });

  test("--mempool-backlog-stats-ttl 0: refreshed by every update that follows a change of the clock", async () => {
    const { node, chain, mempool, clock } = setup({ backlogStatsTtlMs: 0 });
    const f = confirmedTx(chain, [[script(1), 100_000], [script(1), 100_000]]);
    node.put(build([[f, 0]], [[script(2), 99_000]]));
    await mempool.update();
    expect(mempool.backlog().count).toBe(1);
    node.put(build([[f, 1]], [[script(2), 98_000]]));
    clock.ms += 1;
    await mempool.update();
    expect(mempool.backlog().count).toBe(2);
  });
});

describe("addTxids", () => {
  test("adds broadcast txs at once, parents first; known ones and vanished ones are no-ops", async () => {
    const { node, chain, mempool } = setup();
    const f = confirmedTx(chain, [[script(1), 100_000]]);
    const a = build([[f, 0]], [[script(2), 90_000]]);
    const b = build([[a, 0]], [[script(3), 80_000]]);
    node.put(a, b);
    const touched = await mempool.addTxids([b.hex, a.hex, b.hex.toUpperCase()]);
    expect(sorted(touched)).toEqual(sorted([1, 2, 3].map((n) => keyHex(script(n)))));
    expect(node.fetches).toEqual([[b.hex, a.hex]]);
    expect(mempool.size).toBe(2);
    expect(mempool.synced).toBe(false); // only update() syncs
    expect((await mempool.addTxids([a.hex])).size).toBe(0);
    expect(node.fetches.length).toBe(1);
    expect((await mempool.addTxids(["11".repeat(32)])).size).toBe(0);
  });

  test("a block indexed while fetching leaves them to the next update", async () => {
    const { node, chain, mempool } = setup();
    const f = confirmedTx(chain, [[script(1), 100_000]]);
    const a = build([[f, 0]], [[script(2), 90_000]]);
    node.put(a);
    node.onFetched = () => (chain.tip = "00".repeat(31) + "dd");
    expect((await mempool.addTxids([a.hex])).size).toBe(0);
    expect(mempool.size).toBe(0);
  });
});

describe("metrics", () => {
  test("mempool_count, mempool_delta and mempool_latency under electrs' names", async () => {
    const metrics = createMetrics({ processCollector: false });
    const node = new ScriptedNode();
    const chain = new MapChain();
    const mempool = new Mempool({ node, chain, log: silentLogger(), metrics: mempoolMetricsOf(metrics), indexUnspendables: false });
    const f = confirmedTx(chain, [[script(1), 100_000], [script(1), 100_000]]);
    const a = build([[f, 0]], [[script(2), 90_000]]);
    const b = build([[f, 1]], [[script(2), 90_000]]);
    node.put(a, b);
    await mempool.update();
    node.drop(a);
    await mempool.update();
    const text = await metrics.exposition();
    const value = (series: string) => Number(text.split("\n").find((l) => l.startsWith(series + " "))?.split(" ")[1]);
    expect(value('mempool_count{type="txs"}')).toBe(1);
    expect(value('mempool_count{type="all_txs"}')).toBe(1);
    expect(value('mempool_count{type="indexed_txs"}')).toBe(1);
    expect(value('mempool_count{type="missing_txs"}')).toBe(0);
    expect(value('mempool_delta_sum{type="add"}')).toBe(2);
    expect(value('mempool_delta_sum{type="remove"}')).toBe(1);
    expect(value('mempool_latency_count{part="update"}')).toBe(2);
    expect(value('mempool_latency_count{part="update_backlog_stats"}')).toBe(1);
  });
});

describe("mempoolNodeOf", () => {
  /** Core 30's own answer to getrawtransaction of an unknown txid (fixture rpc-samples.json). */
  const notFound = (samples as unknown as { method: string; response: { error: unknown } }[]).find(
    (s) => s.method === "getrawtransaction" && s.response.error !== null,
  )!.response.error;

  /** A DaemonClient whose transport answers like Core: a batch is answered 200 with per-element errors. */
  function client(known: Map<string, string>, otherError?: string): DaemonClient {
    const fetchFn: FetchFn = async (_url, init) => {
      const body = JSON.parse(String(init.body)) as { id: number; method: string; params: unknown[] } | { id: number; method: string; params: unknown[] }[];
      const answer = (r: { id: number; method: string; params: unknown[] }) => {
        if (r.method === "getrawmempool") return { result: [...known.keys()].map((h, i) => (i === 0 ? h.toUpperCase() : h)), error: null, id: r.id };
        if (r.method === "getbestblockhash") return { result: TIP.toUpperCase(), error: null, id: r.id };
        const txid = String(r.params[0]);
        if (txid === otherError) return { result: null, error: { code: -1, message: "boom" }, id: r.id };
        const hex = known.get(txid);
        return hex === undefined ? { result: null, error: notFound, id: r.id } : { result: hex, error: null, id: r.id };
      };
      return Response.json(Array.isArray(body) ? body.map(answer) : answer(body));
    };
    return new DaemonClient({ url: "http://127.0.0.1:1", auth: fromUserPass("u:p"), parallelism: 1, log: silentLogger(), fetch: fetchFn, maxBatchSize: 2 });
  }

  test("getrawmempool, batched getrawtransaction with -5 as null, getbestblockhash", async () => {
    const chain = new MapChain();
    const f = confirmedTx(chain, [[script(1), 100_000], [script(1), 100_000]]);
    const a = build([[f, 0]], [[script(2), 90_000]]);
    const b = build([[f, 1]], [[script(2), 90_000]]);
    const known = new Map([[a.hex, bytesToHex(a.raw)], [b.hex, bytesToHex(b.raw)]]);
    const node = mempoolNodeOf(client(known));
    expect(await node.rawMempool()).toEqual([a.hex, b.hex]); // lowercased: the mempool keys its map by them
    const gone = "ab".repeat(32);
    expect(await node.rawTransactions([a.hex, gone, b.hex])).toEqual([a.raw, null, b.raw]); // two chunks of 2
    expect(await node.rawTransactions([])).toEqual([]);
    expect(await node.bestBlockHash()).toBe(TIP);
  });

  test("another RPC error of an element is thrown", async () => {
    const node = mempoolNodeOf(client(new Map(), "cd".repeat(32)));
    await expect(node.rawTransactions(["cd".repeat(32)])).rejects.toBeInstanceOf(DaemonError);
  });
});
