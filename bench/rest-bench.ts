/**
 * Esplora REST benchmark (see bench/README.md): req/s and p50/p99 latency of the compiled binary
 * under wrk, beside the same wrk run against a minimal Bun.serve returning a fixed JSON body (the
 * ceiling of this machine).
 *
 *   bun bench/rest-bench.ts [--chain bench/data/chain-2m] [--binary FILE] [--threads 2]
 *                           [--connections 32] [--duration 10] [--warmup 2] [--timeout 30]
 *                           [--cases tx,addr-hot,…] [--hot-role popular-1] [--hot-min 100k]
 *                           [--small-max 10] [--retries 2] [--reindex] [--verbose] [--self-test]
 *                           [--rest-tx-cache-mb N]   (passed to the server; 0: every tx answer rendered cold)
 *                           [--serve-workers 1,2]    (each case with each --serve-workers; default 1 and the core count)
 *
 * On a shared machine each run waits (≤ 30 s) for the other processes to use less than a quarter
 * of a core, and a case is run again (≤ --retries times) when they took more than half a core
 * during it; the run they disturbed least is kept.
 *
 * --self-test runs every case against the fixed-JSON server instead of the binary (the harness
 * on its own: no build, no index).
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import { addressOf } from "../src/bitcoin/address.ts";
import { bytesToHex, hexToBytes } from "../src/bitcoin/bytes.ts";
import { scriptHash } from "../src/bitcoin/hash.ts";
import { NETWORKS } from "../src/bitcoin/network.ts";
import type { GeneratedMeta, PopularScript } from "./gen-chain.ts";
import { numberArg, parseArgs, parseCount, stringArg, workersList, type Args } from "./lib/args.ts";
import { DEFAULT_SAMPLE, loadOrBuildSample, type ChainSample } from "./lib/chain-sample.ts";
import { binaryId, ensureBinary } from "./lib/app-binary.ts";
import { FIXED_BODY } from "./lib/fixed-json-server.ts";
import { machineInfo, type MachineInfo } from "./lib/machine.ts";
import { freePort, machineCpuSeconds, ServerProcess } from "./lib/server-process.ts";
import { errorCount, findWrk, runWrk, WRK_INSTALL_HINT, type WrkResult } from "./lib/wrk.ts";

const ROOT = resolve(import.meta.dir, "..");
const DATA = join(ROOT, "bench", "data");
/** The binary's readiness line (`REST server running on HOST:PORT`; the older wording is accepted too). */
const REST_LINE = /REST server running on (\S+)|startup complete: REST on (\S+)/;
const NETWORK = NETWORKS.regtest;
/** Small scripts the parameterised cases rotate over. */
const SMALL_SCRIPTS = 200;

interface Options {
  chainDir: string;
  binary: string | undefined;
  threads: number;
  connections: number;
  durationSeconds: number;
  warmupSeconds: number;
  timeoutSeconds: number;
  cases: string[] | undefined;
  hotRole: string | undefined;
  hotMin: number;
  smallMax: number;
  reindex: boolean;
  verbose: boolean;
  selfTest: boolean;
  indexTimeoutMs: number;
  out: string;
  /** Extra runs of a case when the rest of the machine used more than retryAboveOther of a core. */
  retries: number;
  retryAboveOther: number;
  /** Before each run, wait (≤ 30 s) until the rest of the machine uses less than this much of a core. */
  quietMaxOther: number;
  /** --rest-tx-cache-mb for the server (its default when absent; 0: every answer rendered cold). */
  restTxCacheMb: number | null;
  /** The server is started once per value, with --serve-workers set to it. */
  serveWorkers: number[];
}

