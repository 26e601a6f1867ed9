/**
 * A parsed block as flat typed arrays: what the initial sync's worker (utxo-worker.ts) hands back
 * to the main thread, which then only writes rows. The worker parses, hashes the txids and the
 * output scripts' keys and applies the block to the UTXO table on the second core; a block of
 * objects (one per tx, input and output, each with its views) would cost more to clone across
 * than to parse, so every field is an array whose buffer is transferred.
 *
 * Layouts (pinned by test/unit/index/flat-block.test.ts):
 *   txs        TX_WORDS u32 per tx: [0] offset of the tx from the block's first byte, [1] its
 *              length, [2] its inputs (0 for the coinbase), [3] its indexed outputs
 *   txids      32 bytes per tx, internal byte order
 *   outVouts   per indexed output (every output but unspendable ones, unless --index-unspendables)
 *   outKeys    SCRIPT_KEY_BYTES per indexed output (rows.ts scriptKeyOf)
 *   outValues  satoshis per indexed output (below 2^53: exact in a double)
 *   prevTxids  32 bytes per input of a tx that is not the coinbase, in block order
 *   prevVouts  per such input
 *   addresses  with --address-search, the address of every output that has one, in block order
 *
 * flattenBlock writes the block's UTXO-table ops (per tx, its spends and then its indexed outputs'
 * adds), and writeFlatBlock writes the block's rows from the table's answer. Every block goes this
 * way: the initial sync's on the worker (utxo-worker.ts), live blocks on the main thread (sync.ts).
 */
import { addressOf } from "../bitcoin/address.ts";
import { HEADER_SIZE, type Block } from "../bitcoin/block.ts";
import { bytesToHex } from "../bitcoin/bytes.ts";
import { ChainError } from "../errors.ts";
import { NETWORKS, type NetworkName } from "../bitcoin/network.ts";
import type { StoreWriter } from "../store/write.ts";
import { SCRIPT_KEY_BYTES, encodeTxLoc, inputId, isUnspendable, locatedIn, outputId, scriptKeyInto, type BlkFilePos } from "../store/rows.ts";
import { DEFERRED, answeredPrevout, checkSpendCount, missingPrevout, type SpendSources } from "./indexer.ts";
import type { OpsWriter, Resolved } from "./prevout-ops.ts";

export const TX_WORDS = 4;
export const TX_OFFSET = 0;
export const TX_LENGTH = 1;
export const TX_INPUTS = 2;
export const TX_OUTPUTS = 3;

export interface FlatBlock {
  readonly txCount: number;
  readonly weight: number;
  readonly txs: Uint32Array;
  readonly txids: Uint8Array;
  readonly outVouts: Uint32Array;
  readonly outKeys: Uint8Array;
  readonly outValues: Float64Array;
  readonly prevTxids: Uint8Array;
  readonly prevVouts: Uint32Array;
  readonly addresses: readonly string[] | null;
}

export interface FlattenOptions {
  /** --index-unspendables. */
  readonly indexUnspendables: boolean;
  /** --address-search: the network whose addresses are collected; absent = off. */
  readonly addressSearch?: NetworkName | undefined;
}

/** The buffers a FlatBlock's arrays live in (to transfer them). */
export function flatBuffers(f: FlatBlock): ArrayBuffer[] {
  return [f.txs, f.txids, f.outVouts, f.outKeys, f.outValues, f.prevTxids, f.prevVouts].map((a) => a.buffer as ArrayBuffer);
}

/**
 * Flattens a block parsed from its bytes (parseBlock: every tx.raw a view of them, the header at
 * offset 0), and appends its ops to `ops` with txnums from `firstTxnum` on.
 */
export function flattenBlock(block: Block, firstTxnum: number, opts: FlattenOptions, ops: OpsWriter): FlatBlock {
  const base = block.header.raw.byteOffset;
  const txCount = block.txs.length;
  let inputs = 0;
  let outputs = 0;
  for (const tx of block.txs) {
    if (!tx.isCoinbase) inputs += tx.inputs.length;
    outputs += tx.outputs.length;
  }
  const txs = new Uint32Array(txCount * TX_WORDS);
  const txids = new Uint8Array(txCount * 32);
  const outVouts = new Uint32Array(outputs);
  const outKeys = new Uint8Array(outputs * SCRIPT_KEY_BYTES);
  const outValues = new Float64Array(outputs);
  const prevTxids = new Uint8Array(inputs * 32);
  const prevVouts = new Uint32Array(inputs);
  const network = opts.addressSearch ? NETWORKS[opts.addressSearch] : null;
  const addresses: string[] | null = network ? [] : null;
  let n = 0; // inputs so far
  let o = 0; // indexed outputs so far
  for (let pos = 0; pos < txCount; pos++) {
    const tx = block.txs[pos]!;
    const txnum = firstTxnum + pos;
    const t = pos * TX_WORDS;
    txs[t + TX_OFFSET] = tx.raw.byteOffset - base;
    txs[t + TX_LENGTH] = tx.raw.length;
    txids.set(tx.txid, pos * 32);
    if (!tx.isCoinbase) {
      txs[t + TX_INPUTS] = tx.inputs.length;
      for (const input of tx.inputs) {
        prevTxids.set(input.prevTxid, n * 32);
        prevVouts[n++] = input.prevVout;
        ops.spend(input.prevTxid, input.prevVout);
      }
    }
    const firstOut = o;
    for (let vout = 0; vout < tx.outputs.length; vout++) {
      const out = tx.outputs[vout]!;
      if (network) {
        const address = addressOf(out.script, network);
        if (address !== null) addresses!.push(address);
      }
      if (!opts.indexUnspendables && isUnspendable(out.script)) continue;
      const key = outKeys.subarray(o * SCRIPT_KEY_BYTES, (o + 1) * SCRIPT_KEY_BYTES);
      scriptKeyInto(out.script, key);
      outVouts[o] = vout;
      outValues[o++] = out.valueSat;
      ops.add(tx.txid, txnum, vout, key);
    }
    txs[t + TX_OUTPUTS] = o - firstOut;
  }
  return {
    txCount,
    weight: block.weight,
    txs,
    txids,
    outVouts: outVouts.subarray(0, o),
    outKeys: outKeys.subarray(0, o * SCRIPT_KEY_BYTES),
    outValues: outValues.subarray(0, o),
    prevTxids,
    prevVouts,
    addresses,
  };
}

