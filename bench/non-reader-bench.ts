/**
 * Careless clients at scale (#12 point 3): N clients connect, subscribe, pipeline 1 or 3 MB of
 * `blockchain.block.headers [0, 2016]` requests (22 kB answers on the fixture's 138 blocks) and
 * never read. Prints the server's RSS before and at peak (VmRSS sampled every 5 ms, and VmHWM
 * since the clients came), how long until the server has dropped them all, and meanwhile another client's latency (p50, p99, worst) for
 * `server.ping` and a 10-tx script's `get_balance`, and REST `/blocks/tip/height`'s (#12 point 2's
 * limits: 250 ms at worst, 50 ms at p99).
 *
 *   bun bench/non-reader-bench.ts [--clients 200] [--distinct] [--entry src/main.ts] [--extra "--flag value …"]
 *
 * --distinct: each request asks from another start height (0 … 127, so answers of 10 to 138
 * headers), which the server's shared cache of header answers (16 entries) mostly misses: every
 * answer is read and encoded, as for requests that cannot be shared.
 *
 * BENCH_VERBOSE=1 also prints the peak RSS of each second, the answers over 100 ms and when, and
 * VmHWM jumps between two 5 ms samples; BENCH_BUN_FLAGS passes runtime flags to the server.
 *
 * The server indexes the regtest fixture (test/fixtures/regtest-core30) offline in a temp dir.
 */
import { readFileSync, writeFileSync } from "node:fs";
import net from "node:net";
import { join } from "node:path";
import { numberArg, parseArgs, stringArg } from "./lib/args.ts";
import { startOfflineServer } from "./lib/offline-server.ts";

const ROOT = join(import.meta.dir, "..");
const args = parseArgs(process.argv.slice(2), ["distinct"]);
const distinct = args.get("distinct") === true;
// The non-readers run in a child process (`--child PORT`), so that writing their bursts does not
// hold up this process's event loop, which times the other client.
if (stringArg(args, "child") !== undefined) await runNonReaders(Number(stringArg(args, "child")), numberArg(args, "clients", 200, "positive integer"));
const n = numberArg(args, "clients", 200, "positive integer");
const entry = stringArg(args, "entry") ?? join(ROOT, "src", "main.ts");
const extra = stringArg(args, "extra")?.split(" ").filter(Boolean) ?? [];
const blocks = join(ROOT, "test", "fixtures", "regtest-core30", "blocks");
const expected = JSON.parse(readFileSync(join(ROOT, "test", "fixtures", "regtest-core30", "expected.json"), "utf8")) as { scripts: { electrum_scripthash: string; history: unknown[] }[] };
/** A script with about 10 txs, for get_balance. */
const TEN_TX_SCRIPT = [...expected.scripts].sort((a, b) => Math.abs(a.history.length - 10) - Math.abs(b.history.length - 10))[0]!.electrum_scripthash;

const statusKiB = (pid: number, field: string) => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1]);
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))]!;

function burst(bytes: number): string {
  const parts: string[] = [];
  let size = 0;
  for (let id = 1; size < bytes; id++) {
    const r = JSON.stringify({ jsonrpc: "2.0", id, method: "blockchain.block.headers", params: [distinct ? id % 128 : 0, 2016] }) + "\n";
    parts.push(r);
    size += r.length;
  }
  return parts.join("");
}

function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: "127.0.0.1", port });
    sock.on("error", () => {});
    sock.pause();
    sock.once("connect", () => resolve(sock));
    sock.once("error", reject);
  });
}

async function metric(url: string, name: string): Promise<number> {
  const text = await (await fetch(url)).text();
  const line = text.split("\n").find((l) => l.startsWith(name + " "));
  if (!line) throw new Error(`no metric ${name}`);
  return Number(line.slice(line.lastIndexOf(" ") + 1));
}