function options(args: Args): Options {
  const num = (name: string, fallback: number): number => numberArg(args, name, fallback, "positive");
  return {
    chainDir: resolve(ROOT, stringArg(args, "chain") ?? "bench/data/chain-2m"),
    binary: stringArg(args, "binary"),
    threads: num("threads", 2),
    connections: num("connections", 32),
    durationSeconds: num("duration", 10),
    warmupSeconds: args.has("warmup") ? Number(stringArg(args, "warmup")) : 2,
    timeoutSeconds: num("timeout", 30),
    cases: stringArg(args, "cases")?.split(",").map((s) => s.trim()),
    hotRole: stringArg(args, "hot-role"),
    hotMin: parseCount(stringArg(args, "hot-min") ?? "100k"),
    smallMax: num("small-max", 10),
    reindex: args.get("reindex") === true,
    verbose: args.get("verbose") === true,
    selfTest: args.get("self-test") === true,
    indexTimeoutMs: num("index-timeout", 7200) * 1000,
    out: resolve(ROOT, stringArg(args, "out") ?? "bench/data/rest-results.json"),
    retries: args.has("retries") ? Number(stringArg(args, "retries")) : 2,
    retryAboveOther: 0.5,
    quietMaxOther: 0.25,
    restTxCacheMb: args.has("rest-tx-cache-mb") ? numberArg(args, "rest-tx-cache-mb", 0, "non-negative") : null,
    serveWorkers: workersList(stringArg(args, "serve-workers")),
  };
}


// ---------------------------------------------------------------------------------------------
// Binary and index

interface IndexMarker {
  chain: string;
  tipHashHex: string;
  txs: number;
  binary: string;
  indexedAt: string;
  /** Spawn to REST-ready, initial sync included. */
  seconds: number;
}

function appCommand(binary: string, chainDir: string, dbDir: string, httpPort: number, monitoringPort: number, electrumPort: number, restTxCacheMb: number | null = null, serveWorkers = 1): string[] {
  return [
    binary,
    "--offline",
    "--network", "regtest",
    "--blocks-dir", chainDir,
    "--db-dir", dbDir,
    "--http-addr", `127.0.0.1:${httpPort}`,
    "--monitoring-addr", `127.0.0.1:${monitoringPort}`,
    "--electrum-rpc-addr", `127.0.0.1:${electrumPort}`,
    ...(restTxCacheMb !== null ? ["--rest-tx-cache-mb", String(restTxCacheMb)] : []),
    "--serve-workers", String(serveWorkers),
  ];
}

async function startApp(binary: string, chainDir: string, dbDir: string, meta: GeneratedMeta, opts: Options, timeoutMs: number, serveWorkers = 1): Promise<{ app: ServerProcess; baseUrl: string; seconds: number }> {
  const [http, monitoring, electrum] = [await freePort(), await freePort(), await freePort()];
  const cmd = appCommand(binary, chainDir, dbDir, http, monitoring, electrum, opts.restTxCacheMb, serveWorkers);
  console.log(`$ ${cmd.map((c) => c.replace(ROOT + "/", "")).join(" ")}`);
  const t0 = performance.now();
  const app = new ServerProcess("electrs-bun", cmd, { cwd: ROOT, echo: opts.verbose });
  try {
    await app.waitFor(REST_LINE, timeoutMs);
    const baseUrl = `http://127.0.0.1:${http}`;
    const tip = await getText(`${baseUrl}/blocks/tip/hash`);
    if (tip !== meta.tipHashHex) throw new Error(`REST /blocks/tip/hash is ${tip}, the chain's tip is ${meta.tipHashHex}`);
    return { app, baseUrl, seconds: (performance.now() - t0) / 1000 };
  } catch (err) {
    await app.stop();
    throw err;
  }
}

