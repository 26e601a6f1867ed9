/** electrum/rpc-log.ts: electrs' RPC log lines, the params hidden or not, the source IP anonymized with a rotating salt. */
import { expect, test } from "bun:test";
import { RpcLog } from "../../../src/electrum/rpc-log.ts";

const source = { remote: "192.0.2.7", remotePort: 51234 };

function logWith(settings: { params: boolean; anonymizeIp: boolean; saltRotationMs?: number }, clock = { ms: 0 }) {
  const lines: string[] = [];
  const log = new RpcLog({ saltRotationMs: 1000, ...settings }, (l) => lines.push(l), () => clock.ms);
  return { log, lines, parsed: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

test("one JSON object per line for each event, each naming its client", () => {
  const { log, lines, parsed } = logWith({ params: true, anonymizeIp: false });
  log.connection(source, true);
  log.request(source, 7, "blockchain.scripthash.get_balance", ["ab".repeat(32)]);
  log.response(source, 7, "blockchain.scripthash.get_balance", 62, 180.4);
  log.connection({ remote: "::1", remotePort: null }, false);
  expect(lines.every((l) => l.endsWith("}\n") && l.indexOf("\n") === l.length - 1)).toBe(true);
  const src = { ip: "192.0.2.7", port: 51234 };
  expect(parsed()).toEqual([
    { event: "connection established", source: src },
    { event: "rpc request", id: 7, method: "blockchain.scripthash.get_balance", params: ["ab".repeat(32)], source: src },
    { event: "rpc response", id: 7, method: "blockchain.scripthash.get_balance", payload_size: 62, duration_micros: 180, source: src },
    { event: "connection closed", source: { ip: "::1", port: null } },
  ]);
});

test("no-params: the params are null; ids and methods that need escaping stay valid JSON", () => {
  const { log, parsed } = logWith({ params: false, anonymizeIp: false });
  log.request(source, "a\"b", 'weird"method\n', ["secret"]);
  expect(parsed()[0]).toMatchObject({ id: 'a"b', method: 'weird"method\n', params: null });
});

test("anonymized: SHA-256 of the salt and the IP, the same within a rotation, another after it", () => {
  const clock = { ms: 0 };
  const { log, parsed } = logWith({ params: true, anonymizeIp: true, saltRotationMs: 1000 }, clock);
  log.connection(source, true);
  log.connection(source, false);
  log.connection({ remote: "192.0.2.8", remotePort: 1 }, true);
  clock.ms = 1000;
  log.connection(source, true);
  const ips = parsed().map((e) => (e.source as { ip: string }).ip);
  for (const ip of ips) expect(ip).toMatch(/^[0-9a-f]{64}$/);
  expect(ips[0]).toBe(ips[1]!);
  expect(ips[2]).not.toBe(ips[0]!);
  expect(ips[3]).not.toBe(ips[0]!); // a new salt
  expect(ips).not.toContain("192.0.2.7");
});
