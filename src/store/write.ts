/**
 * Row writes: the only place that inserts into or deletes from the index tables. Callers wrap
 * calls in `db.write(...)` so that a block's rows and the tip move together.
 */
import type { Statement } from "bun:sqlite";
import type { Db } from "./db.ts";
import { IO_SPAN, type BlockRow } from "./rows.ts";

export interface StoreWriter {
  /** Writes buffered rows; called before a commit and before reading rows of the open transaction. */
  flush(): void;
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
  /** Removes every block at `height` and above, with their txs, outputs and spends. */
  truncateFrom(height: number): { blocks: number; txs: number };
  finalize(): void;
}

export function createWriter(db: Db): StoreWriter {
  const sql = db.sql;
  const stmts: Statement[] = [];
  const prep = (q: string) => {
    const s = sql.prepare(q);
    stmts.push(s);
    return s;
  };
  const insBlock = prep("INSERT INTO blocks(height, hash, header, first_txnum, tx_count, size, weight, file, data_pos) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)");
  const txs = rowBuffer(sql, "txs(txnum, txid, loc, raw)", 4, stmts);
  const outs = rowBuffer(sql, "outputs(id, script, value_sat)", 3, stmts);
  const spends = rowBuffer(sql, "spends(id, prev, script)", 3, stmts);
  const firstTxnumAt = sql.prepare<{ first_txnum: number }, [number]>("SELECT first_txnum FROM blocks WHERE height = ?");
  stmts.push(firstTxnumAt);
  const delBlocks = prep("DELETE FROM blocks WHERE height >= ?");
  const delTxs = prep("DELETE FROM txs WHERE txnum >= ?");
  const delOuts = prep("DELETE FROM outputs WHERE id >= ?");
  const delSpends = prep("DELETE FROM spends WHERE id >= ?");
  const insAddress = prep("INSERT OR IGNORE INTO addresses(address) VALUES (?)");
  // Live mode: immediate (unbuffered) statements, so an output created and spent in one batch is
  // inserted before it is deleted.
  const insUnspent = prep("INSERT INTO unspent(script, id) VALUES (?, ?)");
  const delUnspent = prep("DELETE FROM unspent WHERE script = ? AND id = ?");
  // A reorg: outputs below the fork that removed blocks spent are unspent again…
  const restoreUnspent = prep("INSERT OR IGNORE INTO unspent(script, id) SELECT script, prev FROM spends WHERE id >= ? AND prev < ?");
  // …and the removed blocks' own outputs leave the set (found through the outputs rowid range).
  const delUnspentFrom = prep("DELETE FROM unspent WHERE (script, id) IN (SELECT script, id FROM outputs WHERE id >= ?)");
  const delStaleStats = prep("DELETE FROM script_stats WHERE upto_txnum > ?");
  let live = false;

  return {
    insertBlock: (r) => void insBlock.run(r.height, r.hash, r.header, r.firstTxnum, r.txCount, r.size, r.weight, r.file?.index ?? null, r.file?.dataPos ?? null),
    insertTx: (txnum, txid, raw, loc) => (loc === null ? txs.add(txnum, txid, null, raw) : txs.add(txnum, txid, loc, null)),
    insertOutput(id, key, valueSat) {
      outs.add(id, key, valueSat);
      if (live) insUnspent.run(key, id);
    },
    insertSpend(id, prevId, key) {
      spends.add(id, prevId, key);
      if (live) delUnspent.run(key, prevId);
    },
    insertAddress: (address) => void insAddress.run(address),
    setLive(on) {
      live = on;
    },
    flush() {
      txs.flush();
      outs.flush();
      spends.flush();
    },
    discard() {
      txs.discard();
      outs.discard();
      spends.discard();
    },
    truncateFrom(height) {
      const first = firstTxnumAt.get(height);
      if (!first) return { blocks: 0, txs: 0 };
      const firstId = first.first_txnum * IO_SPAN;
      if (live) {
        restoreUnspent.run(firstId, firstId);
        delUnspentFrom.run(firstId);
      }
      delStaleStats.run(first.first_txnum);
      const blocks = delBlocks.run(height).changes;
      const txs = delTxs.run(first.first_txnum).changes;
      delOuts.run(firstId);
      delSpends.run(firstId);
      return { blocks, txs };
    },
    finalize() {
      for (const s of stmts) s.finalize();
    },
  };
}

/** Rows per INSERT statement: one call into SQLite per 64 rows is ~1.3× faster than one per row. */
const ROWS_PER_STATEMENT = 64;

/** Buffers rows of one table and inserts them ROWS_PER_STATEMENT at a time. */
function rowBuffer(sql: Db["sql"], target: string, cols: 3 | 4, stmts: Statement[]) {
  const values = (n: number) => Array.from({ length: n }, () => `(${Array(cols).fill("?").join(", ")})`).join(", ");
  const full = sql.prepare(`INSERT INTO ${target} VALUES ${values(ROWS_PER_STATEMENT)}`);
  const one = sql.prepare(`INSERT INTO ${target} VALUES ${values(1)}`);
  stmts.push(full, one);
  const args: unknown[] = new Array(ROWS_PER_STATEMENT * cols);
  let n = 0; // values buffered
  return {
    /** `d` only for a table of 4 columns. */
    add(a: unknown, b: unknown, c: unknown, d?: unknown): void {
      args[n] = a;
      args[n + 1] = b;
      args[n + 2] = c;
      if (cols === 4) args[n + 3] = d;
      n += cols;
      if (n === args.length) {
        full.run(...(args as [never]));
        n = 0;
      }
    },
    discard(): void {
      n = 0;
    },
    flush(): void {
      for (let i = 0; i < n; i += cols) one.run(...(args.slice(i, i + cols) as [never]));
      n = 0;
    },
  };
}
