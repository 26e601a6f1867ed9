/** Every script of expected.json over a real TCP connection: history, balance, UTXOs, status (§1.7 recomputed). */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { compareMempoolEntries, statusHash } from "../../../src/query/status.ts";
import { expected, LineClient, openFixture, startServer, type Fixture, type RpcReply, type Started } from "./harness.ts";

let fx: Fixture;
let srv: Started;
let client: LineClient;

beforeAll(async () => {
  fx = await openFixture();
  srv = startServer(fx);
  client = await LineClient.connect(srv.server.port);
  await client.result("server.version", ["test", "1.6"]);
});
afterAll(async () => {
  client.close();
  await srv.server.stop();
  fx.close();
});

/** §1.7 from scratch: "<txid>:<height>:" in (height, position) order, sha256, hex. */
function independentStatus(history: readonly { txid: string; height: number; pos: number }[]): string | null {
  if (history.length === 0) return null;
  const sorted = [...history].sort((a, b) => a.height - b.height || a.pos - b.pos);
  return new Bun.CryptoHasher("sha256").update(sorted.map((h) => `${h.txid}:${h.height}:`).join("")).digest("hex");
}

describe("every fixture script", () => {
  test(`${expected.scripts.length} scripts: get_history, get_balance, listunspent, subscribe`, async () => {
    let id = 0;
    for (const s of expected.scripts) {
      const sh = s.electrum_scripthash;
      const names = ["blockchain.scripthash.get_history", "blockchain.scripthash.get_balance", "blockchain.scripthash.listunspent", "blockchain.scripthash.subscribe"];
      const batch = names.map((method) => ({ jsonrpc: "2.0", id: ++id, method, params: [sh] }));
      client.write(JSON.stringify(batch) + "\n");
      const replies = JSON.parse((await client.nextLine())!) as RpcReply[];
      expect(replies.map((r) => r.id)).toEqual(batch.map((b) => b.id));
      const [history, balance, unspent, status] = replies.map((r) => r.result);
      const sortedHistory = [...s.history].sort((a, b) => a.height - b.height || a.pos - b.pos);
      expect(history).toEqual(sortedHistory.map((h) => ({ tx_hash: h.txid, height: h.height })));
      expect(balance).toEqual({ confirmed: s.balance, unconfirmed: 0 });
      const byOutpoint = (a: { tx_hash: string; tx_pos: number }, b: { tx_hash: string; tx_pos: number }) =>
        a.tx_hash < b.tx_hash ? -1 : a.tx_hash > b.tx_hash ? 1 : a.tx_pos - b.tx_pos;
      const want = s.utxos.map((u) => ({ tx_hash: u.txid, tx_pos: u.vout, height: u.height, value: u.value }));
      expect([...(unspent as typeof want)].sort(byOutpoint)).toEqual(want.sort(byOutpoint));
      const heights = (unspent as typeof want).map((u) => u.height);
      expect(heights).toEqual([...heights].sort((a, b) => a - b));
      expect(status).toBe(s.electrum_status);
      expect(status).toBe(independentStatus(s.history));
    }
  }, 60_000);
});

describe("status hash (§1.7)", () => {
  // electrum-protocol docs/protocol-basics.rst, "Status Example" (regtest scripthash f04bf26f…).
  const confirmed = [
    { txidHex: "a6c9c361bd0bc536d6a22648efbf8f9b200e425ef6c3a7a9669dc444c532a347", height: 2472 },
    { txidHex: "9c42f84b2fcdaff676ba25d9d4941741cc0d1a01cce0c23fdc4c0b2afa38431c", height: 2473 },
    { txidHex: "770f2d4371b3fabb902dd9a103e2dd005fcd3971181078fca4a2a1d6ff127b30", height: 2473 },
  ];
  const pool = [
    { txidHex: "bb4c8ab438c13b89ca80d1d5bee25b0b6b7f55673f4d801998ba97db161d9e85", height: -1, feeSat: 200 },
    { txidHex: "e02a1dadfa83b996b24175df807b271ea5d02937ef5b35c195fac1e1bdc3198f", height: 0, feeSat: 300 },
    { txidHex: "80b19848aed792565ab7c5a79b7c2a00fbf985741579396ebe0ab6098e607311", height: 0, feeSat: 200 },
  ];
  test("the protocol document's conformance vector, mempool sorted into the 1.6 order", () => {
    const sorted = [...pool].sort(compareMempoolEntries);
    expect(sorted.map((e) => e.txidHex.slice(0, 4))).toEqual(["80b1", "e02a", "bb4c"]);
    expect(statusHash([...confirmed, ...sorted])).toBe("78e96c6562cafa71c115503b9411fdfdc595a45031e2ab76ff75162fe1b0590d");
    expect(statusHash([])).toBeNull();
  });
});
