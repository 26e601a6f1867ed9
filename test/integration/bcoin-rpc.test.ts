/**
 * DaemonClient against a real node: bcoin 1.0.2 on regtest, in this process (test/helpers/bcoin-node.ts).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import bcoin from "bcoin";
import { DaemonError } from "../../src/errors.ts";
import { hashToHex, hexToBytes } from "../../src/bitcoin/bytes.ts";
import { sha256d } from "../../src/bitcoin/hash.ts";
import { startBcoin, type BcoinNode } from "../helpers/bcoin-node.ts";

const T = 15_000;
const displayHash = (bytes: Uint8Array) => hashToHex(sha256d(bytes));

let node: BcoinNode;
let mined: string[];
beforeAll(async () => {
  node = await startBcoin();
  mined = await node.mine(10);
}, T);
afterAll(async () => {
  await node?.close();
}, T);

describe("bcoin node over DaemonClient", () => {
  test("starts fast and disposes with `await using`", async () => {
    const started = performance.now();
    let url: string;
    {
      await using other = await startBcoin();
      url = other.rpcUrl;
      const info = await other.rpc.call<{ chain: string; blocks: number }>("getblockchaininfo");
      expect(info).toMatchObject({ chain: "regtest", blocks: 0 });
    }
    expect(performance.now() - started).toBeLessThan(3000);
    // Closed: nothing listens there any more.
    expect(await fetch(url, { method: "POST", body: "{}" }).then(() => "up", () => "down")).toBe("down");
  }, T);

  test("getblockchaininfo after mining 10 blocks", async () => {
    expect(mined).toHaveLength(10);
    const info = await node.rpc.call<{ chain: string; blocks: number; headers: number; bestblockhash: string; pruned: boolean }>(
      "getblockchaininfo",
    );
    expect(info).toMatchObject({ chain: "regtest", blocks: 10, headers: 10, pruned: false, bestblockhash: mined[9] });
    expect(await node.rpc.call<string>("getbestblockhash")).toBe(mined[9]!);
  }, T);

  test("batch getblockhash and getblock <hash> 0 give every raw block, linked by prev hash", async () => {
    const heights = Array.from({ length: 11 }, (_, h) => [h]);
    const hashes = await node.rpc.batch<string>("getblockhash", heights, { chunkSize: 4 });
    expect(hashes.slice(1)).toEqual(mined);
    const raws = await node.rpc.batch<string>("getblock", hashes.map((h) => [h, 0]), { chunkSize: 3 });
    raws.forEach((hex, h) => {
      const bytes = hexToBytes(hex);
      expect(displayHash(bytes.subarray(0, 80))).toBe(hashes[h]!);
      const prev = hashToHex(bytes.subarray(4, 36));
      expect(prev).toBe(h === 0 ? "0".repeat(64) : hashes[h - 1]!);
    });
  }, T);

  test("getrawtransaction returns the coinbase of a mined block", async () => {
    const block = await node.rpc.call<{ tx: string[]; height: number }>("getblock", [mined[4], 1]);
    expect(block.height).toBe(5);
    const txid = block.tx[0]!;
    const hex = await node.rpc.call<string>("getrawtransaction", [txid]);
    // Before segwit activates on bcoin's regtest (height 432) a coinbase has no witness, so txid = sha256d(raw).
    expect(displayHash(hexToBytes(hex))).toBe(txid);
    // The coinbase pays the helper's mining script.
    expect(hex).toContain(node.miningScriptHex);
  }, T);

  test("mine() to a script pays that script", async () => {
    const p2wpkh = "0014" + "11".repeat(20);
    const [hash] = await node.mine(1, p2wpkh);
    const raw = await node.rpc.call<string>("getblock", [hash, 0]);
    expect(raw).toContain(p2wpkh);
    // P2PK: bcoin would pay the key's P2PKH instead, so the helper refuses.
    await expect(node.mine(1, "21" + "02" + "33".repeat(32) + "ac")).rejects.toThrow("no address form");
  }, T);

  test("unknown heights and txids are RPC errors; batchSettled keeps the good elements", async () => {
    const tip = await node.rpc.call<number>("getblockcount");
    const settled = await node.rpc.batchSettled<string>("getblockhash", [[0], [tip + 100]]);
    expect("result" in settled[0]!).toBe(true);
    const bad = settled[1] as { error: DaemonError };
    expect(bad.error).toBeInstanceOf(DaemonError);
    expect(bad.error.code).toBe(-8);
    const err = await node.rpc.call("getrawtransaction", ["00".repeat(32)]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DaemonError);
    expect((err as Error).message).toStartWith("getrawtransaction RPC error");
  }, T);

  test("invalidateblock / reconsiderblock move the best block", async () => {
    const tip = await node.rpc.call<string>("getbestblockhash");
    const raw = await node.rpc.call<string>("getblock", [tip, 0]);
    const header = await node.rpc.call<{ previousblockhash: string }>("getblockheader", [tip, true]);
    await node.rpc.call("invalidateblock", [tip]);
    expect(await node.rpc.call<string>("getbestblockhash")).toBe(header.previousblockhash);
    await node.rpc.call("reconsiderblock", [tip]);
    // bcoin's invalidateblock rewinds the chain and forgets the block; reconsiderblock only clears
    // the flag, so the block comes back by submitting it again (Core reactivates it by itself).
    expect(await node.rpc.call<null>("submitblock", [raw])).toBeNull();
    expect(await node.rpc.call<string>("getbestblockhash")).toBe(tip);
  }, T);

  test("a reorg: invalidate the tip and mine a longer branch", async () => {
    const height = await node.rpc.call<number>("getblockcount");
    const oldTip = await node.rpc.call<string>("getbestblockhash");
    await node.rpc.call("invalidateblock", [oldTip]);
    const branch = await node.mine(2);
    expect(await node.rpc.call<number>("getblockcount")).toBe(height + 1);
    expect(await node.rpc.call<string>("getbestblockhash")).toBe(branch[1]!);
    expect(await node.rpc.call<string>("getblockhash", [height])).toBe(branch[0]!);
    await node.rpc.call("reconsiderblock", [oldTip]);
  }, T);

  test("sendTx puts a signed spend of a mature coinbase into the mempool", async () => {
    await node.mine(100); // coinbase maturity
    const cbTxid = (await node.rpc.call<{ tx: string[] }>("getblock", [mined[0], 1])).tx[0]!;
    const cb = bcoin.TX.fromRaw(Buffer.from(await node.rpc.call<string>("getrawtransaction", [cbTxid]), "hex"));
    const coin = bcoin.Coin.fromTX(cb, 0, 1);
    const mtx = new bcoin.MTX();
    mtx.addCoin(coin);
    mtx.addOutput({ address: node.miningAddress, value: coin.value - 10_000 });
    mtx.sign(node.miningKey);
    const txid = await node.sendTx(mtx.toTX().toRaw().toString("hex"));
    expect(await node.rpc.call<string[]>("getrawmempool")).toEqual([txid]);
    await expect(node.sendTx(mtx.toTX().toRaw().toString("hex"))).rejects.toThrow();
  }, T);
});
