/**
 * Electrum server benchmark (issue point 8): many subscribed connections, the time from a new
 * block to the last notification, and get_history / listunspent / get_balance latency by history
 * size, against the compiled binary following a synthetic chain offline.
 *
 *   bun bench/electrum-bench.ts [--chain bench/data/chain-2m] [--binary FILE] [--connections 2000]
 *                               [--per-conn 20] [--touched 2000,2000,20] [--main-loop-delay 50]
 *                               [--requests 200] [--case-seconds 20] [--pipeline 32]
 *                               [--connect-concurrency 200] [--notify-timeout 120] [--settle 1000]
 *                               [--throughput-connections 200] [--throughput-pipeline 50]
 *                               [--throughput-seconds 8] [--serve-workers 1,2]
 *                               [--reindex] [--keep] [--verbose] [--out bench/data/electrum-results.json]
 *
 * What a run does:
 *
 * 1. Reads scripts from the chain's blk files (cached in bench/data/electrum-sample-<chain>.json):
 *    connections × per-conn distinct output scripts from 60 full blocks spread over the chain (a
 *    script seen twice in those blocks, and meta.json's popular and mining-pool scripts, are left
 *    out: each has a small, wallet-like history), and candidates for the size cases (the height-1
 *    coinbase's scripts, the generator's Zipf head, and scripts of the oldest full blocks).
 * 2. Builds dist/electrs-bun if it is missing or older than src/ (or takes --binary). The index: a
 *    copy of bench/data/rest-db-<chain> when the REST bench built one for this chain (its marker
 *    file matches meta.json's tip), else of bench/data/electrum-db-<chain>, indexed once by this
 *    bench (--reindex: always this one, rebuilt). The copy goes to
 *    bench/data/electrum-run-<chain>/db and is fsynced; the new blocks are indexed into it, the base
 *    index is never written to.
 * 3. bench/data/electrum-run-<chain>/blocks holds symlinks to the chain's blk files and a copy of
 *    xor.dat (the chain directory is never modified); the new blocks go there as new blk files
 *    (blk00005.dat, … on chain-2m). The server runs as
 *      electrs-bun --offline --network regtest --blocks-dir <run>/blocks --db-dir <run>/db
 *                  --main-loop-delay 50 --electrum-txs-limit 1000000 --utxos-limit 1000000
 *                  --electrum-max-response-bytes 20000000 --timestamp -v
 *    --electrum-txs-limit and --utxos-limit (both 500 by default, as in electrs) and the response
 *    limit (8 MB) are raised so that the 10k and 100k cases are answered at all; -v and
 *    --timestamp give the log lines timed below.
 * 4. Over one control connection it resolves the size cases (history sizes over REST), looks up
 *    UTXOs of subscribed scripts (listunspent) and builds the new blocks. Block i holds
 *    touched[i] / 2 wallet txs: tx k spends a UTXO of a script of connection 2k (or of the next
 *    even connection that has one left) and pays a script of connection 2k + 1, with the change
 *    back to the spender; so it touches touched[i] subscribed scripts, one per connection for the
 *    first touched[i] connections. The coinbase pays a mining-pool script nobody subscribes to.
 * 5. Subscribe phase: opens --connections TCP connections from this process (at most
 *    --connect-concurrency connecting at once), each sends server.version; then every connection
 *    pipelines blockchain.headers.subscribe and its --per-conn blockchain.scripthash.subscribe at
 *    once (a reconnect storm). Reports both times, per-connection times, the server's CPU, its RSS
 *    after, and its electrum_clients / electrum_subscriptions gauges.
 * 6. New blocks, one per --touched entry: waits for a quiet second, writes the block as a new blk
 *    file (temporary name, fsync, rename: t0 is the rename), and records when each connection gets
 *    its header notification and the scripthash notifications of its touched scripts. The count
 *    must be connections + touched[i]; anything missing, extra, of another height or script is
 *    reported. --settle ms more are waited for stray notifications. The server's log lines split
 *    the time: `blk files: N new blocks` (-v) = the poll that found the file (at most
 *    --main-loop-delay of waiting), `new tip: height H` = indexed and committed, then the
 *    notifications. The server's index_duration metric gives the fetch / parse / index / commit
 *    seconds of the block, and /proc/<pid>/io its I/O.
 * 7. Closes the connections and waits until the server's electrum_clients gauge says they are gone.
 * 8. Latency over the control connection, sequential (one request at a time) and pipelined
 *    (--pipeline in flight): get_history, listunspent and get_balance for the 20 scripts closest to
 *    10 history entries (rotating), and the scripts closest to 10k, to 30k (the issue's 29,930-tx
 *    Fulcrum case) and to 100k;
 *    --requests per row, at most --case-seconds of sending (requests in flight then finish), after a
 *    warm-up request. A reply over the server's 8 MB response limit
 *    (DEFAULT_LIMITS.maxResponseBytes) is an error reply: such rows are flagged, their latency is
 *    that of the error.
 * 8b. Throughput: --throughput-connections connections, each writing --throughput-pipeline
 *    get_balance requests of the subscription scripts at once and waiting for every reply, again
 *    and again for --throughput-seconds after a 1 s warm-up: the server's request rate (issue #10's
 *    "200 connections × 50 pipelined get_balance"). Replies are counted by their newlines, not
 *    parsed, so that the bench does not limit the rate.
 * 9. Peak RSS: VmHWM of the server at the end, and VmRSS, RssAnon and RssFile sampled every 100 ms
 *    (per phase and row). The query connection memory-maps the index file, so VmRSS (and VmHWM)
 *    include the index pages it touched (RssFile: page cache the kernel can reclaim); RssAnon is
 *    the process's own memory.
 *
 * Results go to --out; the run directory is deleted unless --keep. On a shared machine the load
 * average and the CPU used by other processes during each phase are printed (each block and row
 * first waits ≤ 30 s for a quiet second). All clients run in this one process; its own CPU share is
 * printed too, to show whether the client side kept up. Also printed: the server's CPU while idle
 * (it polls the blk files every --main-loop-delay ms).
 */