/** The index of the chain in bench/data/rest-db-<chain>, built once (a marker file records a complete one). */
async function ensureIndex(binary: string, meta: GeneratedMeta, opts: Options): Promise<{ dbDir: string; reused: boolean }> {
  const name = basename(opts.chainDir);
  const dbDir = join(DATA, `rest-db-${name}`);
  const markerPath = join(DATA, `rest-db-${name}.json`);
  const marker = existsSync(markerPath) ? (JSON.parse(readFileSync(markerPath, "utf8")) as IndexMarker) : undefined;
  if (!opts.reindex && marker && marker.tipHashHex === meta.tipHashHex && existsSync(dbDir)) {
    console.log(`reusing the index in ${dbDir.replace(ROOT + "/", "")} (built ${marker.indexedAt}; --reindex to rebuild)`);
    return { dbDir, reused: true };
  }
  rmSync(markerPath, { force: true });
  rmSync(dbDir, { recursive: true, force: true });
  mkdirSync(dbDir, { recursive: true });
  console.log(`indexing ${meta.txs} txs into ${dbDir.replace(ROOT + "/", "")} (once; later runs reuse it)…`);
  const { app, seconds } = await startApp(binary, opts.chainDir, dbDir, meta, opts, opts.indexTimeoutMs);
  const code = await app.stop();
  if (code !== 0) console.log(`warning: the indexing run exited with code ${code}`);
  const m: IndexMarker = { chain: name, tipHashHex: meta.tipHashHex, txs: meta.txs, binary, indexedAt: new Date().toISOString(), seconds };
  writeFileSync(markerPath, JSON.stringify(m, null, 2) + "\n");
  console.log(`indexed in ${seconds.toFixed(1)} s (spawn to REST ready)`);
  return { dbDir, reused: false };
}

// ---------------------------------------------------------------------------------------------
// Request parameters

async function getText(url: string): Promise<string> {
  const r = await fetch(url);
  const text = await r.text();
  if (!r.ok) throw new Error(`GET ${url}: HTTP ${r.status} ${text.slice(0, 200)}`);
  return text;
}

interface ScriptRef {
  /** `/address/<addr>` or `/scripthash/<sha256 hex>` when the script has no address. */
  path: string;
  byAddress: boolean;
  scriptHex: string;
  txCount?: number;
  utxos?: number;
}

function scriptRef(scriptHex: string): ScriptRef {
  const script = hexToBytes(scriptHex);
  const address = addressOf(script, NETWORK);
  return address
    ? { path: `/address/${address}`, byAddress: true, scriptHex }
    : { path: `/scripthash/${bytesToHex(scriptHash(script))}`, byAddress: false, scriptHex };
}

interface ChainStats {
  chain_stats: { tx_count: number; funded_txo_count: number; spent_txo_count: number };
}

async function stats(baseUrl: string, ref: ScriptRef): Promise<ChainStats["chain_stats"]> {
  return (JSON.parse(await getText(baseUrl + ref.path)) as ChainStats).chain_stats;
}

interface Params {
  hot: ScriptRef & { role: string; txCount: number; utxos: number };
  small: ScriptRef[];
  /** Small scripts with at least one UTXO (for /utxo), or all small ones when too few have any. */
  smallWithUtxos: ScriptRef[];
  smallTxCounts: { min: number; max: number; mean: number };
}

/** The hot script (the smallest popular one with ≥ hotMin txs, or --hot-role) and small ones (≤ smallMax txs), checked over REST. */
async function resolveParams(baseUrl: string, meta: GeneratedMeta, sample: ChainSample, opts: Options): Promise<Params> {
  const popular = meta.popularScripts.filter((p) => !p.role.startsWith("miner-"));
  const counted: { p: PopularScript; ref: ScriptRef; txCount: number; utxos: number }[] = [];
  for (const p of popular) {
    const ref = scriptRef(p.scriptHex);
    const s = await stats(baseUrl, ref);
    counted.push({ p, ref, txCount: s.tx_count, utxos: s.funded_txo_count - s.spent_txo_count });
  }
  console.log(`popular scripts: ${counted.map((c) => `${c.p.role} ${c.txCount} txs`).join(", ")}`);
  const pick = opts.hotRole
    ? counted.find((c) => c.p.role === opts.hotRole)
    : counted.filter((c) => c.txCount >= opts.hotMin).sort((a, b) => a.txCount - b.txCount)[0];
  if (!pick) {
    throw new Error(opts.hotRole ? `no popular script ${opts.hotRole} in meta.json` : `no script with ≥ ${opts.hotMin} txs in this chain: use a larger chain (bench/data/chain-2m)`);
  }
  const small: ScriptRef[] = [];
  const withUtxos: ScriptRef[] = [];
  for (const hex of sample.candidateScripts) {
    if (small.length >= SMALL_SCRIPTS && withUtxos.length >= SMALL_SCRIPTS) break;
    const ref = scriptRef(hex);
    const s = await stats(baseUrl, ref);
    if (s.tx_count < 1 || s.tx_count > opts.smallMax) continue;
    const r = { ...ref, txCount: s.tx_count, utxos: s.funded_txo_count - s.spent_txo_count };
    if (small.length < SMALL_SCRIPTS) small.push(r);
    if (r.utxos > 0 && withUtxos.length < SMALL_SCRIPTS) withUtxos.push(r);
  }
  if (small.length < 20) throw new Error(`only ${small.length} scripts with ≤ ${opts.smallMax} txs among ${sample.candidateScripts.length} candidates`);
  const counts = small.map((s) => s.txCount ?? 0);
  return {
    hot: { ...pick.ref, role: pick.p.role, txCount: pick.txCount, utxos: pick.utxos },
    small,
    smallWithUtxos: withUtxos.length >= 20 ? withUtxos : small,
    smallTxCounts: { min: Math.min(...counts), max: Math.max(...counts), mean: counts.reduce((a, b) => a + b, 0) / counts.length },
  };
}

