/**
 * Which scripts, txids and outpoints the mempool may touch, for the serving threads
 * (--serve-workers): the mempool is kept once, in the main thread, and a worker asks it
 * (serve/remote-mempool.ts, a blocking call of ~10 µs) only when this says "maybe". Most queries
 * are of scripts and txs the mempool does not touch, and then answer from the index alone.
 *
 * A counting Bloom filter in a SharedArrayBuffer: byte counters, each key adds one to K of them,
 * a removal takes one off again, written by the main thread only. "No" is exact: every key of
 * every mempool tx is counted before the tx is visible to queries. "Maybe" may be wrong (a false
 * positive costs one call). A counter that reaches 255 stays there (never decremented): the filter
 * only grows more cautious. Sized for a full mainnet mempool: 300k txs × ~8 keys in 2^24 counters
 * with K = 3 gives ~3 % false positives.
 */
import { bytesToHex } from "../bitcoin/bytes.ts";
import type { MempoolEntry } from "../mempool/types.ts";

export const PRESENCE_COUNTERS = 1 << 24;
const K = 3;
const MASK = PRESENCE_COUNTERS - 1;
const STUCK = 255;

/** The keys of the three kinds never collide as strings. */
export const presenceKey = {
  script: (scriptKeyHex: string) => `s${scriptKeyHex}`,
  txid: (txid: Uint8Array) => `t${bytesToHex(txid)}`,
  outpoint: (txid: Uint8Array, vout: number) => `o${bytesToHex(txid)}:${vout}`,
};

export class MempoolPresence {
  private readonly counters: Uint8Array;

  constructor(readonly buffer: SharedArrayBuffer = new SharedArrayBuffer(PRESENCE_COUNTERS)) {
    if (buffer.byteLength !== PRESENCE_COUNTERS) throw new Error(`a presence filter is ${PRESENCE_COUNTERS} bytes`);
    this.counters = new Uint8Array(buffer);
  }

  mayHave(key: string): boolean {
    const h1 = Bun.hash.xxHash32(key, 0x9e3779b9);
    const h2 = Bun.hash.xxHash32(key, 0x85ebca6b) | 1;
    for (let i = 0; i < K; i++) if (Atomics.load(this.counters, (h1 + i * h2) & MASK) === 0) return false;
    return true;
  }

  mayHaveScript(scriptKey: Uint8Array): boolean {
    return this.mayHave(presenceKey.script(bytesToHex(scriptKey)));
  }

  /** The main thread's side: a tx entered (before it is visible) or left (after). */
  added(entry: MempoolEntry, scriptKeysHex: readonly string[]): void {
    for (const k of keysOf(entry, scriptKeysHex)) this.bump(k, 1);
  }

  removed(entry: MempoolEntry, scriptKeysHex: readonly string[]): void {
    for (const k of keysOf(entry, scriptKeysHex)) this.bump(k, -1);
  }

  private bump(key: string, delta: 1 | -1): void {
    const h1 = Bun.hash.xxHash32(key, 0x9e3779b9);
    const h2 = Bun.hash.xxHash32(key, 0x85ebca6b) | 1;
    // The K slots of one key may coincide: each is counted once per key, so that a removal undoes an add exactly.
    const slots = new Set<number>();
    for (let i = 0; i < K; i++) slots.add((h1 + i * h2) & MASK);
    for (const s of slots) {
      const c = this.counters[s]!;
      if (c === STUCK) continue;
      if (delta === 1) Atomics.store(this.counters, s, c + 1);
      else if (c > 0) Atomics.store(this.counters, s, c - 1);
    }
  }
}

/** Every key a query may ask about a mempool tx: its txid, the scripts it touches, the outpoints it spends. */
function keysOf(entry: MempoolEntry, scriptKeysHex: readonly string[]): string[] {
  const keys = [presenceKey.txid(entry.txid)];
  for (const hex of scriptKeysHex) keys.push(presenceKey.script(hex));
  for (const input of entry.tx.inputs) keys.push(presenceKey.outpoint(input.prevTxid, input.prevVout));
  return keys;
}
