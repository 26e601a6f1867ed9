/**
 * A real Bitcoin full node for tests: bcoin 1.0.2 on regtest, in this process, in memory, with
 * its JSON-RPC on 127.0.0.1 (no P2P listener). Starts in well under a second.
 *
 * bcoin quirks that tests must know (see also shared/notes/toolchain.md):
 * - getblockchaininfo has no `initialblockdownload`, and `headers` always equals `blocks`;
 * - getnetworkinfo's `version` is the string "v1.0.2", not Core's integer;
 * - RPC errors come back with HTTP 200 (Core: 500), messages end with a period and differ from Core's;
 * - regtest addresses use HRP `rb` / base58 `R…`, so scripts are the common currency;
 * - `sendrawtransaction` answers before validating and drops a rejected tx silently: use sendTx();
 * - `invalidateblock` rewinds and forgets the block; `reconsiderblock` only clears the flag, so
 *   the block comes back with `submitblock` of its raw bytes (fetch them first);
 * - the P2P pool must be started (connect()) or a chain rewind leaves the mempool on the old tip
 *   and mining then fails with "Mempool/chain tip mismatch".
 */
import bcoin, { type BcoinCoin, type BcoinFullNode, type BcoinKeyRing, type BcoinTX } from "bcoin";
import { fromUserPass, type AuthSource } from "../../src/daemon/cookie.ts";
import { DaemonClient } from "../../src/daemon/rpc.ts";
import { silentLogger, type Logger } from "../../src/log.ts";

export interface BcoinNode {
  rpcUrl: string;
  apiKey: string;
  auth: AuthSource;
  /** A client on the node's RPC (closed by close()). */
  rpc: DaemonClient;
  /** The default coinbase destination (bcoin regtest encoding) and its output script. */
  miningAddress: string;
  miningScriptHex: string;
  /** The key of miningAddress (P2PKH), to sign spends of mined coinbases. */
  miningKey: BcoinKeyRing;
  /** Mines n blocks paying to `addressOrScript` (a bcoin address or a scriptPubKey as hex/bytes); returns their hashes. */
  mine(n: number, addressOrScript?: string | Uint8Array): Promise<string[]>;
  /** The coinbase tx of the best-chain block at `height`. */
  coinbaseTx(height: number): Promise<BcoinTX>;
  /** A tx spending `coin` (the mining key's): `paySat` to `script` (hex or bytes), the rest minus `feeSat` back to the mining address (output 1); signed, not sent. */
  spend(coin: BcoinCoin, script: string | Uint8Array, paySat: number, feeSat: number): BcoinTX;
  /** Mines one block holding exactly `txs` (generate takes the whole mempool), paying the mining address; returns its hash. */
  mineBlockWith(txs: readonly BcoinTX[]): Promise<string>;
  /**
   * Adds a raw tx to the mempool and resolves once it is in, with its txid; throws if bcoin
   * rejects or orphans it. (bcoin's `sendrawtransaction` answers before validating and drops
   * failures silently, so tests that need the tx in the mempool use this.)
   */
  sendTx(hex: string | Uint8Array): Promise<string>;
  /** The bcoin FullNode, for what RPC cannot do. */
  node: BcoinFullNode;
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

// The bits of bcoin's miner used to build a block of chosen txs (plain JavaScript, no typings).
interface BcoinTemplate {
  time: number;
  target: Buffer;
  pushTX(tx: BcoinTX): boolean;
  refresh(): void;
  getProof(nonce1: number, nonce2: number, time: number, nonce: number): { verify(target: Buffer): boolean };
  commit(proof: unknown): { toRaw(): Buffer };
}
interface BcoinMiner {
  mempool: unknown;
  createBlock(tip?: unknown, address?: unknown): Promise<BcoinTemplate>;
}

export interface StartBcoinOptions {
  /** Extra FullNode options (e.g. `{ prune: true }`), applied over the defaults. */
  nodeOptions?: Record<string, unknown>;
  log?: Logger;
  parallelism?: number;
}

/** A port that was free a moment ago: bind port 0, read it, release it. */
export function freePort(): number {
  const probe = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response(null) });
  const port = probe.port;
  probe.stop(true);
  if (port === undefined) throw new Error("could not find a free port");
  return port;
}

