/**
 * Row writes: the only place that inserts into or deletes from the index tables. Callers wrap
 * calls in `db.write(...)` so that a block's rows and the tip move together.
 */
import type { Statement } from "bun:sqlite";
import type { Db } from "./db.ts";
import { IO_SPAN, type BlockRow } from "./rows.ts";

export interface StoreWriter {
  insertBlock(row: BlockRow): void;
  insertTx(txnum: number, txid: Uint8Array, raw: Uint8Array): void;
  insertOutput(id: number, scriptKey: Uint8Array, valueSat: number): void;
  insertSpend(id: number, prevId: number, scriptKey: Uint8Array): void;
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
  const insBlock = prep("INSERT INTO blocks(height, hash, header, first_txnum, tx_count, size, weight) VALUES (?, ?, ?, ?, ?, ?, ?)");
  const insTx = prep("INSERT INTO txs(txnum, txid, raw) VALUES (?, ?, ?)");
  const insOut = prep("INSERT INTO outputs(id, script, value_sat) VALUES (?, ?, ?)");
  const insSpend = prep("INSERT INTO spends(id, prev, script) VALUES (?, ?, ?)");
  const firstTxnumAt = sql.prepare<{ first_txnum: number }, [number]>("SELECT first_txnum FROM blocks WHERE height = ?");
  stmts.push(firstTxnumAt);
  const delBlocks = prep("DELETE FROM blocks WHERE height >= ?");
  const delTxs = prep("DELETE FROM txs WHERE txnum >= ?");
  const delOuts = prep("DELETE FROM outputs WHERE id >= ?");
  const delSpends = prep("DELETE FROM spends WHERE id >= ?");

  return {
    insertBlock: (r) => void insBlock.run(r.height, r.hash, r.header, r.firstTxnum, r.txCount, r.size, r.weight),
    insertTx: (txnum, txid, raw) => void insTx.run(txnum, txid, raw),
    insertOutput: (id, key, valueSat) => void insOut.run(id, key, valueSat),
    insertSpend: (id, prevId, key) => void insSpend.run(id, prevId, key),
    truncateFrom(height) {
      const first = firstTxnumAt.get(height);
      if (!first) return { blocks: 0, txs: 0 };
      const blocks = delBlocks.run(height).changes;
      const txs = delTxs.run(first.first_txnum).changes;
      delOuts.run(first.first_txnum * IO_SPAN);
      delSpends.run(first.first_txnum * IO_SPAN);
      return { blocks, txs };
    },
    finalize() {
      for (const s of stmts) s.finalize();
    },
  };
}
