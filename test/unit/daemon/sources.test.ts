/**
 * The RPC source with blk files: blocks in the files come with their file position (what the index
 * stores instead of their bytes), a block not known yet makes the files' new data be scanned, and
 * what is not in the files comes over getblock, without a position.
 */
import { afterAll, expect, test } from "bun:test";
import { appendFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { BlkWriter } from "../../../bench/lib/blk-files.ts";
import { bytesToHex, hexToHash } from "../../../src/bitcoin/bytes.ts";
import { NETWORKS } from "../../../src/bitcoin/network.ts";
import { xorInPlace } from "../../../src/daemon/blkfiles.ts";
import type { DaemonClient } from "../../../src/daemon/rpc.ts";
import { openBlkFileIndex, rpcSource, type RawBlock } from "../../../src/daemon/sources.ts";
import { silentLogger } from "../../../src/log.ts";
import { FIXTURE_BLOCKS, loadExpected } from "../../helpers/fixture.ts";
import { tempDir } from "../../helpers/tmp.ts";

const expected = loadExpected();
const log = silentLogger();
const magic = NETWORKS.regtest.magic;
const KEY = Uint8Array.of(9, 8, 7, 6, 5, 4, 3, 2);
const tmp = tempDir();
afterAll(() => tmp[Symbol.dispose]());

const fixtureFiles = openBlkFileIndex(FIXTURE_BLOCKS, magic, log);
fixtureFiles.refresh();
const hashes = expected.blocks.slice(0, 12).map((b) => hexToHash(b.hash));
const raws = hashes.map((h) => fixtureFiles.read(fixtureFiles.get(h)!));
fixtureFiles.close();

/** Only getblock is used to fetch blocks; it answers from the fixture and records the hashes asked for. */
function fakeRpc(): { rpc: DaemonClient; asked: string[] } {
  const asked: string[] = [];
  const byHex = new Map(raws.map((raw, i) => [expected.blocks[i]!.hash, bytesToHex(raw)]));
  const rpc = {
    async batch(method: string, params: unknown[][]) {
      expect(method).toBe("getblock");
      return params.map(([hex, verbosity]) => {
        expect(verbosity).toBe(0);
        asked.push(hex as string);
        return byHex.get(hex as string)!;
      });
    },
  } as unknown as DaemonClient;
  return { rpc, asked };
}

async function collect(it: AsyncIterable<RawBlock>): Promise<RawBlock[]> {
  const out: RawBlock[] = [];
  for await (const b of it) out.push(b);
  return out;
}

/** Appends a block record as Core does: magic, size, block, XOR-ed at its file offset. */
function appendRecord(path: string, block: Uint8Array): number {
  const at = statSync(path).size;
  const rec = new Uint8Array(8 + block.length);
  const dv = new DataView(rec.buffer);
  dv.setUint32(0, magic, true);
  dv.setUint32(4, block.length, true);
  rec.set(block, 8);
  xorInPlace(rec, KEY, at);
  appendFileSync(path, rec);
  return at + 8;
}

test("blocks from the files carry their position; a new block is found by scanning new data; the rest comes over getblock", async () => {
  const writer = new BlkWriter(tmp.path, KEY);
  for (const raw of raws.slice(0, 10)) writer.write(raw);
  writer.finish(false);
  const files = openBlkFileIndex(tmp.path, magic, log);
  files.refresh();
  const { rpc, asked } = fakeRpc();
  const source = rpcSource({ rpc, log, files, blocksPerBatch: 4 });

  const first = await collect(source.blocks(0, hashes.slice(0, 10)));
  expect(asked).toEqual([]);
  let pos = 0;
  first.forEach((b, i) => {
    expect(b.height).toBe(i);
    expect(b.bytes).toEqual(raws[i]!);
    expect(b.file).toEqual({ index: 0, dataPos: pos + 8 });
    pos += 8 + raws[i]!.length;
  });

  // After the initial sync: only blocks written from now on are looked for in the files.
  files.forget();
  expect(files.size).toBe(0);
  const dataPos = appendRecord(join(tmp.path, "blk00000.dat"), raws[10]!);
  const next = await collect(source.blocks(10, hashes.slice(10, 12)));
  expect(next.map((b) => ({ height: b.height, same: bytesToHex(b.bytes) === bytesToHex(raws[b.height]!), file: b.file ?? null }))).toEqual([
    { height: 10, same: true, file: { index: 0, dataPos } },
    { height: 11, same: true, file: null },
  ]);
  expect(asked).toEqual([expected.blocks[11]!.hash]);

  // A forgotten block (a reorg back to it) comes over getblock.
  const again = await collect(source.blocks(3, [hashes[3]!]));
  expect(again[0]!.file).toBeUndefined();
  expect(asked).toEqual([expected.blocks[11]!.hash, expected.blocks[3]!.hash]);
  source.close();
});
