/**
 * Initial-sync benchmark of the indexer (see bench/README.md).
 *
 *   bun bench/index-bench.ts [--sizes 200k,2m] [--binary] [--keep-db] [--verbose]
 *                            [--seed 1] [--block-txs 2500] [--timeout 7200] [--db-cache-mb N]
 *
 * For each size: generate bench/data/chain-<size> if missing, run the indexer as a user would
 * (a separate process, offline, against the blk files), and when it logs
 * `initial sync complete: height=H txs=T bytes=B seconds=S` read its peak RSS, stop it with
 * the RSS it serves with once started, stop it with SIGTERM and measure the database it left.
 * `--db-cache-mb` is passed to the indexer (a small value makes the 20M chain spill).
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { numberArg, parseArgs, parseCount, stringArg, type Args } from "./lib/args.ts";
import { eachLine } from "./lib/server-process.ts";
import { dirSize, machineInfo, procMemBytes, type MachineInfo } from "./lib/machine.ts";

const ROOT = resolve(import.meta.dir, "..");
const DATA = join(ROOT, "bench", "data");
const SYNC_LINE = /initial sync complete:\s*height=(\d+)\s+txs=(\d+)\s+bytes=(\d+)\s+seconds=([\d.]+)/;
/** `initial sync phases: load=12.3 gc=0.4 …` (src/index/sync.ts finishInitialSync). */
const PHASES_LINE = /initial sync phases: (.*)$/;
const UTXO_LINE = /UTXO table: (.*)$/;
const SERVING_LINE = /startup complete/;
/** RSS while serving is read this long after the server says it started (the sync's memory is given back by then). */
const SERVING_SETTLE_MS = 3000;
/** The tx/s of the largest size over the smallest must stay at or above this (issue: 80 %). */
const TARGET_RATIO = 0.8;
const STOP_TIMEOUT_MS = 120_000;
const TAIL_LINES = 40;

interface Options {
  sizes: { label: string; txs: number }[];
  binary: boolean;
  keepDb: boolean;
  verbose: boolean;
  seed: number;
  blockTxs: number;
  timeoutMs: number;
  /** Script run instead of src/main.ts (harness self-test with bench/lib/fake-indexer.ts). */
  entry: string;
  /** --db-cache-mb for the indexer (its default when absent). */
  dbCacheMb: number | null;
}

interface ChainInfo {
  dir: string;
  txs: number;
  bytes: number;
  tipHeight: number;
}

interface RunResult {
  label: string;
  chainTxs: number;
  height: number;
  txs: number;
  blockBytes: number;
  /** As reported by the indexer (its own sync timer). */
  seconds: number;
  /** From spawn to the sync line: includes process start-up and opening the store. */
  wallSeconds: number;
  peakRssBytes: number;
  /** VmRSS a few seconds after the server started serving (0 when it did not say so in time). */
  servingRssBytes: number;
  /** Seconds per phase, from the indexer's phases line. */
  phases: Record<string, number>;
  utxoTable: string;
  dbBytes: number;
  dbAllocatedBytes: number;
  exitCode: number | null;
  warnings: string[];
}

function options(args: Args): Options {
  const sizes = (stringArg(args, "sizes") ?? "200k,2m").split(",").map((s) => {
    const label = s.trim().toLowerCase();
    return { label, txs: parseCount(label) };
  });
  return {
    sizes,
    binary: args.get("binary") === true,
    keepDb: args.get("keep-db") === true,
    verbose: args.get("verbose") === true,
    seed: parseCount(stringArg(args, "seed") ?? "1"),
    blockTxs: parseCount(stringArg(args, "block-txs") ?? "2500"),
    timeoutMs: Number(stringArg(args, "timeout") ?? "7200") * 1000,
    entry: stringArg(args, "entry") ?? "src/main.ts",
    dbCacheMb: stringArg(args, "db-cache-mb") === undefined ? null : numberArg(args, "db-cache-mb", 0, "positive integer"),
  };
}

/** Generates the chain unless a complete one (meta.json written last) with the same parameters exists. */
async function ensureChain(label: string, txs: number, opts: Options): Promise<ChainInfo> {
  const dir = join(DATA, `chain-${label}`);
  const metaPath = join(dir, "meta.json");
  let meta = existsSync(metaPath) ? JSON.parse(readFileSync(metaPath, "utf8")) : undefined;
  if (!meta || meta.txs !== txs || meta.seed !== opts.seed || meta.blockTxs !== opts.blockTxs) {
    console.log(`generating ${dir} (${txs} txs)…`);
    const cmd = [process.execPath, "bench/gen-chain.ts", "--txs", String(txs), "--out", dir, "--force"];
    cmd.push("--seed", String(opts.seed), "--block-txs", String(opts.blockTxs));
    const proc = Bun.spawn(cmd, { cwd: ROOT, stdout: "inherit", stderr: "inherit" });
    if ((await proc.exited) !== 0) throw new Error(`chain generation failed for ${label}`);
    meta = JSON.parse(readFileSync(metaPath, "utf8"));
  }
  return { dir, txs: meta.txs, bytes: meta.bytes, tipHeight: meta.tipHeight };
}

