/**
 * A serve worker's Electrum reads against the main thread's commits (dispatch.ts runGuarded): a
 * method that only reads is run again when the guard says a commit overlapped it (at most three
 * runs); one that changes something (subscribe, broadcast, server.version) is never run twice.
 * The guard here injects the overlap; serve/shared-state.ts changeGuard is tested on its own.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { buildTx, expected, LineClient, openFixture, startServer, type Fixture, type Started } from "./harness.ts";

let fx: Fixture;
let srv: Started;
let client: LineClient;
/** What the guard answers to `changed`, in turn (then false), and how often it was asked to begin. */
let overlaps: boolean[] = [];
let begins = 0;

beforeAll(async () => {
  fx = await openFixture();
  srv = startServer(fx, {
    readGuard: {
      begin: () => ++begins,
      changed: () => overlaps.shift() ?? false,
    },
  });
  client = await LineClient.connect(srv.server.port);
});
afterAll(async () => {
  client.close();
  await srv.server.stop();
  fx.close();
});

const popular = expected.scripts[0]!;

test("a reading method overlapped by a commit is read again; the answer is the last read's", async () => {
  begins = 0;
  overlaps = [true, false];
  const r = await client.call("blockchain.scripthash.get_balance", [popular.electrum_scripthash]);
  expect(r.result).toEqual({ confirmed: popular.balance, unconfirmed: 0 });
  expect(begins).toBe(2);
  begins = 0;
  overlaps = [true, true, true, true];
  const h = await client.call("blockchain.scripthash.get_history", [popular.electrum_scripthash]);
  expect((h.result as unknown[]).length).toBe(popular.history.length);
  expect(begins).toBe(3); // answered as read after three overlapped runs
});

test("methods that change something are run once, whatever the guard says", async () => {
  begins = 0;
  overlaps = [true, true, true];
  expect((await client.call("blockchain.scripthash.subscribe", [popular.electrum_scripthash])).error).toBeUndefined();
  const tx = buildTx({ inputs: [{ txidHex: popular.utxos[0]!.txid, vout: popular.utxos[0]!.vout }], outputs: [{ scriptHex: popular.script, value: 1000 }] });
  await client.call("blockchain.transaction.broadcast", [Buffer.from(tx.raw).toString("hex")]);
  expect(srv.broadcasts.length).toBe(1);
  expect(begins).toBe(0);
});
