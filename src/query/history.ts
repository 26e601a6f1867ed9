/**
 * Script histories and unspent outputs, confirmed and mempool merged (electrs' Query::history,
 * utxo, MP's history_group and summary). Every page costs time in proportion to the page: the
 * confirmed part is read by cursor (StoreReader's *Desc/Page reads), never by scanning the history
 * up to the cursor as electrs does.
 */
import { parseTxExact } from "../bitcoin/block.ts";
import { bytesEqual, bytesToHex } from "../bitcoin/bytes.ts";
import type { MempoolUtxo } from "../mempool/types.ts";
import type { TxnumDelta } from "../store/read.ts";
import { outputId } from "../store/rows.ts";
import { QueryError } from "./errors.ts";
import { headerTime, MissingPrevoutError, type Resolver } from "./resolver.ts";
import { runSliced, runToEnd, stillInChain, withRestarts, type Pause } from "./sliced-history.ts";
import { UNCONFIRMED, type HistoryPageOptions, type OutpointCursor, type TxSummaryView, type TxView, type UtxoView } from "./types.ts";

/**
 * Distinct mempool txids touching any of the scripts, in per-script insertion order, scripts in
 * the order given (MP's history_group). A block's txs leave the mempool in the same synchronous
 * step that commits the block (Indexer.onCommit → dropConfirmed), so none is in both parts.
 */
export function mempoolTxids(r: Resolver, keys: readonly Uint8Array[]): Uint8Array[] {
  if (keys.length === 1) return r.mempool.historyTxids(keys[0]!);
  return distinctBytes(keys.flatMap((key) => r.mempool.historyTxids(key)));
}

/** The first page per script when several are read (then doubled each round). */
const FIRST_PAGE_ROWS = 25;

/**
 * Confirmed txnums of the scripts' histories, newest first, strictly below `beforeTxnum`: the
 * newest `limit` of their union, duplicates removed. MP's order: within a block by descending block
 * position (BS sorts by descending txid bytes).
 */
export function chainTxnumsDesc(r: Resolver, keys: readonly Uint8Array[], beforeTxnum: number | null, limit: number): number[] {
  if (limit <= 0) return [];
  if (keys.length === 1) return r.reader.historyTxnumsDesc(keys[0]!, beforeTxnum, limit);
  const read: PageRead = (key, before, page) => r.reader.historyTxnumsDesc(key, before, page).map((txnum) => ({ txnum, deltaSat: 0 }));
  return newestFirst(runToEnd(newestOfUnion(keys, beforeTxnum, limit, read)), limit);
}

/** A page of one script's history, newest first, strictly below `before` (null: from the tip). */
type PageRead = (key: Uint8Array, before: number | null, page: number) => TxnumDelta[];

/**
 * The union's newest `limit` txnums below `beforeTxnum`, each with the sum of its scripts'
 * deltas. Read in rounds of growing pages per script rather than `limit` rows of every script (k ×
 * limit rows: 1.5M for 300 big addresses): after each round, a script whose oldest row read is
 * not newer than the union's `limit`-th newest so far has nothing left that can be in the answer.
 * A script listed twice is read once. Yields after each `sliceRows` of work (rows read, a
 * statement counted as STATEMENT_ROWS), so that a caller may give the event loop a turn there.
 */
function* newestOfUnion(keys: readonly Uint8Array[], beforeTxnum: number | null, limit: number, read: PageRead, sliceRows = Infinity): Generator<void, Map<number, number>> {
  const deltaOf = new Map<number, number>();
  if (limit <= 0) return deltaOf;
  let open: { key: Uint8Array; before: number | null }[] = distinctBytes(keys).map((key) => ({ key, before: beforeTxnum }));
  let page = Math.min(limit, Math.max(FIRST_PAGE_ROWS, Math.ceil((2 * limit) / open.length)));
  let work = 0;
  while (open.length > 0) {
    const more: typeof open = [];
    for (const o of open) {
      const rows = read(o.key, o.before, page);
      for (const { txnum, deltaSat } of rows) deltaOf.set(txnum, (deltaOf.get(txnum) ?? 0) + deltaSat);
      if (rows.length === page) more.push({ key: o.key, before: rows[rows.length - 1]!.txnum });
      work += rows.length + STATEMENT_ROWS;
      if (work >= sliceRows) {
        work = 0;
        yield;
      }
    }
    const threshold = deltaOf.size >= limit ? newestFirst(deltaOf, limit)[limit - 1]! : -1;
    open = more.filter((o) => o.before! > threshold);
    page = Math.min(limit, page * 2);
  }
  return deltaOf;
}

