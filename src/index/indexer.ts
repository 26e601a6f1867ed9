/**
 * Turns one parsed block into index rows: its block row, one row per tx, one per indexed output
 * and one per spend. Rows go straight to the writer (no intermediate arrays: this is the hot path).
 */
import { HEADER_SIZE, type Block } from "../bitcoin/block.ts";
import { bytesToHex } from "../bitcoin/bytes.ts";
import { ChainError } from "../errors.ts";
import type { StoreWriter } from "../store/write.ts";
import { TX_LOC_SPAN, encodeTxLoc, inputId, isUnspendable, outputId, scriptKeyOf, type BlkFilePos } from "../store/rows.ts";
import { describeOutpoint, type Prevouts } from "./prevouts.ts";

export interface IndexOptions {
  /** --index-unspendables: also index OP_RETURN (and oversize) outputs. */
  readonly indexUnspendables: boolean;
  /** --address-search: the address of an output script (null when it has none); absent = off. */
  readonly addressOf?: ((script: Uint8Array) => string | null) | undefined;
}

export interface IndexedCounts {
  readonly txs: number;
  readonly outputs: number;
  readonly spends: number;
}

export function indexBlock(
  block: Block,
  height: number,
  firstTxnum: number,
  prevouts: Prevouts,
  writer: StoreWriter,
  opts: IndexOptions,
  /** Where the block's bytes are in Core's blk files: its txs are stored as locations there, not bytes. */
  file: BlkFilePos | null = null,
  /** Collects the hex of every script key the block funds or spends from (live blocks: what Electrum notifications start from). */
  touched: Set<string> | null = null,
): IndexedCounts {
  // A block too large for a tx location (no valid block is) keeps its bytes in the index.
  const located = file !== null && block.size < TX_LOC_SPAN ? file : null;
  const base = located ? blockByteOffset(block) : 0;
  writer.insertBlock({
    height,
    hash: block.header.hash,
    header: block.header.raw,
    firstTxnum,
    txCount: block.txs.length,
    size: block.size,
    weight: block.weight,
    file: located,
  });
  let outputs = 0;
  let spends = 0;
  for (let pos = 0; pos < block.txs.length; pos++) {
    const tx = block.txs[pos]!;
    const txnum = firstTxnum + pos;
    writer.insertTx(txnum, tx.txid, tx.raw, located ? encodeTxLoc(tx.raw.byteOffset - base, tx.raw.length) : null);
    // Inputs first: a tx cannot spend its own outputs, and an earlier tx of the block is already in the cache.
    if (!tx.isCoinbase) {
      for (let vin = 0; vin < tx.inputs.length; vin++) {
        const input = tx.inputs[vin]!;
        const prev = prevouts.spend(input.prevTxid, input.prevVout);
        if (!prev) {
          throw new ChainError(
            `missing previous output ${describeOutpoint(input.prevTxid, input.prevVout)} spent by tx #${pos} of block ${height}`,
          );
        }
        writer.insertSpend(inputId(txnum, vin), prev.id, prev.scriptKey);
        touched?.add(bytesToHex(prev.scriptKey));
        spends++;
      }
    }
    const addressOf = opts.addressOf;
    for (let vout = 0; vout < tx.outputs.length; vout++) {
      const out = tx.outputs[vout]!;
      if (addressOf) {
        const address = addressOf(out.script);
        if (address !== null) writer.insertAddress(address);
      }
      if (!opts.indexUnspendables && isUnspendable(out.script)) continue;
      const key = scriptKeyOf(out.script);
      const id = outputId(txnum, vout);
      writer.insertOutput(id, key, out.valueSat);
      touched?.add(bytesToHex(key));
      outputs++;
      // Every indexed output, unspendable ones included (--index-unspendables): the UTXO set the
      // initial sync ends with is what the table holds, and it lists them as unspent.
      prevouts.add(tx.txid, id, key);
    }
  }
  return { txs: block.txs.length, outputs, spends };
}

/**
 * Where the block's bytes start in the buffer its txs' `raw` views share (parseBlock makes the
 * header and every tx.raw views of the block's bytes): a tx's offset in the block is then
 * `raw.byteOffset - base`. Checked once a block: the last tx ends where the block does.
 */
function blockByteOffset(block: Block): number {
  const base = block.header.raw.byteOffset;
  const last = block.txs[block.txs.length - 1]!.raw;
  if (block.txs[0]!.raw.byteOffset - base <= HEADER_SIZE || last.byteOffset + last.length - base !== block.size) {
    throw new ChainError("the parsed txs are not views of their block's bytes: cannot locate them in the blk file");
  }
  return base;
}