import { closeSync, copyFileSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import { basename, join, resolve } from "node:path";
import { parseHeader } from "../src/bitcoin/block.ts";
import { bytesToHex, hashToHex, hexToBytes, reversed } from "../src/bitcoin/bytes.ts";
import { scriptHash } from "../src/bitcoin/hash.ts";
import type { GeneratedMeta } from "./gen-chain.ts";
import { binaryId, ensureBinary } from "./lib/app-binary.ts";
import { numberArg, parseArgs, stringArg, workersList, type Args } from "./lib/args.ts";
import { readXorKey } from "./lib/blk-files.ts";
import { ElectrumConn, waitUntil, type Notification, type Reply } from "./lib/electrum-conn.ts";
import { DEFAULT_ELECTRUM_SAMPLE, loadOrBuildElectrumSample } from "./lib/electrum-sample.ts";
import { machineInfo, procMemBytes, type MachineInfo } from "./lib/machine.ts";
import { buildNextBlock, publishBlockFile, type BuiltBlock, type Payment, type Utxo } from "./lib/next-block.ts";
import { freePort, ServerProcess } from "./lib/server-process.ts";
import { CpuWindow, idleCpu, ioDelta, procIo, readMetrics, RssSampler, waitQuiet, type CpuShares, type MemSample } from "./lib/server-watch.ts";
import { percentiles, pool, type Percentiles } from "./lib/stats.ts";

const ROOT = resolve(import.meta.dir, "..");
const DATA = join(ROOT, "bench", "data");
const STARTUP_LINE = /startup complete: REST on (\S+), Electrum on (\S+), metrics on (\S+)/;
const TXS_LIMIT = 1_000_000;
/** A 106k-entry history is ~9.8 MB of JSON: over the 8 MB default, so the limit is raised to measure it. */
const MAX_RESPONSE_BYTES = 20_000_000;
const CLIENT_NAME = "electrum-bench";
/** Latency targets (history entries) and how many ~10-entry scripts rotate. */
const SIZE_TARGETS = [10, 10_000, 30_000, 100_000] as const;
const SMALL_ROTATION = 20;
const METHODS = ["blockchain.scripthash.get_history", "blockchain.scripthash.listunspent", "blockchain.scripthash.get_balance"] as const;

interface Options {
  chainDir: string;
  binary: string | undefined;
  connections: number;
  perConn: number;
  touched: number[];
  mainLoopDelayMs: number;
  requests: number;
  caseSeconds: number;
  pipeline: number;
  connectConcurrency: number;
  throughputConnections: number;
  throughputPipeline: number;
  throughputSeconds: number;
  /** The whole run with the first; the throughput phase again with each other (a new server process). */
  serveWorkers: number[];
  notifyTimeoutMs: number;
  settleMs: number;
  reindex: boolean;
  keep: boolean;
  verbose: boolean;
  out: string;
}

function options(args: Args): Options {
  const num = (name: string, fallback: number): number => numberArg(args, name, fallback, "non-negative");
  const count = (name: string, fallback: number): number => numberArg(args, name, fallback, "positive integer");
  const touched = (stringArg(args, "touched") ?? "2000,2000,20").split(",").map((s) => Number(s.trim()));
  const connections = count("connections", 2000);
  for (const t of touched) {
    if (!Number.isInteger(t) || t < 2 || t % 2 !== 0 || t > connections - (connections % 2)) {
      throw new Error(`--touched: each entry must be an even number from 2 to the connection count (${connections}), got ${t}`);
    }
  }
  return {
    chainDir: resolve(ROOT, stringArg(args, "chain") ?? "bench/data/chain-2m"),
    binary: stringArg(args, "binary"),
    connections,
    perConn: count("per-conn", 20),
    touched,
    mainLoopDelayMs: num("main-loop-delay", 50),
    requests: count("requests", 200),
    caseSeconds: num("case-seconds", 20),
    pipeline: count("pipeline", 32),
    connectConcurrency: count("connect-concurrency", 200),
    throughputConnections: count("throughput-connections", 200),
    throughputPipeline: count("throughput-pipeline", 50),
    throughputSeconds: num("throughput-seconds", 8),
    serveWorkers: workersList(stringArg(args, "serve-workers")),
    notifyTimeoutMs: num("notify-timeout", 120) * 1000,
    settleMs: num("settle", 1000),
    reindex: args.get("reindex") === true,
    keep: args.get("keep") === true,
    verbose: args.get("verbose") === true,
    out: resolve(ROOT, stringArg(args, "out") ?? "bench/data/electrum-results.json"),
  };
}

// ---------------------------------------------------------------------------------------------
// Index and run directory

interface IndexMarker {
  tipHashHex: string;
  indexedAt: string;
}

function serverCommand(binary: string, blocksDir: string, dbDir: string, ports: { http: number; monitoring: number; electrum: number }, extra: string[]): string[] {
  return [
    binary,
    "--offline",
    "--network", "regtest",
    "--blocks-dir", blocksDir,
    "--db-dir", dbDir,
    "--http-addr", `127.0.0.1:${ports.http}`,
    "--monitoring-addr", `127.0.0.1:${ports.monitoring}`,
    "--electrum-rpc-addr", `127.0.0.1:${ports.electrum}`,
    ...extra,
  ];
}

async function freePorts(): Promise<{ http: number; monitoring: number; electrum: number }> {
  return { http: await freePort(), monitoring: await freePort(), electrum: await freePort() };
}

/** A complete index of the chain to copy from: the REST bench's, or our own built once. */
async function baseIndex(binary: string, meta: GeneratedMeta, opts: Options): Promise<{ dir: string; source: string }> {
  const name = basename(opts.chainDir);
  for (const prefix of opts.reindex ? [] : ["rest-db", "electrum-db"]) {
    const dir = join(DATA, `${prefix}-${name}`);
    const markerPath = join(DATA, `${prefix}-${name}.json`);
    if (!existsSync(markerPath) || !existsSync(join(dir, "regtest"))) continue;
    const marker = JSON.parse(readFileSync(markerPath, "utf8")) as IndexMarker;
    if (marker.tipHashHex === meta.tipHashHex) return { dir, source: `${dir.replace(ROOT + "/", "")} (built ${marker.indexedAt})` };
  }
  const dir = join(DATA, `electrum-db-${name}`);
  const markerPath = join(DATA, `electrum-db-${name}.json`);
  rmSync(markerPath, { force: true });
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  console.log(`indexing ${meta.txs} txs into ${dir.replace(ROOT + "/", "")} (once; later runs copy it)…`);
  const t0 = performance.now();
  const app = new ServerProcess("electrs-bun", serverCommand(binary, opts.chainDir, dir, await freePorts(), []), { cwd: ROOT, echo: opts.verbose });
  try {
    await app.waitFor(STARTUP_LINE, 7_200_000);
  } finally {
    await app.stop();
  }
  const marker: IndexMarker & { binary: string; seconds: number } = { tipHashHex: meta.tipHashHex, indexedAt: new Date().toISOString(), binary, seconds: (performance.now() - t0) / 1000 };
  writeFileSync(markerPath, JSON.stringify(marker, null, 2) + "\n");
  return { dir, source: `${dir.replace(ROOT + "/", "")} (indexed now in ${marker.seconds.toFixed(0)} s)` };
}

/** <run>/blocks: symlinks to the chain's blk files + a copy of xor.dat; <run>/db: a copy of the base index. */
function prepareRunDir(runDir: string, chainDir: string, baseDb: string): { blocksDir: string; dbDir: string; nextFileIndex: number; copySeconds: number } {
  rmSync(runDir, { recursive: true, force: true });
  const blocksDir = join(runDir, "blocks");
  const dbDir = join(runDir, "db");
  mkdirSync(blocksDir, { recursive: true });
  let last = -1;
  for (const name of readdirSync(chainDir)) {
    const m = /^blk(\d{5})\.dat$/.exec(name);
    if (!m) continue;
    symlinkSync(join(chainDir, name), join(blocksDir, name));
    last = Math.max(last, Number(m[1]));
  }
  // A real file: writing through a symlink would touch the chain directory.
  if (existsSync(join(chainDir, "xor.dat"))) copyFileSync(join(chainDir, "xor.dat"), join(blocksDir, "xor.dat"));
  const t0 = performance.now();
  mkdirSync(join(dbDir, "regtest"), { recursive: true });
  for (const name of readdirSync(join(baseDb, "regtest"))) {
    const to = join(dbDir, "regtest", name);
    copyFileSync(join(baseDb, "regtest", name), to);
    // Flushed now, so that the kernel's writeback of 1+ GB does not run under the first block's commit.
    const fd = openSync(to, "r+");
    fsyncSync(fd);
    closeSync(fd);
  }
  return { blocksDir, dbDir, nextFileIndex: last + 1, copySeconds: (performance.now() - t0) / 1000 };
}

// ---------------------------------------------------------------------------------------------
// Scripts, UTXOs and the new blocks

function electrumHash(scriptHex: string): string {
  return bytesToHex(reversed(scriptHash(hexToBytes(scriptHex))));
}

async function restStats(restUrl: string, scriptHex: string): Promise<{ txCount: number; utxos: number }> {
  const r = await fetch(`${restUrl}/scripthash/${bytesToHex(scriptHash(hexToBytes(scriptHex)))}`);
  if (!r.ok) throw new Error(`REST /scripthash: HTTP ${r.status}`);
  const s = ((await r.json()) as { chain_stats: { tx_count: number; funded_txo_count: number; spent_txo_count: number } }).chain_stats;
  return { txCount: s.tx_count, utxos: s.funded_txo_count - s.spent_txo_count };
}

interface SizeCase {
  target: number;
  label: string;
  /** Electrum script hashes the case rotates over. */
  hashes: string[];
  /** History tx counts (REST chain_stats.tx_count) of those scripts. */
  txCounts: number[];
  utxos: number[];
}

/**
 * For each target size, the scripts whose history size (REST chain_stats.tx_count) is closest to
 * it in log distance: up to SMALL_ROTATION of them for the ~10 case, one for the large ones, from
 * meta.json's popular scripts and the sample's size candidates.
 */
async function resolveSizeCases(restUrl: string, meta: GeneratedMeta, candidates: readonly string[]): Promise<SizeCase[]> {
  const popular = await pool(
    meta.popularScripts.filter((p) => !p.role.startsWith("miner-")),
    8,
    async (p) => ({ scriptHex: p.scriptHex, role: p.role, ...(await restStats(restUrl, p.scriptHex)) }),
  );
  console.log(`popular scripts (txs): ${popular.map((p) => `${p.role} ${p.txCount}`).join(", ")}`);
  const others = await pool(candidates, 16, async (s) => ({ scriptHex: s, role: "", ...(await restStats(restUrl, s)) }));
  const all = [...popular, ...others].filter((c) => c.txCount > 0);
  const dist = (n: number, target: number) => Math.abs(Math.log(n / target));
  return SIZE_TARGETS.map((target) => {
    const picked = all.sort((a, b) => dist(a.txCount, target) - dist(b.txCount, target)).slice(0, target <= 100 ? SMALL_ROTATION : 1);
    if (picked.length === 0) throw new Error(`no script near ${target} history entries`);
    const counts = picked.map((p) => p.txCount);
    const span = Math.min(...counts) === Math.max(...counts) ? `${counts[0]}` : `${Math.min(...counts)}–${Math.max(...counts)}`;
    const label = picked.length === 1 ? `${picked[0]!.role || "1 script"}, ${span} txs` : `${picked.length} scripts, ${span} txs`;
    return { target, label, hashes: picked.map((p) => electrumHash(p.scriptHex)), txCounts: counts, utxos: picked.map((p) => p.utxos) };
  });
}

interface PlannedBlock {
  block: BuiltBlock;
  touchedScripts: number;
  /** Connection index → Electrum script hashes of its subscriptions the block touches. */
  touched: Map<number, Set<string>>;
}

/**
 * Block i: for each k < touched[i] / 2, spend a UTXO of a script of connection 2k (its first slot
 * not spent by an earlier payment that has one; else of the next even connection's) and pay a
 * script of connection 2k + 1 (slot i).
 */
async function planBlocks(control: ElectrumConn, scripts: readonly string[], opts: Options, tip: { hash: Uint8Array; height: number; time: number }, minerScriptHex: string): Promise<PlannedBlock[]> {
  const spentSlots = new Set<number>();
  const utxoCache = new Map<number, Utxo[]>();
  const utxosOf = async (idx: number): Promise<Utxo[]> => {
    let list = utxoCache.get(idx);
    if (!list) {
      const scriptHex = scripts[idx]!;
      const r = await control.call<{ tx_hash: string; tx_pos: number; value: number; height: number }[]>("blockchain.scripthash.listunspent", [electrumHash(scriptHex)]);
      list = r.filter((u) => u.height > 0).map((u) => ({ txidHex: u.tx_hash, vout: u.tx_pos, valueSat: u.value, scriptHex }));
      utxoCache.set(idx, list);
    }
    return list;
  };
  const planned: PlannedBlock[] = [];
  let prev = tip.hash;
  for (const [b, touchedCount] of opts.touched.entries()) {
    const pairs = touchedCount / 2;
    const evenConns = Math.floor(opts.connections / 2);
    const payments = await pool(Array.from({ length: pairs }, (_, k) => k), 64, async (k): Promise<Payment & { spender: number; payee: number }> => {
      const payee = (2 * k + 1) * opts.perConn + (b % opts.perConn);
      // Connection 2k's scripts first; when none has an unspent output left, the next even connections'.
      for (let step = 0; step < evenConns; step++) {
        const spenderConn = 2 * ((k + step) % evenConns);
        for (let slot = 0; slot < opts.perConn; slot++) {
          const idx = spenderConn * opts.perConn + slot;
          if (spentSlots.has(idx)) continue;
          const u = (await utxosOf(idx))[0];
          // Checked again after the await: another payment may have taken this script meanwhile.
          if (!u || spentSlots.has(idx)) continue;
          spentSlots.add(idx);
          return { spend: u, payToScriptHex: scripts[payee]!, spender: idx, payee };
        }
      }
      throw new Error(`no subscribed script of an even connection has an unspent output left for block ${b + 1}`);
    });
    const touched = new Map<number, Set<string>>();
    const add = (idx: number) => {
      const conn = Math.floor(idx / opts.perConn);
      const set = touched.get(conn) ?? new Set<string>();
      set.add(electrumHash(scripts[idx]!));
      touched.set(conn, set);
    };
    for (const p of payments) {
      add(p.spender);
      add(p.payee);
    }
    const block = buildNextBlock({ prevHash: prev, height: tip.height + 1 + b, time: tip.time + 600 * (b + 1), minerScriptHex, payments, seed: b + 1 });
    prev = block.hash;
    planned.push({ block, touchedScripts: touchedCount, touched });
  }
  return planned;
}

// ---------------------------------------------------------------------------------------------
// Throughput: many connections, each pipelining get_balance

interface ThroughputResult {
  connections: number;
  pipeline: number;
  scripts: number;
  seconds: number;
  replies: number;
  reqPerSec: number;
  errors: number;
  cpu: CpuShares;
}

/**
 * `connections` connections each send `pipeline` get_balance requests at once (one write), wait
 * for every reply, and again, for `seconds` after a 1 s warm-up: the server's request rate (the
 * issue's "200 connections × 50 pipelined get_balance"). The replies are counted by their newlines
 * and checked for an error member, not parsed: the bench must not be what limits the rate.
 */
async function throughputPhase(host: string, port: number, scripts: readonly string[], opts: Options, serverPid: number): Promise<ThroughputResult> {
  await quiet(serverPid, "throughput");
  const { throughputConnections: n, throughputPipeline: pipeline } = opts;
  let replies = 0;
  let errors = 0;
  let counting = false;
  const warmEnd = performance.now() + 1000;
  const end = warmEnd + opts.throughputSeconds * 1000;
  let cpu: CpuWindow | null = null;
  const ERROR = Buffer.from('"error"');
  const one = async (c: number) => {
    let pending = 0;
    let wake: (() => void) | null = null;
    // The last bytes of the previous chunk: an error marker cut in two by a chunk boundary is still found.
    let tail = Buffer.alloc(0);
    const sock = await Bun.connect({
      hostname: host,
      port,
      socket: {
        // Light on purpose (the bench must not be what limits the rate): newlines counted in
        // place, error markers looked for once per chunk, no copy of the chunk.
        data(_s, d) {
          let n = 0;
          for (let nl = d.indexOf(10); nl >= 0; nl = d.indexOf(10, nl + 1)) n++;
          pending -= n;
          if (counting) {
            replies += n;
            for (let at = d.indexOf(ERROR); at >= 0; at = d.indexOf(ERROR, at + 1)) errors++;
            if (tail.length > 0) {
              const seam = Buffer.concat([tail, d.subarray(0, ERROR.length - 1)]);
              if (seam.indexOf(ERROR) >= 0) errors++;
            }
          }
          tail = Buffer.from(d.subarray(Math.max(0, d.length - (ERROR.length - 1))));
          if (pending === 0 && wake) {
            const w = wake;
            wake = null;
            w();
          }
        },
      },
    });
    let id = 0;
    while (performance.now() < end) {
      let msg = "";
      for (let k = 0; k < pipeline; k++) {
        const h = scripts[(c * pipeline + id) % scripts.length]!;
        msg += `{"jsonrpc":"2.0","id":${++id},"method":"blockchain.scripthash.get_balance","params":["${h}"]}\n`;
      }
      pending = pipeline;
      await new Promise<void>((resolve) => {
        wake = resolve;
        sock.write(msg);
      });
    }
    sock.end();
  };
  const warm = setTimeout(() => {
    counting = true;
    cpu = new CpuWindow(serverPid);
  }, warmEnd - performance.now());
  await Promise.all(Array.from({ length: n }, (_, c) => one(c)));
  clearTimeout(warm);
  const shares = (cpu as CpuWindow | null)?.end() ?? new CpuWindow(serverPid).end();
  return { connections: n, pipeline, scripts: scripts.length, seconds: shares.seconds, replies, reqPerSec: replies / shares.seconds, errors, cpu: shares };
}

// ---------------------------------------------------------------------------------------------
// The subscribed clients and their notifications

/** What one new block must produce, and what arrived. */
interface BlockWatch {
  height: number;
  /** Connection → script hashes still expected (a second notification for one is unexpected). */
  pendingScripts: Map<number, Set<string>>;
  headerSeen: Uint8Array;
  headerMs: number[];
  scriptMs: number[];
  unexpected: number;
  unexpectedSamples: string[];
}

class ClientFleet {
  readonly conns: (ElectrumConn | null)[];
  readonly lost: { conn: number; why: string }[] = [];
  watch: BlockWatch | null = null;
  /** Notifications outside a block window (there should be none). */
  stray = 0;
  straySamples: string[] = [];

  constructor(
    readonly size: number,
    private readonly host: string,
    private readonly port: number,
  ) {
    this.conns = new Array<ElectrumConn | null>(size).fill(null);
  }

  async open(i: number): Promise<ElectrumConn> {
    const conn = await ElectrumConn.open({
      host: this.host,
      port: this.port,
      onNotification: (n) => this.onNotification(i, n),
      onLost: (why) => this.lost.push({ conn: i, why }),
    });
    this.conns[i] = conn;
    return conn;
  }

  received(): number {
    return this.watch ? this.watch.headerMs.length + this.watch.scriptMs.length : 0;
  }

  private onNotification(conn: number, n: Notification): void {
    const w = this.watch;
    const describe = () => `#${conn} ${n.method} ${JSON.stringify(n.params).slice(0, 120)}`;
    if (!w) {
      this.stray++;
      if (this.straySamples.length < 10) this.straySamples.push(describe());
      return;
    }
    let ok = false;
    if (n.method === "blockchain.headers.subscribe") {
      const h = (n.params[0] as { height?: number } | undefined)?.height;
      if (h === w.height && w.headerSeen[conn] === 0) {
        w.headerSeen[conn] = 1;
        w.headerMs.push(n.receivedMs);
        ok = true;
      }
    } else if (n.method === "blockchain.scripthash.subscribe") {
      const set = w.pendingScripts.get(conn);
      if (set?.delete(String(n.params[0]))) {
        w.scriptMs.push(n.receivedMs);
        ok = true;
      }
    }
    if (!ok) {
      w.unexpected++;
      if (w.unexpectedSamples.length < 10) w.unexpectedSamples.push(describe());
    }
  }
}

interface SubscribeResult {
  connections: number;
  connected: number;
  connectSeconds: number;
  subscribeSeconds: number;
  subscriptions: number;
  subscriptionsPerSec: number;
  subscribeErrors: number;
  errorSamples: string[];
  nullStatuses: number;
  /** Per connection: first request sent to its last reply, ms. */
  perConnMs: Percentiles;
  connectCpu: CpuShares;
  subscribeCpu: CpuShares;
  rssAfter: MemSample;
  gauges: { clients: number | undefined; subscriptions: number | undefined };
}

async function subscribePhase(fleet: ClientFleet, scripts: readonly string[], opts: Options, serverPid: number, rss: RssSampler, metricsUrl: string): Promise<SubscribeResult> {
  const hashes = scripts.map(electrumHash);
  const cpuConnect = new CpuWindow(serverPid);
  const t0 = performance.now();
  const errors: string[] = [];
  let failedConnects = 0;
  await pool(Array.from({ length: fleet.size }, (_, i) => i), opts.connectConcurrency, async (i) => {
    try {
      const conn = await fleet.open(i);
      await conn.call("server.version", [CLIENT_NAME, "1.4"]);
    } catch (err) {
      failedConnects++;
      fleet.conns[i]?.close();
      fleet.conns[i] = null;
      if (errors.length < 10) errors.push(`#${i}: ${(err as Error).message}`);
    }
  });
  const connectSeconds = (performance.now() - t0) / 1000;
  const connectCpu = cpuConnect.end();
  console.log(`  ${fleet.size - failedConnects} of ${fleet.size} connected (server.version answered) in ${connectSeconds.toFixed(2)} s`);

  // Every connection pipelines its subscriptions at once: a server restart's reconnect storm.
  const cpuSub = new CpuWindow(serverPid);
  const t1 = performance.now();
  let subErrors = 0;
  let nullStatuses = 0;
  const perConn: number[] = [];
  await Promise.all(
    fleet.conns.map(async (conn, i) => {
      if (!conn) return;
      const start = performance.now();
      const mine = hashes.slice(i * opts.perConn, (i + 1) * opts.perConn);
      try {
        const replies = await Promise.all([conn.request("blockchain.headers.subscribe"), ...mine.map((h) => conn.request("blockchain.scripthash.subscribe", [h]))]);
        perConn.push(performance.now() - start);
        for (const r of replies) {
          const body = r.parse();
          if (body.error) {
            subErrors++;
            if (errors.length < 10) errors.push(`#${i}: ${body.error.code} ${body.error.message}`);
          } else if (body.result === null) {
            nullStatuses++;
          }
        }
      } catch (err) {
        subErrors += mine.length + 1;
        if (errors.length < 10) errors.push(`#${i}: ${(err as Error).message}`);
      }
    }),
  );
  const subscribeSeconds = (performance.now() - t1) / 1000;
  const subscribeCpu = cpuSub.end();
  const connected = fleet.conns.filter((c) => c !== null).length;
  const m = await readMetrics(metricsUrl);
  return {
    connections: fleet.size,
    connected,
    connectSeconds,
    subscribeSeconds,
    subscriptions: connected * opts.perConn,
    subscriptionsPerSec: (connected * opts.perConn) / subscribeSeconds,
    subscribeErrors: subErrors + failedConnects,
    errorSamples: errors,
    nullStatuses,
    perConnMs: percentiles(perConn),
    connectCpu,
    subscribeCpu,
    rssAfter: rss.sample(),
    gauges: { clients: m.get("electrum_clients"), subscriptions: m.get("electrum_subscriptions") },
  };
}

interface BlockResult {
  height: number;
  hashHex: string;
  txs: number;
  bytes: number;
  touchedScripts: number;
  expected: { headers: number; scripthash: number; total: number };
  received: { headers: number; scripthash: number; total: number; unexpected: number; unexpectedSamples: string[] };
  complete: boolean;
  /** Milliseconds from t0 (the rename of the new blk file) to the log line of the poll that found the block. */
  detectLogMs: number | null;
  /** Milliseconds from t0 to the `new tip` log line (the block is indexed and committed). */
  newTipLogMs: number | null;
  firstMs: number | null;
  lastMs: number | null;
  lastHeaderMs: number | null;
  lastScripthashMs: number | null;
  /** Notification arrival times from t0 (all of them). */
  arrivalMs: Percentiles;
  /** lastMs − newTipLogMs: fetching, mempool sync, scripts of the block, statuses, writing. */
  notifyMs: number | null;
  cpu: CpuShares;
  rssMax: MemSample;
  /** Seconds the server spent in each index step for this block (index_duration_sum deltas: fetch, parse, index, commit). */
  indexSteps: Record<string, number>;
  /** The server's /proc/<pid>/io deltas over the block's window. */
  io: Record<string, number>;
}

/** index_duration_sum by step. */
function indexStepSums(m: Map<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of m) {
    const r = /^index_duration_sum\{step="([^"]+)"\}$/.exec(k);
    if (r) out[r[1]!] = v;
  }
  return out;
}

