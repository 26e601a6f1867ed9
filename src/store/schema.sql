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
  weight      INTEGER NOT NULL
);
-- One row per block: small enough to keep indexed at all times.
CREATE UNIQUE INDEX IF NOT EXISTS blocks_by_hash ON blocks(hash);

-- Every transaction of the best chain, by its global number.
CREATE TABLE IF NOT EXISTS txs (
  txnum INTEGER PRIMARY KEY,
  txid  BLOB NOT NULL, -- internal byte order
  raw   BLOB NOT NULL  -- consensus serialization, with witness
);

-- Spendable outputs (and, with --index-unspendables, unspendable ones). id = txnum*2^20 + vout.
CREATE TABLE IF NOT EXISTS outputs (
  id        INTEGER PRIMARY KEY,
  script    BLOB NOT NULL, -- 11-byte script key (rows.ts)
  value_sat INTEGER NOT NULL
);

-- Spend edges. id = spending txnum*2^20 + vin; prev = the output id it spends.
CREATE TABLE IF NOT EXISTS spends (
  id     INTEGER PRIMARY KEY,
  prev   INTEGER NOT NULL,
  script BLOB NOT NULL -- script key of the spent output: spending history rows
);
