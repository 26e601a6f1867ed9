/**
 * A script's Electrum history and status read in one step from the store's primitives (one txid
 * and one height per tx number, as strings): the reference the sliced readers, the status cache
 * and the byte writer (src/query/history-bytes.ts) are checked against.
 */
import type { MempoolView } from "../../src/mempool/types.ts";
import { electrumHistoryTxnums } from "../../src/query/electrum-history.ts";
import { statusHash, type ElectrumHistoryEntry } from "../../src/query/status.ts";
import type { StoreReader } from "../../src/store/read.ts";

export interface WholeHistory {
  readonly confirmed: readonly ElectrumHistoryEntry[];
  readonly mempool: readonly ElectrumHistoryEntry[];
}

/** The confirmed entries of `txnums`: each txid's display hex and its block's height. */
export function historyEntries(reader: StoreReader, txnums: readonly number[]): ElectrumHistoryEntry[] {
  const heights = reader.heightsOf(txnums);
  return txnums.map((txnum, i) => ({ txidHex: reader.txidHexAt(txnum), height: heights[i]! }));
}

/** The whole history, with electrumHistoryTxnums' limits (its QueryErrors are thrown). */
export function wholeHistory(reader: StoreReader, mempool: MempoolView, key: Uint8Array, limit = 0, maxReplyBytes?: number): WholeHistory {
  const h = electrumHistoryTxnums(reader, mempool, key, limit, maxReplyBytes);
  return { confirmed: historyEntries(reader, h.txnums), mempool: h.mempool };
}

/** Its status hash (§1.7). */
export function wholeStatus(h: WholeHistory): string | null {
  return statusHash([...h.confirmed, ...h.mempool]);
}