/**
 * Below this share of a core the server counts as idle. It polls the blk files every
 * --main-loop-delay ms, so it is never at 0: raised to its measured idle share + 0.1 at start.
 */
let quietServerMax = 0.15;

/** Waits (≤ 30 s) for a quiet second before `what`; says so when none came. */
async function quiet(serverPid: number, what: string): Promise<void> {
  const r = await waitQuiet(serverPid, quietServerMax, 0.5);
  if (!r.quiet && r.last) console.log(`  warning: no quiet second within 30 s before ${what} (server ${pct(r.last.serverCpu)}, other processes ${pct(r.last.otherCpu)} of a core)`);
}

async function blockPhase(fleet: ClientFleet, planned: PlannedBlock, fileIndex: number, blocksDir: string, xorKey: Uint8Array, server: ServerProcess, rss: RssSampler, metricsUrl: string, opts: Options): Promise<BlockResult> {
  await quiet(server.pid, `block ${planned.block.height}`);
  const steps0 = indexStepSums(await readMetrics(metricsUrl));
  const io0 = procIo(server.pid);
  const live = fleet.conns.map((c) => c !== null && c.lost === null);
  const pendingScripts = new Map<number, Set<string>>();
  let expectedScripts = 0;
  for (const [conn, set] of planned.touched) {
    if (!live[conn]) continue;
    pendingScripts.set(conn, new Set(set));
    expectedScripts += set.size;
  }
  const expectedHeaders = live.filter(Boolean).length;
  const watch: BlockWatch = { height: planned.block.height, pendingScripts, headerSeen: new Uint8Array(fleet.size), headerMs: [], scriptMs: [], unexpected: 0, unexpectedSamples: [] };
  const expected = expectedHeaders + expectedScripts;
  // Both lines carry the server's clock (--timestamp); -v logs the poll that found the new file.
  const detectLine = server.waitFor(/^(\S+) DEBUG .*blk files: \d+ new blocks/, opts.notifyTimeoutMs).catch(() => null);
  const tipLine = server.waitFor(new RegExp(`^(\\S+) INFO\\s+new tip: height ${planned.block.height} `), opts.notifyTimeoutMs).catch(() => null);
  const cpu = new CpuWindow(server.pid);
  fleet.watch = watch;
  const t0 = publishBlockFile(blocksDir, fileIndex, xorKey, planned.block.bytes);
  const t0Wall = performance.timeOrigin + t0;
  await waitUntil(() => fleet.received() >= expected, opts.notifyTimeoutMs, 2);
  await Bun.sleep(opts.settleMs);
  fleet.watch = null;
  const cpuUse = cpu.end();
  // The lines came before the last notification; if one never comes (another log format), do not wait for its timeout.
  const grace = () => Bun.sleep(2000).then(() => null);
  const tip = await Promise.race([tipLine, grace()]);
  const detect = await Promise.race([detectLine, grace()]);
  const newTipLogMs = tip ? Date.parse(tip[1]!) - t0Wall : null;
  const detectLogMs = detect ? Date.parse(detect[1]!) - t0Wall : null;
  const io = ioDelta(io0, procIo(server.pid));
  const steps1 = indexStepSums(await readMetrics(metricsUrl));
  const indexSteps = Object.fromEntries(Object.entries(steps1).map(([k, v]) => [k, v - (steps0[k] ?? 0)]).filter(([, v]) => (v as number) > 0));
  const all = [...watch.headerMs, ...watch.scriptMs].map((t) => t - t0);
  const maxOf = (a: number[]) => (a.length ? Math.max(...a) - t0 : null);
  const lastMs = all.length ? Math.max(...all) : null;
  return {
    height: planned.block.height,
    hashHex: planned.block.hashHex,
    txs: planned.block.txidsHex.length + 1,
    bytes: planned.block.bytes.length,
    touchedScripts: planned.touchedScripts,
    expected: { headers: expectedHeaders, scripthash: expectedScripts, total: expected },
    received: { headers: watch.headerMs.length, scripthash: watch.scriptMs.length, total: all.length, unexpected: watch.unexpected, unexpectedSamples: watch.unexpectedSamples },
    complete: all.length === expected && watch.unexpected === 0,
    detectLogMs,
    newTipLogMs,
    firstMs: all.length ? Math.min(...all) : null,
    lastMs,
    lastHeaderMs: maxOf(watch.headerMs),
    lastScripthashMs: maxOf(watch.scriptMs),
    arrivalMs: percentiles(all),
    notifyMs: lastMs !== null && newTipLogMs !== null ? lastMs - newTipLogMs : null,
    cpu: cpuUse,
    rssMax: maxMem(rss.sample(), rss.maxSince(t0)),
    indexSteps,
    io,
  };
}

