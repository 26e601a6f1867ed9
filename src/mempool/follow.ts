/**
 * Keeping the mempool in step with the index (electrs' main loop around `Mempool::update`): the
 * mempool only takes txs whose parents the index knows, so an update that finds the node on another
 * tip lets the indexer catch up first and then tries again.
 */
import { hashToHex } from "../bitcoin/bytes.ts";
import type { Logger } from "../log.ts";
import type { StoreReader } from "../store/read.ts";
import { IO_SPAN } from "../store/rows.ts";
import type { Mempool } from "./mempool.ts";
import type { MempoolChain, MempoolNode, MempoolUpdateResult } from "./types.ts";

/** How often one call retries after the tip moved before leaving it to the next loop. */
const MAX_TIP_RETRIES = 5;

/** The chain side of the mempool over the query connection (committed blocks only). */
export function mempoolChainOf(reader: StoreReader, tipHash: () => Uint8Array | null): MempoolChain {
  return {
    output(txid, vout) {
      const txnum = reader.txnumOf(txid);
      if (txnum === null) return null;
      return reader.output(txnum * IO_SPAN + vout);
    },
    tipHashHex() {
      const h = tipHash();
      return h ? hashToHex(h) : "";
    },
  };
}

/**
 * --offline has no node and so no mempool: an always-empty one that is "synced" with our tip, so
 * that the mempool answers are empty rather than errors.
 */
export function offlineMempoolNode(chain: MempoolChain): MempoolNode {
  return {
    rawMempool: async () => [],
    rawTransactions: async () => [],
    bestBlockHash: async () => chain.tipHashHex(),
  };
}

/** Drops the txs of newly committed blocks from the mempool (Indexer.onCommit listener). */
export function dropConfirmed(mempool: Mempool, reader: StoreReader, fromHeight: number, toHeight: number): ReadonlySet<string> {
  const txids: Uint8Array[] = [];
  for (let h = fromHeight; h <= toHeight; h++) {
    const block = reader.blockAt(h);
    if (block) txids.push(...reader.blockTxids(block));
  }
  return mempool.removeConfirmed(txids);
}

/**
 * One mempool update; when the node's tip is not ours, `catchUp` (the indexer) runs and the update
 * is tried again, a few times at most (a node mining fast would otherwise keep us here).
 */
export async function updateMempool(
  mempool: Mempool,
  catchUp: () => Promise<unknown>,
  log: Logger,
  signal?: AbortSignal,
): Promise<MempoolUpdateResult> {
  let result = await mempool.update(signal);
  for (let i = 0; result.status === "tip-moved" && i < MAX_TIP_RETRIES && !signal?.aborted; i++) {
    log.debug("mempool update: the node's tip moved, indexing first");
    await catchUp();
    result = await mempool.update(signal);
  }
  return result;
}
