/**
 * What the query layer answers with: plain data in internal byte order, no protocol shapes.
 * REST (rest/json.ts) and Electrum render these; txids and hashes are internal-order bytes.
 */
import type { BlockHeader, Tx, TxOut } from "../bitcoin/block.ts";
import type { MempoolStats } from "../mempool/types.ts";
import type { ScriptStats } from "../store/read.ts";
import type { BlockRow } from "../store/rows.ts";

/** Where a tx is: unconfirmed (mempool or unknown), or in a best-chain block. */
export type TxStatus =
  | { readonly confirmed: false }
  | { readonly confirmed: true; readonly height: number; readonly blockHash: Uint8Array; readonly blockTime: number };

export const UNCONFIRMED: TxStatus = Object.freeze({ confirmed: false });

/** A transaction with everything Esplora shows about it. */
export interface TxView {
  /** Parsed with witnesses. */
  readonly tx: Tx;
  readonly status: TxStatus;
  /** The output each input spends, in input order; null for the coinbase input. */
  readonly prevouts: readonly (TxOut | null)[];
  /** Sum of prevout values minus sum of outputs; 0 for a coinbase. */
  readonly feeSat: number;
}

/** A best-chain block with its derived fields. */
export interface BlockView {
  readonly row: BlockRow;
  readonly header: BlockHeader;
  /** Median of the timestamps of this block and the 10 before it (fewer near genesis). */
  readonly mediantime: number;
  /** Core's GetDifficulty of nBits, as a float. */
  readonly difficulty: number;
}

export interface BlockStatusView {
  readonly inBestChain: boolean;
  readonly height: number | null;
  readonly nextBest: Uint8Array | null;
}

export type OutspendView =
  | { readonly spent: false }
  | { readonly spent: true; readonly txid: Uint8Array; readonly vin: number; readonly status: TxStatus };

export const UNSPENT: OutspendView = Object.freeze({ spent: false });

export interface UtxoView {
  readonly txid: Uint8Array;
  readonly vout: number;
  readonly status: TxStatus;
  readonly valueSat: number;
}

export interface ScriptStatsView {
  readonly chain: ScriptStats;
  readonly mempool: MempoolStats;
}

/** One confirmed tx of a script's history with the script's net value change (MP's txs/summary). */
export interface TxSummaryView {
  readonly txid: Uint8Array;
  readonly height: number;
  /** Funded minus spent satoshis for the script(s), signed. */
  readonly valueSat: number;
  readonly time: number;
  readonly position: number;
}

export interface MerkleProofView {
  readonly height: number;
  /** Sibling hashes from the leaf up, internal byte order. */
  readonly branch: readonly Uint8Array[];
  readonly pos: number;
}

/** Paging of an address's tx history (mempool part first, then the chain part, newest first). */
export interface HistoryPageOptions {
  /** The last tx of the previous page (MP's after_txid), or null for the first page. */
  readonly afterTxid: Uint8Array | null;
  /** At most this many mempool txs. */
  readonly mempoolLimit: number;
  /** At most this many confirmed txs; with `totalLimit`, the room the mempool part left. */
  readonly chainLimit: number;
  /** When set (MP's max_txs), the whole page holds at most this many txs. */
  readonly totalLimit: number | null;
}

/** A UTXO paging cursor: the last outpoint of the previous page. */
export interface OutpointCursor {
  readonly txid: Uint8Array;
  readonly vout: number;
}
