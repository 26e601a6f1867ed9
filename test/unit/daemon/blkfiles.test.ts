import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { appendFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseBlock } from "../../../src/bitcoin/block.ts";
import { bytesToHex, concatBytes, hashToHex, hexToBytes } from "../../../src/bitcoin/bytes.ts";
import { NETWORKS } from "../../../src/bitcoin/network.ts";
import {
  blkFilePath,
  listBlkFiles,
  nodeFileIO,
  openBlockReader,
  readBlock,
  readXorKey,
  scanBlkFile,
  scanBlocksDir,
  xorInPlace,
  type BlockLocation,
  type FileIO,
} from "../../../src/daemon/blkfiles.ts";
import { createLogger, silentLogger } from "../../../src/log.ts";

const FIXTURE = join(import.meta.dir, "../../fixtures/regtest-core30");
const BLOCKS = join(FIXTURE, "blocks");
const MAGIC = NETWORKS.regtest.magic;

interface ExpectedBlock {
  hash: string;
  height: number;
  header: string;
  previousblockhash?: string;
  txids: string[];
}
interface Expected {
  xor_key: string;
  blocks: ExpectedBlock[];
  reorg: { stale_blocks: string[] };
  txs: Record<string, { hex: string }>;
}
const expected = (await Bun.file(join(FIXTURE, "expected.json")).json()) as Expected;
const byHash = new Map(expected.blocks.map((b) => [b.hash, b]));

let tmpRoot = "";
let dirSeq = 0;
function newDir(): string {
  const d = join(tmpRoot, `d${dirSeq++}`);
  mkdirSync(d);
  return d;
}

beforeAll(() => {
  tmpRoot = mkdtempSync(join(tmpdir(), "blkfiles-test-"));
});
afterAll(() => {
  rmSync(tmpRoot, { recursive: true, force: true });
});

function u32le(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n >>> 0, true);
  return b;
}
const magicBytes = u32le(MAGIC);
const record = (block: Uint8Array) => concatBytes(magicBytes, u32le(block.length), block);

/** Writes decoded bytes as blk file `index`, obfuscating them as Core does when `key` is given. */
function writeBlk(dir: string, index: number, decoded: Uint8Array, key: Uint8Array | null): string {
  const data = decoded.slice();
  xorInPlace(data, key, 0);
  const path = blkFilePath(dir, index);
  writeFileSync(path, data);
  if (key) writeFileSync(join(dir, "xor.dat"), key);
  return path;
}

const hashesOf = (locs: readonly BlockLocation[]) => locs.map((l) => hashToHex(l.header.hash));

// The fixture, scanned once; its decoded blocks feed the synthetic cases.
const fixtureScan = scanBlocksDir(BLOCKS, MAGIC, silentLogger());
const fixtureBlocks = new Map<string, Uint8Array>();
for (const loc of fixtureScan.locations) fixtureBlocks.set(hashToHex(loc.header.hash), readBlock(loc, BLOCKS, fixtureScan.xorKey));
/** Best-chain blocks 0..7 (small), decoded. */
const sample = expected.blocks.slice(0, 8).map((b) => fixtureBlocks.get(b.hash)!);
const sampleHashes = expected.blocks.slice(0, 8).map((b) => b.hash);
const KEY = hexToBytes("0123456789abcdef");

