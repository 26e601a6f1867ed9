/**
 * The Grafana dashboard (contrib/grafana/electrs-bun.json) and the Prometheus rules
 * (contrib/prometheus/): a real Prometheus (Debian's) scrapes the server following a live bcoin
 * node while wallets and explorers use it, and every query of every panel, evaluated through
 * Prometheus' HTTP API, returns at least one finite sample. promtool checks the rules and runs
 * their unit tests; the running Prometheus loads them healthy.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { spawnApp, type AppProcess } from "../helpers/app-process.ts";
import { freePort, startBcoin, type BcoinNode } from "../helpers/bcoin-node.ts";
import { liveAppArgs, stopLiveApp } from "../helpers/live-app.ts";
import { tempDir } from "../helpers/tmp.ts";

const T = 120_000;
const CONTRIB = join(import.meta.dir, "..", "..", "contrib");
const DASHBOARD = join(CONTRIB, "grafana", "electrs-bun.json");
const RULES = join(CONTRIB, "prometheus", "electrs-bun.rules.yml");
const RULES_TEST = join(CONTRIB, "prometheus", "electrs-bun.rules.test.yml");
const JOB = "electrs-bun";

interface Panel {
  type: string;
  title: string;
  targets?: { expr: string }[];
}

let node: BcoinNode;
let tmp: ReturnType<typeof tempDir>;
let app: AppProcess | undefined;
let prom: ReturnType<typeof Bun.spawn> | undefined;

beforeAll(async () => {
  node = await startBcoin();
  await node.mine(10);
  tmp = tempDir();
}, T);

afterAll(async () => {
  prom?.kill("SIGKILL");
  await prom?.exited;
  await stopLiveApp(app, null);
  await node?.close();
  tmp?.[Symbol.dispose]();
});

async function until<V>(what: string, probe: () => Promise<V | null>, timeoutMs: number): Promise<V> {
  const t0 = performance.now();
  for (;;) {
    const v = await probe().catch(() => null);
    if (v !== null) return v;
    if (performance.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(200);
  }
}

/** A line-delimited JSON-RPC client over TCP (what an Electrum wallet sends). */
async function electrumClient(addr: string) {
  const [host, port] = [addr.slice(0, addr.lastIndexOf(":")), Number(addr.slice(addr.lastIndexOf(":") + 1))];
  const waiting = new Map<number, (v: unknown) => void>();
  let buf = "";
  let nextId = 1;
  const socket = await Bun.connect({
    hostname: host,
    port,
    socket: {
      data(_s, chunk) {
        buf += chunk.toString();
        let nl: number;
        while ((nl = buf.indexOf("\n")) >= 0) {
          const msg = JSON.parse(buf.slice(0, nl));
          buf = buf.slice(nl + 1);
          if (typeof msg.id === "number") waiting.get(msg.id)?.(msg);
        }
      },
    },
  });
  return {
    call: (method: string, params: unknown[] = []) =>
      new Promise<unknown>((resolve) => {
        const id = nextId++;
        waiting.set(id, resolve);
        socket.write(JSON.stringify({ jsonrpc: "2.0", id, method, params }) + "\n");
      }),
    close: () => socket.end(),
  };
}