/** What starting a statement costs, in rows read (~4 µs against ~0.5-1 µs a row: bun:sqlite). */
const STATEMENT_ROWS = 8;

function newestFirst(of: Map<number, unknown>, limit: number): number[] {
  return [...of.keys()].sort((a, b) => b - a).slice(0, limit);
}

/** The txnum of a confirmed cursor txid if it is in one of the scripts' histories, else null. */
function cursorTxnum(r: Resolver, keys: readonly Uint8Array[], txid: Uint8Array): number | null {
  const txnum = r.reader.txnumOf(txid);
  if (txnum === null) return null;
  return keys.some((k) => r.reader.inHistory(k, txnum)) ? txnum : null;
}

/** Confirmed txs for txnums (in the order given). */
export function chainTxViews(r: Resolver, txnums: readonly number[]): TxView[] {
  const out: TxView[] = [];
  for (const txnum of txnums) {
    const loc = r.reader.txAt(txnum);
    if (loc) out.push(r.chainTx(parseTxExact(loc.raw), loc.height));
  }
  return out;
}

/**
 * Mempool txs for txids; one that left the mempool since it was listed is skipped, and so is one
 * whose parent left it before it did (MP drops txs with missing prevouts from lists too).
 */
export function mempoolTxViews(r: Resolver, txids: readonly Uint8Array[]): TxView[] {
  const out: TxView[] = [];
  for (const txid of txids) {
    const entry = r.mempool.get(txid);
    if (!entry) continue;
    try {
      out.push(r.mempoolTx(entry));
    } catch (err) {
      if (!(err instanceof MissingPrevoutError)) throw err;
    }
  }
  return out;
}

/**
 * `/address/:a/txs` (BS) with MP's `max_txs` and `after_txid`: the mempool part (insertion order),
 * then the confirmed part newest first. A cursor in the mempool part continues there and then
 * from the chain tip; a confirmed cursor continues below it; a cursor in neither part of these
 * scripts' history is an error (MP's 422 `after_txid not found`).
 */
export function historyPage(r: Resolver, keys: readonly Uint8Array[], opts: HistoryPageOptions): TxView[] {
  const page = historyPageParts(r, keys, opts);
  return [...page.mempool, ...chainTxViews(r, page.chainTxnums)];
}

/** historyPage with its confirmed part as tx numbers (the caller renders them, or finds them rendered). */
export function historyPageParts(r: Resolver, keys: readonly Uint8Array[], opts: HistoryPageOptions): { mempool: TxView[]; chainTxnums: number[] } {
  const pool = mempoolTxids(r, keys);
  let poolPart: Uint8Array[];
  let before: number | null = null;
  if (opts.afterTxid === null) {
    poolPart = pool.slice(0, opts.mempoolLimit);
  } else {
    const after = opts.afterTxid;
    const i = pool.findIndex((t) => bytesEqual(t, after));
    if (i >= 0) {
      // MP fix: a cursor on the last mempool tx continues with the chain part (MP gives [] there).
      poolPart = pool.slice(i + 1, i + 1 + opts.mempoolLimit);
    } else {
      before = cursorTxnum(r, keys, after);
      if (before === null) throw new QueryError("cursor-not-found", "after_txid not found");
      poolPart = [];
    }
  }
  if (opts.totalLimit !== null) poolPart = poolPart.slice(0, opts.totalLimit);
  const chainRoom = opts.totalLimit === null ? opts.chainLimit : opts.totalLimit - poolPart.length;
  return { mempool: mempoolTxViews(r, poolPart), chainTxnums: chainTxnumsDesc(r, keys, before, chainRoom) };
}

/**
 * `/txs/chain[/:last_seen]` (BS): confirmed txs newest first, after `lastSeen`. A cursor that is
 * not in these scripts' confirmed history gives an empty page (electrs).
 */
export function chainHistory(r: Resolver, keys: readonly Uint8Array[], lastSeen: Uint8Array | null, limit: number): TxView[] {
  return chainTxViews(r, chainHistoryTxnums(r, keys, lastSeen, limit));
}

