/**
 * A real Electrum wallet (Debian's electrum 4.3.4, its daemon and CLI) against the server process
 * following a live bcoin regtest node: the wallet syncs (headers, script subscriptions, SPV
 * proofs), its balance and address histories match the chain, a payment into it goes from the
 * mempool to a block, and a payment out of it (payto + broadcast through the server) confirms.
 *
 * The wallet is restored from a fixed seed, so its addresses are the same on every run. bcoin
 * activates segwit only at height 432 on regtest, and the wallet's addresses are P2WPKH, so the
 * chain starts 432 blocks high. bcoin's block subsidy halves every 150 blocks on regtest: coinbase
 * values are read from the node, never assumed.
 *
 * bcoin's `estimatesmartfee` throws for targets above 15 ("Too many confirmations for estimate."),
 * where Bitcoin Core answers every target of 1..1008. Electrum asks for targets 25, 10, 5 and 2
 * right after connecting and drops a server that answers any of them with an error; the server
 * answers -1 (no estimate) when the node fails, so bcoin is used as shipped here. The payment out
 * is made with an explicit fee.
 *
 * The electrum daemon updates asynchronously (it learns of new blocks and txs by notifications
 * from the server), so every expectation on the wallet is polled with a deadline.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import bcoin, { type BcoinKeyRing } from "bcoin";
import { join } from "node:path";
import { addressOf, addressToScript } from "../../src/bitcoin/address.ts";
import { NETWORKS } from "../../src/bitcoin/network.ts";
import { spawnApp, type AppProcess } from "../helpers/app-process.ts";
import { liveAppArgs, stopLiveApp } from "../helpers/live-app.ts";
import { startBcoin, type BcoinNode } from "../helpers/bcoin-node.ts";
import {
  btcToSat,
  electrumRequest,
  electrumInstalled,
  electrumScriptHash,
  restoreWallet,
  satToBtc,
  type ElectrumBalance,
  type ElectrumHistoryItem,
  type ElectrumWallet,
} from "../helpers/electrum-wallet.ts";
import { pollUntil } from "../helpers/rest-client.ts";
import { tempDir } from "../helpers/tmp.ts";

const T = 60_000;
/** How long the wallet may take to reflect a change on the chain or in the mempool. */
const POLL_MS = 20_000;
const regtest = NETWORKS.regtest;

/** An Electrum "segwit" seed (created once with `electrum create --seed_type=segwit`). */
const SEED = "false noise audit across toy pulse stadium marine mask lunar long friend";
/** bcoin regtest: segwit is enforced from the block after this height on. */
const SEGWIT_HEIGHT = 432;
const FUNDING_BLOCKS = 3;
const MATURITY = 100;
const PAY_IN_SAT = 250_000_000;
const PAY_IN_FEE_SAT = 10_000;
const PAY_OUT_SAT = 150_000_000;
const PAY_OUT_FEE_SAT = 10_000;

/** A payee outside the wallet: P2WPKH of a fixed key. */
interface KeyRingExt {
  getKeyHash(): Buffer;
}
const EXTERNAL_KEY = bcoin.KeyRing as unknown as { fromPrivate(key: Buffer, compress: boolean): BcoinKeyRing & KeyRingExt };
const EXTERNAL_SCRIPT = Uint8Array.from([0x00, 0x14, ...EXTERNAL_KEY.fromPrivate(Buffer.alloc(32, 0x42), true).getKeyHash()]);
const EXTERNAL_ADDRESS = addressOf(EXTERNAL_SCRIPT, regtest)!;

// The bits of bcoin's txs read here beyond test/helpers/bcoin.d.ts.
interface TxOutputs {
  outputs: { value: number; script: { toRaw(): Buffer } }[];
}
const decodeTx = (hex: string) => bcoin.TX.fromRaw(Buffer.from(hex, "hex")) as ReturnType<typeof bcoin.TX.fromRaw> & TxOutputs;

interface OnchainHistory {
  transactions: { txid: string; height: number; confirmations: number; bc_value: string }[];
}

