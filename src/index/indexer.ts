/**
 * What turning a block into index rows shares between its steps (flat-block.ts flattenBlock, then
 * writeFlatBlock once the UTXO table answered): the options, where the prevouts the table did not
 * hold are found, and the checks of the table's answer.
 */
import type { NetworkName } from "../bitcoin/network.ts";
import { ChainError } from "../errors.ts";
import { SCRIPT_KEY_BYTES, outputId } from "../store/rows.ts";
import { SPENT_KEY, SPENT_WORDS, type Eviction } from "./prevout-ops.ts";
import { describeOutpoint, type ResolvedPrevout } from "./prevouts.ts";

export interface IndexOptions {
  /** --index-unspendables: also index OP_RETURN (and oversize) outputs. */
  readonly indexUnspendables: boolean;
  /** --address-search: the network whose addresses are indexed; absent = off. */
  readonly addressSearch?: NetworkName | undefined;
}

/** A spend the initial sync resolves at the end of its load (store/utxo-spill.ts). */
export const DEFERRED = "deferred";

/** Where the outputs the table did not hold are (the store's txid index, or the end of the load), and what to do when it evicted. */
export interface SpendSources {
  /** The output input `inputId` spends, DEFERRED (its row is written at the end of the load), or null when there is none. */
  missed(prevTxid: Uint8Array, vout: number, inputId: number): ResolvedPrevout | typeof DEFERRED | null;
  evicted(eviction: Eviction): void;
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
