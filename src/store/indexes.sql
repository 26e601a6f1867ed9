-- The sorted tables of the end of the initial sync. The sync appends rows in id order with none of
-- these filled, then fills each in one sorted pass (SQLite sorts the keys and writes each B-tree left
-- to right); afterwards new keys go to their `*_recent` twins (schema.sql, store/recent.ts). Without
-- this, every insert would land at a random place of an ever-growing B-tree, and the sync would slow
-- down as the index outgrows the cache.

-- tx by txid (its first 8 bytes; rows.ts TXID_KEY_BYTES), from the keys the sync staged in txnum order.
INSERT INTO txid_index(key, txnum) SELECT key, txnum FROM txid_staging ORDER BY 1, 2;
DELETE FROM txid_staging;

-- The spends the UTXO table could not answer (schema.sql spends_deferred): sorted by txid key and
-- looked up in txid_index in that order, then sorted by output id and looked up in `outputs` in that
-- order, so that both lookups read their B-trees left to right. The sorted steps are MATERIALIZED:
-- otherwise SQLite flattens them into the joins and their order is lost (and a subquery's
-- `ORDER BY … LIMIT -1`, the other way to keep it, sorts through a temporary B-tree: 840k rows
-- took 1.1 s instead of 0.25). A key with more than one tx is left to store/utxo-spill.ts
-- resolveRest, which compares the full txids; so is a spend of a tx number at or after the
-- spender's, or of an output that is not indexed.
WITH d AS MATERIALIZED (SELECT id, substr(txid, 1, 8) AS key, vout FROM spends_deferred ORDER BY key),
  r AS MATERIALIZED (
    SELECT d.id AS id, t.txnum * 1048576 + d.vout AS prev
    FROM d CROSS JOIN txid_index AS t ON t.key = d.key
    WHERE t.txnum < (d.id >> 20)
      AND NOT EXISTS (SELECT 1 FROM txid_index AS c WHERE c.key = d.key AND c.txnum <> t.txnum)
    ORDER BY prev
  )
INSERT INTO spends_resolved(id, prev, script)
  SELECT r.id, r.prev, o.script FROM r CROSS JOIN outputs AS o ON o.id = r.prev;
-- Funding history of a script, in chain order.
INSERT INTO funding(script, id) SELECT script, id FROM outputs ORDER BY script, id;

-- The initial sync's spends (schema.sql spends_staging, in input id order), sorted into outspends
-- (by output id) and spending histories (by script, input id): each table written left to right.
INSERT INTO spends(prev, id)
  SELECT prev, id FROM (SELECT prev, id FROM spends_staging UNION ALL SELECT prev, id FROM spends_resolved) ORDER BY prev;
INSERT INTO spend_history(script, id, prev)
  SELECT script, id, prev FROM (SELECT script, id, prev FROM spends_staging UNION ALL SELECT script, id, prev FROM spends_resolved)
  ORDER BY script, id;
DELETE FROM spends_staging;
DELETE FROM spends_deferred;
DELETE FROM spends_resolved;

-- The UTXO set by script (schema.sql `unspent`), in one sorted pass: the outputs that no input
-- spends (`outputs` and `spends` both read in id order), not the initial sync's in-memory table,
-- which is gone by now (a restart in this pass has nothing to rebuild).
DELETE FROM unspent;
INSERT INTO unspent(script, id, value_sat)
  SELECT o.script, o.id, o.value_sat FROM outputs AS o WHERE NOT EXISTS (SELECT 1 FROM spends AS s WHERE s.prev = o.id)
  ORDER BY 1, 2;
