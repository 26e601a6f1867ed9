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
  readonly txid: Uint8Array;
  readonly txnum: number;
  /** Script key per vout; undefined for outputs not indexed or already spent. */
  readonly keys: (Uint8Array | undefined)[];
  left: number;
  /** Another tx whose txid starts with the same 53 bits (rare: a chain, compared on the full txid). */
  next: Entry | null;
}

/**
 * Map key of a txid: its first 53 bits as a number. A string key of the 32 bytes costs ~4× more
 * per insert (the string must be built and hashed); collisions are resolved on the full txid.
 */
function keyOf(t: Uint8Array): number {
  return (t[0]! | (t[1]! << 8) | (t[2]! << 16) | (t[3]! << 24)) + 4294967296 * (t[4]! | (t[5]! << 8) | ((t[6]! & 0x1f) << 16)) + 2147483648;
}

function sameTxid(a: Uint8Array, b: Uint8Array): boolean {
  for (let i = 31; i >= 7; i--) if (a[i] !== b[i]) return false;
  return true;
}

export class UtxoCache {
  private readonly map = new Map<number, Entry>();
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
    this.remove(txid);
    this.insert({ txid, txnum, keys, left, next: null });
    this.outputs += left;
  }

  /** Resolves and removes the output spent by an input; null when it is unknown. */
  spend(prevTxid: Uint8Array, vout: number): ResolvedPrevout | null {
    const e = this.find(prevTxid);
    const key = e?.keys[vout];
    if (e && key) {
      e.keys[vout] = undefined;
      this.outputs--;
      if (--e.left === 0) this.remove(prevTxid);
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
    let e = this.find(txid);
    if (!e || e.txnum !== txnum) {
      this.remove(txid);
      e = { txid, txnum, keys: [], left: 0, next: null };
      this.insert(e);
    }
    if (!e.keys[vout]) {
      e.keys[vout] = scriptKey;
      e.left++;
      this.outputs++;
    }
  }

  private find(txid: Uint8Array): Entry | undefined {
    for (let e = this.map.get(keyOf(txid)); e; e = e.next ?? undefined) if (sameTxid(e.txid, txid)) return e;
    return undefined;
  }

  private insert(e: Entry): void {
    const k = keyOf(e.txid);
    e.next = this.map.get(k) ?? null;
    this.map.set(k, e);
  }

  private remove(txid: Uint8Array): void {
    const k = keyOf(txid);
    let prev: Entry | null = null;
    for (let e = this.map.get(k) ?? null; e; prev = e, e = e.next) {
      if (!sameTxid(e.txid, txid)) continue;
      this.outputs -= e.left;
      if (prev) prev.next = e.next;
      else if (e.next) this.map.set(k, e.next);
      else this.map.delete(k);
      return;
    }
  }
}

/** For error messages. */
export const describeOutpoint = (txid: Uint8Array, vout: number) => `${hashToHex(txid)}:${vout}`;
