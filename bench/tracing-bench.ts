/**
 * What tracing costs the servers: the same loads against the server with tracing off (the
 * default), with --otlp-tracing exporting to a local OTLP sink, and, when given, a baseline entry
 * (e.g. a checkout of the commit before tracing existed) — rounds alternated so that drifting load
 * from other processes spreads over every mode.
 *
 *   bun bench/tracing-bench.ts [--rounds 3] [--seconds 8] [--baseline-entry /path/to/old/src/main.ts]
 *
 * Loads, each for --seconds after a 1 s warm-up, on the regtest fixture indexed offline:
 *   rest-tip     wrk -t1 -c32 GET /blocks/tip/height
 *   rest-tx      wrk -t1 -c32 GET /tx/:txid (rotating over the fixture's txids)
 *   electrum     50 connections, each keeping 50 blockchain.scripthash.get_balance in flight
 * Prints req/s per mode and round, the medians, and each mode's median against tracing off.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ElectrumConn } from "./lib/electrum-conn.ts";
import { freePort, ServerProcess } from "./lib/server-process.ts";
import { findWrk, runWrk, WRK_INSTALL_HINT } from "./lib/wrk.ts";

const ROOT = join(import.meta.dir, "..");
const FIXTURE = join(ROOT, "test", "fixtures", "regtest-core30");

function arg(name: string, def: string | null): string | null {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] ? process.argv[i + 1]! : def;
}
const rounds = Number(arg("rounds", "3"));
const seconds = Number(arg("seconds", "8"));
const baselineEntry = arg("baseline-entry", null);
const wrk = findWrk();
if (!wrk) {
  console.error(WRK_INSTALL_HINT);
  process.exit(1);
}

interface Expected {
  /** txid → the tx as Core reports it. */
  txs: Record<string, unknown>;
  scripts: { electrum_scripthash: string; history: unknown[] }[];
}
const expected = JSON.parse(readFileSync(join(FIXTURE, "expected.json"), "utf8")) as Expected;
const txPaths = Object.keys(expected.txs).slice(0, 500).map((txid) => `/tx/${txid}`);
const tenTx = [...expected.scripts].sort((a, b) => Math.abs(a.history.length - 10) - Math.abs(b.history.length - 10))[0]!.electrum_scripthash;

// The OTLP sink of the "on" mode: takes every export and counts it (no decoding: that is the collector's cost, not ours).
let exports = 0;
let exportBytes = 0;
const sink = Bun.serve({
  hostname: "127.0.0.1",
  port: 0,
  async fetch(req) {
    exportBytes += (await req.arrayBuffer()).byteLength;
    exports++;
    return new Response(new Uint8Array(0), { headers: { "content-type": "application/x-protobuf" } });
  },
});

interface Mode {
  name: string;
  entry: string;
  flags: string[];
  env: string[];
}
const MODES: Mode[] = [
  ...(baselineEntry ? [{ name: "baseline", entry: baselineEntry, flags: [], env: [] }] : []),
  { name: "off", entry: join(ROOT, "src", "main.ts"), flags: [], env: [] },
  { name: "on", entry: join(ROOT, "src", "main.ts"), flags: ["--otlp-tracing"], env: [`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=http://127.0.0.1:${sink.port}/v1/traces`] },
];
const LOADS = ["rest-tip", "rest-tx", "electrum"] as const;
type Load = (typeof LOADS)[number];

const work = mkdtempSync(join(tmpdir(), "tracing-bench-"));

async function startServer(mode: Mode): Promise<{ server: ServerProcess; http: number; electrum: number }> {
  const [http, electrum, monitoring] = [await freePort(), await freePort(), await freePort()];
  const cmd = [
    "env", ...mode.env, process.execPath, mode.entry, "--offline", "--network", "regtest",
    "--blocks-dir", join(FIXTURE, "blocks"), "--db-dir", join(work, mode.name),
    "--http-addr", `127.0.0.1:${http}`, "--electrum-rpc-addr", `127.0.0.1:${electrum}`, "--monitoring-addr", `127.0.0.1:${monitoring}`,
    ...mode.flags,
  ];
  const server = new ServerProcess(mode.name, cmd);
  await server.waitFor(/startup complete/, 60_000);
  return { server, http, electrum };
}

async function electrumLoad(port: number, durationS: number): Promise<number> {
  const conns = await Promise.all(Array.from({ length: 50 }, () => ElectrumConn.open({ host: "127.0.0.1", port })));
  let done = 0;
  const deadline = performance.now() + durationS * 1000;
  await Promise.all(
    conns.map(async (c) => {
      const lane = async () => {
        while (performance.now() < deadline) {
          await c.call("blockchain.scripthash.get_balance", [tenTx]);
          done++;
        }
      };
      await Promise.all(Array.from({ length: 50 }, lane));
    }),
  );
  for (const c of conns) c.close();
  return done / durationS;
}

async function measure(load: Load, http: number, electrum: number, durationS: number): Promise<number> {
  if (load === "electrum") return electrumLoad(electrum, durationS);
  const paths = load === "rest-tip" ? ["/blocks/tip/height"] : txPaths;
  const r = await runWrk({
    wrk: wrk!, baseUrl: `http://127.0.0.1:${http}`, paths, scriptPath: join(work, `${load}.lua`),
    threads: 1, connections: 32, durationSeconds: durationS, timeoutSeconds: 10,
  });
  return r.reqPerSec;
}

const results = new Map<string, number[]>(); // `${mode}/${load}` → req/s per round
try {
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? MODES : [...MODES].reverse();
    for (const mode of order) {
      const { server, http, electrum } = await startServer(mode);
      try {
        for (const load of LOADS) {
          await measure(load, http, electrum, 1); // warm-up
          const rate = await measure(load, http, electrum, seconds);
          const key = `${mode.name}/${load}`;
          results.set(key, [...(results.get(key) ?? []), rate]);
          console.log(`round ${round + 1} ${mode.name.padEnd(8)} ${load.padEnd(9)} ${Math.round(rate).toLocaleString("en-US")} req/s`);
        }
      } finally {
        server.proc.kill("SIGTERM");
        await server.exited;
      }
    }
  }
} finally {
  sink.stop(true);
  rmSync(work, { recursive: true, force: true });
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
console.log(`\nmedians of ${rounds} rounds (${seconds} s each); OTLP sink got ${exports} exports, ${(exportBytes / 1048576).toFixed(1)} MiB`);
for (const load of LOADS) {
  const off = median(results.get(`off/${load}`)!);
  const parts = MODES.map((m) => {
    const v = median(results.get(`${m.name}/${load}`)!);
    return `${m.name} ${Math.round(v).toLocaleString("en-US")}${m.name === "off" ? "" : ` (${((v / off - 1) * 100).toFixed(1)} % vs off)`}`;
  });
  console.log(`${load.padEnd(9)} ${parts.join(" | ")}`);
}
