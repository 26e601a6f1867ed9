/**
 * Row writes: the only place that inserts into or deletes from the index tables. Callers wrap
 * calls in `db.write(...)` so that a block's rows and the tip move together.
 */
import type { Statement } from "bun:sqlite";
import { parseTxExact, type Tx } from "../bitcoin/block.ts";
import type { Db } from "./db.ts";
import type { StoreReader } from "./read.ts";
import { IO_SPAN, inputId, txidKey, type BlockRow } from "./rows.ts";
import { LEVEL_COUNT, levelTable } from "./levels.ts";
import { rowBuffer } from "./row-buffer.ts";

export interface StoreWriter {
  /** Writes buffered rows; called before a commit and before reading rows of the open transaction. */
  flush(): void;
  /** Writes the buffered rows a prevout lookup reads (txs, outputs, live txid keys); the spend rows may stay buffered. */
  flushLookups(): void;
  /** Drops buffered rows (after a ROLLBACK: they belong to the aborted transaction). */
  discard(): void;
  insertBlock(row: BlockRow): void;
  /** `loc` (rows.ts encodeTxLoc) when the tx's block is in the blk files: then `raw` is not stored. */
  insertTx(txnum: number, txid: Uint8Array, raw: Uint8Array, loc: number | null): void;
  insertOutput(id: number, scriptKey: Uint8Array, valueSat: number): void;
  insertSpend(id: number, prevId: number, scriptKey: Uint8Array): void;
  /** --address-search: remembers an address seen in an output (kept across reorgs, as electrs). */
  insertAddress(address: string): void;
  /**
   * After the initial sync, outputs and spends also keep the `unspent` table (built in one pass at
   * the end of the initial sync, see indexes.sql) and reorgs restore the outputs they unspend.
   */
  setLive(live: boolean): void;
  /**
   * Removes every block at `height` and above, with their txs, outputs and spends. In live mode the
   * removed spends are found by reading the removed txs' inputs (through the reader given to createWriter).
   */
  truncateFrom(height: number): { blocks: number; txs: number; spendsScanned: boolean };
  finalize(): void;
}

/**
 * `reader` (on the same connection) reads the txs of blocks a live reorg removes; it must be given
 * for a writer that goes live.
 */
