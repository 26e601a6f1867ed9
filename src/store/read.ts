/**
 * Read queries over the index, one function per query shape. Rows of the best chain only exist,
 * so no query needs a best-chain filter.
 */
import type { Database, SQLQueryBindings } from "bun:sqlite";
import { IO_SPAN, TXID_KEY_BYTES, indexOfId, txnumOfId, type BlockRow } from "./rows.ts";
import { BlockBounds } from "./block-bounds.ts";
import type { ReadBatch } from "./read-batch.ts";
import { BASE_LEVEL, LEVELS_OLDEST_FIRST, allLevels, levelSelects, type LeveledTable } from "./levels.ts";
import { TxBytes, type BlkRangeSource } from "./tx-bytes.ts";
import type { TxidView } from "./txid-file.ts";
import { LevelReads, NonEmptyLevels } from "./level-reads.ts";

export interface TxLocation {
  readonly txnum: number;
  readonly txid: Uint8Array;
  readonly raw: Uint8Array;
  readonly height: number;
  readonly blockHash: Uint8Array;
  /** Position in the block (0 = coinbase). */
  readonly pos: number;
}

/** One funding or spending row of a script's history, in chain order. */
export interface HistoryRow {
  readonly txnum: number;
  readonly height: number;
  readonly txid: Uint8Array;
  /** "funding": output `index` of txid pays the script; "spending": input `index` of txid spends `prevTxid:prevVout`. */
  readonly kind: "funding" | "spending";
  readonly index: number;
  readonly valueSat: number;
  readonly prevTxid?: Uint8Array;
  readonly prevVout?: number;
}

export interface Utxo {
  readonly txid: Uint8Array;
  readonly vout: number;
  readonly height: number;
  readonly valueSat: number;
}

export interface ScriptStats {
  readonly txCount: number;
  readonly fundedTxoCount: number;
  readonly fundedTxoSum: number;
  readonly spentTxoCount: number;
  readonly spentTxoSum: number;
}

/** A tx of a script's history and the script's net value change in it (MP's txs/summary `value`). */
export interface TxnumDelta {
  txnum: number;
  deltaSat: number;
}

export interface Outspend {
  readonly txid: Uint8Array;
  readonly vin: number;
  readonly height: number;
}

interface StatsSqlRow {
  script: Uint8Array;
  upto_txnum: number;
  tx_count: number;
  funded_count: number;
  funded_sum: number;
  spent_count: number;
  spent_sum: number;
}

/** The txnums filed under a txid key (?1), every level of txid_index. */
const TXNUMS_OF_KEY = allLevels("SELECT txnum FROM txid_index WHERE key = ?1");

/**
 * A script's unspent outputs are each level's unspent rows (levels.ts) less those a spend of a
 * level above the base hides: a spend is in its output's level or a newer one and never beside
 * the output's unspent row, so an unspent row with a spend_history row anywhere has it in a newer
 * level, never in the base. Read as one statement per level and filtered here (unspentAfter):
 * the compound statement that did it in SQL (NOT IN over the spend arms) cost 33 µs for a 10-tx
 * script on the 2M bench index, mostly building its NOT IN table, rows or not.
 */
const UNSPENT_ASC = "SELECT id FROM unspent WHERE script = ?1 AND id > ?2";
// The value is in the unspent row (schema v7): a scalar subquery into `outputs` per UTXO cost 0.55–0.75 µs of ~1.3.
const UNSPENT_VALUES_ASC = "SELECT id, value_sat FROM unspent WHERE script = ?1 AND id > ?2";
const HIDING_SPENDS = "SELECT prev FROM spend_history WHERE script = ?1";

/** electrs' MIN_HISTORY_ITEMS_TO_CACHE: stats of scripts with more rows than this are saved. */
const MIN_HISTORY_ITEMS_TO_CACHE = 100;
const NO_BOUND = Number.MAX_SAFE_INTEGER;

interface BlockSqlRow {
  height: number;
  hash: Uint8Array;
  header: Uint8Array;
  first_txnum: number;
  tx_count: number;
  size: number;
  weight: number;
  file: number | null;
  data_pos: number | null;
}

/** A txs row (where its bytes are), with its txid from the txid file. */
interface TxSqlRow {
  txnum: number;
  txid: Uint8Array;
  loc: number | null;
  raw: Uint8Array | null;
}

type TxLocRow = Omit<TxSqlRow, "txid">;

const toBlockRow = (r: BlockSqlRow): BlockRow => ({
  height: r.height,
  hash: r.hash,
  header: r.header,
  firstTxnum: r.first_txnum,
  txCount: r.tx_count,
  size: r.size,
  weight: r.weight,
  file: r.file === null || r.data_pos === null ? null : { index: r.file, dataPos: r.data_pos },
});