let node: BcoinNode;
let tmp: ReturnType<typeof tempDir>;
let app: AppProcess;
let electrumPort = 0;
let wallet: ElectrumWallet;
let appExit: number | null = null;

function somethingGone(): string | null {
  if (appExit !== null) return `the server exited with ${appExit}:\n${app.lines.slice(-30).join("\n")}`;
  return wallet?.daemonGone() ?? null;
}

/**
 * Polls `probe` until it returns a value; a probe that throws (e.g. with what it saw instead of
 * what it waits for) is retried, and its last message ends up in the timeout error.
 */
const poll = <R>(what: string, probe: () => Promise<R | undefined>) => pollUntil(what, probe, POLL_MS, 100, somethingGone);

/** Polls until `read()` equals `expected` (deep equality); the last value read is in the timeout error. */
async function until<R>(what: string, read: () => Promise<R>, expected: R): Promise<void> {
  await poll(what, async () => {
    const got = await read();
    if (!Bun.deepEquals(got, expected)) throw new Error(`last seen: ${JSON.stringify(got)}`);
    return true;
  });
}

const tipHeight = () => node.rpc.call<number>("getblockcount");
const balance = () => wallet.json<ElectrumBalance>(["getbalance"]);
const addressHistory = (address: string) => wallet.json<ElectrumHistoryItem[]>(["getaddresshistory", address]);
const onchainHistory = () => wallet.json<OnchainHistory>(["onchain_history"]);
const inNodeMempool = async (txid: string) => (await node.rpc.call<string[]>("getrawmempool", [false])).includes(txid);

/** The wallet follows the node's tip: its verified headers reach the tip and every address is synchronized. */
async function untilWalletAtTip(): Promise<number> {
  const tip = await tipHeight();
  await until(
    `the wallet at height ${tip}, synchronized`,
    async () => {
      const info = await wallet.json<{ blockchain_height: number; server_height: number; connected: boolean }>(["getinfo"]);
      // Only worth asking (another ~0.5 s CLI call) once the headers are there.
      const synced = info.blockchain_height === tip ? await wallet.json<boolean>(["is_synchronized"]) : false;
      return { height: info.blockchain_height, server: info.server_height, connected: info.connected, synced };
    },
    { height: tip, server: tip, connected: true, synced: true },
  );
  return tip;
}

interface Coinbase {
  txid: string;
  height: number;
  valueSat: number;
}

/** The coinbase of block `hash` as the node has it: txid, height and the value it pays to `script`. */
async function coinbaseOf(hash: string, script: Uint8Array): Promise<Coinbase> {
  const block = await node.rpc.call<{ height: number; tx: string[] }>("getblock", [hash, 1]);
  const txid = block.tx[0]!;
  const tx = decodeTx(await node.rpc.call<string>("getrawtransaction", [txid]));
  const valueSat = tx.outputs.filter((o) => o.script.toRaw().equals(script)).reduce((sum, o) => sum + o.value, 0);
  return { txid, height: block.height, valueSat };
}

beforeAll(async () => {
  if (!electrumInstalled()) throw new Error("electrum is not installed: apt-get install -y --no-install-recommends electrum");
  node = await startBcoin();
  await node.mine(SEGWIT_HEIGHT);
  tmp = tempDir("electrs-bun-electrum-");
  app = spawnApp(liveAppArgs(node, tmp.path));
  void app.exited.then((code) => (appExit = code));
  const line = await app.waitFor(/Electrum RPC server running on \S+:\d+/, T);
  electrumPort = Number(/Electrum RPC server running on \S+:(\d+)/.exec(line)![1]);
  await poll(`the server's tip at ${SEGWIT_HEIGHT}`, async () => {
    const tip = await electrumRequest<{ height: number }>(electrumPort, "blockchain.headers.subscribe");
    return tip.height === SEGWIT_HEIGHT ? true : undefined;
  });

  wallet = await restoreWallet(join(tmp.path, "electrum"), SEED);
  await wallet.startDaemon("127.0.0.1", electrumPort);
}, T);