describe("fixture regtest-core30", () => {
  test("xor.dat is read and matches expected.json", () => {
    expect(fixtureScan.xorKey).not.toBeNull();
    expect(Buffer.from(fixtureScan.xorKey!).toString("hex")).toBe(expected.xor_key);
  });

  test("140 records: the 138 best-chain blocks and the 2 stale ones", () => {
    const hashes = hashesOf(fixtureScan.locations);
    expect(hashes.length).toBe(140);
    expect(new Set(hashes).size).toBe(140);
    const want = [...expected.blocks.map((b) => b.hash), ...expected.reorg.stale_blocks].sort();
    expect([...hashes].sort()).toEqual(want);
    expect(fixtureScan.files.map((f) => f.index)).toEqual([0, 1, 2, 3]);
  });

  test("headers match Core's and link up through prevHash", () => {
    const known = new Set(hashesOf(fixtureScan.locations));
    for (const loc of fixtureScan.locations) {
      const hash = hashToHex(loc.header.hash);
      const prev = hashToHex(loc.header.prevHash);
      const exp = byHash.get(hash);
      if (exp) {
        expect(Buffer.from(loc.header.raw).toString("hex")).toBe(exp.header);
        if (exp.height === 0) expect(prev).toBe("0".repeat(64));
        else expect(prev).toBe(exp.previousblockhash!);
      } else {
        // A stale block builds on a known block (best chain or the other stale one).
        expect(known.has(prev)).toBe(true);
      }
      expect(loc.header.raw.length).toBe(80);
      // A private copy: it does not pin the scan window.
      expect(loc.header.raw.buffer.byteLength).toBe(80);
    }
  });

  test("readBlock of every best-chain block parses into Core's txids", () => {
    const locByHash = new Map(fixtureScan.locations.map((l) => [hashToHex(l.header.hash), l]));
    const reader = openBlockReader(BLOCKS, fixtureScan.xorKey, { maxOpenFiles: 2 });
    try {
      for (const exp of expected.blocks) {
        const loc = locByHash.get(exp.hash)!;
        for (const bytes of [reader.read(loc), readBlock(loc, (i) => blkFilePath(BLOCKS, i), fixtureScan.xorKey)]) {
          expect(bytes.length).toBe(loc.size);
          // The raw tx bytes are Core's, independently of any txid computation.
          const block = parseBlock(bytes);
          expect(block.txs.map((t) => bytesToHex(t.raw))).toEqual(exp.txids.map((id) => expected.txs[id]!.hex));
          expect(hashToHex(block.header.hash)).toBe(exp.hash);
          expect(block.txs.map((t) => hashToHex(t.txid))).toEqual(exp.txids);
        }
      }
    } finally {
      reader.close();
    }
  });

  test("zero tail of the last file: endOffset is where Core's data ends", () => {
    const last = fixtureScan.files[3]!;
    const lastLoc = fixtureScan.locations.filter((l) => l.fileIndex === 3).at(-1)!;
    expect(last.endOffset).toBe(lastLoc.offset + lastLoc.size);
    expect(last.endOffset).toBeLessThan(65536);
    // A resumed scan of the unchanged file finds nothing and stays put.
    const again = scanBlkFile(last.path, 3, MAGIC, fixtureScan.xorKey, { startOffset: last.endOffset });
    expect(again.locations).toEqual([]);
    expect(again.endOffset).toBe(last.endOffset);
    // The finished files end exactly at their last record (Core truncates them).
    for (const f of fixtureScan.files.slice(0, 3)) {
      const l = fixtureScan.locations.filter((x) => x.fileIndex === f.index).at(-1)!;
      expect(f.endOffset).toBe(l.offset + l.size);
    }
  });

  test("any window size gives the same records (records spanning reads)", () => {
    for (const chunkSize of [92, 97, 1000, 4096, 1 << 20]) {
      const locs = listBlkFiles(BLOCKS).flatMap((f) => scanBlkFile(f.path, f.index, MAGIC, fixtureScan.xorKey, { chunkSize }).locations);
      expect(locs.map((l) => `${l.fileIndex}:${l.offset}:${l.size}`)).toEqual(
        fixtureScan.locations.map((l) => `${l.fileIndex}:${l.offset}:${l.size}`),
      );
    }
  });

  test("logs a debug line per file and an info summary", () => {
    const lines: string[] = [];
    scanBlocksDir(BLOCKS, MAGIC, createLogger({ verbosity: 1, timestamp: false, sink: (l) => lines.push(l) }));
    expect(lines.filter((l) => l.startsWith("DEBUG")).length).toBe(4);
    expect(lines.filter((l) => l.startsWith("INFO")).map((l) => l.includes("scanned 4 blk files: 140 blocks"))).toEqual([true]);
  });
});

