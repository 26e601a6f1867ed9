/**
 * The query layer over the real regtest-core30 index, checked against Bitcoin Core's own answers
 * (expected.json): block meta (mediantime, difficulty), txs with fees, merkle branches, outspends,
 * and every script's history, summary, stats and UTXOs through the paged reads.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { hashToHex, hexToBytes, hexToHash } from "../../../src/bitcoin/bytes.ts";
import { merkleRootFromBranch } from "../../../src/bitcoin/merkle.ts";
import { createMetrics } from "../../../src/metrics/metrics.ts";
import { ChainQuery, difficultyOf } from "../../../src/query/chain-query.ts";
import { NETWORKS } from "../../../src/bitcoin/network.ts";
import { QueryError } from "../../../src/query/errors.ts";
import { scriptKeyFromHash } from "../../../src/store/rows.ts";
import { expected, openFixture, type Fixture } from "../rest/harness.ts";

let fx: Fixture;
const metrics = createMetrics({ processCollector: false });

beforeAll(async () => {
  fx = await openFixture({ metrics });
});
afterAll(() => fx.close());

const keyOf = (scripthashHex: string) => scriptKeyFromHash(hexToBytes(scripthashHex));
/** MP's summary, read in slices of 7 rows (history.ts summarySliced): the same answers as in one step. */
const summaryOf = (keys: readonly Uint8Array[], lastSeen: Uint8Array | null, limit: number) => fx.query.summary(keys, lastSeen, limit, 7, async () => {});
/** Expected confirmed history of a script, newest first (height, then block position, descending). */
const newestFirst = (s: (typeof expected.scripts)[number]) =>
  [...s.history].sort((a, b) => b.height - a.height || b.pos - a.pos).map((h) => h.txid);

describe("blocks", () => {
  test("every block: mediantime and difficulty as Core computes them", () => {
    for (const b of expected.blocks) {
      const row = fx.query.blockAt(b.height)!;
      const v = fx.query.blockView(row);
      expect(hashToHex(row.hash)).toBe(b.hash);
      expect(v.mediantime).toBe(b.mediantime);
      // Core prints 16 significant digits; the double is the same.
      expect(v.difficulty).toBeCloseTo(b.difficulty, 24);
      expect(Math.abs(v.difficulty / b.difficulty - 1)).toBeLessThan(1e-15);
    }
  });

  test("difficulty of mainnet nBits (Core's GetDifficulty)", () => {
    expect(difficultyOf(0x1d00ffff)).toBe(1);
    expect(difficultyOf(0x1b0404cb)).toBeCloseTo(16307.420938523983, 9);
  });

  test("blocksFrom walks back and stops at genesis", () => {
    expect(fx.query.blocksFrom(137, 10).map((b) => b.row.height)).toEqual([137, 136, 135, 134, 133, 132, 131, 130, 129, 128]);
    expect(fx.query.blocksFrom(3, 10).map((b) => b.row.height)).toEqual([3, 2, 1, 0]);
  });

  test("block status: best chain, next best, stale and unknown", () => {
    const b5 = expected.blocks[5]!;
    expect(fx.query.blockStatus(hexToHash(b5.hash))).toEqual({ inBestChain: true, height: 5, nextBest: hexToHash(expected.blocks[6]!.hash) });
    expect(fx.query.blockStatus(hexToHash(expected.tip.hash)).nextBest).toBeNull();
    for (const stale of expected.reorg.stale_blocks) {
      expect(fx.query.blockStatus(hexToHash(stale))).toEqual({ inBestChain: false, height: null, nextBest: null });
    }
  });

  test("raw blocks rebuild to Core's size and hash", () => {
    for (const b of expected.blocks.filter((x) => x.nTx > 2)) {
      const raw = fx.query.blockRaw(fx.query.blockAt(b.height)!);
      expect(raw.length).toBe(b.size);
      expect(hashToHex(Bun.SHA256.hash(Bun.SHA256.hash(raw.subarray(0, 80)) as Uint8Array) as Uint8Array)).toBe(b.hash);
    }
  });
});

