/**
 * The memory governor (src/memory-governor.ts): a full collection each time RSS has grown by a
 * step over the lowest level seen since the last one, never at rest; a real collection gives
 * back the memory of garbage buffers.
 */
import { expect, test } from "bun:test";
import { DEFAULT_GOVERNOR, MemoryGovernor } from "../../src/memory-governor.ts";

const MiB = 2 ** 20;

test("collects after a step of growth over the floor, and takes what it gave back as the new floor", () => {
  let rss = 100 * MiB;
  const collections: [number, number][] = [];
  const g = new MemoryGovernor({
    stepBytes: 32 * MiB,
    intervalMs: 100,
    rssBytes: () => rss,
    collect: () => (rss -= 20 * MiB),
    onCollect: (before, after) => collections.push([before / MiB, after / MiB]),
  });
  expect(g.check()).toBe(false); // at rest
  rss = 131 * MiB;
  expect(g.check()).toBe(false); // under a step
  rss = 80 * MiB;
  expect(g.check()).toBe(false); // lower: the new floor
  rss = 112 * MiB;
  expect(g.check()).toBe(true); // a step over 80
  expect(collections).toEqual([[112, 92]]);
  rss = 123 * MiB;
  expect(g.check()).toBe(false); // 31 over the floor of 92
  rss = 124 * MiB;
  expect(g.check()).toBe(true);
  expect(collections).toEqual([[112, 92], [124, 104]]);
  for (let i = 0; i < 5; i++) expect(g.check()).toBe(false); // at rest again
});

test("with Bun's collector: garbage buffers over a step are collected", () => {
  let collected = 0;
  let gaveBack = 0;
  const g = new MemoryGovernor({
    ...DEFAULT_GOVERNOR,
    rssBytes: () => process.memoryUsage.rss(),
    collect: () => (collected++, Bun.gc(true)),
    onCollect: (before, after) => (gaveBack = before - after),
  });
  // 256 MiB of buffers, touched, then dropped: garbage the runtime has not collected yet.
  let junk: Uint8Array[] | null = Array.from({ length: 64 }, () => new Uint8Array(4 * MiB).fill(1));
  expect(junk.length).toBe(64);
  junk = null;
  expect(g.check()).toBe(true);
  expect(collected).toBe(1);
  expect(gaveBack).toBeGreaterThan(128 * MiB);
  expect(g.check()).toBe(false);
});

test("start and stop: an unref'd timer, stopped once", async () => {
  let looks = 0;
  const g = new MemoryGovernor({ stepBytes: MiB, intervalMs: 1, rssBytes: () => (looks++, 0), collect: () => {} });
  g.start();
  g.start();
  const t = Date.now();
  while (looks < 4 && Date.now() - t < 5_000) await Bun.sleep(2);
  g.stop();
  const seen = looks;
  await Bun.sleep(10);
  expect(seen).toBeGreaterThanOrEqual(4);
  expect(looks).toBe(seen);
});
