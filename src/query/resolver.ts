/**
 * Per-request lookups: txs with their prevouts and statuses. One Resolver lives for one answer, so
 * that a prev tx spent by several inputs (or a block's header shared by 25 txs of a page) is read
 * and parsed once, and never kept beyond the request (the index changes between requests).
 *
 * All of it is synchronous: bun:sqlite reads are, so one answer sees one committed state of the
 * index (the indexer cannot commit in the middle of a synchronous run).
 */
import { outputOfTx, parseTxExact, type Tx, type TxOut } from "../bitcoin/block.ts";
import { bytesToHex, hashToHex } from "../bitcoin/bytes.ts";
import type { MempoolEntry, MempoolView } from "../mempool/types.ts";
import type { StoreReader } from "../store/read.ts";
import type { BlockRow } from "../store/rows.ts";
import { UNCONFIRMED, type TxStatus, type TxView } from "./types.ts";

/** The header's nTime: bytes 68..71, little endian. */
export function headerTime(header: Uint8Array): number {
  return (header[68]! | (header[69]! << 8) | (header[70]! << 16) | (header[71]! << 24)) >>> 0;
}

/** Thrown when a tx's prevout cannot be found: the index or the mempool is inconsistent. */
export class MissingPrevoutError extends Error {
  override name = "MissingPrevoutError";
}

export class Resolver {
  private readonly blocks = new Map<number, BlockRow | null>();
  /** The bytes of funding txs read so far (checked against their txid), null for one not in the chain. */
  private readonly prevTxs = new Map<string, Uint8Array | null>();

  constructor(
    readonly reader: StoreReader,
    readonly mempool: MempoolView,
  ) {}

  blockAt(height: number): BlockRow | null {
    let b = this.blocks.get(height);
    if (b === undefined) {
      b = this.reader.blockAt(height);
      this.blocks.set(height, b);
    }
    return b;
  }

  /** The status of a tx confirmed at `height` (best chain). */
  statusAt(height: number): TxStatus {
    const b = this.blockAt(height);
    if (!b) return UNCONFIRMED;
    return { confirmed: true, height, blockHash: b.hash, blockTime: headerTime(b.header) };
  }

  /** The status of a txid: confirmed in the best chain, else unconfirmed (electrs looks only at the chain). */
  txStatus(txid: Uint8Array): TxStatus {
    const txnum = this.reader.txnumOf(txid);
    return txnum === null ? UNCONFIRMED : this.statusAt(this.reader.heightOfTxnum(txnum));
  }

  /** A tx by txid: the chain first, then the mempool (electrs' lookup_txn). */
  tx(txid: Uint8Array): TxView | null {
    const loc = this.reader.tx(txid);
    if (loc) return this.chainTx(parseTxExact(loc.raw), loc.height);
    const entry = this.mempool.get(txid);
    return entry ? this.mempoolTx(entry) : null;
  }

  /** A confirmed tx at `height` (parsed with witnesses). */
  chainTx(tx: Tx, height: number): TxView {
    return this.view(tx, this.statusAt(height), null);
  }

  mempoolTx(entry: MempoolEntry): TxView {
    return this.view(entry.tx, UNCONFIRMED, entry);
  }

  /** The output `vout` of `txid`: a confirmed tx first, then a mempool tx; null if neither has it. */
  output(txid: Uint8Array, vout: number, mempoolFirst = false): TxOut | null {
    if (mempoolFirst) return this.mempoolOutput(txid, vout) ?? this.chainOutput(txid, vout);
    return this.chainOutput(txid, vout) ?? this.mempoolOutput(txid, vout);
  }

  private chainOutput(txid: Uint8Array, vout: number): TxOut | null {
    const key = bytesToHex(txid);
    let raw = this.prevTxs.get(key);
    if (raw === undefined) {
      raw = this.reader.tx(txid)?.raw ?? null;
      this.prevTxs.set(key, raw);
    }
    // One output of it: walked to, not parsed (see outputOfTx).
    return raw === null ? null : outputOfTx(raw, vout);
  }

  private mempoolOutput(txid: Uint8Array, vout: number): TxOut | null {
    return this.mempool.get(txid)?.tx.outputs[vout] ?? null;
  }

  private view(tx: Tx, status: TxStatus, entry: MempoolEntry | null): TxView {
    if (tx.isCoinbase) return { tx, status, prevouts: [null], feeSat: 0 };
    const prevouts: TxOut[] = [];
    let inSat = 0;
    for (let i = 0; i < tx.inputs.length; i++) {
      const input = tx.inputs[i]!;
      // A mempool entry knows whether each parent was confirmed: look there first.
      const fromMempool = entry !== null && entry.prevouts[i]?.confirmed === false;
      const out = this.output(input.prevTxid, input.prevVout, fromMempool);
      if (!out) throw new MissingPrevoutError(`Transaction missing prevouts: input ${i} of ${hashToHex(tx.txid)}`);
      prevouts.push(out);
      inSat += out.valueSat;
    }
    let outSat = 0;
    for (const o of tx.outputs) outSat += o.valueSat;
    return { tx, status, prevouts, feeSat: entry ? entry.feeSat : inSat - outSat };
  }
}