// ---------------------------------------------------------------------------------------------
// Latency

interface LatencyResult {
  method: string;
  size: string;
  target: number;
  mode: "sequential" | "pipelined";
  inFlight: number;
  requests: number;
  seconds: number;
  reqPerSec: number;
  latencyMs: Percentiles;
  /** Entries in the answer (history entries, UTXOs) of each script, from the first reply. */
  entries: number[];
  bytesPerReply: number;
  errors: number;
  errorSample: string | null;
  cpu: CpuShares;
  /** Highest sampled server memory during the case. */
  rssMax: MemSample;
}

function entriesOf(r: Reply): { entries: number; error: string | null } {
  const body = r.parse();
  if (body.error) return { entries: 0, error: `${body.error.code} ${body.error.message}` };
  return { entries: Array.isArray(body.result) ? body.result.length : 1, error: null };
}

async function latencyCase(conn: ElectrumConn, method: string, size: SizeCase, mode: "sequential" | "pipelined", opts: Options, serverPid: number, rss: RssSampler): Promise<LatencyResult> {
  await quiet(serverPid, `${method} ${size.label} ${mode}`);
  const hashes = size.hashes;
  const entries: number[] = [];
  for (const h of hashes) entries.push(entriesOf(await conn.request(method, [h])).entries);
  await conn.request(method, [hashes[0]!]); // warm-up
  const inFlight = mode === "sequential" ? 1 : opts.pipeline;
  const lat: number[] = [];
  let bytes = 0;
  let errors = 0;
  let errorSample: string | null = null;
  const record = (r: Reply) => {
    lat.push(r.receivedMs - r.sentMs);
    bytes += r.line.length + 1;
    if (r.isError()) {
      errors++;
      errorSample ??= entriesOf(r).error;
    }
  };
  const cpu = new CpuWindow(serverPid);
  const t0 = performance.now();
  const deadline = t0 + opts.caseSeconds * 1000;
  let sent = 0;
  const worker = async () => {
    while (sent < opts.requests && performance.now() < deadline) {
      const h = hashes[sent++ % hashes.length]!;
      record(await conn.request(method, [h]));
    }
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
  const seconds = (performance.now() - t0) / 1000;
  return {
    method,
    size: size.label,
    target: size.target,
    mode,
    inFlight,
    requests: lat.length,
    seconds,
    reqPerSec: lat.length / seconds,
    latencyMs: percentiles(lat),
    entries,
    bytesPerReply: lat.length ? bytes / lat.length : 0,
    errors,
    errorSample,
    cpu: cpu.end(),
    rssMax: maxMem(rss.sample(), rss.maxSince(t0)),
  };
}

// ---------------------------------------------------------------------------------------------
// Output

const MiB = 1024 * 1024;
const fmtMiB = (b: number | undefined | null) => (b ? `${(b / MiB).toFixed(0)} MiB` : "?");
/** VmRSS with its anonymous part: the rest is mostly the read connection's memory map of the index (page cache). */
const fmtMem = (m: MemSample) => `${fmtMiB(m.rss)} (anon ${fmtMiB(m.anon)})`;
const maxMem = (a: MemSample, b: MemSample): MemSample => ({ rss: Math.max(a.rss, b.rss), anon: Math.max(a.anon, b.anon), file: Math.max(a.file, b.file) });
const fmtMs = (ms: number | null) => (ms === null ? "-" : ms >= 100 ? ms.toFixed(0) : ms >= 10 ? ms.toFixed(1) : ms.toFixed(2));
const pct = (x: number) => `${Math.round(x * 100)} %`;

function printMachine(m: MachineInfo): void {
  console.log(`machine: ${m.nproc} CPUs (nproc), ${m.cpuModel}, ${m.ramGiB} GiB RAM, Linux ${m.kernel}, Bun ${m.bun}`);
  console.log(`load average (1 min): ${m.loadAvg1m.toFixed(2)} at start, ${(loadavg()[0] ?? 0).toFixed(2)} now`);
}

function printTable(header: string[], rows: string[][]): void {
  const lines = [header, ...rows];
  const widths = header.map((_, c) => Math.max(...lines.map((row) => (row[c] ?? "").length)));
  for (const [i, row] of lines.entries()) {
    console.log("  " + row.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join("  "));
    if (i === 0) console.log("  " + widths.map((w) => "-".repeat(w)).join("  "));
  }
}

function printBlocks(blocks: BlockResult[], delayMs: number): void {
  printTable(
    ["block", "txs", "touched", "expected", "received", "extra", "found ms", "new tip ms", "first ms", "last hdr ms", "last sh ms", "last ms", "notify ms", "p50 ms", "server CPU", "bench CPU", "other CPU"],
    blocks.map((b) => [
      String(b.height),
      String(b.txs),
      String(b.touchedScripts),
      String(b.expected.total),
      String(b.received.total),
      String(b.received.unexpected),
      fmtMs(b.detectLogMs),
      fmtMs(b.newTipLogMs),
      fmtMs(b.firstMs),
      fmtMs(b.lastHeaderMs),
      fmtMs(b.lastScripthashMs),
      fmtMs(b.lastMs),
      fmtMs(b.notifyMs),
      fmtMs(b.arrivalMs.p50),
      pct(b.cpu.serverCpu),
      pct(b.cpu.benchCpu),
      pct(b.cpu.otherCpu),
    ]),
  );
  console.log(
    `  times from t0 = the rename of the new blk file, in ms. found = the server's log line of the poll that saw the new file (up to ${delayMs} ms ` +
      `of waiting for the next poll, --main-loop-delay); new tip = its log line once the block is indexed; notify = last − new tip. ` +
      `CPU shares are over the block's window (≥ --settle).`,
  );
}

function printLatency(rows: LatencyResult[]): void {
  printTable(
    ["method", "scripts", "entries", "mode", "req", "req/s", "p50 ms", "p99 ms", "max ms", "KB/reply", "errors", "server CPU", "bench CPU", "other CPU", "RSS max (anon)"],
    rows.map((r) => [
      r.method.replace("blockchain.scripthash.", ""),
      r.size,
      [...new Set(r.entries)].length <= 3 ? [...new Set(r.entries)].join("/") : `${Math.min(...r.entries)}–${Math.max(...r.entries)}`,
      r.mode === "sequential" ? "seq" : `pipe ${r.inFlight}`,
      String(r.requests),
      r.reqPerSec >= 100 ? r.reqPerSec.toFixed(0) : r.reqPerSec.toFixed(1),
      fmtMs(r.latencyMs.p50),
      fmtMs(r.latencyMs.p99),
      fmtMs(r.latencyMs.max),
      (r.bytesPerReply / 1024).toFixed(1),
      r.errors ? `${r.errors} (${r.errorSample})` : "",
      // /proc/stat counts in 10 ms ticks: shares over a shorter window are noise.
      r.cpu.seconds >= 0.5 ? pct(r.cpu.serverCpu) : "-",
      r.cpu.seconds >= 0.5 ? pct(r.cpu.benchCpu) : "-",
      r.cpu.seconds >= 0.5 ? pct(r.cpu.otherCpu) : "-",
      fmtMem(r.rssMax),
    ]),
  );
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<number> {
  const opts = options(parseArgs(process.argv.slice(2), ["reindex", "keep", "verbose"]));
  const machine = machineInfo();
  printMachine(machine);
  const metaPath = join(opts.chainDir, "meta.json");
  if (!existsSync(metaPath)) throw new Error(`${metaPath} not found: generate the chain first (bun bench/gen-chain.ts --txs 2m --out bench/data/chain-2m)`);
  const meta = JSON.parse(readFileSync(metaPath, "utf8")) as GeneratedMeta;
  const chainName = basename(opts.chainDir);
  console.log(`chain: ${opts.chainDir.replace(ROOT + "/", "")}, ${meta.txs} txs, ${meta.blocks} blocks`);
  mkdirSync(DATA, { recursive: true });

  const total = opts.connections * opts.perConn;
  let t = performance.now();
  const sampleOpts = { ...DEFAULT_ELECTRUM_SAMPLE, subscriptions: total };
  const sample = loadOrBuildElectrumSample(opts.chainDir, join(DATA, `electrum-sample-${chainName}.json`), meta.tipHashHex, meta.popularScripts.map((p) => p.scriptHex), sampleOpts);
  console.log(`sample: ${sample.subscriptions.length} subscription scripts from heights ${sample.heightRange[0]}–${sample.heightRange[1]}, ${sample.sizeCandidates.length} size candidates (${((performance.now() - t) / 1000).toFixed(1)} s)`);

  const binary = await ensureBinary(opts.binary);
  const id = binaryId(binary);
  const base = await baseIndex(binary, meta, opts);
  const runDir = join(DATA, `electrum-run-${chainName}`);
  const run = prepareRunDir(runDir, opts.chainDir, base.dir);
  console.log(`index: copy of ${base.source} in ${run.copySeconds.toFixed(1)} s; blocks: symlinks in ${run.blocksDir.replace(ROOT + "/", "")}`);

  const extra = [
    "--main-loop-delay", String(opts.mainLoopDelayMs), "--electrum-txs-limit", String(TXS_LIMIT), "--utxos-limit", String(TXS_LIMIT),
    "--electrum-max-response-bytes", String(MAX_RESPONSE_BYTES), "--timestamp", "-v",
  ];
  const cmd = serverCommand(binary, run.blocksDir, run.dbDir, await freePorts(), [...extra, "--serve-workers", String(opts.serveWorkers[0])]);
  console.log(`$ ${cmd.map((c) => c.replace(ROOT + "/", "")).join(" ")}`);
  t = performance.now();
  const server = new ServerProcess("electrs-bun", cmd, { cwd: ROOT, echo: opts.verbose });
  const rss = new RssSampler(server.pid);
  const fleet: { value: ClientFleet | null } = { value: null };
  let control: ElectrumConn | null = null;
  try {
    const ready = await server.waitFor(STARTUP_LINE, 600_000).catch((err: Error) => {
      // An index built by an older build may not suit this one.
      throw new Error(`${err.message}\n(the index is a copy of ${base.source}: if the log asks for a reindex, run again with --reindex)`);
    });
    const [restUrl, electrumAddr, metricsUrl] = [ready[1]!, ready[2]!, ready[3]!];
    const startSeconds = (performance.now() - t) / 1000;
    const [host, portText] = [electrumAddr.slice(0, electrumAddr.lastIndexOf(":")), electrumAddr.slice(electrumAddr.lastIndexOf(":") + 1)];
    const port = Number(portText);
    console.log(`server ready in ${startSeconds.toFixed(1)} s (binary built ${id.mtime}, wyhash ${id.wyhash}); Electrum on ${electrumAddr}`);
    await Bun.sleep(2000); // start-up work (statement preparation, the first polls)
    const rssIdle = rss.sample();
    const idleCpuBefore = await idleCpu(server.pid);
    quietServerMax = Math.max(quietServerMax, idleCpuBefore + 0.1);
    console.log(`server CPU while idle (polling every ${opts.mainLoopDelayMs} ms): ${pct(idleCpuBefore)} of a core`);

    control = await ElectrumConn.open({ host, port });
    await control.call("server.version", [CLIENT_NAME, "1.4"]);
    const tipReply = await control.call<{ height: number; hex: string }>("blockchain.headers.subscribe");
    const tipHeader = parseHeader(hexToBytes(tipReply.hex));
    if (hashToHex(tipHeader.hash) !== meta.tipHashHex) throw new Error(`the server's tip is ${hashToHex(tipHeader.hash)}, meta.json says ${meta.tipHashHex}`);

    t = performance.now();
    const sizes = await resolveSizeCases(restUrl, meta, sample.sizeCandidates);
    for (const s of sizes) console.log(`  ~${s.target} entries: ${s.label} (UTXOs ${[...new Set(s.utxos)].slice(0, 5).join("/")}${s.utxos.length > 5 ? "/…" : ""})`);
    const miner = meta.popularScripts.find((p) => p.role.startsWith("miner-"));
    if (!miner) throw new Error("meta.json lists no mining-pool script");
    const planned = await planBlocks(control, sample.subscriptions, opts, { hash: tipHeader.hash, height: tipReply.height, time: tipHeader.time }, miner.scriptHex);
    console.log(
      `planned ${planned.length} blocks: ${planned.map((p) => `${p.block.height} (${p.block.txidsHex.length + 1} txs, ${p.block.bytes.length} B, ${p.touchedScripts} scripts)`).join(", ")} ` +
        `in ${((performance.now() - t) / 1000).toFixed(1)} s`,
    );
    // A sample of the subscription scripts' history sizes, for the record.
    const histSample = await pool(sample.subscriptions.slice(0, 200), 16, async (s) => (await restStats(restUrl, s)).txCount);
    const subHist = percentiles(histSample);
    console.log(`subscription scripts' history (200 sampled): p50 ${subHist.p50}, p90 ${subHist.p90}, max ${subHist.max} txs`);

    console.log(`\nsubscribe phase: ${opts.connections} connections × (headers + ${opts.perConn} script hashes)`);
    fleet.value = new ClientFleet(opts.connections, host, port);
    const sub = await subscribePhase(fleet.value, sample.subscriptions, opts, server.pid, rss, metricsUrl);
    console.log(
      `  subscribed ${sub.subscriptions} script hashes in ${sub.subscribeSeconds.toFixed(2)} s (${Math.round(sub.subscriptionsPerSec)}/s); ` +
        `per connection p50 ${fmtMs(sub.perConnMs.p50)} ms, p99 ${fmtMs(sub.perConnMs.p99)} ms; server CPU ${pct(sub.subscribeCpu.serverCpu)}, bench CPU ${pct(sub.subscribeCpu.benchCpu)}, other ${pct(sub.subscribeCpu.otherCpu)}`,
    );
    console.log(`  errors ${sub.subscribeErrors}, null statuses ${sub.nullStatuses}; server gauges: electrum_clients ${sub.gauges.clients}, electrum_subscriptions ${sub.gauges.subscriptions}; RSS ${fmtMem(sub.rssAfter)} (idle before: ${fmtMem(rssIdle)})`);
    for (const e of sub.errorSamples) console.log(`  error: ${e}`);

    console.log(`\nnew blocks (--main-loop-delay ${opts.mainLoopDelayMs} ms):`);
    const xorKey = readXorKey(opts.chainDir);
    const blocks: BlockResult[] = [];
    for (const [i, p] of planned.entries()) {
      const r = await blockPhase(fleet.value, p, run.nextFileIndex + i, run.blocksDir, xorKey, server, rss, metricsUrl, opts);
      blocks.push(r);
      console.log(`  block ${r.height}: ${r.received.total}/${r.expected.total} notifications, last at ${fmtMs(r.lastMs)} ms (new tip logged at ${fmtMs(r.newTipLogMs)} ms)${r.complete ? "" : "  INCOMPLETE or EXTRA"}`);
      for (const s of r.received.unexpectedSamples) console.log(`    unexpected: ${s}`);
    }
    const metricsAfterBlocks = await readMetrics(metricsUrl);
    const rssAfterBlocks = rss.sample();
    const idleCpuAfter = await idleCpu(server.pid);
    console.log(`server CPU while idle after the blocks (${fleet.value.conns.filter((c) => c).length} connections open): ${pct(idleCpuAfter)} of a core`);
    const lostDuringRun = [...fleet.value.lost];

    // Close the fleet: the server drops 40k subscriptions.
    t = performance.now();
    for (const c of fleet.value.conns) c?.close();
    let clientsLeft: number | undefined;
    const closeDeadline = performance.now() + 60_000;
    while (performance.now() < closeDeadline) {
      const m = await readMetrics(metricsUrl);
      clientsLeft = m.get("electrum_clients");
      if (clientsLeft !== undefined && clientsLeft <= 1) break;
      await Bun.sleep(20);
    }
    const closeSeconds = (performance.now() - t) / 1000;
    console.log(`\nclosed ${sub.connected} connections: the server's electrum_clients gauge reached ${clientsLeft} in ${closeSeconds.toFixed(2)} s`);

    console.log(`\nlatency (one connection; sequential, then ${opts.pipeline} in flight; ≤ ${opts.requests} requests or ${opts.caseSeconds} s per row):`);
    const latency: LatencyResult[] = [];
    for (const method of METHODS) {
      for (const size of sizes) {
        for (const mode of ["sequential", "pipelined"] as const) {
          const r = await latencyCase(control, method, size, mode, opts, server.pid, rss);
          latency.push(r);
          if (opts.verbose) console.log(`  ${method} ${size.label} ${mode}: p50 ${fmtMs(r.latencyMs.p50)} ms`);
        }
      }
    }
    printLatency(latency);
    const overLimit = latency.filter((r) => r.errors > 0);
    for (const r of overLimit) console.log(`  note: ${r.method} for ${r.size}: ${r.errors} error replies (${r.errorSample})`);

    const throughput = await throughputPhase(host, port, sample.subscriptions.map(electrumHash), opts, server.pid);
    console.log(
      `\nthroughput: ${throughput.connections} connections × ${throughput.pipeline} pipelined get_balance (${throughput.scripts} subscription scripts, ${throughput.seconds.toFixed(1)} s): ` +
        `${Math.round(throughput.reqPerSec)} req/s, ${throughput.errors} errors; server CPU ${pct(throughput.cpu.serverCpu)}, bench CPU ${pct(throughput.cpu.benchCpu)}, other ${pct(throughput.cpu.otherCpu)}`,
    );

    control.close();
    control = null;
    const vmHwm = procMemBytes(server.pid, "VmHWM") ?? 0;
    const rssMaxSampled = rss.maxSince(0);
    rss.stop();
    const code = await server.stop();
    if (code !== 0 && code !== null) console.log(`warning: server exited with code ${code}`);

    // The throughput again with each other --serve-workers (the run above had the first one).
    const throughputByWorkers: { workers: number; result: ThroughputResult }[] = [{ workers: opts.serveWorkers[0]!, result: throughput }];
    for (const workers of opts.serveWorkers.slice(1)) {
      const again = new ServerProcess("electrs-bun", serverCommand(binary, run.blocksDir, run.dbDir, await freePorts(), [...extra, "--serve-workers", String(workers)]), { cwd: ROOT, echo: opts.verbose });
      try {
        const line = await again.waitFor(STARTUP_LINE, 600_000);
        const addr = line[2]!;
        await Bun.sleep(2000);
        const r = await throughputPhase(addr.slice(0, addr.lastIndexOf(":")), Number(addr.slice(addr.lastIndexOf(":") + 1)), sample.subscriptions.map(electrumHash), opts, again.pid);
        throughputByWorkers.push({ workers, result: r });
        console.log(
          `throughput with --serve-workers ${workers}: ${Math.round(r.reqPerSec)} req/s, ${r.errors} errors; server CPU ${pct(r.cpu.serverCpu)}, bench CPU ${pct(r.cpu.benchCpu)}, other ${pct(r.cpu.otherCpu)}`,
        );
      } finally {
        await again.stop();
      }
    }

    console.log(`\n=== summary (${chainName}, ${opts.connections} connections × ${opts.perConn} script hashes) ===`);
    console.log(`subscribe: connect + server.version ${sub.connectSeconds.toFixed(2)} s, subscriptions ${sub.subscribeSeconds.toFixed(2)} s (${Math.round(sub.subscriptionsPerSec)}/s), RSS after ${fmtMem(sub.rssAfter)}`);
    console.log("new blocks:");
    printBlocks(blocks, opts.mainLoopDelayMs);
    for (const b of blocks) {
      const steps = Object.entries(b.indexSteps).map(([k, v]) => `${k} ${v.toFixed(3)}`).join(", ") || "none recorded";
      const io = `read ${(b.io.rchar! / MiB).toFixed(1)} MiB in ${b.io.syscr} calls (${(b.io.read_bytes! / MiB).toFixed(1)} MiB from disk), wrote ${(b.io.wchar! / MiB).toFixed(1)} MiB (${(b.io.write_bytes! / MiB).toFixed(1)} MiB to disk)`;
      console.log(`  block ${b.height}: index steps (s) ${steps}; server I/O ${io}`);
    }
    console.log(`notifications counted by the server: ${[...metricsAfterBlocks].filter(([k]) => k.startsWith("electrum_notifications_total")).map(([k, v]) => `${k} ${v}`).join(", ")}`);
    if (lostDuringRun.length) console.log(`connections lost during the run: ${lostDuringRun.length} (${lostDuringRun.slice(0, 5).map((l) => `#${l.conn}: ${l.why}`).join("; ")})`);
    if (fleet.value.stray) console.log(`notifications outside a block window: ${fleet.value.stray} (${fleet.value.straySamples.join("; ")})`);
    console.log(
      `peak RSS: VmHWM ${fmtMiB(vmHwm)}; sampled max: VmRSS ${fmtMiB(rssMaxSampled.rss)}, RssAnon ${fmtMiB(rssMaxSampled.anon)}, RssFile ${fmtMiB(rssMaxSampled.file)}; ` +
        `idle after start ${fmtMem(rssIdle)}, after subscribing ${fmtMem(sub.rssAfter)}, after the blocks ${fmtMem(rssAfterBlocks)}`,
    );
    console.log("  (VmRSS counts the pages of the index file the read connection maps (RssFile): page cache the kernel can reclaim; RssAnon is the process's own memory)");
    for (const { workers, result: r } of throughputByWorkers) {
      console.log(
        `throughput: ${r.connections} connections × ${r.pipeline} pipelined get_balance, --serve-workers ${workers}: ${Math.round(r.reqPerSec)} req/s ` +
          `(${(r.reqPerSec / throughput.reqPerSec).toFixed(2)}× --serve-workers ${opts.serveWorkers[0]}; server CPU ${pct(r.cpu.serverCpu)}, bench CPU ${pct(r.cpu.benchCpu)}, other ${pct(r.cpu.otherCpu)})`,
      );
    }
    printMachine(machine);

    writeFileSync(
      opts.out,
      JSON.stringify(
        {
          date: new Date().toISOString(),
          machine,
          loadAvgEnd: loadavg()[0] ?? 0,
          chain: { dir: opts.chainDir.replace(ROOT + "/", ""), txs: meta.txs, blocks: meta.blocks, tipHashHex: meta.tipHashHex },
          binary: binary.replace(ROOT + "/", ""),
          binaryId: id,
          index: base.source,
          serverArgs: extra,
          options: { ...opts, chainDir: undefined, out: undefined },
          startSeconds,
          subscriptionHistorySample: subHist,
          sizes,
          subscribe: sub,
          blocks,
          notificationsMetric: Object.fromEntries([...metricsAfterBlocks].filter(([k]) => k.startsWith("electrum_notifications_total"))),
          lostConnections: lostDuringRun,
          strayNotifications: fleet.value.stray,
          closeSeconds,
          idleServerCpu: { beforeBlocks: idleCpuBefore, afterBlocks: idleCpuAfter },
          latency,
          throughput,
          throughputByWorkers,
          memoryBytes: { idle: rssIdle, afterSubscribe: sub.rssAfter, afterBlocks: rssAfterBlocks, maxSampled: rssMaxSampled, vmHwm },
        },
        null,
        2,
      ) + "\n",
    );
    console.log(`results saved to ${opts.out.replace(ROOT + "/", "")}`);
    const bad = blocks.filter((b) => !b.complete).length + (sub.subscribeErrors > 0 ? 1 : 0) + lostDuringRun.length;
    if (bad) console.log("WARNING: errors, lost connections, or missing / extra notifications: see above");
    return bad ? 1 : 0;
  } finally {
    control?.close();
    for (const c of fleet.value?.conns ?? []) c?.close();
    rss.stop();
    await server.stop();
    if (!opts.keep) rmSync(runDir, { recursive: true, force: true });
  }
}

try {
  process.exitCode = await main();
} catch (e) {
  console.error(`electrum-bench: ${(e as Error).stack ?? (e as Error).message}`);
  process.exitCode = 2;
}
