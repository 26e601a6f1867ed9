/**
 * Merkle tree over txids (internal byte order), Bitcoin's rule: a level with an odd number of
 * nodes pairs its last node with itself. (That rule permits CVE-2012-2459 duplicate-tx trees;
 * callers check block validity elsewhere, this module only computes.)
 */
import { sha256d } from "./hash.ts";

const ZERO_HASH = new Uint8Array(32);

function hashPair(pair: Uint8Array, left: Uint8Array, right: Uint8Array): Uint8Array {
  pair.set(left, 0);
  pair.set(right, 32);
  return sha256d(pair);
}

function nextLevel(level: readonly Uint8Array[], pair: Uint8Array): Uint8Array[] {
  const next: Uint8Array[] = [];
  for (let i = 0; i < level.length; i += 2) {
    const left = level[i]!;
    next.push(hashPair(pair, left, level[i + 1] ?? left));
  }
  return next;
}

/** The merkle root of `txids`; 32 zero bytes for an empty list, as Core's ComputeMerkleRoot. */
export function merkleRoot(txids: readonly Uint8Array[]): Uint8Array {
  if (txids.length === 0) return ZERO_HASH.slice();
  const pair = new Uint8Array(64);
  let level: readonly Uint8Array[] = txids;
  while (level.length > 1) level = nextLevel(level, pair);
  return level[0]!;
}

/**
 * Sibling hashes from the leaf level up for the tx at `index` (Electrum
 * `blockchain.transaction.get_merkle` order); a node without a sibling is paired with itself.
 */
export function merkleBranch(txids: readonly Uint8Array[], index: number): Uint8Array[] {
  if (!Number.isInteger(index) || index < 0 || index >= txids.length) {
    throw new RangeError(`merkle branch index ${index} out of range for ${txids.length} txids`);
  }
  const pair = new Uint8Array(64);
  const branch: Uint8Array[] = [];
  let level: readonly Uint8Array[] = txids;
  let i = index;
  while (level.length > 1) {
    branch.push(level[i ^ 1] ?? level[i]!);
    level = nextLevel(level, pair);
    i >>= 1;
  }
  return branch;
}

/** The root implied by `leaf` at `index` and its `branch` (an SPV client's check). */
export function merkleRootFromBranch(leaf: Uint8Array, branch: readonly Uint8Array[], index: number): Uint8Array {
  const pair = new Uint8Array(64);
  let node = leaf;
  let i = index;
  for (const sibling of branch) {
    node = i & 1 ? hashPair(pair, sibling, node) : hashPair(pair, node, sibling);
    i >>= 1;
  }
  return node;
}