/** Without a server to ask (--self-test): the top popular script, and candidates unchecked. */
function selfTestParams(meta: GeneratedMeta, sample: ChainSample): Params {
  const p = meta.popularScripts[0]!;
  const small = sample.candidateScripts.slice(0, SMALL_SCRIPTS).map(scriptRef);
  return { hot: { ...scriptRef(p.scriptHex), role: p.role, txCount: 0, utxos: 0 }, small, smallWithUtxos: small, smallTxCounts: { min: 0, max: 0, mean: 0 } };
}

interface Case {
  id: string;
  label: string;
  paths: string[];
  note: string;
}

function buildCases(sample: ChainSample, params: Params): Case[] {
  const { hot, small, smallWithUtxos } = params;
  const kind = (refs: readonly ScriptRef[]): string => (refs.every((r) => r.byAddress) ? "address" : refs.every((r) => !r.byAddress) ? "scripthash" : "address|scripthash");
  const sk = kind(small);
  const hk = kind([hot]);
  const cursors = sample.cursors[hot.scriptHex] ?? [];
  if (cursors.length === 0) throw new Error(`no cursor txids for ${hot.role} in the sample`);
  const depth = `blocks ${cursors[0]!.height}–${cursors[cursors.length - 1]!.height} of ${sample.tipHeight}`;
  const blocks = sample.blocks;
  const blockTxs = `${blocks.length} blocks of ${Math.min(...blocks.map((b) => b.txCount))}–${Math.max(...blocks.map((b) => b.txCount))} txs`;
  const smallNote = `${small.length} scripts with ≤ ${Math.max(...small.map((s) => s.txCount ?? 0))} txs`;
  const hotNote = `${hot.role}, ${hot.txCount} txs`;
  return [
    { id: "tx", label: "/tx/:txid", paths: sample.txids.map((t) => `/tx/${t}`), note: `${sample.txids.length} random txids` },
    { id: "addr-small", label: `/${sk}/:small`, paths: small.map((s) => s.path), note: smallNote },
    { id: "addr-hot", label: `/${hk}/:hot`, paths: [hot.path], note: hotNote },
    { id: "addr-small-txs", label: `/${sk}/:small/txs`, paths: small.map((s) => `${s.path}/txs`), note: smallNote },
    { id: "addr-hot-txs", label: `/${hk}/:hot/txs`, paths: [`${hot.path}/txs`], note: hotNote },
    {
      id: "addr-hot-txs-chain",
      label: `/${hk}/:hot/txs/chain/:deep`,
      paths: cursors.map((c) => `${hot.path}/txs/chain/${c.txid}`),
      note: `${cursors.length} cursors in ${depth}`,
    },
    {
      id: "addr-small-utxo",
      label: `/${kind(smallWithUtxos)}/:small/utxo`,
      paths: smallWithUtxos.map((s) => `${s.path}/utxo`),
      note: `${smallWithUtxos.length} scripts with ≤ ${Math.max(...smallWithUtxos.map((s) => s.txCount ?? 0))} txs and ${Math.min(...smallWithUtxos.map((s) => s.utxos ?? 0))}–${Math.max(...smallWithUtxos.map((s) => s.utxos ?? 0))} UTXOs`,
    },
    { id: "addr-hot-utxo", label: `/${hk}/:hot/utxo?limit=25`, paths: [`${hot.path}/utxo?limit=25`], note: `${hotNote}, ${hot.utxos} UTXOs` },
    { id: "block-txs-0", label: "/block/:hash/txs/0", paths: blocks.map((b) => `/block/${b.hashHex}/txs/0`), note: blockTxs },
    { id: "block-txs-25", label: "/block/:hash/txs/25", paths: blocks.map((b) => `/block/${b.hashHex}/txs/25`), note: blockTxs },
  ];
}

