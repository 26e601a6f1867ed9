/**
 * The query side of one serving thread: the read model, the REST cache of confirmed txs' JSON,
 * the Electrum listeners and the REST listener. Built the same way by the main thread (app.ts)
 * and by each serve worker (serve/serve-worker.ts), from what that thread has: its own index
 * connection and reader, and the mempool (the main thread's own, or a worker's remote view).
 */
import type { NetworkParams } from "../bitcoin/network.ts";
import type { Config, SocketAddr } from "../config.ts";
import type { ElectrumNode } from "../electrum/node.ts";
import { startElectrumServer, type ElectrumServer, type ElectrumServerOptions } from "../electrum/server.ts";
import type { TlsFiles } from "../electrum/tls.ts";
import type { Logger } from "../log.ts";
import type { Metrics } from "../metrics/metrics.ts";
import type { MempoolView } from "../mempool/types.ts";
import { ChainQuery, type ReadGuard } from "../query/chain-query.ts";
import type { RestNode } from "../rest/node.ts";
import { startRestServer, type RestServer } from "../rest/server.ts";
import { TxJsonCache } from "../rest/tx-json-cache.ts";
import type { StoreReader } from "../store/read.ts";
import type { Tracing } from "../trace/tracing.ts";

/** Where this thread listens: the configured addresses, or (a worker) the ports the main thread bound. */
export interface ListenAddrs {
  /** null: no Electrum on TCP here (a Unix socket, served by the main thread only). */
  readonly electrum: SocketAddr | null;
  /** MP's --rpc-socket-file: Electrum on this Unix socket instead of TCP (the main thread's). */
  readonly electrumSocketFile: string | null;
  readonly electrumTls: SocketAddr | null;
  readonly electrumWs: SocketAddr | null;
  readonly electrumWss: SocketAddr | null;
  /** null: no REST on TCP here (a Unix socket is served by the main thread only). */
  readonly http: SocketAddr | null;
  readonly httpSocketFile: string | null;
}

export interface ServingOptions {
  readonly config: Config;
  readonly network: NetworkParams;
  readonly reader: StoreReader;
  readonly mempool: MempoolView;
  readonly tipHeight: () => number;
  readonly metrics: Metrics;
  readonly electrumNode: ElectrumNode | null;
  readonly restNode: RestNode | null;
  /** The txids the node accepted: the mempool adds them and subscribers hear of them. */
  readonly onBroadcast: (txidHexes: string[]) => Promise<unknown>;
  readonly tracing: Tracing;
  readonly tls: TlsFiles | null;
  readonly log: Logger;
  readonly addrs: ListenAddrs;
  /** Other threads listen on the same ports. */
  readonly reusePort: boolean;
  /** 0: the main thread; 1 … N - 1: the serve workers (in metrics' `thread` label). */
  readonly thread: number;
  /** A worker's count of reorgs (shared-state.ts), for its REST cache; the main thread clears its own. */
  readonly reorgs?: () => number;
  /** The Electrum limits' counts, shared by every serving thread (ip-counts.ts). */
  readonly counts?: ElectrumServerOptions["counts"];
  /** A worker's guard of its reads against the main thread's commits (chain-query.ts ReadGuard). */
  readonly readGuard?: ReadGuard | null;
}

export interface Serving {
  readonly electrum: ElectrumServer;
  readonly rest: RestServer | null;
  /** Emptied on every reorg by the owner. */
  readonly txCache: TxJsonCache;
  stop(): Promise<void>;
}

export function startServing(o: ServingOptions): Serving {
  const { config, metrics, log } = o;
  // One read model for both servers (it registers query_duration once).
  const query = new ChainQuery({ reader: o.reader, mempool: o.mempool, network: o.network, tipHeight: o.tipHeight, metrics, guard: o.readGuard ?? null });
  const electrum = startElectrumServer({
    addr: o.addrs.electrum,
    socketFile: o.addrs.electrumSocketFile,
    tlsAddr: o.addrs.electrumTls,
    wsAddr: o.addrs.electrumWs,
    wssAddr: o.addrs.electrumWss,
    tls: o.tls,
    query,
    reader: o.reader,
    mempool: o.mempool,
    node: o.electrumNode,
    network: o.network,
    config: {
      txsLimit: config.electrumTxsLimit,
      utxosLimit: config.utxosLimit,
      banner: config.electrumBanner,
      hosts: config.electrumPublicHosts,
    },
    log: log.child("electrum"),
    metrics,
    onBroadcast: o.onBroadcast,
    tracing: o.tracing,
    limits: {
      maxResponseBytes: config.electrumMaxResponseBytes,
      maxClients: config.electrumMaxClients,
      maxClientsPerIp: config.electrumMaxClientsPerIp,
      maxSubsPerIp: config.electrumMaxSubsPerIp,
      maxSubscriptions: config.electrumSubscriptionLimit === 0 ? Number.MAX_SAFE_INTEGER : config.electrumSubscriptionLimit,
      maxLineBytes: config.electrumMaxRequestBytes,
      stallTimeoutMs: config.electrumWriteTimeoutMs,
      maxAgeMs: config.electrumConnMaxAgeMs,
      globalResponseBudgetBytes: config.electrumResponseBudgetBytes,
    },
    reusePort: o.reusePort,
    counts: o.counts,
    thread: String(o.thread),
    rpcLogging: config.rpcLogging,
    readGuard: o.readGuard ?? null,
  });
  // Rendered JSON of confirmed txs: a reorg is the only thing that changes one.
  const cacheLookups = metrics.counter("electrs_bun_rest_tx_cache_lookups_total", "Lookups in the REST cache of confirmed txs' JSON, by result (hit, miss)", ["result"]);
  const cacheHeld = metrics.gauge("electrs_bun_rest_tx_cache_held", "What the REST cache of confirmed txs' JSON holds, by unit (entries, bytes)", ["unit"]);
  // --rest-tx-cache-mb is the budget of all the serving threads together: each holds its share.
  const txCache = new TxJsonCache(Math.floor((config.restTxCacheMb * 1048576) / Math.max(1, config.serveWorkers)), {
    hit: () => cacheLookups.inc(1, { result: "hit" }),
    miss: () => cacheLookups.inc(1, { result: "miss" }),
    held: (entries, bytes) => {
      cacheHeld.set(entries, { unit: "entries" });
      cacheHeld.set(bytes, { unit: "bytes" });
    },
  }, o.reorgs ?? null);
  let rest: RestServer | null = null;
  if (o.addrs.http || o.addrs.httpSocketFile) {
    try {
      rest = startRestServer({
        txCache,
        addr: o.addrs.http ?? config.httpAddr,
        socketFile: o.addrs.httpSocketFile,
        query,
        rpc: o.restNode,
        config,
        log: log.child("rest"),
        metrics,
        onBroadcast: o.onBroadcast,
        tracing: o.tracing,
        reusePort: o.reusePort,
        thread: String(o.thread),
      });
    } catch (err) {
      void electrum.stop();
      throw err;
    }
  }
  return {
    electrum,
    rest,
    txCache,
    stop: async () => {
      await rest?.stop();
      await electrum.stop();
    },
  };
}
