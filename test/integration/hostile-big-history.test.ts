/**
 * A client pulling a 100k-entry history does not stall the others (the hostile-client suite's big
 * answers): on a chain whose one script has 100,000 txs (test/helpers/big-history-chain.ts,
 * indexed offline), client A asks for its history, listunspent and status over and over while
 * client B's server.ping and 10-tx get_balance, and REST /blocks/tip/height, are timed: p99 under
 * 50 ms and the worst under 250 ms. The server runs as a process, with the limits raised so
 * that the big script is answered (its history is ~9 MB of JSON, over the default 8 MB).
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { mkdirSync } from "node:fs";
import net from "node:net";
import { join } from "node:path";
import { spawnApp, type AppProcess } from "../helpers/app-process.ts";
import { BIG_SCRIPT_HEX, SMALL_SCRIPT_HEX, writeBigHistoryChain } from "../helpers/big-history-chain.ts";
import { tempDir } from "../helpers/tmp.ts";

const T = 120_000;
const TXS = 100_000;
let tmp: ReturnType<typeof tempDir>;
let app: AppProcess;
let electrumPort: number;
let restUrl: string;

beforeAll(async () => {
  tmp = tempDir();
  const blocks = join(tmp.path, "blocks");
  mkdirSync(blocks);
  writeBigHistoryChain(blocks, { txs: TXS, perBlock: 2_000 });
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

/** Newline-delimited JSON-RPC, one request at a time; big replies are collected without parsing until complete. */
async function rpc(port: number) {
  const sock = net.connect({ host: "127.0.0.1", port });
  await new Promise<void>((resolve, reject) => sock.once("connect", resolve).once("error", reject));
  const chunks: Buffer[] = [];
  let waiting: ((line: string) => void) | null = null;
  sock.on("data", (d: Buffer) => {
    const nl = d.indexOf(0x0a);
    if (nl < 0) return void chunks.push(d);
    chunks.push(d.subarray(0, nl));
    const line = Buffer.concat(chunks).toString();
    chunks.length = 0;
    if (nl + 1 < d.length) chunks.push(d.subarray(nl + 1));
    waiting?.(line);
  });
  let id = 0;
  return {
    call(method: string, params: unknown[] = []): Promise<{ result?: unknown; error?: unknown }> {
      return new Promise((resolve) => {
        waiting = (line) => resolve(JSON.parse(line) as { result?: unknown; error?: unknown });
        sock.write(JSON.stringify({ id: id++, method, params }) + "\n");
      });
    },
    close: () => sock.destroy(),
  };
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
        const r = await a.call(methods[pulls++ % methods.length]!, [big]);
        expect(r.error).toBeUndefined();
      }
    })();
    const times: Record<string, number[]> = { ping: [], balance: [], rest: [] };
    const small = scripthash(SMALL_SCRIPT_HEX);
    // Until A has had 9 big answers (3 of each), B keeps asking, one request at a time.
    while (pulls < 10) {
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
    pulling = false;
    await puller;
    const summary = Object.fromEntries(Object.entries(times).map(([k, xs]) => [k, { n: xs.length, p99: Math.round(pct(xs, 99)), worst: Math.round(Math.max(...xs)) }]));
    for (const [k, s] of Object.entries(summary)) {
      expect({ [k]: s, ok: s.n >= 10 && s.p99 < 50 && s.worst < 250 }).toMatchObject({ ok: true });
    }
  } finally {
    a.close();
    b.close();
  }
}, T);
