/**
 * Where each block of the blk files is, by hash, in growable typed arrays: ~150 bytes a block
 * instead of the ~1 KB that a Map of hex strings to location objects (each with a parsed header
 * and its views) took. Mainnet has ~930k blocks: ~140 MB instead of ~900 MB.
 *
 * Per entry: file index (u32), record offset (f64), size (u32), the 80 header bytes and the 32
 * hash bytes; found by hash through an open-addressing table of entry numbers (hash-slots.ts).
 * BlockLocation objects are built on demand and not kept.
 */
import { HEADER_SIZE, parseHeader } from "../bitcoin/block.ts";
import type { BlockLocation } from "./blkfiles.ts";
import { HashSlots } from "./hash-slots.ts";

const HASH_BYTES = 32;

export class BlockLocations {
  private n = 0;
  private fileIndex = new Uint32Array(1024);
  private offset = new Float64Array(1024);
  private size = new Uint32Array(1024);
  private headers = new Uint8Array(1024 * HEADER_SIZE);
  private hashes = new Uint8Array(1024 * HASH_BYTES);
  private readonly byHash = new HashSlots(() => this.hashes);

  get count(): number {
    return this.n;
  }

  /** Adds a location; false when its hash is already known (the first one found stays). */
  add(loc: BlockLocation): boolean {
    const hash = loc.header.hash;
    if (this.find(hash) >= 0) return false;
    if (this.n === this.fileIndex.length) this.grow();
    const i = this.n++;
    this.fileIndex[i] = loc.fileIndex;
    this.offset[i] = loc.offset;
    this.size[i] = loc.size;
    this.headers.set(loc.header.raw, i * HEADER_SIZE);
    this.hashes.set(hash, i * HASH_BYTES);
    this.byHash.insert(i);
    return true;
  }

  get(hash: Uint8Array): BlockLocation | undefined {
    const i = this.find(hash);
    if (i < 0) return undefined;
    return {
      fileIndex: this.fileIndex[i]!,
      offset: this.offset[i]!,
      size: this.size[i]!,
      header: parseHeader(this.headers.slice(i * HEADER_SIZE, (i + 1) * HEADER_SIZE)),
    };
  }

  clear(): void {
    this.n = 0;
    this.byHash.clear();
    this.fileIndex = new Uint32Array(1024);
    this.offset = new Float64Array(1024);
    this.size = new Uint32Array(1024);
    this.headers = new Uint8Array(1024 * HEADER_SIZE);
    this.hashes = new Uint8Array(1024 * HASH_BYTES);
  }

  private find(hash: Uint8Array): number {
    return this.byHash.find(hash);
  }

  private grow(): void {
    const cap = this.fileIndex.length * 2;
    const more = <T extends Uint32Array | Float64Array | Uint8Array>(a: T, make: (n: number) => T, per: number): T => {
      const b = make(cap * per);
      b.set(a as never);
      return b;
    };
    this.fileIndex = more(this.fileIndex, (n) => new Uint32Array(n), 1);
    this.offset = more(this.offset, (n) => new Float64Array(n), 1);
    this.size = more(this.size, (n) => new Uint32Array(n), 1);
    this.headers = more(this.headers, (n) => new Uint8Array(n), HEADER_SIZE);
    this.hashes = more(this.hashes, (n) => new Uint8Array(n), HASH_BYTES);
  }
}
