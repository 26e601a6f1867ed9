/**
 * The messages between the main thread and a serve worker (serve/pool.ts, serve/serve-worker.ts),
 * declared once. Blocking mempool reads go over their own channel (remote-mempool.ts).
 */
import type { Config } from "../config.ts";
import type { ElectrumUpdate } from "../electrum/subscriptions.ts";
import type { TlsFiles } from "../electrum/tls.ts";
import type { RemoteMempoolChannel } from "./remote-mempool.ts";
import type { ListenAddrs } from "./servers.ts";

export interface WorkerInit {
  readonly type: "init";
  /** 1 … N - 1 (the main thread is 0): in the worker's log lines. */
  readonly number: number;
  readonly config: Config;
  /** --cookie: its password is not enumerable in Config (kept out of logs), so not cloned with it. */
  readonly cookie: { readonly user: string; readonly password: string } | null;
  readonly addrs: ListenAddrs;
  readonly tls: TlsFiles | null;
  readonly state: SharedArrayBuffer;
  readonly presence: SharedArrayBuffer;
  /** Shared per-address client and subscription counts (ip-counts.ts). */
  readonly ipCounts: SharedArrayBuffer;
  readonly mempool: RemoteMempoolChannel;
  /** Failure injection for the restart test (ELECTRS_BUN_TEST_CRASH_WORKER=1, first start only): an uncaught error once it listens. */
  readonly crashForTest: boolean;
}

export type ToWorker =
  | WorkerInit
  /** Notify this worker's Electrum subscribers; answered with "notified". */
  | { readonly type: "notify"; readonly id: number; readonly update: ElectrumUpdate }
  /** This worker's registry as prom-client JSON; answered with "metrics". */
  | { readonly type: "metrics"; readonly id: number }
  | { readonly type: "broadcast-done"; readonly id: number; readonly error: string | null }
  | { readonly type: "stop" };

export type FromWorker =
  | { readonly type: "ready" }
  | { readonly type: "failed"; readonly message: string }
  | { readonly type: "notified"; readonly id: number; readonly count: number }
  | { readonly type: "metrics"; readonly id: number; readonly json: unknown[] }
  /** The node accepted these txs (a client of this worker sent them): the main thread adds them to the mempool and notifies. */
  | { readonly type: "broadcast"; readonly id: number; readonly txidHexes: string[] }
  | { readonly type: "stopped" };