export interface StoreReaderOptions {
  /**
   * Keep the block boundaries in memory (block-bounds.ts): for a reader whose owner calls
   * `blocksChanged` after every commit and rollback of blocks (the query side, app.ts).
   */
  readonly blockBounds?: boolean;
  /**
   * Skip the levels that hold no rows (level-reads.ts): only for a connection that never writes
   * the levels (the query connection, db.ts openReadDb).
   */
  readonly skipEmptyLevels?: boolean;
  /**
   * With blockBounds, in a thread other than the writer's (a serve worker, serve/serve-worker.ts): the
   * lowest height changed since the last call, or -1 (serve/shared-state.ts BlockChangeWatcher),
   * asked instead of being told by `blocksChanged`.
   */
  readonly blockChanges?: () => number;
}

export class StoreReader {
  private readonly q;
  private readonly bytes: TxBytes;
  private readonly bounds: BlockBounds | null;
  private readonly txids: TxidView;
  private readonly levels: NonEmptyLevels | null;

  /** The query connection's read transactions (read-batch.ts); null on the writer's connection. */
  private readonly batch: ReadBatch | null;

  /**
   * Any connection: the indexer's own, or a ReadDb (db.ts) for queries that must see committed blocks only.
   * `blkFiles`: where the txs of blocks located in Core's blk files are read (none: such reads fail).
   */
  constructor(
    db: { readonly sql: Database; readonly txids: TxidView; writerCommits?: () => number; readonly batch?: ReadBatch },
    blkFiles: BlkRangeSource | null = null,
    opts: StoreReaderOptions = {},
  ) {
    this.bytes = new TxBytes(blkFiles);
    this.txids = db.txids;
    this.batch = db.batch ?? null;
    const batch = this.batch;
    // Every statement of a query connection runs in its batch's read transaction.
    const s = batch ? ({ prepare: (q: string) => batch.wrap(db.sql.prepare(q)) } as unknown as Database) : db.sql;
    this.levels = opts.skipEmptyLevels ? new NonEmptyLevels(s, db.writerCommits) : null;
    // Levels oldest first for an ascending read, newest first for a descending one; `levels`: which ones.
    const perLevel = <R, P extends SQLQueryBindings[] = [Uint8Array, number]>(table: LeveledTable, select: string, dir: 1 | -1, levels = (_level: number) => true) => {
      const byLevel = levelSelects(select)
        .map((q, i) => ({ level: LEVELS_OLDEST_FIRST[i]!, q }))
        .filter((l) => levels(l.level))
        .map(({ level, q }) => ({ level, stmt: s.prepare<R, P>(q) }));
      return new LevelReads(table, dir === 1 ? byLevel : byLevel.reverse(), this.levels);
    };
    this.q = {
      tip: s.prepare<BlockSqlRow, []>("SELECT * FROM blocks ORDER BY height DESC LIMIT 1"),
      blockAt: s.prepare<BlockSqlRow, [number]>("SELECT * FROM blocks WHERE height = ?"),
      blockByHash: s.prepare<BlockSqlRow, [Uint8Array]>("SELECT * FROM blocks WHERE hash = ?"),
      blockOfTxnum: s.prepare<BlockSqlRow, [number]>("SELECT * FROM blocks WHERE first_txnum <= ? ORDER BY first_txnum DESC LIMIT 1"),
      firstTxnumsFrom: s.prepare<{ height: number; first_txnum: number }, [number]>("SELECT height, first_txnum FROM blocks WHERE height >= ? ORDER BY height"),
      hashesFrom: s.prepare<{ hash: Uint8Array }, [number, number]>("SELECT hash FROM blocks WHERE height >= ? AND height < ? ORDER BY height"),
      allHashes: s.prepare<{ height: number; hash: Uint8Array }, []>("SELECT height, hash FROM blocks ORDER BY height"),
      txByNum: s.prepare<TxLocRow, [number]>("SELECT txnum, loc, raw FROM txs WHERE txnum = ?"),
      // One statement for a whole list (a JSON array): SQLite's loop costs ~1 µs a row, a call per row ~4 µs.
      heightsOf: s.prepare<{ txnum: number; height: number | null }, [string]>(
        "SELECT t.txnum AS txnum, (SELECT height FROM blocks WHERE first_txnum <= j.value ORDER BY first_txnum DESC LIMIT 1) AS height " +
          "FROM json_each(?) j JOIN txs t ON t.txnum = j.value ORDER BY j.key",
      ),
      // Every level of each keyed table (levels.ts: the big sorted tables and their newer levels).
      // For one key a newer level holds only newer rows, so SQLite's merge of the ordered arms (a
      // compound ORDER BY) costs no sort.
      // The txnums filed under a txid key, every level (no read of the txs rows: see txnumOfPrevout).
      txnumsOfKey: s.prepare<{ txnum: number }, [Uint8Array]>(TXNUMS_OF_KEY),
      output: s.prepare<{ script: Uint8Array; value_sat: number }, [number]>("SELECT script, value_sat FROM outputs WHERE id = ?"),
      // A row's value is read by a scalar subquery, not a JOIN of outputs: a join opens its cursor on
      // outputs at every run, rows or not, ~3.5 µs (2M-tx bench index; an empty level's arm 4.6 µs
      // with the join, 1.1 µs with the subquery), and a small script's stats read 12 arms.
      funding: s.prepare<{ id: number; value_sat: number }, [Uint8Array]>(
        allLevels("SELECT f.id AS id, (SELECT value_sat FROM outputs WHERE id = f.id) AS value_sat FROM funding f WHERE f.script = ?1", "ORDER BY 1"),
      ),
      // Spending history: one range read of spend_history (it holds prev), the value from outputs.
      spending: s.prepare<{ id: number; prev: number; value_sat: number }, [Uint8Array]>(
        allLevels(
          "SELECT h.id AS id, h.prev AS prev, coalesce((SELECT value_sat FROM outputs WHERE id = h.prev), 0) AS value_sat FROM spend_history h WHERE h.script = ?1",
          "ORDER BY 1",
        ),
      ),
      spendOf: s.prepare<{ id: number }, [number]>(allLevels("SELECT id FROM spends WHERE prev = ?1")),
      // A script's history rows in chain order, newest first or oldest first: one statement per
      // level (levels.ts levelSelects), read one after the other (inChainOrder).
      fundingDesc: perLevel<{ id: number }>("funding", "SELECT id FROM funding WHERE script = ?1 AND id < ?2 ORDER BY id DESC", -1),
      spendingDesc: perLevel<{ id: number }>("spend_history", "SELECT id FROM spend_history WHERE script = ?1 AND id < ?2 ORDER BY id DESC", -1),
      // The same newest-first reads with each row's value (MP's summary): the output's, or the spent output's.
      fundingValuesDesc: perLevel<{ id: number; value_sat: number }>(
        "funding",
        "SELECT f.id AS id, (SELECT value_sat FROM outputs WHERE id = f.id) AS value_sat FROM funding f WHERE f.script = ?1 AND f.id < ?2 ORDER BY f.id DESC",
        -1,
      ),
      spendingValuesDesc: perLevel<{ id: number; value_sat: number }>(
        "spend_history",
        "SELECT h.id AS id, (SELECT value_sat FROM outputs WHERE id = h.prev) AS value_sat FROM spend_history h WHERE h.script = ?1 AND h.id < ?2 ORDER BY h.id DESC",
        -1,
      ),
      // (Ascending: with no ORDER BY, which costs ~2 µs a run even where it sorts nothing. A range of
      // the primary key, the only plan for these, reads it in key order; the fixture tests pin the order.)
      fundingAsc: perLevel<{ id: number }>("funding", "SELECT id FROM funding WHERE script = ?1 AND id >= ?2", 1),
      spendingAsc: perLevel<{ id: number }>("spend_history", "SELECT id FROM spend_history WHERE script = ?1 AND id >= ?2", 1),
      fundedIn: s.prepare<{ n: number; sum: number }, [Uint8Array, number, number]>(
        "SELECT count(*) AS n, coalesce(sum((SELECT value_sat FROM outputs WHERE id = f.id)), 0) AS sum FROM (" +
          allLevels("SELECT id FROM funding WHERE script = ?1 AND id >= ?2 AND id < ?3") +
          ") f",
      ),
      spentIn: s.prepare<{ n: number; sum: number }, [Uint8Array, number, number]>(
        "SELECT count(*) AS n, coalesce(sum((SELECT value_sat FROM outputs WHERE id = h.prev)), 0) AS sum FROM (" +
          allLevels("SELECT prev FROM spend_history WHERE script = ?1 AND id >= ?2 AND id < ?3") +
          ") h",
      ),
      fundingFrom: s.prepare<{ id: number; value_sat: number }, [Uint8Array, number]>(
        allLevels("SELECT f.id AS id, (SELECT value_sat FROM outputs WHERE id = f.id) AS value_sat FROM funding f WHERE f.script = ?1 AND f.id >= ?2"),
      ),
      spendingFrom: s.prepare<{ id: number; value_sat: number }, [Uint8Array, number]>(
        allLevels("SELECT h.id AS id, (SELECT value_sat FROM outputs WHERE id = h.prev) AS value_sat FROM spend_history h WHERE h.script = ?1 AND h.id >= ?2"),
      ),
      cachedStats: s.prepare<StatsSqlRow, [Uint8Array]>("SELECT * FROM script_stats WHERE script = ?"),
      // Not in the read batch: a write runs as a transaction of its own (saveStats).
      saveStats: db.sql.prepare<never, [Uint8Array, number, number, number, number, number, number]>(
        `INSERT INTO script_stats(script, upto_txnum, tx_count, funded_count, funded_sum, spent_count, spent_sum) VALUES (?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT(script) DO UPDATE SET upto_txnum = excluded.upto_txnum, tx_count = excluded.tx_count, funded_count = excluded.funded_count,
         funded_sum = excluded.funded_sum, spent_count = excluded.spent_count, spent_sum = excluded.spent_sum`,
      ),
      // The UTXO set of a script: each level's rows that no spend of a newer level hides (levels.ts).
      unspentAsc: perLevel<{ id: number }>("unspent", UNSPENT_ASC, 1),
      unspentValuesAsc: perLevel<{ id: number; value_sat: number }>("unspent", UNSPENT_VALUES_ASC, 1),
      // (the base level holds no spend that hides an unspent row)
      hidingSpends: perLevel<{ prev: number }, [Uint8Array]>("spend_history", HIDING_SPENDS, 1, (level) => level !== BASE_LEVEL),
      txsInRange: s.prepare<TxLocRow, [number, number]>("SELECT txnum, loc, raw FROM txs WHERE txnum >= ? AND txnum < ? ORDER BY txnum"),
      // Outspends of one tx: a key range of spends.
      spendsOfRange: s.prepare<{ id: number; prev: number }, [number, number]>(allLevels("SELECT prev, id FROM spends WHERE prev >= ?1 AND prev < ?2")),
      addressesFrom: s.prepare<{ address: string }, [string, number]>("SELECT address FROM addresses WHERE address >= ? ORDER BY address LIMIT ?"),
      // max(rowid) is one B-tree descent; every /address query asks it (stats cache bound).
      nextTxnum: s.prepare<{ n: number }, []>("SELECT coalesce(max(txnum) + 1, 0) AS n FROM txs"),
    };
    this.bounds = opts.blockBounds
      ? new BlockBounds({
          firstTxnumsFrom: (from) => this.q.firstTxnumsFrom.all(from).map((r) => ({ height: r.height, firstTxnum: r.first_txnum })),
          blockAt: (height) => this.blockRowAt(height),
        }, undefined, opts.blockChanges ?? null)
      : null;
  }

