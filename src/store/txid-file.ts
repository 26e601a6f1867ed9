/**
 * The txid of every indexed tx, by txnum, in a flat file next to the SQLite index (`txids.bin`):
 * record `txnum` is bytes [txnum * 32, txnum * 32 + 32), the txid in internal byte order. A history
 * of n txs is n txids: read here through a memory map they cost ~0.1 µs each, against ~0.55 µs for
 * a probe of the txs table (measured on the 2M-tx bench index, 100k sorted txnums), the largest
 * part of a long history's answer. (Fulcrum keeps its txnum → txid map the same way.)
 *
 * The SQLite index is the truth about which txnums exist (the txs table); this file holds their
 * txids and nothing else. Its rules, so that a reader never sees a wrong txid and a crash loses none:
 * - Records at or past the committed tx count (appends) are written before the commit: nothing
 *   committed names them yet, and after a crash before the commit they are unused bytes past the
 *   count, overwritten later.
 * - Records below it (a reorg that replaces committed txs) are kept in memory until the commit,
 *   so that queries on the last committed state still read that state's txids; the commit records
 *   META_TXIDS_REPAIR_FROM in the same transaction, the records are written and synced just after
 *   it, then the key is removed. A crash in between leaves the key: repairTxids (index/txid-repair.ts)
 *   recomputes those txids from the txs' bytes at the next start.
 * - A file shorter than the committed count (a power failure during the initial sync, which does
 *   not sync) is repaired the same way from its end.
 * - The file never shrinks while open (a mapped page past the end of a file is a SIGBUS): records
 *   past the count that a reorg left are dropped at the next open.
 * Live commits sync the file before the SQLite commit (Db.commit with `durable`).
 */
import { closeSync, constants, fdatasyncSync, fstatSync, ftruncateSync, openSync, readSync, writeSync } from "node:fs";
import { bytesEqual, hashHexAt, writeHashHex } from "../bitcoin/bytes.ts";
import { StoreError } from "../errors.ts";

export const TXID_FILE = "txids.bin";
export const TXID_BYTES = 32;
/** Records a memory map covers (64 MiB): the file is mapped in segments of this many, each once it is full. */
const SEGMENT_RECORDS = 2 ** 21;
const SEGMENT_BYTES = SEGMENT_RECORDS * TXID_BYTES;
/** Appends are written when this many bytes are buffered (and at each flush). */
const APPEND_BUFFER_BYTES = 1 << 20;

/** Where the records live: a file (mapped for reads) or, for an in-memory index, an array. */
interface RecordStore {
  /** Bytes written so far (the file's size). */
  readonly length: number;
  write(position: number, bytes: Uint8Array): void;
  /** Records per array that `arrayOf` gives: record `txnum` is at byte (txnum % this) * 32 of it. */
  readonly recordsPerArray: number;
  /** The array holding record `txnum` (whole), or null when the store is shorter. No view per record: a read makes none. */
  arrayOf(txnum: number): Uint8Array | null;
  /** Fills `out` from byte `position` without a memory map (a positioned read); false when the store is shorter. */
  readAt(position: number, out: Uint8Array): boolean;
  sync(): void;
  /** Cuts the store to `length` bytes (only while nothing is mapped: at open). */
  truncate(length: number): void;
  close(): void;
}

/** What queries read: the txids of the last committed state. */
export interface TxidView {
  /** The txid of `txnum` (a copy), or a StoreError "index inconsistency" when the file lacks it. */
  txidAt(txnum: number): Uint8Array;
  /** Its display hex (hashToHex), made from the record in place. */
  txidHexAt(txnum: number): string;
  /** The same 64 hex digits written as ASCII into `out` at `at` (bytes.ts writeHashHex), from the record in place. */
  writeTxidHex(txnum: number, out: DataView, at: number): void;
  /** Whether the txid of `txnum` is `txid` (internal byte order), compared in place. */
  txidEquals(txnum: number, txid: Uint8Array): boolean;
}

