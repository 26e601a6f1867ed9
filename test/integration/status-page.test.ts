/**
 * The status page on the monitoring address (metrics/status.ts): /status.json from the running
 * server, and /status rendered by a real headless Chromium (Debian's), during an initial sync (held
 * after its first batch by the test-only ELECTRS_BUN_TEST_HOLD_SYNC hook, released with SIGUSR2)
 * and afterwards. Every other path still answers the Prometheus exposition.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { generateChain } from "../../bench/gen-chain.ts";
import { createMetrics } from "../../src/metrics/metrics.ts";
import { StatusBoard, type StatusJson } from "../../src/metrics/status.ts";
import { metricsUrl, spawnApp, type AppProcess } from "../helpers/app-process.ts";
import { tempDir } from "../helpers/tmp.ts";

const T = 60_000;
const CHROMIUM = "/usr/bin/chromium";

describe("StatusBoard", () => {
  test("figures from the registry; rates and the ETA over the sampled window", async () => {
    const metrics = createMetrics({ processCollector: false });
    let now = 0;
    const board = new StatusBoard({ registry: metrics.registry, name: "electrs-bun", version: "9.9.9", network: "regtest", now: () => now });
    board.setPhase("initial sync");
    board.setListener("http", "127.0.0.1:3002");
    const rest = metrics.histogram("http_request_duration", "x", ["route", "status"]);
    metrics.sync.setIndexedHeight(100);
    metrics.sync.setNodeHeight(400);
    metrics.sync.setProgress(0.25);
    metrics.sync.addTxs(1000);
    await board.sample();
    now = 10_000;
    metrics.sync.setIndexedHeight(200);
    metrics.sync.setProgress(0.5);
    metrics.sync.addTxs(4000);
    for (let i = 0; i < 30; i++) rest.observe(0.001, { route: "/tx/:txid", status: 200 });
    const s = await board.json();
    expect(s).toMatchObject({
      name: "electrs-bun", version: "9.9.9", network: "regtest", phase: "initial sync", uptime_s: 10,
      index: { height: 200, node_height: 400, behind_blocks: 200, progress: 0.5, indexed_txs: 5000, tx_per_s: 400, eta_s: 20 },
      rest: { requests_total: 30, requests_per_s: 3 },
      electrum: { clients: 0, subscriptions: 0, requests_total: 0, requests_per_s: 0 },
      listeners: { http: "127.0.0.1:3002" },
    });
    board.setPhase("serving");
    expect((await board.json()).index.eta_s).toBeNull(); // no ETA once serving
  });
});

/** The page as Chromium renders it once its script has fetched status.json: each data-k cell's text. */
function renderedPage(url: string): { cells: Record<string, string>; listeners: Record<string, string> } {
  const r = Bun.spawnSync(
    [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-dev-shm-usage", `--user-data-dir=${profile.path}`, "--virtual-time-budget=4000", "--dump-dom", url],
    { stdout: "pipe", stderr: "pipe", timeout: 30_000 },
  );
  const dom = r.stdout.toString();
  if (!dom.includes('data-loaded="1"')) throw new Error(`the page did not load its figures (exit ${r.exitCode}): ${r.stderr.toString().slice(-2000)}\n${dom.slice(0, 2000)}`);
  const cells: Record<string, string> = {};
  for (const m of dom.matchAll(/data-k="([^"]+)"[^>]*>([^<]*)</g)) cells[m[1]!] = m[2]!;
  const listeners: Record<string, string> = {};
  for (const m of dom.matchAll(/<tr data-listener="([^"]+)"><th>[^<]*<\/th><td>([^<]*)<\/td><\/tr>/g)) listeners[m[1]!] = m[2]!;
  return { cells, listeners };
}

const num = (x: number | null) => (x === null ? "–" : x.toLocaleString("en-US"));

let work: ReturnType<typeof tempDir>;
let profile: ReturnType<typeof tempDir>;
let chainDir: string;
let tipHeight: number;
let app: AppProcess | undefined;

beforeAll(() => {
  work = tempDir();
  profile = tempDir("electrs-bun-chromium-");
  chainDir = join(work.path, "chain");
  tipHeight = generateChain({ out: chainDir, txs: 20_000, seed: 5, blockTxs: 400, swapRate: 0, pad: false }).tipHeight;
});

afterAll(async () => {
  app?.kill("SIGKILL");
  await app?.exited;
  work?.[Symbol.dispose]();
  profile?.[Symbol.dispose]();
});

describe("the running server's status page", () => {
  test("during the initial sync and afterwards: the JSON, the page in Chromium, and the metrics beside them", async () => {
    app = spawnApp(
      ["--offline", "--network", "regtest", "--blocks-dir", chainDir, "--db-dir", join(work.path, "db"), "--monitoring-addr", "127.0.0.1:0", "--initial-sync-batch-size", "2"],
      { ELECTRS_BUN_TEST_HOLD_SYNC: "1" },
    );
    const base = (await metricsUrl(app)).replace(/\/metrics$/, "");
    const json = async () => (await (await fetch(`${base}/status.json`)).json()) as StatusJson;

    // Held after the first batch of two blocks (heights 0 and 1).
    let s = await json();
    for (let i = 0; i < 400 && s.index.height !== 1; i++) {
      await Bun.sleep(25);
      s = await json();
    }
    expect(s).toMatchObject({ name: "electrs-bun", network: "regtest", phase: "initial sync", index: { height: 1, node_height: tipHeight, behind_blocks: tipHeight - 1 } });
    expect(s.index.progress).toBeGreaterThan(0);
    expect(s.index.progress).toBeLessThan(0.1);
    // The estimate needs a second of samples (the first one, at start, saw progress 0).
    for (let i = 0; i < 200 && s.index.eta_s === null; i++) {
      await Bun.sleep(25);
      s = await json();
    }
    expect(s.index.eta_s).toBeGreaterThan(0);
    const during = renderedPage(`${base}/status`);
    expect(during.cells).toMatchObject({
      phase: "initial sync",
      network: "regtest",
      "index.height": "1",
      "index.node_height": num(tipHeight),
      "index.behind_blocks": num(tipHeight - 1),
      "index.progress": `${(s.index.progress * 100).toFixed(1)} %`,
    });
    // From the progress over the sampled window (held now, so it grows; the exact figure moves with time).
    expect(during.cells["index.eta"]).toMatch(/^(\d+ h \d+ min|\d+ min \d+ s|\d+ s)$/);
    expect(during.listeners).toEqual({ monitoring: base.replace("http://", "") });

    // Released: the sync completes, the servers start.
    app.kill("SIGUSR2");
    await app.waitFor(/startup complete/, T);
    s = await json();
    expect(s).toMatchObject({ phase: "serving", index: { height: tipHeight, node_height: tipHeight, behind_blocks: 0, progress: 1, eta_s: null } });
    expect(Object.keys(s.listeners).sort()).toEqual(["electrum_tcp", "http", "monitoring"]);
    // A REST request shows in the counts.
    const restUrl = `http://${s.listeners["http"]}`;
    expect(await (await fetch(`${restUrl}/blocks/tip/height`)).text()).toBe(String(tipHeight));
    s = await json();
    expect(s.rest.requests_total).toBe(1);
    const after = renderedPage(`${base}/status`);
    expect(after.cells).toMatchObject({
      phase: "serving",
      "index.height": num(tipHeight),
      "index.behind_blocks": "0",
      "index.progress": "100.0 %",
      "index.eta": "–",
      "electrum.clients": "0",
      "mempool.txs": num(s.mempool.txs),
    });
    expect(after.cells["rest.requests"]).toStartWith("1 total");
    expect(after.listeners).toEqual(s.listeners);

    // Every other path is still the exposition, and it has the node's height too.
    for (const path of ["/metrics", "/", "/status/x"]) {
      const text = await (await fetch(`${base}${path}`)).text();
      expect(text).toContain(`electrs_bun_node_height ${tipHeight}`);
    }
    app.kill("SIGTERM");
    expect(await app.exited).toBe(0);
  }, T);
});