const { server, electrumPort, httpPort, monitoringPort, stop } = await startOfflineServer({
  name: "non-reader-bench",
  entry,
  chain: blocks,
  db: null,
  extra: ["--electrum-max-clients-per-ip", String(n + 10), ...extra],
});
const metrics = `http://127.0.0.1:${monitoringPort}/metrics`;
try {
  await server.waitFor(/startup complete/, 120_000);
  const pid = server.proc.pid;
  const other = await connect(electrumPort);
  other.resume();
  let buf = "";
  let waiting: (() => void) | null = null;
  other.on("data", (b: Buffer) => {
    buf += b.toString();
    if (buf.includes("\n")) {
      buf = buf.slice(buf.lastIndexOf("\n") + 1);
      waiting?.();
    }
  });
  const call = (method: string, params: unknown[]) =>
    new Promise<void>((resolve) => {
      waiting = resolve;
      other.write(JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }) + "\n");
    });
  const ping = () => call("server.ping", []);
  const balance = () => call("blockchain.scripthash.get_balance", [TEN_TX_SCRIPT]);
  const tipHeight = async () => {
    const res = await fetch(`http://127.0.0.1:${httpPort}/blocks/tip/height`);
    if (res.status !== 200) throw new Error(`/blocks/tip/height answered ${res.status}`);
    await res.text();
  };
  await ping();
  await balance();
  await tipHeight();
  await Bun.sleep(1000);
  const baseRss = statusKiB(pid, "VmRSS") / 1024;
  // The peak so far is the initial sync's (its UTXO table, --db-cache-mb, is sometimes touched
  // whole even on the fixture: VmHWM ~840 MiB); it is reset so that VmHWM is the clients' alone.
  const syncHwm = statusKiB(pid, "VmHWM") / 1024;
  writeFileSync(`/proc/${pid}/clear_refs`, "5");
  const child = Bun.spawn([process.execPath, import.meta.path, "--child", String(electrumPort), "--clients", String(n), ...(distinct ? ["--distinct"] : [])], { stdout: "pipe", stderr: "inherit" });
  const childOut = child.stdout.getReader();
  const firstLine = async () => new TextDecoder().decode((await childOut.read()).value);
  if (!(await firstLine()).startsWith("connected")) throw new Error("the non-reader process did not connect");
  await until(() => metric(metrics, "electrum_clients"), (v) => v >= n + 1);
  let peakRss = baseRss;
  const series: number[] = [];
  const t0 = performance.now();
  const jumps: string[] = [];
  let lastHwm = statusKiB(pid, "VmHWM") / 1024;
  const watch = setInterval(() => {
    peakRss = Math.max(peakRss, statusKiB(pid, "VmRSS") / 1024);
    const hwm = statusKiB(pid, "VmHWM") / 1024;
    if (hwm - lastHwm > 50) jumps.push(`${((performance.now() - t0) / 1000).toFixed(2)} s: ${lastHwm.toFixed(0)} → ${hwm.toFixed(0)}`);
    lastHwm = hwm;
    const sec = Math.floor((performance.now() - t0) / 1000);
    series[sec] = Math.max(series[sec] ?? 0, statusKiB(pid, "VmRSS") / 1024);
  }, 5);
  process.kill(child.pid, "SIGUSR2"); // the child writes its bursts
  const probes = { ping, get_balance: balance, "REST tip height": tipHeight };
  const times: Record<keyof typeof probes, number[]> = { ping: [], get_balance: [], "REST tip height": [] };
  const slow: string[] = [];
  let gone = -1;
  for (let round = 1; performance.now() - t0 < 120_000; round++) {
    for (const [name, probe] of Object.entries(probes) as [keyof typeof probes, () => Promise<void>][]) {
      const t = performance.now();
      await probe();
      const ms = performance.now() - t;
      times[name].push(ms);
      if (ms > 100) slow.push(`${((t - t0) / 1000).toFixed(2)} s: ${name} ${ms.toFixed(0)} ms`);
    }
    if (round % 20 === 0 && (await metric(metrics, "electrum_clients")) <= 1) {
      gone = performance.now() - t0;
      break;
    }
    await Bun.sleep(5);
  }
  // The server's memory is watched for 2 s more: dropping the clients is part of what they cost.
  await Bun.sleep(2000);
  clearInterval(watch);
  const hwmBeforeClose = statusKiB(pid, "VmHWM") / 1024;
  if (process.env.BENCH_VERBOSE) console.log(`VmHWM jumps of over 50 MiB within 5 ms: ${jumps.join(", ") || "none"}; answers over 100 ms: ${slow.join(", ") || "none"}; peak RSS per second: ${series.map((x) => x.toFixed(0)).join(" ")}`);
  child.kill("SIGTERM");
  await child.exited;
  other.destroy();
  await Bun.sleep(2000);
  console.log(
    `${n} non-readers: RSS ${baseRss.toFixed(0)} (peak of the sync before: ${syncHwm.toFixed(0)}) → peak ${peakRss.toFixed(0)} MiB (VmHWM ${hwmBeforeClose.toFixed(0)} MiB, ${(statusKiB(pid, "VmHWM") / 1024).toFixed(0)} MiB after the clients closed), ` +
      `after ${(statusKiB(pid, "VmRSS") / 1024).toFixed(0)} MiB; all dropped after ${gone < 0 ? "(not within 120 s)" : `${(gone / 1000).toFixed(1)} s`}; ` +
      `another client's ${Object.entries(times).map(([name, xs]) => `${name} n=${xs.length} p50 ${pct(xs, 50).toFixed(1)} ms, p99 ${pct(xs, 99).toFixed(1)} ms, worst ${Math.max(...xs).toFixed(0)} ms`).join("; ")}`,
  );
} finally {
  await stop();
}

async function until<V>(f: () => Promise<V>, ok: (v: V) => boolean): Promise<void> {
  for (let i = 0; i < 600 && !ok(await f()); i++) await Bun.sleep(50);
}

/** The child: n connections that subscribe, pipeline 3 MB (even) or 1 MB (odd) on SIGUSR2, and never read. */
async function runNonReaders(port: number, count: number): Promise<never> {
  const clients = await Promise.all(Array.from({ length: count }, () => connect(port)));
  const big = burst(3_000_000);
  const small = burst(1_000_000);
  const subscribe = '{"jsonrpc":"2.0","id":"h","method":"blockchain.headers.subscribe","params":[]}\n';
  process.on("SIGUSR2", () => {
    for (const [i, c] of clients.entries()) c.write(subscribe + (i % 2 === 0 ? big : small));
  });
  process.on("SIGTERM", () => {
    for (const c of clients) c.destroy();
    process.exit(0);
  });
  process.stdout.write("connected\n");
  for (;;) await Bun.sleep(60_000);
}