export async function startBcoin(opts: StartBcoinOptions = {}): Promise<BcoinNode> {
  const apiKey = "electrs-bun-test-" + crypto.randomUUID();
  // The free port can be taken by someone else before bcoin binds it; try a few.
  let port = 0;
  let node: BcoinFullNode | undefined;
  for (let attempt = 1; node === undefined; attempt++) {
    port = freePort();
    const candidate = new bcoin.FullNode({
      network: "regtest",
      memory: true,
      workers: false, // bcoin's worker pool spawns node processes; not wanted under Bun
      listen: false,
      indexTX: true,
      httpHost: "127.0.0.1",
      httpPort: port,
      apiKey,
      logLevel: "none",
      ...opts.nodeOptions,
    });
    try {
      await candidate.open();
      node = candidate;
      // Without a started pool, chain resets (invalidateblock) fail inside bcoin's event handlers
      // and leave the mempool on the old tip. With listen:false and no peers on regtest this opens nothing.
      await node.connect();
    } catch (err) {
      await candidate.close().catch(() => {});
      if (attempt >= 3 || (err as { code?: unknown }).code !== "EADDRINUSE") throw err;
    }
  }

  const rpcUrl = `http://127.0.0.1:${port}`;
  // bcoin checks only the password of Basic auth.
  const auth = fromUserPass(`electrs:${apiKey}`);
  const rpc = new DaemonClient({
    url: rpcUrl,
    auth,
    parallelism: opts.parallelism ?? 4,
    log: opts.log ?? silentLogger(),
    retry: { initialDelayMs: 10, maxDelayMs: 100, giveUpAfterMs: 5000 },
  });

  const ring = bcoin.KeyRing.generate(true);
  const miningAddress = ring.getAddress("string", "regtest");
  const miningScriptHex = bcoin.Script.fromAddress(ring.getAddress()).toRaw().toString("hex");

  const toAddress = (dest: string | Uint8Array | undefined): string => {
    if (dest === undefined) return miningAddress;
    if (typeof dest === "string" && !/^([0-9a-fA-F]{2})+$/.test(dest)) return dest;
    const raw = typeof dest === "string" ? Buffer.from(dest, "hex") : Buffer.from(dest);
    const addr = bcoin.Address.fromScript(bcoin.Script.fromRaw(raw));
    // bcoin maps P2PK and bare multisig to P2PKH/P2SH addresses; refuse instead of paying elsewhere.
    if (addr === null || !bcoin.Script.fromAddress(addr).toRaw().equals(raw)) {
      throw new Error(`script ${raw.toString("hex")} has no address form that bcoin can mine to`);
    }
    return addr.toString("regtest");
  };

  const sendTx = async (raw: string | Uint8Array): Promise<string> => {
    const tx = bcoin.TX.fromRaw(typeof raw === "string" ? Buffer.from(raw, "hex") : Buffer.from(raw));
    const missing = await node.mempool.addTX(tx);
    // Any array (even empty) means the tx is not in the mempool: orphaned, or its inputs are gone.
    if (missing) throw new Error(`bcoin did not accept tx ${tx.txid()}: missing or spent inputs`);
    return tx.txid();
  };

  const coinbaseTx = async (height: number): Promise<BcoinTX> => {
    const hash = await rpc.call<string>("getblockhash", [height]);
    const txid = (await rpc.call<{ tx: string[] }>("getblock", [hash, 1])).tx[0]!;
    return bcoin.TX.fromRaw(Buffer.from(await rpc.call<string>("getrawtransaction", [txid]), "hex"));
  };

  const spend = (coin: BcoinCoin, script: string | Uint8Array, paySat: number, feeSat: number): BcoinTX => {
    const mtx = new bcoin.MTX();
    mtx.addCoin(coin);
    mtx.addOutput({ script: bcoin.Script.fromRaw(typeof script === "string" ? Buffer.from(script, "hex") : Buffer.from(script)), value: paySat });
    mtx.addOutput({ address: miningAddress, value: coin.value - paySat - feeSat });
    mtx.sign(ring);
    return mtx.toTX();
  };

  const mineBlockWith = async (txs: readonly BcoinTX[]): Promise<string> => {
    const miner = node.miner as unknown as BcoinMiner;
    const mempool = miner.mempool;
    miner.mempool = null; // the miner then puts no mempool tx in the template
    let template: BcoinTemplate;
    try {
      template = await miner.createBlock(undefined, bcoin.Address.fromString(miningAddress, "regtest"));
    } finally {
      miner.mempool = mempool;
    }
    for (const tx of txs) if (!template.pushTX(tx)) throw new Error(`the block template refused ${tx.txid()}`);
    template.refresh();
    for (let nonce = 0; nonce < 1_000_000; nonce++) {
      const proof = template.getProof(0, 0, template.time, nonce);
      if (!proof.verify(template.target)) continue;
      const reply = await rpc.call<unknown>("submitblock", [template.commit(proof).toRaw().toString("hex")]);
      if (reply !== null) throw new Error(`submitblock refused the block: ${JSON.stringify(reply)}`);
      return rpc.call<string>("getbestblockhash");
    }
    throw new Error("no nonce found");
  };

  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    rpc.close();
    await node.disconnect();
    await node.close();
  };

  return {
    rpcUrl,
    apiKey,
    auth,
    rpc,
    miningAddress,
    miningScriptHex,
    miningKey: ring,
    mine: async (n, dest) => rpc.call<string[]>("generatetoaddress", [n, toAddress(dest)]),
    mineBlockWith,
    coinbaseTx,
    spend,
    sendTx,
    node,
    close,
    [Symbol.asyncDispose]: close,
  };
}
