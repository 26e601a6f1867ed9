/**
 * The levels of the keyed tables (a leveled LSM tree over SQLite B-trees): every table keyed by a
 * hash-like key (a script or txid key) or by an old output id is kept as LEVEL_COUNT tables, from
 * level 0 (the live tail, `*_recent`: a new block's keys) through the middle levels (`*_l1` …) to
 * the base (the table's own name: the big sorted table the initial sync builds, indexes.sql).
 *
 * Why levels: a key lands at a random place of its B-tree, so inserting T rows into a table of P
 * pages writes about P·(1 − e^(−T/P)) pages. A block writing straight into the base dirtied one
 * page per row; a single live tail merged into the base did too once the base had many more pages
 * than the tail rows (20M-tx bench: 120–167 MiB per 4,000-tx block, amortized). With levels
 * LEVEL_FANOUT times apart, each merge moves a level into one at most LEVEL_FANOUT times bigger,
 * which then holds ~130 of the moved rows per page: the merge rewrites the target level's pages
 * about once, so each row is written about (LEVEL_FANOUT / 2 + 1) times per level it passes, not
 * one 4 KiB page per row.
 *
 * Invariants, per key (merges move whole key ranges from one level to the next, one transaction
 * each, so they hold between any two transactions; schema.sql states them for the two levels the
 * index had before):
 *  - a newer level (lower number) holds only newer rows (higher ids) than every older level;
 *  - an output's funding and unspent rows are always in the same level; a spend is in that level
 *    or a newer one (it came later);
 *  - when an output's spend reaches the level of its unspent row (a live spend of a level-0
 *    output, or a merge), the unspent row is deleted; until then the spend's spend_history row
 *    hides it from queries (an unspent row of level i counts only when no level newer than i has
 *    a spend_history row (script, prev) for it).
 */

/** The keyed tables, by their base name, with their columns, key column and the column with the row's id. */
export const LEVELED = {
  txid_index: { columns: "key BLOB NOT NULL, txnum INTEGER NOT NULL, PRIMARY KEY (key, txnum)", key: "key", id: "txnum", cols: "key, txnum" },
  funding: { columns: "script BLOB NOT NULL, id INTEGER NOT NULL, PRIMARY KEY (script, id)", key: "script", id: "id", cols: "script, id" },
  spends: { columns: "prev INTEGER PRIMARY KEY, id INTEGER NOT NULL", key: "prev", id: "id", cols: "prev, id" },
  spend_history: {
    columns: "script BLOB NOT NULL, id INTEGER NOT NULL, prev INTEGER NOT NULL, PRIMARY KEY (script, id)",
    key: "script",
    id: "id",
    cols: "script, id, prev",
  },
  unspent: {
    columns: "script BLOB NOT NULL, id INTEGER NOT NULL, value_sat INTEGER NOT NULL, PRIMARY KEY (script, id)",
    key: "script",
    id: "id",
    cols: "script, id, value_sat",
  },
} as const;
export type LeveledTable = keyof typeof LEVELED;
export const LEVELED_TABLES = Object.keys(LEVELED) as LeveledTable[];

/** Middle levels between the live tail (0) and the base: enough for mainnet (see levelMaxRows). */
export const MIDDLE_LEVELS = 4;
export const LEVEL_COUNT = MIDDLE_LEVELS + 2;
export const BASE_LEVEL = LEVEL_COUNT - 1;
/** Each middle level may hold this many times the rows of the level before it. */
export const LEVEL_FANOUT = 8;

/** Levels from the oldest (the base) to the newest (the live tail): the order of a query's arms. */
export const LEVELS_OLDEST_FIRST: readonly number[] = Array.from({ length: LEVEL_COUNT }, (_, i) => BASE_LEVEL - i);

/** The SQL table of `table` at `level` (0 = the live tail; BASE_LEVEL = the table itself). */
export function levelTable(table: LeveledTable, level: number): string {
  if (!Number.isInteger(level) || level < 0 || level > BASE_LEVEL) throw new RangeError(`no level ${level} (0 to ${BASE_LEVEL})`);
  if (level === BASE_LEVEL) return table;
  // Level 0's names predate the middle levels (schema.sql): kept, so that an index stays readable.
  if (level === 0) return table === "txid_index" ? "txid_recent" : `${table}_recent`;
  return `${table}_l${level}`;
}

/** Every table of a level below the base. */
export const levelTables = (level: number): string[] => LEVELED_TABLES.map((t) => levelTable(t, level));

/** CREATE TABLE statements of the levels below the base (the base tables are in schema.sql). */
export function levelDdl(): string {
  const out: string[] = [];
  for (let level = 0; level < BASE_LEVEL; level++)
    for (const t of LEVELED_TABLES) out.push(`CREATE TABLE IF NOT EXISTS ${levelTable(t, level)} (${LEVELED[t].columns}) WITHOUT ROWID;`);
  return out.join("\n");
}

/**
 * Rows that make level `level` (below the base) due a merge into the next one: `tailRows`
 * (--db-live-tail-rows) for the live tail, LEVEL_FANOUT times more per level after it. With the
 * default 400k: 3.2M, 25.6M, 205M and 1.6G rows; the last middle level goes into the base, which
 * at mainnet's size (~8.4G rows at 1.2G txs) is ~5× bigger, so that merge too rewrites each base
 * page it touches with many rows, not one. (`fanout`: another LEVEL_FANOUT, for tests that push a
 * small chain through every level.)
 */
export function levelMaxRows(level: number, tailRows: number, fanout = LEVEL_FANOUT): number {
  if (!Number.isInteger(level) || level < 0 || level >= BASE_LEVEL) throw new RangeError(`level ${level} is not merged (0 to ${BASE_LEVEL - 1})`);
  return tailRows * fanout ** level;
}

const TABLE_NAMES = new RegExp(`\\b(${LEVELED_TABLES.join("|")})\\b(?= )`, "g");

/**
 * The compound of `select` over every level, oldest first: each table name of LEVELED in it (a
 * whole word followed by a space) is replaced by its level's table. For one key a newer level
 * holds only newer rows, so the arms come in chain order, and a compound ORDER BY on the id
 * (`orderBy`: "ORDER BY 1", …) is a merge of ordered arms, with no sort.
 */
export function allLevels(select: string, orderBy = ""): string {
  const arms = levelSelects(select);
  if (arms[0] === arms[1]) throw new Error(`no leveled table in ${select}`);
  return `${arms.join(" UNION ALL ")} ${orderBy}`.trimEnd();
}

/**
 * `select` once per level, oldest first (the arms of allLevels). Read one after the other, each in
 * its key order, they give a key's rows in chain order (newest first when each is read descending
 * and the levels newest first) with no merge at all: on a 28k-row history ~30 % less than SQLite's
 * merge of the arms (store/read.ts historyTxnumsAsc).
 */
export function levelSelects(select: string): string[] {
  return LEVELS_OLDEST_FIRST.map((level) => select.replace(TABLE_NAMES, (t) => levelTable(t as LeveledTable, level)));
}
