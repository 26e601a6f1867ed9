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
 * the Electrum notifications start from; the status of each subscribed script is a history query,
 * bench:electrum's concern). When the live tail is due a merge (store/recent.ts) it runs it, as the
 * main loop does between blocks, and prints its cost apart.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { join, resolve } from "node:path";
import { hashToHex, hexToBytes } from "../src/bitcoin/bytes.ts";
import { NETWORKS } from "../src/bitcoin/network.ts";
import { listBlkFiles, openBlockReader, readXorKey } from "../src/daemon/blkfiles.ts";
import { offlineSource, openBlkFileIndex } from "../src/daemon/sources.ts";
import { Indexer, noopSyncMetrics, type SyncMetrics } from "../src/index/sync.ts";
import { createLogger } from "../src/log.ts";
import { PendingElectrumUpdate } from "../src/electrum/pending-update.ts";
import { openDb } from "../src/store/db.ts";
import { openRecentLevel } from "../src/store/recent.ts";
import { scriptKeyOf } from "../src/store/rows.ts";
import { countArg, parseArgs, stringArg } from "./lib/args.ts";
import { machineInfo, procField } from "./lib/machine.ts";
import { buildNextBlock, publishBlockFile, type Payment, type Utxo } from "./lib/next-block.ts";

const ROOT = resolve(import.meta.dir, "..");
const args = parseArgs(process.argv.slice(2), []);
const size = stringArg(args, "size") ?? "20m";
const txsPerBlock = countArg(args, "txs", 4000);
const blocks = countArg(args, "blocks", 3);
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
const indexer = new Indexer(db, log, metrics, { indexUnspendables: false, blkFiles });
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
const liveTail = openRecentLevel(db);
const recentRows = () => liveTail.countRows();
let lastMergeBlock = 0;
const io = () => ({ read: Number(procField("/proc/self/io", "read_bytes")), write: Number(procField("/proc/self/io", "write_bytes")) });

console.log(`machine: ${JSON.stringify(machineInfo())}`);
let tip = indexer.reader.tip()!;
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
  steps.clear();
  const t0 = performance.now();
  const r = await indexer.update(source);
  const tIndexed = performance.now();
  // What the main loop does next for Electrum clients: the script keys the block touched (collected
  // while indexing it), the input of every subscription's status check.
  const pending = new PendingElectrumUpdate();
  pending.record(r);
  const touched = pending.take(new Set()).touchedScriptKeysHex.size;
  const ms = performance.now() - t0;
  const after = io();
  tip = indexer.reader.tip()!;
  console.log(
    `block ${b + 1} (${b === 0 ? "cold" : "warm"}): height ${r.tipHeight}, ${r.txsAdded} txs indexed and committed in ${(tIndexed - t0).toFixed(0)} ms, ` +
      `${touched} touched scripts found in ${(performance.now() - tIndexed).toFixed(0)} ms: ${ms.toFixed(0)} ms in all; ` +
      `read ${mib(after.read - before.read)} MiB, wrote ${mib(after.write - before.write)} MiB; live tail ${recentRows()} rows`,
  );
  console.log(`  steps (ms): ${[...steps].map(([k, v]) => `${k} ${v.toFixed(0)}`).join(", ")}`);
  // The main loop merges the live tail between blocks once it is due (store/recent.ts): its cost is
  // shown apart, and spread over the blocks since the last merge.
  if (indexer.mergeDue) {
    const m0 = performance.now();
    const ioBefore = io();
    indexer.mergeIfDue();
    const ioAfter = io();
    const blocksSince = b + 1 - lastMergeBlock;
    lastMergeBlock = b + 1;
    console.log(
      `  merge of the live tail after ${blocksSince} blocks: ${(performance.now() - m0).toFixed(0)} ms, ` +
        `read ${mib(ioAfter.read - ioBefore.read)} MiB, wrote ${mib(ioAfter.write - ioBefore.write)} MiB ` +
        `(${mib((ioAfter.write - ioBefore.write) / blocksSince)} MiB per block)`,
    );
  }
}
liveTail.finalize();
indexer.close();
source.close();
blkFiles.close();
db.close();
