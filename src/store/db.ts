/**
 * Opening the SQLite index: pragmas, schema creation, version and network checks.
 * bun:sqlite is synchronous; every write goes through `store.write(name, fn)` (one transaction).
 */
import { Database } from "bun:sqlite";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { StoreError } from "../errors.ts";
import type { Logger } from "../log.ts";
import { ReadBatch } from "./read-batch.ts";
import { SCHEMA_VERSION } from "./rows.ts";
import { levelDdl } from "./levels.ts";
import schemaSql from "./schema.sql" with { type: "text" };
import indexesSql from "./indexes.sql" with { type: "text" };
import { TXID_FILE, openTxidFile, openTxidReader, type TxidFile, type TxidView } from "./txid-file.ts";

export const DB_FILE = "index.sqlite";
/** Meta key: the first txid record written after its commit (txid-file.ts); present only after a crash in between. */
export const META_TXIDS_REPAIR_FROM = "txids_repair_from";
const BULK_CACHE_MIB = 32;
/**
 * Page cache while indexes.sql runs. SQLite's sorter cuts its input into runs of the page cache's
 * size (1 MB at least), sorts each on a helper thread (PRAGMA threads) and merges them; small runs
 * stay in the CPU's caches. Measured on the 2M-tx bench, filling `funding` (4.5M rows): 5.9 s with
 * 32 MiB, 4.1 s with 2 MiB, 3.5 s with 1 MiB; `txid_index` 2.5 s and 1.7 s. The writes append to
 * each table's right edge, so they need no bigger cache.
 */
const BUILD_CACHE_MIB = 1;
/**
 * SQLite's sorter tasks while indexes.sql runs (PRAGMA threads; 8 is the most this SQLite build
 * allows). More tasks than cores still pays: each merges its own share of the runs on a thread
 * of its own, so fewer merge levels run on the thread that writes the table. Measured 2026-12-07
 * (2 vCPU Xeon, each statement alone on a copy of the 20M-tx bench index, 2 -> 4 -> 8 tasks):
 * funding 24.5 -> 22.0 -> 20.9 s, spend_history 17.7 -> 16.4 -> 15.6 s, spends 14.7 -> 13.6 ->
 * 13.6 s, txid_index 10.5 -> 9.7 -> 9.7 s, unspent 8.5 -> 7.7 s (8); the 2M-tx index 8.4 -> 7.6 s in all.
 */
const BUILD_SORTER_TASKS = 8;
/** SQLite caps a memory map at its compile-time limit: this asks for the whole file, however big. */
const READ_MMAP_BYTES = 2 ** 40;

export interface OpenOptions {
  /** Directory of this network's index (`<db-dir>/<network>`); ":memory:" for tests. */
  readonly dir: string;
  readonly network: string;
  readonly log: Logger;
  /** Page cache in MiB while serving (default 128; the initial sync uses BULK_CACHE_MIB). */
  readonly cacheMiB?: number;
}

export interface Db {
  readonly sql: Database;
  readonly path: string;
  /** The txid of each txnum (txid-file.ts): written with the txs rows, committed with them by `commit`. */
  readonly txids: TxidFile;
  getMeta(key: string): string | null;
  setMeta(key: string, value: string): void;
  deleteMeta(key: string): void;
  /** BEGIN IMMEDIATE. */
  begin(): void;
  /** COMMIT, with the txid file's records (every commit goes through here, see txid-file.ts). */
  commit(): void;
  /** Commits of this connection so far (a reader in this process sees that the index changed: level-reads.ts). */
  readonly commits: number;
  /**
   * Told just before each COMMIT and just after it (with `commits`), the txid file's records
   * written: readers in other threads (serve/shared-state.ts) know the index may be changing.
   */
  observeCommits(o: CommitObserver): () => void;
  /** ROLLBACK (if a transaction is open), and the txid file forgets the transaction's records. */
  rollback(): void;
  /** Runs fn inside BEGIN IMMEDIATE … COMMIT (ROLLBACK on a throw). */
  write<T>(fn: () => T): T;
  /** `write` of an async fn: nothing else may use this connection until it settles (the indexer's sync awaits another thread inside). */
  writeAsync<T>(fn: () => Promise<T>): Promise<T>;
  /**
   * Initial sync: commits may be lost on a power failure (never on a process crash: the pages are
   * in the OS), and a rollback journal instead of the WAL when this is the file's only connection.
   * Through the WAL every page is written twice (the WAL, then the checkpoint into the file); a
   * rollback journal copies only pages that existed before a transaction, and the sync appends.
   * Measured (2 runs each, alternated): the 2M-tx bench 20.7–22.3 s instead of 27.1–28.4 s
   * (with the WAL the end-of-sync pass's commit spent 16 s of the 20M-tx bench in its checkpoint).
   */
  setBulkMode(on: boolean): void;
  /**
   * Fills the sorted tables of indexes.sql (inside the caller's transaction); returns the seconds of
   * each statement, by the table it writes. `afterInsert(table, rows)` runs after each INSERT, with
   * the rows it inserted (a step that SQL alone cannot do, counted with that table).
   */
  createIndexes(afterInsert?: (table: string, rows: number) => void): Map<string, number>;
  /** Moves the file's free pages to its end and truncates them away (outside a transaction). */
  releaseFreePages(): void;
  close(): void;
}

