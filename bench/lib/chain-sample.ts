/**
 * Request parameters for the REST benchmark, read from a synthetic chain's blk files (not from
 * the server under test): random txids from blocks spread over the whole chain, full blocks,
 * candidate scripts for small addresses, and for each popular script of meta.json txids of its
 * transactions in the oldest few percent of the chain (cursors deep in its history, which is
 * listed newest first).
 *
 * Two passes over the files: headers and tx counts first (to order the blocks by height), then
 * the chosen blocks are parsed. Deterministic for a given seed.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseBlock, parseHeader } from "../../src/bitcoin/block.ts";
import { bytesToHex, hashToHex } from "../../src/bitcoin/bytes.ts";
import { readXorKey, REGTEST_MAGIC, xorInPlace } from "./blk-files.ts";
import { Rng } from "./prng.ts";

/** Bump when the sample's content or format changes (cached files are then rebuilt). */
const SAMPLE_VERSION = 2;

export interface SampleOptions {
  seed: number;
  /** Number of random txids. */
  txids: number;
  /** Blocks the txids are drawn from (spread evenly over the full blocks). */
  txBlocks: number;
  /** Full blocks for the /block/:hash/txs cases. */
  blocks: number;
  /** Candidate output scripts for the small-address cases (filtered by tx count later). */
  candidates: number;
  /** Cursors per popular script. */
  cursors: number;
  /**
   * Cursors come from the full blocks in this share of the chain, counted from the oldest (deep in
   * a history listed newest first, yet with a full page of older txs after them).
   */
  cursorRange: [number, number];
}

export const DEFAULT_SAMPLE: SampleOptions = {
  seed: 1,
  txids: 1000,
  txBlocks: 100,
  blocks: 50,
  candidates: 600,
  cursors: 100,
  cursorRange: [0.02, 0.05],
};

export interface ChainSample {
  version: number;
  tipHashHex: string;
  tipHeight: number;
  options: SampleOptions;
  /** Display-order hex. */
  txids: string[];
  blocks: { height: number; hashHex: string; txCount: number }[];
  /** scriptPubKey hex of outputs of the sampled txs (popular scripts excluded), distinct. */
  candidateScripts: string[];
  /** scriptPubKey hex of a popular script → txids (display hex) of its txs in the cursor range, oldest first. */
  cursors: Record<string, { height: number; txid: string }[]>;
}

export interface BlockLoc {
  file: string;
  /** Offset of the block bytes in the file. */
  offset: number;
  size: number;
  hashHex: string;
  prevHex: string;
  txCount: number;
  height: number;
}

/** Loads the cached sample of `chainDir` or builds (and caches) it. */
export function loadOrBuildSample(
  chainDir: string,
  cachePath: string,
  tipHashHex: string,
  popularScriptsHex: readonly string[],
  opts: SampleOptions = DEFAULT_SAMPLE,
): ChainSample {
  if (existsSync(cachePath)) {
    const cached = JSON.parse(readFileSync(cachePath, "utf8")) as ChainSample;
    if (
      cached.version === SAMPLE_VERSION &&
      cached.tipHashHex === tipHashHex &&
      JSON.stringify(cached.options) === JSON.stringify(opts) &&
      popularScriptsHex.every((s) => s in cached.cursors)
    ) {
      return cached;
    }
  }
  const sample = buildSample(chainDir, popularScriptsHex, opts);
  if (sample.tipHashHex !== tipHashHex) {
    throw new Error(`chain tip in the blk files is ${sample.tipHashHex}, meta.json says ${tipHashHex}`);
  }
  writeFileSync(cachePath, JSON.stringify(sample) + "\n");
  return sample;
}

