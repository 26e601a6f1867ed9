/**
 * Bitcoin Core's block file layout: blkNNNNN.dat files of records magic|u32le size|block,
 * at most 128 MiB each, every byte XOR-ed with the 8-byte key of xor.dat (Core ≥ 28), key index
 * = file offset mod 8. Core preallocates files in 16 MiB chunks of raw (not XOR-ed) zeros and
 * truncates a file only when it moves on to the next, so the last file ends in zero padding.
 */
import { closeSync, openSync, readdirSync, readFileSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";

export const REGTEST_MAGIC = Uint8Array.of(0xfa, 0xbf, 0xb5, 0xda);
/** Core's MAX_BLOCKFILE_SIZE. */
export const MAX_BLOCKFILE_SIZE = 0x8000000;
/** Core's BLOCKFILE_CHUNK_SIZE (preallocation step). */
export const BLOCKFILE_CHUNK_SIZE = 0x1000000;
/** Bytes XOR-ed and written per syscall; a multiple of 8 keeps chunks aligned with the key. */
const CHUNK = 8 << 20;

export function blkFileName(index: number): string {
  return `blk${String(index).padStart(5, "0")}.dat`;
}

/**
 * XORs `buf[0..len)` in place as the bytes at file offset `fileOffset`. Whole 8-byte groups go
 * through 32-bit words (a per-byte loop over 700 MB costs seconds).
 */
export function xorInPlace(buf: Uint8Array, len: number, fileOffset: number, key: Uint8Array): void {
  let i = 0;
  if ((fileOffset & 7) === 0 && (buf.byteOffset & 3) === 0) {
    const words = new Uint32Array(buf.buffer, buf.byteOffset, (len >>> 3) * 2);
    const k = new Uint32Array(key.slice(0, 8).buffer);
    const k0 = k[0]!;
    const k1 = k[1]!;
    for (let w = 0; w < words.length; w += 2) {
      words[w] = words[w]! ^ k0;
      words[w + 1] = words[w + 1]! ^ k1;
    }
    i = words.length * 4;
  }
  for (; i < len; i++) buf[i] = buf[i]! ^ key[(fileOffset + i) & 7]!;
}

export interface BlkWriterStats {
  files: number;
  /** Sum of file sizes on disk, record headers and padding included. */
  fileBytes: number;
}

/** Appends blocks to blk files in `dir`, switching files at the size cap like Core. */
export class BlkWriter {
  private fileIndex = -1;
  private fd = -1;
  /** File offset of chunk[0]. */
  private chunkStart = 0;
  private chunkLen = 0;
  private readonly chunk = new Uint8Array(CHUNK);
  private readonly recordHeader = new Uint8Array(8);
  private fileBytes = 0;

  constructor(
    private readonly dir: string,
    private readonly key: Uint8Array,
    private readonly maxFileSize = MAX_BLOCKFILE_SIZE,
  ) {
    writeFileSync(join(dir, "xor.dat"), key);
  }

  write(block: Uint8Array): void {
    const filePos = this.chunkStart + this.chunkLen;
    // Core: a new file when pos + record would exceed the cap (FindNextBlockPos).
    if (this.fd < 0 || filePos + 8 + block.length > this.maxFileSize) this.nextFile();
    this.recordHeader.set(REGTEST_MAGIC, 0);
    new DataView(this.recordHeader.buffer).setUint32(4, block.length, true);
    this.append(this.recordHeader);
    this.append(block);
  }

  /** Flushes, pads the last file with raw zeros up to the next preallocation chunk, closes. */
  finish(padLastFile: boolean): BlkWriterStats {
    this.flush();
    let end = this.chunkStart;
    if (padLastFile && end % BLOCKFILE_CHUNK_SIZE !== 0) {
      const padded = Math.ceil(end / BLOCKFILE_CHUNK_SIZE) * BLOCKFILE_CHUNK_SIZE;
      writeSync(this.fd, new Uint8Array(padded - end));
      end = padded;
    }
    this.fileBytes += end;
    closeSync(this.fd);
    this.fd = -1;
    return { files: this.fileIndex + 1, fileBytes: this.fileBytes };
  }

  private nextFile(): void {
    if (this.fd >= 0) {
      this.flush();
      this.fileBytes += this.chunkStart;
      closeSync(this.fd);
    }
    this.fileIndex++;
    this.fd = openSync(join(this.dir, blkFileName(this.fileIndex)), "w");
    this.chunkStart = 0;
    this.chunkLen = 0;
  }

  private append(bytes: Uint8Array): void {
    let off = 0;
    while (off < bytes.length) {
      const n = Math.min(bytes.length - off, CHUNK - this.chunkLen);
      this.chunk.set(bytes.subarray(off, off + n), this.chunkLen);
      this.chunkLen += n;
      off += n;
      if (this.chunkLen === CHUNK) this.flush();
    }
  }

  private flush(): void {
    if (this.chunkLen === 0) return;
    xorInPlace(this.chunk, this.chunkLen, this.chunkStart, this.key);
    writeSync(this.fd, this.chunk, 0, this.chunkLen);
    this.chunkStart += this.chunkLen;
    this.chunkLen = 0;
  }
}

/** One block record located in a de-XOR-ed file. */
export interface BlkRecord {
  file: number;
  /** Offset of the block bytes (after magic and size) in the file. */
  offset: number;
  size: number;
}

export interface BlkFile {
  name: string;
  /** De-XOR-ed contents. */
  data: Uint8Array;
  records: BlkRecord[];
  /** Bytes after the last record. */
  trailing: number;
  /** Whether those trailing bytes are raw zeros on disk (Core's preallocation). */
  trailingIsPadding: boolean;
}

/** Reads and de-XORs every blk file in `dir`, in file order, and splits each into records. */
export function readBlkFiles(dir: string): BlkFile[] {
  const key = readXorKey(dir);
  const names = readdirSync(dir)
    .filter((n) => /^blk\d{5}\.dat$/.test(n))
    .sort();
  return names.map((name, file) => {
    const data = new Uint8Array(readFileSync(join(dir, name)));
    xorInPlace(data, data.length, 0, key);
    return splitRecords(name, file, data, key);
  });
}

export function readXorKey(dir: string): Uint8Array {
  try {
    return new Uint8Array(readFileSync(join(dir, "xor.dat")));
  } catch {
    return new Uint8Array(8); // pre-28 Core: no obfuscation
  }
}

function splitRecords(name: string, file: number, data: Uint8Array, key: Uint8Array): BlkFile {
  const records: BlkRecord[] = [];
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  let pos = 0;
  while (pos + 8 <= data.length && hasMagic(data, pos)) {
    const size = dv.getUint32(pos + 4, true);
    if (pos + 8 + size > data.length) throw new Error(`${name}: record at ${pos} overruns the file`);
    records.push({ file, offset: pos + 8, size });
    pos += 8 + size;
  }
  let trailingIsPadding = true;
  // Raw zeros read back through the XOR are the key bytes.
  for (let i = pos; i < data.length; i++) {
    if (data[i] !== key[i & 7]) {
      trailingIsPadding = false;
      break;
    }
  }
  return { name, data, records, trailing: data.length - pos, trailingIsPadding };
}

function hasMagic(data: Uint8Array, pos: number): boolean {
  for (let i = 0; i < 4; i++) if (data[pos + i] !== REGTEST_MAGIC[i]) return false;
  return true;
}
