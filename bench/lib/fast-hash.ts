/**
 * Allocation-free SHA256d for the generator's hot path. src/bitcoin/hash.ts returns fresh arrays
 * through `.buffer`, which on JSC materializes an ArrayBuffer per call: profiled at 40 % of
 * generation time. Here hashes go into caller-owned buffers, and byte runs are copied with plain
 * loops, since a `subarray` + `set` pair costs more than copying 32–72 bytes by hand.
 */
const MID = new Uint8Array(32);

/** out[0..32) = sha256d(data); `out` must be exactly 32 bytes. */
export function sha256dInto(data: Uint8Array, out: Uint8Array): void {
  Bun.SHA256.hash(data, MID);
  Bun.SHA256.hash(MID, out);
}

/**
 * A reusable scratch buffer with cached views of every length, so hashing `len` bytes of it
 * allocates nothing after warm-up.
 */
export class HashScratch {
  readonly buf: Uint8Array;
  private readonly views: (Uint8Array | undefined)[];

  constructor(readonly size: number) {
    this.buf = new Uint8Array(size);
    this.views = new Array<Uint8Array | undefined>(size + 1).fill(undefined);
  }

  view(len: number): Uint8Array {
    let v = this.views[len];
    if (v === undefined) {
      v = this.buf.subarray(0, len);
      this.views[len] = v;
    }
    return v;
  }
}

export function copyBytes(src: Uint8Array, srcOff: number, dst: Uint8Array, dstOff: number, n: number): void {
  for (let i = 0; i < n; i++) dst[dstOff + i] = src[srcOff + i]!;
}
