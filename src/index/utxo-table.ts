/**
 * Unspent outputs by outpoint in a fixed block of typed arrays: open addressing with linear
 * probing, no JavaScript object per output. The initial sync resolves every input through it (the
 * txid index does not exist yet, see store/indexes.sql), so it must hold the recent part of the
 * UTXO set at a cost that is known in advance: the table is allocated once, at the size the
 * operator configured (--db-cache-mb), and whatever does not fit is evicted (the oldest outputs
 * first) to the caller's sink. Memory therefore follows the flag, never the chain.
 *
 * One slot (SLOT_BYTES = 35 bytes):
 *   txid words  4 × u32  the first 16 bytes of the txid (internal order), little-endian words
 *   id          f64      output id + 1 (store/rows.ts: txnum·2^20 + vout); 0 = empty slot
 *   script key  11 bytes the output's script key (store/rows.ts SCRIPT_KEY_BYTES)
 * An outpoint matches on all 128 txid bits and the vout (inside the id): txids are hashes, and
 * finding two with the same first 128 bits takes ~2^64 work, far beyond any grinding attacker.
 *
 * Before this table, the sync kept a Map of objects: ~650 bytes of heap per unspent output, so
 * memory grew with the UTXO set (8.5 GB on a 20M-tx chain, >100 GB on mainnet).
 */
import { SCRIPT_KEY_BYTES } from "../store/rows.ts";

const TXID_WORDS = 4;
export const SLOT_BYTES = TXID_WORDS * 4 + 8 + SCRIPT_KEY_BYTES;
/** Past this fill the probe chains of linear probing grow fast (~8.5 probes per miss at 0.75). */
export const MAX_LOAD = 0.75;
/** An eviction brings the table back to this fill, so that evictions stay rare. */
export const EVICT_TO_LOAD = 0.5;
const IO_SPAN = 2 ** 20;

/**
 * Receives one output: the first 16 txid bytes (internal order), its id, its script key. The two
 * buffers are scratch space reused for the next output: copy them to keep them.
 */
export type OutputVisitor = (txidPrefix: Uint8Array, id: number, scriptKey: Uint8Array) => void;

export interface TakenOutput {
  readonly id: number;
  /** A copy: the slot may be reused before the caller is done with it. */
  readonly scriptKey: Uint8Array;
}

export class UtxoTable {
  readonly capacity: number;
  private readonly words: Uint32Array;
  private readonly ids: Float64Array;
  private readonly keys: Uint8Array;
  private count = 0;

