/**
 * The 300-entry `POST /addresses/txs/summary` (MP's multi-address summary, up to 5,000 txs): what
 * one answer costs, and what another client's `/blocks/tip/height` sees meanwhile (#12 point 2:
 * at most 100 ms for the summary, 50 ms p99 and 250 ms worst for the other client).
 *
 *   bun bench/summary-bench.ts [--chain bench/data/chain-2m] [--db bench/data/db-2m]
 *                              [--posts 20] [--entry src/main.ts]
 *
 * Bodies, from the chain (meta.json and the REST bench's sample of its blocks):
 *   - popular: the chain's 16 popular scripts and 284 ordinary addresses (the newest 5,000 of a
 *     union dominated by a few big histories);
 *   - ordinary: 300 ordinary addresses (every row of every history is read: no early stop).
 */
import { readFileSync } from "node:fs";
import { basename, join } from "node:path";
import { addressOf } from "../src/bitcoin/address.ts";
import { hexToBytes } from "../src/bitcoin/bytes.ts";
import { NETWORKS } from "../src/bitcoin/network.ts";
import { numberArg, parseArgs, stringArg } from "./lib/args.ts";
import { DEFAULT_SAMPLE, loadOrBuildSample } from "./lib/chain-sample.ts";
import { startOfflineServer } from "./lib/offline-server.ts";

const ROOT = join(import.meta.dir, "..");
const args = parseArgs(process.argv.slice(2), []);
const chain = stringArg(args, "chain") ?? join(ROOT, "bench", "data", "chain-2m");
const db = stringArg(args, "db") ?? join(ROOT, "bench", "data", "db-2m");
const posts = numberArg(args, "posts", 20, "positive integer");
const entry = stringArg(args, "entry") ?? join(ROOT, "src", "main.ts");

const meta = JSON.parse(readFileSync(join(chain, "meta.json"), "utf8")) as { tipHashHex: string; popularScripts: { scriptHex: string }[] };
const popularHex = meta.popularScripts.map((p) => p.scriptHex);
const sample = loadOrBuildSample(chain, join(ROOT, "bench", "data", `rest-sample-${basename(chain)}.json`), meta.tipHashHex, popularHex, DEFAULT_SAMPLE);
const toAddress = (hex: string) => addressOf(hexToBytes(hex), NETWORKS.regtest);
const ordinary = [...new Set(sample.candidateScripts.map(toAddress).filter((a): a is string => a !== null))];
const popular = popularHex.map(toAddress).filter((a): a is string => a !== null);
if (ordinary.length < 300) throw new Error(`only ${ordinary.length} ordinary addresses in the sample`);
const bodies: Record<string, string[]> = {
  popular: [...popular, ...ordinary.slice(0, 300 - popular.length)],
  ordinary: ordinary.slice(0, 300),
};

const { server, httpPort, stop } = await startOfflineServer({ name: "summary-bench", entry, chain, db });
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))]!;
const base = `http://127.0.0.1:${httpPort}`;
try {
  await server.waitFor(/startup complete/, 120_000);
  for (const [name, body] of Object.entries(bodies)) {
    const post = async () => {
      const r = await fetch(`${base}/addresses/txs/summary`, { method: "POST", body: JSON.stringify(body), headers: { "content-type": "application/json" } });
      if (r.status !== 200) throw new Error(`summary answered ${r.status}: ${await r.text()}`);
      return ((await r.json()) as unknown[]).length;
    };
    const entries = await post(); // warm the page cache
    const alone: number[] = [];
    for (let i = 0; i < posts; i++) {
      const t = performance.now();
      await post();
      alone.push(performance.now() - t);
    }
    // The same posts back to back while another client asks the tip height one request at a time.
    let posting = true;
    const poster = (async () => {
      try {
        for (let i = 0; i < posts; i++) await post();
      } finally {
        posting = false;
      }
    })();
    const other: number[] = [];
    while (posting) {
      const t = performance.now();
      await (await fetch(`${base}/blocks/tip/height`)).text();
      other.push(performance.now() - t);
    }
    await poster;
    console.log(
      `${name.padEnd(8)} 300 addresses → ${entries} entries: summary p50 ${pct(alone, 50).toFixed(1)} ms, worst ${Math.max(...alone).toFixed(1)} ms; ` +
        `meanwhile /blocks/tip/height n=${other.length} p50 ${pct(other, 50).toFixed(2)} ms, p99 ${pct(other, 99).toFixed(2)} ms, worst ${Math.max(...other).toFixed(1)} ms`,
    );
  }
} finally {
  await stop();
}
