/**
 * electrs' command line as it is, on the server process: its names for our Electrum limits take
 * effect (a connection's subscriptions, a request line's length), its RPC logging writes JSON lines
 * on stdout, and its flags without effect here start the server with one warning each
 * (config.ts IGNORED_ELECTRS_FLAGS).
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { join } from "node:path";
import { spawnApp, type AppProcess } from "../helpers/app-process.ts";
import { FIXTURE_BLOCKS, loadExpected } from "../helpers/fixture.ts";
import { LineClient } from "../helpers/line-client.ts";
import { tempDir } from "../helpers/tmp.ts";

const T = 60_000;
const expected = loadExpected();
let tmp: ReturnType<typeof tempDir>;
let app: AppProcess;
let port = 0;

beforeAll(async () => {
  tmp = tempDir();
  app = spawnApp([
    "--offline", "--network", "regtest", "--blocks-dir", FIXTURE_BLOCKS, "--db-dir", join(tmp.path, "db"),
    "--monitoring-addr", "127.0.0.1:0", "--serve-workers", "1",
    "--electrum-subscription-limit", "2", "--electrum-rpc-max-request-num-bytes", "300",
    "--db-block-cache-mb", "1024", "--lightmode", "--enable-json-rpc-logging", "--hide-json-rpc-logging-parameters",
    "--serve-during-mempool-sync", "--magic", "dab5bffa",
  ]);
  const line = await app.waitFor(/Electrum RPC server running on 127\.0\.0\.1:(\d+)/, T);
  port = Number(/:(\d+)$/.exec(line)![1]);
}, T);

afterAll(async () => {
  app?.kill("SIGTERM");
  await app?.exited;
  tmp?.[Symbol.dispose]();
});

test("flags without effect: the server starts, with one warning naming each and why", () => {
  const warnings = app.lines.filter((l) => l.startsWith("WARN") && l.includes("(an electrs flag) has no effect"));
  expect(warnings.map((l) => /WARN\s+(--\S+)/.exec(l)![1])).toEqual(["--db-block-cache-mb", "--lightmode"]);
  expect(warnings[0]).toContain("RocksDB tuning");
}, T);

test("--electrum-subscription-limit: a third script hash is refused with error 4; one held can be subscribed again", async () => {
  const c = await LineClient.connect(port);
  try {
    const [a, b, third] = expected.scripts.slice(0, 3).map((s) => s.electrum_scripthash);
    expect((await c.call("blockchain.scripthash.subscribe", [a])).error).toBeUndefined();
    expect((await c.call("blockchain.scripthash.subscribe", [b])).error).toBeUndefined();
    expect((await c.call("blockchain.scripthash.subscribe", [third])).error?.code).toBe(4);
    expect((await c.call("blockchain.scripthash.subscribe", [a])).error).toBeUndefined();
  } finally {
    c.close();
  }
}, T);

test("--electrum-rpc-max-request-num-bytes: a line within it is answered; a longer one gets an error, then the connection closes", async () => {
  const c = await LineClient.connect(port);
  const within = await c.call("server.ping", ["x".repeat(200)]);
  expect(within.error?.message ?? "answered").not.toMatch(/too large|closed/);
  void c.call("server.ping", ["x".repeat(400)]);
  await c.closed;
  // The refusal has no id: the request's was never read.
  expect(c.notifications.map((n) => n.error)).toContainEqual({ code: -32600, message: "request line too large (over 300 bytes)" });
}, T);

test("--enable-json-rpc-logging --hide-json-rpc-logging-parameters: each connection, request and answer as a JSON line on stdout", async () => {
  const c = await LineClient.connect(port);
  const clientPort = c.localPort;
  const balance = await c.call("blockchain.scripthash.get_balance", [expected.scripts[0]!.electrum_scripthash]);
  expect(balance.error).toBeUndefined();
  c.close();
  await c.closed;
  await app.waitFor(new RegExp(`"event":"connection closed","source":\\{"ip":"127\\.0\\.0\\.1","port":${clientPort}\\}`), T);
  const events = app.lines.filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as { event: string; source: { ip: string; port: number }; [k: string]: unknown });
  // This connection's: its port tells it from the other tests' ones.
  const mine = events.filter((e) => e.source.port === clientPort);
  expect(mine.map((e) => e.event)).toEqual(["connection established", "rpc request", "rpc response", "connection closed"]);
  expect(mine[0]!.source.ip).toBe("127.0.0.1");
  expect(mine[1]).toMatchObject({ id: 1, method: "blockchain.scripthash.get_balance", params: null });
  expect(mine[2]).toMatchObject({ id: 1, method: "blockchain.scripthash.get_balance" });
  expect(mine[2]!.payload_size).toBe(JSON.stringify({ jsonrpc: "2.0", id: 1, result: balance.result }).length);
  expect(mine[2]!.duration_micros).toBeGreaterThanOrEqual(0);
}, T);

test("--serve-during-mempool-sync: the servers start first, the main loop's first turn syncs the mempool at once", async () => {
  await app.waitFor(/mempool synced: \d+ txs/, T);
  const at = (re: RegExp) => app.lines.findIndex((l) => re.test(l));
  expect(at(/startup complete/)).toBeGreaterThan(0);
  expect(at(/mempool synced/)).toBeGreaterThan(at(/startup complete/));
}, T);

test("--magic: the blk files are scanned for that record magic (regtest's given above; mainnet's finds no block here)", async () => {
  expect(app.lines.some((l) => /blk files in .*: 4 files, 1\d\d blocks/.test(l))).toBe(true);
  using other = tempDir();
  const wrong = spawnApp([
    "--offline", "--network", "regtest", "--blocks-dir", FIXTURE_BLOCKS, "--db-dir", join(other.path, "db"),
    "--monitoring-addr", "127.0.0.1:0", "--serve-workers", "1", "--magic", "d9b4bef9",
  ]);
  expect(await wrong.exited).not.toBe(0);
  expect(wrong.log()).toMatch(/blk files in .*: 4 files, 0 blocks/);
  expect(wrong.log()).toMatch(/no chain found in the blk files/);
}, T);
