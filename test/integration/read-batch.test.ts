/**
 * The query connection's read transactions (store/read-batch.ts): one snapshot per turn of the
 * event loop, closed before the writer of this thread commits, and never upgraded by a write.
 */
import { afterEach, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { join } from "node:path";
import { silentLogger } from "../../src/log.ts";
import { DB_FILE, openDb, openReadDb } from "../../src/store/db.ts";
import { tempDir } from "../helpers/tmp.ts";
import { hexToBytes } from "../../src/bitcoin/bytes.ts";
import { StoreReader } from "../../src/store/read.ts";
import { scriptKeyOf } from "../../src/store/rows.ts";
import { loadExpected, openBlkFiles, openFixtureIndexer } from "../helpers/fixture.ts";

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0).reverse()) c();
});

function open() {
  const tmp = tempDir();
  cleanups.push(() => tmp[Symbol.dispose]());
  const db = openDb({ dir: tmp.path, network: "regtest", log: silentLogger() });
  cleanups.push(() => db.close());
  db.write(() => db.setMeta("probe", "1"));
  const readDb = openReadDb(db);
  cleanups.push(() => readDb.close());
  const read = readDb.batch.wrap(readDb.sql.prepare<{ value: string }, [string]>("SELECT value FROM meta WHERE key = ?"));
  return { tmp, db, readDb, probe: () => read.get("probe")?.value };
}

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

test("the statements of one turn share a snapshot; the next turn sees what another connection committed meanwhile", async () => {
  const { tmp, readDb, probe } = open();
  const other = new Database(join(tmp.path, DB_FILE));
  cleanups.push(() => other.close());
  expect(probe()).toBe("1");
  expect(readDb.sql.inTransaction).toBe(true);
  other.run("UPDATE meta SET value = '2' WHERE key = 'probe'");
  expect(probe()).toBe("1"); // same turn: the snapshot of its first statement
  await nextTurn();
  expect(readDb.sql.inTransaction).toBe(false);
  expect(probe()).toBe("2");
});

test("the writer of this thread ends the read transaction before it commits: a read after the commit, in the same turn, sees it", () => {
  const { db, readDb, probe } = open();
  expect(probe()).toBe("1");
  db.write(() => db.setMeta("probe", "3"));
  expect(probe()).toBe("3");
  expect(readDb.sql.inTransaction).toBe(true);
});

test("the stats cache's write on the query connection ends the read transaction first: no upgrade, no write lock kept to the end of the turn", async () => {
  const tmp = tempDir();
  cleanups.push(() => tmp[Symbol.dispose]());
  const fx = openFixtureIndexer({ dbDir: tmp.path, log: silentLogger() }, cleanups);
  await fx.indexer.update(fx.source);
  const readDb = openReadDb(fx.db);
  cleanups.push(() => readDb.close());
  const reader = new StoreReader(readDb, openBlkFiles(), { blockBounds: true, skipEmptyLevels: true });
  // The fixture's popular address: a history long enough for its stats to be saved.
  const popular = loadExpected().scripts.reduce((a, b) => (b.history.length > a.history.length ? b : a));
  const key = scriptKeyOf(hexToBytes(popular.script));
  const saved = readDb.sql.prepare<{ n: number }, []>("SELECT count(*) AS n FROM script_stats");
  expect(saved.get()!.n).toBe(0);
  reader.tip(); // the turn's read transaction is open
  expect(readDb.sql.inTransaction).toBe(true);
  const stats = reader.stats(key);
  expect(stats.txCount).toBe(popular.history.length);
  expect(saved.get()!.n).toBe(1);
  // Ended before the write, and the write was a transaction of its own: the writer can commit now.
  expect(readDb.sql.inTransaction).toBe(false);
  fx.db.write(() => fx.db.setMeta("probe", "5"));
});
