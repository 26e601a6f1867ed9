/**
 * The server process as users run it: bad input refused with one clear line and nothing left
 * behind; SIGTERM during the initial sync exits 0 within 5 s; kill -9 at any moment of the initial
 * sync or of an update, then a restart, ends in exactly the index an uninterrupted run gives.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync, appendFileSync } from "node:fs";
import { join } from "node:path";
import { Database } from "bun:sqlite";
import { NETWORKS } from "../../src/bitcoin/network.ts";
import { scanBlocksDir } from "../../src/daemon/blkfiles.ts";
import { silentLogger } from "../../src/log.ts";
import { generateChain } from "../../bench/gen-chain.ts";
import { MAIN, spawnApp, metricsUrl } from "../helpers/app-process.ts";
import { digestIndexFile } from "../helpers/index-check.ts";
import { RECENT_TABLES } from "../../src/store/recent.ts";
import { tempDir } from "../helpers/tmp.ts";
import { freePort } from "../helpers/bcoin-node.ts";

const T = 60_000;
let work: ReturnType<typeof tempDir>;
let chainDir: string;
let reference: string; // digest of an uninterrupted run over the whole chain
let tipHeight: number;

const common = (db: string, blocks: string, extra: string[] = []) => [
  "--offline",
  "--network", "regtest",
  "--blocks-dir", blocks,
  "--db-dir", db,
  "--monitoring-addr", "127.0.0.1:0",
  "--http-addr", "127.0.0.1:0",
  "--electrum-rpc-addr", "127.0.0.1:0",
  ...extra,
];
const indexFile = (db: string) => join(db, "regtest", "index.sqlite");

/** Runs the server until the index is ready, then stops it with SIGTERM; returns the log. */
async function runToReady(db: string, blocks: string, extra: string[] = []): Promise<string> {
  const app = spawnApp(common(db, blocks, extra));
  await app.waitFor(/index ready at height/, T);
  app.kill("SIGTERM");
  expect(await app.exited).toBe(0);
  return app.log();
}

beforeAll(async () => {
  work = tempDir();
  chainDir = join(work.path, "chain");
  // A mainnet-like chain of 40k txs in 100 blocks, written like Core (XOR-ed, some blocks swapped).
  const meta = generateChain({ out: chainDir, txs: 40_000, seed: 11, blockTxs: 400, swapRate: 0.05, pad: true });
  tipHeight = meta.tipHeight;
  const db = join(work.path, "reference");
  const log = await runToReady(db, chainDir);
  expect(log).toContain(`initial sync complete: height=${tipHeight} txs=40000`);
  reference = digestIndexFile(indexFile(db));
}, T);

afterAll(() => work?.[Symbol.dispose]());

describe("start-up errors: one clear line, non-zero exit, nothing half-started", () => {
  test("an unknown flag and a bad value", async () => {
    for (const [args, msg] of [
      [["--bogus"], /^error: unknown flag --bogus/],
      [["--network", "moon"], /^error: invalid value "moon" for --network/],
      [["--daemon-parallelism", "x"], /^error: invalid value "x" for --daemon-parallelism/],
    ] as const) {
      const app = spawnApp([...args]);
      expect(await app.exited).toBe(2);
      expect(app.lines.filter((l) => l.trim())).toHaveLength(1);
      expect(app.lines[0]).toMatch(msg);
    }
  }, T);

  test("--help and --version", async () => {
    const help = spawnApp(["--help"]);
    expect(await help.exited).toBe(0);
    for (const flag of ["--network", "--db-dir", "--cookie-file", "--jsonrpc-import", "--zmq-addr", "--offline", "--monitoring-addr"]) {
      expect(help.log()).toContain(flag);
    }
    const version = spawnApp(["--version"]);
    expect(await version.exited).toBe(0);
    expect(version.log()).toMatch(/electrs-bun 0\.1\.0/);
  }, T);

  test("the monitoring port in use", async () => {
    using tmp = tempDir();
    const busy = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    try {
      const app = spawnApp(["--offline", "--network", "regtest", "--blocks-dir", chainDir, "--db-dir", tmp.path, "--monitoring-addr", `127.0.0.1:${busy.port}`]);
      expect(await app.exited).toBe(1);
      expect(app.log()).toContain(`cannot listen on 127.0.0.1:${busy.port} for --monitoring-addr: address in use`);
      expect(existsSync(join(tmp.path, "regtest"))).toBe(false);
    } finally {
      busy.stop(true);
    }
  }, T);

  test("an unreadable cookie file", async () => {
    using tmp = tempDir();
    const cookie = join(tmp.path, "missing", ".cookie");
    const app = spawnApp(["--network", "regtest", "--db-dir", tmp.path, "--cookie-file", cookie, "--monitoring-addr", "127.0.0.1:0"]);
    expect(await app.exited).toBe(1);
    expect(app.log()).toContain(`cannot read the bitcoind cookie file ${cookie}`);
    expect(existsSync(join(tmp.path, "regtest"))).toBe(false);
  }, T);

  test("a node unreachable past the retry window", async () => {
    using tmp = tempDir();
    const port = freePort();
    const app = spawnApp([
      "--network", "regtest", "--db-dir", tmp.path, "--cookie", "user:pass",
      "--daemon-rpc-addr", `127.0.0.1:${port}`, "--daemon-startup-timeout", "1", "--monitoring-addr", "127.0.0.1:0",
    ]);
    expect(await app.exited).toBe(1);
    expect(app.log()).toMatch(new RegExp(`bitcoind unreachable at 127\\.0\\.0\\.1:${port}.*giving up, past the retry window`));
    expect(existsSync(join(tmp.path, "regtest"))).toBe(false);
  }, T);

  test("--offline without blk files", async () => {
    using tmp = tempDir();
    const app = spawnApp(["--offline", "--network", "regtest", "--blocks-dir", tmp.path, "--db-dir", tmp.path, "--monitoring-addr", "127.0.0.1:0"]);
    expect(await app.exited).toBe(1);
    expect(app.log()).toContain("--offline needs Bitcoin Core's blk*.dat files");
  }, T);
});