const NO_BYTES = new Uint8Array(0);

/**
 * What writeFlatBlock needs of a block's bytes: its header, its size, and the bytes themselves
 * only when its txs are not located in a blk file (locatedIn), since their bytes are stored then.
 */
export interface FlatBlockBytes {
  readonly header: Uint8Array;
  readonly size: number;
  readonly bytes: Uint8Array | null;
}

/** What writeFlatBlock wrote: the counts of its txs, indexed outputs and spends. */
export interface FlatBlockCounts {
  readonly txs: number;
  readonly outputs: number;
  readonly spends: number;
}

/**
 * Writes every row of a flattened block; `resolved` is the UTXO table's answer to its ops: the
 * inputs in block order, each either answered or looked up in `sources` (which may defer it: its
 * row is then written at the end of the initial sync's load). Evictions are handed to `sources`
 * where they happened in that order: a spend the table missed before the first is a missing prevout.
 */
export function writeFlatBlock(
  flat: FlatBlock,
  raw: FlatBlockBytes,
  height: number,
  hash: Uint8Array,
  firstTxnum: number,
  file: BlkFilePos | null,
  resolved: Resolved,
  writer: StoreWriter,
  sources: SpendSources,
  /** Collects the hex of every script key the block pays or spends from (live blocks: what Electrum notifications start from). */
  touched: Set<string> | null = null,
): FlatBlockCounts {
  const located = locatedIn(file, raw.size);
  const bytes = raw.bytes;
  if (!located && !bytes) throw new Error(`block ${height} is not located in a blk file and its bytes were not kept`);
  if (located) checkTxSpans(flat, raw.size);
  writer.insertBlock({
    height,
    hash,
    header: raw.header,
    firstTxnum,
    txCount: flat.txCount,
    size: raw.size,
    weight: flat.weight,
    file: located,
  });
  const { txs, txids, outVouts, outKeys, outValues } = flat;
  if (flat.addresses) for (const a of flat.addresses) writer.insertAddress(a);
  let o = 0;
  for (let pos = 0; pos < flat.txCount; pos++) {
    const t = pos * TX_WORDS;
    const txnum = firstTxnum + pos;
    const start = txs[t + TX_OFFSET]!;
    const length = txs[t + TX_LENGTH]!;
    const txid = txids.subarray(pos * 32, pos * 32 + 32);
    if (located) writer.insertTx(txnum, txid, NO_BYTES, encodeTxLoc(start, length));
    else writer.insertTx(txnum, txid, bytes!.subarray(start, start + length), null);
    for (let end = o + txs[t + TX_OUTPUTS]!; o < end; o++) {
      const key = outKeys.subarray(o * SCRIPT_KEY_BYTES, (o + 1) * SCRIPT_KEY_BYTES);
      writer.insertOutput(outputId(txnum, outVouts[o]!), key, outValues[o]!);
      touched?.add(bytesToHex(key));
    }
  }
  // The spends: evictions handed to `sources` where they happened.
  const { spent, evictions } = resolved;
  const spentBytes = new Uint8Array(spent.buffer, spent.byteOffset, spent.byteLength);
  let e = 0;
  let n = 0;
  for (let pos = 0; pos < flat.txCount; pos++) {
    const ins = txs[pos * TX_WORDS + TX_INPUTS]!;
    for (let vin = 0; vin < ins; vin++, n++) {
      while (e < evictions.length && evictions[e]!.atSpend <= n) sources.evicted(evictions[e++]!);
      const vout = flat.prevVouts[n]!;
      const id = inputId(firstTxnum + pos, vin);
      let prev = answeredPrevout(spent, spentBytes, n, vout);
      if (!prev) {
        const txid = flat.prevTxids.subarray(n * 32, n * 32 + 32);
        const found = sources.missed(txid, vout, id);
        if (found === DEFERRED) continue;
        if (!found) throw missingPrevout(txid, vout, pos, height);
        prev = found;
      }
      writer.insertSpend(id, prev.id, prev.scriptKey);
      touched?.add(bytesToHex(prev.scriptKey));
    }
  }
  checkSpendCount(spent, n, height);
  while (e < evictions.length) sources.evicted(evictions[e++]!);
  return { txs: flat.txCount, outputs: o, spends: n };
}

/**
 * The txs' places are those of views of the block's bytes (parseBlock): the first after the
 * header, the last ending where the block does. Otherwise they cannot be located in the blk file.
 */
function checkTxSpans(flat: FlatBlock, size: number): void {
  const last = (flat.txCount - 1) * TX_WORDS;
  if (flat.txCount === 0 || flat.txs[TX_OFFSET]! <= HEADER_SIZE || flat.txs[last + TX_OFFSET]! + flat.txs[last + TX_LENGTH]! !== size) {
    throw new ChainError("the parsed txs are not views of their block's bytes: cannot locate them in the blk file");
  }
}
