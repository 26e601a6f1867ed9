/**
 * Reading Bitcoin Core's block files (`blkNNNNN.dat`, optionally obfuscated with `xor.dat`) with
 * bounded memory: the initial sync's block source (electrs' `FetchFrom::BlkFiles`, spec §5.1).
 *
 * Two passes, as in electrs: a cheap scan that finds every record and parses only its 80-byte
 * header, then positioned reads of the blocks the indexer actually wants. Unlike electrs, the scan
 * never holds a whole file: it reads through a small window (256 KiB) and jumps over block bodies,
 * so a 128 MiB file of today's 1–2 MB blocks costs a few MiB of reads and one window of memory.
 *
 * Record format (after de-obfuscation): `magic u32le | size u32le | block`, where each file byte is
 * XOR-ed with `key[fileOffset & 7]` when `xor.dat` exists (Core ≥ 28).
 */
import { closeSync, existsSync, fstatSync, openSync, readSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parseHeader, HEADER_SIZE, type BlockHeader } from "../bitcoin/block.ts";
import { bytesEqual, hashToHex } from "../bitcoin/bytes.ts";
import { ConfigError, ParseError } from "../errors.ts";
import type { Logger } from "../log.ts";

/** Core's MAX_BLOCK_SERIALIZED_SIZE; a little margin so a slightly different chain rule still scans. */
export const MAX_BLOCK_RECORD_SIZE = 4_000_000 + 256 * 1024;
/** Scan window: big enough to cover many small blocks per read, small enough to skip big bodies. */
export const DEFAULT_SCAN_CHUNK = 256 * 1024;
/**
 * A read after a jump (over a block's body) starts this small and doubles while the scan goes on
 * reading where the last read ended (many small blocks, or garbage passed byte by byte), up to the
 * window. A full window after each jump read a 256 KiB piece of every block: on the bench's
 * ~730 KB blocks a third of the files, ~0.8 s of a 2M-tx sync.
 */
const FIRST_SCAN_READ = 16 * 1024;
const XOR_KEY_SIZE = 8;
/** magic + size */
const RECORD_PREFIX = 8;

export interface BlkFile {
  readonly index: number;
  readonly path: string;
}

export interface BlockLocation {
  readonly fileIndex: number;
  /** File offset of the block's first byte (just after magic and size). */
  readonly offset: number;
  /** Serialized block size in bytes, as written in the record. */
  readonly size: number;
  /** Parsed from a private 80-byte copy, so it keeps no scan buffer alive. */
  readonly header: BlockHeader;
}

export interface ScanResult {
  /** Records whose header is complete, in file order (not height order). */
  readonly locations: BlockLocation[];
  /**
   * Where a later scan of the same (growing) file should resume: the end of the data (the end of
   * the file or the start of its zero tail), or earlier, at a record or magic that is not complete
   * yet. Resuming there never misses a record and never reports one twice.
   */
  readonly endOffset: number;
  /** A record was cut off by the end of the file (a block being written right now). */
  readonly partial: boolean;
  /** File size seen by this scan. */
  readonly fileSize: number;
}

/**
 * The few file operations the scanner uses; injectable so tests can watch how a file is read
 * (window sizes, one open file at a time) without measuring RSS.
 */
export interface FileIO {
  open(path: string): number;
  size(fd: number): number;
  /** Reads up to `buf.length` bytes at `position`; returns the count (0 at EOF). */
  read(fd: number, buf: Uint8Array, position: number): number;
  close(fd: number): void;
}

export const nodeFileIO: FileIO = {
  open: (path) => openSync(path, "r"),
  size: (fd) => fstatSync(fd).size,
  read: (fd, buf, position) => readSync(fd, buf, 0, buf.length, position),
  close: (fd) => closeSync(fd),
};

export interface ScanOptions {
  /** Resume offset from an earlier scan's `endOffset`. */
  startOffset?: number;
  /** Bytes per read (and the scan's whole buffer). */
  chunkSize?: number;
  /** Larger sizes are taken as garbage and resynced past. */
  maxBlockSize?: number;
  io?: FileIO;
}

