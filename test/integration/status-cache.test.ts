/**
 * Statuses kept up to date (query/status-cache.ts) against statuses read whole (test/helpers/electrum-history.ts),
 * over the fixture's index as it grows block by block, through a reorg below a kept status, with
 * a txs limit, and with the cache's bound.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { hexToBytes } from "../../src/bitcoin/bytes.ts";
import { createLogger } from "../../src/log.ts";
import { Mempool } from "../../src/mempool/mempool.ts";
import { mempoolChainOf, offlineMempoolNode } from "../../src/mempool/follow.ts";
import { noopMempoolMetrics } from "../../src/mempool/metrics.ts";
import { StatusCache } from "../../src/query/status-cache.ts";
import { scriptKeyOf } from "../../src/store/rows.ts";
import { cappedAt, loadExpected, openFixtureIndexer } from "../helpers/fixture.ts";
import { wholeHistory, wholeStatus } from "../helpers/electrum-history.ts";
import type { Indexer } from "../../src/index/sync.ts";

const expected = loadExpected();
const log = createLogger({ verbosity: 0, timestamp: false, sink: () => {} });
const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});
const rollback = (indexer: Indexer, height: number) => (indexer as unknown as { rollback(height: number): void }).rollback(height);
const keys = [...new Set(expected.scripts.map((s) => s.script))].map((hex) => scriptKeyOf(hexToBytes(hex)));

function setup() {
  const o = openFixtureIndexer({ log }, cleanups);
  const reader = o.indexer.reader;
  const chain = mempoolChainOf(reader, () => reader.tip()?.hash ?? null);
  const mempool = new Mempool({ node: offlineMempoolNode(chain), chain, log, metrics: noopMempoolMetrics(), indexUnspendables: false });
  return { ...o, reader, mempool };
}

/** Each key's status both ways, or the error each gives. */
function compare(o: ReturnType<typeof setup>, cache: StatusCache, limit = 0) {
  const whole = (key: Uint8Array) => {
    try {
      return wholeStatus(wholeHistory(o.reader, o.mempool, key, limit));
    } catch (err) {
      return `error: ${(err as Error).message}`;
    }
  };
  const kept = (key: Uint8Array) => {
    try {
      return cache.status(key, o.mempool, limit).status;
    } catch (err) {
      return `error: ${(err as Error).message}`;
    }
  };
  for (const key of keys) expect(kept(key)).toBe(whole(key));
}

describe("kept statuses", () => {
  test("equal to whole reads as the chain grows block by block, and through a reorg below them", async () => {
    const o = setup();
    const cache = new StatusCache(o.reader, { minEntries: 1 });
    await o.indexer.update(cappedAt(o.source, 40));
    compare(o, cache);
    const kept = cache.size;
    expect(kept).toBeGreaterThan(5);
    for (let h = 41; h <= expected.tip.height; h += 7) {
      await o.indexer.update(cappedAt(o.source, h));
      compare(o, cache);
    }
    expect(cache.counts.incremental).toBeGreaterThan(kept);
    // A reorg below the blocks the statuses were kept at: they are read whole again, and right.
    await o.indexer.update(o.source);
    compare(o, cache);
    const full = cache.counts.full;
    rollback(o.indexer, 70);
    await o.indexer.update(cappedAt(o.source, 100));
    compare(o, cache);
    expect(cache.counts.full).toBeGreaterThan(full);
    await o.indexer.update(o.source);
    compare(o, cache);
  });

  test("the txs limit refuses what the whole read refuses, before and after a block", async () => {
    const o = setup();
    await o.indexer.update(cappedAt(o.source, 100));
    const cache = new StatusCache(o.reader, { minEntries: 1 });
    for (const limit of [1, 3, 10]) compare(o, cache, limit);
    compare(o, cache);
    await o.indexer.update(o.source);
    for (const limit of [3, 10, 0]) compare(o, cache, limit);
  });

  test("bounded: at most maxEntries scripts, short histories not kept", async () => {
    const o = setup();
    await o.indexer.update(o.source);
    const lru = new StatusCache(o.reader, { minEntries: 1, maxEntries: 3 });
    compare(o, lru);
    expect(lru.size).toBe(3);
    const none = new StatusCache(o.reader, { minEntries: 1e9 });
    compare(o, none);
    expect(none.size).toBe(0);
  });
});