describe("the dashboard and the rules against a real Prometheus", () => {
  test("promtool: the rules are valid and their unit tests pass", () => {
    for (const args of [["check", "rules", RULES], ["test", "rules", RULES_TEST]]) {
      const r = Bun.spawnSync(["promtool", ...args], { stdout: "pipe", stderr: "pipe", cwd: join(CONTRIB, "prometheus") });
      expect({ args, exit: r.exitCode, out: r.exitCode === 0 ? "" : r.stdout.toString() + r.stderr.toString() }).toEqual({ args, exit: 0, out: "" });
    }
  }, 30_000);

  test("every panel's query returns data from a Prometheus scraping the server", async () => {
    const monitoring = `127.0.0.1:${freePort()}`;
    const args = liveAppArgs(node, tmp.path);
    args[args.indexOf("--monitoring-addr") + 1] = monitoring;
    app = spawnApp(args);
    const ready = await app.waitFor(/startup complete/, T);
    const restUrl = /REST on (http:\S+?),/.exec(ready)![1]!;
    const electrumAddr = /Electrum on (\S+?),/.exec(ready)![1]!;

    const promAddr = `127.0.0.1:${freePort()}`;
    const config = join(tmp.path, "prometheus.yml");
    writeFileSync(
      config,
      [
        "global:",
        "  scrape_interval: 1s",
        "  evaluation_interval: 1s",
        "rule_files:",
        `  - ${RULES}`,
        "scrape_configs:",
        `  - job_name: ${JOB}`,
        "    static_configs:",
        `      - targets: ["${monitoring}"]`,
        "",
      ].join("\n"),
    );
    prom = Bun.spawn(
      ["prometheus", `--config.file=${config}`, `--storage.tsdb.path=${join(tmp.path, "tsdb")}`, `--web.listen-address=${promAddr}`, "--log.level=warn"],
      { stdout: "ignore", stderr: "pipe" },
    );
    const query = async (expr: string): Promise<{ value: [number, string] }[]> => {
      const r = await fetch(`http://${promAddr}/api/v1/query?query=${encodeURIComponent(expr)}`);
      const body = (await r.json()) as { status: string; error?: string; data: { resultType: string; result: { value: [number, string] }[] } };
      if (body.status !== "success") throw new Error(`${expr}: ${body.error}`);
      return body.data.resultType === "scalar" ? [{ value: body.data.result as unknown as [number, string] }] : body.data.result;
    };
    const finite = (rows: { value: [number, string] }[]) => rows.some((r) => Number.isFinite(Number(r.value[1])));
    // Two scrapes at least, so that rates have a window.
    await until("two scrapes of the server", async () => {
      const rows = await query(`count_over_time(up{job="${JOB}"}[1m])`);
      return rows.length && Number(rows[0]!.value[1]) >= 2 && Number((await query(`up{job="${JOB}"}`))[0]!.value[1]) === 1 ? true : null;
    }, 30_000);

    // What wallets, explorers and the node do meanwhile: Electrum requests and subscriptions,
    // REST requests (one a 404), a new block (index steps, notifications). Twice, a scrape apart:
    // a series' first sample has no rate yet.
    const wallet = await electrumClient(electrumAddr);
    const use = async () => {
      await wallet.call("server.version", ["dashboard-test", "1.4"]);
      await wallet.call("blockchain.headers.subscribe");
      await wallet.call("blockchain.scripthash.subscribe", ["00".repeat(32)]);
      await wallet.call("blockchain.scripthash.get_balance", ["00".repeat(32)]);
      await wallet.call("server.ping");
      for (const path of ["/blocks/tip/height", "/blocks/tip/hash", "/mempool", "/no/such/route"]) await (await fetch(`${restUrl}${path}`)).text();
    };
    await use();
    await until("the first round scraped", async () => {
      const rest = await query(`count(http_request_duration_count{job="${JOB}"})`);
      const electrum = await query(`count(electrum_rpc_count{job="${JOB}"})`);
      return Number(rest[0]?.value[1]) >= 4 && Number(electrum[0]?.value[1]) >= 5 ? true : null;
    }, 30_000);
    await use();
    await node.mine(1);
    await app.waitFor(/new tip: height 11/, T);

    const dashboard = JSON.parse(readFileSync(DASHBOARD, "utf8")) as { panels: Panel[]; templating: { list: { name: string }[] } };
    expect(dashboard.templating.list.map((v) => v.name)).toEqual(["job"]);
    const exprs = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title, expr: t.expr })));
    expect(exprs.length).toBeGreaterThanOrEqual(25);
    const empty: string[] = [];
    for (const { panel, expr } of exprs) {
      const promql = expr.replaceAll("$job", JOB).replaceAll("$__rate_interval", "1m");
      try {
        await until(`data for "${panel}"`, async () => (finite(await query(promql)) ? true : null), 20_000);
      } catch {
        empty.push(`${panel}: ${promql} → ${JSON.stringify(await query(promql))}`);
      }
    }
    expect(empty).toEqual([]);

    // The rules loaded into the running Prometheus, every one evaluated without error.
    const rules = (await (await fetch(`http://${promAddr}/api/v1/rules`)).json()) as { data: { groups: { rules: { name: string; health: string }[] }[] } };
    const loaded = rules.data.groups.flatMap((g) => g.rules);
    expect(loaded.map((r) => r.name).sort()).toEqual(
      ["ElectrsBunIndexBehindNode", "ElectrsBunInitialSyncStalled", "ElectrsBunMempoolUpdatesFailing", "ElectrsBunRpcErrors", "electrs_bun:blocks_behind"].sort(),
    );
    await until("the rules evaluated", async () => {
      const r = (await (await fetch(`http://${promAddr}/api/v1/rules`)).json()) as typeof rules;
      return r.data.groups.flatMap((g) => g.rules).every((x) => x.health === "ok") ? true : null;
    }, 20_000);
    // The recording rule sees the server caught up with its node.
    expect(Number((await query(`electrs_bun:blocks_behind{job="${JOB}"}`))[0]!.value[1])).toBe(0);
    wallet.close();
  }, T);
});
