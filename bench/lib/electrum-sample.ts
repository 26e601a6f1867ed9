/**
 * Scripts for the Electrum benchmark, read from a synthetic chain's blk files (not from the server
 * under test), cached in a JSON file:
 *
 * - `subscriptions`: distinct output scripts from full blocks spread evenly over the chain, in a
 *   shuffled order. A script seen more than once in the sampled blocks is left out, and so are the
 *   popular and mining-pool scripts of meta.json: the generator's Zipf head is reused thousands of
 *   times, which is an exchange's address rather than a wallet's. Every script has a history (it
 *   was paid at least once).
 * - `sizeCandidates`: scripts in their order of first appearance, first those of the height-1
 *   coinbase (1,000 outputs, the first scripts of the generator's pool), then every k-th new one of
 *   the oldest full blocks. The generator's reuse is Zipf over scripts in creation order (rank r ≈
 *   the (r+1)-th script created), so these run from ~100k history entries down to one or two: the
 *   bench asks the server for their sizes and keeps those closest to the sizes it wants.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseBlock } from "../../src/bitcoin/block.ts";
import { bytesToHex } from "../../src/bitcoin/bytes.ts";
import { readXorKey } from "./blk-files.ts";
import { orderByHeight, readDeXored, scanHeaders, shuffle, type BlockLoc } from "./chain-sample.ts";
import { Rng } from "./prng.ts";

/** Bump when the content or format changes (cached files are then rebuilt). */
const VERSION = 2;

export interface ElectrumSampleOptions {
  seed: number;
  /** Distinct subscription scripts wanted. */
  subscriptions: number;
  /** Full blocks they are drawn from, spread over the chain. */
  blocks: number;
  /** Oldest full blocks the small candidates come from. */
  candidateBlocks: number;
  /** Candidates kept from those blocks: every k-th new script, so that they span the reuse range. */
  candidates: number;
  /** Distinct scripts kept from the height-1 coinbase, in output order (the Zipf head). */
  headCandidates: number;
}

export const DEFAULT_ELECTRUM_SAMPLE: ElectrumSampleOptions = { seed: 1, subscriptions: 40_000, blocks: 60, candidateBlocks: 12, candidates: 400, headCandidates: 200 };

export interface ElectrumSample {
  version: number;
  tipHashHex: string;
  tipHeight: number;
  options: ElectrumSampleOptions;
  /** scriptPubKey hex. */
  subscriptions: string[];
  /** scriptPubKey hex, oldest first. */
  sizeCandidates: string[];
  /** Heights the subscription scripts come from (first and last sampled block). */
  heightRange: [number, number];
}

export function loadOrBuildElectrumSample(
  chainDir: string,
  cachePath: string,
  tipHashHex: string,
  excludedScriptsHex: readonly string[],
  opts: ElectrumSampleOptions = DEFAULT_ELECTRUM_SAMPLE,
): ElectrumSample {
  if (existsSync(cachePath)) {
    const cached = JSON.parse(readFileSync(cachePath, "utf8")) as ElectrumSample;
    if (cached.version === VERSION && cached.tipHashHex === tipHashHex && JSON.stringify(cached.options) === JSON.stringify(opts)) return cached;
  }
  const sample = buildElectrumSample(chainDir, excludedScriptsHex, opts);
  if (sample.tipHashHex !== tipHashHex) throw new Error(`chain tip in the blk files is ${sample.tipHashHex}, meta.json says ${tipHashHex}`);
  writeFileSync(cachePath, JSON.stringify(sample) + "\n");
  return sample;
}

function buildElectrumSample(chainDir: string, excludedScriptsHex: readonly string[], opts: ElectrumSampleOptions): ElectrumSample {
  const key = readXorKey(chainDir);
  const files = readdirSync(chainDir)
    .filter((n) => /^blk\d{5}\.dat$/.test(n))
    .sort();
  const byHeight = orderByHeight(scanHeaders(chainDir, files, key));
  const tip = byHeight[byHeight.length - 1]!;
  const full = byHeight.filter((b) => b.txCount >= 100);
  if (full.length < opts.candidateBlocks + 1) throw new Error(`${chainDir}: only ${full.length} blocks with ≥ 100 txs`);
  const spread = Array.from({ length: Math.min(opts.blocks, full.length) }, (_, i) => full[Math.floor((i * full.length) / Math.min(opts.blocks, full.length))]!);
  const oldest = full.slice(0, opts.candidateBlocks);
  const first = byHeight[1];
  if (!first) throw new Error(`${chainDir}: no block at height 1`);
  const outputs = readOutputScripts(chainDir, key, [...new Set([first, ...spread, ...oldest])]);

  const excluded = new Set(excludedScriptsHex);
  // Occurrences over the sampled blocks: a script seen twice is a reused one.
  const seen = new Map<string, number>();
  for (const b of spread) for (const s of outputs.get(b)!) seen.set(s, (seen.get(s) ?? 0) + 1);
  const rng = new Rng(opts.seed);
  // A little more than an even share: some blocks have fewer fresh scripts than others.
  const perBlock = Math.ceil((1.25 * opts.subscriptions) / spread.length);
  const picked = new Set<string>();
  for (const b of spread) {
    const fresh = [...new Set(outputs.get(b)!)].filter((s) => seen.get(s) === 1 && !excluded.has(s));
    for (const s of shuffle(fresh, rng).slice(0, perBlock)) picked.add(s);
  }
  if (picked.size < opts.subscriptions) {
    throw new Error(`only ${picked.size} distinct scripts in ${spread.length} blocks; ${opts.subscriptions} wanted (raise blocks)`);
  }
  const subscriptions = shuffle([...picked], rng).slice(0, opts.subscriptions);

  const known = new Set<string>(excluded);
  const firstSeenIn = (blocks: readonly BlockLoc[]): string[] => {
    const list: string[] = [];
    for (const b of blocks) {
      for (const s of outputs.get(b)!) {
        if (known.has(s)) continue;
        known.add(s);
        list.push(s);
      }
    }
    return list;
  };
  const head = firstSeenIn([first]).slice(0, opts.headCandidates);
  const later = firstSeenIn(oldest);
  const step = Math.max(1, Math.floor(later.length / opts.candidates));
  const sizeCandidates = [...head, ...later.filter((_, i) => i % step === 0).slice(0, opts.candidates)];
  return {
    version: VERSION,
    tipHashHex: tip.hashHex,
    tipHeight: tip.height,
    options: opts,
    subscriptions,
    sizeCandidates,
    heightRange: [spread[0]!.height, spread[spread.length - 1]!.height],
  };
}

/** Output scripts (hex, in block order, repeats kept) of each block, reading each file once. */
function readOutputScripts(chainDir: string, key: Uint8Array, blocks: readonly BlockLoc[]): Map<BlockLoc, string[]> {
  const out = new Map<BlockLoc, string[]>();
  const files = [...new Set(blocks.map((b) => b.file))].sort();
  for (const file of files) {
    const data = readDeXored(join(chainDir, file), key);
    for (const b of blocks) {
      if (b.file !== file) continue;
      const block = parseBlock(data.subarray(b.offset, b.offset + b.size), { witness: false });
      const scripts: string[] = [];
      for (const tx of block.txs) for (const o of tx.outputs) if (o.script.length > 0 && o.script[0] !== 0x6a) scripts.push(bytesToHex(o.script));
      out.set(b, scripts);
    }
  }
  return out;
}
