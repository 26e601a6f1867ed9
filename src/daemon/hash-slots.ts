/**
 * Entry numbers by 32-byte block hash: an open-addressing table of Int32 slots (linear probing, at
 * most half full), for stores that keep their hashes in one array (block-locations.ts,
 * block-tree.ts). A lookup compares the full hash held by the owner, so there are no collisions to
 * keep apart. 4-8 bytes a block instead of the ~100 that a Map entry (and a second Map for the hashes
 * whose 53-bit prefixes collide) took; mainnet's ~930k blocks need 8 MiB of slots.
 */
const EMPTY = -1;
const HASH_BYTES = 32;

export class HashSlots {
  private slots = new Int32Array(2048).fill(EMPTY);
  private mask = 2047;
  private used = 0;

  /** `hashes()`: the owner's array, entry i's hash at [32·i, 32·i + 32) (it may be reallocated as it grows). */
  constructor(private readonly hashes: () => Uint8Array) {}

  get size(): number {
    return this.used;
  }

  /** The entry whose hash is `hash`, or -1. */
  find(hash: Uint8Array): number {
    const all = this.hashes();
    for (let s = hashKey(hash) & this.mask; ; s = (s + 1) & this.mask) {
      const e = this.slots[s]!;
      if (e === EMPTY) return EMPTY;
      if (sameHash(all, e, hash)) return e;
    }
  }

  /** Registers entry `e` (its hash already in the owner's array, not registered before). */
  insert(e: number): void {
    if ((this.used + 1) * 2 > this.slots.length) this.rehash(this.slots.length * 2);
    this.place(e, this.hashes());
    this.used++;
  }

  clear(): void {
    this.slots = new Int32Array(2048).fill(EMPTY);
    this.mask = 2047;
    this.used = 0;
  }

  private place(e: number, all: Uint8Array): void {
    let s = hashKey(all.subarray(e * HASH_BYTES, (e + 1) * HASH_BYTES)) & this.mask;
    while (this.slots[s] !== EMPTY) s = (s + 1) & this.mask;
    this.slots[s] = e;
  }

  private rehash(capacity: number): void {
    const old = this.slots;
    this.slots = new Int32Array(capacity).fill(EMPTY);
    this.mask = capacity - 1;
    const all = this.hashes();
    for (const e of old) if (e !== EMPTY) this.place(e, all);
  }
}

/** A slot number source: the first 31 bits of the hash (internal byte order: the uniform end, not the proof-of-work zeros). */
function hashKey(h: Uint8Array): number {
  return h[0]! | (h[1]! << 8) | (h[2]! << 16) | ((h[3]! & 0x7f) << 24);
}

function sameHash(all: Uint8Array, e: number, hash: Uint8Array): boolean {
  const base = e * HASH_BYTES;
  for (let i = 0; i < HASH_BYTES; i++) if (all[base + i] !== hash[i]) return false;
  return true;
}
