/**
 * The initial sync's UTXO spill: what becomes of the outputs the in-memory table
 * (index/utxo-table.ts) evicts, and of the spends it then cannot answer (schema.sql
 * spends_deferred, spends_resolved).
 *
 * An eviction writes nothing: every output is in `outputs` already (keyed by id), and the table
 * evicts the oldest first, so "evicted" is "id below the bound" (in meta). A spend the table misses
 * is appended to spends_deferred with its prevout (input id order: an append), and they are all
 * resolved at the end of the load in sorted passes (indexes.sql): sorted by txid key and joined
 * with txid_index in key order, then sorted by output id and joined with `outputs` in id order.
 * Until schema v6 each miss was a point lookup and delete in an outpoint-keyed copy of the evicted
 * outputs, in random order: 16–20 µs each on the 20M-tx chain, and every eviction merged half the
 * table into that copy's B-tree; on mainnet, where more than a billion spends miss, that was the
 * bulk of the sync.
 *
 * Every call runs inside the indexer's open transaction, so the bound and the deferred spends move
 * with the blocks: a crash or a rollback leaves them as they were at the last commit.
 */
import type { Statement } from "bun:sqlite";
import { bytesEqual, bytesToHex } from "../bitcoin/bytes.ts";
import type { Db } from "./db.ts";
import { rowBuffer } from "./row-buffer.ts";
import { IO_SPAN, TXID_KEY_BYTES, UTXO_TXID_PREFIX_BYTES, outputId, txnumOfId } from "./rows.ts";

/** meta key: every output with an id below this was evicted from the table (or spent before). */
export const META_SPILL_BOUND = "utxo_spill_bound";
/**
 * Meta key: the rows of spends_deferred, kept with them (written in the transaction that writes
 * them): a count(*) of that table reads all of it, ~45 GB at mainnet's size. Absent: the table
 * is counted once, at open (an index from before this key, or one that never deferred a spend).
 */
export const META_DEFERRED_COUNT = "spends_deferred_count";

/** A deferred spend whose output is not in the index (thrown from the end of the load's sorted pass). */
export class DeferredSpendMissing extends Error {
  constructor(
    /** The spending input's id (rows.ts inputId). */
    readonly inputId: number,
    /** The first UTXO_TXID_PREFIX_BYTES bytes of the prevout's txid. */
    readonly prevTxidPrefix: Uint8Array,
    readonly prevVout: number,
  ) {
    super(`no output for the deferred spend of input ${inputId}`);
  }
}

export interface UtxoSpill {
  /** Whether the table evicted anything (as far as this process knows): a miss before that is a missing prevout. */
  readonly evictedAny: boolean;
  /** Every output with an id below `bound` has left the table (evicted or spent). */
  raiseBound(bound: number): void;
  /** Appends a spend the table missed (copies the view); buffered until flush. */
  defer(inputId: number, prevTxid: Uint8Array, prevVout: number): void;
  /** Writes the deferred spends still buffered (before a commit). */
  flush(): void;
  /** Drops the buffered ones (a rollback). */
  discard(): void;
  /** The blocks from `firstTxnum` on leave (a reorg during the initial sync): their deferred spends go, the bound comes down to them. */
  truncateFrom(firstTxnum: number): void;
  /** Every output with an id ≥ the bound that no input with an id ≥ the bound spends: the table's content. */
  unspentSinceBound(): Generator<{ id: number; scriptKey: Uint8Array; txid: Uint8Array }>;
  readonly bound: number;
  /** The deferred spends written so far (kept in meta: META_DEFERRED_COUNT). */
  readonly deferredCount: number;
  /**
   * After indexes.sql resolved `resolvedBySql` of the `deferred` spends (those whose txid key has
   * one tx): resolves the rest one by one against the full txids (a key shared by two txs, or the
   * two coinbases of BIP 30's duplicate txids), and throws DeferredSpendMissing for the first
   * (lowest input id) whose output is nowhere. Returns how many were resolved here.
   */
  resolveRest(deferred: number, resolvedBySql: number): number;
  /**
   * After indexes.sql built `unspent` (every output no spend names): removes the outputs of the
   * older of two coinbases with the same txid (BIP 30's duplicates, two on mainnet, possible only
   * before BIP 34), which the newer one overwrote in the UTXO set, as in Bitcoin Core. Only
   * coinbases can repeat a txid (any other tx spends outputs that exist once), so this reads one
   * txid per block. Returns how many txs' outputs were removed.
   */
  dropOverwrittenCoinbases(): number;
  finalize(): void;
}