// ---------------------------------------------------------------------------------------------
// Measuring

interface CaseResult {
  id: string;
  label: string;
  note: string;
  paths: number;
  /** Status and size of a single GET of the first path before the load. */
  probe: { status: number; bytes: number; ms: number };
  wrk: WrkResult;
  /** CPU used by the server during the measured run, as a share of one core. */
  serverCpu: number;
  /** CPU used by wrk during the measured run, as a share of one core. */
  wrkCpu: number;
  /** CPU used by everything else on the machine during the run, as a share of one core (noise). */
  otherCpu: number;
  ratio?: number;
}

async function probe(url: string): Promise<CaseResult["probe"]> {
  const t0 = performance.now();
  const r = await fetch(url);
  const body = await r.arrayBuffer();
  return { status: r.status, bytes: body.byteLength, ms: performance.now() - t0 };
}

async function measure(c: Case, baseUrl: string, server: ServerProcess, wrk: string, opts: Options, staticUrl = false): Promise<CaseResult> {
  const p = await probe(baseUrl + c.paths[0]!);
  const statusNote = p.status === 200 ? "" : `  (HTTP ${p.status} on ${c.paths[0]})`;
  process.stdout.write(`${c.label.padEnd(36)} ${String(c.paths.length).padStart(5)} paths  first GET ${p.ms.toFixed(1)} ms, ${p.bytes} B${statusNote}  `);
  const scriptPath = join(DATA, "wrk", `${c.id}.lua`);
  const base = { wrk, baseUrl, paths: c.paths, scriptPath, staticUrl, threads: opts.threads, connections: opts.connections, timeoutSeconds: opts.timeoutSeconds };
  if (opts.warmupSeconds > 0) await runWrk({ ...base, durationSeconds: opts.warmupSeconds });
  // On a shared machine: wait for a quiet moment, and measure again when others took much CPU.
  let best: { r: WrkResult; serverCpu: number; otherCpu: number } | undefined;
  for (let attempt = 0; attempt <= opts.retries; attempt++) {
    if (attempt > 0) process.stdout.write(`(other CPU ${Math.round(best!.otherCpu * 100)} %: again) `);
    await waitQuiet(server, opts.quietMaxOther);
    const cpu0 = server.cpuSeconds();
    const machine0 = machineCpuSeconds();
    const r = await runWrk({ ...base, durationSeconds: opts.durationSeconds });
    const machine1 = machineCpuSeconds();
    const serverSeconds = server.cpuSeconds() - cpu0;
    const serverCpu = serverSeconds / r.durationSeconds;
    const otherCpu = Math.max(0, machine1.busy - machine0.busy - serverSeconds - r.wrkCpuSeconds) / r.durationSeconds;
    if (!best || otherCpu < best.otherCpu) best = { r, serverCpu, otherCpu };
    if (otherCpu <= opts.retryAboveOther) break;
  }
  const { r, serverCpu, otherCpu } = best!;
  const errs = errorCount(r);
  console.log(`${Math.round(r.reqPerSec)} req/s${errs ? `  ${errs} ERRORS ${JSON.stringify(r.errors)}` : ""}`);
  return { id: c.id, label: c.label, note: c.note, paths: c.paths.length, probe: p, wrk: r, serverCpu, wrkCpu: r.wrkCpuSeconds / r.durationSeconds, otherCpu };
}