export interface TxidFile extends TxidView {
  /** The view of the last commit (the query connection's): never the open transaction's records. */
  readonly committed: TxidView;
  /** Txs of the last commit (the txs table's count at open). */
  readonly committedCount: number;
  /** Records on disk (file size / 32): below the committed count only after a crash (repairTxids). */
  readonly storedCount: number;
  /**
   * txidAt by a positioned read, not through the memory map: for a scan of one txid in many
   * thousands (each block's coinbase), where each read through the map brings in the 64 KiB
   * around it (the kernel's fault-around) and so nearly the whole file: ~610 MB of RSS after the
   * 20M-tx chain's sorted pass, the file's size at mainnet's.
   */
  txidAtUnmapped(txnum: number): Uint8Array;
  /** Txid of `txnum` in the open transaction (the writer's). */
  put(txnum: number, txid: Uint8Array): void;
  /** The open transaction removed every tx from `txnum` on (a reorg). */
  truncate(txnum: number): void;
  /** Writes the buffered appends (before a commit, or before the writer reads its own batch back). */
  flush(): void;
  /** Before COMMIT: flushes; returns the first record that must wait for the commit (or null), to be recorded in meta. */
  beforeCommit(durable: boolean): number | null;
  /** After COMMIT: writes the records that waited for it and syncs them. */
  afterCommit(): void;
  /** After ROLLBACK: forgets the open transaction's records. */
  afterRollback(): void;
  /** The committed count after open (the txs table's); set once by the Db, which drops the records past it (a reorg's leftovers). */
  setCommittedCount(count: number): void;
  /** Writes records outside any transaction (index/txid-repair.ts); `sync` makes them durable. */
  repair(txnum: number, txids: readonly Uint8Array[]): void;
  sync(): void;
  close(): void;
}

export function openTxidFile(path: string | null): TxidFile {
  return new Txids(path === null ? new MemoryRecords() : new FileRecords(path));
}

/**
 * The committed txids of an index another thread writes (a serve worker, serve/serve-worker.ts):
 * the file read through its memory map, its size looked at again when a record past it is asked
 * for (the writer appends before each commit). Records a reorg replaces are written just after
 * the SQLite commit (see the rules above): a read in that window still gets the replaced txid.
 */
export function openTxidReader(path: string): TxidView & { close(): void } {
  const records = new FileRecords(path, true);
  return { ...storedView(records), close: () => records.close() };
}

/** The records a store holds, read in place (the committed state: nothing buffered or waiting). */
function storedView(store: RecordStore): TxidView {
  const array = (txnum: number): Uint8Array => store.arrayOf(txnum) ?? missingTxid(txnum);
  const offset = (txnum: number) => (txnum % store.recordsPerArray) * TXID_BYTES;
  return {
    txidAt: (txnum) => array(txnum).slice(offset(txnum), offset(txnum) + TXID_BYTES),
    txidHexAt: (txnum) => hashHexAt(array(txnum), offset(txnum)),
    writeTxidHex: (txnum, out, at) => writeHashHex(array(txnum), offset(txnum), out, at),
    txidEquals: (txnum, txid) => {
      const a = array(txnum);
      const at = offset(txnum);
      if (txid.length !== TXID_BYTES) return false;
      for (let i = 0; i < TXID_BYTES; i++) if (a[at + i] !== txid[i]) return false;
      return true;
    },
  };
}

function missingTxid(txnum: number): never {
  throw new StoreError(`index inconsistency: no txid for tx number ${txnum} in ${TXID_FILE} (Please reindex)`);
}

class Txids implements TxidFile {
  /** Txs of the last commit, and of the open transaction. */
  private lastCommitCount = 0;
  private count = 0;
  /** Records of the open transaction below committedCount: written after its commit. */
  private readonly waiting = new Map<number, Uint8Array>();
  private appendStart = 0;
  private appendLength = 0;
  private readonly appendBuffer = new Uint8Array(APPEND_BUFFER_BYTES);
  readonly committed: TxidView;