  /**
   * Blocks from `fromHeight` on were committed, replaced or removed (a reader with blockBounds is
   * told so by its owner after each commit and rollback, before any query runs).
   */
  blocksChanged(fromHeight: number): void {
    this.bounds?.changed(fromHeight);
  }

  tip(): BlockRow | null {
    const r = this.q.tip.get();
    return r ? toBlockRow(r) : null;
  }

  blockAt(height: number): BlockRow | null {
    return this.bounds ? this.bounds.blockAt(height) : this.blockRowAt(height);
  }

  private blockRowAt(height: number): BlockRow | null {
    const r = this.q.blockAt.get(height);
    return r ? toBlockRow(r) : null;
  }

  blockByHash(hash: Uint8Array): BlockRow | null {
    const r = this.q.blockByHash.get(hash);
    return r ? toBlockRow(r) : null;
  }

  /** Block hashes of the best chain, index = height. */
  /** Block hashes of heights fromHeight … fromHeight + count - 1 (fewer past the tip). */
  blockHashes(fromHeight: number, count: number): Uint8Array[] {
    return this.q.hashesFrom.all(fromHeight, fromHeight + count).map((r) => r.hash);
  }

  chainHashes(): Uint8Array[] {
    const out: Uint8Array[] = [];
    for (const r of this.q.allHashes.iterate()) out[r.height] = r.hash;
    return out;
  }

