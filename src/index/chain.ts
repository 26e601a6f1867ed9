/**
 * The indexed best chain in memory: block hash by height and height by hash. Loaded from the
 * store at start (80 bytes of hash + map entry per block: ~100 MB on mainnet's 900k blocks at most).
 */
import { hashToHex } from "../bitcoin/bytes.ts";

export class HeaderChain {
  private readonly hashes: Uint8Array[] = [];
  private readonly heights = new Map<string, number>();

  constructor(hashes: readonly Uint8Array[] = []) {
    for (const h of hashes) this.push(h);
  }

  /** Height of the tip; -1 when empty. */
  get tipHeight(): number {
    return this.hashes.length - 1;
  }

  get tipHash(): Uint8Array | null {
    return this.hashes[this.hashes.length - 1] ?? null;
  }

  hashAt(height: number): Uint8Array | null {
    return this.hashes[height] ?? null;
  }

  heightOf(hashHex: string): number | null {
    return this.heights.get(hashHex) ?? null;
  }

  push(hash: Uint8Array): void {
    this.heights.set(hashToHex(hash), this.hashes.length);
    this.hashes.push(hash);
  }

  /** Drops every block at `height` and above. */
  truncate(height: number): void {
    while (this.hashes.length > height) this.heights.delete(hashToHex(this.hashes.pop()!));
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