describe("transactions", () => {
  test("every tx: fee, size, weight and status from the chain", () => {
    for (const [txid, t] of Object.entries(expected.txs)) {
      const v = fx.query.tx(hexToHash(txid))!;
      expect(v.feeSat).toBe(t.fee_sat ?? 0);
      expect(v.tx.size).toBe(t.size);
      expect(v.tx.weight).toBe(t.weight);
      expect(v.status.confirmed && v.status.height).toBe(t.height);
      expect(v.status.confirmed && hashToHex(v.status.blockHash)).toBe(t.blockhash);
    }
  });

  test("merkle branches recompute the header's merkle root", () => {
    for (const [txid, t] of Object.entries(expected.txs)) {
      const p = fx.query.merkleProof(hexToHash(txid))!;
      expect(p.pos).toBe(t.pos);
      const block = expected.blocks[t.height]!;
      expect(hashToHex(merkleRootFromBranch(hexToHash(txid), p.branch, p.pos))).toBe(block.merkleroot);
    }
  });

  test("unknown and replaced txs are not found; their status is unconfirmed", () => {
    for (const txid of [expected.reorg.replaced_txid, "00".repeat(32)]) {
      expect(fx.query.tx(hexToHash(txid))).toBeNull();
      expect(fx.query.txStatus(hexToHash(txid))).toEqual({ confirmed: false });
      expect(fx.query.merkleProof(hexToHash(txid))).toBeNull();
      expect(fx.query.outspends(hexToHash(txid))).toBeNull();
    }
  });

  test("outspends agree with every spent row", () => {
    for (const s of expected.scripts) {
      for (const sp of s.spent) {
        const o = fx.query.outspend(hexToHash(sp.txid), sp.vout);
        expect(o.spent && { txid: hashToHex(o.txid), vin: o.vin, height: o.status.confirmed && o.status.height }).toEqual({
          txid: sp.spending_txid,
          vin: sp.vin,
          height: sp.height,
        });
        const all = fx.query.outspends(hexToHash(sp.txid))!;
        expect(all[sp.vout]).toEqual(o);
      }
      for (const u of s.utxos) expect(fx.query.outspend(hexToHash(u.txid), u.vout)).toEqual({ spent: false });
    }
  });

  test("an out-of-range vout never aliases another tx's output", () => {
    const sp = expected.scripts[0]!.spent[0]!;
    expect(fx.query.outspend(hexToHash(sp.txid), sp.vout + 2 ** 20)).toEqual({ spent: false });
    expect(fx.query.outspend(hexToHash(sp.txid), 2 ** 32 - 1)).toEqual({ spent: false });
  });
});

