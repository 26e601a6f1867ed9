/**
 * Turns one parsed block into index rows: its block row, one row per tx, one per indexed output
 * and one per spend. Rows go straight to the writer (no intermediate arrays: this is the hot path).
 * The spends wait for the UTXO table's answer (prevouts.ts), so they are written in a second step.
 */
import { addressOf } from "../bitcoin/address.ts";
import { HEADER_SIZE, type Block } from "../bitcoin/block.ts";
import { bytesToHex } from "../bitcoin/bytes.ts";
import { NETWORKS, type NetworkName } from "../bitcoin/network.ts";
import { ChainError } from "../errors.ts";
import type { StoreWriter } from "../store/write.ts";
import { SCRIPT_KEY_BYTES, encodeTxLoc, inputId, isUnspendable, locatedIn, outputId, scriptKeyOf, type BlkFilePos } from "../store/rows.ts";
import { SPENT_KEY, SPENT_WORDS, type Eviction, type OpsWriter, type Resolved } from "./prevout-ops.ts";
import { describeOutpoint, type ResolvedPrevout } from "./prevouts.ts";

export interface IndexOptions {
  /** --index-unspendables: also index OP_RETURN (and oversize) outputs. */
  readonly indexUnspendables: boolean;
  /** --address-search: the network whose addresses are indexed; absent = off. */
  readonly addressSearch?: NetworkName | undefined;
}

export interface IndexedCounts {
  readonly txs: number;
  readonly outputs: number;
}

/**
 * Writes the block's rows but its spends, and appends to `ops` what the UTXO table must do for it
 * (prevout-ops.ts): for each tx, a spend per input, then an add per indexed output. The spends'
 * rows follow from the table's answer (writeSpends), which the initial sync gets from another
 * thread while it parses the next blocks.
 */
export function indexBlock(
  block: Block,
  height: number,
  firstTxnum: number,
  writer: StoreWriter,
  opts: IndexOptions,
  /** Where the block's bytes are in Core's blk files: its txs are stored as locations there, not bytes. */
  file: BlkFilePos | null,
  ops: OpsWriter,
  /** Collects the hex of every script key the block's outputs pay (live blocks: what Electrum notifications start from). */
  touched: Set<string> | null = null,
): IndexedCounts {
  const located = locatedIn(file, block.size);
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
  const network = opts.addressSearch ? NETWORKS[opts.addressSearch] : null;
  for (let pos = 0; pos < block.txs.length; pos++) {
    const tx = block.txs[pos]!;
    const txnum = firstTxnum + pos;
    writer.insertTx(txnum, tx.txid, tx.raw, located ? encodeTxLoc(tx.raw.byteOffset - base, tx.raw.length) : null);
    // Inputs first: a tx cannot spend its own outputs, and an earlier tx of the block is already in the table.
    if (!tx.isCoinbase) for (const input of tx.inputs) ops.spend(input.prevTxid, input.prevVout);
    for (let vout = 0; vout < tx.outputs.length; vout++) {
      const out = tx.outputs[vout]!;
      if (network) {
        const address = addressOf(out.script, network);
        if (address !== null) writer.insertAddress(address);
      }
      if (!opts.indexUnspendables && isUnspendable(out.script)) continue;
      const key = scriptKeyOf(out.script);
      writer.insertOutput(outputId(txnum, vout), key, out.valueSat);
      touched?.add(bytesToHex(key));
      outputs++;
      // Every indexed output, unspendable ones included (--index-unspendables): the UTXO set the
      // initial sync ends with is what the table holds, and it lists them as unspent.
      ops.add(tx.txid, txnum, vout, key);
    }
  }
  return { txs: block.txs.length, outputs };
}

/** Where the outputs the table did not hold are (the spill, or the store's txid index), and what to do with what it evicted. */
export interface SpendSources {
  missed(prevTxid: Uint8Array, vout: number): ResolvedPrevout | null;
  evicted(eviction: Eviction): void;
}

/**
 * Writes the spend rows of a block indexBlock wrote, from the table's answer to its ops: the
 * inputs in the same order, each either answered or looked up in `sources`. Evictions are handed
 * to `sources` where they happened in that order, so a later spend finds what they moved out.
 * Returns the number of spends.
 */
export function writeSpends(
  block: Block,
  height: number,
  firstTxnum: number,
  resolved: Resolved,
  writer: StoreWriter,
  sources: SpendSources,
  /** Collects the hex of every script key the block spends from (see indexBlock). */
  touched: Set<string> | null = null,
): number {
  const { spent, evictions } = resolved;
  const spentBytes = new Uint8Array(spent.buffer, spent.byteOffset, spent.byteLength);
  let e = 0;
  let n = 0;
  for (let pos = 0; pos < block.txs.length; pos++) {
    const tx = block.txs[pos]!;
    if (tx.isCoinbase) continue;
    for (let vin = 0; vin < tx.inputs.length; vin++, n++) {
      while (e < evictions.length && evictions[e]!.atSpend <= n) sources.evicted(evictions[e++]!);
      const input = tx.inputs[vin]!;
      const prev = answeredPrevout(spent, spentBytes, n, input.prevVout) ?? sources.missed(input.prevTxid, input.prevVout);
      if (!prev) throw missingPrevout(input.prevTxid, input.prevVout, pos, height);
      writer.insertSpend(inputId(firstTxnum + pos, vin), prev.id, prev.scriptKey);
      touched?.add(bytesToHex(prev.scriptKey));
    }
  }
  checkSpendCount(spent, n, height);
  while (e < evictions.length) sources.evicted(evictions[e++]!);
  return n;
}

/** The output the `n`th spend of a block spends, from the UTXO table's answer; null when the table did not hold it (ask SpendSources.missed). */
export function answeredPrevout(spent: Uint32Array, spentBytes: Uint8Array, n: number, prevVout: number): ResolvedPrevout | null {
  const p = n * SPENT_WORDS;
  const txnumPlus1 = spent[p]!;
  if (txnumPlus1 === 0) return null;
  return { id: outputId(txnumPlus1 - 1, prevVout), scriptKey: spentBytes.slice((p + SPENT_KEY) * 4, (p + SPENT_KEY) * 4 + SCRIPT_KEY_BYTES) };
}

export function missingPrevout(prevTxid: Uint8Array, prevVout: number, pos: number, height: number): ChainError {
  return new ChainError(`missing previous output ${describeOutpoint(prevTxid, prevVout)} spent by tx #${pos} of block ${height}`);
}

/** The table answers one spend per input: anything else is a bug, never rows to write. */
export function checkSpendCount(spent: Uint32Array, inputs: number, height: number): void {
  if (inputs * SPENT_WORDS !== spent.length) throw new RangeError(`the UTXO table answered ${spent.length / SPENT_WORDS} spends for the ${inputs} inputs of block ${height}`);
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
