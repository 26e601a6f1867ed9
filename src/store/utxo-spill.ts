/**
 * The initial sync's UTXO spill (schema.sql utxo_spill, utxo_staging): where the in-memory table
 * (index/utxo-table.ts) puts the outputs it evicts, and the rows a restart rebuilds it from.
 * Every call runs inside the indexer's open transaction, so the spill moves with the blocks: a
 * crash or a rollback leaves it as it was at the last commit, together with its id bound in meta.
 */
import type { Statement } from "bun:sqlite";
import type { Db } from "./db.ts";
import { rowBuffer } from "./row-buffer.ts";
import { UTXO_TXID_PREFIX_BYTES, indexOfId, txnumOfId } from "./rows.ts";

/** meta key: every output with an id below this was evicted to utxo_spill (or spent). */
const META_SPILL_BOUND = "utxo_spill_bound";

export interface UtxoSpill {
  /** Appends an evicted output to the staging table (copies the views); buffered until flushStaged or commitStaged. */
  stage(txidPrefix: Uint8Array, id: number, scriptKey: Uint8Array): void;
  /** Writes the staged outputs still buffered (before utxo_staging is read). */
  flushStaged(): void;
  /** Sorts what was staged into utxo_spill (one pass in key order) and records the new id bound. */
  commitStaged(bound: number): void;
  /** Removes and returns a spilled output, or null. */
  take(txid: Uint8Array, vout: number): { id: number; scriptKey: Uint8Array } | null;
  /** Every output with an id ≥ the bound that no input with an id ≥ the bound spends. */
  unspentSinceBound(): Generator<{ id: number; scriptKey: Uint8Array; txid: Uint8Array }>;
  readonly spilledCount: number;
  /** Empties the staging table (what a pass that did not commit left there). */
  dropStaged(): void;
  /** Forgets the spill (a reorg during the initial sync: the whole UTXO set is rebuilt). */
  reset(): void;
  finalize(): void;
}

export function openUtxoSpill(db: Db): UtxoSpill {
  const sql = db.sql;
  const stmts: Statement[] = [];
  const keep = <S extends Statement>(s: S): S => (stmts.push(s), s);
  // 64 rows a statement: the end-of-sync dump of 1.3M outputs (2M-tx bench) took 0.8 s a row at a time.
  const staged = rowBuffer(sql, "utxo_staging(txid, vout, id, script)", 4, stmts);
  const mergeStaged = keep(
    sql.prepare("INSERT OR REPLACE INTO utxo_spill(txid, vout, id, script) SELECT txid, vout, id, script FROM utxo_staging ORDER BY txid, vout"),
  );
  const clearStaged = keep(sql.prepare("DELETE FROM utxo_staging"));
  const takeStmt = keep(
    sql.prepare<{ id: number; script: Uint8Array }, [Uint8Array, number]>("DELETE FROM utxo_spill WHERE txid = ? AND vout = ? RETURNING id, script"),
  );
  const sinceBound = keep(
    sql.prepare<{ id: number; script: Uint8Array }, [number, number]>(
      "SELECT o.id AS id, o.script AS script FROM outputs o WHERE o.id >= ?1 AND o.id NOT IN (SELECT prev FROM spends_staging WHERE id >= ?2) ORDER BY o.id",
    ),
  );
  const count = keep(sql.prepare<{ n: number }, []>("SELECT count(*) AS n FROM utxo_spill"));
  const clearSpill = keep(sql.prepare("DELETE FROM utxo_spill"));
  // Read from meta each time: a rolled-back transaction takes an update of the bound with it.
  const readBound = () => Number(db.getMeta(META_SPILL_BOUND) ?? "0");

  return {
    stage(txidPrefix, id, scriptKey) {
      staged.add(txidPrefix.slice(), indexOfId(id), id, scriptKey.slice());
    },
    flushStaged: () => staged.flush(),
    commitStaged(newBound) {
      staged.flush();
      mergeStaged.run();
      clearStaged.run();
      db.setMeta(META_SPILL_BOUND, String(Math.max(readBound(), newBound)));
    },
    take(txid, vout) {
      const r = takeStmt.get(txid.subarray(0, UTXO_TXID_PREFIX_BYTES), vout);
      return r ? { id: r.id, scriptKey: r.script } : null;
    },
    *unspentSinceBound() {
      const bound = readBound();
      for (const r of sinceBound.iterate(bound, bound)) yield { id: r.id, scriptKey: r.script, txid: db.txids.txidAt(txnumOfId(r.id)) };
    },
    get spilledCount() {
      return count.get()!.n;
    },
    dropStaged() {
      staged.discard();
      clearStaged.run();
    },
    reset() {
      staged.discard();
      clearSpill.run();
      clearStaged.run();
      db.setMeta(META_SPILL_BOUND, "0");
    },
    finalize() {
      for (const s of stmts) s.finalize();
    },
  };
}