  /** Number of txs indexed (= the next txnum). */
  txCount(): number {
    return this.q.nextTxnum.get()!.n;
  }

  /** Txids of a block in block order. */
  blockTxids(block: BlockRow): Uint8Array[] {
    return Array.from({ length: block.txCount }, (_, i) => this.txids.txidAt(block.firstTxnum + i));
  }

  /** The txnum of a confirmed txid (the latest one for BIP30 duplicates), or null. */
  txnumOf(txid: Uint8Array): number | null {
    // The highest txnum under the key with that txid (each compared in the txid file, in place).
    let newest = -1;
    for (const r of this.q.txnumsOfKey.all(txid.subarray(0, TXID_KEY_BYTES))) {
      if (r.txnum > newest && this.txids.txidEquals(r.txnum, txid)) newest = r.txnum;
    }
    return newest < 0 ? null : newest;
  }

  /**
   * The txnum of the tx whose output an input of a block being indexed spends. The node validated
   * the block, so that tx is in the index under its txid key: when the key has one tx, it is that
   * one, and its row is not read (a random page of the txs table saved per input, ~10 µs on the
   * 20M-tx bench index). Two or more (a 64-bit prefix collision, or BIP30's duplicate txids) are
   * told apart by their full txids (txnumOf). Not for a txid a client sends: it may not exist.
   */
  txnumOfPrevout(txid: Uint8Array): number | null {
    const rows = this.q.txnumsOfKey.all(txid.subarray(0, TXID_KEY_BYTES));
    if (rows.length === 1) return rows[0]!.txnum;
    return rows.length === 0 ? null : this.txnumOf(txid);
  }

