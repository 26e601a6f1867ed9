/**
 * The sliced reads (query/sliced-history.ts, allUtxosSliced) answer exactly what the one-step
 * reads answer, over many slices of the fixture's 601-tx script, also when blocks are committed
 * between two slices; and a subscription whose status was computed across a notification round is
 * computed again. MP's multi-script summary read in slices answers what the one-step read
 * answers when it started, and starts over when the tip it started at left the chain.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { hexToBytes } from "../../../src/bitcoin/bytes.ts";
import { Session, Subscriptions, type SubscriptionDeps } from "../../../src/electrum/subscriptions.ts";
import { silentLogger } from "../../../src/log.ts";
import { createMetrics } from "../../../src/metrics/metrics.ts";
import { electrumBalance } from "../../../src/query/electrum-history.ts";
import { wholeHistory, wholeStatus, type WholeHistory } from "../../helpers/electrum-history.ts";
import { summary, summarySliced } from "../../../src/query/history.ts";
import { Resolver } from "../../../src/query/resolver.ts";
import { QueryError } from "../../../src/query/errors.ts";
import { electrumBalanceSliced, electrumHistoryBytesSliced, historyStatusSliced, jsonSegment, jsonSegmentsSliced, type HistoryBytes } from "../../../src/query/sliced-history.ts";
import { HISTORY_ENTRY_JSON, STATUS_ENTRY_TEXT } from "../../../src/query/history-bytes.ts";
import { scriptKeyOf } from "../../../src/store/rows.ts";
import { expected, openFixture, type Fixture } from "../rest/harness.ts";

let fx: Fixture | null = null;
afterEach(() => {
  fx?.close();
  fx = null;
});

/** Subscriptions with the given status functions and the rest of its dependencies inert. */
function subscriptionsWith(status: SubscriptionDeps["status"], statusSliced: SubscriptionDeps["statusSliced"]): Subscriptions {
  const metrics = createMetrics({ processCollector: false });
  return new Subscriptions({
    limit: 0,
    perIpLimit: 0,
    status,
    statusSliced,
    tip: () => null,
    log: silentLogger(),
    gauge: metrics.gauge("test_subscriptions", "t"),
    notifications: metrics.counter("test_notifications", "t", ["type"]),
  });
}
const SH = { hex: "00".repeat(32), key: new Uint8Array(11), keyHex: "00".repeat(11) };

/** The confirmed part of a history written as bytes, as the JSON array get_history sends. */
const jsonOf = (h: HistoryBytes) => `[${Buffer.concat(h.confirmed).toString("latin1")}]`;
const wholeJson = (h: WholeHistory) => JSON.stringify(h.confirmed.map((e) => ({ tx_hash: e.txidHex, height: e.height })));

const popular = [...expected.scripts].sort((a, b) => b.history.length - a.history.length)[0]!;
const key = scriptKeyOf(hexToBytes(popular.script));

test(`the ${popular.history.length}-tx script read in slices of 50: the same history, status and JSON as in one step`, async () => {
  fx = await openFixture();
  const reader = fx.indexer.reader;
  let pauses = 0;
  const pause = async () => {
    pauses++;
    await new Promise((r) => setImmediate(r));
  };
  const sliced = await electrumHistoryBytesSliced(reader, fx.mempool, key, 0, undefined, HISTORY_ENTRY_JSON, pause, 50);
  const whole = wholeHistory(reader, fx.mempool, key, 0);
  const entries = whole.confirmed.map((e) => ({ tx_hash: e.txidHex, height: e.height }));
  // Byte for byte what JSON.stringify gives, one part per slice.
  expect(jsonOf(sliced)).toBe(JSON.stringify(entries));
  expect(sliced.confirmed.length).toBe(Math.ceil(popular.history.length / 50));
  expect(sliced.confirmedCount).toBe(popular.history.length);
  expect(sliced.mempool).toEqual(whole.mempool);
  // A pause after each full page of txnums (the last, short one ends the read) and between pages of txids.
  expect(pauses).toBe((Math.ceil(popular.history.length / 50) - 1) * 2);
  const forStatus = await electrumHistoryBytesSliced(reader, fx.mempool, key, 0, undefined, STATUS_ENTRY_TEXT, pause, 50);
  expect(await historyStatusSliced(forStatus, pause, 50)).toBe(wholeStatus(whole));
  expect(await historyStatusSliced(forStatus, pause, 50)).toBe(popular.electrum_status);
  expect(Buffer.concat(await jsonSegmentsSliced([jsonSegment(entries, (e) => JSON.stringify(e))], pause, 50)).toString()).toBe(JSON.stringify(entries));
  expect(Buffer.concat(await jsonSegmentsSliced([jsonSegment([], (e) => JSON.stringify(e))], pause, 50)).toString()).toBe("[]");
  // One part per slice and the closing bracket; multi-byte characters are UTF-8.
  expect((await jsonSegmentsSliced([jsonSegment(entries, (e) => JSON.stringify(e))], pause, 50)).length).toBe(Math.ceil(entries.length / 50) + 1);
  const wide = ["é", "✓ ok", "\u{1F600}", 'q"uote'];
  expect(Buffer.concat(await jsonSegmentsSliced([jsonSegment(wide, (e) => JSON.stringify(e))], pause, 3)).toString("utf8")).toBe(JSON.stringify(wide));
});