const BLK_NAME = /^blk(\d{5,})\.dat$/;

/** Core's file name: `blk` + at least 5 digits (`%05u`). */
export function blkFileName(index: number): string {
  return `blk${String(index).padStart(5, "0")}.dat`;
}

export function blkFilePath(blocksDir: string, index: number): string {
  return join(blocksDir, blkFileName(index));
}

/** `blk*.dat` files of `blocksDir`, by number (not by name, which only agrees below 100000). */
export function listBlkFiles(blocksDir: string): BlkFile[] {
  let names: string[];
  try {
    names = readdirSync(blocksDir);
  } catch (err) {
    throw new ConfigError(`cannot list blocks dir ${blocksDir}`, { cause: err });
  }
  const files: BlkFile[] = [];
  for (const name of names) {
    const m = BLK_NAME.exec(name);
    if (m) files.push({ index: Number(m[1]), path: join(blocksDir, name) });
  }
  return files.sort((a, b) => a.index - b.index);
}

/**
 * The obfuscation key of `blocksDir`, or null when blk files are stored plain (no `xor.dat`, or an
 * all-zero key, which Core writes with `-blocksxor=0`). Like electrs, any other length is fatal:
 * guessing would silently produce garbage blocks.
 */
export function readXorKey(blocksDir: string): Uint8Array | null {
  const path = join(blocksDir, "xor.dat");
  if (!existsSync(path)) return null;
  const key = new Uint8Array(readFileSync(path));
  if (key.length !== XOR_KEY_SIZE) {
    throw new ConfigError(`xor.dat in ${blocksDir} must be ${XOR_KEY_SIZE} bytes, found ${key.length}`);
  }
  return key.every((b) => b === 0) ? null : key;
}

/**
 * XORs `buf` (bytes at file offset `fileOffset`) with the key in place; its own inverse. Works on
 * 32-bit words where the buffer is aligned, which is ~4× faster than a byte loop on big blocks.
 */
export function xorInPlace(buf: Uint8Array, key: Uint8Array | null, fileOffset: number): void {
  if (key === null || buf.length === 0) return;
  if (key.length !== XOR_KEY_SIZE) throw new ConfigError(`xor key must be ${XOR_KEY_SIZE} bytes, found ${key.length}`);
  let i = 0;
  // Byte loop up to 4-byte alignment of the underlying buffer.
  while (i < buf.length && (buf.byteOffset + i) % 4 !== 0) {
    buf[i] = buf[i]! ^ key[(fileOffset + i) & 7]!;
    i++;
  }
  const words = (buf.length - i) >>> 2;
  if (words > 0) {
    const kw = keyWords(key);
    const phase = ((fileOffset + i) & 7) * 2;
    const k0 = kw[phase]!;
    const k1 = kw[phase + 1]!;
    const w = new Uint32Array(buf.buffer, buf.byteOffset + i, words);
    const even = words & ~1;
    for (let j = 0; j < even; j += 2) {
      w[j] = w[j]! ^ k0;
      w[j + 1] = w[j + 1]! ^ k1;
    }
    if (even < words) w[even] = w[even]! ^ k0;
    i += words * 4;
  }
  for (; i < buf.length; i++) buf[i] = buf[i]! ^ key[(fileOffset + i) & 7]!;
}

/**
 * Per key, for each of the 8 phases, the key rotated to that phase as two native-endian words.
 * Keyed by identity: a key array must not be mutated once used.
 */
const keyWordCache = new WeakMap<Uint8Array, Uint32Array>();
function keyWords(key: Uint8Array): Uint32Array {
  let kw = keyWordCache.get(key);
  if (kw === undefined) {
    const rot = new Uint8Array(XOR_KEY_SIZE * XOR_KEY_SIZE);
    for (let ph = 0; ph < XOR_KEY_SIZE; ph++) {
      for (let j = 0; j < XOR_KEY_SIZE; j++) rot[ph * XOR_KEY_SIZE + j] = key[(ph + j) & 7]!;
    }
    kw = new Uint32Array(rot.buffer);
    keyWordCache.set(key, kw);
  }
  return kw;
}

