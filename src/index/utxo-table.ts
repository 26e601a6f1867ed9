/**
 * Unspent outputs by outpoint in a fixed block of typed arrays: open addressing with linear
 * probing, no JavaScript object per output. The initial sync resolves every input through it (the
 * txid index does not exist yet, see store/indexes.sql), so it must hold the recent part of the
 * UTXO set at a cost that is known in advance: the table is allocated once, at the size the
 * operator configured (--db-cache-mb), and whatever does not fit is evicted (the oldest outputs
 * first) to the caller's sink. Memory therefore follows the flag, never the chain.
 *
 * One slot is 9 little-endian u32 words (SLOT_BYTES = 36), side by side so that a lookup touches
 * one or two cache lines (three separate arrays cost ~1.2 µs an operation on a 768 MiB table,
 * one array of slots ~0.3 µs):
 *   words 0-3  the first 16 bytes of the txid (internal order)
 *   word 4     vout + 1; 0 = empty slot
 *   word 5     txnum (store/rows.ts: output id = txnum·2^20 + vout)
 *   words 6-8  the 11-byte script key (store/rows.ts SCRIPT_KEY_BYTES), one byte of padding
 * An outpoint matches on all 128 txid bits and the vout: txids are hashes, and finding two with
 * the same first 128 bits takes ~2^64 work, far beyond any grinding attacker. A txnum must fit in
 * 32 bits (4.29 billion txs; mainnet has 1.2 billion at the end of 2026).
 *
 * Before this table, the sync kept a Map of objects: ~650 bytes of heap per unspent output, so
 * memory grew with the UTXO set (8.5 GB on a 20M-tx chain, >100 GB on mainnet).
 */
import { SCRIPT_KEY_BYTES, UTXO_TXID_PREFIX_BYTES } from "../store/rows.ts";
import { OP_KEY, OP_TXNUM, OP_VOUT, SPENT_KEY, leWord as word } from "./prevout-ops.ts";

