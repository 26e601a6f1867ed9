/**
 * The server under test in its own process, offline on a regtest chain's blk files, with free
 * ports: on a copy of a kept index (so that the kept one is never touched), or indexing into an
 * empty directory. BENCH_BUN_FLAGS passes runtime flags to it (e.g. "--cpu-prof-md --cpu-prof-dir=/tmp/p").
 */
import { cpSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, ServerProcess } from "./server-process.ts";

export interface OfflineServer {
  readonly server: ServerProcess;
  readonly electrumPort: number;
  readonly httpPort: number;
  readonly monitoringPort: number;
  /** SIGTERM, wait for the exit, remove the working directory. */
  stop(): Promise<void>;
}

export async function startOfflineServer(opts: {
  /** Names the temp directory (`<name>-…`). */
  name: string;
  /** The script to run (src/main.ts of a checkout). */
  entry: string;
  /** The blk files directory. */
  chain: string;
  /** A kept index to copy, or null to index from scratch. */
  db: string | null;
  extra?: readonly string[];
}): Promise<OfflineServer> {
  const work = mkdtempSync(join(tmpdir(), `${opts.name}-`));
  const dbDir = join(work, "db");
  if (opts.db !== null) cpSync(opts.db, dbDir, { recursive: true });
  const [electrumPort, httpPort, monitoringPort] = [await freePort(), await freePort(), await freePort()];
  const server = new ServerProcess("server", [
    process.execPath, ...(process.env.BENCH_BUN_FLAGS?.split(" ").filter(Boolean) ?? []), opts.entry,
    "--offline", "--network", "regtest", "--blocks-dir", opts.chain, "--db-dir", dbDir,
    "--electrum-rpc-addr", `127.0.0.1:${electrumPort}`, "--http-addr", `127.0.0.1:${httpPort}`, "--monitoring-addr", `127.0.0.1:${monitoringPort}`,
    ...(opts.extra ?? []),
  ]);
  return {
    server,
    electrumPort,
    httpPort,
    monitoringPort,
    async stop() {
      server.proc.kill("SIGTERM");
      await server.exited;
      rmSync(work, { recursive: true, force: true });
    },
  };
}