/** A de-obfuscated read-ahead window over one open file; the scan's only buffer. */
class Window {
  private readonly buf: Uint8Array;
  private start = 0;
  private len = 0;
  private readSize = 0;

  constructor(
    private readonly io: FileIO,
    private readonly fd: number,
    readonly fileSize: number,
    private readonly key: Uint8Array | null,
    chunkSize: number,
  ) {
    this.buf = new Uint8Array(chunkSize);
  }

  /** Makes [pos, pos+n) resident; the caller guarantees pos + n <= fileSize and n <= chunk. */
  private ensure(pos: number, n: number): void {
    if (pos >= this.start && pos + n <= this.start + this.len) return;
    const onward = pos === this.start + this.len;
    this.readSize = Math.min(this.buf.length, onward ? Math.max(FIRST_SCAN_READ, this.readSize * 2) : FIRST_SCAN_READ);
    const want = Math.min(Math.max(n, this.readSize), this.fileSize - pos);
    let got = 0;
    while (got < want) {
      const r = this.io.read(this.fd, this.buf.subarray(got, want), pos + got);
      if (r <= 0) break;
      got += r;
    }
    // Shrunk under us (truncated by another process): treat as a read error, not as data.
    if (got < n) throw new ParseError(`short read at offset ${pos}: wanted ${n} bytes, got ${got}`);
    xorInPlace(this.buf.subarray(0, got), this.key, pos);
    this.start = pos;
    this.len = got;
  }

  u8(pos: number): number {
    this.ensure(pos, 1);
    return this.buf[pos - this.start]!;
  }