const TXID_WORDS = UTXO_TXID_PREFIX_BYTES / 4;
const SLOT_WORDS = 9;
const W_VOUT = 4;
const W_TXNUM = 5;
const W_KEY = 6;
const KEY_BYTE_OFFSET = W_KEY * 4;
export const SLOT_BYTES = SLOT_WORDS * 4;
/** Past this fill the probe chains of linear probing grow fast (~8.5 probes per miss at 0.75). */
export const MAX_LOAD = 0.75;
/** An eviction brings the table back to this fill, so that evictions stay rare. */
export const EVICT_TO_LOAD = 0.5;
const IO_SPAN = 2 ** 20;
const MAX_TXNUM = 0xffffffff;

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
  private readonly slots: Uint32Array;
  private readonly bytes: Uint8Array;
  private count = 0;

  /** A table of `capacity` slots (capacity × SLOT_BYTES bytes, allocated now). */
  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 16) throw new RangeError(`utxo table capacity ${capacity}: at least 16 slots`);
    this.capacity = capacity;
    this.slots = new Uint32Array(capacity * SLOT_WORDS);
    this.bytes = new Uint8Array(this.slots.buffer);
  }

  /** The slots of the largest table that fits in `bytes`. */
  static slotsFor(bytes: number): number {
    return Math.max(16, Math.floor(bytes / SLOT_BYTES));
  }

  /** The largest table whose slots fit in `bytes`. */
  static forBytes(bytes: number): UtxoTable {
    return new UtxoTable(UtxoTable.slotsFor(bytes));
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
    const txnum = Math.floor(id / IO_SPAN);
    const vout = id - txnum * IO_SPAN;
    if (txnum > MAX_TXNUM) throw new RangeError(`tx number ${txnum} does not fit the UTXO table's 32 bits`);
    const b = this.insert(word(txid, 0), word(txid, 4), word(txid, 8), word(txid, 12), vout, txnum);
    // A byte loop, not set(subarray): on Bun a view of a small array costs ~0.5 µs (its buffer
    // gets materialized), which was a quarter of the table's time in the 2M-tx sync.
    const k = b * 4 + KEY_BYTE_OFFSET;
    for (let i = 0; i < SCRIPT_KEY_BYTES; i++) this.bytes[k + i] = scriptKey[i]!;
  }

  /** `add` of the add op at word `o` of `ops` (prevout-ops.ts layout; its txnum fits by construction). */
  addOp(ops: Uint32Array, o: number): void {
    const b = this.insert(ops[o]!, ops[o + 1]!, ops[o + 2]!, ops[o + 3]!, ops[o + OP_VOUT]!, ops[o + OP_TXNUM]!);
    const slots = this.slots;
    slots[b + W_KEY] = ops[o + OP_KEY]!;
    slots[b + W_KEY + 1] = ops[o + OP_KEY + 1]!;
    slots[b + W_KEY + 2] = ops[o + OP_KEY + 2]!;
  }

  /** Removes and returns output `vout` of `txid`, or null when the table does not hold it. */
  take(txid: Uint8Array, vout: number): TakenOutput | null {
    const s = this.find(word(txid, 0), word(txid, 4), word(txid, 8), word(txid, 12), vout);
    if (s < 0) return null;
    const b = s * SLOT_WORDS;
    const k = b * 4 + KEY_BYTE_OFFSET;
    const out = { id: this.slots[b + W_TXNUM]! * IO_SPAN + vout, scriptKey: this.bytes.slice(k, k + SCRIPT_KEY_BYTES) };
    this.removeAt(s);
    return out;
  }

  /**
   * `take` of the spend op at word `o` of `ops`, answered at word `p` of `spent` (prevout-ops.ts
   * layout: txnum + 1 and the script key, or 0 when the table does not hold the output).
   */
  takeOp(ops: Uint32Array, o: number, spent: Uint32Array, p: number): void {
    const s = this.find(ops[o]!, ops[o + 1]!, ops[o + 2]!, ops[o + 3]!, ops[o + OP_VOUT]!);
    if (s < 0) {
      spent[p] = 0;
      return;
    }
    const b = s * SLOT_WORDS;
    const slots = this.slots;
    spent[p] = slots[b + W_TXNUM]! + 1;
    spent[p + SPENT_KEY] = slots[b + W_KEY]!;
    spent[p + SPENT_KEY + 1] = slots[b + W_KEY + 1]!;
    spent[p + SPENT_KEY + 2] = slots[b + W_KEY + 2]!;
    this.removeAt(s);
  }

  /** The slot of the outpoint to write (its own if present, an empty one otherwise) with all but the key set; its first word. */
  private insert(w0: number, w1: number, w2: number, w3: number, vout: number, txnum: number): number {
    const slots = this.slots;
    let s = this.home(w0, w1, vout);
    for (;;) {
      const b = s * SLOT_WORDS;
      if (slots[b + W_VOUT] === 0) break;
      if (slots[b + W_VOUT] === vout + 1 && slots[b] === w0 && slots[b + 1] === w1 && slots[b + 2] === w2 && slots[b + 3] === w3) {
        this.count--; // replaced below
        break;
      }
      if (++s === this.capacity) s = 0;
    }
    const b = s * SLOT_WORDS;
    slots[b] = w0;
    slots[b + 1] = w1;
    slots[b + 2] = w2;
    slots[b + 3] = w3;
    slots[b + W_VOUT] = vout + 1;
    slots[b + W_TXNUM] = txnum;
    this.count++;
    return b;
  }

  /** The slot holding the outpoint, or -1. */
  private find(w0: number, w1: number, w2: number, w3: number, vout: number): number {
    const slots = this.slots;
    let s = this.home(w0, w1, vout);
    for (;;) {
      const b = s * SLOT_WORDS;
      const v = slots[b + W_VOUT];
      if (v === 0) return -1;
      if (v === vout + 1 && slots[b] === w0 && slots[b + 1] === w1 && slots[b + 2] === w2 && slots[b + 3] === w3) return s;
      if (++s === this.capacity) s = 0;
    }
  }

  /**
   * Evicts the oldest outputs (lowest ids) until at most `keep` remain, handing each to `sink`;
   * returns the id bound: every output left has an id ≥ it, every one evicted an id below it.
   * Outputs are spent young far more often than old, so the oldest are the ones to move out.
   */
  evictOldest(keep: number, sink: OutputVisitor): number {
    if (this.count <= keep) return 0;
    const bound = this.idQuantile(1 - keep / this.count);
    for (let s = 0; s < this.capacity; s++) {
      const id = this.idAt(s);
      if (id < 0 || id >= bound) continue;
      this.emit(s, id, sink);
      this.slots[s * SLOT_WORDS + W_VOUT] = 0;
      this.count--;
    }
    this.reseat();
    return bound;
  }

  /** Every output held, in slot order. */
  forEach(fn: OutputVisitor): void {
    this.forEachFrom(0, Number.POSITIVE_INFINITY, fn);
  }

  /** Visits at most `max` outputs, from slot `start` on; returns the slot to go on from, or -1 when none is left. */
  forEachFrom(start: number, max: number, fn: OutputVisitor): number {
    let n = 0;
    for (let s = start; s < this.capacity; s++) {
      const id = this.idAt(s);
      if (id < 0) continue;
      if (n === max) return s;
      this.emit(s, id, fn);
      n++;
    }
    return -1;
  }

  clear(): void {
    // After the initial sync this runs at every commit, mostly on an empty table.
    if (this.count === 0) return;
    this.slots.fill(0);
    this.count = 0;
  }

  /**
   * The visitors get the same two scratch buffers for every output: a pass over tens of millions
   * of slots must not allocate per slot (a view and an object each cost 2 GB of garbage at 13M).
   */
  private readonly prefixScratch = new Uint8Array(UTXO_TXID_PREFIX_BYTES);
  private readonly prefixWords = new Uint32Array(this.prefixScratch.buffer);
  private readonly keyScratch = new Uint8Array(SCRIPT_KEY_BYTES);

  /** The output id held in slot s, or -1 when it is empty. */
  private idAt(s: number): number {
    const b = s * SLOT_WORDS;
    const v = this.slots[b + W_VOUT]!;
    return v === 0 ? -1 : this.slots[b + W_TXNUM]! * IO_SPAN + v - 1;
  }

  private emit(s: number, id: number, fn: OutputVisitor): void {
    const b = s * SLOT_WORDS;
    for (let i = 0; i < TXID_WORDS; i++) this.prefixWords[i] = LITTLE_ENDIAN ? this.slots[b + i]! : swap32(this.slots[b + i]!);
    const k = b * 4 + KEY_BYTE_OFFSET;
    this.keyScratch.set(this.bytes.subarray(k, k + SCRIPT_KEY_BYTES));
    fn(this.prefixScratch, id, this.keyScratch);
  }

  private home(w0: number, w1: number, vout: number): number {
    // The txid is already uniform; the vout is mixed in so that a tx's outputs spread out.
    const h = ((w0 ^ Math.imul(vout, 0x9e3779b1) ^ (w1 >>> 7)) >>> 0) / 4294967296;
    const s = Math.floor(h * this.capacity);
    return s < this.capacity ? s : this.capacity - 1;
  }

  private homeOf(s: number): number {
    const b = s * SLOT_WORDS;
    return this.home(this.slots[b]!, this.slots[b + 1]!, this.slots[b + W_VOUT]! - 1);
  }

  private isEmpty(s: number): boolean {
    return this.slots[s * SLOT_WORDS + W_VOUT] === 0;
  }

  /** Backward-shift deletion: no tombstones, probe chains stay as short as the fill allows. */
  private removeAt(hole: number): void {
    this.slots[hole * SLOT_WORDS + W_VOUT] = 0;
    this.count--;
    let s = hole;
    for (;;) {
      if (++s === this.capacity) s = 0;
      if (this.isEmpty(s)) return;
      const home = this.homeOf(s);
      // The entry at s may move into the hole if its home is not in the (hole, s] cyclic range.
      const inRange = hole <= s ? home > hole && home <= s : home > hole || home <= s;
      if (inRange) continue;
      this.moveSlot(s, hole);
      hole = s;
    }
  }

  private moveSlot(from: number, to: number): void {
    this.slots.copyWithin(to * SLOT_WORDS, from * SLOT_WORDS, (from + 1) * SLOT_WORDS);
    this.slots[from * SLOT_WORDS + W_VOUT] = 0;
  }

  /**
   * After a mass eviction the survivors may sit behind emptied slots of their probe chains.
   * Re-inserting each in cyclic order, starting after an empty slot, puts every one at or before
   * its old place (the classic in-place rehash of linear probing): no second table is allocated.
   */
  private reseat(): void {
    let start = 0;
    while (start < this.capacity && !this.isEmpty(start)) start++;
    if (start === this.capacity) return; // cannot happen below MAX_LOAD
    for (let n = 1; n <= this.capacity; n++) {
      const s = (start + n) % this.capacity;
      if (this.isEmpty(s)) continue;
      let t = this.homeOf(s);
      while (t !== s && !this.isEmpty(t)) if (++t === this.capacity) t = 0;
      if (t !== s) this.moveSlot(s, t);
    }
  }

  /** The id below which a fraction `q` of the held outputs lie, estimated from a sample of slots. */
  private idQuantile(q: number): number {
    const sample: number[] = [];
    const step = Math.max(1, Math.floor(this.capacity / 65536));
    for (let s = 0; s < this.capacity; s += step) {
      const id = this.idAt(s);
      if (id >= 0) sample.push(id);
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