  tx(txid: Uint8Array): TxLocation | null {
    // The txnums under the key, told apart by the txid file; the txs row read only for the one found.
    const txnum = this.txnumOf(txid);
    if (txnum === null) return null;
    const t = this.q.txByNum.get(txnum);
    return t ? this.located({ txnum, txid: txid.slice(), loc: t.loc, raw: t.raw }) : null;
  }

  txAt(txnum: number): TxLocation | null {
    const t = this.q.txByNum.get(txnum);
    return t ? this.located(this.withTxid(t)) : null;
  }

  private withTxid(r: TxLocRow): TxSqlRow {
    return { txnum: r.txnum, txid: this.txids.txidAt(r.txnum), loc: r.loc, raw: r.raw };
  }

  private located(t: TxSqlRow): TxLocation | null {
    const txnum = t.txnum;
    const b = this.blockContaining(txnum);
    if (!b) return null;
    const raw = this.bytes.of(t, b.file);
    return { txnum, txid: t.txid, raw, height: b.height, blockHash: b.hash, pos: txnum - b.firstTxnum };
  }

  /** The 11-byte script key and value of an indexed output, or null. */
  output(outputId: number): { scriptKey: Uint8Array; valueSat: number } | null {
    const r = this.q.output.get(outputId);
    return r ? { scriptKey: r.script, valueSat: r.value_sat } : null;
  }

  /** Funding and spending rows of a script (by its 11-byte key), in chain order. */
  history(scriptKey: Uint8Array): HistoryRow[] {
    const blocks = new BlockLocator(this);
    const rows: HistoryRow[] = [];
    for (const r of this.q.funding.iterate(scriptKey)) {
      const txnum = txnumOfId(r.id);
      rows.push({ txnum, height: blocks.heightOf(txnum), txid: this.txidAt(txnum), kind: "funding", index: indexOfId(r.id), valueSat: r.value_sat });
    }
    for (const r of this.q.spending.iterate(scriptKey)) {
      const txnum = txnumOfId(r.id);
      const prevTxnum = txnumOfId(r.prev);
      rows.push({
        txnum,
        height: blocks.heightOf(txnum),
        txid: this.txidAt(txnum),
        kind: "spending",
        index: indexOfId(r.id),
        valueSat: r.value_sat,
        prevTxid: this.txidAt(prevTxnum),
        prevVout: indexOfId(r.prev),
      });
    }
    rows.sort((a, b) => a.txnum - b.txnum || (a.kind === b.kind ? a.index - b.index : a.kind === "funding" ? -1 : 1));
    return rows;
  }

  /** Unspent outputs of a script, in chain order. */
  utxos(scriptKey: Uint8Array): Utxo[] {
    const rows: { id: number; value_sat: number }[] = [];
    for (const r of this.q.funding.iterate(scriptKey)) if (!this.q.spendOf.get(r.id)) rows.push(r);
    const located = this.txidsAndHeights(rows.map((r) => txnumOfId(r.id)));
    return rows.map((r, i) => ({ txid: located[i]!.txid, vout: indexOfId(r.id), height: located[i]!.height, valueSat: r.value_sat }));
  }

  /**
   * Esplora's chain_stats of a script: the cached sums (if any) plus the rows after them; saved
   * again when that read was long (electrs' `A` rows). Cost: the rows since the last save.
   */
  stats(scriptKey: Uint8Array): ScriptStats {
    const cached = this.q.cachedStats.get(scriptKey);
    const fromTxnum = cached?.upto_txnum ?? 0;
    const txnums = new Set<number>();
    let fundedTxoCount = 0;
    let fundedTxoSum = 0;
    let spentTxoCount = 0;
    let spentTxoSum = 0;
    for (const r of this.q.fundingFrom.iterate(scriptKey, fromTxnum * IO_SPAN)) {
      txnums.add(txnumOfId(r.id));
      fundedTxoCount++;
      fundedTxoSum += r.value_sat;
    }
    for (const r of this.q.spendingFrom.iterate(scriptKey, fromTxnum * IO_SPAN)) {
      txnums.add(txnumOfId(r.id));
      spentTxoCount++;
      spentTxoSum += r.value_sat;
    }
    const stats: ScriptStats = {
      txCount: (cached?.tx_count ?? 0) + txnums.size,
      fundedTxoCount: (cached?.funded_count ?? 0) + fundedTxoCount,
      fundedTxoSum: (cached?.funded_sum ?? 0) + fundedTxoSum,
      spentTxoCount: (cached?.spent_count ?? 0) + spentTxoCount,
      spentTxoSum: (cached?.spent_sum ?? 0) + spentTxoSum,
    };
    // The bound is read in the same synchronous run as the rows: no block can commit in between.
    if (fundedTxoCount + spentTxoCount > MIN_HISTORY_ITEMS_TO_CACHE) this.saveStats(scriptKey, this.txCount(), stats);
    return stats;
  }

