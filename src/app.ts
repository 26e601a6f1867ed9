/**
 * Wiring only (electrs' bin/electrs.rs): config → metrics → node → store → initial sync → servers →
 * main loop → clean shutdown. Every part is built here and passed to the parts that use it.
 */
import { existsSync, readFileSync } from "node:fs";
import { NETWORKS, type NetworkParams } from "./bitcoin/network.ts";
import { formatAddr, formatConfig, ignoredFlagWarning, type Config, type SocketAddr } from "./config.ts";
import { freeSocketPath, reservePorts } from "./listen.ts";
import { listBlkFiles, openBlockReader, readXorKey, type BlockReader } from "./daemon/blkfiles.ts";
import { fromCookieFile, fromUserPass, type AuthSource } from "./daemon/cookie.ts";
import { checkNode } from "./daemon/node-check.ts";
import { DaemonClient } from "./daemon/rpc.ts";
import { offlineSource, openBlkFileIndex, rpcSource, type BlkFileIndex, type ChainSource } from "./daemon/sources.ts";
import { subscribeHashblock } from "./daemon/zmq.ts";
import { Indexer, type SyncMetrics } from "./index/sync.ts";
import { ConfigError } from "./errors.ts";
import { describeError, type Logger } from "./log.ts";
import { createMetrics, type Metrics } from "./metrics/metrics.ts";
import { startMetricsServer, type MetricsServer } from "./metrics/server.ts";
import { StatusBoard } from "./metrics/status.ts";
import { dropConfirmed, mempoolChainOf, offlineMempoolNode, updateMempool } from "./mempool/follow.ts";
import { Mempool, mempoolMetricsOf } from "./mempool/mempool.ts";
import { mempoolNodeOf } from "./mempool/node.ts";
import { electrumNodeOf } from "./electrum/node.ts";
import { readTlsFiles } from "./electrum/tls.ts";
import { PendingElectrumUpdate } from "./electrum/pending-update.ts";
import type { ElectrumUpdate } from "./electrum/subscriptions.ts";
import { parsePrecacheList, precacheStats } from "./query/precache.ts";
import { restNodeOf } from "./rest/node.ts";
import { openDb, openReadDb, type Db } from "./store/db.ts";
import { displayUrl, NO_TRACING, type Span, type Tracing, type TracingSettings } from "./trace/tracing.ts";
import { StoreReader } from "./store/read.ts";
import { DEFAULT_GOVERNOR, MemoryGovernor } from "./memory-governor.ts";
import { NAME, VERSION } from "./version.ts";
import { Waiter } from "./waiter.ts";
import { IP_COUNTS_BYTES, sharedCounts } from "./serve/ip-counts.ts";
import { MempoolPresence } from "./serve/mempool-presence.ts";
import { ServePool } from "./serve/pool.ts";
import { startServing } from "./serve/servers.ts";
import { SharedState } from "./serve/shared-state.ts";

/** Shutdown must finish within 5 s; what is still running after this is abandoned. */
const SHUTDOWN_GRACE_MS = 4_000;

export interface App {
  /** Resolves with the exit code once the app has stopped. */
  readonly done: Promise<number>;
  readonly waiter: Waiter;
}

/** Things that must be closed on the way out, in reverse order of opening. */
class Closer {
  private readonly items: { name: string; close: () => unknown }[] = [];
  add(name: string, close: () => unknown): void {
    this.items.push({ name, close });
  }
  async closeAll(log: Logger): Promise<void> {
    for (const item of this.items.reverse()) {
      try {
        await item.close();
      } catch (err) {
        log.warn(`closing ${item.name}: ${describeError(err)}`);
      }
    }
    this.items.length = 0;
  }
}

export function syncMetricsOf(m: Metrics): SyncMetrics {
  return {
    observeStep: (step, seconds) => m.index.observe(step, seconds),
    setTipHeight: (h) => {
      m.tip.set(h);
      m.sync.setIndexedHeight(h);
    },
    setNodeHeight: (h) => m.sync.setNodeHeight(h),
    addIndexedTxs: (n) => m.sync.addTxs(n),
    setProgress: (p) => m.sync.setProgress(p),
  };
}

