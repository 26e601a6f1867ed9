/**
 * The generator's UTXO set, as parallel typed arrays (a million JS objects would cost far more
 * memory and GC time). Spending picks a random entry and swap-removes it, so an output can
 * never be spent twice and only existing outputs are ever spent.
 */
import { copyBytes } from "./fast-hash.ts";
import type { Rng } from "./prng.ts";

/** Txids by tx number (order of creation), 32 bytes each at txNum * 32, internal byte order. */
export class TxidTable {
  data = new Uint8Array(32 * 1024);
  count = 0;

  /** Stores `txid` (32 bytes at `src[off..]`) and returns its tx number. */
  add(src: Uint8Array, off: number): number {
    if ((this.count + 1) * 32 > this.data.length) {
      const next = new Uint8Array(this.data.length * 2);
      next.set(this.data);
      this.data = next;
    }
    copyBytes(src, off, this.data, this.count * 32, 32);
    return this.count++;
  }
}

/** Share of spends taken from the most recently created outputs: mainnet spends young coins most. */
const RECENT_SHARE = 0.4;
const RECENT_WINDOW = 20_000;

export class UtxoPool {
  private cap = 1 << 16;
  txNum = new Uint32Array(this.cap);
  vout = new Uint16Array(this.cap);
  /** Script type of the output (decides the scriptSig/witness shape of its spend). */
  type = new Uint8Array(this.cap);
  value = new Float64Array(this.cap);
  size = 0;

  add(txNum: number, vout: number, type: number, value: number): void {
    if (this.size === this.cap) this.grow();
    const i = this.size++;
    this.txNum[i] = txNum;
    this.vout[i] = vout;
    this.type[i] = type;
    this.value[i] = value;
  }

  /**
   * Index of a random unspent output, biased to recent ones. New outputs are appended, so the
   * tail holds the youngest (swap-remove only moves the last entry into the hole).
   */
  pick(rng: Rng): number {
    const n = this.size;
    if (n > RECENT_WINDOW && rng.float() < RECENT_SHARE) return n - 1 - rng.int(RECENT_WINDOW);
    return rng.int(n);
  }

  remove(i: number): void {
    const last = --this.size;
    this.txNum[i] = this.txNum[last]!;
    this.vout[i] = this.vout[last]!;
    this.type[i] = this.type[last]!;
    this.value[i] = this.value[last]!;
  }

  private grow(): void {
    this.cap *= 2;
    const txNum = new Uint32Array(this.cap);
    txNum.set(this.txNum);
    this.txNum = txNum;
    const vout = new Uint16Array(this.cap);
    vout.set(this.vout);
    this.vout = vout;
    const type = new Uint8Array(this.cap);
    type.set(this.type);
    this.type = type;
    const value = new Float64Array(this.cap);
    value.set(this.value);
    this.value = value;
  }
}
