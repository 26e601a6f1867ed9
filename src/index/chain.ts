import { hashToHex } from "../bitcoin/bytes.ts";

const HASH_BYTES = 32;

/**
 * The indexed best chain in memory: block hash by height, 32 bytes a block in one growable array
 * (~30 MB for mainnet's 930k blocks; an array of Uint8Arrays and a Map by hex took 327 B a block).
 * Hashes handed out are copies: a reorg rewrites the array in place.
 */
export class HeaderChain {
  private buf = new Uint8Array(HASH_BYTES * 1024);
  private n = 0;

  constructor(hashes: readonly Uint8Array[] = []) {
    for (const h of hashes) this.push(h);
  }

  /** Height of the tip; -1 when empty. */
  get tipHeight(): number {
    return this.n - 1;
  }

  get tipHash(): Uint8Array | null {
    return this.hashAt(this.n - 1);
  }

  hashAt(height: number): Uint8Array | null {
    if (!Number.isInteger(height) || height < 0 || height >= this.n) return null;
    return this.buf.slice(height * HASH_BYTES, (height + 1) * HASH_BYTES);
  }

  push(hash: Uint8Array): void {
    if ((this.n + 1) * HASH_BYTES > this.buf.length) {
      const bigger = new Uint8Array(this.buf.length * 2);
      bigger.set(this.buf);
      this.buf = bigger;
    }
    this.buf.set(hash.subarray(0, HASH_BYTES), this.n * HASH_BYTES);
    this.n++;
  }

  /** Drops every block at `height` and above. */
  truncate(height: number): void {
    this.n = Math.max(0, Math.min(this.n, height));
  }
}

/**
 * The highest height at which `ours` and the source agree, or -1 if none does (not even genesis).
 * Probes the tip, then steps back exponentially, then bisects: O(log depth) round trips for a reorg
 * of any depth. `sourceHashes(heights)` answers null for a height the source does not have.
 */
export async function findForkHeight(
  ours: HeaderChain,
  sourceHashes: (heights: number[]) => Promise<(Uint8Array | null)[]>,
): Promise<number> {
  const same = async (h: number) => {
    const [theirs] = await sourceHashes([h]);
    const mine = ours.hashAt(h);
    return theirs != null && mine != null && hashToHex(theirs) === hashToHex(mine);
  };
  let hi = ours.tipHeight; // candidate that may differ
  if (hi < 0) return -1;
  if (await same(hi)) return hi;
  // Find some height lo that agrees, stepping back 1, 2, 4, … blocks.
  let step = 1;
  let lo = hi - step;
  while (lo >= 0 && !(await same(lo))) {
    hi = lo;
    step *= 2;
    lo = Math.max(hi - step, -1);
    if (lo === -1) break;
  }
  if (lo < 0) {
    lo = -1;
  }
  // Invariant: lo agrees (or is -1), hi differs. Bisect.
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (await same(mid)) lo = mid;
    else hi = mid;
  }
  return lo;
}
