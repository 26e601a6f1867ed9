/**
 * Live blocks on a big index: how long one new block of N payments takes to be indexed and
 * committed once the initial sync is done, and how many bytes the process reads and writes for it.
 *
 *   bun bench/live-block-bench.ts [--size 20m] [--txs 4000] [--blocks 3]
 *
 * Needs bench/data/db-<size> left by `bun bench/index-bench.ts --sizes <size> --keep-db`. The new
 * blocks spend real unspent outputs of the chain's popular scripts (read from the index) and are
 * written as new blk files into a directory of links to bench/data/chain-<size>'s files, so the
 * chain itself is not changed; the index is (it is a bench artifact: re-run index-bench to reset).
 * The indexer runs in this process, as the server's main loop runs it (offline source, one update
 * per block); the first block is the cold one (nothing of the index in the page cache but what the
 * sync left), the others warm. After each block it finds the script keys the block touched (what
 * the Electrum notifications start from) and computes each one's new status as if a client had
 * subscribed to it before the blocks (query/status-cache.ts keeps them up to date). When a level
 * is due a merge (store/levels.ts, store/recent.ts) it runs it, as the main loop does between
 * blocks, and prints its cost apart: rows moved, rows the target level held, MiB written. At the end it prints what a block costs in all with its merges
 * spread over it: its own writes, plus for each level a row passes on its way to the base the
 * bytes its merges write per row (measured here, in the regime the levels are sized for: a target
 * with many rows per page of it), with the arithmetic.
 *
 *   --tail-rows N   --db-live-tail-rows (default 400k)
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { join, resolve } from "node:path";
import { hashToHex, hexToBytes } from "../src/bitcoin/bytes.ts";
import { NETWORKS } from "../src/bitcoin/network.ts";
import { listBlkFiles, openBlockReader, readXorKey } from "../src/daemon/blkfiles.ts";
import { offlineSource, openBlkFileIndex } from "../src/daemon/sources.ts";
import { DEFAULT_RECENT_MERGE_ROWS, Indexer, noopSyncMetrics, type SyncMetrics } from "../src/index/sync.ts";
import { BASE_LEVEL, LEVEL_FANOUT, MIDDLE_LEVELS } from "../src/store/levels.ts";
import { createLogger } from "../src/log.ts";
import { PendingElectrumUpdate } from "../src/electrum/pending-update.ts";
import { Mempool } from "../src/mempool/mempool.ts";
import { mempoolChainOf, offlineMempoolNode } from "../src/mempool/follow.ts";
import { noopMempoolMetrics } from "../src/mempool/metrics.ts";
import { StatusCache } from "../src/query/status-cache.ts";
import { openDb } from "../src/store/db.ts";
import { scriptKeyOf } from "../src/store/rows.ts";
import { countArg, parseArgs, stringArg } from "./lib/args.ts";
import { machineInfo, procField } from "./lib/machine.ts";
import { buildNextBlock, publishBlockFile, type Payment, type Utxo } from "./lib/next-block.ts";

const ROOT = resolve(import.meta.dir, "..");
const args = parseArgs(process.argv.slice(2), []);
const size = stringArg(args, "size") ?? "20m";
const txsPerBlock = countArg(args, "txs", 4000);
const blocks = countArg(args, "blocks", 3);
const tailRows = countArg(args, "tail-rows", DEFAULT_RECENT_MERGE_ROWS);
const chainDir = join(ROOT, "bench", "data", `chain-${size}`);
const dbDir = join(ROOT, "bench", "data", `db-${size}`, "regtest");
if (!existsSync(join(dbDir, "index.sqlite"))) throw new Error(`${dbDir} not found: run bun bench/index-bench.ts --sizes ${size} --keep-db first`);

const meta = JSON.parse(readFileSync(join(chainDir, "meta.json"), "utf8")) as { popularScripts: { role: string; scriptHex: string }[] };
const linkDir = join(ROOT, "bench", "data", `live-${size}`);
rmSync(linkDir, { recursive: true, force: true });
mkdirSync(linkDir, { recursive: true });
for (const name of readdirSync(chainDir)) if (/^blk\d+\.dat$|^xor\.dat$/.test(name)) symlinkSync(join(chainDir, name), join(linkDir, name));

const log = createLogger({ verbosity: 0, timestamp: false }, "live-bench");
const db = openDb({ dir: dbDir, network: "regtest", log });
const blkFiles = openBlockReader(linkDir, readXorKey(linkDir), { maxOpenFiles: 8 });
// The indexer's own timing of each step of a block (fetch, parse, index, commit), summed per block.
const steps = new Map<string, number>();
const metrics: SyncMetrics = { ...noopSyncMetrics, observeStep: (step, seconds) => void steps.set(step, (steps.get(step) ?? 0) + seconds * 1000) };
const indexer = new Indexer(db, log, metrics, { indexUnspendables: false, blkFiles, recentMergeRows: tailRows });
if (!indexer.initialSyncDone) throw new Error("the index's initial sync is not done");
const files = openBlkFileIndex(linkDir, NETWORKS.regtest.magic, log);
const source = offlineSource(files, NETWORKS.regtest.genesisHashHex, log);
await source.bestTip();

// Unspent outputs of the popular scripts, newest pages of the unspent table.
const scripts = meta.popularScripts.filter((p) => p.role.startsWith("popular") || p.role.startsWith("zipf"));
const utxos: Utxo[] = [];
for (const s of scripts) {
  for (const u of indexer.reader.utxosPage(scriptKeyOf(hexToBytes(s.scriptHex)), null, Math.ceil((txsPerBlock * blocks) / scripts.length) + 10)) {
    utxos.push({ txidHex: hashToHex(u.txid), vout: u.vout, valueSat: u.valueSat, scriptHex: s.scriptHex });
  }
}
if (utxos.length < txsPerBlock * blocks) throw new Error(`only ${utxos.length} unspent outputs found for ${txsPerBlock * blocks} payments`);

const mib = (bytes: number) => (bytes / 1048576).toFixed(1);
const recentRows = () => indexer.levelRows[0]!;
let lastMergeBlock = 0;
/** Each merge run: its level, rows moved, rows its target level held before, bytes written, ms. */
const merges: { level: number; moved: number; target: number; written: number; ms: number }[] = [];
const blockWrites: number[] = [];
const blockRows: number[] = [];
const blockMs: number[] = [];
const io = () => ({ read: Number(procField("/proc/self/io", "read_bytes")), write: Number(procField("/proc/self/io", "write_bytes")) });

