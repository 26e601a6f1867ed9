/**
 * Read queries over the index, one function per query shape. Rows of the best chain only exist,
 * so no query needs a best-chain filter.
 */
import type { Db } from "./db.ts";
import { bytesEqual } from "../bitcoin/bytes.ts";
import { IO_SPAN, TXID_KEY_BYTES, indexOfId, txnumOfId, type BlockRow } from "./rows.ts";

export interface TxLocation {
  readonly txnum: number;
  readonly txid: Uint8Array;
  readonly raw: Uint8Array;
  readonly height: number;
  readonly blockHash: Uint8Array;
  /** Position in the block (0 = coinbase). */
  readonly pos: number;
}

/** One funding or spending row of a script's history, in chain order. */
export interface HistoryRow {
  readonly txnum: number;
  readonly height: number;
  readonly txid: Uint8Array;
  /** "funding": output `index` of txid pays the script; "spending": input `index` of txid spends `prevTxid:prevVout`. */
  readonly kind: "funding" | "spending";
  readonly index: number;
  readonly valueSat: number;
  readonly prevTxid?: Uint8Array;
  readonly prevVout?: number;
}

export interface Utxo {
  readonly txid: Uint8Array;
  readonly vout: number;
  readonly height: number;
  readonly valueSat: number;
}

export interface ScriptStats {
  readonly txCount: number;
  readonly fundedTxoCount: number;
  readonly fundedTxoSum: number;
  readonly spentTxoCount: number;
  readonly spentTxoSum: number;
}

export interface Outspend {
  readonly txid: Uint8Array;
  readonly vin: number;
  readonly height: number;
}

interface BlockSqlRow {
  height: number;
  hash: Uint8Array;
  header: Uint8Array;
  first_txnum: number;
  tx_count: number;
  size: number;
  weight: number;
}

const toBlockRow = (r: BlockSqlRow): BlockRow => ({
  height: r.height,
  hash: r.hash,
  header: r.header,
  firstTxnum: r.first_txnum,
  txCount: r.tx_count,
  size: r.size,
  weight: r.weight,
});

export class StoreReader {
  private readonly q;

  constructor(db: Db) {
    const s = db.sql;
    this.q = {
      tip: s.prepare<BlockSqlRow, []>("SELECT * FROM blocks ORDER BY height DESC LIMIT 1"),
      blockAt: s.prepare<BlockSqlRow, [number]>("SELECT * FROM blocks WHERE height = ?"),
      blockByHash: s.prepare<BlockSqlRow, [Uint8Array]>("SELECT * FROM blocks WHERE hash = ?"),
      blockOfTxnum: s.prepare<BlockSqlRow, [number]>("SELECT * FROM blocks WHERE first_txnum <= ? ORDER BY first_txnum DESC LIMIT 1"),
      allHashes: s.prepare<{ height: number; hash: Uint8Array }, []>("SELECT height, hash FROM blocks ORDER BY height"),
      txByNum: s.prepare<{ txid: Uint8Array; raw: Uint8Array }, [number]>("SELECT txid, raw FROM txs WHERE txnum = ?"),
      txidByNum: s.prepare<{ txid: Uint8Array }, [number]>("SELECT txid FROM txs WHERE txnum = ?"),
      txnumsByKey: s.prepare<{ txnum: number; txid: Uint8Array }, [Uint8Array]>(
        "SELECT txnum, txid FROM txs WHERE substr(txid, 1, 8) = ? ORDER BY txnum DESC",
      ),
      txidsInRange: s.prepare<{ txid: Uint8Array }, [number, number]>("SELECT txid FROM txs WHERE txnum >= ? AND txnum < ? ORDER BY txnum"),
      output: s.prepare<{ script: Uint8Array; value_sat: number }, [number]>("SELECT script, value_sat FROM outputs WHERE id = ?"),
      funding: s.prepare<{ id: number; value_sat: number }, [Uint8Array]>("SELECT id, value_sat FROM outputs WHERE script = ? ORDER BY id"),
      spending: s.prepare<{ id: number; prev: number }, [Uint8Array]>("SELECT id, prev FROM spends WHERE script = ? ORDER BY id"),
      spendOf: s.prepare<{ id: number }, [number]>("SELECT id FROM spends WHERE prev = ?"),
      unspentForCache: s.prepare<{ id: number; script: Uint8Array; txid: Uint8Array }, []>(
        `SELECT o.id AS id, o.script AS script, t.txid AS txid FROM outputs o JOIN txs t ON t.txnum = o.id / ${IO_SPAN}
         WHERE o.id NOT IN (SELECT prev FROM spends) ORDER BY o.id`,
      ),
      counts: s.prepare<{ blocks: number; txs: number }, []>(
        "SELECT (SELECT count(*) FROM blocks) AS blocks, (SELECT coalesce(max(txnum) + 1, 0) FROM txs) AS txs",
      ),
    };
  }

  tip(): BlockRow | null {
    const r = this.q.tip.get();
    return r ? toBlockRow(r) : null;
  }

  blockAt(height: number): BlockRow | null {
    const r = this.q.blockAt.get(height);
    return r ? toBlockRow(r) : null;
  }

  blockByHash(hash: Uint8Array): BlockRow | null {
    const r = this.q.blockByHash.get(hash);
    return r ? toBlockRow(r) : null;
  }

  /** Block hashes of the best chain, index = height. */
  chainHashes(): Uint8Array[] {
    const out: Uint8Array[] = [];
    for (const r of this.q.allHashes.iterate()) out[r.height] = r.hash;
    return out;
  }

  /** Number of txs indexed (= the next txnum). */
  txCount(): number {
    return this.q.counts.get()!.txs;
  }