afterAll(async () => {
  // The daemon first: it must never outlive the test, whatever failed above.
  await wallet?.stop();
  // Electrum's own account of trouble with the server (level W/E lines: dropped connections, bad replies).
  const walletErrors = wallet?.daemonLog().split("\n").filter((l) => /\| [WE] \||Traceback/.test(l)) ?? [];
  if (walletErrors.length) console.error(`electrum daemon, warnings and errors (last 30):\n${walletErrors.slice(-30).join("\n")}`);
  await stopLiveApp(app, appExit);
  await node?.close();
  tmp?.[Symbol.dispose]();
}, T);

describe("a real Electrum wallet (electrum 4.3.4) on electrs-bun", () => {
  let receiving: string[] = [];
  let coinbases: Coinbase[] = [];
  let fundedSat = 0;

  test("the wallet connects and syncs: headers up to the tip, every address synchronized, nothing in it", async () => {
    const tip = await untilWalletAtTip();
    expect(tip).toBe(SEGWIT_HEIGHT);
    const info = await wallet.json<{ server: string; network: string; spv_nodes: number }>(["getinfo"]);
    expect(info).toMatchObject({ server: "127.0.0.1", network: "regtest", spv_nodes: 1 });
    expect(await balance()).toEqual({ confirmed: "0" });
    expect(await wallet.json<unknown[]>(["listunspent"])).toEqual([]);
    receiving = await wallet.json<string[]>(["listaddresses", "--receiving"]);
    expect(receiving.length).toBeGreaterThanOrEqual(2);
    for (const a of receiving) expect(a).toStartWith("bcrt1q");
  }, T);

  test("mined coinbases to a wallet address: confirmed balance = their sum, getaddresshistory = their txids and heights", async () => {
    const address = receiving[0]!;
    const script = addressToScript(address, regtest);
    const hashes = await node.mine(FUNDING_BLOCKS, script);
    await node.mine(MATURITY);
    coinbases = await Promise.all(hashes.map((h) => coinbaseOf(h, script)));
    expect(coinbases.map((c) => c.height)).toEqual([SEGWIT_HEIGHT + 1, SEGWIT_HEIGHT + 2, SEGWIT_HEIGHT + 3]);
    fundedSat = coinbases.reduce((sum, c) => sum + c.valueSat, 0);
    expect(fundedSat).toBeGreaterThan(0);

    await untilWalletAtTip();
    // Matured (100 blocks on top): all of it confirmed, nothing unmatured.
    await until("the wallet's balance", balance, { confirmed: satToBtc(fundedSat) });
    expect(await addressHistory(address)).toEqual(coinbases.map((c) => ({ tx_hash: c.txid, height: c.height })));
    // The same history straight from the server.
    expect(await electrumRequest(electrumPort, "blockchain.scripthash.get_history", [electrumScriptHash(script)])).toEqual(
      coinbases.map((c) => ({ tx_hash: c.txid, height: c.height })),
    );

    const coins = await wallet.json<{ prevout_hash: string; prevout_n: number; value: string; height: number; coinbase: boolean; address: string }[]>(["listunspent"]);
    expect(coins.map((c) => [c.prevout_hash, c.prevout_n, btcToSat(c.value), c.height, c.coinbase, c.address]).sort()).toEqual(
      coinbases.map((c) => [c.txid, 0, c.valueSat, c.height, true, address]).sort(),
    );
    // The wallet's own history: every coinbase verified by SPV (a merkle proof from the server
    // against the headers), so its confirmations count from its height.
    const tip = await tipHeight();
    await until(
      "the coinbases SPV-verified in the wallet's history",
      async () => (await onchainHistory()).transactions.map((t) => [t.txid, t.height, t.confirmations]),
      coinbases.map((c) => [c.txid, c.height, tip - c.height + 1]),
    );
  }, T);

  test("a payment from the node into the wallet: unconfirmed first, confirmed after one block", async () => {
    const address = receiving[1]!;
    const script = addressToScript(address, regtest);
    // Spend the (long matured) coinbase of block 1, the node's own.
    const coin = bcoin.Coin.fromTX(await node.coinbaseTx(1), 0, 1);
    const txid = await node.sendTx(node.spend(coin, script, PAY_IN_SAT, PAY_IN_FEE_SAT).toRaw());

    await until("the payment as unconfirmed", balance, { confirmed: satToBtc(fundedSat), unconfirmed: satToBtc(PAY_IN_SAT) });
    expect(await addressHistory(address)).toEqual([{ tx_hash: txid, height: 0, fee: PAY_IN_FEE_SAT }]);

    const [blockHash] = await node.mine(1);
    const height = (await node.rpc.call<{ height: number }>("getblock", [blockHash, 1])).height;
    fundedSat += PAY_IN_SAT;
    await until("the payment as confirmed", balance, { confirmed: satToBtc(fundedSat) });
    expect(await addressHistory(address)).toEqual([{ tx_hash: txid, height }]);
    await until(
      "the payment SPV-verified in the wallet's history",
      async () => {
        const t = (await onchainHistory()).transactions.find((x) => x.txid === txid);
        return t && [t.height, t.confirmations, t.bc_value];
      },
      [height, 1, satToBtc(PAY_IN_SAT)],
    );
  }, T);

  test("a payment out of the wallet (payto + broadcast): in the mempool, the balance drops by amount + fee, then confirmed", async () => {
    const before = fundedSat;
    const hex = await wallet.cli(["payto", EXTERNAL_ADDRESS, satToBtc(PAY_OUT_SAT), "--fee", satToBtc(PAY_OUT_FEE_SAT)]);
    const tx = decodeTx(hex);
    const expectedTxid = tx.txid();
    const paid = tx.outputs.filter((o) => o.script.toRaw().equals(EXTERNAL_SCRIPT));
    expect(paid.map((o) => o.value)).toEqual([PAY_OUT_SAT]);

    // The broadcast goes through the server (blockchain.transaction.broadcast) to the node. bcoin's
    // sendrawtransaction answers with the txid before validating, so acceptance is checked in its mempool.
    expect(await wallet.cli(["broadcast", hex])).toBe(expectedTxid);
    await poll("the payment in the node's mempool", async () => ((await inNodeMempool(expectedTxid)) ? true : undefined));

    // Electrum counts the change of a tx spending only confirmed coins as confirmed.
    await until("the balance after the payment", balance, { confirmed: satToBtc(before - PAY_OUT_SAT - PAY_OUT_FEE_SAT) });
    const mempoolItem = (await onchainHistory()).transactions.find((t) => t.txid === expectedTxid);
    expect(mempoolItem).toMatchObject({ height: 0, confirmations: 0, bc_value: "-" + satToBtc(PAY_OUT_SAT + PAY_OUT_FEE_SAT) });
    expect(await addressHistory(EXTERNAL_ADDRESS)).toEqual([{ tx_hash: expectedTxid, height: 0, fee: PAY_OUT_FEE_SAT }]);

    const [blockHash] = await node.mine(1);
    const block = await node.rpc.call<{ height: number; tx: string[] }>("getblock", [blockHash, 1]);
    expect(block.tx).toContain(expectedTxid);
    const height = block.height;
    await until(
      "the payment confirmed in the wallet's history",
      async () => {
        const t = (await onchainHistory()).transactions.find((x) => x.txid === expectedTxid);
        return t && [t.height, t.confirmations];
      },
      [height, 1],
    );
    expect(await balance()).toEqual({ confirmed: satToBtc(before - PAY_OUT_SAT - PAY_OUT_FEE_SAT) });
    expect(await addressHistory(EXTERNAL_ADDRESS)).toEqual([{ tx_hash: expectedTxid, height }]);
    // The payee's history straight from the server.
    expect(await electrumRequest(electrumPort, "blockchain.scripthash.get_history", [electrumScriptHash(EXTERNAL_SCRIPT)])).toEqual([
      { tx_hash: expectedTxid, height },
    ]);
    expect(await electrumRequest(electrumPort, "blockchain.scripthash.get_balance", [electrumScriptHash(EXTERNAL_SCRIPT)])).toEqual({
      confirmed: PAY_OUT_SAT,
      unconfirmed: 0,
    });
  }, T);
});