console.log(`machine: ${JSON.stringify(machineInfo())}`);
// The scripts the new blocks touch, subscribed before them: their statuses read whole once (as a
// subscription does), then kept up to date by each block. The mempool is empty (offline).
const mempoolChain = mempoolChainOf(indexer.reader, () => indexer.reader.tip()?.hash ?? null);
const mempool = new Mempool({ node: offlineMempoolNode(mempoolChain), chain: mempoolChain, log, metrics: noopMempoolMetrics(), indexUnspendables: false });
const statuses = new StatusCache(indexer.reader);
{
  const t = performance.now();
  const subscribed = [...new Set([...scripts.map((p) => p.scriptHex), scripts[0]!.scriptHex])];
  let entries = 0;
  for (const hex of subscribed) entries += statuses.status(scriptKeyOf(hexToBytes(hex)), mempool, 0).status === null ? 0 : 1;
  console.log(`subscribed ${subscribed.length} scripts (${entries} with a history): their statuses read whole in ${(performance.now() - t).toFixed(0)} ms`);
}
let tip = indexer.reader.tip()!;
const baseTxs = indexer.reader.txCount();
let fileIndex = listBlkFiles(linkDir).at(-1)!.index + 1;
const xorKey = readXorKey(linkDir) ?? new Uint8Array(8);
for (let b = 0; b < blocks; b++) {
  const payments: Payment[] = utxos.slice(b * txsPerBlock, (b + 1) * txsPerBlock).map((spend, i) => ({
    spend,
    payToScriptHex: scripts[(i + b + 1) % scripts.length]!.scriptHex,
  }));
  const header = tip.header;
  const time = new DataView(header.buffer, header.byteOffset).getUint32(68, true);
  const block = buildNextBlock({ prevHash: tip.hash, height: tip.height + 1, time: time + 600, minerScriptHex: scripts[0]!.scriptHex, payments, seed: 1000 + b });
  publishBlockFile(linkDir, fileIndex++, xorKey, block.bytes);
  const before = io();
  const tailBefore = recentRows();
  steps.clear();
  const t0 = performance.now();
  const r = await indexer.update(source);
  const tIndexed = performance.now();
  // What the main loop does next for Electrum clients: the script keys the block touched (collected
  // while indexing it), the input of every subscription's status check.
  const pending = new PendingElectrumUpdate();
  pending.record(r);
  const touchedHex = pending.take(new Set()).touchedScriptKeysHex;
  const touched = touchedHex.size;
  const tFound = performance.now();
  // Every touched script as if a client had subscribed to it: its new status (what a notification
  // sends), from the statuses kept since the subscription (query/status-cache.ts).
  for (const hex of touchedHex) statuses.status(hexToBytes(hex), mempool, 0);
  const tStatus = performance.now();
  const ms = performance.now() - t0;
  const after = io();
  tip = indexer.reader.tip()!;
  if (b > 0) {
    blockWrites.push(after.write - before.write);
    blockMs.push(ms);
  }
  blockRows.push(recentRows() - tailBefore);
  console.log(
    `block ${b + 1} (${b === 0 ? "cold" : "warm"}): height ${r.tipHeight}, ${r.txsAdded} txs indexed and committed in ${(tIndexed - t0).toFixed(0)} ms, ` +
      `${touched} touched scripts found in ${(tFound - tIndexed).toFixed(0)} ms, their statuses in ${(tStatus - tFound).toFixed(0)} ms: ${ms.toFixed(0)} ms in all; ` +
      `read ${mib(after.read - before.read)} MiB, wrote ${mib(after.write - before.write)} MiB; live tail ${recentRows()} rows`,
  );
  console.log(`  steps (ms): ${[...steps].map(([k, v]) => `${k} ${v.toFixed(0)}`).join(", ")}`);
  // The main loop runs the merges between blocks once one is due: each one's cost is shown apart.
  while (indexer.mergeDue) {
    const m0 = performance.now();
    const ioBefore = io();
    const rowsBefore = [...indexer.levelRows];
    while (!indexer.mergeStep());
    const level = indexer.lastMergeLevel!;
    const ioAfter = io();
    const moved = rowsBefore[level]!;
    // The base's rows: what the index had before the live blocks, rows per tx as they came.
    const target = level + 1 < BASE_LEVEL ? rowsBefore[level + 1]! : Math.round(baseTxs * (blockRows.reduce((a, n) => a + n, 0) / (txsPerBlock * blockRows.length)));
    const m = { level, moved, target, written: ioAfter.write - ioBefore.write, ms: performance.now() - m0 };
    merges.push(m);
    const blocksSince = b + 1 - lastMergeBlock;
    if (level === 0) lastMergeBlock = b + 1;
    console.log(
      `  merge of level ${level} into ${level + 1 === BASE_LEVEL ? "the base" : `level ${level + 1}`} (${level === 0 ? `after ${blocksSince} blocks, ` : ""}` +
        `${moved} rows into ${target}): ${m.ms.toFixed(0)} ms, read ${mib(ioAfter.read - ioBefore.read)} MiB, wrote ${mib(m.written)} MiB ` +
        `(${(m.written / moved).toFixed(0)} B per row moved, ${(m.written / (moved + target)).toFixed(1)} B per row of the merged level)`,
    );
  }
}