describe("scripts", () => {
  test("every script: the confirmed history, paged by cursor, newest first", () => {
    for (const s of expected.scripts) {
      const key = keyOf(s.scripthash);
      const want = newestFirst(s);
      const got: string[] = [];
      let cursor: Uint8Array | null = null;
      for (;;) {
        const page = fx.query.chainHistory([key], cursor, 25);
        got.push(...page.map((t) => hashToHex(t.tx.txid)));
        if (page.length < 25) break;
        cursor = page[page.length - 1]!.tx.txid;
      }
      expect(got).toEqual(want);
    }
  });

  test("every script: stats and the summary's values add up to the balance", async () => {
    for (const s of expected.scripts) {
      const key = keyOf(s.scripthash);
      const st = fx.query.scriptStats(key);
      expect(st.chain).toEqual({
        txCount: s.stats.tx_count,
        fundedTxoCount: s.stats.funded_txo_count,
        fundedTxoSum: s.stats.funded_txo_sum,
        spentTxoCount: s.stats.spent_txo_count,
        spentTxoSum: s.stats.spent_txo_sum,
      });
      const sum = await summaryOf([key], null, 5000);
      expect(sum.map((x) => hashToHex(x.txid))).toEqual(newestFirst(s));
      expect(sum.reduce((a, x) => a + x.valueSat, 0)).toBe(s.balance);
      const first = s.history.find((h) => hashToHex(sum[sum.length - 1]!.txid) === h.txid)!;
      expect(sum[sum.length - 1]!.position).toBe(first.pos);
      expect(sum[sum.length - 1]!.time).toBe(expected.blocks[first.height]!.time);
    }
  });

  test("every script: utxos, whole and paged, in chain order", () => {
    for (const s of expected.scripts) {
      const key = keyOf(s.scripthash);
      const want = s.utxos.map((u) => `${u.txid}:${u.vout}:${u.value}:${u.height}`).sort();
      const all = fx.query.utxos(key, null, 1000);
      const fmt = (u: (typeof all)[number]) => `${hashToHex(u.txid)}:${u.vout}:${u.valueSat}:${u.status.confirmed && u.status.height}`;
      expect(all.map(fmt).sort()).toEqual(want);
      const paged: typeof all = [];
      let after: { txid: Uint8Array; vout: number } | null = null;
      for (;;) {
        const page = fx.query.utxos(key, { after, limit: 7 }, 1000);
        paged.push(...page);
        if (page.length < 7) break;
        after = { txid: page[6]!.txid, vout: page[6]!.vout };
      }
      expect(paged.map(fmt)).toEqual(all.map(fmt));
    }
  });

  test("the popular script is refused over the utxo limit, with BS-new's text", () => {
    const popular = expected.scripts[0]!;
    expect(popular.utxos.length).toBe(350);
    const key = keyOf(popular.scripthash);
    expect(() => fx.query.utxos(key, null, 349)).toThrow(new QueryError("too-large", "Too many unspent outputs"));
    expect(fx.query.utxos(key, null, 350)).toHaveLength(350);
  });

  test("cursors: not in the history gives []; unknown is an error for summary", async () => {
    const [a, b] = [expected.scripts[0]!, expected.scripts[1]!];
    const other = hexToHash(b.history[0]!.txid);
    expect(fx.query.chainHistory([keyOf(a.scripthash)], other, 25)).toEqual([]);
    expect(await summaryOf([keyOf(a.scripthash)], other, 25)).toEqual([]);
    await expect(summaryOf([keyOf(a.scripthash)], hexToHash("11".repeat(32)), 25)).rejects.toThrow("after_txid not found");
  });

  test("summary: a script listed several times counts once; several scripts sum per tx", async () => {
    const [a, b] = [expected.scripts[0]!, expected.scripts[1]!];
    const [ka, kb] = [keyOf(a.scripthash), keyOf(b.scripthash)];
    expect(await summaryOf([ka, ka, ka], null, 5000)).toEqual(await summaryOf([ka], null, 5000));
    const both = await summaryOf([ka, kb, ka, kb], null, 5000);
    expect(both.reduce((n, x) => n + x.valueSat, 0)).toBe(a.balance + b.balance);
    const single = new Map<string, number>();
    for (const x of [...(await summaryOf([ka], null, 5000)), ...(await summaryOf([kb], null, 5000))]) {
      single.set(hashToHex(x.txid), (single.get(hashToHex(x.txid)) ?? 0) + x.valueSat);
    }
    expect(new Map(both.map((x) => [hashToHex(x.txid), x.valueSat]))).toEqual(single);
    // The page limit applies to the union, newest first.
    expect(await summaryOf([ka, kb], null, 3)).toEqual(both.slice(0, 3));
  });

  test("many scripts, one of them big: the newest of the union, at any page size and cursor", async () => {
    const picks = expected.scripts.slice(0, 60); // the popular one (601 txs) and 59 small ones
    const union = [...new Map(picks.flatMap((s) => s.history.map((h) => [h.txid, h] as const))).values()]
      .sort((x, y) => y.height - x.height || y.pos - x.pos)
      .map((h) => h.txid);
    const keys = picks.map((s) => keyOf(s.scripthash));
    for (const limit of [0, 1, 7, 30, 100, 500, 1000]) {
      expect(fx.query.chainHistory(keys, null, limit).map((t) => hashToHex(t.tx.txid))).toEqual(union.slice(0, limit));
      expect((await summaryOf(keys, null, limit)).map((x) => hashToHex(x.txid))).toEqual(union.slice(0, limit));
      const after = union[40]!;
      expect(fx.query.chainHistory(keys, hexToHash(after), limit).map((t) => hashToHex(t.tx.txid))).toEqual(union.slice(41, 41 + limit));
    }
    const total = (await summaryOf(keys, null, 5000)).reduce((n, x) => n + x.valueSat, 0);
    expect(total).toBe(picks.reduce((n, s) => n + s.balance, 0));
  });

  test("several scripts merge into one newest-first history without duplicates", () => {
    const picks = expected.scripts.slice(1, 40);
    const want = [...new Map(picks.flatMap((s) => s.history.map((h) => [h.txid, h] as const))).values()]
      .sort((x, y) => y.height - x.height || y.pos - x.pos)
      .map((h) => h.txid);
    const got = fx.query.history(
      picks.map((s) => keyOf(s.scripthash)),
      { afterTxid: null, mempoolLimit: 50, chainLimit: 1000, totalLimit: null },
    );
    expect(got.map((t) => hashToHex(t.tx.txid))).toEqual(want);
  });
});

