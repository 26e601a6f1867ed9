/**
 * The end of the initial sync's load resolves the spends its UTXO table missed (store/utxo-spill.ts,
 * indexes.sql) on crafted rows: cases a real chain almost never has, so the fixture cannot show
 * them: two txids sharing their 8-byte txid key, BIP 30's duplicate txids (the spend goes to the
 * later tx), a spend of a tx that comes after the spender, and a spend of nothing.
 */
import { describe, expect, test } from "bun:test";
import { openDb, type Db } from "../../src/store/db.ts";
import { IO_SPAN, inputId, outputId } from "../../src/store/rows.ts";
import { DeferredSpendMissing, META_DEFERRED_COUNT, openUtxoSpill, type UtxoSpill } from "../../src/store/utxo-spill.ts";
import { createWriter } from "../../src/store/write.ts";
import { StoreReader } from "../../src/store/read.ts";
import { silentLogger } from "../../src/log.ts";

const log = silentLogger();

/** A txid whose first 8 bytes (its txid key) are `key` repeated, and whose 9th byte is `tail`. */
const txid = (key: number, tail: number) => {
  const t = new Uint8Array(32).fill(key, 0, 8);
  t[8] = tail;
  t[31] = 0x5a;
  return t;
};
const script = (n: number) => new Uint8Array(11).fill(n);

const A = txid(0xaa, 1); // tx 0
const B = txid(0xaa, 2); // tx 1: the same key as A
const C = txid(0xcc, 1); // tx 2, and tx 4 again (BIP 30)
const E = txid(0xee, 1); // tx 5: after the spender

/**
 * Txs 0..5 with two outputs each, the eviction bound above tx 2's outputs; with `blocks`, three
 * blocks whose coinbases are txs 0, 2 and 4 (2 and 4 then repeat a coinbase txid, as BIP 30's did).
 */
function crafted(blocks = false): { db: Db; spill: UtxoSpill } {
  const db = openDb({ dir: ":memory:", network: "regtest", log });
  const writer = createWriter(db);
  const spill = openUtxoSpill(db);
  db.write(() => {
    [A, B, C, txid(0xdd, 1), C, E].forEach((t, txnum) => {
      writer.insertTx(txnum, t, new Uint8Array([txnum]), null);
      for (let vout = 0; vout < 2; vout++) writer.insertOutput(outputId(txnum, vout), script(txnum * 2 + vout), 1000);
    });
    if (blocks) {
      for (const [height, firstTxnum] of [0, 2, 4].entries()) {
        const hash = new Uint8Array(32).fill(height + 1);
        writer.insertBlock({ height, hash, header: new Uint8Array(80), firstTxnum, txCount: 2, size: 200, weight: 800, file: null });
      }
    }
    writer.flush();
    spill.raiseBound(3 * IO_SPAN);
  });
  return { db, spill };
}

/** The sorted pass as finishInitialSync runs it; returns what resolveRest and dropOverwrittenCoinbases did. */
function buildCounting(db: Db, spill: UtxoSpill): { byFullTxid: number; coinbasesDropped: number } {
  const r = { byFullTxid: -1, coinbasesDropped: -1 };
  const deferred = spill.deferredCount;
  db.write(() =>
    db.createIndexes((table, rows) => {
      if (table === "spends_resolved") r.byFullTxid = spill.resolveRest(deferred, rows);
      if (table === "unspent") r.coinbasesDropped = spill.dropOverwrittenCoinbases();
    }),
  );
  return r;
}

const build = (db: Db, spill: UtxoSpill): number => buildCounting(db, spill).byFullTxid;

const rows = (db: Db, q: string) => db.sql.prepare(q).all();

