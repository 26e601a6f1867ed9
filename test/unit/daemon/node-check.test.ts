/**
 * checkNode against a real bcoin node where bcoin can play the part (a healthy node, a pruned
 * node), and against a scripted server for states bcoin never reports (an old version, initial
 * block download, another network).
 */
import { afterEach, describe, expect, test } from "bun:test";
import type { Server } from "bun";
import { ConfigError } from "../../../src/errors.ts";
import { createLogger, silentLogger } from "../../../src/log.ts";
import { fromUserPass } from "../../../src/daemon/cookie.ts";
import { DaemonClient } from "../../../src/daemon/rpc.ts";
import { chainNameToNetwork, checkNode } from "../../../src/daemon/node-check.ts";
import { startBcoin } from "../../helpers/bcoin-node.ts";
import samples from "../../fixtures/regtest-core30/rpc-samples.json";

const T = 10_000;

interface Sample {
  method: string;
  http_status: number;
  response: { result: Record<string, unknown> };
}
const coreResult = (method: string) =>
  (samples as unknown as Sample[]).find((s) => s.method === method && s.http_status === 200)!.response.result;

function capturingLogger() {
  const lines: string[] = [];
  return { lines, log: createLogger({ verbosity: 0, timestamp: false, sink: (l) => lines.push(l) }) };
}

const servers: Server<undefined>[] = [];
const clients: DaemonClient[] = [];
afterEach(() => {
  for (const c of clients.splice(0)) c.close();
  for (const s of servers.splice(0)) s.stop(true);
});

/** A node that answers getnetworkinfo and getblockchaininfo from the given scripts (Core's shapes by default). */
function scriptedNode(script: { network?: () => object; chain: (call: number) => object }) {
  let chainCalls = 0;
  const server: Server<undefined> = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(req) {
      const { id, method } = (await req.json()) as { id: number; method: string };
      const result =
        method === "getnetworkinfo"
          ? { ...coreResult("getnetworkinfo"), ...script.network?.() }
          : { ...coreResult("getblockchaininfo"), ...script.chain(chainCalls++) };
      return Response.json({ result, error: null, id });
    },
  });
  servers.push(server);
  const client = new DaemonClient({
    url: `http://127.0.0.1:${server.port}`,
    auth: fromUserPass("u:p"),
    parallelism: 1,
    log: silentLogger(),
  });
  clients.push(client);
  return { client, chainCalls: () => chainCalls };
}

describe("checkNode", () => {
  test("accepts a healthy bcoin node and reports regtest", async () => {
    await using node = await startBcoin();
    await node.mine(3);
    const cap = capturingLogger();
    const info = await checkNode(node.rpc, cap.log, { pollMs: 10, expectedNetwork: "regtest" });
    expect(info).toMatchObject({ chain: "regtest", network: "regtest", blocks: 3, headers: 3, version: "v1.0.2" });
    expect(info.bestBlockHash).toBe(await node.rpc.call<string>("getbestblockhash"));
    // bcoin's version is a string: noted, not fatal.
    expect(cap.lines[0]).toStartWith('WARN  node reports version "v1.0.2"');
  }, T);

  test("refuses a pruned node (a real pruned bcoin)", async () => {
    await using node = await startBcoin({ nodeOptions: { prune: true } });
    const err = await checkNode(node.rpc, silentLogger(), { pollMs: 10 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toBe("pruned node is not supported (use a node with -prune=0)");
  }, T);

  test("accepts Bitcoin Core 30 as the fixture shows it", async () => {
    const { client } = scriptedNode({ chain: () => ({}) });
    const info = await checkNode(client, silentLogger(), { pollMs: 10 });
    expect(info).toEqual({
      chain: "regtest",
      network: "regtest",
      version: 300000,
      subversion: "/Satoshi:30.0.0/",
      relayFeeBtcPerKvB: 1e-6,
      blocks: 137,
      headers: 137,
      bestBlockHash: "6b94ce9990971382cb54b117ac6a4eaba9b97766ef98435aee5bddb9a3be80b4",
    });
  }, T);

  test("refuses a node older than 0.16", async () => {
    const { client } = scriptedNode({ network: () => ({ version: 150100 }), chain: () => ({}) });
    const err = await checkNode(client, silentLogger(), { pollMs: 10 }).catch((e: unknown) => e);
    expect((err as Error).message).toBe("bitcoind version 0.15.1 is too old (need ≥ 0.16)");
  }, T);

  test("waits out initial block download, logging progress, then proceeds", async () => {
    const states = [
      { initialblockdownload: true, blocks: 10, headers: 137, verificationprogress: 0.05 },
      { initialblockdownload: true, blocks: 100, headers: 137, verificationprogress: 0.5 },
      { initialblockdownload: false, blocks: 136, headers: 137, verificationprogress: 0.99 },
      { initialblockdownload: false, blocks: 137, headers: 137, verificationprogress: 1 },
    ];
    const node = scriptedNode({ chain: (n) => states[Math.min(n, states.length - 1)]! });
    const cap = capturingLogger();
    const info = await checkNode(node.client, cap.log, { pollMs: 5 });
    expect(info.blocks).toBe(137);
    expect(node.chainCalls()).toBe(4);
    expect(cap.lines.filter((l) => l.includes("waiting"))).toEqual([
      "INFO  waiting for bitcoind to finish initial block download: height 10 of 137 (5.00 %)",
      "INFO  waiting for bitcoind to finish initial block download: height 100 of 137 (50.00 %)",
      "INFO  waiting for bitcoind to finish initial block download: height 136 of 137 (99.00 %)",
    ]);
  }, T);

  test("the wait can be aborted", async () => {
    const node = scriptedNode({ chain: () => ({ initialblockdownload: true, blocks: 1, headers: 137 }) });
    const ctl = new AbortController();
    const cap = createLogger({
      verbosity: 0,
      timestamp: false,
      sink: (l) => (l.includes("waiting") ? ctl.abort(new Error("shutting down")) : undefined),
    });
    const err = await checkNode(node.client, cap, { pollMs: 60_000, signal: ctl.signal }).catch((e: unknown) => e);
    expect((err as Error).message).toBe("shutting down");
  }, T);

  test("refuses a node of another network", async () => {
    const { client } = scriptedNode({ chain: () => ({ chain: "main" }) });
    const err = await checkNode(client, silentLogger(), { pollMs: 10, expectedNetwork: "regtest" }).catch((e: unknown) => e);
    expect((err as Error).message).toBe("bitcoind is on mainnet but electrs-bun is configured for regtest");
  }, T);
});

describe("chainNameToNetwork", () => {
  test("maps Core's chain names to ours", () => {
    expect(chainNameToNetwork("main")).toBe("mainnet");
    expect(chainNameToNetwork("test")).toBe("testnet");
    expect(chainNameToNetwork("testnet4")).toBe("testnet4");
    expect(chainNameToNetwork("regtest")).toBe("regtest");
    expect(chainNameToNetwork("signet")).toBe("signet");
    expect(() => chainNameToNetwork("liquidv1")).toThrow('bitcoind reports an unknown chain "liquidv1"');
  }, T);
});