/** Waits (up to 30 s) until the rest of the machine uses less than `maxOther` of a core over 1 s. */
async function waitQuiet(server: ServerProcess, maxOther: number): Promise<void> {
  const deadline = performance.now() + 30_000;
  while (performance.now() < deadline) {
    const m0 = machineCpuSeconds();
    const s0 = server.cpuSeconds();
    await Bun.sleep(1000);
    const other = machineCpuSeconds().busy - m0.busy - (server.cpuSeconds() - s0);
    if (other < maxOther) return;
  }
}

async function startFixedServer(opts: Options): Promise<{ server: ServerProcess; baseUrl: string }> {
  const port = await freePort();
  const server = new ServerProcess("fixed-json", [process.execPath, "bench/lib/fixed-json-server.ts", "--port", String(port)], { cwd: ROOT, echo: opts.verbose });
  await server.waitFor(/fixed-json server listening on (\S+)/, 20_000);
  return { server, baseUrl: `http://127.0.0.1:${port}` };
}

/**
 * The ceiling: the same wrk run (rotating over the /tx paths, which it ignores) against the
 * fixed-JSON server; with `single`, also wrk's static single-URL mode (no Lua per request).
 */
async function measureCeiling(when: string, txPaths: string[], wrk: string, opts: Options, single: boolean): Promise<CaseResult[]> {
  const { server, baseUrl } = await startFixedServer(opts);
  try {
    await server.waitIdle(0.05, 1000, 20_000);
    const note = `Bun.serve fetch handler, fixed ${FIXED_BODY.length}-byte JSON body, measured ${when} the electrs-bun cases`;
    const out = [await measure({ id: `ceiling-${when}`, label: `ceiling (${when})`, paths: txPaths, note }, baseUrl, server, wrk, opts)];
    if (single) {
      const label = `ceiling (${when}, 1 static URL)`;
      out.push(await measure({ id: `ceiling-${when}-static`, label, paths: ["/"], note: `${note}; one URL` }, baseUrl, server, wrk, opts, true));
    }
    return out;
  } finally {
    await server.stop();
  }
}

// ---------------------------------------------------------------------------------------------
// Output

function printTable(rows: CaseResult[]): void {
  const header = ["case", "req/s", "p50 ms", "p99 ms", "KB/resp", "server CPU", "wrk CPU", "other CPU", "vs ceiling", "errors"];
  const lines = [
    header,
    ...rows.map((r) => [
      r.label,
      fmtRate(r.wrk.reqPerSec),
      fmtMs(r.wrk.latencyMs.p50),
      fmtMs(r.wrk.latencyMs.p99),
      (r.wrk.requests > 0 ? r.wrk.bytes / r.wrk.requests / 1024 : 0).toFixed(1),
      `${Math.round(r.serverCpu * 100)} %`,
      `${Math.round(r.wrkCpu * 100)} %`,
      `${Math.round(r.otherCpu * 100)} %`,
      r.ratio === undefined ? "" : `${(r.ratio * 100).toFixed(1)} %`,
      errorCount(r.wrk) ? String(errorCount(r.wrk)) : r.probe.status !== 200 ? `HTTP ${r.probe.status}` : "",
    ]),
  ];
  const widths = header.map((_, c) => Math.max(...lines.map((row) => row[c]!.length)));
  console.log("");
  for (const [i, row] of lines.entries()) {
    console.log(row.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join("  "));
    if (i === 0) console.log(widths.map((w) => "-".repeat(w)).join("  "));
  }
}

function fmtRate(n: number): string {
  return n >= 100 ? String(Math.round(n)) : n.toFixed(1);
}

function fmtMs(ms: number): string {
  return ms >= 100 ? ms.toFixed(0) : ms >= 10 ? ms.toFixed(1) : ms.toFixed(2);
}

