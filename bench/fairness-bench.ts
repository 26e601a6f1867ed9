/**
 * Big histories never stall the others: while client A pulls a big script's history (and its
 * listunspent and subscribe) over and over, client B sends server.ping and get_balance one at a
 * time; B's latencies are what this prints (p50, p99, worst), next to A's answer times. A runs in
 * a process of its own (bench/lib/fairness-puller.ts), so that reading its big answers never
 * delays B's measurements.
 *
 *   bun bench/fairness-bench.ts [--chain bench/data/chain-2m] [--db bench/data/db-2m]
 *                               [--role popular-1] [--seconds 20] [--entry src/main.ts]
 *
 * The chain and its index come from `bun bench/index-bench.ts --sizes 2m --keep-db`. The big
 * script is the chain's popular script of --role (meta.json; popular-1 has ~90k outputs). The
 * server runs with limits that let that script be answered (--electrum-txs-limit 0,
 * --utxos-limit 1000000, --electrum-max-response-bytes 40000000). --entry runs another checkout.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ElectrumConn } from "./lib/electrum-conn.ts";
import { startOfflineServer } from "./lib/offline-server.ts";

const ROOT = join(import.meta.dir, "..");
function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] ? process.argv[i + 1]! : def;
}
const chain = arg("chain", join(ROOT, "bench", "data", "chain-2m"));
const db = arg("db", join(ROOT, "bench", "data", "db-2m"));
const role = arg("role", "popular-1");
const seconds = Number(arg("seconds", "20"));
const entry = arg("entry", join(ROOT, "src", "main.ts"));

const meta = JSON.parse(readFileSync(join(chain, "meta.json"), "utf8")) as { popularScripts: { role: string; electrumScripthashHex: string }[] };
const big = meta.popularScripts.find((p) => p.role === role)?.electrumScripthashHex;
if (!big) throw new Error(`no popular script ${role} in ${chain}/meta.json`);
// B's script: one with no history (get_balance still reads its stats rows).
const small = "00".repeat(31) + "01";

const { server, electrumPort, stop } = await startOfflineServer({
  name: "fairness-bench",
  entry,
  chain,
  db,
  extra: ["--electrum-txs-limit", "0", "--utxos-limit", "1000000", "--electrum-max-response-bytes", "40000000"],
});
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))]!;
try {
  await server.waitFor(/startup complete/, 120_000);
  const a = await ElectrumConn.open({ host: "127.0.0.1", port: electrumPort });
  const b = await ElectrumConn.open({ host: "127.0.0.1", port: electrumPort });
  const first = performance.now();
  const entries = ((await a.call<unknown[]>("blockchain.scripthash.get_history", [big])) as unknown[]).length;
  console.log(`big script ${role}: ${entries} history entries, first answer ${(performance.now() - first).toFixed(0)} ms`);
  a.close();
  const deadline = performance.now() + seconds * 1000;
  // A in a process of its own (bench/lib/fairness-puller.ts): parsing its 10 MB answers here would
  // hold this loop, and B's times would measure the bench, not the server.
  const puller = Bun.spawn([process.execPath, join(ROOT, "bench", "lib", "fairness-puller.ts"), String(electrumPort), big, String(seconds)], {
    stdout: "pipe",
    stderr: "inherit",
  });
  const pull = new Response(puller.stdout).text().then((out) => JSON.parse(out.trim().split("\n").pop()!) as Record<string, number[]>);
  const bTimes: Record<string, number[]> = { "server.ping": [], "blockchain.scripthash.get_balance": [] };
  while (performance.now() < deadline) {
    for (const method of Object.keys(bTimes)) {
      const t = performance.now();
      await b.call(method, method === "server.ping" ? [] : [small]);
      bTimes[method]!.push(performance.now() - t);
    }
    await Bun.sleep(2);
  }
  const aTimes = await pull;
  if ((await puller.exited) !== 0) throw new Error("client A (fairness-puller.ts) failed");
  for (const [m, xs] of Object.entries(aTimes)) {
    if (xs.length) console.log(`A ${m.padEnd(12)} n=${xs.length} p50 ${pct(xs, 50).toFixed(0)} ms, worst ${Math.max(...xs).toFixed(0)} ms`);
  }
  for (const [m, xs] of Object.entries(bTimes)) {
    console.log(`B ${m.padEnd(34)} n=${xs.length} p50 ${pct(xs, 50).toFixed(2)} ms, p99 ${pct(xs, 99).toFixed(2)} ms, worst ${Math.max(...xs).toFixed(1)} ms`);
  }
  b.close();
} finally {
  await stop();
}