test("query_duration is recorded under electrs' names", async () => {
  const text = await metrics.exposition();
  for (const name of ["lookup_txn", "history", "utxo", "stats", "lookup_spend", "get_block_with_meta", "get_block_raw"]) {
    expect(text).toContain(`query_duration_count{name="${name}"}`);
  }
});

describe("guarded reads (serve workers: another thread's commit can overlap a read)", () => {
  // The guard reports what the shared change sequence would (serve/shared-state.ts changeGuard, tested
  // there); here it injects the overlap, to pin what the query layer does with it.
  const scripted = (changedAnswers: boolean[]) => {
    const calls = { begin: 0, changed: 0 };
    const guard = {
      begin: () => ++calls.begin,
      changed: () => (calls.changed++, changedAnswers.shift() ?? false),
    };
    return { guard, calls };
  };
  const txid = Object.keys(expected.txs).find((id) => expected.txs[id]!.fee_sat)!;
  const queryWith = (guard: { begin(): number; changed(mark: number): boolean }, mempool = fx.mempool) =>
    new ChainQuery({ reader: fx.indexer.reader, mempool, network: NETWORKS.regtest, tipHeight: () => fx.indexer.reader.tip()?.height ?? -1, metrics: createMetrics({ processCollector: false }), guard });

  test("a read that overlapped a change is made again; one that did not is answered once", () => {
    const overlapped = scripted([true, false]);
    const tx = queryWith(overlapped.guard).tx(hexToHash(txid))!;
    expect(hashToHex(tx.tx.txid)).toBe(txid);
    expect(tx.feeSat).toBe(expected.txs[txid]!.fee_sat!);
    expect(overlapped.calls).toEqual({ begin: 2, changed: 2 });
    const quiet = scripted([]);
    queryWith(quiet.guard).tx(hexToHash(txid));
    expect(quiet.calls).toEqual({ begin: 1, changed: 1 });
  });

  test("an error of a read that overlapped a change is read again; one that overlapped none is the answer", () => {
    let failures = 1;
    const flaky = new Proxy(fx.mempool, {
      get(target, prop, receiver) {
        if (prop === "get")
          return (id: Uint8Array) => {
            if (failures-- > 0) throw new Error("a read mixing two states");
            return target.get(id);
          };
        const v = Reflect.get(target, prop, receiver);
        return typeof v === "function" ? v.bind(target) : v;
      },
    });
    // (A txid that is in neither the chain nor the mempool: the lookup asks the mempool.)
    const unknown = new Uint8Array(32).fill(7);
    expect(queryWith(scripted([true]).guard, flaky).tx(unknown)).toBeNull();
    failures = 1;
    expect(() => queryWith(scripted([false]).guard, flaky).tx(unknown)).toThrow("a read mixing two states");
  });

  test("a read overlapping a change every time is answered after three tries", () => {
    const busy = scripted([true, true, true, true, true]);
    expect(queryWith(busy.guard).tx(hexToHash(txid))).not.toBeNull();
    expect(busy.calls.begin).toBe(3);
  });
});
