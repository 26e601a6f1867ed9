/**
 * Big Electrum histories without stalling the server: the same answers as electrum-history.ts
 * (history, status, JSON), computed in slices of SLICE_ROWS rows with a yield to the event loop
 * between slices, so that one client pulling a 100k-entry history does not hold every other
 * client, REST and /metrics for the ~0.3 s it takes. A history that fits in one slice is
 * answered in one synchronous step, as before.
 *
 * Consistency across slices: new blocks only append txnums, so an ascending read that goes on
 * to the end sees them; the mempool part is read in the same synchronous step as the last chain
 * slice (a tx leaves the mempool in the step that commits its block, so it is counted once). A
 * reorg between slices can remove txnums already read: the block the read started at is checked
 * at the end, and the read starts over if it left the best chain (after MAX_RESTARTS, once in a
 * single step).
 */
import { bytesEqual } from "../bitcoin/bytes.ts";
import type { MempoolView } from "../mempool/types.ts";
import type { StoreReader } from "../store/read.ts";
import type { BlockRow } from "../store/rows.ts";
import { balanceWithMempool, electrumBalance, electrumHistoryTxnums, mempoolEntries, MIN_HISTORY_ENTRY_BYTES, responseTooLarge, tooLarge, type ElectrumBalance } from "./electrum-history.ts";
import { writeHistoryEntries, type EntryTemplate } from "./history-bytes.ts";
import { hashStatusEntries, type ElectrumHistoryEntry } from "./status.ts";

/**
 * Rows per slice: ~1-2 ms of work on this machine kind (2 vCPU EPYC) for txnums, txids, hashing or
 * JSON. (4,000 gave the other clients a p50 of 6-8 ms and a p99 of 44-51 ms while one pulled a
 * 150k-entry history; 1,000: p50 ~2, p99 ~18 ms: bench/fairness-bench.ts.)
 */
export const SLICE_ROWS = 1_000;
const MAX_RESTARTS = 3;

/** Gives the event loop a turn (a macrotask: sockets and timers run before the next slice). */
export type Pause = () => Promise<void>;
export const macrotask: Pause = () => new Promise((resolve) => setImmediate(resolve));

/**
 * A sliced read made consistent: `read` gives null when the chain changed under it in a way it
 * cannot absorb (a reorg); it is tried MAX_RESTARTS times, then `inOneStep` answers.
 */
export async function withRestarts<T>(read: () => Promise<T | null>, inOneStep: () => T): Promise<T> {
  for (let attempt = 0; attempt < MAX_RESTARTS; attempt++) {
    const r = await read();
    if (r !== null) return r;
  }
  return inOneStep();
}

/** Whether the block a read started at (null: none yet) is still in the best chain. */
export function stillInChain(reader: StoreReader, start: BlockRow | null): boolean {
  if (start === null) return true;
  const now = reader.blockAt(start.height);
  return now !== null && bytesEqual(now.hash, start.hash);
}

/** Runs a sliced computation (a generator that yields where it may pause) to its end in one step. */
export function runToEnd<T>(steps: Generator<void, T>): T {
  for (;;) {
    const s = steps.next();
    if (s.done) return s.value;
  }
}

/** Runs a sliced computation with a pause at each of its yields. */
export async function runSliced<T>(steps: Generator<void, T>, pause: Pause): Promise<T> {
  for (;;) {
    const s = steps.next();
    if (s.done) return s.value;
    await pause();
  }
}

/** A history whose confirmed entries are written as bytes (history-bytes.ts), a part per slice. */
export interface HistoryBytes {
  /** The confirmed entries' text: the parts one after the other, separated by the template's separator. */
  readonly confirmed: readonly Buffer[];
  readonly confirmedCount: number;
  /** Canonical 1.6 order, with fees (electrum-history.ts mempoolEntries). */
  readonly mempool: readonly ElectrumHistoryEntry[];
}

/**
 * electrumHistoryTxnums, sliced, with the confirmed entries written in `template` as bytes a slice at a
 * time (history-bytes.ts writeHistoryEntries): the same entries, limit and byte checks
 * (QueryError "too-large", "response-too-large").
 */
export async function electrumHistoryBytesSliced(
  reader: StoreReader,
  mempool: MempoolView,
  key: Uint8Array,
  limit: number,
  maxReplyBytes: number | undefined,
  template: EntryTemplate,
  pause: Pause = macrotask,
  sliceRows = SLICE_ROWS,
): Promise<HistoryBytes> {
  return withRestarts(
    async () => {
      const r = await readOnce(reader, mempool, key, limit, maxReplyBytes, pause, sliceRows, (txnums, first) => writeHistoryEntries(reader, txnums, template, !first));
      return r && { confirmed: r.confirmed, confirmedCount: r.count, mempool: r.mempool };
    },
    () => {
      const h = electrumHistoryTxnums(reader, mempool, key, limit, maxReplyBytes);
      return { confirmed: [writeHistoryEntries(reader, h.txnums, template, false)], confirmedCount: h.txnums.length, mempool: h.mempool };
    },
  );
}

/**
 * One read; null when a reorg between slices made it inconsistent. `render` makes each slice of
 * the confirmed txnums into what the caller keeps (`first`: the first slice), between pauses.
 */
