-- electrs-bun index schema (version in store/rows.ts SCHEMA_VERSION). Only the best chain is kept:
-- a reorg deletes the rows of the blocks that left it (all of them at the tail, see rows.ts).

CREATE TABLE IF NOT EXISTS meta (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS blocks (
  height      INTEGER PRIMARY KEY,
  hash        BLOB NOT NULL,    -- internal byte order
  header      BLOB NOT NULL,    -- 80 bytes
  first_txnum INTEGER NOT NULL, -- txnum of its coinbase
  tx_count    INTEGER NOT NULL,
  size        INTEGER NOT NULL,
  weight      INTEGER NOT NULL,
  -- Where Bitcoin Core's blk files hold the block (both NULL when it came over RPC, or was not in
  -- the files): its txs' bytes are read there (txs.loc) instead of being stored in this index.
  file        INTEGER,          -- blk file number: 0 = blk00000.dat
  data_pos    INTEGER           -- byte offset in that file of the block's first (header) byte, after magic and size
);
-- One row per block: small enough to keep indexed at all times.
CREATE UNIQUE INDEX IF NOT EXISTS blocks_by_hash ON blocks(hash);
-- The block holding a txnum (every tx lookup): a range probe instead of a scan of the blocks.
CREATE UNIQUE INDEX IF NOT EXISTS blocks_by_first_txnum ON blocks(first_txnum);

-- Every transaction of the best chain, by its global number; its txid is in the txid file next to
-- this one (store/txid-file.ts, record txnum). Exactly one of loc and raw is set: loc when its block
-- has a blk file location (blocks.file), raw otherwise (--jsonrpc-import, a block fetched over RPC).
-- A NULL column takes no bytes, so a located tx costs a few bytes here.
CREATE TABLE IF NOT EXISTS txs (
  txnum INTEGER PRIMARY KEY,
  loc   INTEGER,       -- byte offset in the block (from its header's first byte) * 2^22 + byte length (rows.ts encodeTxLoc)
  raw   BLOB           -- consensus serialization, with witness
);

-- The initial sync's txid keys, in txnum order (appended); sorted into txid_index at its end
-- (indexes.sql), then emptied. Afterwards new keys go to txid_recent (levels.ts).
CREATE TABLE IF NOT EXISTS txid_staging (
  txnum INTEGER PRIMARY KEY,
  key   BLOB NOT NULL  -- rows.ts txidKey
);

-- Spendable outputs (and, with --index-unspendables, unspendable ones). id = txnum*2^20 + vout.
CREATE TABLE IF NOT EXISTS outputs (
  id        INTEGER PRIMARY KEY,
  script    BLOB NOT NULL, -- 11-byte script key (rows.ts)
  value_sat INTEGER NOT NULL
);

-- Spends: one row per input of the best chain (coinbases have none). An input id is
-- spending txnum*2^20 + vin; prev = the output id it spends. Two tables keyed for the two reads,
-- neither of which can be appended in key order by a sync (which goes in spending-id order):
-- during the initial sync the rows go to spends_staging (id order: appends), and its end
-- (indexes.sql) sorts them into spends and spend_history in one pass each. Afterwards rows are
-- inserted into both tables directly (write.ts) and spends_staging stays empty.

-- Outspends: the input that spends an output (at most one in the best chain). The rows of one tx's
-- outputs are one key range.
CREATE TABLE IF NOT EXISTS spends (
  prev INTEGER PRIMARY KEY, -- output id
  id   INTEGER NOT NULL     -- input id
) WITHOUT ROWID;

-- Spending history of a script, in chain order; covers prev, so that a history is one range read.
CREATE TABLE IF NOT EXISTS spend_history (
  script BLOB NOT NULL,    -- 11-byte script key of the spent output
  id     INTEGER NOT NULL, -- input id
  prev   INTEGER NOT NULL, -- output id
  PRIMARY KEY (script, id)
) WITHOUT ROWID;

-- The initial sync's spends, in input id order (appended); sorted into the two tables above at its end.
CREATE TABLE IF NOT EXISTS spends_staging (
  id     INTEGER PRIMARY KEY, -- input id
  prev   INTEGER NOT NULL,
  script BLOB NOT NULL
);

-- Unspent outputs by script: the confirmed UTXO set, so that a script's UTXOs (and a page of them
-- after a cursor) are a range read of this index, not a scan of its whole history. Built in one
-- sorted pass at the end of the initial sync (indexes.sql); afterwards with unspent_recent below.
CREATE TABLE IF NOT EXISTS unspent (
  script    BLOB NOT NULL,    -- 11-byte script key
  id        INTEGER NOT NULL, -- output id
  value_sat INTEGER NOT NULL, -- the output's value (as in `outputs`: a UTXO list reads no other table)
  PRIMARY KEY (script, id)
) WITHOUT ROWID;