export function openDb(opts: OpenOptions): Db {
  const inMemory = opts.dir === ":memory:";
  let path = ":memory:";
  if (!inMemory) {
    try {
      mkdirSync(opts.dir, { recursive: true });
    } catch (err) {
      throw new StoreError(`cannot create the index directory ${opts.dir}: ${(err as Error).message}`);
    }
    path = join(opts.dir, DB_FILE);
  }
  const cacheMiB = opts.cacheMiB ?? 128;
  let sql: Database;
  try {
    sql = new Database(path, { create: true, strict: true });
  } catch (err) {
    throw new StoreError(`cannot open the index ${path}: ${(err as Error).message}`);
  }
  try {
    // page_size must be set before the first table exists; it is a no-op on an existing file.
    // 4 KiB, not 16: after the initial sync the live tail's merges (store/recent.ts) write one page
    // per key into big B-trees, so the page is the unit of their writes. Measured on the 20M-tx
    // bench (a merge of 420k rows after 15 blocks of 4,000 txs): 16 KiB pages wrote 3.3 GB in 5.2 s,
    // 4 KiB pages 1.2 GB in 3.1 s; the initial sync took 257 s and 270 s, 292.6 and 294.5 B/tx.
    sql.exec("PRAGMA page_size = 4096");
    // Also only on a new file: the staging tables of the initial sync leave free pages behind
    // (~29 B/tx on the 2M-tx bench); with incremental auto-vacuum the end of the sync gives them
    // back to the file system (Db.releaseFreePages) instead of keeping them in the file.
    sql.exec("PRAGMA auto_vacuum = INCREMENTAL");
    sql.exec("PRAGMA journal_mode = WAL");
    sql.exec(`PRAGMA cache_size = ${-1024 * cacheMiB}`);
    sql.exec("PRAGMA temp_store = FILE");
    // Lets CREATE INDEX sort on the second core (SQLite's multi-threaded external sorter).
    sql.exec("PRAGMA threads = 2");
    sql.exec("PRAGMA synchronous = NORMAL");
    // After the initial sync the indexer reads at random places too (every input's prevout: the
    // txid index, then the output): through a memory map, as the query connection (openReadDb).
    // The initial sync turns it off (setBulkMode): it barely reads, and mapped pages count as RSS.
    sql.exec(`PRAGMA mmap_size = ${READ_MMAP_BYTES}`);
    checkVersion(sql, opts.network, path);
    sql.exec(schemaSql);
    sql.exec(levelDdl());
  } catch (err) {
    sql.close();
    if (err instanceof StoreError) throw err;
    throw new StoreError(`cannot use the index ${path}: ${(err as Error).message}`);
  }

  let txids: TxidFile;
  try {
    txids = openTxidFile(inMemory ? null : join(opts.dir, TXID_FILE));
  } catch (err) {
    sql.close();
    throw err;
  }
  txids.setCommittedCount(sql.query<{ n: number }, []>("SELECT coalesce(max(txnum) + 1, 0) AS n FROM txs").get()!.n);
  const getMetaStmt = sql.prepare<{ value: string }, [string]>("SELECT value FROM meta WHERE key = ?");
  const setMetaStmt = sql.prepare("INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value");
  const deleteMetaStmt = sql.prepare("DELETE FROM meta WHERE key = ?");
  let bulk = false;
  let commits = 0;
  const observers: CommitObserver[] = [];
  const db: Db = {
    get commits() {
      return commits;
    },
    observeCommits(o) {
      observers.push(o);
      return () => {
        const i = observers.indexOf(o);
        if (i >= 0) observers.splice(i, 1);
      };
    },
    sql,
    path,
    txids,
    getMeta: (key) => getMetaStmt.get(key)?.value ?? null,
    setMeta: (key, value) => void setMetaStmt.run(key, value),
    deleteMeta: (key) => void deleteMetaStmt.run(key),
    begin() {
      sql.exec("BEGIN IMMEDIATE");
    },
    commit() {
      // The initial sync syncs nothing (bulk mode: neither does SQLite); afterwards the txids are
      // on disk before the rows that name them.
      const repairFrom = txids.beforeCommit(!bulk && !inMemory);
      if (repairFrom !== null) db.setMeta(META_TXIDS_REPAIR_FROM, String(repairFrom));
      for (const o of observers) o.committing();
      try {
        sql.exec("COMMIT");
        commits++;
        txids.afterCommit();
      } finally {
        for (const o of observers) o.committed(commits);
      }
      if (repairFrom !== null) db.deleteMeta(META_TXIDS_REPAIR_FROM);
    },
    rollback() {
      if (sql.inTransaction) sql.exec("ROLLBACK");
      txids.afterRollback();
    },
    write<T>(fn: () => T): T {
      db.begin();
      try {
        const out = fn();
        db.commit();
        return out;
      } catch (err) {
        db.rollback();
        throw err;
      }
    },
    async writeAsync<T>(fn: () => Promise<T>): Promise<T> {
      db.begin();
      try {
        const out = await fn();
        db.commit();
        return out;
      } catch (err) {
        db.rollback();
        throw err;
      }
    },
    setBulkMode(on) {
      bulk = on;
      setRollbackJournal(sql, inMemory, on);
      sql.exec(`PRAGMA synchronous = ${on ? "OFF" : "NORMAL"}`);
      sql.exec(`PRAGMA mmap_size = ${on ? 0 : READ_MMAP_BYTES}`);
      // The initial sync appends in key order and never reads a page back: a big cache only holds
      // dirty pages longer. Measured on the 2M-tx bench: 256 MiB → 1.46 GB peak RSS and 42 s,
      // 32 MiB → ~1 GB and 34 s (the index build sorts faster with less memory contention too).
      sql.exec(`PRAGMA cache_size = ${-1024 * (on ? BULK_CACHE_MIB : cacheMiB)}`);
    },
    createIndexes(afterInsert) {
      const seconds = new Map<string, number>();
      const before = sql.query<{ cache_size: number }, []>("PRAGMA cache_size").get()!.cache_size;
      const threadsBefore = sql.query<{ threads: number }, []>("PRAGMA threads").get()!.threads;
      sql.exec(`PRAGMA cache_size = ${-1024 * BUILD_CACHE_MIB}`);
      sql.exec(`PRAGMA threads = ${BUILD_SORTER_TASKS}`);
      try {
        for (const statement of sqlStatements(indexesSql)) {
          const t = performance.now();
          const { changes } = sql.exec(statement);
          // (The first INSERT or DELETE: a statement may start with its WITH clause.)
          const [, verb, table = "other"] = /\b(INSERT INTO|DELETE FROM)\s+(\w+)/.exec(statement) ?? [];
          if (verb === "INSERT INTO") afterInsert?.(table, changes);
          seconds.set(table, (seconds.get(table) ?? 0) + (performance.now() - t) / 1000);
        }
      } finally {
        sql.exec(`PRAGMA cache_size = ${before}`);
        sql.exec(`PRAGMA threads = ${threadsBefore}`);
      }
      return seconds;
    },
    releaseFreePages() {
      sql.exec("PRAGMA incremental_vacuum");
    },
    close() {
      getMetaStmt.finalize();
      setMetaStmt.finalize();
      deleteMetaStmt.finalize();
      sql.close();
      txids.close();
    },
  };
  return db;
}