  /** A table of `capacity` slots (capacity × SLOT_BYTES bytes, allocated now). */
  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 16) throw new RangeError(`utxo table capacity ${capacity}: at least 16 slots`);
    this.capacity = capacity;
    this.words = new Uint32Array(capacity * TXID_WORDS);
    this.ids = new Float64Array(capacity);
    this.keys = new Uint8Array(capacity * SCRIPT_KEY_BYTES);
  }

  /** The largest table whose arrays fit in `bytes`. */
  static forBytes(bytes: number): UtxoTable {
    return new UtxoTable(Math.max(16, Math.floor(bytes / SLOT_BYTES)));
  }

  /** Outputs held. */
  get size(): number {
    return this.count;
  }

  /** How many outputs it holds before `isFull`. */
  get limit(): number {
    return Math.floor(this.capacity * MAX_LOAD);
  }

  get isFull(): boolean {
    return this.count >= this.limit;
  }

  /**
   * Adds output `vout` of `txid` (output id `id`). An outpoint already present is replaced: a
   * BIP30 duplicate txid (two mainnet coinbases) overwrites the older output, as in Bitcoin Core.
   * The caller evicts first when `isFull`.
   */
  add(txid: Uint8Array, id: number, scriptKey: Uint8Array): void {
    const w0 = word(txid, 0), w1 = word(txid, 4), w2 = word(txid, 8), w3 = word(txid, 12);
    const vout = id % IO_SPAN;
    let s = this.home(w0, w1, vout);
    for (;;) {
      const stored = this.ids[s]!;
      if (stored === 0) break;
      if (this.matches(s, w0, w1, w2, w3, vout)) {
        this.count--; // replaced below
        break;
      }
      if (++s === this.capacity) s = 0;
    }
    const w = s * TXID_WORDS;
    this.words[w] = w0;
    this.words[w + 1] = w1;
    this.words[w + 2] = w2;
    this.words[w + 3] = w3;
    this.ids[s] = id + 1;
    this.keys.set(scriptKey.subarray(0, SCRIPT_KEY_BYTES), s * SCRIPT_KEY_BYTES);
    this.count++;
  }

  /** Removes and returns output `vout` of `txid`, or null when the table does not hold it. */
  take(txid: Uint8Array, vout: number): TakenOutput | null {
    const w0 = word(txid, 0), w1 = word(txid, 4), w2 = word(txid, 8), w3 = word(txid, 12);
    let s = this.home(w0, w1, vout);
    for (;;) {
      if (this.ids[s] === 0) return null;
      if (this.matches(s, w0, w1, w2, w3, vout)) break;
      if (++s === this.capacity) s = 0;
    }
    const out = { id: this.ids[s]! - 1, scriptKey: this.keys.slice(s * SCRIPT_KEY_BYTES, (s + 1) * SCRIPT_KEY_BYTES) };
    this.removeAt(s);
    return out;
  }

  /**
   * Evicts the oldest outputs (lowest ids) until at most `keep` remain, handing each to `sink`;
   * returns the id bound: every output left has an id ≥ it, every one evicted an id below it.
   * Outputs are spent young far more often than old, so the oldest are the ones to move out.
   */
  evictOldest(keep: number, sink: OutputVisitor): number {
    if (this.count <= keep) return 0;
    const bound = this.idQuantile(1 - keep / this.count);
    this.visit((s, id) => {
      if (id >= bound) return;
      this.emit(s, id, sink);
      this.ids[s] = 0;
      this.count--;
    });
    this.reseat();
    return bound;
  }

  /** Every output held, in slot order. */
  forEach(fn: OutputVisitor): void {
    this.visit((s, id) => this.emit(s, id, fn));
  }

  /**
   * The visitors get the same two scratch buffers for every output: a pass over tens of millions
   * of slots must not allocate per slot (a view and an object each cost 2 GB of garbage at 13M).
   */
  private readonly prefixScratch = new Uint8Array(TXID_WORDS * 4);
  private readonly prefixWords = new Uint32Array(this.prefixScratch.buffer);
  private readonly keyScratch = new Uint8Array(SCRIPT_KEY_BYTES);

  private visit(fn: (slot: number, id: number) => void): void {
    for (let s = 0; s < this.capacity; s++) {
      const stored = this.ids[s]!;
      if (stored !== 0) fn(s, stored - 1);
    }
  }

  private emit(s: number, id: number, fn: OutputVisitor): void {
    const w = s * TXID_WORDS;
    for (let i = 0; i < TXID_WORDS; i++) this.prefixWords[i] = LITTLE_ENDIAN ? this.words[w + i]! : swap32(this.words[w + i]!);
    this.keyScratch.set(this.keys.subarray(s * SCRIPT_KEY_BYTES, (s + 1) * SCRIPT_KEY_BYTES));
    fn(this.prefixScratch, id, this.keyScratch);
  }

  clear(): void {
    this.ids.fill(0);
    this.count = 0;
  }

  private home(w0: number, w1: number, vout: number): number {
    // The txid is already uniform; the vout is mixed in so that a tx's outputs spread out.
    const h = ((w0 ^ Math.imul(vout, 0x9e3779b1) ^ (w1 >>> 7)) >>> 0) / 4294967296;
    const s = Math.floor(h * this.capacity);
    return s < this.capacity ? s : this.capacity - 1;
  }

  private matches(s: number, w0: number, w1: number, w2: number, w3: number, vout: number): boolean {
    const w = s * TXID_WORDS;
    return (
      this.words[w] === w0 && this.words[w + 1] === w1 && this.words[w + 2] === w2 && this.words[w + 3] === w3 &&
      (this.ids[s]! - 1) % IO_SPAN === vout
    );
  }

  /** Backward-shift deletion: no tombstones, probe chains stay as short as the fill allows. */
  private removeAt(hole: number): void {
    this.ids[hole] = 0;
    this.count--;
    let s = hole;
    for (;;) {
      if (++s === this.capacity) s = 0;
      const stored = this.ids[s]!;
      if (stored === 0) return;
      const w = s * TXID_WORDS;
      const home = this.home(this.words[w]!, this.words[w + 1]!, (stored - 1) % IO_SPAN);
      // The entry at s may move into the hole if its home is not in the (hole, s] cyclic range.
      const inRange = hole <= s ? home > hole && home <= s : home > hole || home <= s;
      if (inRange) continue;
      this.moveSlot(s, hole);
      hole = s;
    }
  }

  private moveSlot(from: number, to: number): void {
    const f = from * TXID_WORDS;
    const t = to * TXID_WORDS;
    for (let i = 0; i < TXID_WORDS; i++) this.words[t + i] = this.words[f + i]!;
    this.ids[to] = this.ids[from]!;
    this.keys.copyWithin(to * SCRIPT_KEY_BYTES, from * SCRIPT_KEY_BYTES, (from + 1) * SCRIPT_KEY_BYTES);
    this.ids[from] = 0;
  }

  /**
   * After a mass eviction the survivors may sit behind emptied slots of their probe chains.
   * Re-inserting each in cyclic order, starting after an empty slot, puts every one at or before
   * its old place (the classic in-place rehash of linear probing): no second table is allocated.
   */
  private reseat(): void {
    let start = 0;
    while (start < this.capacity && this.ids[start] !== 0) start++;
    if (start === this.capacity) return; // cannot happen below MAX_LOAD
    for (let n = 1; n <= this.capacity; n++) {
      const s = (start + n) % this.capacity;
      const stored = this.ids[s]!;
      if (stored === 0) continue;
      const w = s * TXID_WORDS;
      let t = this.home(this.words[w]!, this.words[w + 1]!, (stored - 1) % IO_SPAN);
      while (t !== s && this.ids[t] !== 0) if (++t === this.capacity) t = 0;
      if (t !== s) this.moveSlot(s, t);
    }
  }

  /** The id below which a fraction `q` of the held outputs lie, estimated from a sample of slots. */
  private idQuantile(q: number): number {
    const sample: number[] = [];
    const step = Math.max(1, Math.floor(this.capacity / 65536));
    for (let s = 0; s < this.capacity; s += step) {
      const stored = this.ids[s]!;
      if (stored !== 0) sample.push(stored - 1);
    }
    if (sample.length === 0) return 0;
    sample.sort((a, b) => a - b);
    const i = Math.min(sample.length - 1, Math.max(0, Math.floor(q * sample.length)));
    // At least one output goes, whatever the sample says.
    return Math.max(sample[i]!, sample[0]! + 1);
  }
}

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

function swap32(v: number): number {
  return (((v & 0xff) << 24) | ((v & 0xff00) << 8) | ((v >>> 8) & 0xff00) | (v >>> 24)) >>> 0;
}

/** Little-endian u32 of 4 bytes at `o` (the txid is a view into a block buffer, any alignment). */
function word(b: Uint8Array, o: number): number {
  return (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0;
}
