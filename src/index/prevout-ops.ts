/**
 * What the UTXO table is asked for a block, and what it answers, as flat u32 arrays: the initial
 * sync sends them to the table's worker thread (utxo-worker.ts) by transferring their buffers,
 * which costs nothing per output, where a structured clone of objects would cost more than the
 * table itself. Layouts declared once here (pinned by test/unit/index/prevout-ops.test.ts).
 *
 * A block's ops, in the order the single-thread indexer met them: for each tx its inputs (spend)
 * and then its indexed outputs (add). OP_WORDS u32 words an op, native byte order:
 *   words 0-3  the first 16 bytes of the txid (rows.ts UTXO_TXID_PREFIX_BYTES) as little-endian
 *              u32s: the prevout's txid for a spend, the tx's own for an add
 *   word 4     vout
 *   word 5     txnum (add; 0 for a spend)
 *   words 6-8  the 11-byte script key (add), one byte of padding
 *   word 9     OP_SPEND or OP_ADD
 * Words 0-8 are the UTXO table's slot (utxo-table.ts) but for word 4, which is vout + 1 there.
 *
 * The answer, SPENT_WORDS words per spend op, in op order:
 *   word 0     txnum + 1 of the output spent, 0 when the table does not hold it (evicted: deferred)
 *   words 1-3  its 11-byte script key, one byte of padding
 * An eviction to make room travels as its id bound and the number of spends answered before it:
 * a spend after it that the table misses is deferred (store/utxo-spill.ts), one before the first
 * eviction is a missing prevout.
 */
import { SCRIPT_KEY_BYTES, UTXO_TXID_PREFIX_BYTES } from "../store/rows.ts";

export const OP_WORDS = 10;
export const OP_VOUT = 4;
export const OP_TXNUM = 5;
export const OP_KEY = 6;
export const OP_KIND = 9;
export const OP_SPEND = 1;
export const OP_ADD = 2;

export const SPENT_WORDS = 4;
export const SPENT_KEY = 1;


const TXID_WORDS = UTXO_TXID_PREFIX_BYTES / 4;
/** The largest txnum the answers can carry (txnum + 1 must fit a u32). */
export const MAX_OP_TXNUM = 0xfffffffe;

export interface Eviction {
  /** Spends of the block answered before it. */
  readonly atSpend: number;
  /** Every output evicted has an id below it, every one kept an id at or above (utxo-table.ts evictOldest). */
  readonly bound: number;
  /** Outputs evicted: nothing of them travels, they are in the store's `outputs` already (store/utxo-spill.ts). */
  readonly count: number;
  readonly seconds: number;
}

export interface Resolved {
  /** SPENT_WORDS words per spend op. */
  readonly spent: Uint32Array;
  readonly evictions: readonly Eviction[];
}

/** Little-endian u32 of 4 bytes at `o` (txids are views into block buffers, any alignment). */
export function leWord(b: Uint8Array, o: number): number {
  return (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0;
}

/** Appends a block's ops to one growing buffer (one allocation per doubling, not per op). */
export class OpsWriter {
  private words: Uint32Array;
  private bytes: Uint8Array;
  private n = 0;
  spends = 0;

  constructor(initialOps = 4096) {
    this.words = new Uint32Array(initialOps * OP_WORDS);
    this.bytes = new Uint8Array(this.words.buffer);
  }

  get count(): number {
    return this.n;
  }

  spend(prevTxid: Uint8Array, vout: number): void {
    const b = this.next(OP_SPEND, prevTxid, vout);
    this.words[b + OP_TXNUM] = 0;
    this.spends++;
  }

  add(txid: Uint8Array, txnum: number, vout: number, scriptKey: Uint8Array): void {
    if (txnum > MAX_OP_TXNUM) throw new RangeError(`tx number ${txnum} does not fit the UTXO table's 32 bits`);
    const b = this.next(OP_ADD, txid, vout);
    this.words[b + OP_TXNUM] = txnum;
    const k = (b + OP_KEY) * 4;
    for (let i = 0; i < SCRIPT_KEY_BYTES; i++) this.bytes[k + i] = scriptKey[i]!;
  }

  /** The ops written so far, in a buffer of their own (to transfer); the writer starts empty again. */
  take(): Uint32Array {
    const out = this.words.slice(0, this.n * OP_WORDS);
    this.n = 0;
    this.spends = 0;
    return out;
  }

  private next(kind: number, txid: Uint8Array, vout: number): number {
    if ((this.n + 1) * OP_WORDS > this.words.length) this.grow();
    const w = this.words;
    const b = this.n++ * OP_WORDS;
    for (let i = 0; i < TXID_WORDS; i++) w[b + i] = leWord(txid, i * 4);
    w[b + OP_VOUT] = vout;
    w[b + OP_KIND] = kind;
    return b;
  }

  private grow(): void {
    const words = new Uint32Array(this.words.length * 2);
    words.set(this.words);
    this.words = words;
    this.bytes = new Uint8Array(words.buffer);
  }
}