test("blocks committed between two slices are in the answer, as an ascending read that goes on sees them", async () => {
  // The script's txs are at heights 118-127, 75 a block: half of them are indexed at first.
  fx = await openFixture({ maxHeight: 121 });
  const reader = fx.indexer.reader;
  const before = wholeHistory(reader, fx.mempool, key, 0).confirmed.length;
  let indexed = false;
  const pause = async () => {
    if (!indexed) {
      indexed = true;
      await fx!.indexToTip();
    }
  };
  const sliced = await electrumHistoryBytesSliced(reader, fx.mempool, key, 0, undefined, HISTORY_ENTRY_JSON, pause, 20);
  expect(indexed).toBe(true);
  expect(jsonOf(sliced)).toBe(wholeJson(wholeHistory(reader, fx.mempool, key, 0)));
  expect(sliced.confirmedCount).toBeGreaterThan(before);
});

test("the limits hold across slices: too many entries, a reply that cannot fit", async () => {
  fx = await openFixture();
  const reader = fx.indexer.reader;
  const pause = async () => {};
  const err = (p: Promise<unknown>) => p.then(() => null, (e: unknown) => e as QueryError);
  const read = (limit: number, maxBytes: number | undefined) => electrumHistoryBytesSliced(reader, fx!.mempool, key, limit, maxBytes, HISTORY_ENTRY_JSON, pause, 50);
  expect(await err(read(500, undefined))).toMatchObject({ kind: "too-large" });
  expect(await err(read(0, 20_000))).toMatchObject({ kind: "response-too-large" });
  expect(jsonOf(await read(popular.history.length, 1_000_000))).toBe(wholeJson(wholeHistory(reader, fx.mempool, key, 0)));
});

test("get_balance summed in slices: every script's balance as in one step and as Core reports it", async () => {
  fx = await openFixture();
  const reader = fx.indexer.reader;
  let pauses = 0;
  const pause = async () => {
    pauses++;
  };
  for (const s of expected.scripts) {
    const k = scriptKeyOf(hexToBytes(s.script));
    const sliced = await electrumBalanceSliced(reader, fx.mempool, k, pause, 2);
    expect(sliced).toEqual(electrumBalance(reader, fx.mempool, k));
    expect(sliced.confirmedSat).toBe(s.balance);
  }
  // A pause after each full slice of two UTXOs.
  expect(pauses).toBe(expected.scripts.reduce((n, s) => n + Math.floor(s.utxos.length / 2), 0));
});

test("get_balance: a block committed between two slices starts the read over, and the answer is the new tip's", async () => {
  fx = await openFixture({ maxHeight: 121 });
  const reader = fx.indexer.reader;
  const before = electrumBalance(reader, fx.mempool, key);
  let indexed = false;
  const pause = async () => {
    if (!indexed) {
      indexed = true;
      await fx!.indexToTip();
    }
  };
  const sliced = await electrumBalanceSliced(reader, fx.mempool, key, pause, 1);
  expect(indexed).toBe(true);
  const after = electrumBalance(reader, fx.mempool, key);
  expect(after).not.toEqual(before);
  expect(sliced).toEqual(after);
  expect(sliced.confirmedSat).toBe(popular.balance);
});

test("listunspent's sliced read gives the one-step read's UTXOs", async () => {
  fx = await openFixture();
  const withMany = [...expected.scripts].sort((a, b) => b.utxos.length - a.utxos.length)[0]!;
  const k = scriptKeyOf(hexToBytes(withMany.script));
  const sliced = await fx.query.utxosSliced(k, 100_000, 7, async () => {});
  expect(sliced).toEqual(fx.query.utxos(k, null, 100_000));
  expect(sliced.length).toBe(withMany.utxos.length);
  await expect(fx.query.utxosSliced(k, withMany.utxos.length - 1, 7, async () => {})).rejects.toMatchObject({ kind: "too-large" });
});