-- Script histories and the txid lookup: two sorted tables built at the end of the initial sync
-- (indexes.sql), in place of SQLite indexes on txs and outputs, so that live blocks can leave txs
-- and outputs alone (appends) and put their keys in the small `*_recent` tables below instead.

-- tx by txid: the first 8 internal-order txid bytes (rows.ts TXID_KEY_BYTES); the full txid is
-- compared in the txid file, so a prefix collision costs one more record read, never a wrong answer.
CREATE TABLE IF NOT EXISTS txid_index (
  key   BLOB NOT NULL,
  txnum INTEGER NOT NULL,
  PRIMARY KEY (key, txnum)
) WITHOUT ROWID;

-- Funding history of a script, in chain order: its outputs' ids (value and script in `outputs`).
CREATE TABLE IF NOT EXISTS funding (
  script BLOB NOT NULL, -- 11-byte script key
  id     INTEGER NOT NULL, -- output id
  PRIMARY KEY (script, id)
) WITHOUT ROWID;

-- The newer levels of txid_index, funding, spends, spend_history and unspent (a leveled LSM tree:
-- store/levels.ts creates them with the same columns, and states their invariants). After the
-- initial sync a new block's keys go to level 0, the live tail (`txid_recent`, `funding_recent`,
-- `spends_recent`, `spend_history_recent`, `unspent_recent`), not to the big sorted tables above:
-- it stays small, so a block dirties a few hundred pages instead of one page of a big B-tree per
-- row. Each level is merged into the next one (`*_l1` … `*_l4`, then these tables) once it holds
-- LEVEL_FANOUT times the rows of the one before it (store/recent.ts). Every query reads every level (read.ts).

-- electrs' `A` rows: a script's chain stats up to (not including) tx number upto_txnum, saved for
-- scripts with a long history so that the next query only reads the rows after it. Rows that a
-- reorg makes stale (upto_txnum past the fork) are deleted with the blocks.
CREATE TABLE IF NOT EXISTS script_stats (
  script        BLOB PRIMARY KEY,
  upto_txnum    INTEGER NOT NULL,
  tx_count      INTEGER NOT NULL,
  funded_count  INTEGER NOT NULL,
  funded_sum    INTEGER NOT NULL,
  spent_count   INTEGER NOT NULL,
  spent_sum     INTEGER NOT NULL
) WITHOUT ROWID;

-- --address-search: every address seen in an output (electrs' `a` rows), for prefix lookups.
-- As in electrs, entries are never removed after a reorg.
CREATE TABLE IF NOT EXISTS addresses (
  address TEXT PRIMARY KEY
) WITHOUT ROWID;

-- The initial sync's spends that its in-memory UTXO table (index/utxo-table.ts) could not answer:
-- their outputs were evicted (every output below the id bound in meta `utxo_spill_bound` left the
-- table; they are all in `outputs`). Appended in input id order with the prevout; resolved at the
-- end of the load in sorted passes (indexes.sql, store/utxo-spill.ts), then emptied.
CREATE TABLE IF NOT EXISTS spends_deferred (
  id   INTEGER PRIMARY KEY, -- input id
  txid BLOB NOT NULL,       -- the prevout's txid, first 16 bytes, internal byte order
  vout INTEGER NOT NULL
);

-- The deferred spends resolved (spends_staging's columns, in output id order): sorted into spends
-- and spend_history together with spends_staging (indexes.sql). Empty outside that pass.
CREATE TABLE IF NOT EXISTS spends_resolved (
  id     INTEGER NOT NULL, -- input id
  prev   INTEGER NOT NULL, -- output id
  script BLOB NOT NULL     -- 11-byte script key of the output
);