  /** A cache write; skipped when the indexer holds the write lock (the next query saves it). */
  private saveStats(scriptKey: Uint8Array, uptoTxnum: number, st: ScriptStats): void {
    // A write must not upgrade the batch's read transaction (and hold the write lock until it ends).
    this.batch?.end();
    try {
      this.q.saveStats.run(scriptKey, uptoTxnum, st.txCount, st.fundedTxoCount, st.fundedTxoSum, st.spentTxoCount, st.spentTxoSum);
    } catch (err) {
      if (!isBusy(err)) throw err;
    }
  }

  /**
   * Distinct txnums of a script's confirmed history, newest first (block position order, descending),
   * strictly below `beforeTxnum` (null: from the tip). Reads about `limit` rows of each history
   * index, whatever the length of the history.
   */
  historyTxnumsDesc(scriptKey: Uint8Array, beforeTxnum: number | null, limit: number): number[] {
    const bound = beforeTxnum === null ? NO_BOUND : beforeTxnum * IO_SPAN;
    return mergeTxnums(inChainOrder(this.q.fundingDesc, scriptKey, bound), inChainOrder(this.q.spendingDesc, scriptKey, bound), limit, -1);
  }

  /**
   * historyTxnumsDesc with the script's net value change in each tx (funded minus spent
   * satoshis): one range read of each history table, every row of a listed tx counted.
   */
  historyDeltasDesc(scriptKey: Uint8Array, beforeTxnum: number | null, limit: number): TxnumDelta[] {
    const bound = beforeTxnum === null ? NO_BOUND : beforeTxnum * IO_SPAN;
    const deltas: number[] = [];
    const txnums = mergeTxnums(inChainOrder(this.q.fundingValuesDesc, scriptKey, bound), inChainOrder(this.q.spendingValuesDesc, scriptKey, bound), limit, -1, deltas);
    return txnums.map((txnum, i) => ({ txnum, deltaSat: deltas[i]! }));
  }

  /** Distinct txnums of a script's confirmed history, oldest first, strictly above `afterTxnum`. */
  historyTxnumsAsc(scriptKey: Uint8Array, afterTxnum: number | null, limit: number): number[] {
    const bound = afterTxnum === null ? 0 : (afterTxnum + 1) * IO_SPAN;
    return mergeTxnums(inChainOrder(this.q.fundingAsc, scriptKey, bound), inChainOrder(this.q.spendingAsc, scriptKey, bound), limit, 1);
  }

  /** Whether tx `txnum` funds or spends from the script (a paging cursor must be in the history). */
  inHistory(scriptKey: Uint8Array, txnum: number): boolean {
    const lo = txnum * IO_SPAN;
    const hi = lo + IO_SPAN;
    return this.q.fundedIn.get(scriptKey, lo, hi)!.n > 0 || this.q.spentIn.get(scriptKey, lo, hi)!.n > 0;
  }

  /** Confirmed unspent outputs of a script by output id (chain order), strictly after `afterOutputId`. */
  utxosPage(scriptKey: Uint8Array, afterOutputId: number | null, limit: number): Utxo[] {
    const rows = this.unspentAfter(this.q.unspentValuesAsc, scriptKey, afterOutputId ?? -1, limit);
    const located = this.txidsAndHeights(rows.map((r) => txnumOfId(r.id)));
    return rows.map((r, i) => ({ txid: located[i]!.txid, vout: indexOfId(r.id), height: located[i]!.height, valueSat: r.value_sat }));
  }

  /** The number of confirmed unspent outputs of a script, counting no further than `cap` (limit checks). */
  utxoCount(scriptKey: Uint8Array, cap: number): number {
    return this.unspentAfter(this.q.unspentAsc, scriptKey, -1, cap).length;
  }