describe("Electrum over TLS, WebSocket and WebSocket over TLS", () => {
  const TLS = join(import.meta.dir, "..", "fixtures", "tls");
  const CERT = join(TLS, "cert.pem");
  const KEY = join(TLS, "key.pem");
  const cert = readFileSync(CERT, "utf8");

  test("a key that is not the certificate's: one line, exit 1, nothing opened", async () => {
    using tmp = tempDir();
    const app = spawnApp(["--offline", "--network", "regtest", "--blocks-dir", chainDir, "--db-dir", tmp.path, "--monitoring-addr", "127.0.0.1:0",
      "--electrum-tls-addr", "127.0.0.1:0", "--tls-cert", CERT, "--tls-key", CERT]);
    expect(await app.exited).toBe(1);
    expect(app.log()).toContain(`--tls-key ${CERT} is not a PEM private key`);
    expect(existsSync(join(tmp.path, "regtest"))).toBe(false);
  }, T);

  test("every listener serves the index; the startup line names them", async () => {
    using tmp = tempDir();
    const app = spawnApp(common(join(tmp.path, "db"), chainDir, [
      "--electrum-tls-addr", "127.0.0.1:0", "--electrum-ws-addr", "127.0.0.1:0", "--electrum-wss-addr", "127.0.0.1:0",
      "--tls-cert", CERT, "--tls-key", KEY,
    ]));
    try {
      const line = await app.waitFor(/startup complete: .*/, T);
      const addr = (kind: string) => new RegExp(`Electrum ${kind} on (127\\.0\\.0\\.1:\\d+)`).exec(line)![1]!;
      const port = (kind: string) => Number(addr(kind).split(":")[1]);
      const request = JSON.stringify({ jsonrpc: "2.0", id: 1, method: "blockchain.headers.subscribe", params: [] });

      // TLS: the certificate verifies for localhost; one newline-terminated answer.
      let received = "";
      const done = Promise.withResolvers<void>();
      let shaken!: () => void;
      const handshake = new Promise<void>((r) => (shaken = r));
      const socket = await Bun.connect({
        hostname: "127.0.0.1", port: port("TLS"), tls: { ca: cert, serverName: "localhost" },
        socket: {
          handshake: (_s, ok) => ok && shaken(),
          data: (_s, chunk) => {
            received += chunk.toString("utf8");
            if (received.endsWith("\n")) done.resolve();
          },
        },
      });
      await handshake;
      socket.write(request + "\n");
      await done.promise;
      socket.end();
      expect(JSON.parse(received).result.height).toBe(tipHeight);

      // WS and WSS: the answer is one frame without a newline.
      for (const url of [`ws://${addr("WS")}/`, `wss://localhost:${port("WSS")}/`]) {
        const ws = new WebSocket(url, { tls: { ca: cert } } as unknown as string[]);
        const frame = await new Promise<string>((resolve, reject) => {
          ws.onopen = () => ws.send(request);
          ws.onmessage = (e) => resolve(String(e.data));
          ws.onerror = () => reject(new Error(`WebSocket error on ${url}`));
        });
        ws.close();
        expect(frame).not.toContain("\n");
        expect(JSON.parse(frame).result.height).toBe(tipHeight);
      }
    } finally {
      app.kill("SIGTERM");
      expect(await app.exited).toBe(0);
    }
  }, T);
});

