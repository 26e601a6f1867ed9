/**
 * Proof of work from a header's compact target (nBits), as Core's arith_uint256::SetCompact and
 * GetBlockProof, so an offline block-file reader can pick the chain with the most work.
 */
import { ParseError } from "../errors.ts";

export interface CompactTarget {
  readonly target: bigint;
  /** Sign bit set with a non-zero mantissa: Core treats the header as invalid. */
  readonly negative: boolean;
  /** The target does not fit in 256 bits. */
  readonly overflow: boolean;
}

/** Decodes nBits exactly as Core's SetCompact, flags included. */
export function decodeCompact(bits: number): CompactTarget {
  const b = bits >>> 0;
  const size = b >>> 24;
  let word = b & 0x007fffff;
  let target: bigint;
  if (size <= 3) {
    word >>>= 8 * (3 - size);
    target = BigInt(word);
  } else {
    target = BigInt(word) << BigInt(8 * (size - 3));
  }
  const negative = word !== 0 && (b & 0x00800000) !== 0;
  const overflow = word !== 0 && (size > 34 || (word > 0xff && size > 33) || (word > 0xffff && size > 32));
  // Core's 256-bit arithmetic drops bits shifted past 2^256; keep the same value.
  return { target: target & MASK_256, negative, overflow };
}

const TWO_256 = 1n << 256n;
const MASK_256 = TWO_256 - 1n;

/** The target encoded by nBits; throws ParseError for a negative or overflowing encoding. */
export function targetFromBits(bits: number): bigint {
  const c = decodeCompact(bits);
  if (c.negative) throw new ParseError(`negative compact target 0x${(bits >>> 0).toString(16)}`);
  if (c.overflow) throw new ParseError(`overflowing compact target 0x${(bits >>> 0).toString(16)}`);
  return c.target;
}

/**
 * Expected number of hashes for a block at this target: 2^256 / (target + 1), 0 for a negative,
 * overflowing or zero target (Core's GetBlockProof).
 */
export function workFromBits(bits: number): bigint {
  const c = decodeCompact(bits);
  if (c.negative || c.overflow || c.target === 0n) return 0n;
  return TWO_256 / (c.target + 1n);
}