/**
 * A rollback journal (on) or the WAL (off); a no-op in memory. Readers need WAL, and leaving it needs
 * the file's only connection ("database is locked" otherwise): with a query connection open (an
 * initial sync resumed after serving began) the WAL stays.
 */
function setRollbackJournal(sql: Database, inMemory: boolean, on: boolean): void {
  if (inMemory) return;
  try {
    sql.exec(`PRAGMA journal_mode = ${on ? "DELETE" : "WAL"}`);
  } catch (err) {
    if (!on || !/locked|busy/i.test((err as Error).message)) throw err;
  }
}

/** The statements of a SQL script (comments dropped; no statement of ours has a ";" inside a string). */
function sqlStatements(script: string): string[] {
  const code = script
    .split("\n")
    .filter((line) => !line.trimStart().startsWith("--"))
    .join("\n");
  return code
    .split(";")
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

/** A connection of the query side: sees only committed blocks (WAL snapshots), never the indexer's open batch. */
export interface ReadDb {
  readonly sql: Database;
  /** Its statements' read transactions (read-batch.ts); `batch.end()` before the writer in this thread commits. */
  readonly batch: ReadBatch;
  /** The txids of the last commit (the writer's open transaction is not seen here either). */
  readonly txids: TxidView;
  /** The writer's commits so far (Db.commits): the index changed when this did. */
  writerCommits(): number;
  close(): void;
}

/**
 * Opens a second connection to an index file for queries. The indexer keeps a write transaction
 * open across a batch of blocks (and awaits inside it): over its own connection a query would see
 * half-written blocks. This connection reads the last commit only. It may write the stats cache,
 * but never waits for the write lock (busy_timeout 0): a cache write that finds the indexer busy is skipped.
 */
export function openReadDb(db: Db, cacheMiB = 64): ReadDb {
  if (db.path === ":memory:") throw new StoreError("a read connection needs an index file, not :memory:");
  const sql = openQueryConnection(db.path, cacheMiB);
  const batch = new ReadBatch(sql);
  // Its read transaction ends before the writer (in this thread) commits: what runs after the
  // commit (the block boundaries read again, the mempool's confirmed txs) reads the new state.
  const unobserve = db.observeCommits({ committing: () => batch.end(), committed: () => {} });
  return {
    sql,
    batch,
    txids: db.txids.committed,
    writerCommits: () => db.commits,
    close: () => {
      unobserve();
      batch.end();
      sql.close();
    },
  };
}

/** A query connection's settings (openReadDb, openWorkerReadDb). */
function openQueryConnection(path: string, cacheMiB: number, opts: { create?: boolean } = {}): Database {
  const sql = new Database(path, { strict: true, readwrite: true, create: opts.create ?? true });
  sql.exec("PRAGMA busy_timeout = 0");
  sql.exec(`PRAGMA cache_size = ${-1024 * cacheMiB}`);
  sql.exec("PRAGMA temp_store = MEMORY");
  // Queries read rows at random places of a file much larger than the page cache (a long history
  // is thousands of txid lookups): through a memory map each is a page access instead of a read()
  // call, 2-3× faster measured on the 2M-tx bench index. SQLite caps the size at its compile-time limit.
  sql.exec(`PRAGMA mmap_size = ${READ_MMAP_BYTES}`);
  return sql;
}

export interface CommitObserver {
  committing(): void;
  committed(commits: number): void;
}

/**
 * openReadDb for a thread other than the writer's (a serve worker, serve/serve-worker.ts): the index at
 * `dir`, its txid file read as the writer appends it, the writer's commit count asked of `writerCommits`.
 */
export function openWorkerReadDb(dir: string, writerCommits: () => number, cacheMiB = 64): ReadDb {
  const sql = openQueryConnection(join(dir, DB_FILE), cacheMiB, { create: false });
  const txids = openTxidReader(join(dir, TXID_FILE));
  const batch = new ReadBatch(sql);
  return {
    sql,
    batch,
    txids,
    writerCommits,
    close: () => {
      batch.end();
      sql.close();
      txids.close();
    },
  };
}

/** An index written by another schema version or for another network is refused, never reused. */
function checkVersion(sql: Database, network: string, path: string): void {
  const hasMeta = sql.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'").get() !== null;
  if (!hasMeta) {
    const tables = sql.prepare("SELECT count(*) AS n FROM sqlite_master WHERE type = 'table'").get() as { n: number };
    if (tables.n > 0) throw new StoreError(`${path} is not an electrs-bun index. Please reindex (remove it, or choose another --db-dir).`);
    sql.exec(schemaSql);
    sql.prepare("INSERT INTO meta(key, value) VALUES ('schema_version', ?), ('network', ?)").run(String(SCHEMA_VERSION), network);
    return;
  }
  const row = (key: string) => (sql.prepare("SELECT value FROM meta WHERE key = ?").get(key) as { value: string } | null)?.value ?? null;
  const version = row("schema_version");
  if (version !== String(SCHEMA_VERSION)) {
    throw new StoreError(
      `Incompatible database found (schema version ${version ?? "none"}, this build uses ${SCHEMA_VERSION}) at ${path}. Please reindex (remove it, or choose another --db-dir).`,
    );
  }
  const net = row("network");
  if (net !== network) {
    throw new StoreError(`the index at ${path} is for network ${net}, not ${network}. Please reindex (or choose another --db-dir).`);
  }
}