  constructor(private readonly store: RecordStore) {
    this.committed = storedView(store);
  }

  get committedCount(): number {
    return this.lastCommitCount;
  }

  get storedCount(): number {
    return Math.floor(this.store.length / TXID_BYTES);
  }

  setCommittedCount(count: number): void {
    this.lastCommitCount = count;
    this.count = count;
    if (this.store.length > count * TXID_BYTES) this.store.truncate(count * TXID_BYTES);
  }

  txidAt(txnum: number): Uint8Array {
    const waiting = this.waiting.get(txnum);
    if (waiting) return waiting.slice();
    const k = txnum - this.appendStart;
    if (k >= 0 && k * TXID_BYTES < this.appendLength) return this.appendBuffer.slice(k * TXID_BYTES, (k + 1) * TXID_BYTES);
    return this.committed.txidAt(txnum);
  }

  txidAtUnmapped(txnum: number): Uint8Array {
    const k = txnum - this.appendStart;
    if (this.waiting.has(txnum) || (k >= 0 && k * TXID_BYTES < this.appendLength)) return this.txidAt(txnum);
    const out = new Uint8Array(TXID_BYTES);
    if (!this.store.readAt(txnum * TXID_BYTES, out)) missingTxid(txnum);
    return out;
  }

  txidHexAt(txnum: number): string {
    return hashHexAt(this.txidAt(txnum), 0);
  }

  writeTxidHex(txnum: number, out: DataView, at: number): void {
    writeHashHex(this.txidAt(txnum), 0, out, at);
  }

  txidEquals(txnum: number, txid: Uint8Array): boolean {
    return bytesEqual(this.txidAt(txnum), txid);
  }

  put(txnum: number, txid: Uint8Array): void {
    if (txid.length !== TXID_BYTES) throw new Error(`a txid is ${TXID_BYTES} bytes, not ${txid.length}`);
    this.count = Math.max(this.count, txnum + 1);
    if (txnum < this.lastCommitCount) {
      this.waiting.set(txnum, txid.slice());
      return;
    }
    if (txnum !== this.appendStart + this.appendLength / TXID_BYTES || this.appendLength === APPEND_BUFFER_BYTES) {
      this.flush();
      this.appendStart = txnum;
    }
    this.appendBuffer.set(txid, this.appendLength);
    this.appendLength += TXID_BYTES;
  }

  truncate(txnum: number): void {
    this.count = Math.min(this.count, txnum);
    for (const k of this.waiting.keys()) if (k >= txnum) this.waiting.delete(k);
    if (txnum < this.appendStart + this.appendLength / TXID_BYTES) {
      this.appendLength = Math.max(0, txnum - this.appendStart) * TXID_BYTES;
    }
  }

  flush(): void {
    if (this.appendLength === 0) return;
    this.store.write(this.appendStart * TXID_BYTES, this.appendBuffer.subarray(0, this.appendLength));
    this.appendStart += this.appendLength / TXID_BYTES;
    this.appendLength = 0;
  }

  beforeCommit(durable: boolean): number | null {
    this.flush();
    if (durable) this.store.sync();
    if (this.waiting.size === 0) return null;
    return Math.min(...this.waiting.keys());
  }

  afterCommit(): void {
    if (this.waiting.size > 0) {
      const positions = [...this.waiting.keys()].sort((a, b) => a - b);
      for (const p of positions) this.store.write(p * TXID_BYTES, this.waiting.get(p)!);
      this.waiting.clear();
      this.store.sync();
    }
    this.lastCommitCount = this.count;
  }

  afterRollback(): void {
    this.waiting.clear();
    this.appendLength = 0;
    this.count = this.lastCommitCount;
  }

