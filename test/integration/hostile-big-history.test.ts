/**
 * A client pulling a 100k-entry history does not stall the others (the hostile-client suite's big
 * answers): on a chain whose one script has 100,000 txs (test/helpers/big-history-chain.ts,
 * indexed offline), client A asks for its history, listunspent and status over and over while
 * client B's server.ping and 10-tx get_balance, and REST /blocks/tip/height, are timed: p99 under
 * 50 ms and the worst under 250 ms; likewise while another posts 300-address summary bodies
 * (MP's POST /addresses/txs/summary, 5,000 rows), which cost at most 100 ms each. The server
 * runs as a process, with the limits raised so
 * that the big script is answered (its history is ~9 MB of JSON, over the default 8 MB).
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { mkdirSync } from "node:fs";
import net from "node:net";
import { join } from "node:path";
import { spawnApp, type AppProcess } from "../helpers/app-process.ts";
import { addressOf } from "../../src/bitcoin/address.ts";
import { hexToBytes } from "../../src/bitcoin/bytes.ts";
import { NETWORKS } from "../../src/bitcoin/network.ts";
import { BIG_SCRIPT_HEX, SMALL_SCRIPT_HEX, spreadScriptHex, writeBigHistoryChain } from "../helpers/big-history-chain.ts";
import { tempDir } from "../helpers/tmp.ts";

const T = 120_000;
const TXS = 100_000;
const SPREAD = 300;
let tmp: ReturnType<typeof tempDir>;
let app: AppProcess;
let electrumPort: number;
let restUrl: string;

beforeAll(async () => {
  tmp = tempDir();
  const blocks = join(tmp.path, "blocks");
  mkdirSync(blocks);
  writeBigHistoryChain(blocks, { txs: TXS, perBlock: 2_000, spread: SPREAD });
  app = spawnApp([
    "--offline", "--network", "regtest", "--blocks-dir", blocks, "--db-dir", join(tmp.path, "db"), "--monitoring-addr", "127.0.0.1:0",
    "--electrum-max-response-bytes", "20000000",
  ]);
  const line = await app.waitFor(/startup complete: REST on (http:\S+), Electrum on \S+:(\d+),/, T);
  const m = /REST on (http:\S+), Electrum on \S+:(\d+),/.exec(line)!;
  restUrl = m[1]!;
  electrumPort = Number(m[2]);
}, T);

afterAll(async () => {
  app?.kill("SIGTERM");
  await app?.exited;
  tmp?.[Symbol.dispose]();
});

const scripthash = (hex: string) => Buffer.from(createHash("sha256").update(Buffer.from(hex, "hex")).digest()).reverse().toString("hex");

/**
 * Newline-delimited JSON-RPC, one request at a time; big replies are collected without parsing
 * until complete. `callUnparsed` gives only the start of the reply and its size: parsing A's 9 MB
 * answers (~50-100 ms each) in this process would delay the timing of B's answers, which is what
 * is measured.
 */
async function rpc(port: number) {
  const sock = net.connect({ host: "127.0.0.1", port });
  await new Promise<void>((resolve, reject) => sock.once("connect", resolve).once("error", reject));
  const chunks: Buffer[] = [];
  let size = 0;
  let waiting: ((line: Buffer[], bytes: number) => void) | null = null;
  sock.on("data", (d: Buffer) => {
    const nl = d.indexOf(0x0a);
    if (nl < 0) {
      chunks.push(d);
      size += d.length;
      return;
    }
    const line = [...chunks, d.subarray(0, nl)];
    const bytes = size + nl;
    chunks.length = 0;
    size = 0;
    if (nl + 1 < d.length) {
      chunks.push(d.subarray(nl + 1));
      size = d.length - nl - 1;
    }
    waiting?.(line, bytes);
  });
  let id = 0;
  const send = (method: string, params: unknown[], onLine: (line: Buffer[], bytes: number) => void) => {
    waiting = onLine;
    sock.write(JSON.stringify({ id: id++, method, params }) + "\n");
  };
  return {
    call(method: string, params: unknown[] = []): Promise<{ result?: unknown; error?: unknown }> {
      return new Promise((resolve) => send(method, params, (line) => resolve(JSON.parse(Buffer.concat(line).toString()) as { result?: unknown; error?: unknown })));
    },
    callUnparsed(method: string, params: unknown[] = []): Promise<{ head: string; bytes: number }> {
      return new Promise((resolve) => send(method, params, (line, bytes) => resolve({ head: Buffer.concat(line.slice(0, 2)).subarray(0, 200).toString(), bytes })));
    },
    close: () => sock.destroy(),
  };
}

