import { describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { MempoolEntry } from "../../../src/mempool/types.ts";
import { LocalIpCounts, sharedCounts, IP_COUNTS_BYTES } from "../../../src/serve/ip-counts.ts";
import { MempoolPresence, presenceKey } from "../../../src/serve/mempool-presence.ts";
import { BlockChangeWatcher, changeGuard, SharedState } from "../../../src/serve/shared-state.ts";
import { BlockBounds } from "../../../src/store/block-bounds.ts";
import type { BlockRow } from "../../../src/store/rows.ts";

/** A deterministic generator (xorshift32) for the model tests. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

const bytes = (r: () => number, n: number) => Uint8Array.from({ length: n }, () => Math.floor(r() * 256));

function fakeEntry(r: () => number): { entry: MempoolEntry; scripts: string[]; outpoints: [Uint8Array, number][] } {
  const txid = bytes(r, 32);
  const outpoints: [Uint8Array, number][] = Array.from({ length: 1 + Math.floor(r() * 3) }, () => [bytes(r, 32), Math.floor(r() * 4)]);
  const scripts = Array.from({ length: 1 + Math.floor(r() * 3) }, () => Buffer.from(bytes(r, 11)).toString("hex"));
  const entry = { txid, tx: { inputs: outpoints.map(([prevTxid, prevVout]) => ({ prevTxid, prevVout })) } } as unknown as MempoolEntry;
  return { entry, scripts, outpoints };
}

describe("the mempool presence filter", () => {
  test("never says no for a key of a tx in the mempool; back to all-no once every tx left", () => {
    const r = rng(7);
    const presence = new MempoolPresence();
    const inPool: ReturnType<typeof fakeEntry>[] = [];
    for (let step = 0; step < 4000; step++) {
      if (inPool.length > 0 && r() < 0.45) {
        const [gone] = inPool.splice(Math.floor(r() * inPool.length), 1);
        presence.removed(gone!.entry, gone!.scripts);
      } else {
        const e = fakeEntry(r);
        presence.added(e.entry, e.scripts);
        inPool.push(e);
      }
      if (step % 97 === 0) {
        for (const e of inPool) {
          expect(presence.mayHave(presenceKey.txid(e.entry.txid))).toBe(true);
          for (const s of e.scripts) expect(presence.mayHaveScript(Buffer.from(s, "hex"))).toBe(true);
          for (const [t, v] of e.outpoints) expect(presence.mayHave(presenceKey.outpoint(t, v))).toBe(true);
        }
      }
    }
    // Keys never added: with a few hundred txs in 2^24 counters, "maybe" is rare.
    let falsePositives = 0;
    for (let i = 0; i < 2000; i++) if (presence.mayHave(presenceKey.txid(bytes(r, 32)))) falsePositives++;
    expect(falsePositives).toBeLessThan(5);
    for (const e of inPool.splice(0)) presence.removed(e.entry, e.scripts);
    expect(new Uint8Array(presence.buffer).every((c) => c === 0)).toBe(true);
  });

  test("a counter at 255 stays there: a key counted that often is never wrongly ruled out", () => {
    const presence = new MempoolPresence();
    const r = rng(3);
    const e = fakeEntry(r);
    for (let i = 0; i < 300; i++) presence.added(e.entry, e.scripts);
    for (let i = 0; i < 299; i++) presence.removed(e.entry, e.scripts);
    expect(presence.mayHave(presenceKey.txid(e.entry.txid))).toBe(true);
    presence.removed(e.entry, e.scripts);
    // Saturated counters are never lowered again: still "maybe", never a false "no".
    expect(presence.mayHave(presenceKey.txid(e.entry.txid))).toBe(true);
  });

  test("another thread sees the same answers over the shared buffer", () => {
    const presence = new MempoolPresence();
    const e = fakeEntry(rng(11));
    presence.added(e.entry, e.scripts);
    const view = new MempoolPresence(presence.buffer);
    expect(view.mayHave(presenceKey.txid(e.entry.txid))).toBe(true);
    presence.removed(e.entry, e.scripts);
    expect(view.mayHave(presenceKey.txid(e.entry.txid))).toBe(false);
  });
});

describe("the shared Electrum limit counts", () => {
  test("per address: the count-min sketch equals exact counts for a few hundred addresses, and returns to zero", () => {
    const r = rng(5);
    const shared = sharedCounts(new SharedArrayBuffer(IP_COUNTS_BYTES));
    const exact = new LocalIpCounts();
    const ips = Array.from({ length: 300 }, (_, i) => `10.0.${i >> 8}.${i & 255}`);
    const live: string[] = [];
    for (let step = 0; step < 5000; step++) {
      if (live.length > 0 && r() < 0.5) {
        const [ip] = live.splice(Math.floor(r() * live.length), 1);
        expect(shared.clientsPerIp.add(ip!, -1)).toBe(exact.add(ip!, -1));
        shared.clients.add(-1);
      } else {
        const ip = ips[Math.floor(r() * ips.length)]!;
        live.push(ip);
        expect(shared.clientsPerIp.add(ip, 1)).toBe(exact.add(ip, 1));
        expect(shared.clients.add(1)).toBe(live.length);
      }
    }
    for (const ip of live.splice(0)) shared.clientsPerIp.add(ip, -1);
    for (const ip of ips) expect(shared.clientsPerIp.get(ip)).toBe(0);
    // The two sketches are separate.
    shared.subsPerIp.add("10.0.0.1", 5);
    expect(shared.clientsPerIp.get("10.0.0.1")).toBe(0);
    expect(shared.subsPerIp.get("10.0.0.1")).toBe(5);
  });

  test("a buffer of the wrong size is refused", () => {
    expect(() => sharedCounts(new SharedArrayBuffer(64))).toThrow("shared counts are");
  });
});

describe("the shared chain state", () => {
  test("a watcher gets the lowest height changed since its last look; past the ring, everything", () => {
    const state = SharedState.create();
    const w = new BlockChangeWatcher(state);
    expect(w.poll()).toBe(-1);
    state.blocksChanged(10, 10);
    state.blocksChanged(11, 11);
    expect(w.poll()).toBe(10);
    expect(w.poll()).toBe(-1);
    state.blocksChanged(12, 12);
    state.blocksChanged(8, 9); // a reorg back to 8
    state.blocksChanged(10, 10);
    expect(w.poll()).toBe(8);
    for (let i = 0; i < 100; i++) state.blocksChanged(100 + i, 100 + i);
    expect(w.poll()).toBe(0);
    expect(state.tipHeight).toBe(199);
  });

  test("while a commit is under way, each look at the writer's count differs (nothing seen then is kept)", () => {
    const state = SharedState.create();
    state.committed(7);
    expect(state.writerCommits()).toBe(7);
    expect(state.writerCommits()).toBe(7);
    state.committing();
    const a = state.writerCommits();
    const b = state.writerCommits();
    expect(a).not.toBe(b);
    expect(a).not.toBe(7);
    state.committed(8);
    expect(state.writerCommits()).toBe(8);
  });

  test("the change sequence: odd from a commit until the synchronous run after it is over, once for commits in one run", async () => {
    const state = SharedState.create();
    const view = new SharedState(state.buffer);
    state.committed(3); // the count published at start: no change
    await Promise.resolve();
    expect(view.changeSeq).toBe(0);
    state.committing();
    expect(view.changeSeq).toBe(1);
    state.committed(4);
    // What the indexer publishes after its commit (its listeners) is still part of the change.
    state.blocksChanged(10, 10);
    expect(view.changeSeq).toBe(1);
    state.committing();
    state.committed(5);
    expect(view.changeSeq).toBe(1);
    await Promise.resolve();
    expect(view.changeSeq).toBe(2);
    // A COMMIT that fails still ends the change (Db.commit calls committed in a finally).
    state.committing();
    state.committed(5);
    await Promise.resolve();
    expect(view.changeSeq).toBe(4);
  });

  test("settledChangeSeq: at once when no change is under way; bounded when one is", async () => {
    const state = SharedState.create();
    const view = new SharedState(state.buffer);
    expect(view.settledChangeSeq(1000)).toBe(0);
    state.committing();
    const t = performance.now();
    expect(view.settledChangeSeq(30)).toBe(1);
    expect(performance.now() - t).toBeGreaterThanOrEqual(25);
    state.committed(1);
    await Promise.resolve();
    expect(view.settledChangeSeq(1000)).toBe(2);
  });

  test("a worker blocked on a change under way goes on as soon as it ends", async () => {
    const state = SharedState.create();
    state.committing();
    const code = `
      import { SharedState } from ${JSON.stringify(new URL("../../../src/serve/shared-state.ts", import.meta.url).pathname)};
      self.onmessage = (e) => {
        const view = new SharedState(e.data);
        self.postMessage({ waiting: true });
        const t = performance.now();
        const seq = view.settledChangeSeq(10_000);
        self.postMessage({ seq, ms: performance.now() - t });
      };`;
    const dir = mkdtempSync(join(tmpdir(), "settle-worker-"));
    const file = join(dir, "worker.ts");
    writeFileSync(file, code);
    const worker = new Worker(file);
    try {
      const messages: { waiting?: boolean; seq?: number; ms?: number }[] = [];
      const next = () => new Promise<(typeof messages)[number]>((resolve) => worker.addEventListener("message", (e) => resolve(e.data), { once: true }));
      const waiting = next();
      worker.postMessage(state.buffer);
      expect((await waiting).waiting).toBe(true);
      // (The worker waits now, or is about to: either way it must see the change end.)
      const answer = next();
      state.committed(1);
      await Promise.resolve();
      const { seq, ms } = await answer;
      expect(seq).toBe(2);
      expect(ms!).toBeLessThan(5_000);
    } finally {
      worker.terminate();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("changeGuard: a read starts on a snapshot newer than the last change, and a change during it is seen", async () => {
    const state = SharedState.create();
    let snapshotsEnded = 0;
    const guard = changeGuard(new SharedState(state.buffer), () => snapshotsEnded++);
    const first = guard.begin();
    expect(snapshotsEnded).toBe(1); // the first read of the thread: whatever was open is older
    expect(guard.changed(first)).toBe(false);
    expect(guard.begin()).toBe(first);
    expect(snapshotsEnded).toBe(1); // nothing changed: the turn's snapshot is kept
    state.committing();
    expect(guard.changed(first)).toBe(true); // a change began during the read
    state.committed(1);
    await Promise.resolve();
    expect(guard.changed(first)).toBe(true);
    const second = guard.begin();
    expect(second).toBe(first + 2);
    expect(snapshotsEnded).toBe(2);
    expect(guard.changed(second)).toBe(false);
  });

  test("mempool size, synced and reorg count reach the other side of the buffer", () => {
    const state = SharedState.create();
    const view = new SharedState(state.buffer);
    state.setMempool(42, true);
    state.rolledBack();
    expect([view.mempoolSize, view.mempoolSynced, view.rollbacks]).toEqual([42, true, 1]);
  });
});

describe("block bounds in a thread other than the writer's", () => {
  /** A store of blocks of 10 txs each that the test grows and cuts. */
  function store(heights: number) {
    let rows: BlockRow[] = [];
    const set = (n: number, txs = 10) => {
      rows = Array.from({ length: n }, (_, h) => ({ height: h, firstTxnum: h * txs, txCount: txs }) as unknown as BlockRow);
    };
    set(heights);
    return {
      set,
      source: {
        firstTxnumsFrom: (from: number) => rows.filter((r) => r.height >= from).map((r) => ({ height: r.height, firstTxnum: r.firstTxnum })),
        blockAt: (h: number) => rows[h] ?? null,
      },
    };
  }

  test("a txnum past the last known block's txs reads the new blocks at once, without being told", () => {
    const s = store(3);
    const state = SharedState.create();
    const w = new BlockChangeWatcher(state);
    const bounds = new BlockBounds(s.source, 16, () => w.poll());
    expect(bounds.heightOf(25)).toBe(2);
    s.set(5); // committed, not yet published
    expect(bounds.heightOf(35)).toBe(3);
    expect(bounds.blockAt(4)?.height).toBe(4);
  });

  test("a reorg published in the shared state replaces the heights from its fork", () => {
    const s = store(5);
    const state = SharedState.create();
    const w = new BlockChangeWatcher(state);
    const bounds = new BlockBounds(s.source, 16, () => w.poll());
    expect(bounds.heightOf(45)).toBe(4);
    s.set(5, 12); // the same heights, other blocks (12 txs each)
    state.blocksChanged(0, 4);
    expect(bounds.heightOf(45)).toBe(3);
    expect(bounds.blockAt(4)?.txCount).toBe(12);
  });
});