  /**
   * The sum of a script's confirmed unspent outputs' values: its confirmed balance, from the rows
   * listunspent reads. One range read of `unspent` (value inline): ~2 µs for a small script on
   * the 2M-tx bench index, against ~8 µs for funded minus spent through `stats`, which looks up
   * each row's value in `outputs`. Its cost grows with the UTXOs (17,420: ~1 ms), not the history.
   */
  unspentSum(scriptKey: Uint8Array): number {
    return this.unspentSumUpTo(scriptKey, Number.POSITIVE_INFINITY)!;
  }

  /** unspentSum, or null as soon as more than `maxRows` rows were read (a script to sum a slice at a time). */
  unspentSumUpTo(scriptKey: Uint8Array, maxRows: number): number | null {
    const hidden = this.hiddenUnspent(scriptKey);
    let sum = 0;
    let rows = 0;
    for (const s of this.q.unspentValuesAsc.statements()) {
      for (const r of s.iterate(scriptKey, -1)) {
        if (++rows > maxRows) return null;
        if (!hidden?.has(r.id)) sum += r.value_sat;
      }
    }
    return sum;
  }

  /** A script's confirmed unspent outputs' ids and values after output id `afterId`, ascending, at most `limit` (a sliced unspentSum). */
  unspentValuesPage(scriptKey: Uint8Array, afterId: number, limit: number): { id: number; value_sat: number }[] {
    return this.unspentAfter(this.q.unspentValuesAsc, scriptKey, afterId, limit);
  }

  /** Outputs of a script in an older level of `unspent` that a newer level's spend hides (null: none). */
  private hiddenUnspent(scriptKey: Uint8Array): Set<number> | null {
    let hidden: Set<number> | null = null;
    for (const s of this.q.hidingSpends.statements()) for (const r of s.iterate(scriptKey)) (hidden ??= new Set()).add(r.prev);
    return hidden;
  }

  /** A script's unspent rows above `afterId`, ascending, at most `limit` (see UNSPENT_ASC). */
  private unspentAfter<R extends { id: number }>(levels: LevelReads<R, [Uint8Array, number]>, scriptKey: Uint8Array, afterId: number, limit: number): R[] {
    const out: R[] = [];
    if (limit <= 0) return out;
    const hidden = this.hiddenUnspent(scriptKey);
    for (const r of inChainOrder(levels, scriptKey, afterId)) {
      if (hidden?.has(r.id)) continue;
      out.push(r);
      if (out.length === limit) break;
    }
    return out;
  }

  heightOfTxnum(txnum: number): number {
    return new BlockLocator(this).heightOf(txnum);
  }

  /** Txs `start` … `start + count - 1` of a block (clipped to the block); located ones read with one read of their span. */
  blockTxs(block: BlockRow, start: number, count: number): { txnum: number; txid: Uint8Array; raw: Uint8Array }[] {
    const from = block.firstTxnum + Math.max(0, start);
    const to = block.firstTxnum + Math.min(block.txCount, start + count);
    if (to <= from) return [];
    const rows = this.q.txsInRange.all(from, to).map((r) => this.withTxid(r));
    const raws = this.bytes.ofMany(rows, block.file);
    return rows.map((r, i) => ({ txnum: r.txnum, txid: r.txid, raw: raws[i]! }));
  }

  /** For each output of tx `txnum`, the confirmed input spending it, or null (one range read). */
  outspendsOf(txnum: number, outputCount: number): (Outspend | null)[] {
    const out: (Outspend | null)[] = new Array(outputCount).fill(null);
    const blocks = new BlockLocator(this);
    const lo = txnum * IO_SPAN;
    for (const r of this.q.spendsOfRange.iterate(lo, lo + IO_SPAN)) {
      const vout = indexOfId(r.prev);
      if (vout >= outputCount) continue;
      const spender = txnumOfId(r.id);
      out[vout] = { txid: this.txidAt(spender), vin: indexOfId(r.id), height: blocks.heightOf(spender) };
    }
    return out;
  }

  /** --address-search: up to `limit` known addresses starting with `prefix`, in byte order. */
  addressesWithPrefix(prefix: string, limit: number): string[] {
    const out: string[] = [];
    for (const r of this.q.addressesFrom.iterate(prefix, limit)) {
      if (!r.address.startsWith(prefix)) break;
      out.push(r.address);
    }
    return out;
  }

  /** The confirmed input that spends output `vout` of `txid`, or null. */
  outspend(txid: Uint8Array, vout: number): Outspend | null {
    const txnum = this.txnumOf(txid);
    if (txnum === null) return null;
    const r = this.q.spendOf.get(txnum * IO_SPAN + vout);
    if (!r) return null;
    const spender = txnumOfId(r.id);
    return { txid: this.txidAt(spender), vin: indexOfId(r.id), height: new BlockLocator(this).heightOf(spender) };
  }

