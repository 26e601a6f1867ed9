/**
 * A serve worker (--serve-workers, entry of a Worker started by serve/pool.ts): REST and Electrum
 * on the same ports as the main thread (SO_REUSEPORT: the kernel spreads new connections), over
 * this thread's own connection to the index. What it cannot hold itself it gets from the main
 * thread: the block changes, the writer's commit count and the tip through shared memory
 * (shared-state.ts), the mempool through blocking calls guarded by the presence filter
 * (remote-mempool.ts), the notification rounds, and the broadcasts it forwards. It writes nothing
 * but the stats cache (script_stats), as the main thread's query connection does.
 */
import { NETWORKS } from "../bitcoin/network.ts";
import { formatAddr } from "../config.ts";
import { openBlockReader, readXorKey } from "../daemon/blkfiles.ts";
import { fromCookieFile, fromUserPass } from "../daemon/cookie.ts";
import { DaemonClient } from "../daemon/rpc.ts";
import { electrumNodeOf } from "../electrum/node.ts";
import { createLogger, describeError, type Logger } from "../log.ts";
import { createMetrics } from "../metrics/metrics.ts";
import { restNodeOf } from "../rest/node.ts";
import { openWorkerReadDb } from "../store/db.ts";
import { StoreReader } from "../store/read.ts";
import { NO_TRACING, type Tracing } from "../trace/tracing.ts";
import { existsSync } from "node:fs";
import { sharedCounts } from "./ip-counts.ts";
import { MempoolPresence } from "./mempool-presence.ts";
import type { FromWorker, ToWorker, WorkerInit } from "./messages.ts";
import { RemoteMempoolView } from "./remote-mempool.ts";
import { startServing, type Serving } from "./servers.ts";
import { BlockChangeWatcher, changeGuard, SharedState } from "./shared-state.ts";

declare const self: Worker;

const post = (m: FromWorker) => self.postMessage(m);

let serving: Serving | null = null;
const closers: (() => unknown)[] = [];
const broadcasts = new Map<number, { resolve: () => void; reject: (err: Error) => void }>();
let nextBroadcast = 1;

async function start(init: WorkerInit): Promise<void> {
  const { config } = init;
  const log: Logger = createLogger({ verbosity: config.verbosity, timestamp: config.timestamp, format: config.logFormat }).child(`serve${init.number}`);
  const network = NETWORKS[config.network];
  const state = new SharedState(init.state);
  // Before the reader reads the blocks: a change after this is seen by its first lookup.
  const watcher = new BlockChangeWatcher(state);
  const db = openWorkerReadDb(config.dbPath, () => state.writerCommits());
  closers.push(() => db.close());
  const blkFiles = existsSync(config.blocksDir) ? openBlockReader(config.blocksDir, readXorKey(config.blocksDir), { maxOpenFiles: 8 }) : null;
  if (blkFiles) closers.push(() => blkFiles.close());
  // A block change seen ends the read transaction first: the boundaries are read again, and the
  // reads after them made, on a snapshot at least as new as the change.
  const blockChanges = () => {
    const from = watcher.poll();
    if (from >= 0) db.batch.end();
    return from;
  };
  const reader = new StoreReader(db, blkFiles, { blockBounds: true, skipEmptyLevels: true, blockChanges });
  const readGuard = changeGuard(state, () => db.batch.end());
  const mempool = new RemoteMempoolView(init.mempool, new MempoolPresence(init.presence), state);
  const metrics = createMetrics({ processCollector: false });
  let rpc: DaemonClient | null = null;
  if (!config.offline) {
    rpc = new DaemonClient({
      url: `http://${formatAddr(config.daemonRpcAddr)}`,
      fallbackUrl: config.daemonRpcFallbackAddr ? `http://${formatAddr(config.daemonRpcFallbackAddr)}` : null,
      genesisHashHex: network.genesisHashHex,
      auth: init.cookie ? fromUserPass(`${init.cookie.user}:${init.cookie.password}`) : fromCookieFile(config.cookieFile),
      parallelism: config.daemonParallelism,
      log: log.child("daemon"),
      metrics: metrics.daemon,
      retry: { initialDelayMs: 100, maxDelayMs: 3000 },
      requestTimeoutMs: config.daemonRpcTimeoutMs,
    });
    closers.push(() => rpc?.close());
  }
  const tracing = await startWorkerTracing(init, log);
  closers.push(() => tracing.shutdown());
  serving = startServing({
    config,
    network,
    reader,
    mempool,
    tipHeight: () => state.tipHeight,
    metrics,
    electrumNode: rpc ? electrumNodeOf(rpc) : null,
    restNode: rpc ? restNodeOf(rpc) : null,
    onBroadcast: (txidHexes) => forwardBroadcast(txidHexes),
    tracing,
    tls: init.tls,
    log,
    addrs: init.addrs,
    reusePort: true,
    thread: init.number,
    reorgs: () => state.rollbacks,
    counts: sharedCounts(init.ipCounts),
    readGuard,
  });
  self.onmessage = (e: MessageEvent<ToWorker>) => void handle(e.data, metrics, log);
}

/** The main thread adds the txs to the mempool and notifies every thread's subscribers, then answers. */
function forwardBroadcast(txidHexes: string[]): Promise<void> {
  const id = nextBroadcast++;
  return new Promise<void>((resolve, reject) => {
    broadcasts.set(id, { resolve, reject });
    post({ type: "broadcast", id, txidHexes });
  });
}

async function handle(m: ToWorker, metrics: ReturnType<typeof createMetrics>, log: Logger): Promise<void> {
  switch (m.type) {
    case "notify": {
      let count = 0;
      try {
        count = (await serving?.electrum.notify(m.update)) ?? 0;
      } catch (err) {
        log.error(`notification round failed: ${describeError(err)}`);
      }
      post({ type: "notified", id: m.id, count });
      return;
    }
    case "metrics":
      post({ type: "metrics", id: m.id, json: await metrics.registry.getMetricsAsJSON() });
      return;
    case "broadcast-done": {
      const waiting = broadcasts.get(m.id);
      broadcasts.delete(m.id);
      if (m.error === null) waiting?.resolve();
      else waiting?.reject(new Error(m.error));
      return;
    }
    case "stop":
      await stop(log);
      post({ type: "stopped" });
      return;
    case "init":
      return;
  }
}

async function stop(log: Logger): Promise<void> {
  try {
    await serving?.stop();
  } catch (err) {
    log.warn(`stopping the servers: ${describeError(err)}`);
  }
  serving = null;
  for (const close of closers.reverse()) {
    try {
      await close();
    } catch (err) {
      log.warn(`closing: ${describeError(err)}`);
    }
  }
  closers.length = 0;
}

async function startWorkerTracing(init: WorkerInit, log: Logger): Promise<Tracing> {
  const settings = init.config.tracing;
  if (!settings) return NO_TRACING;
  const { OtelTracing } = await import("../trace/otel.ts");
  return new OtelTracing({ ...settings, serviceVersion: (await import("../version.ts")).VERSION }, log.child("otel"));
}

self.onmessage = (e: MessageEvent<ToWorker>) => {
  const m = e.data;
  if (m.type !== "init") return;
  start(m).then(
    () => {
      post({ type: "ready" });
      if (m.crashForTest) setTimeout(() => {
        throw new Error("injected crash (ELECTRS_BUN_TEST_CRASH_WORKER)");
      }, 100);
    },
    async (err) => {
      const message = describeError(err);
      await stop(createLogger({ verbosity: 0, timestamp: false, format: "text" }));
      post({ type: "failed", message });
    },
  );
};