// What a block costs in all. A row passes MIDDLE_LEVELS + 1 merges on its way to the base. A merge
// of T rows into a level of S rows writes about a·T + b·S bytes: a per row moved (its new place,
// the source's freed pages, the WAL), b per row of the target (whose pages it rewrites: with
// S/T ≤ LEVEL_FANOUT each target page gets many rows). a and b are fitted (least squares) to the
// merges measured above. A middle level receives LEVEL_FANOUT merges of T before its own (S = 0,
// T, …, (f − 1)·T), so per row moved it costs a + b·(f − 1)/2 on average; the merge into the base
// costs a + b·B/T, with B the base's rows then and T the last middle level's size.
const median = (xs: number[]) => (xs.length === 0 ? NaN : [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!);
function fit(ms: typeof merges): { a: number; b: number } | null {
  let tt = 0, ts = 0, ss = 0, tw = 0, sw = 0;
  for (const m of ms) {
    tt += m.moved * m.moved;
    ts += m.moved * m.target;
    ss += m.target * m.target;
    tw += m.moved * m.written;
    sw += m.target * m.written;
  }
  const det = tt * ss - ts * ts;
  if (ms.length < 2 || Math.abs(det) < 1e-9 * tt * ss) return null;
  return { a: (tw * ss - sw * ts) / det, b: (sw * tt - tw * ts) / det };
}
const model = fit(merges);
const rowsPerBlock = median(blockRows);
const own = median(blockWrites);
const f = LEVEL_FANOUT;
const lastMiddleRows = tailRows * f ** MIDDLE_LEVELS;
console.log(
  `\nwarm blocks: ${blockMs.length}, median ${median(blockMs).toFixed(0)} ms, max ${Math.max(...blockMs).toFixed(0)} ms; ` +
    `own writes median ${mib(own)} MiB, max ${mib(Math.max(...blockWrites))} MiB; ${rowsPerBlock} rows a block`,
);
if (!model) console.log("fewer than two merges into levels of different sizes: more --blocks (or a smaller --tail-rows) to fit a and b");
else {
  const { a, b } = model;
  const worst = Math.max(...merges.map((m) => Math.abs(m.written - a * m.moved - b * m.target) / m.written));
  console.log(`fit over ${merges.length} merges (S/T up to ${Math.max(...merges.map((m) => m.target / m.moved)).toFixed(1)}): a = ${a.toFixed(1)} B per row moved, b = ${b.toFixed(1)} B per row of the target; worst misfit ${(worst * 100).toFixed(0)} %`);
  // Where whole cycles of the live tail's merges ran (f merges into a level that was empty before
  // the first), their bytes per row moved are the middle levels' cost measured, not modelled.
  const cycles: number[] = [];
  for (let i = 0; i + f <= merges.length; i++) {
    const run = merges.slice(i, i + f);
    if (run[0]!.target !== 0 || !run.every((m) => m.level === run[0]!.level)) continue;
    cycles.push(run.reduce((n, m) => n + m.written, 0) / run.reduce((n, m) => n + m.moved, 0));
  }
  const fitted = a + (b * (f - 1)) / 2;
  const perRowMiddle = cycles.length > 0 ? Math.max(...cycles) : fitted;
  console.log(
    `a middle level's whole cycle (S = 0 … ${f - 1}·T): ${cycles.length > 0 ? `${cycles.map((c) => c.toFixed(0)).join(", ")} B per row moved, measured` : "not seen in this run"}; ` +
      `the fit gives ${fitted.toFixed(0)} B; ${perRowMiddle.toFixed(0)} B used below`,
  );
  for (const [name, baseRows] of [
    ["this index", Math.round(baseTxs * (rowsPerBlock / txsPerBlock))],
    ["mainnet (1.2G txs)", Math.round(1.2e9 * (rowsPerBlock / txsPerBlock))],
  ] as const) {
    const perRowBase = a + (b * baseRows) / lastMiddleRows;
    const merged = rowsPerBlock * (MIDDLE_LEVELS * perRowMiddle + perRowBase);
    console.log(
      `${name}: base ~${(baseRows / 1e6).toFixed(0)}M rows; per block ${mib(own)} MiB own + ${rowsPerBlock} rows × ` +
        `(${MIDDLE_LEVELS} middle merges × ${perRowMiddle.toFixed(0)} B + base merge ${perRowBase.toFixed(0)} B) = ${mib(own)} + ${mib(merged)} = ${mib(own + merged)} MiB`,
    );
  }
}
indexer.close();
source.close();
blkFiles.close();
db.close();
