/** The txid lookups of store/read.ts over both levels of the txid index (schema.sql txid_index, txid_recent). */
import { describe, expect, test } from "bun:test";
import { silentLogger } from "../../../src/log.ts";
import { openDb } from "../../../src/store/db.ts";
import { StoreReader } from "../../../src/store/read.ts";
import { TXID_KEY_BYTES } from "../../../src/store/rows.ts";

function txid(fill: number, tail = 0): Uint8Array {
  const t = new Uint8Array(32).fill(fill);
  t[31] = tail;
  return t;
}

function indexWith(rows: { txnum: number; txid: Uint8Array; recent: boolean }[]) {
  const db = openDb({ dir: ":memory:", network: "regtest", log: silentLogger() });
  db.write(() => {
    for (const r of rows) {
      db.sql.prepare("INSERT INTO txs(txnum, loc, raw) VALUES (?, NULL, ?)").run(r.txnum, new Uint8Array([1]));
      db.txids.put(r.txnum, r.txid);
      db.sql.prepare(`INSERT INTO ${r.recent ? "txid_recent" : "txid_index"}(key, txnum) VALUES (?, ?)`).run(r.txid.subarray(0, TXID_KEY_BYTES), r.txnum);
    }
  });
  return { db, reader: new StoreReader(db) };
}

describe("txid lookups", () => {
  test("one tx under a key: found in either level, by txnumOf and txnumOfPrevout", () => {
    const { db, reader } = indexWith([
      { txnum: 0, txid: txid(1), recent: false },
      { txnum: 1, txid: txid(2), recent: true },
    ]);
    expect(reader.txnumOf(txid(1))).toBe(0);
    expect(reader.txnumOfPrevout(txid(1))).toBe(0);
    expect(reader.txnumOf(txid(2))).toBe(1);
    expect(reader.txnumOfPrevout(txid(2))).toBe(1);
    expect(reader.txnumOf(txid(3))).toBeNull();
    expect(reader.txnumOfPrevout(txid(3))).toBeNull();
    // Same key, another txid: txnumOf compares the whole txid (a client's txid may not exist).
    expect(reader.txnumOf(txid(1, 9))).toBeNull();
    db.close();
  });

  test("a key shared by two txids (64-bit prefix collision), across levels: each by its full txid", () => {
    const { db, reader } = indexWith([
      { txnum: 0, txid: txid(1, 1), recent: false },
      { txnum: 1, txid: txid(1, 2), recent: true },
    ]);
    expect(reader.txnumOfPrevout(txid(1, 1))).toBe(0);
    expect(reader.txnumOfPrevout(txid(1, 2))).toBe(1);
    expect(reader.txnumOf(txid(1, 1))).toBe(0);
    expect(reader.txnumOf(txid(1, 3))).toBeNull();
    db.close();
  });

  test("BIP30's duplicate txids: the latest one", () => {
    const { db, reader } = indexWith([
      { txnum: 0, txid: txid(5), recent: false },
      { txnum: 7, txid: txid(5), recent: false },
    ]);
    expect(reader.txnumOf(txid(5))).toBe(7);
    expect(reader.txnumOfPrevout(txid(5))).toBe(7);
    db.close();
  });
});
