/**
 * Writes a synthetic mainnet-like chain as Bitcoin Core blk*.dat files (see bench/README.md).
 *
 *   bun bench/gen-chain.ts --txs 200k --out bench/data/chain-200k [--seed 1] [--block-txs 2500]
 *                          [--swap-rate 0.01] [--no-pad] [--force] [--verify]
 *   bun bench/gen-chain.ts --verify --out bench/data/chain-200k      (check existing files only)
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { bytesToHex, hashToHex, reversed } from "../src/bitcoin/bytes.ts";
import { scriptHash } from "../src/bitcoin/hash.ts";
import { countArg, parseArgs, stringArg, type Args } from "./lib/args.ts";
import { BlkWriter } from "./lib/blk-files.ts";
import { ChainGenerator, type BlockOut } from "./lib/chain-gen.ts";
import { Rng } from "./lib/prng.ts";
import { scriptBytes, TRACKED, TYPE_NAMES } from "./lib/scripts.ts";
import { verifyChain, type ChainMeta } from "./lib/verify.ts";

export interface PopularScript {
  role: string;
  type: string;
  scriptHex: string;
  /** sha256(script), natural byte order (REST /scripthash/:hash in this code base). */
  scripthashHex: string;
  /** The reversed hex the Electrum protocol uses. */
  electrumScripthashHex: string;
  outputs: number;
}

export interface GeneratedMeta extends ChainMeta {
  name: string;
  seed: number;
  blockTxs: number;
  tipHeight: number;
  fileBytes: number;
  files: number;
  swappedPairs: number;
  xorKeyHex: string;
  seconds: number;
  popularScripts: PopularScript[];
}

interface GenConfig {
  out: string;
  txs: number;
  seed: number;
  blockTxs: number;
  swapRate: number;
  pad: boolean;
}

/** Scripts listed in meta.json: those with at least this share of all outputs. */
const POPULAR_MIN_SHARE = 0.002;

export function generateChain(cfg: GenConfig): GeneratedMeta {
  const t0 = performance.now();
  mkdirSync(cfg.out, { recursive: true });
  const gen = new ChainGenerator({ txs: cfg.txs, seed: cfg.seed, blockTxs: cfg.blockTxs });
  // Separate streams so the swap pattern and the key do not change the chain itself.
  const fileRng = new Rng(cfg.seed ^ 0x5eed_f11e);
  const key = new Uint8Array(8);
  for (let i = 0; i < 8; i++) key[i] = fileRng.u32() & 0xff;
  const writer = new BlkWriter(cfg.out, key);

  let held: BlockOut | null = null;
  let swappedPairs = 0;
  let bytes = 0;
  let blocks = 0;
  let tip: BlockOut | null = null;
  let nextReport = 0.1;
  while (!gen.done) {
    const b = gen.next();
    blocks++;
    bytes += b.bytes.length;
    tip = b;
    // A real node's files are only roughly in height order (parallel download): swap pairs.
    if (held) {
      writer.write(b.bytes);
      writer.write(held.bytes);
      held = null;
      swappedPairs++;
    } else if (b.height > 0 && fileRng.float() < cfg.swapRate) {
      held = b;
    } else {
      writer.write(b.bytes);
    }
    if (gen.txCount >= nextReport * cfg.txs) {
      const s = (performance.now() - t0) / 1000;
      console.error(`  ${Math.round(nextReport * 100)}%  height ${b.height}  ${gen.txCount} txs  ${(bytes / 1e6).toFixed(0)} MB  ${s.toFixed(1)} s`);
      nextReport += 0.1;
    }
  }
  if (held) writer.write(held.bytes);
  const files = writer.finish(cfg.pad);
  const seconds = (performance.now() - t0) / 1000;

  const meta: GeneratedMeta = {
    name: basename(cfg.out),
    txs: gen.txCount,
    blocks,
    bytes,
    fileBytes: files.fileBytes,
    files: files.files,
    tipHeight: tip!.height,
    tipHashHex: hashToHex(tip!.hash),
    seed: cfg.seed,
    blockTxs: cfg.blockTxs,
    swappedPairs,
    xorKeyHex: bytesToHex(key),
    seconds: Math.round(seconds * 10) / 10,
    popularScripts: popularScripts(gen),
  };
  // Written last: its presence marks a complete chain (the bench regenerates otherwise).
  writeFileSync(join(cfg.out, "meta.json"), JSON.stringify(meta, null, 2) + "\n");
  return meta;
}

