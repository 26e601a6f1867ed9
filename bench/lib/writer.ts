/**
 * Append-only little-endian byte writer for serializing transactions and blocks. Writes are
 * unchecked for speed: callers reserve space with `ensure` once per transaction (an upper bound
 * on its size) instead of paying a bounds check on every byte.
 */
export class ByteWriter {
  buf: Uint8Array;
  pos = 0;

  constructor(capacity: number) {
    this.buf = new Uint8Array(capacity);
  }

  /** Grows the buffer so that `n` more bytes fit. */
  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.pos + n) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
  }

  reset(): void {
    this.pos = 0;
  }

  /** View of everything written so far (invalidated by the next write that grows the buffer). */
  view(): Uint8Array {
    return this.buf.subarray(0, this.pos);
  }

  u8(v: number): void {
    this.buf[this.pos++] = v;
  }

  u32(v: number): void {
    const b = this.buf;
    const p = this.pos;
    b[p] = v;
    b[p + 1] = v >>> 8;
    b[p + 2] = v >>> 16;
    b[p + 3] = v >>> 24;
    this.pos = p + 4;
  }

  /** Amounts stay below 2^53, so a JS number carries them exactly. */
  u64(v: number): void {
    const lo = v % 4294967296;
    this.u32(lo);
    this.u32((v - lo) / 4294967296);
  }

  /** Bitcoin CompactSize. */
  varint(n: number): void {
    if (n < 0xfd) {
      this.u8(n);
    } else if (n <= 0xffff) {
      this.u8(0xfd);
      this.u8(n);
      this.u8(n >>> 8);
    } else {
      this.u8(0xfe);
      this.u32(n);
    }
  }

  bytes(b: Uint8Array): void {
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  zeros(n: number): void {
    this.buf.fill(0, this.pos, this.pos + n);
    this.pos += n;
  }
}

export function varintSize(n: number): number {
  return n < 0xfd ? 1 : n <= 0xffff ? 3 : 5;
}