export function createWriter(db: Db, reader: StoreReader | null = null): StoreWriter {
  const sql = db.sql;
  const stmts: Statement[] = [];
  const prep = (q: string) => {
    const s = sql.prepare(q);
    stmts.push(s);
    return s;
  };
  const insBlock = prep("INSERT INTO blocks(height, hash, header, first_txnum, tx_count, size, weight, file, data_pos) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)");
  const txids = db.txids;
  const txs = rowBuffer(sql, "txs(txnum, loc, raw)", 3, stmts);
  // The initial sync appends its txid keys here in txnum order (sorted into txid_index at its end).
  const stagedKeys = rowBuffer(sql, "txid_staging(txnum, key)", 2, stmts);
  const outs = rowBuffer(sql, "outputs(id, script, value_sat)", 3, stmts);
  // The initial sync appends its spends here in id order (sorted into spends and spend_history at its end).
  const staged = rowBuffer(sql, "spends_staging(id, prev, script)", 3, stmts);
  const firstTxnumAt = sql.prepare<{ first_txnum: number }, [number]>("SELECT first_txnum FROM blocks WHERE height = ?");
  stmts.push(firstTxnumAt);
  const delBlocks = prep("DELETE FROM blocks WHERE height >= ?");
  const delTxs = prep("DELETE FROM txs WHERE txnum >= ?");
  const delOuts = prep("DELETE FROM outputs WHERE id >= ?");
  const delStaged = prep("DELETE FROM spends_staging WHERE id >= ?");
  const delStagedKeys = prep("DELETE FROM txid_staging WHERE txnum >= ?");
  const txnumsFrom = sql.prepare<{ txnum: number }, [number]>("SELECT txnum FROM txs WHERE txnum >= ?");
  stmts.push(txnumsFrom);
  const insAddress = prep("INSERT OR IGNORE INTO addresses(address) VALUES (?)");
  // Live mode: keys go to the live tail (level 0 of levels.ts), never to the bigger levels.
  // Immediate (unbuffered) statements for unspent_recent, so that an output created and spent in
  // one batch is inserted before it is deleted; the others are only read after a flush.
  const txidRecent = rowBuffer(sql, "txid_recent(key, txnum)", 2, stmts);
  const fundingRecent = rowBuffer(sql, "funding_recent(script, id)", 2, stmts);
  const spendsRecent = rowBuffer(sql, "spends_recent(prev, id)", 2, stmts);
  const historyRecent = rowBuffer(sql, "spend_history_recent(script, id, prev)", 3, stmts);
  const insUnspent = prep("INSERT INTO unspent_recent(script, id, value_sat) VALUES (?, ?, ?)");
  // An output of an older level stays in its unspent table: its spend_history_recent row hides it (levels.ts).
  const delUnspent = prep("DELETE FROM unspent_recent WHERE script = ? AND id = ?");
  // A live reorg, per input of a removed tx (see removeLiveSpends): the spend's rows, in whichever
  // level they are (levels.ts)…
  const levels = Array.from({ length: LEVEL_COUNT }, (_, level) => level);
  const perLevel = (q: (level: number) => string) => levels.map((level) => prep(q(level)));
  const delSpend = perLevel((l) => `DELETE FROM ${levelTable("spends", l)} WHERE prev = ? AND id = ?`);
  const scriptOf = sql.prepare<{ script: Uint8Array }, [number]>("SELECT script FROM outputs WHERE id = ?");
  stmts.push(scriptOf);
  const delHistory = perLevel((l) => `DELETE FROM ${levelTable("spend_history", l)} WHERE script = ? AND id = ?`);
  // …and the output it spent, below the fork, is unspent again: in the level its funding row is in.
  const fundingLevelOf = sql.prepare<{ level: number }, [Uint8Array, number]>(
    levels.map((l) => `SELECT ${l} AS level FROM ${levelTable("funding", l)} WHERE script = ?1 AND id = ?2`).join(" UNION ALL "),
  );
  stmts.push(fundingLevelOf);
  const restoreUnspent = perLevel(
    (l) => `INSERT OR IGNORE INTO ${levelTable("unspent", l)}(script, id, value_sat) SELECT ?1, ?2, value_sat FROM outputs WHERE id = ?2`,
  );
  // (the fallback: full scans of the spend tables of every level)
  const delSpendsFrom = perLevel((l) => `DELETE FROM ${levelTable("spends", l)} WHERE id >= ?`);
  const scanHistoryFrom = sql.prepare<{ script: Uint8Array; prev: number; level: number }, [number]>(
    levels.map((l) => `SELECT script, prev, ${l} AS level FROM ${levelTable("spend_history", l)} WHERE id >= ?1`).join(" UNION ALL "),
  );
  stmts.push(scanHistoryFrom);
  const delHistoryFrom = perLevel((l) => `DELETE FROM ${levelTable("spend_history", l)} WHERE id >= ?`);
  // …and the removed blocks' own rows leave every level: the live tail is small (scanned), the
  // others are probed with the keys of the removed txs and outputs (their rowid ranges).
  const delUnspentFrom = perLevel((l) =>
    l === 0 ? `DELETE FROM ${levelTable("unspent", l)} WHERE id >= ?` : `DELETE FROM ${levelTable("unspent", l)} WHERE (script, id) IN (SELECT script, id FROM outputs WHERE id >= ?)`,
  );
  const delFundingFrom = perLevel((l) =>
    l === 0 ? `DELETE FROM ${levelTable("funding", l)} WHERE id >= ?` : `DELETE FROM ${levelTable("funding", l)} WHERE (script, id) IN (SELECT script, id FROM outputs WHERE id >= ?)`,
  );
  // (txid keys: the live tail is scanned, the other levels probed with each removed tx's key from the txid file)
  const delTxidsFrom = prep(`DELETE FROM ${levelTable("txid_index", 0)} WHERE txnum >= ?`);
  const delTxidKey = perLevel((l) => `DELETE FROM ${levelTable("txid_index", l)} WHERE key = ? AND txnum = ?`).slice(1);
  const delStaleStats = prep("DELETE FROM script_stats WHERE upto_txnum > ?");
  let live = false;
  const buffers = [txs, stagedKeys, outs, staged, txidRecent, fundingRecent, spendsRecent, historyRecent];
  const flushAll = () => {
    for (const b of buffers) b.flush();
  };

  /** The parsed txs of a block, or null when they cannot all be read (blk files gone, no blk reader given). */
  function readTxs(block: BlockRow): { txnum: number; tx: Tx }[] | null {
    try {
      const rows = reader!.blockTxs(block, 0, block.txCount);
      if (rows.length !== block.txCount) return null;
      return rows.map((r) => ({ txnum: r.txnum, tx: parseTxExact(r.raw, { witness: false }) }));
    } catch {
      return null;
    }
  }

  /**
   * Live mode: the spends of every tx at or above `firstTxnum` (the blocks from `height`) leave
   * spends and spend_history (whichever level of levels.ts they are in), and the
   * outputs below the fork they spent are unspent again.
   *
   * Neither table is keyed by the spending id, so a range of spending ids is no key range there.
   * The removed spends are derived from the removed txs themselves instead: each input names its
   * prevout (txid → txnum through the txid index, + vout = the output id `prev`), outputs gives its
   * script key, and each row is then a point delete by key: the cost is a few B-tree probes per
   * removed input, whatever the size of the index (a reorg removes a few blocks). The txs' bytes
   * are read as any query reads them (stored raw, or from Core's blk files, checked against the txid).
   * No id-keyed log of recent spends is kept for this (it would cost bytes on every spend).
   *
   * Each delete checks the spending id too: an input whose row is not found where its prevout says,
   * or a block whose txs cannot all be read (an inconsistent index, or blk files that changed since
   * indexing: reading them then fails, see tx-bytes.ts), makes the rest fall back to full scans of
   * the spend tables of every level (slow on a big index, but correct). Returns whether it did.
   */
  function removeLiveSpends(height: number, firstTxnum: number): boolean {
    if (!reader) throw new Error("a live writer needs a reader to remove the spends of a reorg");
    const firstId = firstTxnum * IO_SPAN;
    let consistent = true;
    for (let h = height; consistent; h++) {
      const block = reader.blockAt(h);
      if (!block) break;
      const txs = readTxs(block);
      if (!txs) consistent = false;
      for (const { txnum, tx } of txs ?? []) {
        if (tx.isCoinbase) continue;
        for (let vin = 0; vin < tx.inputs.length && consistent; vin++) {
          const input = tx.inputs[vin]!;
          const prevTxnum = reader.txnumOf(input.prevTxid);
          const prev = prevTxnum === null ? -1 : prevTxnum * IO_SPAN + input.prevVout;
          const id = inputId(txnum, vin);
          const script = prevTxnum === null ? null : scriptOf.get(prev)?.script;
          if (!script) {
            consistent = false;
            break;
          }
          // Each row is in one level. The spend_history row's level decides what the output's
          // unspent row went through (restoreOutput).
          const spendFound = delSpend.reduce((n, d) => n + d.run(prev, id).changes, 0) === 1;
          const historyLevel = delHistory.findIndex((d) => d.run(script, id).changes === 1);
          if (!spendFound || historyLevel < 0) {
            consistent = false;
            break;
          }
          if (prev < firstId) restoreOutput(script, prev, historyLevel);
        }
        if (!consistent) break;
      }
    }
    if (consistent) return false;
    for (const r of scanHistoryFrom.all(firstId)) if (r.prev < firstId) restoreOutput(r.script, r.prev, r.level);
    for (const d of [...delHistoryFrom, ...delSpendsFrom]) d.run(firstId);
    return true;
  }

  /**
   * Output `prev` (below the fork) is unspent again once its spend (whose spend_history row was in
   * `spendLevel`) is gone. Its unspent row was deleted when the spend reached its level (levels.ts):
   * if the spend was in the level of the output's funding row, the unspent row goes back there;
   * if in a newer one, the unspent row is still in its level (the spend only hid it).
   */
  function restoreOutput(script: Uint8Array, prev: number, spendLevel: number): void {
    const funded = fundingLevelOf.get(script, prev);
    if (funded && funded.level === spendLevel) restoreUnspent[spendLevel]!.run(script, prev);
  }

  return {
    insertBlock: (r) => void insBlock.run(r.height, r.hash, r.header, r.firstTxnum, r.txCount, r.size, r.weight, r.file?.index ?? null, r.file?.dataPos ?? null),
    insertTx(txnum, txid, raw, loc) {
      txids.put(txnum, txid);
      if (loc === null) txs.add(txnum, null, raw);
      else txs.add(txnum, loc, null);
      if (live) txidRecent.add(txidKey(txid), txnum);
      else stagedKeys.add(txnum, txidKey(txid));
    },
    insertOutput(id, key, valueSat) {
      outs.add(id, key, valueSat);
      if (!live) return;
      fundingRecent.add(key, id);
      insUnspent.run(key, id, valueSat);
    },
    insertSpend(id, prevId, key) {
      if (!live) return staged.add(id, prevId, key);
      spendsRecent.add(prevId, id);
      historyRecent.add(key, id, prevId);
      delUnspent.run(key, prevId);
    },
    insertAddress: (address) => void insAddress.run(address),
    setLive(on) {
      live = on;
    },
    flush: flushAll,
    flushLookups() {
      txs.flush();
      outs.flush();
      txidRecent.flush();
    },
    discard() {
      for (const b of buffers) b.discard();
    },
    truncateFrom(height) {
      const first = firstTxnumAt.get(height);
      if (!first) return { blocks: 0, txs: 0, spendsScanned: false };
      const firstId = first.first_txnum * IO_SPAN;
      flushAll();
      let spendsScanned = false;
      if (live) {
        spendsScanned = removeLiveSpends(height, first.first_txnum);
        for (const d of [...delUnspentFrom, ...delFundingFrom]) d.run(firstId);
        delTxidsFrom.run(first.first_txnum);
        for (const { txnum } of txnumsFrom.all(first.first_txnum)) {
          const key = txidKey(txids.txidAt(txnum));
          for (const d of delTxidKey) d.run(key, txnum);
        }
      } else {
        // During the initial sync the spends and txid keys are in id order in their staging tables: range deletes.
        delStaged.run(firstId);
        delStagedKeys.run(first.first_txnum);
      }
      delStaleStats.run(first.first_txnum);
      const blocks = delBlocks.run(height).changes;
      const txs = delTxs.run(first.first_txnum).changes;
      delOuts.run(firstId);
      txids.truncate(first.first_txnum);
      return { blocks, txs, spendsScanned };
    },
    finalize() {
      for (const s of stmts) s.finalize();
    },
  };
}