  /** The txid and block height of each tx number, in the order given. */
  txidsAndHeights(txnums: readonly number[]): { txid: Uint8Array; height: number }[] {
    return this.locateTxnums(txnums, (txnum, height) => ({ txid: this.txids.txidAt(txnum), height }));
  }

  private locateTxnums<T>(txnums: readonly number[], make: (txnum: number, height: number) => T): T[] {
    if (txnums.length === 0) return [];
    if (this.bounds) {
      // The txid file may hold records past the last tx (a reorg's or a rolled-back batch's): a tx
      // number past the tip block's last one is no tx.
      const tip = this.bounds.blockAt(this.bounds.height);
      const end = tip ? tip.firstTxnum + tip.txCount : 0;
      return txnums.map((txnum) => {
        const height = this.bounds!.heightOf(txnum);
        if (height < 0) throw new Error("index inconsistency: a tx number below the first block");
        if (txnum >= end) throw new Error(`index inconsistency: tx number ${txnum} not found`);
        return make(txnum, height);
      });
    }
    const rows = this.q.heightsOf.all(JSON.stringify(txnums));
    if (rows.length !== txnums.length) throw new Error(`index inconsistency: ${txnums.length - rows.length} of ${txnums.length} tx numbers not found`);
    return rows.map((r) => {
      if (r.height === null) throw new Error("index inconsistency: a tx number below the first block");
      return make(r.txnum, r.height);
    });
  }

  /** The txid of a tx number of the index (from the txid file: store/txid-file.ts). */
  txidAt(txnum: number): Uint8Array {
    return this.txids.txidAt(txnum);
  }

  /** txidAt as display hex, made from the file's record in place. */
  txidHexAt(txnum: number): string {
    return this.txids.txidHexAt(txnum);
  }

  /** txidHexAt's 64 digits written as ASCII into `out` at `at` (long histories written as bytes). */
  writeTxidHex(txnum: number, out: DataView, at: number): void {
    this.txids.writeTxidHex(txnum, out, at);
  }

  /** The block height of each tx number, in the order given (the checks of txidsAndHeights). */
  heightsOf(txnums: readonly number[]): number[] {
    return this.locateTxnums(txnums, (_txnum, height) => height);
  }

  /** @internal used by BlockLocator */
  blockContaining(txnum: number): BlockRow | null {
    if (this.bounds) return this.bounds.blockContaining(txnum);
    const r = this.q.blockOfTxnum.get(txnum);
    return r ? toBlockRow(r) : null;
  }
}

/** Maps txnums to heights, remembering the last block found (history rows come in clusters). */
class BlockLocator {
  private last: BlockRow | null = null;
  constructor(private readonly reader: StoreReader) {}
  heightOf(txnum: number): number {
    const l = this.last;
    if (l && txnum >= l.firstTxnum && txnum < l.firstTxnum + l.txCount) return l.height;
    this.last = this.reader.blockContaining(txnum);
    if (!this.last) throw new Error(`index inconsistency: no block holds tx number ${txnum}`);
    return this.last.height;
  }
}

/** The rows of per-level statements (perLevel), one statement after the other: a key's rows in chain order. */
function* inChainOrder<R>(reads: LevelReads<R, [Uint8Array, number]>, key: Uint8Array, bound: number): Generator<R> {
  for (const s of reads.statements()) yield* s.iterate(key, bound);
}

/**
 * The distinct txnums of a script's funding rows (`a`) and spending rows (`b`), both ordered by id
 * in direction `dir` (1 ascending, -1 descending), merged in that order: at most `limit`. With
 * `deltas`, it also gets each txnum's funded minus spent `value_sat` (every row of a listed txnum
 * is read). The iterators are closed on return.
 */
function mergeTxnums(a: Iterator<{ id: number; value_sat?: number }>, b: Iterator<{ id: number; value_sat?: number }>, limit: number, dir: 1 | -1, deltas?: number[]): number[] {
  const out: number[] = [];
  try {
    if (limit <= 0) return out;
    let ra = a.next();
    let rb = b.next();
    while (!ra.done || !rb.done) {
      const fromA = rb.done || (!ra.done && (ra.value.id - rb.value.id) * dir <= 0);
      const row = fromA ? ra.value! : rb.value!;
      const txnum = txnumOfId(row.id);
      if (out[out.length - 1] !== txnum) {
        if (out.length === limit) break; // a txnum past a full page
        out.push(txnum);
        deltas?.push(0);
      }
      if (deltas) deltas[deltas.length - 1]! += fromA ? row.value_sat! : -row.value_sat!;
      if (fromA) ra = a.next();
      else rb = b.next();
    }
  } finally {
    a.return?.();
    b.return?.();
  }
  return out;
}

function isBusy(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  return code === "SQLITE_BUSY" || code === "SQLITE_LOCKED" || /database is locked/.test(String((err as Error).message));
}
