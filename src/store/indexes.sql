-- Secondary indexes and sorted tables. The initial sync appends rows in key order with none of these
-- present, then builds them in one sorted pass each (SQLite sorts the keys and writes each B-tree left to right);
-- afterwards they are kept up to date row by row. Without this, every insert would land at a random
-- place of an ever-growing B-tree, and the sync would slow down as the index outgrows the cache.

-- tx by txid: 8-byte prefix, the full txid is compared in the row.
CREATE INDEX IF NOT EXISTS txs_by_txid ON txs(substr(txid, 1, 8));
-- Funding history of a script, in chain order (entries are (script, id)).
CREATE INDEX IF NOT EXISTS outputs_by_script ON outputs(script);

-- The initial sync's spends (schema.sql spends_staging, in input id order), sorted into outspends
-- (by output id) and spending histories (by script, input id): each table written left to right.
INSERT INTO spends(prev, id) SELECT prev, id FROM spends_staging ORDER BY prev;
INSERT INTO spend_history(script, id, prev) SELECT script, id, prev FROM spends_staging ORDER BY script, id;
DELETE FROM spends_staging;

-- The UTXO set by script (schema.sql `unspent`), in one sorted pass: the in-memory part of the
-- initial sync's UTXO table (appended to utxo_staging just before) and what it evicted to utxo_spill.
DELETE FROM unspent;
INSERT INTO unspent(script, id)
  SELECT script, id FROM (SELECT script, id FROM utxo_staging UNION ALL SELECT script, id FROM utxo_spill) ORDER BY script, id;
DELETE FROM utxo_staging;
DELETE FROM utxo_spill;