function indexerCommand(opts: Options, blocksDir: string, dbDir: string): string[] {
  const flags = [
    "--offline",
    "--network", "regtest",
    "--blocks-dir", blocksDir,
    "--db-dir", dbDir,
    "--monitoring-addr", "127.0.0.1:0",
    "--http-addr", "127.0.0.1:0",
    "--electrum-rpc-addr", "127.0.0.1:0",
    ...(opts.dbCacheMb !== null ? ["--db-cache-mb", String(opts.dbCacheMb)] : []),
  ];
  if (opts.binary) {
    const bin = join(ROOT, "dist", "electrs-bun");
    if (!existsSync(bin)) throw new Error(`${bin} not found: run npm run build first`);
    return [bin, ...flags];
  }
  return [process.execPath, opts.entry, ...flags];
}

async function runIndexer(label: string, chain: ChainInfo, opts: Options): Promise<RunResult> {
  const dbDir = join(DATA, `db-${label}`);
  rmSync(dbDir, { recursive: true, force: true }); // always a fresh initial sync
  mkdirSync(dbDir, { recursive: true });
  const cmd = indexerCommand(opts, chain.dir, dbDir);
  console.log(`\n[${label}] ${cmd.map((c) => c.replace(ROOT + "/", "")).join(" ")}`);

  const tail: string[] = [];
  let sync: RegExpExecArray | null = null;
  let peakRss = 0;
  let wallSeconds = 0;
  let servingRss = 0;
  let phases: Record<string, number> = {};
  let utxoTable = "";
  let resolveServing!: () => void;
  const serving = new Promise<void>((r) => (resolveServing = r));
  const t0 = performance.now();
  const proc = Bun.spawn(cmd, { cwd: ROOT, stdout: "pipe", stderr: "pipe" });

  let resolveSynced!: () => void;
  const synced = new Promise<void>((r) => (resolveSynced = r));
  const onLine = (line: string): void => {
    if (opts.verbose) console.log(`  | ${line}`);
    tail.push(line);
    if (tail.length > TAIL_LINES) tail.shift();
    const ph = PHASES_LINE.exec(line);
    if (ph) phases = Object.fromEntries(ph[1]!.trim().split(/\s+/).map((kv) => kv.split("=")).map(([k, v]) => [k!, Number(v)]));
    const ut = UTXO_LINE.exec(line);
    if (ut) utxoTable = ut[1]!;
    if (sync && SERVING_LINE.test(line)) resolveServing();
    const m = sync ? null : SYNC_LINE.exec(line);
    if (!m) return;
    // Read the peak before anything else can happen: VmHWM is the whole run's high-water mark.
    wallSeconds = (performance.now() - t0) / 1000;
    peakRss = procMemBytes(proc.pid, "VmHWM") ?? 0;
    sync = m;
    resolveSynced();
  };
  // The sync line is expected on stderr, but logs are scanned on both streams.
  const reading = Promise.all([eachLine(proc.stderr, onLine), eachLine(proc.stdout, onLine)]);

  const timer = setTimeout(() => proc.kill("SIGKILL"), opts.timeoutMs);
  await Promise.race([synced, proc.exited]);
  clearTimeout(timer);
  if (!sync) {
    await proc.exited;
    await reading;
    console.log(tail.map((l) => `  | ${l}`).join("\n"));
    throw new Error(`[${label}] indexer exited (code ${proc.exitCode}, signal ${proc.signalCode}) before "initial sync complete"`);
  }

  const warnings: string[] = [];
  const settled = await Promise.race([serving.then(() => true), Bun.sleep(STOP_TIMEOUT_MS).then(() => false)]);
  if (settled) {
    await Bun.sleep(SERVING_SETTLE_MS);
    servingRss = procMemBytes(proc.pid, "VmRSS") ?? 0;
  } else {
    warnings.push("the server did not report that it serves: no serving RSS");
  }
  proc.kill("SIGTERM");
  const stopped = await Promise.race([proc.exited.then(() => true), Bun.sleep(STOP_TIMEOUT_MS).then(() => false)]);
  if (!stopped) {
    warnings.push(`did not exit within ${STOP_TIMEOUT_MS / 1000} s of SIGTERM: killed`);
    proc.kill("SIGKILL");
    await proc.exited;
  } else if (proc.exitCode !== 0) {
    warnings.push(`exit code ${proc.exitCode} (signal ${proc.signalCode ?? "none"}) after SIGTERM`);
  }
  await reading;

  const m = sync as RegExpExecArray;
  const result: RunResult = {
    label,
    chainTxs: chain.txs,
    height: Number(m[1]),
    txs: Number(m[2]),
    blockBytes: Number(m[3]),
    seconds: Number(m[4]),
    wallSeconds,
    peakRssBytes: peakRss,
    servingRssBytes: servingRss,
    phases,
    utxoTable,
    ...dbSizes(dbDir),
    exitCode: proc.exitCode,
    warnings,
  };
  if (result.height !== chain.tipHeight) warnings.push(`indexed height ${result.height}, chain tip is ${chain.tipHeight}`);
  if (result.txs !== chain.txs) warnings.push(`indexed ${result.txs} txs, chain has ${chain.txs}`);
  if (result.blockBytes !== chain.bytes) warnings.push(`indexed ${result.blockBytes} block bytes, chain has ${chain.bytes}`);
  if (!opts.keepDb) rmSync(dbDir, { recursive: true, force: true });
  else console.log(`[${label}] database kept in ${dbDir}`);
  for (const w of warnings) console.log(`[${label}] WARNING ${w}`);
  return result;
}