describe("listBlkFiles / readXorKey", () => {
  test("lists only blk*.dat, by number", () => {
    const dir = newDir();
    for (const n of ["blk00010.dat", "blk00002.dat", "blk00000.dat", "blk100000.dat", "rev00000.dat", "blk.dat", "blk0001.dat", "blk00003.dat.tmp", "xor.dat"]) {
      writeFileSync(join(dir, n), "");
    }
    expect(listBlkFiles(dir).map((f) => f.index)).toEqual([0, 2, 10, 100000]);
    expect(listBlkFiles(dir)[1]!.path).toBe(join(dir, "blk00002.dat"));
  });

  test("missing blocks dir is a clear error", () => {
    expect(() => listBlkFiles(join(tmpRoot, "nope"))).toThrow(/cannot list blocks dir/);
  });

  test("xor.dat: absent or all-zero = plain; wrong length = error naming the dir", () => {
    const dir = newDir();
    expect(readXorKey(dir)).toBeNull();
    writeFileSync(join(dir, "xor.dat"), new Uint8Array(8));
    expect(readXorKey(dir)).toBeNull();
    writeFileSync(join(dir, "xor.dat"), KEY);
    expect(readXorKey(dir)).toEqual(KEY);
    writeFileSync(join(dir, "xor.dat"), new Uint8Array(7).fill(1));
    expect(() => readXorKey(dir)).toThrow(`xor.dat in ${dir} must be 8 bytes, found 7`);
    expect(() => scanBlocksDir(dir, MAGIC, silentLogger())).toThrow("must be 8 bytes, found 7");
    writeFileSync(join(dir, "xor.dat"), new Uint8Array(0));
    expect(() => readXorKey(dir)).toThrow("found 0");
  });

  test("xorInPlace matches a byte loop at every phase and alignment", () => {
    const data = new Uint8Array(203).map((_, i) => (i * 37 + 11) & 255);
    for (let phase = 0; phase < 16; phase++) {
      for (let start = 0; start < 5; start++) {
        const view = data.slice().subarray(start, start + 190);
        xorInPlace(view, KEY, phase);
        for (let i = 0; i < view.length; i++) expect(view[i]).toBe(data[start + i]! ^ KEY[(phase + i) & 7]!);
      }
    }
  });
});

