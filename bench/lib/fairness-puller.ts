/**
 * Client A of bench/fairness-bench.ts, in a process of its own: it pulls a big script's history,
 * UTXOs and subscription over and over until a deadline and prints its answer times as one JSON
 * line. Apart from client B so that reading (and parsing) its multi-MB answers never delays B's
 * measurements: in one process, parsing a 10 MB answer held B's timing loop ~20-30 ms.
 *
 *   bun bench/lib/fairness-puller.ts PORT SCRIPTHASH SECONDS
 */
import { ElectrumConn } from "./electrum-conn.ts";

const [port, big, seconds] = [Number(process.argv[2]), process.argv[3]!, Number(process.argv[4])];
const a = await ElectrumConn.open({ host: "127.0.0.1", port });
const times: Record<string, number[]> = { get_history: [], listunspent: [], subscribe: [] };
const methods = ["get_history", "listunspent", "subscribe"] as const;
const deadline = performance.now() + seconds * 1000;
for (let i = 0; performance.now() < deadline; i++) {
  const m = methods[i % methods.length]!;
  const t = performance.now();
  await a.call(`blockchain.scripthash.${m}`, [big]);
  if (m === "subscribe") await a.call("blockchain.scripthash.unsubscribe", [big]);
  times[m]!.push(performance.now() - t);
}
a.close();
console.log(JSON.stringify(times));
