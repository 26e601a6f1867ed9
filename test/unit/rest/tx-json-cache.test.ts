/**
 * The cache of confirmed txs' JSON (src/rest/tx-json-cache.ts): its bound and order, and, on the
 * regtest fixture, answers through it (/tx, block pages, script history pages) byte for byte those
 * of a server without it, from a cache that holds everything and from one so small that it evicts
 * at every store.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { TxJsonCache } from "../../../src/rest/tx-json-cache.ts";
import { expected, openFixture, startServer, type Fixture, type ServerUnderTest } from "./harness.ts";

const OVERHEAD = 160; // ENTRY_OVERHEAD_BYTES

describe("TxJsonCache", () => {
  test("keeps the most recently used entries within its bytes; a hit refreshes an entry", () => {
    const c = new TxJsonCache(3 * (100 + OVERHEAD));
    const text = (ch: string) => ch.repeat(100);
    c.set("a", text("a"), 1);
    c.set("b", text("b"), 2);
    c.set("c", text("c"), 3);
    expect(c.size).toBe(3);
    expect(c.sizeBytes).toBe(3 * (100 + OVERHEAD));
    expect(c.get("a")).toMatchObject({ text: text("a"), height: 1 }); // now the most recent
    c.set("d", text("d"), 4); // evicts b, the least recently used
    expect(c.get("b")).toBeUndefined();
    expect([c.get("a")?.height, c.get("c")?.height, c.get("d")?.height]).toEqual([1, 3, 4]);
    expect(c.sizeBytes).toBeLessThanOrEqual(c.maxBytes);
    expect([c.hits, c.misses]).toEqual([4, 1]);
  });

  test("eviction by CLOCK: entries hit since the last pass get a second chance, in the order they were stored; one pass frees every flag", () => {
    const c = new TxJsonCache(4 * (10 + OVERHEAD));
    for (const k of ["a", "b", "c", "d"]) c.set(k, k.repeat(10), 0);
    c.get("a");
    c.get("b");
    c.get("d");
    c.set("e", "e".repeat(10), 0); // a and b get their second chance; c, never hit, goes
    expect(["a", "b", "c", "d", "e"].map((k) => c.get(k) !== undefined)).toEqual([true, true, false, true, true]);
    // Every entry was hit just now: the next store makes one lap (flags cleared), then evicts the oldest of that lap.
    c.set("f", "f".repeat(10), 0);
    expect(c.size).toBe(4);
    expect(c.sizeBytes).toBeLessThanOrEqual(c.maxBytes);
    expect(c.get("f")).toBeDefined();
  });

  test("replacing an entry counts its bytes once; an entry over the whole budget is not stored; clear empties it", () => {
    const c = new TxJsonCache(1000);
    c.set("a", "x".repeat(100), 1);
    c.set("a", "y".repeat(200), 1);
    expect(c.size).toBe(1);
    expect(c.sizeBytes).toBe(200 + OVERHEAD);
    c.set("big", "z".repeat(1000), 1);
    expect(c.get("big")).toBeUndefined();
    expect(c.get("a")?.text).toBe("y".repeat(200));
    c.clear();
    expect([c.size, c.sizeBytes]).toEqual([0, 0]);
    expect(c.get("a")).toBeUndefined();
  });

  test("a budget of 0 stores nothing", () => {
    const c = new TxJsonCache(0);
    c.set("a", "{}", 1);
    expect(c.size).toBe(0);
  });
});

describe("REST answers through the cache, on the regtest fixture", () => {
  let fx: Fixture;
  let plain: ServerUnderTest;
  let cached: ServerUnderTest;
  let tiny: ServerUnderTest;
  const big = new TxJsonCache(64 * 1048576);
  // Room for about two txs: every store evicts.
  const small = new TxJsonCache(2 * (700 + OVERHEAD));

  beforeAll(async () => {
    fx = await openFixture();
    plain = startServer(fx);
    cached = startServer(fx, { txCache: big });
    tiny = startServer(fx, { txCache: small });
  });
  afterAll(async () => {
    await Promise.all([plain, cached, tiny].map((s) => s.server.stop()));
    fx.close();
  });

  const answer = async (s: ServerUnderTest, path: string) => {
    const r = await s.get(path);
    return `${r.status} ${r.headers.get("cache-control")} ${await r.text()}`;
  };

  test("/tx/:txid of every confirmed tx: a miss, then a hit, both the uncached answer", async () => {
    const confirmed = Object.entries(expected.txs).filter(([, t]) => t.height >= 0);
    expect(confirmed.length).toBeGreaterThan(100);
    for (const [txid] of confirmed) {
      const want = await answer(plain, `/tx/${txid}`);
      expect(want.startsWith("200 ")).toBe(true);
      for (const s of [cached, cached, tiny, tiny]) expect(await answer(s, `/tx/${txid}`)).toBe(want);
      // Upper case is the same tx, and the same entry.
      expect(await answer(cached, `/tx/${txid.toUpperCase()}`)).toBe(want);
    }
    expect(big.size).toBe(confirmed.length);
    expect(big.hits).toBeGreaterThanOrEqual(2 * confirmed.length);
    expect(small.size).toBeLessThanOrEqual(2);
    expect(small.sizeBytes).toBeLessThanOrEqual(small.maxBytes);
  });

  test("every page of /block/:hash/txs of every block: the uncached answer, cold and warm, whole or partly cached", async () => {
    big.clear();
    let pages = 0;
    for (const b of expected.blocks) {
      for (let start = 0; start < b.nTx; start += 25) {
        const path = start === 0 ? `/block/${b.hash}/txs` : `/block/${b.hash}/txs/${start}`;
        const want = await answer(plain, path);
        expect(want.startsWith("200 ")).toBe(true);
        for (const s of [cached, cached, tiny, tiny]) expect(await answer(s, path)).toBe(want);
        pages++;
      }
    }
    expect(pages).toBeGreaterThan(expected.blocks.length);
    // Some of a page cached, the rest not: every other tx of the biggest block evicted.
    const biggest = expected.blocks.reduce((a, b) => (b.nTx > a.nTx ? b : a));
    expect(biggest.nTx).toBeGreaterThan(3);
    big.clear();
    for (const [i, txid] of biggest.txids.entries()) if (i % 2 === 1) await answer(cached, `/tx/${txid}`);
    const hitsBefore = big.hits;
    expect(await answer(cached, `/block/${biggest.hash}/txs`)).toBe(await answer(plain, `/block/${biggest.hash}/txs`));
    expect(big.hits - hitsBefore).toBe(Math.floor(Math.min(25, biggest.nTx) / 2));
  });

  test("the pages of every script's history (/txs, /txs/chain, their cursors and max_txs): the uncached answer, cold and warm", async () => {
    big.clear();
    const scripts = Object.values(expected.scripts);
    expect(scripts.length).toBeGreaterThan(10);
    let checked = 0;
    for (const sc of scripts) {
      const base = `/scripthash/${sc.scripthash}`;
      const confirmed = sc.history.filter((h) => h.height > 0);
      const mid = confirmed[Math.floor(confirmed.length / 2)]?.txid;
      const paths = [`${base}/txs`, `${base}/txs/chain`, `${base}/txs?max_txs=3`];
      if (mid) paths.push(`${base}/txs/chain/${mid}`, `${base}/txs?after_txid=${mid}`);
      for (const path of paths) {
        const want = await answer(plain, path);
        for (const s of [cached, cached, tiny, tiny]) expect(await answer(s, path)).toBe(want);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(3 * scripts.length);
    expect(big.hits).toBeGreaterThan(0);
  });

  test("unknown and malformed txids answer as without the cache, and are not stored", async () => {
    const before = big.size;
    for (const path of [`/tx/${"00".repeat(32)}`, "/tx/xyz", `/block/${expected.blocks[1]!.hash}/txs/1`]) {
      expect(await answer(cached, path)).toBe(await answer(plain, path));
    }
    expect(big.size).toBe(before);
  });
});