  repair(txnum: number, txids: readonly Uint8Array[]): void {
    const bytes = new Uint8Array(txids.length * TXID_BYTES);
    txids.forEach((t, i) => bytes.set(t, i * TXID_BYTES));
    this.store.write(txnum * TXID_BYTES, bytes);
  }

  sync(): void {
    this.store.sync();
  }

  close(): void {
    this.store.close();
  }
}

class FileRecords implements RecordStore {
  private readonly fd: number;
  private size: number;
  /** Memory maps of the file by segment; a segment mapped before it was full is mapped again when a read passes its end. */
  private readonly maps: (Uint8Array | undefined)[] = [];
  private closed = false;

  /** `follow`: a reader of a file another thread writes; its size is looked at again on a miss. */
  constructor(
    private readonly path: string,
    private readonly follow = false,
  ) {
    try {
      // (not "a+": positioned writes to a file opened for appending land at its end on Linux)
      this.fd = follow ? openSync(path, constants.O_RDONLY) : openSync(path, constants.O_RDWR | constants.O_CREAT, 0o644);
      this.size = fstatSync(this.fd).size;
    } catch (err) {
      throw new StoreError(`cannot open ${path}: ${(err as Error).message}`);
    }
  }

  get length(): number {
    return this.size;
  }

  write(position: number, bytes: Uint8Array): void {
    let done = 0;
    while (done < bytes.length) done += writeSync(this.fd, bytes, done, bytes.length - done, position + done);
    this.size = Math.max(this.size, position + bytes.length);
  }

  readonly recordsPerArray = SEGMENT_RECORDS;

  arrayOf(txnum: number): Uint8Array | null {
    const seg = Math.floor(txnum / SEGMENT_RECORDS);
    const end = (txnum - seg * SEGMENT_RECORDS + 1) * TXID_BYTES;
    let map = this.maps[seg];
    if (map === undefined || map.length < end) {
      if (this.follow && this.size < seg * SEGMENT_BYTES + end) this.size = fstatSync(this.fd).size;
      if (this.size < seg * SEGMENT_BYTES + end) return null;
      map = Bun.mmap(this.path, { offset: seg * SEGMENT_BYTES, size: SEGMENT_BYTES, shared: true });
      this.maps[seg] = map;
      if (map.length < end) return null;
    }
    return map;
  }

  readAt(position: number, out: Uint8Array): boolean {
    if (position + out.length > this.size) return false;
    let done = 0;
    while (done < out.length) {
      const n = readSync(this.fd, out, done, out.length - done, position + done);
      if (n <= 0) return false;
      done += n;
    }
    return true;
  }

  sync(): void {
    fdatasyncSync(this.fd);
  }

  truncate(length: number): void {
    if (this.maps.length > 0) throw new Error("the txid file cannot shrink while it is mapped");
    ftruncateSync(this.fd, length);
    this.size = length;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.maps.length = 0;
    closeSync(this.fd);
  }
}

class MemoryRecords implements RecordStore {
  private bytes = new Uint8Array(1 << 16);
  private size = 0;

  get length(): number {
    return this.size;
  }

  write(position: number, bytes: Uint8Array): void {
    const end = position + bytes.length;
    if (end > this.bytes.length) {
      const grown = new Uint8Array(Math.max(end, this.bytes.length * 2));
      grown.set(this.bytes.subarray(0, this.size));
      this.bytes = grown;
    }
    this.bytes.set(bytes, position);
    this.size = Math.max(this.size, end);
  }

  readonly recordsPerArray = Number.POSITIVE_INFINITY;

  arrayOf(txnum: number): Uint8Array | null {
    return (txnum + 1) * TXID_BYTES <= this.size ? this.bytes : null;
  }

  readAt(position: number, out: Uint8Array): boolean {
    if (position + out.length > this.size) return false;
    out.set(this.bytes.subarray(position, position + out.length));
    return true;
  }

  sync(): void {}

  truncate(length: number): void {
    this.size = Math.min(this.size, length);
  }

  close(): void {}
}
