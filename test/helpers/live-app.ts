/** The server process following a live bcoin node, as the live tests start and stop it. */
import { join } from "node:path";
import type { AppProcess } from "./app-process.ts";
import type { BcoinNode } from "./bcoin-node.ts";

/** Flags for the server on `node`: RPC with fixed credentials, blocks over RPC, every listener on a free loopback port, a 100 ms main loop. */
export function liveAppArgs(node: BcoinNode, dir: string, extra: string[] = []): string[] {
  return [
    "--network", "regtest", "--db-dir", join(dir, "db"),
    "--daemon-rpc-addr", node.rpcUrl.replace("http://", ""), "--cookie", `x:${node.apiKey}`, "--jsonrpc-import",
    "--http-addr", "127.0.0.1:0", "--monitoring-addr", "127.0.0.1:0", "--electrum-rpc-addr", "127.0.0.1:0",
    "--main-loop-delay", "100",
    ...extra,
  ];
}

/**
 * Prints the server's own account of what went wrong (its warnings and errors, and its last lines
 * if it exited early), then stops it: SIGTERM, SIGKILL if it is still there after 8 s.
 */
export async function stopLiveApp(app: AppProcess | undefined, exitCode: number | null): Promise<void> {
  if (!app) return;
  const errors = app.lines.filter((l) => /\b(ERROR|WARN)\b|panic|Unhandled|TypeError/.test(l));
  if (errors.length) console.error(`server log, errors and warnings (last 30):\n${errors.slice(-30).join("\n")}`);
  if (exitCode !== null) console.error(`the server exited with ${exitCode}; its last lines:\n${app.lines.slice(-30).join("\n")}`);
  app.kill("SIGTERM");
  if ((await Promise.race([app.exited, Bun.sleep(8_000).then(() => null)])) === null) {
    app.kill("SIGKILL");
    await app.exited;
  }
}
