/**
 * The bytes of indexed txs. A tx row holds them (`raw`) when its block came over RPC; otherwise it
 * holds where they are in Bitcoin Core's blk files (`loc`, rows.ts) and they are read there, one
 * positioned read, then checked: the txid of the bytes read must be the stored txid. Anything else
 * (a file gone or shorter, other bytes at that place, no readable files) is a
 * BlockFilesChangedError: never other bytes.
 */
import { txidOfExact } from "../bitcoin/block.ts";
import { bytesEqual, hashToHex } from "../bitcoin/bytes.ts";
import { blkFileName } from "../daemon/blkfiles.ts";
import { BlockFilesChangedError, StoreError } from "../errors.ts";
import { decodeTxLoc, type BlkFilePos } from "./rows.ts";

/** Positioned reads of Core's blk files (daemon/blkfiles.ts openBlockReader). */
export interface BlkRangeSource {
  /** Bytes [offset, offset + length) of blk<fileIndex>.dat, de-obfuscated; throws if the file is missing or shorter. */
  readRange(fileIndex: number, offset: number, length: number): Uint8Array;
}

/** The columns of a txs row that say where its bytes are. */
export interface TxBytesRow {
  readonly txnum: number;
  readonly txid: Uint8Array;
  readonly loc: number | null;
  readonly raw: Uint8Array | null;
}

export class TxBytes {
  /** `files` null: no readable blk files here; rows with a location only cannot be answered. */
  constructor(private readonly files: BlkRangeSource | null) {}

  /** The bytes of one tx of the block at `file` (the block's blk file position, if any). */
  of(row: TxBytesRow, file: BlkFilePos | null | undefined): Uint8Array {
    if (row.raw !== null) return row.raw;
    return this.range([row], file)[0]!;
  }

  /** The bytes of consecutive txs of one block, in order; located ones with one read of their span. */
  ofMany(rows: readonly TxBytesRow[], file: BlkFilePos | null | undefined): Uint8Array[] {
    if (rows.every((r) => r.raw !== null)) return rows.map((r) => r.raw!);
    if (rows.some((r) => r.raw !== null)) return rows.map((r) => this.of(r, file));
    return this.range(rows, file);
  }

  /** Rows with a location only (non-empty, consecutive in the block). */
  private range(rows: readonly TxBytesRow[], file: BlkFilePos | null | undefined): Uint8Array[] {
    const locs = rows.map((r) => {
      if (r.loc === null) throw new StoreError(`index inconsistency: tx number ${r.txnum} has neither bytes nor a location`);
      return decodeTxLoc(r.loc);
    });
    if (!file) throw new StoreError(`index inconsistency: tx number ${rows[0]!.txnum} has a location but its block has no blk file`);
    const first = locs[0]!;
    const last = locs[locs.length - 1]!;
    const start = first.byteOffset;
    const end = last.byteOffset + last.byteLength;
    const changed = (i: number, detail: string, cause?: unknown) =>
      new BlockFilesChangedError(blkFileName(file.index), file.dataPos + locs[i]!.byteOffset, hashToHex(rows[i]!.txid), detail, { cause });
    if (this.files === null) throw changed(0, "no readable blk files here: set --blocks-dir to the node's blocks directory");
    let span: Uint8Array;
    try {
      span = this.files.readRange(file.index, file.dataPos + start, end - start);
    } catch (err) {
      throw changed(0, `cannot read it: ${(err as Error).message}`, err);
    }
    return rows.map((row, i) => {
      const loc = locs[i]!;
      const from = loc.byteOffset - start;
      const bytes = span.subarray(from, from + loc.byteLength);
      let txid: Uint8Array;
      try {
        txid = txidOfExact(bytes);
      } catch (err) {
        throw changed(i, `the bytes there are not a transaction: ${(err as Error).message}`, err);
      }
      if (!bytesEqual(txid, row.txid)) throw changed(i, `the bytes there are tx ${hashToHex(txid)}`);
      return bytes;
    });
  }
}
