/**
 * A busy wallet syncs with the default flags: a script with 1,200 confirmed txs (and one in the
 * mempool) on a live bcoin node gets its history, status, balance and unspent outputs over
 * Electrum through a real client library (electrum-client from npm), and its UTXOs over REST.
 * electrs' 500-entry limits stay available through the same flags, and refuse it.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import bcoin from "bcoin";
import ElectrumClient from "electrum-client";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { spawnApp, type AppProcess } from "../helpers/app-process.ts";
import { startBcoin, type BcoinNode } from "../helpers/bcoin-node.ts";
import { tempDir } from "../helpers/tmp.ts";

const T = 90_000;
const BLOCKS = 1_200;
let node: BcoinNode;
let tmp: ReturnType<typeof tempDir>;
const apps: AppProcess[] = [];

beforeAll(async () => {
  node = await startBcoin();
  tmp = tempDir();
  // Every coinbase pays the mining script: 1,200 txs in its history, as many outputs.
  await node.mine(BLOCKS);
  // One of them spent in the mempool (1,000 sat back to the same script, the rest as fee + change):
  // the history gains a mempool entry and the UTXO set loses one confirmed output for it.
  const coin = bcoin.Coin.fromTX(await node.coinbaseTx(1), 0, 1);
  await node.sendTx(node.spend(coin, node.miningScriptHex, 1_000, 10_000).toRaw());
}, T);

afterAll(async () => {
  for (const a of apps) a.kill("SIGKILL");
  await Promise.all(apps.map((a) => a.exited));
  await node?.close();
  tmp?.[Symbol.dispose]();
});

const scripthash = () => Buffer.from(createHash("sha256").update(Buffer.from(node.miningScriptHex, "hex")).digest()).reverse().toString("hex");

/** The protocol's status: sha256 of `tx_hash:height:` for each entry, in history order (computed here, not by the server). */
function statusOf(history: { tx_hash: string; height: number }[]): string {
  return createHash("sha256").update(history.map((e) => `${e.tx_hash}:${e.height}:`).join("")).digest("hex");
}

async function start(name: string, extra: string[]): Promise<{ app: AppProcess; electrumPort: number; restUrl: string }> {
  const app = spawnApp([
    "--network", "regtest", "--db-dir", join(tmp.path, name), "--cookie", `x:${node.apiKey}`,
    "--daemon-rpc-addr", node.rpcUrl.replace("http://", ""), "--jsonrpc-import", "--monitoring-addr", "127.0.0.1:0", ...extra,
  ]);
  apps.push(app);
  const line = await app.waitFor(/startup complete: REST on (http:\S+), Electrum on \S+:(\d+),/, T);
  const m = /REST on (http:\S+), Electrum on \S+:(\d+),/.exec(line)!;
  return { app, restUrl: m[1]!, electrumPort: Number(m[2]) };
}

async function client(port: number): Promise<ElectrumClient> {
  const c = new ElectrumClient(port, "127.0.0.1", "tcp");
  await c.connect();
  await c.server_version("busy-wallet test", "1.4");
  return c;
}

test("default flags: the 1,201-entry history, its status, the balance and 1,200 UTXOs are answered", async () => {
  const { app, electrumPort, restUrl } = await start("defaults", []);
  const c = await client(electrumPort);
  try {
    const sh = scripthash();
    const history = await c.blockchainScripthash_getHistory(sh);
    expect(history.length).toBe(BLOCKS + 1);
    expect(history.slice(0, BLOCKS).map((e) => e.height)).toEqual(Array.from({ length: BLOCKS }, (_, i) => i + 1));
    expect(history[BLOCKS]).toMatchObject({ height: 0, fee: expect.any(Number) });
    expect(await c.blockchainScripthash_subscribe(sh)).toBe(statusOf(history));
    const utxos = (await c.request("blockchain.scripthash.listunspent", [sh])) as { height: number; value: number }[];
    // 1,199 coinbase outputs left confirmed, and the mempool tx's two outputs to the same script.
    expect(utxos.filter((u) => u.height > 0).length).toBe(BLOCKS - 1);
    expect(utxos.filter((u) => u.height === 0).length).toBe(2);
    const balance = (await c.request("blockchain.scripthash.get_balance", [sh])) as { confirmed: number; unconfirmed: number };
    const confirmedSat = utxos.filter((u) => u.height > 0).reduce((n, u) => n + u.value, 0) + 50 * 1e8; // + the spent coinbase
    expect(balance.confirmed).toBe(confirmedSat);
    expect(balance.unconfirmed).toBe(utxos.filter((u) => u.height === 0).reduce((n, u) => n + u.value, 0) - 50 * 1e8);
    // REST: the same UTXOs without paging parameters.
    const rest = await fetch(`${restUrl}/scripthash/${createHash("sha256").update(Buffer.from(node.miningScriptHex, "hex")).digest("hex")}/utxo`);
    expect(rest.status).toBe(200);
    expect(((await rest.json()) as unknown[]).length).toBe(BLOCKS + 1);
  } finally {
    c.close();
  }
  app.kill("SIGTERM");
  expect(await app.exited).toBe(0);
}, T);

test("--electrum-txs-limit 500 --utxos-limit 500 (electrs' defaults) refuse the same script", async () => {
  const { app, electrumPort, restUrl } = await start("electrs-limits", ["--electrum-txs-limit", "500", "--utxos-limit", "500"]);
  const c = await client(electrumPort);
  try {
    const sh = scripthash();
    await expect(c.blockchainScripthash_getHistory(sh)).rejects.toMatchObject({ code: 10001 });
    await expect(c.blockchainScripthash_subscribe(sh)).rejects.toMatchObject({ code: 10001 });
    await expect(c.request("blockchain.scripthash.listunspent", [sh])).rejects.toMatchObject({ code: 10001, message: "Too many unspent outputs" });
    const rest = await fetch(`${restUrl}/scripthash/${createHash("sha256").update(Buffer.from(node.miningScriptHex, "hex")).digest("hex")}/utxo`);
    expect(rest.status).toBe(400);
    expect(await rest.text()).toContain("Too many unspent outputs");
  } finally {
    c.close();
  }
  app.kill("SIGTERM");
  expect(await app.exited).toBe(0);
}, T);
