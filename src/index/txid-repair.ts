/**
 * Start-up check of the txid file (store/txid-file.ts) against the txs table: records that a crash
 * left unwritten (a reorg's records, written just after their commit; or the end of a file that
 * a power failure during the initial sync cut short) are recomputed from the txs' own bytes, read
 * where queries read them (Core's blk files, or the txs row). Nothing else is trusted for a txid.
 */
import { parseBlock, txidOfExact } from "../bitcoin/block.ts";
import { bytesEqual, hashToHex } from "../bitcoin/bytes.ts";
import { StoreError } from "../errors.ts";
import type { Logger } from "../log.ts";
import { META_TXIDS_REPAIR_FROM, type Db } from "../store/db.ts";
import type { BlkRangeSource } from "../store/tx-bytes.ts";
import { TXID_FILE } from "../store/txid-file.ts";

interface BlockSpan {
  height: number;
  hash: Uint8Array;
  first_txnum: number;
  tx_count: number;
  size: number;
  file: number | null;
  data_pos: number | null;
}

/** Returns the number of txids recomputed (0 when the file was whole). */
export function repairTxids(db: Db, blkFiles: BlkRangeSource | null, log: Logger): number {
  const count = db.txids.committedCount;
  const marker = db.getMeta(META_TXIDS_REPAIR_FROM);
  const from = Math.min(marker === null ? count : Number(marker), db.txids.storedCount);
  if (from >= count) {
    if (marker !== null) db.deleteMeta(META_TXIDS_REPAIR_FROM);
    return 0;
  }
  log.warn(`${TXID_FILE}: recomputing the txids of tx numbers ${from} to ${count - 1} from the txs' bytes (left unwritten by a crash)`);
  const blocks = db.sql.query<BlockSpan, [number]>(
    "SELECT height, hash, first_txnum, tx_count, size, file, data_pos FROM blocks WHERE first_txnum + tx_count > ? ORDER BY height",
  );
  const rawTxs = db.sql.query<{ txnum: number; raw: Uint8Array | null }, [number, number]>("SELECT txnum, raw FROM txs WHERE txnum >= ? AND txnum < ? ORDER BY txnum");
  let done = 0;
  for (const b of blocks.iterate(from)) {
    const txids = blockTxids(b, blkFiles, rawTxs);
    const skip = Math.max(0, from - b.first_txnum);
    db.txids.repair(b.first_txnum + skip, txids.slice(skip));
    done += txids.length - skip;
  }
  if (done !== count - from) throw new StoreError(`index inconsistency: the blocks hold ${done} of the ${count - from} txs from tx number ${from}. Please reindex.`);
  db.txids.sync();
  db.deleteMeta(META_TXIDS_REPAIR_FROM);
  return done;
}

function blockTxids(
  b: BlockSpan,
  blkFiles: BlkRangeSource | null,
  rawTxs: { all(from: number, to: number): { txnum: number; raw: Uint8Array | null }[] },
): Uint8Array[] {
  const reindex = (why: string) => new StoreError(`cannot recompute the txids of block ${b.height}: ${why}. Please reindex.`);
  if (b.file !== null && b.data_pos !== null) {
    if (!blkFiles) throw reindex("its txs are in Core's blk files, and none are readable here (set --blocks-dir)");
    let block;
    try {
      block = parseBlock(blkFiles.readRange(b.file, b.data_pos, b.size), { witness: false });
    } catch (err) {
      throw reindex(`reading it from the blk files failed: ${(err as Error).message}`);
    }
    if (!bytesEqual(block.header.hash, b.hash)) throw reindex(`the blk files hold block ${hashToHex(block.header.hash)} there`);
    if (block.txs.length !== b.tx_count) throw reindex(`it holds ${block.txs.length} txs, the index ${b.tx_count}`);
    return block.txs.map((tx) => tx.txid);
  }
  const rows = rawTxs.all(b.first_txnum, b.first_txnum + b.tx_count);
  if (rows.length !== b.tx_count || rows.some((r) => r.raw === null)) throw reindex("its txs rows are incomplete");
  return rows.map((r) => txidOfExact(r.raw!));
}