  /** Txids of a block in block order. */
  blockTxids(block: BlockRow): Uint8Array[] {
    return this.q.txidsInRange.all(block.firstTxnum, block.firstTxnum + block.txCount).map((r) => r.txid);
  }

  /** The txnum of a confirmed txid (the latest one for BIP30 duplicates), or null. */
  txnumOf(txid: Uint8Array): number | null {
    for (const r of this.q.txnumsByKey.iterate(txid.subarray(0, TXID_KEY_BYTES))) {
      if (bytesEqual(r.txid, txid)) return r.txnum;
    }
    return null;
  }

  tx(txid: Uint8Array): TxLocation | null {
    const txnum = this.txnumOf(txid);
    return txnum === null ? null : this.txAt(txnum);
  }

  txAt(txnum: number): TxLocation | null {
    const t = this.q.txByNum.get(txnum);
    const b = this.q.blockOfTxnum.get(txnum);
    if (!t || !b) return null;
    return { txnum, txid: t.txid, raw: t.raw, height: b.height, blockHash: b.hash, pos: txnum - b.first_txnum };
  }

  /** The 11-byte script key and value of an indexed output, or null. */
  output(outputId: number): { scriptKey: Uint8Array; valueSat: number } | null {
    const r = this.q.output.get(outputId);
    return r ? { scriptKey: r.script, valueSat: r.value_sat } : null;
  }

  /** Funding and spending rows of a script (by its 11-byte key), in chain order. */
  history(scriptKey: Uint8Array): HistoryRow[] {
    const blocks = new BlockLocator(this);
    const rows: HistoryRow[] = [];
    for (const r of this.q.funding.iterate(scriptKey)) {
      const txnum = txnumOfId(r.id);
      rows.push({ txnum, height: blocks.heightOf(txnum), txid: this.txidAt(txnum), kind: "funding", index: indexOfId(r.id), valueSat: r.value_sat });
    }
    for (const r of this.q.spending.iterate(scriptKey)) {
      const txnum = txnumOfId(r.id);
      const prevTxnum = txnumOfId(r.prev);
      rows.push({
        txnum,
        height: blocks.heightOf(txnum),
        txid: this.txidAt(txnum),
        kind: "spending",
        index: indexOfId(r.id),
        valueSat: this.q.output.get(r.prev)?.value_sat ?? 0,
        prevTxid: this.txidAt(prevTxnum),
        prevVout: indexOfId(r.prev),
      });
    }
    rows.sort((a, b) => a.txnum - b.txnum || (a.kind === b.kind ? a.index - b.index : a.kind === "funding" ? -1 : 1));
    return rows;
  }

  /** Unspent outputs of a script, in chain order. */
  utxos(scriptKey: Uint8Array): Utxo[] {
    const blocks = new BlockLocator(this);
    const out: Utxo[] = [];
    for (const r of this.q.funding.iterate(scriptKey)) {
      if (this.q.spendOf.get(r.id)) continue;
      const txnum = txnumOfId(r.id);
      out.push({ txid: this.txidAt(txnum), vout: indexOfId(r.id), height: blocks.heightOf(txnum), valueSat: r.value_sat });
    }
    return out;
  }

  /** Esplora's chain_stats of a script. */
  stats(scriptKey: Uint8Array): ScriptStats {
    const txnums = new Set<number>();
    let fundedTxoCount = 0;
    let fundedTxoSum = 0;
    let spentTxoCount = 0;
    let spentTxoSum = 0;
    for (const r of this.q.funding.iterate(scriptKey)) {
      txnums.add(txnumOfId(r.id));
      fundedTxoCount++;
      fundedTxoSum += r.value_sat;
    }
    for (const r of this.q.spending.iterate(scriptKey)) {
      txnums.add(txnumOfId(r.id));
      spentTxoCount++;
      spentTxoSum += this.q.output.get(r.prev)?.value_sat ?? 0;
    }
    return { txCount: txnums.size, fundedTxoCount, fundedTxoSum, spentTxoCount, spentTxoSum };
  }

  /** The confirmed input that spends output `vout` of `txid`, or null. */
  outspend(txid: Uint8Array, vout: number): Outspend | null {
    const txnum = this.txnumOf(txid);
    if (txnum === null) return null;
    const r = this.q.spendOf.get(txnum * IO_SPAN + vout);
    if (!r) return null;
    const spender = txnumOfId(r.id);
    return { txid: this.txidAt(spender), vin: indexOfId(r.id), height: new BlockLocator(this).heightOf(spender) };
  }

  /** Every unspent indexed output with its txid (rebuilding the sync's UTXO cache after a restart). */
  *unspentOutputs(): Generator<{ id: number; scriptKey: Uint8Array; txid: Uint8Array }> {
    for (const r of this.q.unspentForCache.iterate()) yield { id: r.id, scriptKey: r.script, txid: r.txid };
  }

  txidAt(txnum: number): Uint8Array {
    const r = this.q.txidByNum.get(txnum);
    if (!r) throw new Error(`index inconsistency: no tx number ${txnum}`);
    return r.txid;
  }

  /** @internal used by BlockLocator */
  blockContaining(txnum: number): BlockRow | null {
    const r = this.q.blockOfTxnum.get(txnum);
    return r ? toBlockRow(r) : null;
  }
}

/** Maps txnums to heights, remembering the last block found (history rows come in clusters). */
class BlockLocator {
  private last: BlockRow | null = null;
  constructor(private readonly reader: StoreReader) {}
  heightOf(txnum: number): number {
    const l = this.last;
    if (l && txnum >= l.firstTxnum && txnum < l.firstTxnum + l.txCount) return l.height;
    this.last = this.reader.blockContaining(txnum);
    if (!this.last) throw new Error(`index inconsistency: no block holds tx number ${txnum}`);
    return this.last.height;
  }
}