describe("signals and crashes", () => {
  test("/metrics serves electrs' names while running", async () => {
    using tmp = tempDir();
    const app = spawnApp(common(tmp.path, chainDir));
    try {
      const url = await metricsUrl(app);
      await app.waitFor(/index ready/, T);
      const text = await (await fetch(url)).text();
      expect(text).toContain(`tip_height ${tipHeight}`);
      for (const name of ["index_duration_bucket{", "electrs_main_loop_count", "process_memory_rss", 'process_cpu_usage{type="utime"}', "process_fs_fds", "electrs_bun_indexed_txs_total 40000"]) {
        expect(text).toContain(name);
      }
    } finally {
      app.kill("SIGTERM");
      expect(await app.exited).toBe(0);
    }
  }, T);

  test("a log reader that goes away (EPIPE on stderr) does not take the server down", async () => {
    using tmp = tempDir();
    const proc = Bun.spawn([process.execPath, MAIN, ...common(tmp.path, chainDir, ["--main-loop-delay", "50"])], { stderr: "pipe", stdout: "ignore" });
    let log = "";
    const dec = new TextDecoder();
    for await (const chunk of proc.stderr as ReadableStream<Uint8Array>) {
      log += dec.decode(chunk);
      if (log.includes("serving Prometheus metrics on")) break; // closes our end of the pipe
    }
    const url = /serving Prometheus metrics on (\S+)/.exec(log)![1]!;
    // The sync and 50 ms main-loop turns go on logging into the closed pipe; wait until it is synced.
    let text = "";
    for (let i = 0; i < 200 && !text.includes(`tip_height ${tipHeight}`); i++) {
      text = await (await fetch(url)).text();
      await Bun.sleep(50);
    }
    expect(text).toContain(`tip_height ${tipHeight}`);
    proc.kill("SIGTERM");
    expect(await proc.exited).toBe(0);
  }, T);

  test("SIGTERM during the initial sync: exit 0 within 5 s, and a restart completes the same index", async () => {
    using tmp = tempDir();
    const app = spawnApp(common(tmp.path, chainDir, ["--initial-sync-batch-size", "2"]));
    await app.waitFor(/initial sync from height 0/, T);
    const t0 = performance.now();
    app.kill("SIGTERM");
    expect(await app.exited).toBe(0);
    expect(performance.now() - t0).toBeLessThan(5000);
    expect(app.log()).toContain("server stopped");
    await runToReady(tmp.path, chainDir);
    expect(digestIndexFile(indexFile(tmp.path))).toBe(reference);
  }, T);

  test("kill -9 at several moments of the initial sync, then a restart: the same index", async () => {
    using tmp = tempDir();
    let resumedMidway = 0;
    // Each run is killed a little later than the last; whatever moment it lands on, the restart must converge.
    for (const delayMs of [0, 40, 120, 250]) {
      // One block per transaction: many commits, so every moment of the sync is a possible kill point.
      const app = spawnApp(common(tmp.path, chainDir, ["--initial-sync-batch-size", "1"]));
      await app.waitFor(/initial sync from height|index ready/, T);
      await Bun.sleep(delayMs);
      app.kill("SIGKILL");
      await app.exited;
      if (existsSync(indexFile(tmp.path))) {
        const restart = spawnApp(common(tmp.path, chainDir));
        const line = await restart.waitFor(/resuming the initial sync from height|initial sync from height 0|index ready/, T);
        if (/resuming/.test(line)) resumedMidway++;
        restart.kill("SIGKILL"); // and crash the restart too, at once
        await restart.exited;
      }
    }
    expect(resumedMidway).toBeGreaterThan(0);
    await runToReady(tmp.path, chainDir);
    expect(digestIndexFile(indexFile(tmp.path))).toBe(reference);
  }, T);

  test("a 1 MiB UTXO table (most outputs spill to the store): kill -9 during the load, then in the index-building pass; each restart converges to the same index", async () => {
    using tmp = tempDir();
    const small = ["--db-cache-mb", "1", "--initial-sync-batch-size", "3"];
    // During the load, with evictions going on (the chain has ~90k outputs, the table holds ~22k).
    let app = spawnApp(common(tmp.path, chainDir, small));
    await app.waitFor(/initial sync from height 0/, T);
    await Bun.sleep(150);
    app.kill("SIGKILL");
    await app.exited;
    // The restart rebuilds the table above the eviction bound and goes on; killed as soon as the
    // index-building pass begins (a deterministic moment: the line is logged just before it).
    app = spawnApp(common(tmp.path, chainDir, small));
    await app.waitFor(/building the secondary indexes/, T);
    app.kill("SIGKILL");
    await app.exited;
    // (The in-process resume with a 16-slot table is tested deterministically in fixture-reorg.test.ts.)
    // The next start finds every block indexed and no sorted tables yet: it goes straight to the
    // sorted pass (the UTXO set comes from `outputs` and `spends`, nothing is reloaded), where the
    // spends of the evicted outputs, deferred by the earlier runs, are resolved.
    const log = await runToReady(tmp.path, chainDir, small);
    expect(log).not.toMatch(/loaded \d+ unspent outputs from the index/);
    const deferred = Number(/(\d+) spends deferred to the sorted pass/.exec(log)?.[1] ?? 0);
    expect(deferred).toBeGreaterThan(1000);
    expect(digestIndexFile(indexFile(tmp.path))).toBe(reference);
  }, T);

  test("kill -9 at the switch to live mode (the moment the initial sync reports completion), then a restart: the same index", async () => {
    using tmp = tempDir();
    const app = spawnApp(common(tmp.path, chainDir));
    await app.waitFor(/initial sync complete/, T);
    app.kill("SIGKILL");
    await app.exited;
    const log = await runToReady(tmp.path, chainDir);
    expect(log).not.toMatch(/initial sync from height 0/); // nothing was redone
    expect(digestIndexFile(indexFile(tmp.path))).toBe(reference);
  }, T);

  test("SIGUSR1 wakes the main loop, and kill -9 during an update converges too", async () => {
    using tmp = tempDir();
    const { growing, lastName, full, cut } = halfGrownCopy(tmp.path);
    const db = join(tmp.path, "db");
    const loopArgs = ["--main-loop-delay", "600000"];

    let app = spawnApp(common(db, growing, loopArgs));
    const ready = await app.waitFor(/index ready at height (\d+)/, T);
    const halfway = Number(/height (\d+)/.exec(ready)![1]);
    expect(halfway).toBeLessThan(tipHeight);
    // Grow part of the way, and wake the loop with SIGUSR1 (the 10-minute wait would not end on its own).
    const mid = cut + Math.floor((full.length - cut) / 2);
    appendFileSync(join(growing, lastName), full.subarray(cut, mid));
    app.kill("SIGUSR1");
    await app.waitFor(/new tip: height/, T);
    // Grow to the end, wake it, and kill -9 while it indexes.
    appendFileSync(join(growing, lastName), full.subarray(mid));
    app.kill("SIGUSR1");
    await Bun.sleep(30);
    app.kill("SIGKILL");
    await app.exited;

    app = spawnApp(common(db, growing, loopArgs));
    await app.waitFor(new RegExp(`index ready at height ${tipHeight}`), T);
    app.kill("SIGTERM");
    expect(await app.exited).toBe(0);
    expect(digestIndexFile(indexFile(db))).toBe(reference);
  }, T);

  // Deterministic crashes inside the open transaction of the live path (index/sync.ts crashAt):
  // the process SIGKILLs itself there, and a restart must end in the uninterrupted run's index.
  const liveTailRows = (db: string) => {
    const sql = new Database(indexFile(db), { readonly: true });
    try {
      const n = (t: string) => (sql.prepare(`SELECT count(*) AS n FROM ${t}`).get() as { n: number }).n;
      return RECENT_TABLES.reduce((a, t) => a + n(t), 0);
    } finally {
      sql.close();
    }
  };

  test("kill -9 inside the end-of-sync pass (every sorted table filled under a rollback journal, COMMIT not reached), then a restart: the same index, in WAL mode", async () => {
    using tmp = tempDir();
    const db = join(tmp.path, "db");
    const app = spawnApp(common(db, chainDir, []), { ELECTRS_BUN_TEST_CRASH_AT: "build-indexes" });
    await app.exited;
    expect(app.log()).toContain("building the secondary indexes");
    expect(app.log()).not.toMatch(/sorted tables built/);
    expect(existsSync(`${indexFile(db)}-journal`)).toBe(true); // the hot journal the restart rolls back
    const log = await runToReady(db, chainDir);
    expect(log).toMatch(/sorted tables built/);
    expect(log).not.toMatch(/initial sync from height 0/); // the blocks stayed; only the pass is redone
    expect(existsSync(`${indexFile(db)}-journal`)).toBe(false);
    const sql = new Database(indexFile(db), { readonly: true });
    try {
      expect((sql.prepare("PRAGMA journal_mode").get() as { journal_mode: string }).journal_mode).toBe("wal");
    } finally {
      sql.close();
    }
    expect(digestIndexFile(indexFile(db))).toBe(reference);
  }, T);

  test("kill -9 inside a live block's transaction (every row written, COMMIT not reached), then a restart: the same index", async () => {
    using tmp = tempDir();
    const { growing, growToEnd } = halfGrownCopy(tmp.path);
    const db = join(tmp.path, "db");
    const loopArgs = ["--main-loop-delay", "600000"];
    const app = spawnApp(common(db, growing, loopArgs), { ELECTRS_BUN_TEST_CRASH_AT: "live-commit" });
    await app.waitFor(/index ready at height/, T);
    growToEnd();
    app.kill("SIGUSR1");
    await app.exited;
    expect(app.log()).not.toMatch(/new tip: height/); // it died before its first live commit
    const log = await runToReady(db, growing, loopArgs);
    expect(log).toContain(`index ready at height ${tipHeight}`);
    expect(digestIndexFile(indexFile(db))).toBe(reference);
  }, T);

  test("kill -9 inside a slice of a live-tail merge, then a restart that merges again: the same index, an empty live tail", async () => {
    using tmp = tempDir();
    const { growing, growToEnd } = halfGrownCopy(tmp.path);
    const db = join(tmp.path, "db");
    // A merge is due after any live block (--db-live-tail-rows 1).
    const args = ["--main-loop-delay", "600000", "--db-live-tail-rows", "1"];
    let app = spawnApp(common(db, growing, args), { ELECTRS_BUN_TEST_CRASH_AT: "merge-slice" });
    await app.waitFor(/index ready at height/, T);
    growToEnd();
    app.kill("SIGUSR1");
    await app.exited;
    expect(app.log()).toMatch(new RegExp(`new tip: height ${tipHeight}`)); // the block committed; the merge's first slice did not
    expect(app.log()).not.toMatch(/live tail merged/);
    expect(liveTailRows(db)).toBeGreaterThan(0);
    expect(digestIndexFile(indexFile(db))).toBe(reference);

    // The restart's first main-loop turn merges the tail.
    app = spawnApp(common(db, growing, ["--main-loop-delay", "10", "--db-live-tail-rows", "1"]));
    await app.waitFor(/live tail merged: \d+ rows/, T);
    app.kill("SIGTERM");
    expect(await app.exited).toBe(0);
    expect(liveTailRows(db)).toBe(0);
    expect(digestIndexFile(indexFile(db))).toBe(reference);
  }, T);
});

/**
 * A copy of the chain's blk files as Core had them half-way: the last file cut after a block
 * record. `growToEnd` writes the rest of it (the blocks a live update then indexes).
 */
function halfGrownCopy(dir: string) {
  const growing = join(dir, "blocks");
  mkdirSync(growing);
  const scan = scanBlocksDir(chainDir, NETWORKS.regtest.magic, silentLogger());
  const last = scan.files[scan.files.length - 1]!;
  for (const f of scan.files.slice(0, -1)) copyFileSync(f.path, join(growing, f.path.split("/").pop()!));
  copyFileSync(join(chainDir, "xor.dat"), join(growing, "xor.dat"));
  const lastLocs = scan.locations.filter((l) => l.fileIndex === last.index);
  const cutLoc = lastLocs[Math.floor(lastLocs.length / 2)]!;
  const cut = cutLoc.offset + cutLoc.size;
  const full = readFileSync(last.path);
  const lastName = last.path.split("/").pop()!;
  writeFileSync(join(growing, lastName), full.subarray(0, cut));
  let size = cut;
  return {
    growing,
    lastName,
    full,
    cut,
    growToEnd() {
      appendFileSync(join(growing, lastName), full.subarray(size));
      size = full.length;
    },
  };
}
