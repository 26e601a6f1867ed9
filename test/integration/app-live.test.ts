/**
 * The server process against a live node, started with the flags electrsd passes, following new
 * blocks announced by a real libzmq publisher (the zeromq package under node, publishing what
 * Core's -zmqpubhashblock publishes) while the 5 s poll is pushed out to 10 minutes.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdirSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { spawnApp, metricsUrl, type AppProcess } from "../helpers/app-process.ts";
import { startBcoin, type BcoinNode } from "../helpers/bcoin-node.ts";
import { tempDir } from "../helpers/tmp.ts";

const T = 60_000;
const PUBLISHER = join(import.meta.dir, "..", "helpers", "zmq-publisher.mjs");
let node: BcoinNode;
let tmp: ReturnType<typeof tempDir>;
let publisher: ReturnType<typeof Bun.spawn>;
let pubLines: string[] = [];
let app: AppProcess;

beforeAll(async () => {
  node = await startBcoin();
  tmp = tempDir();
  publisher = Bun.spawn(["node", PUBLISHER], { stdin: "pipe", stdout: "pipe", stderr: "inherit" });
  (async () => {
    const dec = new TextDecoder();
    let buf = "";
    for await (const chunk of publisher.stdout as ReadableStream<Uint8Array>) {
      buf += dec.decode(chunk, { stream: true });
      const parts = buf.split("\n");
      buf = parts.pop()!;
      pubLines.push(...parts);
    }
  })();
}, T);

afterAll(async () => {
  app?.kill("SIGKILL");
  (publisher?.stdin as import("bun").FileSink | undefined)?.write("exit\n");
  (publisher?.stdin as import("bun").FileSink | undefined)?.end();
  await publisher?.exited;
  await node?.close();
  tmp?.[Symbol.dispose]();
});

async function until(what: string, cond: () => boolean, timeoutMs: number): Promise<void> {
  const t0 = performance.now();
  while (!cond()) {
    if (performance.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(20);
  }
}

test("electrsd's flags, a cookie file, and a ZMQ hashblock that wakes the main loop", async () => {
  await node.mine(12);
  await until("the publisher", () => pubLines.some((l) => l.startsWith("endpoint ")), 10_000);
  const zmqPort = pubLines.find((l) => l.startsWith("endpoint "))!.split(":").at(-1)!;
  const cookie = join(tmp.path, ".cookie");
  writeFileSync(cookie, `__cookie__:${node.apiKey}`);
  const rpcAddr = node.rpcUrl.replace("http://", "");
  // electrsd: -vvv --db-dir D --network regtest --cookie-file F --daemon-rpc-addr A --jsonrpc-import
  //           --electrum-rpc-addr 0.0.0.0:P --monitoring-addr 0.0.0.0:P [--http-addr 0.0.0.0:P]
  // (bound to 127.0.0.1 here: tests listen on loopback only; parsing 0.0.0.0 is in config.test.ts)
  app = spawnApp([
    "-vvv", "--db-dir", join(tmp.path, "db"), "--network", "regtest", "--cookie-file", cookie,
    "--daemon-rpc-addr", rpcAddr, "--jsonrpc-import",
    "--electrum-rpc-addr", "127.0.0.1:0", "--monitoring-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0",
    "--zmq-addr", `127.0.0.1:${zmqPort}`, "--main-loop-delay", "600000",
  ]);
  const url = await metricsUrl(app);
  await app.waitFor(/index ready at height 12/, T);
  await app.waitFor(/zmq.*(subscribed|connected)/i, T);
  expect(app.log()).toMatch(/DEBUG|TRACE/); // -vvv

  const [hash] = await node.mine(1);
  // PUB drops what it sends before the subscription reached it (the slow joiner): publish until seen.
  const stdin = publisher.stdin as import("bun").FileSink;
  const seen = app.waitFor(/new tip: height 13/, T);
  let done = false;
  seen.finally(() => (done = true));
  while (!done) {
    stdin.write(`pub ${hash}\n`);
    stdin.flush();
    await Promise.race([seen, Bun.sleep(100)]);
  }
  await seen;
  const text = await (await fetch(url)).text();
  expect(text).toContain("tip_height 13");
  expect(text).toMatch(/daemon_rpc_count\{method="getblock"\} [1-9]/);
  expect(text).toMatch(/daemon_bytes_count\{method="getblock",dir="recv"\} [1-9]/);
  app.kill("SIGTERM");
  expect(await app.exited).toBe(0);
}, T);

test("with a node and blk files: blocks in the files are read there (location stored), the rest over RPC (bytes stored), before and after the initial sync", async () => {
  const { BlkWriter } = await import("../../bench/lib/blk-files.ts");
  const { hexToBytes } = await import("../../src/bitcoin/bytes.ts");
  const height = (await node.rpc.call<{ blocks: number }>("getblockchaininfo")).blocks;
  await node.mine(40 - height > 0 ? 40 - height : 0);
  const tip = (await node.rpc.call<{ blocks: number }>("getblockchaininfo")).blocks;
  const hashes = await node.rpc.batch<string>("getblockhash", Array.from({ length: tip + 1 }, (_, h) => [h]));
  const raws = await node.rpc.batch<string>("getblock", hashes.map((h) => [h, 0]));
  // The node's files as Core writes them: XOR-ed, two blocks swapped; the last 5 blocks not written yet.
  const blocksDir = join(tmp.path, "node-blocks");
  mkdirSync(blocksDir);
  const writer = new BlkWriter(blocksDir, Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8));
  const inFiles = tip + 1 - 5;
  const order = Array.from({ length: inFiles }, (_, i) => i);
  [order[10], order[11]] = [order[11]!, order[10]!];
  for (const i of order) writer.write(hexToBytes(raws[i]!));
  writer.finish(true);

  const db = join(tmp.path, "db-files");
  const args = [
    "--network", "regtest", "--db-dir", db, "--cookie", `x:${node.apiKey}`, "--daemon-rpc-addr", node.rpcUrl.replace("http://", ""),
    "--blocks-dir", blocksDir, "--monitoring-addr", "127.0.0.1:0", "--main-loop-delay", "600000", "--initial-sync-batch-size", "3",
  ];
  const first = spawnApp(args);
  const url = await metricsUrl(first);
  await first.waitFor(new RegExp(`index ready at height ${tip}`), T);
  expect(first.log()).toMatch(/initial sync from height 0 to \d+ \(blk files\)/);
  const text = await (await fetch(url)).text();
  // Only the 5 blocks missing from the files came over RPC (in batches: count the bytes histogram's requests).
  expect(text).toMatch(/daemon_rpc_count\{method="getblock"\} 1\n/);
  first.kill("SIGTERM");
  expect({ code: await first.exited, log: first.log() }).toEqual({ code: 0, log: first.log() });

  // Two new blocks; Core has written the first to a new file (blk00001.dat), not the second yet.
  await node.mine(2);
  const [newHash] = await node.rpc.batch<string>("getblockhash", [[tip + 1]]);
  const [newRaw] = await node.rpc.batch<string>("getblock", [[newHash!, 0]]);
  const newFileDir = join(tmp.path, "new-file");
  mkdirSync(newFileDir);
  const newWriter = new BlkWriter(newFileDir, Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8));
  newWriter.write(hexToBytes(newRaw!));
  newWriter.finish(true);
  renameSync(join(newFileDir, "blk00000.dat"), join(blocksDir, "blk00001.dat"));

  const second = spawnApp(args);
  const url2 = await metricsUrl(second);
  await second.waitFor(new RegExp(`index ready at height ${tip + 2}`), T);
  // After the initial sync, blocks are still looked for in the files first; the one not there comes over RPC.
  expect(second.log()).toMatch(/blk files in .*: 2 files/);
  expect(await (await fetch(url2)).text()).toMatch(/daemon_rpc_count\{method="getblock"\} 1\n/);
  second.kill("SIGTERM");
  expect({ code: await second.exited, log: second.log() }).toEqual({ code: 0, log: second.log() });

  // The index: a location for the blocks read from the files, the bytes of the ones fetched over RPC.
  const { Database } = await import("bun:sqlite");
  const sql = new Database(join(db, "regtest", "index.sqlite"), { readonly: true });
  const rows = sql
    .query<{ height: number; file: number | null; located: number; stored: number }, []>(
      "SELECT b.height AS height, b.file AS file, sum(t.loc IS NOT NULL AND t.raw IS NULL) AS located, sum(t.raw IS NOT NULL AND t.loc IS NULL) AS stored " +
        "FROM blocks b JOIN txs t ON t.txnum >= b.first_txnum AND t.txnum < b.first_txnum + b.tx_count GROUP BY b.height ORDER BY b.height",
    )
    .all();
  sql.close();
  const fileOf = (h: number) => (h < inFiles ? 0 : h === tip + 1 ? 1 : null);
  expect(rows.map((r) => ({ height: r.height, file: r.file, fromFiles: r.stored === 0 && r.located > 0, fromRpc: r.located === 0 && r.stored > 0 }))).toEqual(
    Array.from({ length: tip + 3 }, (_, h) => ({ height: h, file: fileOf(h), fromFiles: fileOf(h) !== null, fromRpc: fileOf(h) === null })),
  );
}, T);

test("--daemon-rpc-fallback-addr: with --daemon-rpc-addr unreachable, the server starts on the fallback node and follows it", async () => {
  const height = node.node.chain.height;
  // A port nothing listens on, found by binding it and letting it go.
  const probe = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const deadPort = probe.port;
  probe.stop(true);
  const fb = spawnApp([
    "--network", "regtest", "--db-dir", join(tmp.path, "db-fallback"), "--cookie", `x:${node.apiKey}`, "--jsonrpc-import",
    "--daemon-rpc-addr", `127.0.0.1:${deadPort}`, "--daemon-rpc-fallback-addr", node.rpcUrl.replace("http://", ""),
    "--monitoring-addr", "127.0.0.1:0", "--main-loop-delay", "100", "--serve-workers", "1",
  ]);
  try {
    await fb.waitFor(new RegExp(`index ready at height ${height}`), T);
    expect(fb.log()).toMatch(new RegExp(`bitcoind at 127\\.0\\.0\\.1:${deadPort} cannot be reached: requests go to [^ ]+ from now on \\(--daemon-rpc-fallback-addr\\)`));
    await node.mine(1);
    await fb.waitFor(new RegExp(`new tip: height ${height + 1}`), T);
  } finally {
    fb.kill("SIGTERM");
    await fb.exited;
  }
}, T);
