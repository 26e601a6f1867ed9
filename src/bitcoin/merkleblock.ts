/**
 * bitcoind's CMerkleBlock (`gettxoutproof`, Esplora's `/tx/:txid/merkleblock-proof`): the block
 * header and a partial merkle tree (BIP37) proving that some txids are in the block.
 *
 * Serialization (Core's merkleblock.h): header (80 bytes) ‖ u32 LE total number of txs ‖
 * CompactSize hash count ‖ hashes (internal byte order) ‖ CompactSize flag-byte count ‖ flag bytes,
 * where the traversal bits are packed least significant bit first.
 */
import { sha256d } from "./hash.ts";

/** Width of the tree level `height` levels above the leaves (Core's CalcTreeWidth). */
function treeWidth(txCount: number, height: number): number {
  return Math.floor((txCount + 2 ** height - 1) / 2 ** height);
}

/**
 * Every level of the merkle tree, leaves first (Bitcoin's rule: an odd level pairs its last node
 * with itself), so that the traversal below reads node hashes instead of recomputing subtrees.
 */
function treeLevels(txids: readonly Uint8Array[]): Uint8Array[][] {
  const levels: Uint8Array[][] = [txids.slice()];
  const pair = new Uint8Array(64);
  let level = levels[0]!;
  while (level.length > 1) {
    const next: Uint8Array[] = [];
    for (let i = 0; i < level.length; i += 2) {
      const left = level[i]!;
      pair.set(left, 0);
      pair.set(level[i + 1] ?? left, 32);
      next.push(sha256d(pair));
    }
    levels.push(next);
    level = next;
  }
  return levels;
}

interface PartialTree {
  readonly bits: boolean[];
  readonly hashes: Uint8Array[];
}

/** Core's CPartialMerkleTree::TraverseAndBuild, depth first from the root. */
function traverse(levels: Uint8Array[][], txCount: number, matched: readonly boolean[], height: number, pos: number, out: PartialTree): void {
  const first = pos * 2 ** height;
  const end = Math.min((pos + 1) * 2 ** height, txCount);
  let parentOfMatch = false;
  for (let p = first; p < end && !parentOfMatch; p++) parentOfMatch = matched[p] === true;
  out.bits.push(parentOfMatch);
  if (height === 0 || !parentOfMatch) {
    out.hashes.push(levels[height]![pos]!);
    return;
  }
  traverse(levels, txCount, matched, height - 1, pos * 2, out);
  if (pos * 2 + 1 < treeWidth(txCount, height - 1)) traverse(levels, txCount, matched, height - 1, pos * 2 + 1, out);
}

/** Bitcoin's CompactSize encoding of a count. */
export function compactSize(n: number): Uint8Array {
  if (n < 0xfd) return Uint8Array.of(n);
  if (n <= 0xffff) return Uint8Array.of(0xfd, n & 0xff, n >>> 8);
  return Uint8Array.of(0xfe, n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, n >>> 24);
}

/**
 * The serialized CMerkleBlock of `header` (80 bytes) for a block whose txids (internal order, block
 * order) are `txids`, proving the txs for which `isMatch(index)` is true.
 */
export function merkleBlock(header: Uint8Array, txids: readonly Uint8Array[], isMatch: (index: number) => boolean): Uint8Array {
  if (header.length !== 80) throw new RangeError(`a block header is 80 bytes, got ${header.length}`);
  if (txids.length === 0) throw new RangeError("a block has at least one transaction");
  const txCount = txids.length;
  const matched = txids.map((_, i) => isMatch(i));
  let height = 0;
  while (treeWidth(txCount, height) > 1) height++;
  const tree: PartialTree = { bits: [], hashes: [] };
  traverse(treeLevels(txids), txCount, matched, height, 0, tree);

  const flags = new Uint8Array(Math.ceil(tree.bits.length / 8));
  tree.bits.forEach((bit, p) => {
    if (bit) flags[p >> 3]! |= 1 << (p & 7);
  });
  const hashCount = compactSize(tree.hashes.length);
  const flagCount = compactSize(flags.length);
  const out = new Uint8Array(80 + 4 + hashCount.length + 32 * tree.hashes.length + flagCount.length + flags.length);
  let o = 0;
  out.set(header, o);
  o += 80;
  new DataView(out.buffer).setUint32(o, txCount, true);
  o += 4;
  out.set(hashCount, o);
  o += hashCount.length;
  for (const h of tree.hashes) {
    out.set(h, o);
    o += 32;
  }
  out.set(flagCount, o);
  o += flagCount.length;
  out.set(flags, o);
  return out;
}
