/** Db.setBulkMode (store/db.ts): a rollback journal for the initial sync when the file has no other connection, WAL for serving. */
import { describe, expect, test } from "bun:test";
import { silentLogger } from "../../../src/log.ts";
import { openDb, openReadDb } from "../../../src/store/db.ts";
import { tempDir } from "../../helpers/tmp.ts";

const journalMode = (db: { sql: { query: (s: string) => { get: () => unknown } } }) =>
  (db.sql.query("PRAGMA journal_mode").get() as { journal_mode: string }).journal_mode;

describe("bulk mode: the journal", () => {
  test("the only connection: a rollback journal while on, WAL again when off, rows kept", () => {
    using dir = tempDir();
    const db = openDb({ dir: dir.path, network: "regtest", log: silentLogger() });
    expect(journalMode(db)).toBe("wal");
    db.setBulkMode(true);
    expect(journalMode(db)).toBe("delete");
    db.write(() => db.setMeta("probe", "1"));
    db.setBulkMode(false);
    expect(journalMode(db)).toBe("wal");
    db.close();
    const again = openDb({ dir: dir.path, network: "regtest", log: silentLogger() });
    expect(journalMode(again)).toBe("wal");
    expect(again.getMeta("probe")).toBe("1");
    again.close();
  });

  test("with a query connection open the WAL stays, and the reader keeps reading during a write", () => {
    using dir = tempDir();
    const db = openDb({ dir: dir.path, network: "regtest", log: silentLogger() });
    db.write(() => db.setMeta("probe", "1"));
    const reader = openReadDb(db);
    expect(reader.sql.query("SELECT value FROM meta WHERE key = 'probe'").get()).toEqual({ value: "1" });
    db.setBulkMode(true);
    expect(journalMode(db)).toBe("wal");
    db.sql.exec("BEGIN IMMEDIATE");
    db.setMeta("probe", "2");
    // A WAL snapshot: the open write does not block the reader, which sees the last commit.
    expect(reader.sql.query("SELECT value FROM meta WHERE key = 'probe'").get()).toEqual({ value: "1" });
    db.sql.exec("COMMIT");
    db.setBulkMode(false);
    expect(journalMode(db)).toBe("wal");
    reader.close();
    db.close();
  });

  test("an in-memory index keeps its journal", () => {
    const db = openDb({ dir: ":memory:", network: "regtest", log: silentLogger() });
    const before = journalMode(db);
    db.setBulkMode(true);
    db.setBulkMode(false);
    expect(journalMode(db)).toBe(before);
    db.close();
  });
});
