/**
 * Logs a log shipper reads (--log-format json) and the bitcoind credentials, which never appear in
 * any log line at any verbosity: the server at -vv (every RPC call traced) against a live bcoin
 * node, with the password given by --cookie and by a cookie file.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { spawnApp, type AppProcess } from "../helpers/app-process.ts";
import { startBcoin, type BcoinNode } from "../helpers/bcoin-node.ts";
import { liveAppArgs, stopLiveApp } from "../helpers/live-app.ts";
import { tempDir } from "../helpers/tmp.ts";

const T = 60_000;
let node: BcoinNode;
let tmp: ReturnType<typeof tempDir>;

beforeAll(async () => {
  node = await startBcoin();
  await node.mine(5);
  tmp = tempDir();
}, T);

afterAll(async () => {
  await node?.close();
  tmp?.[Symbol.dispose]();
});

/** Every form of the secret a careless line could carry: as given, and inside a Basic Authorization header. */
function secretForms(user: string): string[] {
  return [node.apiKey, Buffer.from(`${user}:${node.apiKey}`).toString("base64")];
}

async function runUntilServing(args: string[]): Promise<AppProcess> {
  const app = spawnApp(args);
  try {
    await app.waitFor(/startup complete/, T);
    // A query and a fresh block, so that the live path's RPC calls are traced too.
    await node.mine(1);
    await app.waitFor(/new tip: height \d+/, T);
  } finally {
    await stopLiveApp(app, null);
  }
  return app;
}

describe("log lines", () => {
  test("--log-format json -vv: every line one JSON object with time, level, module, message, fields; no credential anywhere", async () => {
    const app = await runUntilServing(liveAppArgs(node, join(tmp.path, "json"), ["-vv", "--log-format", "json"]));
    expect(app.lines.length).toBeGreaterThan(10);
    const levels = new Set<string>();
    for (const line of app.lines) {
      const o = JSON.parse(line);
      expect(Object.keys(o)).toEqual(["time", "level", "module", "message", "fields"]);
      expect(Number.isNaN(Date.parse(o.time))).toBe(false);
      expect(typeof o.module).toBe("string");
      expect(typeof o.message).toBe("string");
      expect(typeof o.fields).toBe("object");
      levels.add(o.level);
    }
    expect([...levels]).toContain("trace"); // -vv did reach the RPC traces
    const tip = app.lines.map((l) => JSON.parse(l)).find((o) => o.message.startsWith("new tip: height"));
    expect(tip.module).toBe("main");
    expect(tip.fields).toEqual({ height: expect.any(Number), blocks_added: 1, blocks_removed: 0 });
    for (const s of secretForms("x")) expect(app.log()).not.toContain(s);
  }, T);

  test("text -vv with a cookie file: no credential anywhere", async () => {
    const dir = join(tmp.path, "text");
    const cookie = join(tmp.path, ".cookie");
    writeFileSync(cookie, `__cookie__:${node.apiKey}`);
    const args = liveAppArgs(node, dir, ["-vv", "--cookie-file", cookie]);
    const i = args.indexOf("--cookie");
    args.splice(i, 2); // the password only in the file
    const app = await runUntilServing(args);
    expect(app.lines.some((l) => l.startsWith("TRACE"))).toBe(true);
    for (const s of secretForms("__cookie__")) expect(app.log()).not.toContain(s);
  }, T);
});