export function buildSample(chainDir: string, popularScriptsHex: readonly string[], opts: SampleOptions): ChainSample {
  const key = readXorKey(chainDir);
  const files = readdirSync(chainDir)
    .filter((n) => /^blk\d{5}\.dat$/.test(n))
    .sort();
  const locs = scanHeaders(chainDir, files, key);
  const byHeight = orderByHeight(locs);
  const tip = byHeight[byHeight.length - 1]!;
  const full = byHeight.filter((b) => b.txCount >= 100);
  if (full.length === 0) throw new Error(`${chainDir}: no block with ≥ 100 txs`);
  const rng = new Rng(opts.seed);

  const txBlocks = spread(full, opts.txBlocks);
  const blockCases = shuffle(full.slice(), rng).slice(0, opts.blocks);
  const cursorFrom = Math.floor(full.length * opts.cursorRange[0]);
  const cursorBlocks = full.slice(cursorFrom, Math.max(cursorFrom + 1, Math.ceil(full.length * opts.cursorRange[1])));
  const wanted = new Set<BlockLoc>([...txBlocks, ...cursorBlocks]);

  const txids: string[] = [];
  const candidates = new Set<string>();
  const popular = new Set(popularScriptsHex);
  const cursors: Record<string, { height: number; txid: string }[]> = {};
  for (const s of popularScriptsHex) cursors[s] = [];
  const perBlock = Math.ceil(opts.txids / txBlocks.length);
  const perBlockCandidates = Math.ceil(opts.candidates / txBlocks.length);
  const txBlockSet = new Set(txBlocks);

  // Parse the chosen blocks, in height order within the cursor range (cursors oldest first).
  const parsed = new Map<BlockLoc, ReturnType<typeof parseBlock>>();
  for (const file of files) {
    const inFile = [...wanted].filter((b) => b.file === file);
    if (inFile.length === 0) continue;
    const data = readDeXored(join(chainDir, file), key);
    for (const b of inFile) {
      // Copy: the parsed block holds views into its buffer, and the file buffer is dropped.
      parsed.set(b, parseBlock(data.slice(b.offset, b.offset + b.size), { witness: false }));
    }
  }
  for (const b of byHeight) {
    const block = parsed.get(b);
    if (!block) continue;
    if (txBlockSet.has(b)) {
      const idx = shuffle(
        Array.from({ length: block.txs.length - 1 }, (_, i) => i + 1),
        rng,
      );
      for (const i of idx.slice(0, perBlock)) if (txids.length < opts.txids) txids.push(hashToHex(block.txs[i]!.txid));
      let added = 0;
      for (const i of idx.slice(perBlock)) {
        if (added >= perBlockCandidates) break;
        const outs = block.txs[i]!.outputs;
        const hex = bytesToHex(outs[rng.int(outs.length)]!.script);
        if (popular.has(hex) || candidates.has(hex)) continue;
        candidates.add(hex);
        added++;
      }
    }
    if (cursorBlocks.includes(b)) {
      // A few per block, so that the cursors span the whole depth range.
      const cap = Math.ceil((opts.cursors * (cursorBlocks.indexOf(b) + 1)) / cursorBlocks.length);
      for (const tx of block.txs) {
        for (const out of tx.outputs) {
          const hex = bytesToHex(out.script);
          const list = cursors[hex];
          if (!list || list.length >= Math.min(cap, opts.cursors)) continue;
          const txid = hashToHex(tx.txid);
          if (list[list.length - 1]?.txid !== txid) list.push({ height: b.height, txid });
        }
      }
    }
  }
  return {
    version: SAMPLE_VERSION,
    tipHashHex: tip.hashHex,
    tipHeight: tip.height,
    options: opts,
    txids: shuffle(txids, rng),
    blocks: blockCases.map((b) => ({ height: b.height, hashHex: b.hashHex, txCount: b.txCount })),
    candidateScripts: [...candidates],
    cursors,
  };
}

/** Block records of every file: header hash, prev hash and tx count (reads the headers only). */
export function scanHeaders(dir: string, files: readonly string[], key: Uint8Array): BlockLoc[] {
  const locs: BlockLoc[] = [];
  for (const file of files) {
    const data = readDeXored(join(dir, file), key);
    const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
    let pos = 0;
    while (pos + 8 <= data.length && hasMagic(data, pos)) {
      const size = dv.getUint32(pos + 4, true);
      const offset = pos + 8;
      const header = parseHeader(data, offset);
      locs.push({
        file,
        offset,
        size,
        hashHex: hashToHex(header.hash),
        prevHex: hashToHex(header.prevHash),
        txCount: compactSize(data, offset + 80),
        height: -1,
      });
      pos = offset + size;
    }
  }
  return locs;
}

/** Follows prev links from the genesis (the block whose parent is absent): one linear chain. */
export function orderByHeight(locs: BlockLoc[]): BlockLoc[] {
  const byPrev = new Map<string, BlockLoc>();
  const hashes = new Set(locs.map((b) => b.hashHex));
  let genesis: BlockLoc | undefined;
  for (const b of locs) {
    if (!hashes.has(b.prevHex)) genesis = b;
    else byPrev.set(b.prevHex, b);
  }
  if (!genesis) throw new Error("no genesis block in the blk files");
  const chain: BlockLoc[] = [];
  for (let b: BlockLoc | undefined = genesis; b; b = byPrev.get(b.hashHex)) {
    b.height = chain.length;
    chain.push(b);
  }
  return chain;
}

export function readDeXored(path: string, key: Uint8Array): Uint8Array {
  const data = new Uint8Array(readFileSync(path));
  xorInPlace(data, data.length, 0, key);
  return data;
}

function hasMagic(data: Uint8Array, pos: number): boolean {
  for (let i = 0; i < 4; i++) if (data[pos + i] !== REGTEST_MAGIC[i]) return false;
  return true;
}

function compactSize(data: Uint8Array, pos: number): number {
  const first = data[pos]!;
  const dv = new DataView(data.buffer, data.byteOffset + pos + 1);
  if (first < 0xfd) return first;
  if (first === 0xfd) return dv.getUint16(0, true);
  if (first === 0xfe) return dv.getUint32(0, true);
  return Number(dv.getBigUint64(0, true));
}

/** `n` items evenly spread over `items` (all of them when n ≥ length). */
function spread<T>(items: readonly T[], n: number): T[] {
  if (n >= items.length) return items.slice();
  return Array.from({ length: n }, (_, i) => items[Math.floor((i * items.length) / n)]!);
}

export function shuffle<T>(a: T[], rng: Rng): T[] {
  for (let i = a.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}