/** chainHistory's tx numbers, newest first. */
export function chainHistoryTxnums(r: Resolver, keys: readonly Uint8Array[], lastSeen: Uint8Array | null, limit: number): number[] {
  let before: number | null = null;
  if (lastSeen !== null) {
    before = cursorTxnum(r, keys, lastSeen);
    if (before === null) return [];
  }
  return chainTxnumsDesc(r, keys, before, limit);
}

/**
 * MP's txs/summary: confirmed txs newest first with the scripts' net value change. An unknown
 * cursor is MP's 422; a known one outside these histories gives an empty page (as txs/chain).
 */
export function summary(r: Resolver, keys: readonly Uint8Array[], lastSeen: Uint8Array | null, limit: number): TxSummaryView[] {
  return runToEnd(summarySteps(r, keys, lastSeen, limit, Infinity));
}

/**
 * summary over several event-loop turns (a 300-address body: ~5-10k history rows and 5,000
 * txids, 40-60 ms on this machine kind in one step). The read is bounded by the tip it started
 * at, so blocks committed meanwhile are not in it; one that replaced that tip (a reorg) starts it
 * over (sliced-history.ts withRestarts).
 */
export async function summarySliced(
  resolver: () => Resolver,
  keys: readonly Uint8Array[],
  lastSeen: Uint8Array | null,
  limit: number,
  sliceRows: number,
  pause: Pause,
): Promise<TxSummaryView[]> {
  return withRestarts(
    async () => {
      const r = resolver();
      const start = r.reader.tip();
      const out = await runSliced(summarySteps(r, keys, lastSeen, limit, sliceRows), pause);
      return stillInChain(r.reader, start) ? out : null;
    },
    () => summary(resolver(), keys, lastSeen, limit),
  );
}

function* summarySteps(r: Resolver, keys: readonly Uint8Array[], lastSeen: Uint8Array | null, limit: number, sliceRows: number): Generator<void, TxSummaryView[]> {
  // Without a cursor, bounded by the txs indexed now: a block committed between slices is not read.
  let before = r.reader.txCount();
  if (lastSeen !== null) {
    const txnum = r.reader.txnumOf(lastSeen);
    if (txnum === null) throw new QueryError("cursor-not-found", "after_txid not found");
    if (!keys.some((k) => r.reader.inHistory(k, txnum))) return [];
    before = txnum;
  }
  // Each history row is read once with its value (no lookup per tx per script of the body), and
  // the txids and heights in one statement per slice.
  const deltaOf = yield* newestOfUnion(keys, before, limit, (key, b, page) => r.reader.historyDeltasDesc(key, b, page), sliceRows);
  const txnums = newestFirst(deltaOf, limit);
  const out: TxSummaryView[] = [];
  for (let i = 0; i < txnums.length; i += sliceRows) {
    if (i > 0) yield;
    const part = txnums.slice(i, i + sliceRows);
    const located = r.reader.txidsAndHeights(part);
    part.forEach((txnum, j) => {
      const { txid, height } = located[j]!;
      const block = r.blockAt(height)!;
      out.push({ txid, height, valueSat: deltaOf.get(txnum)!, time: headerTime(block.header), position: txnum - block.firstTxnum });
    });
  }
  return out;
}

/** Byte strings (script keys, txids) without repeats, first occurrence kept: a script listed twice in a body counts once. */
export function distinctBytes(items: readonly Uint8Array[]): Uint8Array[] {
  const seen = new Set<string>();
  const out: Uint8Array[] = [];
  for (const item of items) {
    const k = bytesToHex(item);
    if (seen.has(k)) continue;
    seen.add(k);
    out.push(item);
  }
  return out;
}

function mempoolUtxoViews(utxos: readonly MempoolUtxo[]): UtxoView[] {
  return utxos.map((u) => ({ txid: u.txid, vout: u.vout, status: UNCONFIRMED, valueSat: u.valueSat }));
}

/**
 * Confirmed unspent outputs in chain order from `afterId`, minus those a mempool tx spends, at
 * most `limit`: reads pages until it has enough, so a few mempool spends cost a second read at most.
 */
function chainUtxos(r: Resolver, key: Uint8Array, afterId: number | null, limit: number): UtxoView[] {
  return chainUtxosCounted(r, key, afterId, limit).views;
}

