/**
 * electrs' Electrum RPC logging: `--electrum-rpc-logging full|no-params` (BS), or BS-new's
 * `--enable-json-rpc-logging` with `--hide-json-rpc-logging-parameters` and
 * `--anonymize-json-rpc-logging-source-ip`. One JSON object per line on stdout (the server's own
 * log goes to stderr) for each connection opened and closed, each request and each answer, every
 * one naming its client as `"source": {"ip", "port"}` (port null over WebSocket, where Bun does not
 * give it):
 *
 *   {"event":"connection established","source":{…}}
 *   {"event":"rpc request","id":1,"method":"blockchain.scripthash.get_balance","params":["…"],"source":{…}}
 *   {"event":"rpc response","id":1,"method":"…","payload_size":62,"duration_micros":180,"source":{…}}
 *   {"event":"connection closed","source":{…}}
 *
 * With the parameters hidden, "params" is null. An anonymized source IP is the hex SHA-256 of a
 * random 32-byte salt followed by the IP's text; the salt is drawn again every 24 h (env
 * SALT_ROTATION_INTERVAL_SECS, as electrs), so one client can be followed for a day, not longer.
 */

import type { RpcLogSettings } from "../config.ts";

/** A client as the log names it (electrum/subscriptions.ts Session). */
export interface RpcLogSource {
  readonly remote: string;
  readonly remotePort: number | null;
}

/**
 * Lines to stdout. A server must outlive its log reader: a pipe whose reader went away (EPIPE)
 * loses the lines, never the server (as the log on stderr, log.ts).
 */
function stdoutLines(): (line: string) => void {
  process.stdout.on("error", () => {});
  return (line) => void process.stdout.write(line);
}

export class RpcLog {
  private salt = new Uint8Array(0);
  private saltAt = -Infinity;
  /** The last IP anonymized and its text, with the salt it was made with (a client's lines come together). */
  private lastIp: { ip: string; salt: Uint8Array; text: string } | null = null;

  constructor(
    private readonly settings: RpcLogSettings,
    private readonly write: (line: string) => void = stdoutLines(),
    private readonly now: () => number = () => performance.now(),
  ) {}

  connection(source: RpcLogSource, opened: boolean): void {
    this.emit(`{"event":"${opened ? "connection established" : "connection closed"}",`, source);
  }

  request(source: RpcLogSource, id: unknown, method: string, params: unknown): void {
    const shown = this.settings.params ? JSON.stringify(params ?? null) : "null";
    this.emit(`{"event":"rpc request","id":${JSON.stringify(id ?? null)},"method":${JSON.stringify(method)},"params":${shown},`, source);
  }

  response(source: RpcLogSource, id: unknown, method: string, payloadBytes: number, durationMicros: number): void {
    this.emit(
      `{"event":"rpc response","id":${JSON.stringify(id ?? null)},"method":${JSON.stringify(method)},"payload_size":${payloadBytes},"duration_micros":${Math.round(durationMicros)},`,
      source,
    );
  }

  private emit(head: string, source: RpcLogSource): void {
    this.write(`${head}"source":{"ip":${JSON.stringify(this.ipText(source.remote))},"port":${source.remotePort ?? "null"}}}\n`);
  }

  private ipText(ip: string): string {
    if (!this.settings.anonymizeIp) return ip;
    const now = this.now();
    if (now - this.saltAt >= this.settings.saltRotationMs) {
      this.salt = crypto.getRandomValues(new Uint8Array(32));
      this.saltAt = now;
    }
    const last = this.lastIp;
    if (last !== null && last.ip === ip && last.salt === this.salt) return last.text;
    const hasher = new Bun.CryptoHasher("sha256");
    hasher.update(this.salt);
    hasher.update(ip);
    const text = hasher.digest("hex");
    this.lastIp = { ip, salt: this.salt, text };
    return text;
  }
}
