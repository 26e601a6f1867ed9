/**
 * Blockstream's Esplora web front-end (test/fixtures/esplora-ui, built for regtest) against our REST
 * API, rendered by a real headless Chromium (Debian's): the dashboard, a confirmed tx, a mempool tx,
 * an address and a block, each checked against Bitcoin Core's own figures for the regtest-core30
 * chain. The site is served under /regtest/ as the build expects, and /regtest/api/* goes to our
 * REST server; every API call the pages make must succeed (but /block-template, which electrs
 * answers 403 without --enable-mining-rest, as we do).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { buildTx, expected, openFixture, startServer, type Fixture, type ServerUnderTest } from "../unit/rest/harness.ts";
import { tempDir } from "../helpers/tmp.ts";

const CHROMIUM = "/usr/bin/chromium";
const RENDER_TIMEOUT_MS = 45_000;
const T = 60_000;
const UI_DIR = join(import.meta.dir, "..", "fixtures", "esplora-ui");
const UI_FILES = new Set(["index.html", "app.js", "style.css"]);

let fx: Fixture;
let rest: ServerUnderTest;
let site: ReturnType<typeof Bun.serve>;
let profile: ReturnType<typeof tempDir>;
/** Every API call the pages made: status, method and path. */
const apiCalls: { status: number; path: string }[] = [];

/**
 * `raw` (one input, legacy serialization) with a witness for its input: the app reads a P2WPKH
 * spend's witness (its segwit savings), as every real one has. The txid does not change.
 */
function withWitness(raw: Uint8Array, items: readonly Uint8Array[]): Uint8Array {
  const witness = [items.length, ...items.flatMap((w) => [w.length, ...w])];
  return Uint8Array.from([...raw.subarray(0, 4), 0x00, 0x01, ...raw.subarray(4, raw.length - 4), ...witness, ...raw.subarray(raw.length - 4)]);
}

/** A mempool tx spending one of the popular P2WPKH script's outputs back to it. */
const popular = expected.scripts[0]!;
const legacy = buildTx({
  inputs: [{ txidHex: popular.utxos[0]!.txid, vout: popular.utxos[0]!.vout }],
  outputs: [{ scriptHex: popular.script, value: popular.utxos[0]!.value - 1410 }],
});
const pending = { txidHex: legacy.txidHex, raw: withWitness(legacy.raw, [new Uint8Array(71).fill(0x30), new Uint8Array(33).fill(0x02)]) };

beforeAll(async () => {
  fx = await openFixture();
  fx.node.add(pending.raw, pending.txidHex);
  await fx.mempool.update();
  rest = startServer(fx);
  profile = tempDir("electrs-bun-chromium-");
  site = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(req) {
      const url = new URL(req.url);
      if (url.pathname.startsWith("/regtest/api/")) {
        const path = url.pathname.slice("/regtest/api".length) + url.search;
        const r = await rest.get(path, { method: req.method, ...(req.method === "POST" ? { body: await req.text() } : {}) });
        apiCalls.push({ status: r.status, path });
        return new Response(r.body, { status: r.status, headers: r.headers });
      }
      const file = url.pathname.slice("/regtest/".length);
      // The app routes every other path itself (history API): it gets the page.
      if (!url.pathname.startsWith("/regtest/")) return new Response("not found", { status: 404 });
      if (UI_FILES.has(file)) return new Response(Bun.file(join(UI_DIR, file)));
      if (/\.(png|svg|gif|ttf|woff2?|js|css)$/.test(file)) return new Response("not kept", { status: 404 }); // fonts and images: left out
      return new Response(Bun.file(join(UI_DIR, "index.html")), { headers: { "content-type": "text/html" } });
    },
  });
});

afterAll(async () => {
  await site?.stop(true);
  await rest?.server.stop();
  fx?.close();
  profile?.[Symbol.dispose]();
});

/**
 * The text of the page's <main> once Chromium has run the app (virtual time: its API calls are
 * answered and the page rendered before the DOM is dumped), one entry per text node. Chromium runs
 * beside this process's event loop, which serves the site and the API meanwhile.
 */