function printMachine(m: MachineInfo): void {
  console.log(`machine: ${m.nproc} CPUs (nproc), ${m.cpuModel}, ${m.ramGiB} GiB RAM, Linux ${m.kernel}, Bun ${m.bun}`);
  if (m.loadAvg1m > 0.5 * m.nproc) console.log(`warning: load average ${m.loadAvg1m.toFixed(2)} at start: other processes compete for the CPUs`);
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<number> {
  const opts = options(parseArgs(process.argv.slice(2), ["reindex", "verbose", "self-test"]));
  const wrk = findWrk();
  if (!wrk) {
    console.error(WRK_INSTALL_HINT);
    return 2;
  }
  const machine = machineInfo();
  printMachine(machine);
  const metaPath = join(opts.chainDir, "meta.json");
  if (!existsSync(metaPath)) {
    const name = basename(opts.chainDir);
    throw new Error(`${metaPath} not found: generate the chain first, e.g. bun bench/gen-chain.ts --txs ${name.replace(/^chain-/, "")} --out ${opts.chainDir.replace(ROOT + "/", "")}`);
  }
  const meta = JSON.parse(readFileSync(metaPath, "utf8")) as GeneratedMeta;
  console.log(`chain: ${opts.chainDir.replace(ROOT + "/", "")}, ${meta.txs} txs, ${meta.blocks} blocks`);
  console.log(`wrk: -t${opts.threads} -c${opts.connections} -d${opts.durationSeconds}s (+${opts.warmupSeconds}s warm-up per case), timeout ${opts.timeoutSeconds}s`);
  mkdirSync(DATA, { recursive: true });

  const t0 = performance.now();
  const sample = loadOrBuildSample(
    opts.chainDir,
    join(DATA, `rest-sample-${basename(opts.chainDir)}.json`),
    meta.tipHashHex,
    meta.popularScripts.map((p) => p.scriptHex),
    DEFAULT_SAMPLE,
  );
  console.log(`sample: ${sample.txids.length} txids, ${sample.blocks.length} blocks, ${sample.candidateScripts.length} candidate scripts (${((performance.now() - t0) / 1000).toFixed(1)} s)`);

  const txPaths = sample.txids.map((t) => `/tx/${t}`);
  console.log("\nceiling (minimal Bun.serve):");
  const ceilingBefore = await measureCeiling("before", txPaths, wrk, opts, true);

  let binary = "(self-test: fixed-JSON server)";
  let params: Params | undefined;
  let startSeconds = 0;
  let dbDir = "";
  let reused = false;
  if (!opts.selfTest) {
    binary = await ensureBinary(opts.binary);
    ({ dbDir, reused } = await ensureIndex(binary, meta, opts));
  }
  const results: CaseResult[] = [];
  // The self-test has one server (the fixed-JSON one): one round.
  for (const workers of opts.selfTest ? [1] : opts.serveWorkers) {
    let server: ServerProcess;
    let baseUrl: string;
    if (opts.selfTest) {
      ({ server, baseUrl } = await startFixedServer(opts));
      params = selfTestParams(meta, sample);
    } else {
      let seconds: number;
      try {
        ({ app: server, baseUrl, seconds } = await startApp(binary, opts.chainDir, dbDir, meta, opts, 600_000, workers));
      } catch (err) {
        // An index written by an older build may not suit this one.
        if (reused) (err as Error).message += "\n(the index was built by an earlier run: try --reindex)";
        throw err;
      }
      startSeconds = seconds;
      const id = binaryId(binary);
      console.log(`REST ready in ${seconds.toFixed(1)} s at ${baseUrl} with --serve-workers ${workers} (binary built ${id.mtime}, wyhash ${id.wyhash})`);
    }
    try {
      if (!opts.selfTest) {
        if (!(await server.waitIdle())) console.log("warning: the server did not go idle after start-up");
        if (!params) {
          params = await resolveParams(baseUrl, meta, sample, opts);
          const sc = params.smallTxCounts;
          console.log(`hot: ${params.hot.role} ${params.hot.path} (${params.hot.txCount} txs, ${params.hot.utxos} UTXOs)`);
          console.log(`small: ${params.small.length} scripts with ${sc.min}–${sc.max} txs (mean ${sc.mean.toFixed(1)}), ${params.smallWithUtxos.length} with UTXOs for /utxo`);
        }
      }
      let cases = buildCases(sample, params!);
      if (opts.cases) {
        const unknown = opts.cases.filter((id) => !cases.some((c) => c.id === id));
        if (unknown.length) throw new Error(`unknown case(s) ${unknown.join(", ")}: expected ${cases.map((c) => c.id).join(", ")}`);
        cases = cases.filter((c) => opts.cases!.includes(c.id));
      }
      const many = !opts.selfTest && opts.serveWorkers.length > 1;
      if (many) cases = cases.map((c) => ({ ...c, id: `${c.id}-w${workers}`, label: `${c.label} [${workers} serving thread${workers > 1 ? "s" : ""}]` }));
      console.log(`\n${opts.selfTest ? "fixed-JSON server (self-test)" : `electrs-bun, --serve-workers ${workers}`}:`);
      for (const c of cases) results.push(await measure(c, baseUrl, server, wrk, opts));
    } finally {
      const code = await server.stop();
      if (code !== 0 && code !== null) console.log(`warning: server exited with code ${code}`);
    }
  }

  console.log("\nceiling again (drift check):");
  const ceilingAfter = await measureCeiling("after", txPaths, wrk, opts, false);
  const ceilingRuns = [ceilingBefore[0]!, ceilingAfter[0]!];
  const ceilingReqPerSec = ceilingRuns.reduce((a, r) => a + r.wrk.reqPerSec, 0) / ceilingRuns.length;
  const ceiling = [...ceilingBefore, ...ceilingAfter];
  for (const r of [...ceiling, ...results]) r.ratio = r.wrk.reqPerSec / ceilingReqPerSec;
  printTable([...ceiling, ...results]);
  console.log("");
  for (const r of [ceilingBefore[0]!, ...results]) console.log(`  ${r.label}: ${r.note}`);
  if (!opts.selfTest && opts.serveWorkers.length > 1) {
    const [one, ...more] = opts.serveWorkers;
    console.log(`\nserving threads against ${one}:`);
    for (const r of results.filter((x) => x.id.endsWith(`-w${one}`))) {
      const base = r.id.slice(0, -`-w${one}`.length);
      for (const n of more) {
        const other = results.find((x) => x.id === `${base}-w${n}`);
        if (other) console.log(`  ${base}: ${n} threads ${Math.round(other.wrk.reqPerSec)} req/s = ${(other.wrk.reqPerSec / r.wrk.reqPerSec).toFixed(2)}× ${one} (${Math.round(r.wrk.reqPerSec)} req/s)`);
      }
    }
  }
  console.log(
    `\nvs ceiling = req/s ÷ ${Math.round(ceilingReqPerSec)} req/s, the mean of the two ceiling runs (same wrk command, rotating paths). ` +
      `wrk -t${opts.threads} -c${opts.connections} -d${opts.durationSeconds}s; CPU columns are shares of one core ` +
      `(other = the rest of the machine during the run; well above 0 means the figures are noisy).`,
  );
  printMachine(machine);
  writeFileSync(
    opts.out,
    JSON.stringify(
      {
        date: new Date().toISOString(),
        machine,
        chain: { dir: opts.chainDir.replace(ROOT + "/", ""), txs: meta.txs, blocks: meta.blocks, tipHashHex: meta.tipHashHex },
        binary: binary.replace(ROOT + "/", ""),
        binaryId: opts.selfTest ? undefined : binaryId(binary),
        selfTest: opts.selfTest,
        wrk: { threads: opts.threads, connections: opts.connections, durationSeconds: opts.durationSeconds, warmupSeconds: opts.warmupSeconds, timeoutSeconds: opts.timeoutSeconds },
        startSeconds,
        hot: { role: params!.hot.role, path: params!.hot.path, txCount: params!.hot.txCount, utxos: params!.hot.utxos },
        smallTxCounts: params!.smallTxCounts,
        ceilingReqPerSec,
        ceiling,
        results,
      },
      null,
      2,
    ) + "\n",
  );
  console.log(`results saved to ${opts.out.replace(ROOT + "/", "")}`);
  const bad = results.filter((r) => errorCount(r.wrk) > 0 || r.probe.status !== 200);
  if (bad.length) console.log(`WARNING: errors or non-200 answers in ${bad.map((r) => r.id).join(", ")}: their figures are not valid`);
  return bad.length ? 1 : 0;
}

try {
  process.exitCode = await main();
} catch (e) {
  console.error(`rest-bench: ${(e as Error).message}`);
  process.exitCode = 2;
}
