-- The sorted tables of the end of the initial sync. The sync appends rows in id order with none of
-- these filled, then fills each in one sorted pass (SQLite sorts the keys and writes each B-tree left
-- to right); afterwards new keys go to their `*_recent` twins (schema.sql, store/recent.ts). Without
-- this, every insert would land at a random place of an ever-growing B-tree, and the sync would slow
-- down as the index outgrows the cache.

-- tx by txid (its first 8 bytes; rows.ts TXID_KEY_BYTES), from the keys the sync staged in txnum order.
INSERT INTO txid_index(key, txnum) SELECT key, txnum FROM txid_staging ORDER BY 1, 2;
DELETE FROM txid_staging;
-- Funding history of a script, in chain order.
INSERT INTO funding(script, id) SELECT script, id FROM outputs ORDER BY script, id;

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