test("subscribe: a status computed across a notification round is computed again", async () => {
  let slicedCalls = 0;
  let current = "a";
  const subs: Subscriptions = subscriptionsWith(
    () => ({ status: current, hasMempoolParent: false }),
    async () => {
      const seen = current;
      slicedCalls++;
      if (slicedCalls === 1) {
        // A block lands while the first computation is under way: the status changes, a round runs.
        current = "b";
        subs.notify({ touchedScriptKeysHex: new Set(), newTip: true });
      }
      return { status: seen, hasMempoolParent: false };
    },
  );
  const sent: string[] = [];
  const session = new Session(1, "127.0.0.1", { send: (l) => sent.push(l) });
  const sh = SH;
  expect(await subs.subscribeScript(session, sh)).toBe("b");
  expect(slicedCalls).toBe(2);
  // A connection gone while its status was computed is not registered.
  const gone = new Session(2, "127.0.0.1", { send: () => {} });
  const pending = subs.subscribeScript(gone, { ...sh, hex: "11".repeat(32) });
  subs.dropSession(gone);
  await pending;
  expect(gone.subCount).toBe(0);
});

test("notification rounds: statuses computed over several turns, rounds in order, a session gone meanwhile is skipped", async () => {
  const statuses = ["s1", "s2", "s3"];
  let calls = 0;
  let computing = 0;
  let overlapped = false;
  const subs = subscriptionsWith(
    () => ({ status: "s0", hasMempoolParent: false }),
    async () => {
      if (computing++ > 0) overlapped = true;
      await new Promise((r) => setImmediate(r));
      await new Promise((r) => setImmediate(r));
      computing--;
      return { status: statuses[calls++] ?? "sX", hasMempoolParent: false };
    },
  );
  const lines: string[] = [];
  const session = new Session(1, "127.0.0.1", { send: (l) => lines.push(l) });
  const sh = SH;
  expect(await subs.subscribeScript(session, sh)).toBe("s1");
  const touched = { touchedScriptKeysHex: new Set([sh.keyHex]) };
  const [a, b] = [subs.notify(touched), subs.notify(touched)];
  expect(await a).toBe(1);
  expect(await b).toBe(1);
  expect(overlapped).toBe(false);
  expect(lines.map((l) => (JSON.parse(l) as { params: string[] }).params[1])).toEqual(["s2", "s3"]);
  // Dropped while its status is being computed: nothing is sent to it.
  const round = subs.notify(touched);
  subs.dropSession(session);
  expect(await round).toBe(0);
  expect(lines.length).toBe(2);
});

describe("the multi-script summary in slices", () => {
  /** The popular script and 59 small ones (the union of their histories, newest first, is the answer). */
  const keys = expected.scripts.slice(0, 60).map((s) => scriptKeyOf(hexToBytes(s.script)));

  test("the same rows as in one step, with a pause every few rows, at any page size", async () => {
    fx = await openFixture();
    const r = () => new Resolver(fx!.indexer.reader, fx!.mempool);
    for (const limit of [1, 30, 700, 5000]) {
      let pauses = 0;
      const sliced = await summarySliced(r, keys, null, limit, 20, async () => void pauses++);
      expect(sliced).toEqual(summary(r(), keys, null, limit));
      expect(sliced.length).toBe(Math.min(limit, new Set(expected.scripts.slice(0, 60).flatMap((s) => s.history.map((h) => h.txid))).size));
      expect(pauses).toBeGreaterThan(limit >= 700 ? 30 : 0);
    }
  });

  test("blocks committed between two slices are not in it: the answer is the one of the tip it started at", async () => {
    fx = await openFixture({ maxHeight: 121 });
    const r = () => new Resolver(fx!.indexer.reader, fx!.mempool);
    const atStart = summary(r(), keys, null, 5000);
    let indexed = false;
    const sliced = await summarySliced(r, keys, null, 5000, 20, async () => {
      if (indexed) return;
      indexed = true;
      await fx!.indexToTip();
    });
    expect(indexed).toBe(true);
    expect(sliced).toEqual(atStart);
    expect(summary(r(), keys, null, 5000).length).toBeGreaterThan(atStart.length);
  });

  test("a tip that left the chain meanwhile (a reorg) starts the read over; after three, it is done in one step", async () => {
    fx = await openFixture();
    const reader = fx.indexer.reader;
    const tip = reader.tip()!;
    // Failure injection: the reader says another block is at the tip's height the first `replaced` times it is asked after a read.
    let replaced = 0;
    let reads = 0;
    const resolver = () => {
      reads++;
      const shifted = new Proxy(reader, {
        get(target, prop, receiver) {
          if (prop !== "blockAt") return Reflect.get(target, prop, receiver);
          return (height: number) => {
            const b = target.blockAt(height);
            if (height !== tip.height || replaced <= 0 || !b) return b;
            replaced--;
            return { ...b, hash: new Uint8Array(32).fill(0xee) };
          };
        },
      });
      return new Resolver(shifted, fx!.mempool);
    };
    const want = summary(new Resolver(reader, fx.mempool), keys, null, 5000);
    replaced = 1;
    expect(await summarySliced(resolver, keys, null, 5000, 50, async () => {})).toEqual(want);
    expect(reads).toBe(2);
    reads = 0;
    replaced = 10;
    expect(await summarySliced(resolver, keys, null, 5000, 50, async () => {})).toEqual(want);
    expect(reads).toBe(4);
  });
});