export function openUtxoSpill(db: Db): UtxoSpill {
  const sql = db.sql;
  const stmts: Statement[] = [];
  const keep = <S extends Statement>(s: S): S => (stmts.push(s), s);
  const deferred = rowBuffer(sql, "spends_deferred(id, txid, vout)", 3, stmts);
  const delDeferredFrom = keep(sql.prepare("DELETE FROM spends_deferred WHERE id >= ?"));
  const sinceBound = keep(
    sql.prepare<{ id: number; script: Uint8Array }, [number, number]>(
      "SELECT o.id AS id, o.script AS script FROM outputs o WHERE o.id >= ?1 AND o.id NOT IN (SELECT prev FROM spends_staging WHERE id >= ?2) ORDER BY o.id",
    ),
  );
  const count = keep(sql.prepare<{ n: number }, []>("SELECT count(*) AS n FROM spends_deferred"));
  const unresolved = keep(
    sql.prepare<{ id: number; txid: Uint8Array; vout: number }, []>(
      "SELECT id, txid, vout FROM spends_deferred d WHERE NOT EXISTS (SELECT 1 FROM spends_resolved r WHERE r.id = d.id) ORDER BY id",
    ),
  );
  const candidates = keep(sql.prepare<{ txnum: number }, [Uint8Array, number]>("SELECT txnum FROM txid_index WHERE key = ? AND txnum < ? ORDER BY txnum DESC"));
  const outputScript = keep(sql.prepare<{ script: Uint8Array }, [number]>("SELECT script FROM outputs WHERE id = ?"));
  const insResolved = keep(sql.prepare("INSERT INTO spends_resolved(id, prev, script) VALUES (?, ?, ?)"));
  const coinbases = keep(sql.prepare<{ first_txnum: number }, []>("SELECT first_txnum FROM blocks ORDER BY height"));
  const delUnspentOf = keep(sql.prepare("DELETE FROM unspent WHERE (script, id) IN (SELECT script, id FROM outputs WHERE id >= ?1 AND id < ?2)"));
  // Read from meta: a rolled-back transaction takes an update of the bound with it.
  const readBound = () => Number(db.getMeta(META_SPILL_BOUND) ?? "0");
  // The same for the count; `buffered`: deferred since the last flush (some may be written already: rowBuffer).
  // Without the key, nothing was written since this open (a write sets it), so the table holds what it held then.
  const countAtOpen = db.getMeta(META_DEFERRED_COUNT) === null ? count.get()!.n : 0;
  const readCount = () => {
    const kept = db.getMeta(META_DEFERRED_COUNT);
    return kept === null ? countAtOpen : Number(kept);
  };
  let buffered = 0;
  const flushCounted = () => {
    deferred.flush();
    if (buffered === 0) return;
    db.setMeta(META_DEFERRED_COUNT, String(readCount() + buffered));
    buffered = 0;
  };
  let evictedAny = readBound() > 0;

  /** The output a deferred spend spends, by its full txid prefix: the latest tx before the spender with that txid. */
  const resolveOne = (inputId: number, txidPrefix: Uint8Array, vout: number): { id: number; script: Uint8Array } | null => {
    for (const { txnum } of candidates.iterate(txidPrefix.subarray(0, TXID_KEY_BYTES), txnumOfId(inputId))) {
      if (!bytesEqual(db.txids.txidAt(txnum).subarray(0, UTXO_TXID_PREFIX_BYTES), txidPrefix)) continue;
      const id = outputId(txnum, vout);
      const out = outputScript.get(id);
      return out ? { id, script: out.script } : null;
    }
    return null;
  };

  return {
    get evictedAny() {
      return evictedAny;
    },
    raiseBound(bound) {
      if (bound <= readBound()) return;
      db.setMeta(META_SPILL_BOUND, String(bound));
      evictedAny = true;
    },
    defer(inputId, prevTxid, prevVout) {
      deferred.add(inputId, prevTxid.slice(0, UTXO_TXID_PREFIX_BYTES), prevVout);
      buffered++;
    },
    flush: flushCounted,
    discard() {
      deferred.discard();
      buffered = 0;
    },
    truncateFrom(firstTxnum) {
      flushCounted();
      const { changes } = delDeferredFrom.run(firstTxnum * IO_SPAN);
      if (changes > 0) db.setMeta(META_DEFERRED_COUNT, String(readCount() - changes));
      if (readBound() > firstTxnum * IO_SPAN) db.setMeta(META_SPILL_BOUND, String(firstTxnum * IO_SPAN));
      evictedAny = readBound() > 0;
    },
    *unspentSinceBound() {
      const bound = readBound();
      evictedAny = bound > 0;
      for (const r of sinceBound.iterate(bound, bound)) yield { id: r.id, scriptKey: r.script, txid: db.txids.txidAt(txnumOfId(r.id)) };
    },
    get bound() {
      return readBound();
    },
    get deferredCount() {
      return readCount() + buffered;
    },
    resolveRest(deferred, resolvedBySql) {
      if (resolvedBySql === deferred) return 0;
      // Rare (a shared txid key, or a spend of nothing): an index to find the unresolved ones, dropped again.
      sql.exec("CREATE INDEX spends_resolved_by_id ON spends_resolved(id)");
      const found: [number, number, Uint8Array][] = [];
      let missing: DeferredSpendMissing | null = null;
      try {
        for (const d of unresolved.iterate()) {
          const out = resolveOne(d.id, d.txid, d.vout);
          if (!out) {
            missing = new DeferredSpendMissing(d.id, d.txid, d.vout);
            break;
          }
          found.push([d.id, out.id, out.script]);
        }
      } finally {
        sql.exec("DROP INDEX spends_resolved_by_id");
      }
      if (missing) throw missing;
      for (const [id, prev, script] of found) insResolved.run(id, prev, script);
      return found.length;
    },
    dropOverwrittenCoinbases() {
      // 8 bytes a block (mainnet: ~7 MB), not a map of every coinbase txid: the first 8 bytes of
      // each, sorted, give the few keys seen twice; only those are compared in full.
      const txnums: number[] = [];
      for (const r of coinbases.iterate()) txnums.push(r.first_txnum);
      // (Read, not mapped: one txid per block would map nearly the whole txid file, txid-file.ts txidAtUnmapped.)
      const keyOf = (txnum: number) => {
        const t = db.txids.txidAtUnmapped(txnum);
        return new DataView(t.buffer, t.byteOffset, 8).getBigUint64(0);
      };
      const keys = BigUint64Array.from(txnums, keyOf);
      const sorted = keys.slice().sort();
      const repeated = new Set<bigint>();
      for (let i = 1; i < sorted.length; i++) if (sorted[i] === sorted[i - 1]) repeated.add(sorted[i]!);
      if (repeated.size === 0) return 0;
      const latest = new Map<string, number>(); // full txid hex → the latest coinbase with it so far
      let dropped = 0;
      for (const [i, txnum] of txnums.entries()) {
        if (!repeated.has(keys[i]!)) continue;
        const hex = bytesToHex(db.txids.txidAt(txnum));
        const older = latest.get(hex);
        if (older !== undefined) {
          delUnspentOf.run(older * IO_SPAN, (older + 1) * IO_SPAN);
          dropped++;
        }
        latest.set(hex, txnum);
      }
      return dropped;
    },
    finalize() {
      for (const s of stmts) s.finalize();
    },
  };
}