// Each synthetic case runs plain (no xor.dat) and obfuscated.
for (const key of [null, KEY]) {
  const mode = key ? "xor" : "plain";
  describe(`synthetic damage (${mode})`, () => {
    const scanDir = (dir: string) => scanBlocksDir(dir, MAGIC, silentLogger());

    test("plain files: no xor.dat means no key", () => {
      const dir = newDir();
      writeBlk(dir, 0, concatBytes(...sample.map(record)), key);
      const r = scanDir(dir);
      expect(r.xorKey).toEqual(key);
      expect(hashesOf(r.locations)).toEqual(sampleHashes);
      for (const loc of r.locations) expect(readBlock(loc, dir, r.xorKey)).toEqual(fixtureBlocks.get(hashToHex(loc.header.hash))!);
    });

    test("garbage between records, including near-magic and absurd sizes, is skipped", () => {
      const dir = newDir();
      const junk = [
        new Uint8Array([1, 2, 3]),
        concatBytes(magicBytes.subarray(0, 3), new Uint8Array([9, 9])), // 3 magic bytes then not
        concatBytes(magicBytes, u32le(0xffffffff)), // absurd size
        concatBytes(magicBytes, u32le(10)), // too small for a header
        new Uint8Array(5), // zeros that are not a tail
        new Uint8Array(37).map((_, i) => (i * 91) & 255),
      ];
      const parts: Uint8Array[] = [new Uint8Array([0xaa])];
      sample.forEach((b, i) => parts.push(record(b), junk[i % junk.length]!));
      const path = writeBlk(dir, 0, concatBytes(...parts), key);
      for (const chunkSize of [100, 1 << 16]) {
        const r = scanBlkFile(path, 0, MAGIC, key, { chunkSize });
        expect(hashesOf(r.locations)).toEqual(sampleHashes);
        expect(r.partial).toBe(false);
        for (const loc of r.locations) expect(readBlock(loc, dir, key)).toEqual(fixtureBlocks.get(hashToHex(loc.header.hash))!);
      }
    });

    test("zero tail, zero after decoding or zero on disk (preallocated)", () => {
      const dir = newDir();
      const data = concatBytes(...sample.slice(0, 3).map(record));
      const path = writeBlk(dir, 0, concatBytes(data, new Uint8Array(5000)), key);
      let r = scanBlkFile(path, 0, MAGIC, key, { chunkSize: 512 });
      expect(hashesOf(r.locations)).toEqual(sampleHashes.slice(0, 3));
      expect(r.endOffset).toBe(data.length);
      expect(r.partial).toBe(false);
      // Raw zeros appended after obfuscation, as fallocate leaves them.
      writeBlk(dir, 0, data, key);
      appendFileSync(path, new Uint8Array(5000));
      r = scanBlkFile(path, 0, MAGIC, key, { chunkSize: 512 });
      expect(hashesOf(r.locations)).toEqual(sampleHashes.slice(0, 3));
      expect(r.endOffset).toBe(data.length);
      // Garbage after the last record proves it complete: resume at the zeros.
      writeBlk(dir, 0, concatBytes(data, new Uint8Array([7, 7, 7]), new Uint8Array(100)), key);
      r = scanBlkFile(path, 0, MAGIC, key);
      expect(r.endOffset).toBe(data.length + 3);
    });

    test("a record half-written into preallocated zeros: found exactly once across resumed scans", () => {
      const dir = newDir();
      const head = concatBytes(...sample.slice(0, 2).map(record));
      const rec = record(sample[2]!);
      const full = concatBytes(head, rec, record(sample[3]!));
      const fileSize = full.length + 500;
      const cases = new Set<boolean>();
      // Core's preallocated file: the record is written up to `cut`, zeros after.
      for (const cut of [1, 3, 4, 6, 8, 8 + 40, 8 + 79, 8 + 80, 8 + 100, rec.length - 1]) {
        const path = writeBlk(dir, 0, concatBytes(head, rec.subarray(0, cut)), key);
        appendFileSync(path, new Uint8Array(fileSize - head.length - cut)); // zeros on disk
        const r = scanBlkFile(path, 0, MAGIC, key, { chunkSize: 256 });
        expect(r.partial).toBe(false);
        // Zero-looking bytes at the end of what was written are indistinguishable from the zeros.
        let written = head.length + cut;
        const zeroish = (pos: number) => {
          const b = rec[pos - head.length]!;
          return b === 0 || (key !== null && b === key[pos & 7]);
        };
        while (written > head.length && zeroish(written - 1)) written--;
        const headerDone = written >= head.length + 8 + 80;
        cases.add(headerDone);
        expect(hashesOf(r.locations)).toEqual(sampleHashes.slice(0, headerDone ? 3 : 2));
        expect(r.endOffset).toBe(headerDone ? head.length + rec.length : head.length);
        // The rest arrives.
        const grown = writeBlk(dir, 0, full, key);
        appendFileSync(grown, new Uint8Array(500));
        const r2 = scanBlkFile(path, 0, MAGIC, key, { startOffset: r.endOffset });
        expect(hashesOf([...r.locations, ...r2.locations])).toEqual(sampleHashes.slice(0, 4));
        expect(r2.endOffset).toBe(full.length);
        // A location found while the body was still zeros reads the finished block.
        expect(readBlock(r.locations.at(-1)!, dir, key)).toEqual(fixtureBlocks.get(hashToHex(r.locations.at(-1)!.header.hash))!);
      }
      expect(cases.size).toBe(2);
    });

    test("a new, still all-zero file", () => {
      const dir = newDir();
      const path = blkFilePath(dir, 0);
      writeFileSync(path, new Uint8Array(4096));
      const r = scanBlkFile(path, 0, MAGIC, key);
      expect(r.locations).toEqual([]);
      expect(r.endOffset).toBe(0);
    });

    test("a truncated last record is not reported; a later scan from endOffset finds it", () => {
      const dir = newDir();
      const head = concatBytes(...sample.slice(0, 4).map(record));
      const rec4 = record(sample[4]!);
      const path = writeBlk(dir, 0, concatBytes(head, rec4.subarray(0, 8 + 100)), key);
      let r = scanBlkFile(path, 0, MAGIC, key);
      expect(hashesOf(r.locations)).toEqual(sampleHashes.slice(0, 4));
      expect(r.endOffset).toBe(head.length);
      expect(r.partial).toBe(true);
      // Prefix only (magic + part of the size).
      writeBlk(dir, 0, concatBytes(head, rec4.subarray(0, 6)), key);
      r = scanBlkFile(path, 0, MAGIC, key);
      expect(r.endOffset).toBe(head.length);

      // The file grows: the rest of the block and two more records.
      const full = concatBytes(head, rec4, record(sample[5]!), record(sample[6]!));
      writeBlk(dir, 0, full, key);
      const r2 = scanBlkFile(path, 0, MAGIC, key, { startOffset: r.endOffset });
      expect(hashesOf(r2.locations)).toEqual(sampleHashes.slice(4, 7));
      expect(r2.endOffset).toBe(full.length);
      expect(r2.locations[0]!.offset).toBe(head.length + 8);
      expect(readBlock(r2.locations[0]!, dir, key)).toEqual(sample[4]!);
      // Nothing new: an empty scan at the end.
      const r3 = scanBlkFile(path, 0, MAGIC, key, { startOffset: r2.endOffset });
      expect(r3.locations).toEqual([]);
      expect(r3.endOffset).toBe(full.length);
    });

    test("'size written but body missing' is skipped", () => {
      const dir = newDir();
      const orphanPrefix = concatBytes(magicBytes, u32le(sample[1]!.length));
      const data = concatBytes(record(sample[0]!), orphanPrefix, record(sample[1]!), orphanPrefix, orphanPrefix, record(sample[2]!));
      const path = writeBlk(dir, 0, data, key);
      const r = scanBlkFile(path, 0, MAGIC, key);
      expect(hashesOf(r.locations)).toEqual(sampleHashes.slice(0, 3));
      expect(r.locations[1]!.offset).toBe(record(sample[0]!).length + 8 + 8);
      expect(readBlock(r.locations[2]!, dir, key)).toEqual(sample[2]!);
    });

    test("out-of-height-order records across files are reported in file order", () => {
      const dir = newDir();
      writeBlk(dir, 0, concatBytes(record(sample[5]!), record(sample[2]!), record(sample[0]!)), key);
      writeBlk(dir, 1, concatBytes(record(sample[7]!), record(sample[1]!)), key);
      const r = scanDir(dir);
      expect(hashesOf(r.locations)).toEqual([5, 2, 0, 7, 1].map((i) => sampleHashes[i]!));
      expect(r.locations.map((l) => l.fileIndex)).toEqual([0, 0, 0, 1, 1]);
      const reader = openBlockReader(dir, r.xorKey, { maxOpenFiles: 1 });
      try {
        for (const loc of r.locations) expect(reader.read(loc)).toEqual(fixtureBlocks.get(hashToHex(loc.header.hash))!);
      } finally {
        reader.close();
      }
    });

    test("readBlock notices a location gone stale", () => {
      const dir = newDir();
      writeBlk(dir, 0, concatBytes(record(sample[0]!), record(sample[1]!)), key);
      const r = scanDir(dir);
      writeBlk(dir, 0, concatBytes(record(sample[1]!), record(sample[0]!)), key);
      expect(() => readBlock(r.locations[0]!, dir, key)).toThrow(/not .* any more/);
      writeFileSync(blkFilePath(dir, 0), new Uint8Array(10));
      expect(() => readBlock(r.locations[1]!, dir, key)).toThrow(/file has only/);
    });
  });
}