function dbSizes(dbDir: string): { dbBytes: number; dbAllocatedBytes: number } {
  const s = dirSize(dbDir);
  return { dbBytes: s.bytes, dbAllocatedBytes: s.allocated };
}

function txPerSecond(r: RunResult): number {
  return r.seconds > 0 ? r.txs / r.seconds : 0;
}

function printTable(results: RunResult[]): void {
  const rows = [
    ["size", "txs", "seconds", "wall s", "tx/s", "MB/s", "peak RSS MiB", "serving RSS MiB", "DB bytes/tx", "DB MiB", "phases (s)"],
    ...results.map((r) => [
      r.label,
      String(r.txs),
      r.seconds.toFixed(1),
      r.wallSeconds.toFixed(1),
      Math.round(txPerSecond(r)).toString(),
      (r.blockBytes / 1e6 / r.seconds).toFixed(2),
      (r.peakRssBytes / 2 ** 20).toFixed(0),
      (r.servingRssBytes / 2 ** 20).toFixed(0),
      (r.dbBytes / r.txs).toFixed(1),
      (r.dbBytes / 2 ** 20).toFixed(0),
      Object.entries(r.phases).map(([k, v]) => `${k} ${v}`).join(", "),
    ]),
  ];
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((row) => row[c]!.length)));
  console.log("");
  for (const [i, row] of rows.entries()) {
    const last = row.length - 1;
    console.log(row.map((cell, c) => (c === 0 || c === last ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join("  "));
    if (i === 0) console.log(widths.map((w) => "-".repeat(w)).join("  "));
  }
  for (const r of results) if (r.utxoTable) console.log(`[${r.label}] UTXO table: ${r.utxoTable}`);
}

/** tx/s of the largest run relative to the smallest: the indexer must not slow down as the DB grows. */
function printRatio(results: RunResult[]): number | undefined {
  if (results.length < 2) return undefined;
  const sorted = [...results].sort((a, b) => a.txs - b.txs);
  const small = sorted[0]!;
  const large = sorted[sorted.length - 1]!;
  const ratio = txPerSecond(large) / txPerSecond(small);
  const verdict = ratio >= TARGET_RATIO ? "OK" : "BELOW TARGET";
  console.log(`\ntx/s(${large.label}) / tx/s(${small.label}) = ${(ratio * 100).toFixed(1)} %  (target ≥ ${TARGET_RATIO * 100} %: ${verdict})`);
  return ratio;
}

function printMachine(m: MachineInfo): void {
  console.log(`machine: ${m.nproc} CPUs (nproc), ${m.cpuModel}, ${m.ramGiB} GiB RAM, Linux ${m.kernel}, Bun ${m.bun}`);
  if (m.loadAvg1m > 0.5 * m.nproc) {
    console.log(`warning: load average ${m.loadAvg1m.toFixed(2)} at start: other processes compete for the CPUs`);
  }
}

async function main(): Promise<number> {
  const opts = options(parseArgs(process.argv.slice(2), ["binary", "keep-db", "verbose"]));
  const machine = machineInfo();
  printMachine(machine);
  mkdirSync(DATA, { recursive: true });
  const results: RunResult[] = [];
  for (const { label, txs } of opts.sizes) {
    const chain = await ensureChain(label, txs, opts);
    const r = await runIndexer(label, chain, opts);
    results.push(r);
    console.log(`[${label}] ${r.txs} txs in ${r.seconds} s: ${Math.round(txPerSecond(r))} tx/s`);
  }
  printTable(results);
  const ratio = printRatio(results);
  printMachine(machine);
  const out = join(DATA, "last-results.json");
  writeFileSync(out, JSON.stringify({ date: new Date().toISOString(), machine, binary: opts.binary, results, ratio }, null, 2) + "\n");
  console.log(`results saved to ${out.replace(ROOT + "/", "")}`);
  return results.some((r) => r.warnings.length > 0) ? 1 : 0;
}

try {
  process.exitCode = await main();
} catch (e) {
  console.error(`index-bench: ${(e as Error).message}`);
  process.exitCode = 2;
}
