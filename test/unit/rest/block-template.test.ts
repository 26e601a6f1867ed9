/**
 * GET /block-template (rest/block-template.ts): 403 without --enable-mining-rest, as electrs; with
 * it, the node's getblocktemplate as it answered, `no-store`, kept 15 s and for one tip of the
 * index, failures kept 1 s, concurrent misses sharing one call; a node RPC error is a 502 with its
 * code and message as JSON, an unreachable node a 502 with the reason as text.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { BlockTemplates, FAILURE_TTL_MS, TEMPLATE_TTL_MS } from "../../../src/rest/block-template.ts";
import { DaemonError, DaemonUnreachableError } from "../../../src/errors.ts";
import { openFixture, ScriptedRestNode, startServer, type Fixture, type ServerUnderTest } from "./harness.ts";

/** A node whose getblocktemplate answers `next()` (awaited), counting its calls. */
function templateNode(next: () => Promise<unknown>): ScriptedRestNode & { templateCalls: number } {
  const node = Object.assign(new ScriptedRestNode(), { templateCalls: 0 });
  node.getBlockTemplate = () => {
    node.templateCalls++;
    return next();
  };
  return node;
}

/** Lets the promise callbacks queued so far run. */
const settle = () => new Promise((resolve) => setImmediate(resolve));

describe("the kept template", () => {
  test("one call per tip and 15 s; a new tip or the time past asks again", async () => {
    let now = 0;
    let n = 0;
    const node = templateNode(async () => ({ n: ++n }));
    const templates = new BlockTemplates(node, () => now);
    expect(await templates.get("tip-a")).toEqual({ ok: true, json: `{"n":1}` });
    now = TEMPLATE_TTL_MS - 1;
    expect(await templates.get("tip-a")).toEqual({ ok: true, json: `{"n":1}` });
    expect(node.templateCalls).toBe(1);
    expect(await templates.get("tip-b")).toEqual({ ok: true, json: `{"n":2}` });
    now += TEMPLATE_TTL_MS;
    expect(await templates.get("tip-b")).toEqual({ ok: true, json: `{"n":3}` });
    expect(node.templateCalls).toBe(3);
  });

  test("requests that miss together share one call", async () => {
    let release!: (t: unknown) => void;
    const node = templateNode(() => new Promise((resolve) => (release = resolve)));
    const templates = new BlockTemplates(node, () => 0);
    const answers = Array.from({ length: 10 }, () => templates.get("tip"));
    release({ height: 7 });
    for (const a of await Promise.all(answers)) expect(a).toEqual({ ok: true, json: `{"height":7}` });
    expect(node.templateCalls).toBe(1);
  });

  test("a failure is kept 1 s, then the node is asked again", async () => {
    let now = 0;
    let fail = true;
    const node = templateNode(async () => {
      if (fail) throw new DaemonError("getblocktemplate", -10, "Bitcoin Core is in initial sync and waiting for blocks...");
      return { ok: 1 };
    });
    const templates = new BlockTemplates(node, () => now);
    expect((await templates.get("tip")).ok).toBe(false);
    await settle();
    now = FAILURE_TTL_MS - 1;
    expect((await templates.get("tip")).ok).toBe(false);
    expect(node.templateCalls).toBe(1);
    fail = false;
    now = FAILURE_TTL_MS;
    expect(await templates.get("tip")).toEqual({ ok: true, json: `{"ok":1}` });
    expect(node.templateCalls).toBe(2);
  });
});

describe("the route", () => {
  let fx: Fixture;
  let node: ReturnType<typeof templateNode>;
  let answer: () => Promise<unknown>;
  let off: ServerUnderTest;
  let on: ServerUnderTest;

  beforeAll(async () => {
    fx = await openFixture();
    node = templateNode(() => answer());
    off = startServer(fx, { node });
    on = startServer(fx, { node, config: { enableMiningRest: true } });
  });
  afterAll(async () => {
    await off.server.stop();
    await on.server.stop();
    fx.close();
  });

  test("without --enable-mining-rest: 403, and the node is not asked", async () => {
    const r = await off.get("/block-template");
    expect([r.status, await r.text(), r.headers.get("cache-control")]).toEqual([403, "mining REST endpoints are disabled", null]);
    expect(node.templateCalls).toBe(0);
  });

  test("with it: the node's template as it answered (key order kept), no-store; a query string is allowed, a trailing slash is not", async () => {
    const template = { version: 536870912, rules: ["csv", "!segwit"], previousblockhash: "ab".repeat(32), transactions: [], coinbasevalue: 5000000000, height: 138 };
    answer = async () => template;
    const r = await on.get("/block-template?x=1");
    expect(r.status).toBe(200);
    expect(r.headers.get("content-type")).toBe("application/json");
    expect(r.headers.get("cache-control")).toBe("no-store");
    expect(await r.text()).toBe(JSON.stringify(template));
    expect((await on.get("/block-template/")).status).toBe(404);
  });

  test("the node's RPC error: 502 with its code and message as JSON; an unreachable node: 502 with the reason", async () => {
    // A new server: the one above keeps its template for 15 s.
    const errors = startServer(fx, { node, config: { enableMiningRest: true } });
    try {
      answer = async () => {
        throw new DaemonError("getblocktemplate", -10, "Bitcoin Core is in initial sync and waiting for blocks...");
      };
      const r = await errors.get("/block-template");
      expect([r.status, r.headers.get("content-type"), r.headers.get("cache-control")]).toEqual([502, "application/json", "no-store"]);
      expect(await r.json()).toEqual({ error: { code: -10, message: "Bitcoin Core is in initial sync and waiting for blocks..." } });
    } finally {
      await errors.server.stop();
    }
    const unreachable = startServer(fx, { node, config: { enableMiningRest: true } });
    try {
      answer = async () => {
        throw new DaemonUnreachableError("cannot reach bitcoind at 127.0.0.1:18443: connection refused");
      };
      const r = await unreachable.get("/block-template");
      expect([r.status, r.headers.get("content-type"), r.headers.get("cache-control")]).toEqual([502, "text/plain", "no-store"]);
      expect(await r.text()).toBe("cannot reach bitcoind at 127.0.0.1:18443: connection refused");
    } finally {
      await unreachable.server.stop();
    }
  });
});