function popularScripts(gen: ChainGenerator): PopularScript[] {
  const pool = gen.scripts;
  const list: PopularScript[] = [];
  for (let i = 0; i < Math.min(TRACKED, pool.size); i++) {
    const outputs = pool.counts[i]!;
    if (i >= pool.firstBody && outputs < POPULAR_MIN_SHARE * gen.txCount * 2.25) continue;
    const script = scriptBytes(pool.types[i]!, pool.payload(i));
    const sh = scriptHash(script);
    const role = i < pool.firstMiner ? `popular-${i}` : i < pool.firstBody ? `miner-${i - pool.firstMiner}` : `zipf-rank-${i - pool.firstBody}`;
    list.push({
      role,
      type: TYPE_NAMES[pool.types[i]!]!,
      scriptHex: bytesToHex(script),
      scripthashHex: bytesToHex(sh),
      electrumScripthashHex: bytesToHex(reversed(sh)),
      outputs,
    });
  }
  return list.sort((a, b) => b.outputs - a.outputs);
}

function readMeta(out: string): GeneratedMeta | undefined {
  const path = join(out, "meta.json");
  return existsSync(path) ? (JSON.parse(readFileSync(path, "utf8")) as GeneratedMeta) : undefined;
}

function runVerify(out: string): boolean {
  const t0 = performance.now();
  const meta = readMeta(out);
  const r = verifyChain(out, meta);
  const s = (performance.now() - t0) / 1000;
  console.log(
    `verify ${out}: ${r.files} files, ${r.blocks} blocks (tip ${r.tipHeight} ${r.tipHashHex}), ${r.txs} txs, ` +
      `${r.bytes} bytes, ${r.outOfOrder} out of order, ${r.inputs} inputs, ${r.outputs} outputs, ` +
      `${r.segwitTxs} segwit txs, ${r.sameBlockSpends} same-block spends, ${r.utxosAtTip} UTXOs at tip, ${s.toFixed(1)} s`,
  );
  for (const [script, h] of Object.entries(r.popularHistory)) {
    console.log(`  ${script}: ${h.outputs} outputs + ${h.spends} spends = ${h.outputs + h.spends} history rows`);
  }
  if (!meta) console.log("  (no meta.json: files checked, meta not compared)");
  for (const e of r.errors) console.log(`  ERROR ${e}`);
  console.log(r.errors.length === 0 ? "verify OK" : `verify FAILED (${r.errors.length}${r.errors.length >= 20 ? "+" : ""} errors)`);
  return r.errors.length === 0;
}

function prepareOut(out: string, force: boolean): void {
  if (!existsSync(out)) return;
  const entries = readdirSync(out);
  if (entries.length === 0) return;
  if (!force) throw new Error(`${out} is not empty (pass --force to overwrite)`);
  for (const e of entries) if (/^blk\d{5}\.dat$|^xor\.dat$|^meta\.json$/.test(e)) rmSync(join(out, e));
}

function main(args: Args): number {
  const out = stringArg(args, "out");
  if (!out) throw new Error("--out DIR is required");
  const verify = args.get("verify") === true;
  if (!args.has("txs")) {
    if (!verify) throw new Error("--txs N is required (or --verify alone to check existing files)");
    return runVerify(out) ? 0 : 1;
  }
  prepareOut(out, args.get("force") === true);
  const cfg: GenConfig = {
    out,
    txs: countArg(args, "txs"),
    seed: countArg(args, "seed", 1),
    blockTxs: countArg(args, "block-txs", 2500),
    swapRate: Number(stringArg(args, "swap-rate") ?? "0.01"),
    pad: args.get("no-pad") !== true,
  };
  console.error(`generating ${cfg.txs} txs into ${out} (seed ${cfg.seed}, ~${cfg.blockTxs} txs/block)`);
  const m = generateChain(cfg);
  console.log(
    `blocks=${m.blocks} txs=${m.txs} bytes=${m.bytes} (${(m.bytes / m.txs).toFixed(0)} B/tx, ${m.files} files, ` +
      `${m.fileBytes} on disk) seconds=${m.seconds} (${Math.round(m.txs / m.seconds)} tx/s) tip=${m.tipHashHex}`,
  );
  return verify && !runVerify(out) ? 1 : 0;
}

if (import.meta.main) {
  try {
    process.exitCode = main(parseArgs(process.argv.slice(2), ["verify", "no-pad", "force"]));
  } catch (e) {
    console.error(`gen-chain: ${(e as Error).message}`);
    process.exitCode = 2;
  }
}
