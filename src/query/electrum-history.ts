/**
 * What the Electrum server asks of the index and the mempool beyond ChainQuery: a script's history
 * in Electrum's order (confirmed by height and block position, then the mempool in the 1.6
 * canonical order) and its balance.
 * Reads are synchronous, so one answer sees one committed state.
 */
import type { MempoolView } from "../mempool/types.ts";
import type { StoreReader } from "../store/read.ts";
import { QueryError } from "./errors.ts";
import { compareMempoolEntries, type ElectrumHistoryEntry } from "./status.ts";

export interface ElectrumBalance {
  readonly confirmedSat: number;
  /** Mempool funded minus mempool spent: may be negative. */
  readonly unconfirmedSat: number;
}

/** The mempool part of a script's history, canonical order. */
export function mempoolEntries(mempool: MempoolView, key: Uint8Array): ElectrumHistoryEntry[] {
  const out: ElectrumHistoryEntry[] = [];
  for (const txid of mempool.historyTxids(key)) {
    const entry = mempool.get(txid);
    if (!entry) continue;
    out.push({ txidHex: entry.txidHex, height: mempool.hasUnconfirmedParents(txid) ? -1 : 0, feeSat: entry.feeSat });
  }
  return out.sort(compareMempoolEntries);
}

/** The fewest bytes one history entry takes in JSON: `{"tx_hash":"<64 hex>","height":N},`. */
export const MIN_HISTORY_ENTRY_BYTES = 90;

/**
 * The whole history in one step: the confirmed txs as tx numbers (chain order), the mempool's
 * entries (canonical order, with fees). Refused with a QueryError "too-large" when it holds more
 * than `limit` txs (--electrum-txs-limit; 0 = no limit); the confirmed part reads at most limit + 1
 * rows. With `maxReplyBytes`, a history whose reply cannot fit is refused ("response-too-large")
 * before any txid is read, instead of being built and then dropped.
 */
export function electrumHistoryTxnums(
  reader: StoreReader,
  mempool: MempoolView,
  key: Uint8Array,
  limit: number,
  maxReplyBytes?: number,
): { txnums: number[]; mempool: ElectrumHistoryEntry[] } {
  const pool = mempoolEntries(mempool, key);
  const max = limit === 0 ? Number.MAX_SAFE_INTEGER : limit;
  if (pool.length > max) throw tooLarge(limit);
  const txnums = reader.historyTxnumsAsc(key, null, max - pool.length + 1);
  if (txnums.length + pool.length > max) throw tooLarge(limit);
  if (maxReplyBytes !== undefined && (txnums.length + pool.length) * MIN_HISTORY_ENTRY_BYTES > maxReplyBytes) {
    throw responseTooLarge(maxReplyBytes);
  }
  return { txnums, mempool: pool };
}

export function tooLarge(limit: number): QueryError {
  return new QueryError("too-large", `history too large: more than ${limit} transactions (--electrum-txs-limit)`);
}

export function responseTooLarge(maxReplyBytes: number): QueryError {
  return new QueryError("response-too-large", `response too large (over ${maxReplyBytes} bytes)`);
}

/**
 * Confirmed: the script's confirmed UTXOs (the set listunspent lists), so the two always agree.
 * That is funded minus spent, except for the outputs of a coinbase whose txid a later coinbase
 * repeats (BIP 30: mainnet blocks 91812 and 91842), which no tx can spend and which electrs counts.
 */
export function electrumBalance(reader: StoreReader, mempool: MempoolView, key: Uint8Array): ElectrumBalance {
  return balanceWithMempool(reader.unspentSum(key), mempool, key);
}

/** A balance of `confirmedSat` confirmed and the mempool's change to the script (funded minus spent) unconfirmed. */
export function balanceWithMempool(confirmedSat: number, mempool: MempoolView, key: Uint8Array): ElectrumBalance {
  const pool = mempool.stats(key);
  return { confirmedSat, unconfirmedSat: pool.fundedTxoSum - pool.spentTxoSum };
}

