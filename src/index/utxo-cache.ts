/**
 * Prevout resolution for the indexer: for an input, the id and script key of the output it spends.
 *
 * During the initial sync every unspent output lives here (the txid index does not exist yet, see
 * store/indexes.sql); an entry is dropped when its last indexed output is spent, so memory follows
 * the UTXO set, not the chain. After the initial sync the cache holds only the batch being written
 * and misses fall back to the store's txid index.
 */
import { hashToHex } from "../bitcoin/bytes.ts";
import { outputId } from "../store/rows.ts";

export interface ResolvedPrevout {
  readonly id: number;
  readonly scriptKey: Uint8Array;
}

/** Lookup in the store for outputs not in the cache (null during the initial sync). */
export type PrevoutFallback = (prevTxid: Uint8Array, vout: number) => ResolvedPrevout | null;

interface Entry {
  readonly txnum: number;
  /** Script key per vout; undefined for outputs not indexed or already spent. */
  readonly keys: (Uint8Array | undefined)[];
  left: number;
}

/** Map key of a txid: a 32-char latin1 string made by Bun's native encoder (much faster than JS hex). */
function keyOf(txid: Uint8Array): string {
  return Buffer.from(txid.buffer, txid.byteOffset, txid.byteLength).toString("latin1");
}

export class UtxoCache {
  private readonly map = new Map<string, Entry>();
  private outputs = 0;

  constructor(private fallback: PrevoutFallback | null) {}

  setFallback(fallback: PrevoutFallback | null): void {
    this.fallback = fallback;
  }

  /** Unspent outputs held. */
  get size(): number {
    return this.outputs;
  }

  /** Registers the indexed outputs of a new tx (keys[vout] undefined = not indexed). */
  add(txid: Uint8Array, txnum: number, keys: (Uint8Array | undefined)[]): void {
    let left = 0;
    for (const k of keys) if (k) left++;
    if (left === 0) return;
    // A BIP30 duplicate txid (two mainnet coinbases) replaces the older entry, as in Bitcoin Core.
    const old = this.map.get(keyOf(txid));
    if (old) this.outputs -= old.left;
    this.map.set(keyOf(txid), { txnum, keys, left });
    this.outputs += left;
  }

  /** Resolves and removes the output spent by an input; null when it is unknown. */
  spend(prevTxid: Uint8Array, vout: number): ResolvedPrevout | null {
    const k = keyOf(prevTxid);
    const e = this.map.get(k);
    const key = e?.keys[vout];
    if (e && key) {
      e.keys[vout] = undefined;
      this.outputs--;
      if (--e.left === 0) this.map.delete(k);
      return { id: outputId(e.txnum, vout), scriptKey: key };
    }
    return this.fallback ? this.fallback(prevTxid, vout) : null;
  }

  clear(): void {
    this.map.clear();
    this.outputs = 0;
  }

  /** Adds one unspent output found in the store (rebuilding after a restart). */
  restore(txid: Uint8Array, txnum: number, vout: number, scriptKey: Uint8Array): void {
    const k = keyOf(txid);
    let e = this.map.get(k);
    if (!e || e.txnum !== txnum) {
      e = { txnum, keys: [], left: 0 };
      this.map.set(k, e);
    }
    if (!e.keys[vout]) {
      e.keys[vout] = scriptKey;
      e.left++;
      this.outputs++;
    }
  }
}

/** For error messages. */
export const describeOutpoint = (txid: Uint8Array, vout: number) => `${hashToHex(txid)}:${vout}`;
