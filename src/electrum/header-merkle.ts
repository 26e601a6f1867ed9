/**
 * Merkle proofs over the block hashes of heights 0 … cp_height (`blockchain.block.header(s)` with
 * `cp_height`, peers-and-protocol.md §1.10), all hashes in internal byte order.
 *
 * The naive proof re-hashes all cp_height + 1 leaves (~900k reads and hashes on mainnet).
 * HeaderMerkleCache does what ElectrumX's MerkleCache does: it keeps one level of the tree, the
 * roots of the 2^k-leaf segments [j·2^k, (j+1)·2^k) of the chain, so a proof only reads and hashes
 * the segment of the requested height (2^k), the partial segment at the end (< 2^k) and the cached
 * level (cp_height / 2^k). k = 10 puts that at ~3,000 hashes and ~2,000 reads at 900k blocks.
 *
 * Why the cached level does not depend on cp_height: below level k, a node of a complete segment
 * only covers its own leaves. The partial last segment is hashed k times with Bitcoin's
 * odd-level rule applied on its own (a lone node is paired with itself), which is what the whole
 * tree does there: every complete segment has an even number of nodes at each level below k, so
 * the parity of a level is that of the partial segment's part of it.
 */
import { sha256d } from "../bitcoin/hash.ts";
import { merkleBranch, merkleRoot } from "../bitcoin/merkle.ts";

export interface MerkleProof {
  /** Sibling hashes from the leaf level up (internal byte order). */
  readonly branch: Uint8Array[];
  readonly root: Uint8Array;
}

/**
 * Block hashes of heights fromHeight … fromHeight + count - 1, in height order; fewer (stopping
 * at the tip) when the chain is shorter.
 */
export type ReadBlockHashes = (fromHeight: number, count: number) => readonly Uint8Array[];

/** 2^10 leaves per segment: ~880 cached nodes at 900k blocks, 32 bytes each. */
export const DEFAULT_SEGMENT_BITS = 10;

function checkHeights(height: number, cpHeight: number): void {
  if (!Number.isSafeInteger(height) || !Number.isSafeInteger(cpHeight) || height < 0 || height > cpHeight) {
    throw new RangeError(`header proof needs 0 <= height <= cp_height, got height ${height}, cp_height ${cpHeight}`);
  }
}

/** The reference computation (and the test oracle): the whole tree over `leaves[0 … cpHeight]`. */
export function naiveHeaderProof(leaves: readonly Uint8Array[], height: number, cpHeight: number): MerkleProof {
  checkHeights(height, cpHeight);
  if (leaves.length <= cpHeight) throw new RangeError(`header proof to cp_height ${cpHeight} needs ${cpHeight + 1} hashes, got ${leaves.length}`);
  const tree = leaves.slice(0, cpHeight + 1);
  return { branch: merkleBranch(tree, height), root: merkleRoot(tree) };
}

function ceilLog2(n: number): number {
  return n <= 1 ? 0 : 32 - Math.clz32(n - 1);
}

interface Climb {
  /** The node `rounds` levels up (the root when the nodes are all consumed). */
  readonly top: Uint8Array;
  /** The branch of `index` over those levels; empty for index -1. */
  readonly branch: Uint8Array[];
}

/**
 * Hashes `nodes` up `rounds` levels, Bitcoin's rule at every level (an odd last node, even a lone
 * one, is paired with itself), collecting the branch of `index` (-1: none) on the way.
 */
function climb(nodes: readonly Uint8Array[], index: number, rounds: number): Climb {
  const pair = new Uint8Array(64);
  const branch: Uint8Array[] = [];
  let level = nodes;
  let i = index;
  for (let r = 0; r < rounds; r++) {
    if (i >= 0) branch.push(level[i ^ 1] ?? level[i]!);
    const next: Uint8Array[] = [];
    for (let j = 0; j < level.length; j += 2) {
      const left = level[j]!;
      pair.set(left, 0);
      pair.set(level[j + 1] ?? left, 32);
      next.push(sha256d(pair));
    }
    level = next;
    i = i >= 0 ? i >> 1 : -1;
  }
  return { top: level[0]!, branch };
}

/** Root and branch of a standard tree (until one node is left). */
function climbToRoot(nodes: readonly Uint8Array[], index: number): Climb {
  return climb(nodes, index, ceilLog2(nodes.length));
}