describe("deferred spends", () => {
  test("resolved through the txid key, by full txid where two txs share a key, and to the later of two duplicate txids", () => {
    const { db, spill } = crafted();
    db.write(() => {
      spill.defer(inputId(3, 0), B, 1); // key shared with A: tx 1
      spill.defer(inputId(3, 1), A, 0); // key shared with B: tx 0
      spill.defer(inputId(5, 0), C, 1); // txs 2 and 4 both have txid C: tx 4
      spill.defer(inputId(3, 2), C, 0); // only tx 2 is before the spender
      spill.flush();
    });
    expect(spill.deferredCount).toBe(4);
    expect(build(db, spill)).toBe(4); // every key here has two txs (C's second one after the spender of C:0)
    expect(rows(db, "SELECT prev, id FROM spends ORDER BY prev")).toEqual([
      { prev: outputId(0, 0), id: inputId(3, 1) },
      { prev: outputId(1, 1), id: inputId(3, 0) },
      { prev: outputId(2, 0), id: inputId(3, 2) },
      { prev: outputId(4, 1), id: inputId(5, 0) },
    ]);
    // Each spend's history row carries its output's script.
    const history = rows(db, "SELECT script, id, prev FROM spend_history ORDER BY id");
    expect(history).toHaveLength(4);
    expect(history).toEqual(rows(db, "SELECT o.script AS script, s.id AS id, s.prev AS prev FROM spends s JOIN outputs o ON o.id = s.prev ORDER BY s.id"));
    // The outputs no input spends are unspent, with their values.
    const unspent = [outputId(0, 1), outputId(1, 0), outputId(2, 1), outputId(3, 0), outputId(3, 1), outputId(4, 0), outputId(5, 0), outputId(5, 1)];
    expect(rows(db, "SELECT id, value_sat FROM unspent ORDER BY id")).toEqual(unspent.map((id) => ({ id, value_sat: 1000 })));
    expect(rows(db, "SELECT (SELECT count(*) FROM spends_deferred) + (SELECT count(*) FROM spends_resolved) AS n")).toEqual([{ n: 0 }]);
    expect(rows(db, "SELECT name FROM sqlite_master WHERE name = 'spends_resolved_by_id'")).toEqual([]);
  });

  test("BIP 30: the outputs of a coinbase whose txid a later coinbase repeats are not unspent; spends resolve to the later one", () => {
    const { db, spill } = crafted(true);
    db.write(() => {
      spill.defer(inputId(5, 0), C, 1); // tx 4's output 1
      spill.flush();
    });
    expect(buildCounting(db, spill)).toEqual({ byFullTxid: 1, coinbasesDropped: 1 });
    expect(rows(db, "SELECT prev FROM spends")).toEqual([{ prev: outputId(4, 1) }]);
    // Tx 2's outputs (the older C) are gone from the UTXO set, tx 4's unspent one stays.
    const unspent = [outputId(0, 0), outputId(0, 1), outputId(1, 0), outputId(1, 1), outputId(3, 0), outputId(3, 1), outputId(4, 0), outputId(5, 0), outputId(5, 1)];
    expect(rows(db, "SELECT id FROM unspent ORDER BY id").map((r) => (r as { id: number }).id)).toEqual(unspent);
    // Electrum's balance is the UTXO set's (as listunspent's, Core's and Fulcrum's): nothing for
    // the older coinbase's scripts, which chain_stats still counts as funded (as electrs does).
    const reader = new StoreReader(db);
    expect(reader.unspentSum(script(4))).toBe(0);
    expect(reader.stats(script(4))).toMatchObject({ fundedTxoCount: 1, fundedTxoSum: 1000, spentTxoSum: 0 });
    expect(reader.unspentSum(script(8))).toBe(1000);
    expect(reader.unspentSum(script(9))).toBe(0); // spent by tx 5
    // Without repeated coinbase txids nothing is dropped.
    const plain = crafted(false);
    expect(buildCounting(plain.db, plain.spill).coinbasesDropped).toBe(0);
  });

  test("the common case needs no full txid: one tx per key", () => {
    const { db, spill } = crafted();
    db.write(() => {
      spill.defer(inputId(5, 0), txid(0xdd, 1), 0);
      spill.flush();
    });
    expect(build(db, spill)).toBe(0);
    expect(rows(db, "SELECT prev, id FROM spends")).toEqual([{ prev: outputId(3, 0), id: inputId(5, 0) }]);
  });

  for (const [what, prev, vout] of [
    ["a vout the tx does not have", A, 7],
    ["a txid no tx has", txid(0x11, 1), 0],
    ["a tx after the spender", E, 0],
  ] as const) {
    test(`a spend of ${what} throws DeferredSpendMissing for the lowest such input, and nothing is built`, () => {
      const { db, spill } = crafted();
      db.write(() => {
        spill.defer(inputId(3, 0), A, 0);
        spill.defer(inputId(3, 1), prev, vout);
        spill.defer(inputId(3, 2), prev, vout);
        spill.flush();
      });
      let thrown: unknown = null;
      try {
        build(db, spill);
      } catch (err) {
        thrown = err;
      }
      expect(thrown).toBeInstanceOf(DeferredSpendMissing);
      expect((thrown as DeferredSpendMissing).inputId).toBe(inputId(3, 1));
      expect((thrown as DeferredSpendMissing).prevVout).toBe(vout);
      expect((thrown as DeferredSpendMissing).prevTxidPrefix).toEqual(prev.subarray(0, 16));
      // The whole pass was rolled back: the deferred spends wait, no sorted table was filled.
      expect(spill.deferredCount).toBe(3);
      expect(rows(db, "SELECT (SELECT count(*) FROM spends) + (SELECT count(*) FROM txid_index) + (SELECT count(*) FROM spends_resolved) AS n")).toEqual([{ n: 0 }]);
    });
  }

  test("a reorg during the load drops the removed blocks' deferred spends and lowers the bound to them", () => {
    const { db, spill } = crafted();
    db.write(() => {
      spill.defer(inputId(3, 0), A, 0);
      spill.defer(inputId(5, 0), C, 1);
      spill.flush();
      spill.truncateFrom(4);
    });
    expect(spill.deferredCount).toBe(1);
    expect(spill.bound).toBe(3 * IO_SPAN);
    db.write(() => spill.truncateFrom(2));
    expect(spill.deferredCount).toBe(0);
    expect(spill.bound).toBe(2 * IO_SPAN);
    expect(spill.evictedAny).toBe(true);
    db.write(() => spill.truncateFrom(0));
    expect(spill.bound).toBe(0);
    expect(spill.evictedAny).toBe(false);
  });

  test("the count of deferred spends is kept in meta with the rows: rollbacks, reorgs, a restart, an index without the key", () => {
    const { db, spill } = crafted();
    const table = () => (rows(db, "SELECT count(*) AS n FROM spends_deferred")[0] as { n: number }).n;
    // 70 spends: more than one of the buffer's multi-row statements (written before the flush).
    db.write(() => {
      for (let i = 0; i < 70; i++) spill.defer(inputId(5, i), E, i);
      expect(spill.deferredCount).toBe(70);
      spill.flush();
    });
    expect([spill.deferredCount, table()]).toEqual([70, 70]);
    // A batch rolled back (discard, then ROLLBACK) takes its spends and its count with it.
    db.begin();
    for (let i = 0; i < 100; i++) spill.defer(inputId(4, i), E, i);
    spill.flush();
    expect([spill.deferredCount, table()]).toEqual([170, 170]);
    spill.discard();
    db.rollback();
    expect([spill.deferredCount, table()]).toEqual([70, 70]);
    db.begin();
    for (let i = 0; i < 65; i++) spill.defer(inputId(4, i), E, i);
    spill.discard();
    db.rollback();
    expect([spill.deferredCount, table()]).toEqual([70, 70]);
    // A reorg: the removed blocks' spends leave, and the count with them; buffered ones are counted first.
    db.write(() => {
      spill.defer(inputId(3, 0), A, 0);
      spill.truncateFrom(5);
    });
    expect([spill.deferredCount, table()]).toEqual([1, 1]);
    // A restart reads the count from meta; without the key (an older index), the table is counted.
    expect(openUtxoSpill(db).deferredCount).toBe(1);
    expect(db.getMeta(META_DEFERRED_COUNT)).toBe("1");
    db.write(() => db.deleteMeta(META_DEFERRED_COUNT));
    const reopened = openUtxoSpill(db);
    expect(reopened.deferredCount).toBe(1);
    db.write(() => {
      reopened.defer(inputId(5, 0), E, 0);
      reopened.flush();
    });
    expect([reopened.deferredCount, table(), db.getMeta(META_DEFERRED_COUNT)]).toEqual([2, 2, "2"]);
  });
});