async function renderedText(path: string): Promise<string[]> {
  const proc = Bun.spawn(
    [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-dev-shm-usage", `--user-data-dir=${profile.path}`, "--virtual-time-budget=10000", "--enable-logging=stderr", "--v=0", "--dump-dom", `${site.url.origin}/regtest/${path}`],
    { stdout: "pipe", stderr: "pipe", timeout: RENDER_TIMEOUT_MS },
  );
  const [dom, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  // The app's own errors (console messages, with --enable-logging), for the failure message.
  const appErrors = err.split("\n").filter((line) => /:CONSOLE|Uncaught/.test(line));
  const main = /<main[\s\S]*<\/main>/.exec(dom.replace(/<svg[\s\S]*?<\/svg>/g, ""))?.[0];
  if (!main) throw new Error(`no <main> rendered for ${path} (exit ${code}): ${appErrors.join("\n") || err.slice(-1500)}\n${dom.slice(0, 1500)}`);
  if (appErrors.length > 0) throw new Error(`the app failed on ${path}:\n${appErrors.join("\n")}`);
  return main
    .split(/<[^>]+>/)
    .map((t) => t.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&").trim())
    .filter((t) => t.length > 0);
}

/** Esplora's amount text: 8 decimals and the regtest unit. */
const btc = (sat: number) => `${(sat / 1e8).toFixed(8)} rBTC`;
/** The text right after `label` on the page. */
const after = (text: string[], label: string) => text[text.indexOf(label) + 1];

/** A confirmed tx with a fee and two outputs with addresses. */
const paidTxid = Object.keys(expected.txs).find((id) => expected.txs[id]!.fee_sat && expected.txs[id]!.height < 120)!;

describe("Esplora's front-end on our REST API, in Chromium", () => {
  test("a confirmed tx: id, confirmations, size, fee and rate, each output's address and value, its block", async () => {
    const exp = expected.txs[paidTxid]!;
    const json = (await (await rest.get(`/tx/${paidTxid}`)).json()) as { vout: { scriptpubkey_address?: string; value: number }[] };
    const text = await renderedText(`tx/${paidTxid}`);
    expect(text).toContain(paidTxid);
    expect(text).toContain(`${expected.tip.height - exp.height + 1} Confirmations`);
    expect(after(text, "SIZE")).toBe(`${exp.size} B`);
    expect(after(text, "VIRTUAL SIZE")).toBe(`${exp.vsize} vB`);
    expect(after(text, "WEIGHT UNITS")).toBe(`${exp.weight} WU`);
    expect(after(text, "TRANSACTION FEES")).toBe(btc(exp.fee_sat!));
    expect(text).toContain(`(${(exp.fee_sat! / (exp.weight / 4)).toFixed(2)} sat/vB)`);
    for (const o of json.vout) {
      expect(text).toContain(btc(o.value));
      if (o.scriptpubkey_address) expect(text).toContain(o.scriptpubkey_address);
    }
    expect(text).toContain(`#${exp.height}`);
  }, T);

  test("a mempool tx: unconfirmed, with its fee", async () => {
    const text = await renderedText(`tx/${pending.txidHex}`);
    expect(text).toContain(pending.txidHex);
    expect(text.some((t) => /unconfirmed/i.test(t))).toBe(true);
    expect(after(text, "TRANSACTION FEES")).toBe(btc(1410));
  }, T);

  test("an address: its counts and sums (Core's), then its newest tx first", async () => {
    const text = await renderedText(`address/${popular.address}`);
    const st = popular.stats;
    expect(text).toContain(popular.address!);
    expect(after(text, "Confirmed tx count")).toBe(String(st.tx_count));
    expect(after(text, "Confirmed received")).toBe(`${btc(st.funded_txo_sum)} (${st.funded_txo_count} outputs)`);
    expect(after(text, "Confirmed spent")).toBe(`${btc(st.spent_txo_sum)} (${st.spent_txo_count} outputs)`);
    expect(after(text, "Confirmed unspent")).toBe(`${btc(popular.balance)} (${st.funded_txo_count - st.spent_txo_count} outputs)`);
    expect(after(text, "Unconfirmed tx count")).toBe("1");
    // The mempool tx comes first, then the confirmed history newest first.
    const newest = [...popular.history].sort((a, b) => b.height - a.height || b.pos - a.pos)[0]!;
    const first = text.indexOf(pending.txidHex);
    expect(first).toBeGreaterThan(0);
    expect(text.indexOf(newest.txid)).toBeGreaterThan(first);
  }, T);

  test("a block: height, tx count, its first txs in block order", async () => {
    const block = expected.blocks.find((b) => b.nTx >= 5)!;
    const text = await renderedText(`block/${block.hash}`);
    expect(text).toContain(`#${block.height}`);
    expect(after(text, "Transactions")).toBe(String(block.nTx));
    const at = block.txids.slice(0, 5).map((id) => text.indexOf(id));
    expect(at.every((i) => i > 0)).toBe(true);
    expect([...at].sort((a, b) => a - b)).toEqual(at);
    expect(text).toContain(`1 of ${block.nTx} Transactions`);
  }, T);

  test("the dashboard lists the latest blocks; every API call the pages made succeeded", async () => {
    const text = await renderedText("");
    for (let h = expected.tip.height; h > expected.tip.height - 5; h--) expect(text).toContain(`#${h}`);
    expect(apiCalls.length).toBeGreaterThan(10);
    const failed = apiCalls.filter((c) => c.status !== 200 && !(c.path.startsWith("/block-template") && c.status === 403));
    expect(failed).toEqual([]);
  }, T);
});
