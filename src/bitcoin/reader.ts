/**
 * Bounds-checked little-endian cursor over a byte array, for Bitcoin's wire format.
 * Every read checks the remaining length first, so malformed input ends in a ParseError that
 * names the field and its offset, never in `undefined` arithmetic or a RangeError.
 */
import { ParseError } from "../errors.ts";

/** Largest CompactSize Core accepts when deserializing (serialize.h MAX_SIZE, 32 MiB). */
export const MAX_COMPACT_SIZE = 0x02000000;

const TWO_POW_32 = 0x1_0000_0000;

/**
 * A cursor is behaviour over one buffer (not a data record), hence a class: JSC inlines its
 * small methods, which matters on the block-parsing hot path.
 */
export class Reader {
  /** Offset of the next byte to read, relative to the start of `data`. */
  pos: number;

  constructor(
    readonly data: Uint8Array,
    offset = 0,
  ) {
    if (offset < 0 || offset > data.length) {
      throw new ParseError(`reader offset ${offset} outside a buffer of ${data.length} bytes`);
    }
    this.pos = offset;
  }

  get remaining(): number {
    return this.data.length - this.pos;
  }

  /** Throws unless `n` more bytes are available; `what` names the field for the message. */
  need(n: number, what: string): void {
    if (this.data.length - this.pos < n) {
      throw new ParseError(
        `truncated ${what} at offset ${this.pos}: need ${n} bytes, ${this.data.length - this.pos} left`,
      );
    }
  }

  u8(what = "u8"): number {
    this.need(1, what);
    return this.data[this.pos++]!;
  }

  u16le(what = "u16"): number {
    this.need(2, what);
    const b = this.data;
    const p = this.pos;
    this.pos = p + 2;
    return b[p]! | (b[p + 1]! << 8);
  }

  /** Unsigned 32-bit (sequence, vout index, nBits, time). */
  u32le(what = "u32"): number {
    this.need(4, what);
    const b = this.data;
    const p = this.pos;
    this.pos = p + 4;
    return (b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16) | (b[p + 3]! << 24)) >>> 0;
  }

  /** Signed 32-bit (tx and block version are int32 in Core). */
  i32le(what = "i32"): number {
    this.need(4, what);
    const b = this.data;
    const p = this.pos;
    this.pos = p + 4;
    return b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16) | (b[p + 3]! << 24);
  }

  /**
   * Unsigned 64-bit as a JS number. Amounts never exceed 21e14 sat, far below 2^53, so a larger
   * value means corrupt data; refusing it keeps every `valueSat` exact.
   */
  u64le(what = "u64"): number {
    this.need(8, what);
    const b = this.data;
    const p = this.pos;
    const lo = (b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16) | (b[p + 3]! << 24)) >>> 0;
    const hi = (b[p + 4]! | (b[p + 5]! << 8) | (b[p + 6]! << 16) | (b[p + 7]! << 24)) >>> 0;
    if (hi > 0x1fffff) {
      throw new ParseError(`${what} at offset ${p} exceeds 2^53-1 (high word 0x${hi.toString(16)})`);
    }
    this.pos = p + 8;
    return hi * TWO_POW_32 + lo;
  }

  /**
   * CompactSize as Core reads it for transactions and blocks: the shortest encoding only, and at
   * most MAX_COMPACT_SIZE (a larger count could never fit in a block).
   */
  varint(what = "CompactSize"): number {
    const start = this.pos;
    this.need(1, what);
    const b = this.data;
    const first = b[start]!;
    if (first < 0xfd) {
      this.pos = start + 1;
      return first;
    }
    let value: number;
    let min: number;
    if (first === 0xfd) {
      this.need(3, what);
      value = b[start + 1]! | (b[start + 2]! << 8);
      min = 0xfd;
      this.pos = start + 3;
    } else if (first === 0xfe) {
      this.need(5, what);
      value = (b[start + 1]! | (b[start + 2]! << 8) | (b[start + 3]! << 16) | (b[start + 4]! << 24)) >>> 0;
      min = 0x10000;
      this.pos = start + 5;
    } else {
      this.need(9, what);
      const lo = (b[start + 1]! | (b[start + 2]! << 8) | (b[start + 3]! << 16) | (b[start + 4]! << 24)) >>> 0;
      const hi = (b[start + 5]! | (b[start + 6]! << 8) | (b[start + 7]! << 16) | (b[start + 8]! << 24)) >>> 0;
      // Anything with a non-zero high word is both ≥ 2^32 (canonical) and > MAX_SIZE: reject
      // here, before the number could lose precision.
      if (hi !== 0) throw new ParseError(`${what} at offset ${start} exceeds MAX_SIZE`);
      value = lo;
      min = TWO_POW_32;
      this.pos = start + 9;
    }
    if (value < min) {
      this.pos = start;
      throw new ParseError(`non-canonical ${what} at offset ${start}: 0x${first.toString(16)} prefix for ${value}`);
    }
    if (value > MAX_COMPACT_SIZE) {
      this.pos = start;
      throw new ParseError(`${what} at offset ${start} exceeds MAX_SIZE: ${value}`);
    }
    return value;
  }

  /** `n` bytes as a view into the underlying buffer (no copy: it shares memory with `data`). */
  bytes(n: number, what = "bytes"): Uint8Array {
    this.need(n, what);
    const p = this.pos;
    this.pos = p + n;
    return this.data.subarray(p, p + n);
  }

  /** Advances without creating a view (witness items the caller does not keep). */
  skip(n: number, what = "bytes"): void {
    this.need(n, what);
    this.pos += n;
  }

  /** A CompactSize length followed by that many bytes, as a view (scripts, witness items). */
  varBytes(what = "var bytes"): Uint8Array {
    const n = this.varint(what);
    return this.bytes(n, what);
  }
}