  u32(pos: number): number {
    this.ensure(pos, 4);
    const o = pos - this.start;
    const b = this.buf;
    return (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0;
  }

  /**
   * Start of the run of zero bytes that ends the file (not below `lower`): zero on disk, as Core's
   * preallocation leaves it (which decodes to key bytes), or zero after decoding.
   */
  dataEnd(lower: number): number {
    const key = this.key;
    let z = this.fileSize;
    while (z > lower) {
      const from = Math.max(lower, z - this.buf.length);
      this.ensure(from, z - from);
      const b = this.buf;
      const base = this.start;
      for (let i = z - 1; i >= from; i--) {
        const v = b[i - base]!;
        if (v !== 0 && (key === null || v !== key[i & 7]!)) return i + 1;
      }
      z = from;
    }
    return z;
  }

  /** A fresh copy, so that results never pin the window. */
  copy(pos: number, n: number): Uint8Array {
    this.ensure(pos, n);
    const o = pos - this.start;
    return this.buf.slice(o, o + n);
  }
}

/**
 * Finds the block records of one blk file, reading it through a window of `chunkSize` bytes.
 *
 * - A position whose 4 bytes are not the magic is garbage: advance one byte and retry (electrs).
 * - `magic | size | magic`: Core wrote the prefix but not the body; the second magic starts the
 *   next record.
 * - A size below a header or above a block's maximum is garbage too (resync), so one corrupt
 *   size cannot make us skip megabytes of good records.
 * - A record running past EOF ends the scan (`partial`): on the file Core is writing, that is a
 *   block being written; `endOffset` points at it so a later scan can pick it up.
 * - Zero bytes up to EOF (Core preallocates, and writes blocks into that space) are not data yet.
 *   Nothing is decided from them: the scan stops at the first position whose magic, size or
 *   header would have to be read there, and `endOffset` is that position. A record whose header
 *   is complete is reported even if its body is not (its location cannot change); Core has
 *   finished writing it by the time it announces the block.
 */
export function scanBlkFile(
  path: string,
  fileIndex: number,
  magic: number,
  xorKey: Uint8Array | null,
  opts: ScanOptions = {},
): ScanResult {
  const io = opts.io ?? nodeFileIO;
  const chunkSize = Math.max(opts.chunkSize ?? DEFAULT_SCAN_CHUNK, RECORD_PREFIX + 4 + HEADER_SIZE);
  const maxBlockSize = opts.maxBlockSize ?? MAX_BLOCK_RECORD_SIZE;
  const want = magic >>> 0;
  const fd = io.open(path);
  try {
    const fileSize = io.size(fd);
    const win = new Window(io, fd, fileSize, xorKey, chunkSize);
    const locations: BlockLocation[] = [];
    let p = Math.max(0, opts.startOffset ?? 0);
    const limit = win.dataEnd(p);
    let partial = false;

    for (;;) {
      if (p + 4 > limit) {
        // Only a magic whose first bytes are already there can still appear at p.
        if (p >= limit || isMagicPrefix(win, p, limit, want)) break;
        p++;
        continue;
      }
      if (win.u32(p) !== want) {
        p++;
        continue;
      }
      const start = p + RECORD_PREFIX;
      if (start + 4 > limit) break; // size, or the first body bytes, not written yet
      if (win.u32(start) === want) {
        p = start;
        continue;
      }
      const size = win.u32(p + 4);
      if (size < HEADER_SIZE || size > maxBlockSize) {
        p++;
        continue;
      }
      if (start + size > fileSize) {
        partial = true;
        break;
      }
      if (start + HEADER_SIZE > limit) break; // header not complete yet
      const header = parseHeader(win.copy(start, HEADER_SIZE));
      locations.push({ fileIndex, offset: start, size, header });
      p = start + size;
    }
    return { locations, endOffset: p, partial, fileSize };
  } finally {
    io.close(fd);
  }
}

/** Bytes [p, end) are the first bytes of the magic (a magic cut short by EOF or by the zeros). */
function isMagicPrefix(win: Window, p: number, end: number, magic: number): boolean {
  for (let i = 0; p + i < end; i++) {
    if (win.u8(p + i) !== ((magic >>> (8 * i)) & 0xff)) return false;
  }
  return true;
}

export type BlkPathResolver = (fileIndex: number) => string;

function resolverOf(blocks: string | BlkPathResolver): BlkPathResolver {
  return typeof blocks === "string" ? (i) => blkFilePath(blocks, i) : blocks;
}

function readExact(fd: number, offset: number, size: number, path: string): Uint8Array {
  const buf = new Uint8Array(size);
  let got = 0;
  while (got < size) {
    const r = readSync(fd, buf, got, size - got, offset + got);
    if (r <= 0) break;
    got += r;
  }
  if (got !== size) {
    throw new ParseError(`${path}: ${size} bytes at offset ${offset} wanted, file has only ${got}`);
  }
  return buf;
}

/**
 * Comparing the 80 header bytes with the scanned ones costs nothing next to parsing the block and
 * catches a location gone stale (pruning deletes files and Core reuses their numbers).
 */
function checkHeader(buf: Uint8Array, loc: BlockLocation, path: string): void {
  if (!bytesEqual(buf.subarray(0, HEADER_SIZE), loc.header.raw)) {
    throw new ParseError(`${path}: block at offset ${loc.offset} is not ${hashToHex(loc.header.hash)} any more`);
  }
}

/** One positioned read of the block at `loc`, de-obfuscated. Opens and closes the file. */
export function readBlock(loc: BlockLocation, blocks: string | BlkPathResolver, xorKey: Uint8Array | null): Uint8Array {
  const path = resolverOf(blocks)(loc.fileIndex);
  const fd = openSync(path, "r");
  try {
    const buf = readExact(fd, loc.offset, loc.size, path);
    xorInPlace(buf, xorKey, loc.offset);
    checkHeader(buf, loc, path);
    return buf;
  } finally {
    closeSync(fd);
  }
}

export interface BlockReader {
  read(loc: BlockLocation): Uint8Array;
  /**
   * Bytes [offset, offset + length) of blk<fileIndex>.dat, de-obfuscated: a tx of an indexed block.
   * Throws when the file is missing or shorter; the caller checks what the bytes are.
   */
  readRange(fileIndex: number, offset: number, length: number): Uint8Array;
  /** The path of blk<fileIndex>.dat (for messages). */
  pathOf(fileIndex: number): string;
  /** Closes every cached file descriptor; the reader can still be used (it reopens). */
  close(): void;
}

export interface BlockReaderOptions {
  /** Descriptors kept open (least recently used closed first). */
  maxOpenFiles?: number;
}

/**
 * readBlock for the sync's hot path, and readRange for the txs the index reads back from the files
 * (store/tx-bytes.ts). Keeps a few descriptors open, since the blocks of a height
 * range sit in a few neighbouring files. Deliberately no read-ahead or coalescing: a positioned
 * read costs ~2 µs even for tiny blocks (measured: batching neighbours into one read was no
 * faster), and a cached window of the growing last file would serve stale preallocated zeros.
 */
export function openBlockReader(
  blocks: string | BlkPathResolver,
  xorKey: Uint8Array | null,
  opts: BlockReaderOptions = {},
): BlockReader {
  const resolve = resolverOf(blocks);
  const maxOpen = Math.max(1, opts.maxOpenFiles ?? 8);
  // Map iteration order = insertion order; re-inserting on use makes the first key the LRU.
  const fds = new Map<number, { fd: number; path: string }>();
  const get = (fileIndex: number) => {
    const hit = fds.get(fileIndex);
    if (hit !== undefined) {
      fds.delete(fileIndex);
      fds.set(fileIndex, hit);
      return hit;
    }
    if (fds.size >= maxOpen) {
      const [oldest, entry] = fds.entries().next().value!;
      fds.delete(oldest);
      closeSync(entry.fd);
    }
    const path = resolve(fileIndex);
    const entry = { fd: openSync(path, "r"), path };
    fds.set(fileIndex, entry);
    return entry;
  };
  const read = (loc: BlockLocation): Uint8Array => {
    const { fd, path } = get(loc.fileIndex);
    const buf = readExact(fd, loc.offset, loc.size, path);
    xorInPlace(buf, xorKey, loc.offset);
    checkHeader(buf, loc, path);
    return buf;
  };
  const readRange = (fileIndex: number, offset: number, length: number): Uint8Array => {
    const { fd, path } = get(fileIndex);
    const buf = readExact(fd, offset, length, path);
    xorInPlace(buf, xorKey, offset);
    return buf;
  };
  return {
    read,
    readRange,
    pathOf: resolve,
    close() {
      for (const { fd } of fds.values()) closeSync(fd);
      fds.clear();
    },
  };
}

export interface ScannedFile {
  readonly index: number;
  readonly path: string;
  /** Resume offset for an incremental scan of this file (see ScanResult.endOffset). */
  readonly endOffset: number;
}

export interface BlocksDirScan {
  /** All complete records, file by file, each file in file order. */
  readonly locations: BlockLocation[];
  readonly files: ScannedFile[];
  /** The key the files were decoded with (null = plain), for the block reads that follow. */
  readonly xorKey: Uint8Array | null;
}

/** Scans every blk file of `blocksDir`, one file (one window) at a time. */
export function scanBlocksDir(
  blocksDir: string,
  magic: number,
  log: Logger,
  opts: Omit<ScanOptions, "startOffset"> = {},
): BlocksDirScan {
  const xorKey = readXorKey(blocksDir);
  const locations: BlockLocation[] = [];
  const files: ScannedFile[] = [];
  let bytes = 0;
  const t0 = performance.now();
  for (const f of listBlkFiles(blocksDir)) {
    const r = scanBlkFile(f.path, f.index, magic, xorKey, opts);
    for (const loc of r.locations) locations.push(loc);
    files.push({ index: f.index, path: f.path, endOffset: r.endOffset });
    bytes += r.fileSize;
    log.debug(
      `${blkFileName(f.index)}: ${r.locations.length} blocks, ${r.fileSize} bytes, resume at ${r.endOffset}` +
        (r.partial ? " (a record runs past the end)" : ""),
    );
  }
  const ms = performance.now() - t0;
  log.info(
    `scanned ${files.length} blk files: ${locations.length} blocks (${(bytes / 1048576).toFixed(1)} MiB in ${ms.toFixed(0)} ms` +
      (xorKey ? ", xor-obfuscated)" : ")"),
  );
  return { locations, files, xorKey };
}