export function startApp(config: Config, log: Logger): App {
  const waiter = new Waiter();
  const done = run(config, log, waiter);
  return { done, waiter };
}

async function run(config: Config, log: Logger, waiter: Waiter): Promise<number> {
  const closer = new Closer();
  const unwire = waiter.installSignals((name) => log.info(`received ${name}`));
  closer.add("signal handlers", unwire);
  try {
    log.info(`starting ${NAME} ${VERSION}`);
    log.info(formatConfig(config));
    for (const flag of config.ignoredElectrsFlags) log.warn(ignoredFlagWarning(flag));
    const network = NETWORKS[config.network];
    // Closed last (the closer goes in reverse): the spans of the way out are exported too.
    const tracing = config.tracing ? await startTracing(config.tracing, log.child("otel")) : NO_TRACING;
    closer.add("tracing", () => tracing.shutdown());
    const metrics = createMetrics({ processCollector: true });
    // A bad --precache-scripts file stops the start, before anything is opened.
    const precacheKeys = config.precacheScripts ? readPrecacheList(config, network, log.child("precache")) : null;
    // Read before the long initial sync, so a bad path fails at once.
    const tlsFiles = config.tlsCert && config.tlsKey ? readTlsFiles(config.tlsCert, config.tlsKey, log) : null;

    const status = new StatusBoard({ registry: metrics.registry, name: NAME, version: VERSION, network: config.network });
    // With serve workers, /metrics sums their registries with this thread's (set once they run).
    const exposition: { gather: (() => Promise<string>) | null } = { gather: null };
    const monitoring: MetricsServer = startMetricsServer({
      addr: config.monitoringAddr,
      metrics,
      log: log.child("metrics"),
      status,
      exposition: () => (exposition.gather ? exposition.gather() : metrics.exposition()),
    });
    closer.add("metrics server", () => monitoring.stop());
    status.start();
    closer.add("status sampler", () => status.stop());
    status.setListener("monitoring", monitoring.url.replace(/^http:\/\/|\/metrics$/g, ""));
    log.info(`serving Prometheus metrics on ${monitoring.url} (status page at /status)`);
    // Every other listen address is checked (and held) before the node and the store are touched.
    const ports = reservePorts(listenersOf(config));
    closer.add("reserved ports", () => ports.release());
    // A stale socket file (a crash) is removed now; one in use, or a file that is not a socket, stops the start.
    if (config.httpSocketFile) await freeSocketPath(config.httpSocketFile, "--http-socket-file");
    if (config.electrumSocketFile) await freeSocketPath(config.electrumSocketFile, "--rpc-socket-file");

    // The node first, then the store (electrs' order): a bad cookie or an absent node leaves nothing behind.
    let rpc: DaemonClient | null = null;
    if (!config.offline) rpc = await connectNode(config, log, metrics, waiter, closer, tracing);
    else if (listBlkFiles(config.blocksDir).length === 0) {
      throw new ConfigError(`--offline needs Bitcoin Core's blk*.dat files, and ${config.blocksDir} has none (set --blocks-dir)`);
    }

    const db: Db = openDb({ dir: config.dbPath, network: config.network, log });
    closer.add("database", () => db.close());
    // The txs of blocks indexed from the blk files are read there (store/tx-bytes.ts).
    const blkFiles = openBlkFilesForTxs(config.blocksDir);
    if (blkFiles) closer.add("blk file reader", () => blkFiles.close());
    const indexer = new Indexer(db, log.child("index"), syncMetricsOf(metrics), {
      indexUnspendables: config.indexUnspendables,
      batchBlocks: config.initialSyncBatchSize,
      utxoCacheBytes: config.dbCacheMb * 1048576,
      recentMergeRows: config.dbLiveTailRows,
      // Failure injection for the crash tests (test/integration/process.test.ts), never set otherwise.
      crashAt: process.env.ELECTRS_BUN_TEST_CRASH_AT ?? null,
      // …and for the status page's tests: the initial sync stalls after its first batch until SIGUSR2.
      holdAfterInitialBatch: process.env.ELECTRS_BUN_TEST_HOLD_SYNC === "1" ? holdUntilSigusr2(waiter.signal) : null,
      addressSearch: config.addressSearch ? network.name : undefined,
      blkFiles,
      tracing,
    });
    closer.add("indexer", () => indexer.close());

    let source: ChainSource;
    let nodeFiles: BlkFileIndex | null = null;
    // MP's --magic (a custom signet's blk files), else the network's.
    const magic = config.magic ?? network.magic;
    if (config.offline) {
      const files = openBlkFileIndex(config.blocksDir, magic, log.child("blkfiles"));
      source = offlineSource(files, network.genesisHashHex, log.child("blkfiles"));
      log.info(`offline mode: following the most-work chain of the blk files in ${config.blocksDir} (no node)`);
    } else {
      ({ source, files: nodeFiles } = chooseRpcSource(config, indexer, rpc!, magic, log));
    }
    closer.add("block source", () => source.close());

    // A block's trace: its ZMQ announcement is the root span, ended by the main-loop turn it woke.
    let wakeSpan = null as Span | null;
    if (config.zmqAddr) {
      const zmq = subscribeHashblock({
        addr: formatAddr(config.zmqAddr),
        log: log.child("zmq"),
        onBlockHash: (hashHex) => {
          log.debug(`zmq hashblock ${hashHex}`);
          wakeSpan ??= tracing.startSpan("zmq hashblock", { "bitcoin.block_hash": hashHex }, null);
          waiter.wake();
        },
      });
      closer.add("zmq subscriber", () => zmq.close());
    }

    // Initial sync: blocks until the index reaches the tip (or shutdown is asked for).
    status.setPhase("initial sync");
    await indexer.update(source, waiter.signal);
    if (waiter.stopping) return await shutdown(closer, log);
    // New blocks are still looked for in the files first (so that only their location is stored),
    // over RPC when not there yet; but only blocks written from now on, not every block's location.
    nodeFiles?.forget();
    log.info(`index ready at height ${indexer.chain.tipHeight}`);

    // The query side reads committed blocks only, over its own connection (store/db.ts openReadDb).
    const readDb = openReadDb(db);
    closer.add("query connection", () => readDb.close());
    // With the block boundaries in memory (store/block-bounds.ts), kept exact by the indexer's
    // commit and rollback listeners, registered first so that nothing reads before they ran.
    // It skips the levels that hold no rows (store/level-reads.ts): this connection never writes them.
    const queryReader = new StoreReader(readDb, blkFiles, { blockBounds: true, skipEmptyLevels: true });
    indexer.onCommit((from) => queryReader.blocksChanged(from));
    indexer.onRollback((from) => queryReader.blocksChanged(from));
    // --serve-workers: what the other serving threads read of this one's state (serve/pool.ts).
    const shared = config.serveWorkers > 1 ? sharedServingState(db, indexer) : null;
    const chainView = mempoolChainOf(queryReader, () => indexer.chain.tipHash);
    const mempool = new Mempool({
      node: rpc ? mempoolNodeOf(rpc) : offlineMempoolNode(chainView),
      chain: chainView,
      log: log.child("mempool"),
      metrics: mempoolMetricsOf(metrics),
      indexUnspendables: config.indexUnspendables,
      recentTxsSize: config.mempoolRecentTxsSize,
      backlogStatsTtlMs: config.mempoolBacklogStatsTtlMs,
      observer: shared
        ? {
            added: (entry, keys) => shared.presence.added(entry, keys),
            removed: (entry, keys) => shared.presence.removed(entry, keys),
            changed: (size, synced) => shared.state.setMempool(size, synced),
          }
        : undefined,
    });
    indexer.onCommit((from, to) => dropConfirmed(mempool, indexer.reader, from, to));
    // The main loop's update and a mempool update's catch-up both go through indexOnce, so the
    // blocks either one indexes are notified to Electrum clients.
    const pending = new PendingElectrumUpdate();
    const indexOnce = async () => {
      const r = await indexer.update(source, waiter.signal);
      if (r.blocksAdded || r.blocksRemoved) {
        log.info(`new tip: height ${r.tipHeight} (${r.blocksAdded} blocks added${r.blocksRemoved ? `, ${r.blocksRemoved} removed by a reorg` : ""})`, {
          height: r.tipHeight,
          blocks_added: r.blocksAdded,
          blocks_removed: r.blocksRemoved,
        });
      }
      pending.record(r);
    };
    const syncMempool = () =>
      tracing.inSpan("mempool update", undefined, async (span) => {
        const r = await updateMempool(mempool, indexOnce, log.child("mempool"), waiter.signal).catch((err: unknown) => {
          if (!waiter.stopping) metrics.mempoolErrors.inc();
          throw err;
        });
        if (r.status !== "synced") log.warn("mempool update skipped: the node's tip keeps moving; retrying after the next wait");
        span.setAttributes({ "mempool.status": r.status, "mempool.added": r.addedTxidsHex.length, "mempool.removed": r.removedTxidsHex.length, "mempool.size": mempool.size });
        return r;
      });
    // The first mempool sync: before serving, or (--serve-during-mempool-sync) in the main loop's
    // first turn, which then starts at once; /health/ready says 503 until it is done.
    let mempoolSyncLogged = false;
    const logMempoolSynced = () => {
      if (mempoolSyncLogged || !mempool.synced) return;
      mempoolSyncLogged = true;
      log.info(`mempool synced: ${mempool.size} txs`);
    };
    if (!config.serveDuringMempoolSync) {
      try {
        await syncMempool();
        logMempoolSynced();
      } catch (err) {
        // Stopping aborts the update; any other failure is retried by the main loop (/health/ready says 503 until then).
        if (!waiter.stopping) log.error(`mempool sync failed, retrying after the next wait: ${describeError(err)}`);
      }
    }
    if (waiter.stopping) return await shutdown(closer, log);

    // A broadcaster's own subscriptions hear of its tx at once, not at the next main-loop turn.
    const onBroadcast = async (txids: string[]) => notify({ touchedScriptKeysHex: await mempool.addTxids(txids) });
    let pool: ServePool | null = null;
    const notify = (update: ElectrumUpdate) => {
      const attrs = { "electrum.scripts_touched": update.touchedScriptKeysHex.size, "electrum.new_tip": update.newTip === true, "electrum.recheck_all": update.recheckAll === true };
      return tracing.inSpan("electrum notify", attrs, async (span) => {
        const [own, others] = await Promise.all([serving.electrum.notify(update), pool ? pool.notify(update) : 0]);
        span.setAttributes({ "electrum.notifications": own + others });
      });
    };
    ports.release();
    // Checked again: another process may have bound the path during the sync.
    if (config.httpSocketFile) await freeSocketPath(config.httpSocketFile, "--http-socket-file");
    if (config.electrumSocketFile) await freeSocketPath(config.electrumSocketFile, "--rpc-socket-file");
    const serving = startServing({
      config,
      network,
      reader: queryReader,
      mempool,
      tipHeight: () => indexer.chain.tipHeight,
      metrics,
      electrumNode: rpc ? electrumNodeOf(rpc) : null,
      restNode: rpc ? restNodeOf(rpc) : null,
      onBroadcast,
      tracing,
      tls: tlsFiles,
      log,
      addrs: {
        electrum: config.electrumSocketFile ? null : config.electrumRpcAddr,
        electrumSocketFile: config.electrumSocketFile,
        electrumTls: config.electrumTlsAddr,
        electrumWs: config.electrumWsAddr,
        electrumWss: config.electrumWssAddr,
        http: config.httpSocketFile ? null : config.httpAddr,
        httpSocketFile: config.httpSocketFile,
      },
      reusePort: shared !== null,
      thread: 0,
      counts: shared ? sharedCounts(shared.ipCounts) : undefined,
    });
    closer.add("servers", () => serving.stop());
    const { electrum } = serving;
    const rest = serving.rest!;
    indexer.onRollback(() => serving.txCache.clear());
    if (shared) {
      // The workers bind the ports this thread bound (a listen address may ask for port 0).
      const p = electrum.ports;
      const at = (addr: SocketAddr | null, port: number | null): SocketAddr | null => (addr && port !== null ? { host: addr.host, port } : null);
      pool = await ServePool.start({
        workers: config.serveWorkers - 1,
        config,
        addrs: {
          // A Unix socket has no SO_REUSEPORT either: this thread serves Electrum there alone.
          electrum: config.electrumSocketFile ? null : at(config.electrumRpcAddr, p.tcp),
          electrumSocketFile: null,
          electrumTls: at(config.electrumTlsAddr, p.tls),
          electrumWs: at(config.electrumWsAddr, p.ws),
          electrumWss: at(config.electrumWssAddr, p.wss),
          // A Unix socket has no SO_REUSEPORT: this thread serves it alone.
          http: config.httpSocketFile ? null : { host: config.httpAddr.host, port: rest.port },
          httpSocketFile: null,
        },
        tls: tlsFiles,
        state: shared.state.buffer,
        presence: shared.presence.buffer,
        ipCounts: shared.ipCounts,
        mempool,
        onBroadcast,
        log: log.child("serve"),
      });
      const started = pool;
      closer.add("serve workers", () => started.stop());
      const summed = async () => started.aggregate(await metrics.registry.getMetricsAsJSON());
      exposition.gather = async () => (await summed()).metrics();
      status.readFrom(summed);
      log.info(`serving from ${config.serveWorkers} threads on the same ports: this one (which also indexes and keeps the mempool) and ${config.serveWorkers - 1} more`);
    }
    if (precacheKeys) void runPrecache(precacheKeys, queryReader, log.child("precache"), waiter.signal);
    status.setListener("http", rest.url.replace(/^http:\/\//, ""));
    for (const [kind, where] of Object.entries(electrum.listeners)) if (where) status.setListener(`electrum_${kind}`, where);
    status.setPhase("serving");
    // Started once serving: the initial sync's big tables are live data, not garbage to chase.
    const governor = new MemoryGovernor({
      ...DEFAULT_GOVERNOR,
      rssBytes: () => process.memoryUsage.rss(),
      collect: () => Bun.gc(false),
      onCollect: (before, after, ms) => log.debug(`memory: collection asked for at ${Math.round(before / 2 ** 20)} MiB RSS (${Math.round(after / 2 ** 20)} MiB right after, ${ms.toFixed(1)} ms)`),
    });
    governor.start();
    closer.add("memory governor", () => governor.stop());
    const more = Object.entries(electrum.listeners).flatMap(([kind, where]) => (kind !== "tcp" && where ? [`Electrum ${kind.toUpperCase()} on ${where}`] : []));
    log.info(`startup complete: ${[`REST on ${rest.url}`, `Electrum on ${electrum.addr}`, ...more, `metrics on ${monitoring.url}`].join(", ")}`);

    if (config.serveDuringMempoolSync) {
      log.info("serving before the mempool's first sync (--serve-during-mempool-sync): it runs now");
      waiter.wake();
    }
    // Main loop (electrs' main loop): wait 5 s, or less on a block notification; sync; repeat.
    while (!waiter.stopping) {
      metrics.mainLoop.inc();
      const why = await waiter.wait(config.mainLoopDelayMs);
      const woke = wakeSpan;
      wakeSpan = null;
      if (why === "stop") {
        woke?.end();
        break;
      }
      await tracing.inSpan(
        "main loop turn",
        { "main_loop.wake": why },
        async (span) => {
          try {
            await indexOnce();
            const mempoolTouched = (await syncMempool()).touchedScriptKeysHex;
            logMempoolSynced();
            // Electrum notifications: the scripts of the new blocks and of the mempool changes; a reorg rechecks every subscription.
            await notify(pending.take(mempoolTouched));
            await mergeLiveTail(indexer, waiter);
          } catch (err) {
            span.fail(err);
            if (!waiter.stopping) log.error(`update failed, retrying after the next wait: ${describeError(err)}`);
          }
        },
        woke ?? undefined,
      );
      woke?.end();
    }
    return await shutdown(closer, log);
  } catch (err) {
    log.error(describeError(err));
    await closer.closeAll(log);
    return 1;
  }
}

/**
 * The state the serve workers read without asking (serve/shared-state.ts): every commit of the
 * writer, every block change and reorg, published as they happen; the mempool's presence filter
 * and the Electrum limits' counts beside it.
 */
function sharedServingState(db: Db, indexer: Indexer) {
  const state = SharedState.create();
  db.observeCommits(state);
  state.committed(db.commits);
  state.blocksChanged(0, indexer.chain.tipHeight);
  indexer.onCommit((from) => state.blocksChanged(from, indexer.chain.tipHeight));
  indexer.onRollback((from) => {
    state.rolledBack();
    state.blocksChanged(from, indexer.chain.tipHeight);
  });
  return { state, presence: new MempoolPresence(), ipCounts: new SharedArrayBuffer(IP_COUNTS_BYTES) };
}

/** Failure injection: the first call waits for SIGUSR2 (or shutdown); later calls return at once. */
function holdUntilSigusr2(stop: AbortSignal): () => Promise<void> {
  let released = false;
  return () =>
    released
      ? Promise.resolve()
      : new Promise<void>((resolve) => {
          const done = () => {
            released = true;
            process.off("SIGUSR2", done);
            stop.removeEventListener("abort", done);
            resolve();
          };
          process.on("SIGUSR2", done);
          stop.addEventListener("abort", done);
        });
}

/** The listen addresses of the Electrum and REST servers, with their flags (for the busy-port line). */
function listenersOf(config: Config): { addr: SocketAddr; flagName: string }[] {
  const all: [SocketAddr | null, string][] = [
    [config.httpSocketFile ? null : config.httpAddr, "--http-addr"],
    [config.electrumSocketFile ? null : config.electrumRpcAddr, "--electrum-rpc-addr"],
    [config.electrumTlsAddr, "--electrum-tls-addr"],
    [config.electrumWsAddr, "--electrum-ws-addr"],
    [config.electrumWssAddr, "--electrum-wss-addr"],
  ];
  return all.flatMap(([addr, flagName]) => (addr ? [{ addr, flagName }] : []));
}

/** --precache-scripts: read the list (a missing file is a start-up error), then warm in the background. */
function readPrecacheList(config: Config, network: NetworkParams, log: Logger): Uint8Array[] {
  const path = config.precacheScripts!;
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new ConfigError(`cannot read --precache-scripts ${path}: ${(err as Error).message}`);
  }
  const list = parsePrecacheList(text, network);
  for (const e of list.errors.slice(0, 20)) log.warn(`--precache-scripts ${path}: ${e}`);
  if (list.errors.length > 20) log.warn(`--precache-scripts ${path}: ${list.errors.length - 20} more bad lines`);
  return list.keys;
}

/**
 * The live tail's merge (store/recent.ts), when due, between blocks: one slice (one transaction) at
 * a time, yielding to the servers in between, and put off as soon as a block is announced (the
 * next turn indexes it first; the merge goes on after it).
 */
async function mergeLiveTail(indexer: Indexer, waiter: Waiter): Promise<void> {
  while (indexer.mergeDue && !waiter.stopping && !waiter.wakePending) {
    indexer.mergeStep();
    await new Promise((resolve) => setImmediate(resolve));
  }
}

async function runPrecache(keys: Uint8Array[], reader: StoreReader, log: Logger, signal: AbortSignal): Promise<void> {
  try {
    await precacheStats({ reader, keys, log, signal });
  } catch (err) {
    log.error(`precache failed: ${describeError(err)}`);
  }
}

/** The OpenTelemetry SDK is loaded only when tracing is on. */
async function startTracing(settings: TracingSettings, log: Logger): Promise<Tracing> {
  const { OtelTracing } = await import("./trace/otel.ts");
  log.info(`exporting OpenTelemetry traces over OTLP/HTTP to ${displayUrl(settings.tracesUrl)} as service ${settings.serviceName}`);
  return new OtelTracing({ ...settings, serviceVersion: VERSION }, log);
}

async function connectNode(config: Config, log: Logger, metrics: Metrics, waiter: Waiter, closer: Closer, tracing: Tracing): Promise<DaemonClient> {
  const auth: AuthSource = config.cookie ? fromUserPass(`${config.cookie.user}:${config.cookie.password}`) : fromCookieFile(config.cookieFile);
  const rpc = new DaemonClient({
    url: `http://${formatAddr(config.daemonRpcAddr)}`,
    fallbackUrl: config.daemonRpcFallbackAddr ? `http://${formatAddr(config.daemonRpcFallbackAddr)}` : null,
    genesisHashHex: NETWORKS[config.network].genesisHashHex,
    auth,
    parallelism: config.daemonParallelism,
    log: log.child("daemon"),
    metrics: metrics.daemon,
    retry: { initialDelayMs: 100, maxDelayMs: 3000, giveUpAfterMs: config.daemonStartupTimeoutMs },
    requestTimeoutMs: config.daemonRpcTimeoutMs,
    tracing,
  });
  closer.add("daemon client", () => rpc.close());
  const info = await checkNode(rpc, log.child("daemon"), { pollMs: 5000, signal: waiter.signal, expectedNetwork: config.network });
  log.info(`connected to ${info.subversion} (${info.chain}) at ${formatAddr(config.daemonRpcAddr)}, ${info.blocks} blocks`);
  // Past start-up, a node that goes away is waited for (electrs retries forever), with a log line.
  rpc.setRetryPolicy({ initialDelayMs: 100, maxDelayMs: 3000 });
  return rpc;
}

/** Positioned reads of the blk files of `blocksDir`, or null when there is no such directory. */
function openBlkFilesForTxs(blocksDir: string): BlockReader | null {
  return existsSync(blocksDir) ? openBlockReader(blocksDir, readXorKey(blocksDir), { maxOpenFiles: 8 }) : null;
}

/**
 * With a node: blocks are read from its blk files when they are there (only their location is then
 * stored), else fetched with getblock (and stored). Not with --jsonrpc-import, and not for an
 * initial sync that started over RPC and is resumed.
 */
function chooseRpcSource(
  config: Config,
  indexer: Indexer,
  rpc: DaemonClient,
  magic: number,
  log: Logger,
): { source: ChainSource; files: BlkFileIndex | null } {
  const started = indexer.initialSyncSource;
  const useFiles =
    !config.jsonrpcImport &&
    (indexer.initialSyncDone || started !== "bitcoind RPC") &&
    existsSync(config.blocksDir) &&
    listBlkFiles(config.blocksDir).length > 0;
  if (useFiles) {
    const files = openBlkFileIndex(config.blocksDir, magic, log.child("blkfiles"));
    files.refresh();
    return { source: rpcSource({ rpc, log: log.child("fetch"), files }), files };
  }
  if (!indexer.initialSyncDone && !config.jsonrpcImport && started === null) {
    log.warn(`no blk*.dat files in ${config.blocksDir}: the initial sync fetches every block over RPC`);
  }
  return { source: rpcSource({ rpc, log: log.child("fetch") }), files: null };
}

async function shutdown(closer: Closer, log: Logger): Promise<number> {
  const timer = new Promise<void>((resolve) => setTimeout(resolve, SHUTDOWN_GRACE_MS).unref());
  await Promise.race([closer.closeAll(log), timer]);
  log.info("server stopped");
  return 0;
}