describe("bounded memory", () => {
  test("scans read one file at a time, in windows of at most chunkSize bytes", () => {
    let open = 0;
    let maxOpen = 0;
    let maxRead = 0;
    let bytesRead = 0;
    const opened: string[] = [];
    const io: FileIO = {
      open(path) {
        open++;
        maxOpen = Math.max(maxOpen, open);
        opened.push(path);
        return nodeFileIO.open(path);
      },
      size: nodeFileIO.size,
      read(fd, buf, pos) {
        maxRead = Math.max(maxRead, buf.length);
        const n = nodeFileIO.read(fd, buf, pos);
        bytesRead += n;
        return n;
      },
      close(fd) {
        open--;
        nodeFileIO.close(fd);
      },
    };
    const r = scanBlocksDir(BLOCKS, MAGIC, silentLogger(), { io, chunkSize: 4096 });
    expect(r.locations.length).toBe(140);
    expect(maxOpen).toBe(1);
    expect(open).toBe(0);
    expect(opened).toEqual(listBlkFiles(BLOCKS).map((f) => f.path));
    expect(maxRead).toBeLessThanOrEqual(4096);
    // At most about once through each file (plus a look at its tail); less where bodies are skipped.
    const total = fixtureScan.files.reduce((n, f) => n + Bun.file(f.path).size, 0);
    expect(bytesRead).toBeLessThanOrEqual(total + 4 * 4096);
  });

  test("a big body is jumped over, not read", () => {
    const dir = newDir();
    // A fake 3 MB block: a real header followed by padding; only the header is parsed.
    const big = new Uint8Array(3_000_000);
    big.set(sample[3]!.subarray(0, 80));
    const path = writeBlk(dir, 0, concatBytes(record(big), record(sample[4]!)), KEY);
    let bytesRead = 0;
    const io: FileIO = {
      ...nodeFileIO,
      read(fd, buf, pos) {
        const n = nodeFileIO.read(fd, buf, pos);
        bytesRead += n;
        return n;
      },
    };
    const r = scanBlkFile(path, 0, MAGIC, KEY, { io, chunkSize: 65536 });
    expect(hashesOf(r.locations)).toEqual([sampleHashes[3]!, sampleHashes[4]!]);
    expect(r.locations[0]!.size).toBe(3_000_000);
    expect(bytesRead).toBeLessThan(2 * 65536 + 1000);
  });

  test("after a jump over a body the next read is small: blocks below the window are not read whole", () => {
    const dir = newDir();
    // Ten fake 200 kB blocks (real headers, padded bodies): with the default 256 KiB window a full
    // window per record would read nearly the whole file.
    const blocks = Array.from({ length: 10 }, (_, i) => {
      const b = new Uint8Array(200_000).fill(0x5a); // not zeros: a zero tail is space Core preallocated
      b.set(sample[i % sample.length]!.subarray(0, 80));
      return record(b);
    });
    const file = concatBytes(...blocks);
    const path = writeBlk(dir, 0, file, KEY);
    let bytesRead = 0;
    const io: FileIO = {
      ...nodeFileIO,
      read(fd, buf, pos) {
        const n = nodeFileIO.read(fd, buf, pos);
        bytesRead += n;
        return n;
      },
    };
    const r = scanBlkFile(path, 0, MAGIC, KEY, { io });
    expect(r.locations.length).toBe(10);
    expect(r.locations.map((l) => l.size)).toEqual(Array(10).fill(200_000));
    expect(bytesRead).toBeLessThan(file.length / 4);
  });
});