function sameHash(a: Uint8Array | undefined, b: Uint8Array): boolean {
  if (a === undefined || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export interface HeaderMerkleCacheOptions {
  /** log2 of the segment size: the cached level's depth k (default 10). */
  readonly segmentBits?: number;
}

/**
 * Cached header proofs over a chain that grows and reorgs. Correct without being told of reorgs:
 * before each use it compares the block hash at the end of the last cached segment it needs with
 * the store (one read). Block hashes chain (each header commits to its parent), so an unchanged
 * hash at height h means nothing changed at or below h; on a mismatch it bisects the cached
 * segments (log2 reads) and drops the changed ones. `invalidateFrom` drops them at once.
 */
export class HeaderMerkleCache {
  private readonly segmentBits: number;
  private readonly segmentSize: number;
  /** Level-k nodes: the merkle root of each complete segment, in chain order. */
  private readonly segmentRoots: Uint8Array[] = [];
  /** The block hash at the last height of each cached segment (what reorg detection compares). */
  private readonly segmentLastHashes: Uint8Array[] = [];

  constructor(
    private readonly readHashes: ReadBlockHashes,
    opts: HeaderMerkleCacheOptions = {},
  ) {
    const bits = opts.segmentBits ?? DEFAULT_SEGMENT_BITS;
    if (!Number.isInteger(bits) || bits < 0 || bits > 20) throw new RangeError(`segmentBits must be 0 … 20, got ${bits}`);
    this.segmentBits = bits;
    this.segmentSize = 2 ** bits;
  }

  /** Complete segments cached (each covers 2^k heights from height 0 up). */
  get cachedSegments(): number {
    return this.segmentRoots.length;
  }

  /** Forgets every cached segment holding a height >= `height` (block hashes there changed). */
  invalidateFrom(height: number): void {
    const keep = Math.max(0, Math.floor(height / this.segmentSize));
    if (keep < this.segmentRoots.length) {
      this.segmentRoots.length = keep;
      this.segmentLastHashes.length = keep;
    }
  }

  /** The proof of the block hash at `height` in the tree of heights 0 … cpHeight (all in the store). */
  proof(height: number, cpHeight: number): MerkleProof {
    checkHeights(height, cpHeight);
    const leafCount = cpHeight + 1;
    const size = this.segmentSize;
    if (leafCount <= size) {
      const r = climbToRoot(this.read(0, leafCount), height);
      return { branch: r.branch, root: r.top };
    }
    const completeSegments = Math.floor(leafCount / size);
    this.prepare(completeSegments);
    const segment = Math.floor(height / size);
    const segmentStart = segment * size;
    const lower = climb(this.read(segmentStart, Math.min(size, leafCount - segmentStart)), height - segmentStart, this.segmentBits);
    const level = this.segmentRoots.slice(0, completeSegments);
    const partialStart = completeSegments * size;
    if (partialStart < leafCount) {
      level.push(segment === completeSegments ? lower.top : climb(this.read(partialStart, leafCount - partialStart), -1, this.segmentBits).top);
    }
    const upper = climbToRoot(level, segment);
    return { branch: [...lower.branch, ...upper.branch], root: upper.top };
  }

  /** Makes segments 0 … count-1 cached and current. */
  private prepare(count: number): void {
    this.dropChanged(Math.min(count, this.segmentRoots.length));
    while (this.segmentRoots.length < count) this.appendSegment();
  }

  /** Drops the cached segments whose hashes changed, checking segments below `upto` only. */
  private dropChanged(upto: number): void {
    if (upto === 0 || this.lastHashMatches(upto - 1)) return;
    let good = -1; // matches (or none)
    let bad = upto - 1; // differs
    while (bad - good > 1) {
      const mid = (good + bad) >> 1;
      if (this.lastHashMatches(mid)) good = mid;
      else bad = mid;
    }
    this.invalidateFrom((good + 1) * this.segmentSize);
  }

  private lastHashMatches(segment: number): boolean {
    const [stored] = this.readHashes((segment + 1) * this.segmentSize - 1, 1);
    return stored !== undefined && sameHash(this.segmentLastHashes[segment], stored);
  }

  private appendSegment(): void {
    const leaves = this.read(this.segmentRoots.length * this.segmentSize, this.segmentSize);
    this.segmentRoots.push(climb(leaves, -1, this.segmentBits).top);
    this.segmentLastHashes.push(leaves[leaves.length - 1]!);
  }

  private read(fromHeight: number, count: number): readonly Uint8Array[] {
    const hashes = this.readHashes(fromHeight, count);
    if (hashes.length < count) {
      throw new RangeError(`block hashes of heights ${fromHeight} … ${fromHeight + count - 1} are not all in the store (got ${hashes.length})`);
    }
    return hashes.length === count ? hashes : hashes.slice(0, count);
  }
}
