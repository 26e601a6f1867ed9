/**
 * --electrum-rpc-global-response-budget-bytes: every connection's unsent bytes are counted once in
 * the server's ResponseBudget (connection.ts), given back as the client takes them or at its close;
 * past the budget the dispatcher answers each request with error 2 (electrs' code), and serves
 * again once it is back under.
 */
import { expect, test } from "bun:test";
import { Connection, LineInbox, ResponseBudget, type ConnectionEnv, type Wire } from "../../../src/electrum/connection.ts";
import { Dispatcher } from "../../../src/electrum/dispatch.ts";
import type { ServerContext } from "../../../src/electrum/methods.ts";
import { TurnScheduler } from "../../../src/electrum/scheduler.ts";
import { DEFAULT_LIMITS } from "../../../src/electrum/server.ts";
import { Session, type Subscriptions } from "../../../src/electrum/subscriptions.ts";
import { silentLogger } from "../../../src/log.ts";
import { noopMetrics } from "../../../src/metrics/metrics.ts";
import { NO_TRACING } from "../../../src/trace/tracing.ts";

/** A transport that keeps every byte unsent until the test lets it go. */
class SlowWire implements Wire {
  readonly remote = "127.0.0.1";
  readonly remotePort = 1;
  unsentBytes = 0;
  queuedBytes = 0;
  write(message: unknown): void {
    const n = String(message).length + 1;
    this.unsentBytes += n;
    this.queuedBytes += n;
  }
  pauseReading(): void {}
  resumeReading(): void {}
  hold(): void {}
  release(): void {}
  end(): void {}
  destroy(): void {}
}

function dispatcher(budget: ResponseBudget): Dispatcher {
  const latency = noopMetrics().histogram("electrum_rpc", "x", ["method"]);
  return new Dispatcher({} as ServerContext, DEFAULT_LIMITS, latency, silentLogger(), NO_TRACING, null, null, budget);
}

test("each connection's unsent bytes count once, and are given back as they are taken and at close", () => {
  const budget = new ResponseBudget(100);
  const env = { limits: DEFAULT_LIMITS, scheduler: new TurnScheduler(5), dispatcher: dispatcher(budget), subs: { dropSession() {} } as unknown as Subscriptions, log: silentLogger(), budget } as ConnectionEnv;
  const wa = new SlowWire();
  const wb = new SlowWire();
  const a = new Connection(wa, new LineInbox(1000), 1, env, () => {});
  const b = new Connection(wb, new LineInbox(1000), 2, env, () => {});
  a.send("x".repeat(59)); // 60 bytes with the newline
  b.send("y".repeat(29)); // 30
  expect(budget.used).toBe(90);
  expect(budget.exhausted).toBe(false);
  a.send("z".repeat(19));
  expect([budget.used, budget.exhausted]).toEqual([110, true]);
  wa.unsentBytes = 10; // the client took most of it
  a.onDrain();
  expect([budget.used, budget.exhausted]).toEqual([40, false]);
  b.onClose();
  expect(budget.used).toBe(10);
  a.onClose();
  expect(budget.used).toBe(0);
});

test("past the budget every request is answered with error 2; under it again, served", async () => {
  const budget = new ResponseBudget(100);
  const d = dispatcher(budget);
  const session = new Session(1, "127.0.0.1", { send() {} });
  expect(String(await d.handleLine(session, `{"id":1,"method":"server.ping","params":[]}`))).toBe(`{"jsonrpc":"2.0","id":1,"result":null}`);
  budget.used = 101;
  const refused = JSON.parse(String(await d.handleLine(session, `{"id":2,"method":"server.ping","params":[]}`)));
  expect(refused.id).toBe(2);
  expect(refused.error.code).toBe(2);
  expect(refused.error.message).toMatch(/^server busy: answers waiting for slow clients exceed 100 bytes/);
  // A notification (no id) gets nothing, as always.
  expect(await d.handleLine(session, `{"method":"server.ping","params":[]}`)).toBeNull();
  budget.used = 100;
  expect(String(await d.handleLine(session, `{"id":3,"method":"server.ping","params":[]}`))).toBe(`{"jsonrpc":"2.0","id":3,"result":null}`);
});