/**
 * chainUtxos, with the confirmed rows read (mempool-spent ones included: electrs' cap counts the
 * confirmed set) and whether they ran out (`exhausted`: no confirmed output after the last one).
 */
function chainUtxosCounted(r: Resolver, key: Uint8Array, afterId: number | null, limit: number): { views: UtxoView[]; rows: number; exhausted: boolean } {
  const out: UtxoView[] = [];
  let cursor = afterId;
  let rows = 0;
  let exhausted = false;
  while (out.length < limit) {
    const need = limit - out.length;
    const page = r.reader.utxosPage(key, cursor, need);
    rows += page.length;
    for (const u of page) {
      if (r.mempool.spendOf(u.txid, u.vout)) continue;
      out.push({ txid: u.txid, vout: u.vout, status: r.statusAt(u.height), valueSat: u.valueSat });
    }
    if (page.length < need) {
      exhausted = true;
      break;
    }
    const last = page[page.length - 1]!;
    cursor = outputId(r.reader.txnumOf(last.txid)!, last.vout);
  }
  return { views: out, rows, exhausted };
}

/**
 * electrs' utxo: every confirmed unspent output not spent in the mempool, then the mempool's.
 * BS-new: refused when the confirmed set alone is larger than `cap` (`Too many unspent outputs`).
 */
export function allUtxos(r: Resolver, key: Uint8Array, cap: number): UtxoView[] {
  if (r.reader.utxoCount(key, cap + 1) > cap) throw new QueryError("too-large", "Too many unspent outputs");
  return [...chainUtxos(r, key, null, cap), ...mempoolUtxoViews(r.mempool.utxos(key))];
}

/**
 * allUtxos over several event-loop turns (query/sliced-history.ts): the confirmed part a page of
 * `sliceRows` at a time, then the mempool part in the same step as the last page. A block
 * committed between pages (it may spend outputs already listed) starts the read over
 * (sliced-history.ts withRestarts).
 */
export async function allUtxosSliced(resolver: () => Resolver, key: Uint8Array, cap: number, sliceRows: number, pause: Pause): Promise<UtxoView[]> {
  return withRestarts(
    async () => {
      // A fresh resolver each time: its block cache must not outlive a reorg.
      const r = resolver();
      const tipHex = () => {
        const t = r.reader.tip();
        return t ? bytesToHex(t.hash) : null;
      };
      const before = tipHex();
      const out: UtxoView[] = [];
      let cursor: number | null = null;
      // The cap is checked on the rows read (no count beforehand: a set within one page is read
      // once); a set over it is refused after reading at most cap + sliceRows rows.
      let rows = 0;
      for (;;) {
        const page = chainUtxosCounted(r, key, cursor, sliceRows);
        rows += page.rows;
        if (rows > cap) throw new QueryError("too-large", "Too many unspent outputs");
        out.push(...page.views);
        if (page.exhausted) break;
        const last = page.views[page.views.length - 1]!;
        cursor = outputId(r.reader.txnumOf(last.txid)!, last.vout);
        await pause();
      }
      return tipHex() === before ? [...out, ...mempoolUtxoViews(r.mempool.utxos(key))] : null;
    },
    () => allUtxos(resolver(), key, cap),
  );
}

/**
 * A page of the same sequence (confirmed in chain order, then mempool), after the outpoint
 * `after`: a confirmed cursor continues from its output id, a mempool cursor within the mempool
 * part. A cursor that is neither is refused (it cannot be placed in the sequence).
 */
export function utxoPage(r: Resolver, key: Uint8Array, after: OutpointCursor | null, limit: number): UtxoView[] {
  let afterId: number | null = null;
  let pool = r.mempool.utxos(key);
  if (after !== null) {
    const txnum = r.reader.txnumOf(after.txid);
    if (txnum !== null) {
      afterId = outputId(txnum, after.vout);
    } else {
      const i = pool.findIndex((u) => u.vout === after.vout && bytesEqual(u.txid, after.txid));
      if (i < 0) throw new QueryError("cursor-not-found", "after not found");
      return mempoolUtxoViews(pool.slice(i + 1, i + 1 + limit));
    }
  }
  const chain = chainUtxos(r, key, afterId, limit);
  pool = pool.slice(0, limit - chain.length);
  return [...chain, ...mempoolUtxoViews(pool)];
}