/**
 * B's server.ping, 10-tx get_balance and REST /blocks/tip/height, one request at a time until
 * `done()`: each within 50 ms at p99 and 250 ms at worst, over at least 10 rounds.
 */
async function expectOthersServed(b: Awaited<ReturnType<typeof rpc>>, done: () => boolean): Promise<void> {
  const times: Record<string, number[]> = { ping: [], balance: [], rest: [] };
  const small = scripthash(SMALL_SCRIPT_HEX);
  while (!done() || times.ping!.length < 10) {
    let t = performance.now();
    await b.call("server.ping");
    times.ping!.push(performance.now() - t);
    t = performance.now();
    const bal = await b.call("blockchain.scripthash.get_balance", [small]);
    times.balance!.push(performance.now() - t);
    expect(bal.result).toEqual({ confirmed: 10 * 2_000, unconfirmed: 0 });
    t = performance.now();
    expect((await fetch(`${restUrl}/blocks/tip/height`)).status).toBe(200);
    times.rest!.push(performance.now() - t);
  }
  const summary = Object.fromEntries(Object.entries(times).map(([k, xs]) => [k, { n: xs.length, p99: Math.round(pct(xs, 99)), worst: Math.round(Math.max(...xs)) }]));
  if (process.env.SHOW_LATENCY) console.log(JSON.stringify(summary));
  for (const [k, s] of Object.entries(summary)) {
    expect({ [k]: s, ok: s.p99 < 50 && s.worst < 250 }).toMatchObject({ ok: true });
  }
}

const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))]!;

test("while one client pulls a 100k-entry history, listunspent and status, the others stay within 50 ms at p99 and 250 ms at worst", async () => {
  const big = scripthash(BIG_SCRIPT_HEX);
  const a = await rpc(electrumPort);
  const b = await rpc(electrumPort);
  try {
    const first = await a.call("blockchain.scripthash.get_history", [big]);
    expect((first.result as unknown[]).length).toBe(TXS);
    let pulling = true;
    let pulls = 0;
    const puller = (async () => {
      const methods = ["blockchain.scripthash.get_history", "blockchain.scripthash.listunspent", "blockchain.scripthash.subscribe"];
      while (pulling) {
        const r = await a.callUnparsed(methods[pulls++ % methods.length]!, [big]);
        // A result, not an error, and a big one (the status of a subscribe is 64 hex digits).
        expect(r.head).toMatch(/^\{"jsonrpc":"2\.0","id":\d+,"result":/);
        expect(r.bytes).toBeGreaterThan(pulls % 3 === 0 ? 64 : 5_000_000);
      }
    })();
    // Until A has had 9 big answers (3 of each), B keeps asking, one request at a time.
    await expectOthersServed(b, () => pulls >= 10);
    pulling = false;
    await puller;
  } finally {
    a.close();
    b.close();
  }
}, T);

/** The 300 spread addresses: 333 or 334 txs each, interleaved, so that the newest 5,000 of the union come from all of them. */
const SPREAD_ADDRS = Array.from({ length: SPREAD }, (_, i) => addressOf(hexToBytes(spreadScriptHex(i)), NETWORKS.regtest)!);

async function postSummary(addrs: readonly string[]): Promise<{ txid: string; value: number }[]> {
  const r = await fetch(`${restUrl}/addresses/txs/summary`, { method: "POST", body: JSON.stringify(addrs), headers: { "content-type": "application/json" } });
  expect(r.status).toBe(200);
  return (await r.json()) as { txid: string; value: number }[];
}

test("a 300-address summary of ordinary histories: at most 100 ms, and the others stay within 50 ms at p99 and 250 ms at worst meanwhile", async () => {
  const times: number[] = [];
  for (let i = 0; i < 3; i++) {
    const t = performance.now();
    const rows = await postSummary(SPREAD_ADDRS);
    times.push(performance.now() - t);
    // The newest 5,000 txs, each paying 500 sat to one of the addresses.
    expect(rows.length).toBe(5_000);
    expect(rows.every((x) => x.value === 500)).toBe(true);
    expect(new Set(rows.map((x) => x.txid)).size).toBe(5_000);
  }
  // The best of three, so that another process's burst on the shared CPU does not decide it.
  expect(Math.min(...times)).toBeLessThanOrEqual(100);
  const b = await rpc(electrumPort);
  try {
    let posting = true;
    const poster = (async () => {
      try {
        for (let i = 0; i < 5; i++) await postSummary(SPREAD_ADDRS);
      } finally {
        posting = false;
      }
    })();
    await expectOthersServed(b, () => !posting);
    await poster;
  } finally {
    b.close();
  }
}, T);