async function readOnce<P>(
  reader: StoreReader,
  mempool: MempoolView,
  key: Uint8Array,
  limit: number,
  maxReplyBytes: number | undefined,
  pause: Pause,
  sliceRows: number,
  render: (txnums: number[], first: boolean) => P,
): Promise<{ confirmed: P[]; count: number; mempool: ElectrumHistoryEntry[] } | null> {
  const max = limit === 0 ? Number.MAX_SAFE_INTEGER : limit;
  const start = reader.tip();
  const txnums: number[] = [];
  let pool: ElectrumHistoryEntry[];
  for (;;) {
    const want = Math.min(sliceRows, max - txnums.length + 1);
    const page = reader.historyTxnumsAsc(key, txnums.length ? txnums[txnums.length - 1]! : null, want);
    for (const t of page) txnums.push(t);
    if (txnums.length > max) throw tooLarge(limit);
    if (page.length < want) {
      // The end of the chain part: the mempool part in the same step.
      pool = mempoolEntries(mempool, key);
      break;
    }
    if (maxReplyBytes !== undefined && txnums.length * MIN_HISTORY_ENTRY_BYTES > maxReplyBytes) throw responseTooLarge(maxReplyBytes);
    await pause();
  }
  if (txnums.length + pool.length > max) throw tooLarge(limit);
  if (maxReplyBytes !== undefined && (txnums.length + pool.length) * MIN_HISTORY_ENTRY_BYTES > maxReplyBytes) throw responseTooLarge(maxReplyBytes);
  const confirmed: P[] = [];
  for (let i = 0; i < txnums.length; i += sliceRows) {
    if (i > 0) await pause();
    confirmed.push(render(txnums.slice(i, i + sliceRows), i === 0));
  }
  // One slice: read in one step, nothing to check.
  if (txnums.length > sliceRows && !stillInChain(reader, start)) return null;
  return { confirmed, count: txnums.length, mempool: pool };
}

/**
 * Electrum's balance (electrum-history.ts electrumBalance), its confirmed part summed a slice of
 * unspent rows at a time: a script with 52k UTXOs takes ~5 ms, one of mainnet's dust-spammed
 * addresses far more. Read again when a block came in between slices (the sum would mix two
 * states); the mempool's part in the step that ends the read.
 */
export async function electrumBalanceSliced(
  reader: StoreReader,
  mempool: MempoolView,
  key: Uint8Array,
  pause: Pause = macrotask,
  sliceRows = SLICE_ROWS,
): Promise<ElectrumBalance> {
  // Most scripts: one slice or less, summed in this step (no page objects, no tip checks).
  const small = reader.unspentSumUpTo(key, sliceRows);
  if (small !== null) return balanceWithMempool(small, mempool, key);
  return withRestarts(
    async () => {
      const start = reader.tip();
      let confirmedSat = 0;
      let after = -1;
      for (let slices = 0; ; slices++) {
        if (slices > 0) await pause();
        const page = reader.unspentValuesPage(key, after, sliceRows);
        for (const r of page) confirmedSat += r.value_sat;
        if (page.length < sliceRows) break;
        after = page[page.length - 1]!.id;
      }
      const now = reader.tip();
      if (start !== null && (now === null || now.height !== start.height || !bytesEqual(now.hash, start.hash))) return null;
      return balanceWithMempool(confirmedSat, mempool, key);
    },
    () => electrumBalance(reader, mempool, key),
  );
}

/**
 * The status hash (status.ts statusHash) of a history whose confirmed entries were written in
 * STATUS_ENTRY_TEXT (history-bytes.ts), hashed a part at a time, then the mempool's.
 */
export async function historyStatusSliced(h: HistoryBytes, pause: Pause = macrotask, sliceRows = SLICE_ROWS): Promise<string | null> {
  if (h.confirmedCount + h.mempool.length === 0) return null;
  const hasher = new Bun.CryptoHasher("sha256");
  for (let i = 0; i < h.confirmed.length; i++) {
    if (i > 0) await pause();
    hasher.update(h.confirmed[i]!);
  }
  for (let i = 0; i < h.mempool.length; i += sliceRows) {
    if (i > 0) await pause();
    hashStatusEntries(hasher, h.mempool.slice(i, i + sliceRows));
  }
  return hasher.digest("hex");
}

/** Elements of a JSON array and the JSON text of each (what JSON.stringify would give). */
export interface JsonSegment<T> {
  readonly items: readonly T[];
  readonly toJson: (item: T) => string;
}

/** A segment of jsonSegmentsSliced: its element type checked here, erased in the list. */
export function jsonSegment<T>(items: readonly T[], toJson: (item: T) => string): JsonSegment<never> {
  return { items, toJson } as unknown as JsonSegment<never>;
}

/**
 * A JSON array of the segments' elements one after the other (a history's confirmed part, then
 * its mempool part), built a slice of elements at a time (JSON.stringify of 100k entries is ~30 ms
 * in one step), as bytes, one part per slice: their concatenation is the array's text, and it is
 * never made (joining and encoding 9 MB took ~20 ms more). Each `toJson` must give what
 * JSON.stringify would for one element; it runs a slice at a time too.
 */
export async function jsonSegmentsSliced(
  segments: readonly JsonSegment<never>[],
  pause: Pause = macrotask,
  sliceRows = SLICE_ROWS,
  /** Every text toJson gives is ASCII (hex strings and integers): encoded as Latin-1, ~1.3-3× faster than as UTF-8. */
  ascii = false,
): Promise<Buffer[]> {
  const parts: Buffer[] = [];
  let chunk: string[] = [];
  const flush = () => {
    parts.push(Buffer.from((parts.length === 0 ? "[" : ",") + chunk.join(","), ascii ? "latin1" : "utf8"));
    chunk = [];
  };
  for (const { items, toJson } of segments) {
    for (const item of items) {
      if (chunk.length === sliceRows) {
        flush();
        await pause();
      }
      chunk.push(toJson(item));
    }
  }
  if (chunk.length > 0) flush();
  parts.push(Buffer.from(parts.length === 0 ? "[]" : "]"));
  return parts;
}
