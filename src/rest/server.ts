/**
 * The Esplora REST server on --http-addr (electrs' rest.rs run_server): the route table registered
 * with Elysia, served by Bun.serve.
 *
 * Where Elysia cannot give electrs' behaviour it is done around it: HEAD and paths with an empty
 * segment are answered in onRequest (Elysia would answer HEAD for GET routes, and cannot match an
 * empty parameter), and so are requests without a Host header (their URL is relative, which
 * Elysia's router misreads); unknown routes become electrs' 404 in onError; bodies are read by the
 * dispatcher with BS-new's limits instead of Elysia's parsers (`parse: "none"`).
 */
import { TxJsonCache } from "./tx-json-cache.ts";
import { bindSocketFile, listenError, removeSocketFile } from "../listen.ts";
import { Elysia } from "elysia";
import { NETWORKS } from "../bitcoin/network.ts";
import { formatAddr, type SocketAddr } from "../config.ts";
import type { Logger } from "../log.ts";
import type { Metrics } from "../metrics/metrics.ts";
import type { ChainQuery } from "../query/chain-query.ts";
import { BODY_TIMEOUT_MS, MAX_BODY_BYTES } from "./body.ts";
import { Dispatcher, isRelativeUrl, pathOf } from "./dispatch.ts";
import { BlockTemplates } from "./block-template.ts";
import { FeeEstimates } from "./fees.ts";
import { NO_TRACING, type Tracing } from "../trace/tracing.ts";
import { offlineRestNode, type RestNode } from "./node.ts";
import type { RestConfig, RestContext } from "./route-kit.ts";
import { ROUTES } from "./routes.ts";

export interface RestServerOptions {
  addr: SocketAddr;
  /** A Unix socket path instead of `addr` (--http-socket-file), freed beforehand (listen.ts freeSocketPath). */
  socketFile?: string | null;
  query: ChainQuery;
  /** null with --offline (no node): broadcasts answer 504, fee estimates are empty. */
  rpc: RestNode | null;
  config: RestConfig;
  log: Logger;
  /** `http_request_duration{route,status}` is registered here: one REST server per Metrics. */
  metrics: Metrics;
  /** BS-new's 30 s for a whole request body; tests inject a short one. */
  bodyTimeoutMs?: number;
  /**
   * Called with the txids the node accepted (POST /tx, /broadcast, /txs/package) before the
   * answer, so the mempool answers show them at once (the app passes Mempool.addTxids).
   */
  onBroadcast?: (txidHexes: string[]) => Promise<unknown>;
  /** A root span per request (route pattern, status); default none. */
  tracing?: Tracing;
  /** The JSON of confirmed txs (--rest-tx-cache-mb); the caller empties it on reorgs. Default: none stored. */
  txCache?: TxJsonCache;
  /** Several threads listen on the same port (--serve-workers, serve/pool.ts): SO_REUSEPORT. */
  reusePort?: boolean;
  /** Which serving thread this is ("0" the main thread): electrs_bun_rest_requests_by_thread_total. */
  thread?: string;
}

export interface RestServer {
  /** e.g. `http://127.0.0.1:3002` with the bound port, or `unix:/path/to/socket`. */
  readonly url: string;
  /** 0 on a Unix socket. */
  readonly port: number;
  stop(): Promise<void>;
}

/** Bun's idle timeout (seconds, at most 255) must outlast the body deadline, or Bun closes first. */
const MAX_IDLE_TIMEOUT_S = 255;

export function startRestServer(opts: RestServerOptions): RestServer {
  const { log, config } = opts;
  const bodyTimeoutMs = opts.bodyTimeoutMs ?? BODY_TIMEOUT_MS;
  const node = opts.rpc ?? offlineRestNode();
  const ctx: RestContext = {
    query: opts.query,
    node,
    fees: new FeeEstimates(node, log),
    blockTemplates: new BlockTemplates(node),
    config,
    network: NETWORKS[config.network],
    onBroadcast: opts.onBroadcast ?? (async () => {}),
    log,
    txCache: opts.txCache ?? new TxJsonCache(0),
  };
  const dispatcher = new Dispatcher(
    {
      ctx,
      log,
      duration: opts.metrics.histogram("http_request_duration", "REST request duration by route pattern and status (in seconds)", ["route", "status"]),
      cors: config.cors,
      maxBodyBytes: MAX_BODY_BYTES,
      bodyTimeoutMs,
      tracing: opts.tracing ?? NO_TRACING,
    },
    ROUTES,
  );
  const thread = { thread: opts.thread ?? "0" };
  const byThread = opts.metrics.counter("electrs_bun_rest_requests_by_thread_total", "REST requests taken by each serving thread (--serve-workers; 0 is the main thread)", ["thread"]);
  byThread.inc(0, thread);
  const app = buildApp(dispatcher, () => byThread.inc(1, thread));
  const socketFile = opts.socketFile ?? null;
  if (socketFile) {
    const server = bindSocketFile(socketFile, "--http-socket-file", () => Bun.serve({ ...serveOptions(app), unix: socketFile }));
    log.info(`REST server running on unix:${socketFile}`);
    return {
      url: `unix:${socketFile}`,
      port: 0,
      stop: async () => {
        await server.stop(true);
        removeSocketFile(socketFile);
      },
    };
  }
  const server = listen(opts.addr, app, bodyTimeoutMs, opts.reusePort === true);
  // Read once: Bun's server.port no longer reports the bound port after stop().
  const port = server.port ?? opts.addr.port;
  const bound = formatAddr({ host: opts.addr.host, port });
  log.info(`REST server running on ${bound}`);
  return {
    url: `http://${bound}`,
    port,
    stop: async () => {
      await server.stop(true);
    },
  };
}

function buildApp(dispatcher: Dispatcher, taken: () => void) {
  // standardHostname false: Elysia otherwise assumes a Host of 4+ characters (`http://a.bc/`) and
  // misroutes `Host: api` (a reverse proxy's upstream name) to a 404.
  const app = new Elysia({ strictPath: true, handler: { standardHostname: false } })
    .onRequest(({ request }) => {
      taken();
      // electrs has no HEAD (nor OPTIONS, which Elysia already leaves unmatched): 404 like any unknown route.
      if (request.method === "HEAD") return dispatcher.notFound(request);
      const path = pathOf(request.url);
      // A Host-less request's URL is relative, which Elysia's router misreads: matched here too.
      if (!hasEmptySegment(path) && !isRelativeUrl(request.url)) return;
      const m = dispatcher.match(request.method, path);
      return m ? dispatcher.run(m.route, request, m.params) : dispatcher.notFound(request);
    })
    .onError(({ request }) => dispatcher.notFound(request));
  for (const route of ROUTES) {
    // Elysia leaves `params` undefined on routes without parameters.
    app.route(route.method, route.path, ({ request, params }) => dispatcher.run(route, request, (params as Record<string, string> | undefined) ?? {}), {
      parse: "none",
    });
  }
  return app;
}

/** `//x`, `/x//y` or a trailing `/` (but not the root path itself). */
function hasEmptySegment(path: string): boolean {
  return path.includes("//") || (path.length > 1 && path.endsWith("/"));
}

/** What the TCP and the Unix-socket server share (Bun takes no idle timeout on a Unix socket; readBody's deadline still holds). */
function serveOptions(app: ReturnType<typeof buildApp>) {
  return {
    fetch: app.fetch,
    // Bodies are limited by readBody (413 with our text and headers); Bun's own limit must not answer first.
    maxRequestBodySize: Number.MAX_SAFE_INTEGER,
    // Not `development: false`: with it Bun 1.4 binds a port that is already in use without an error.
    // Elysia catches handler errors, so this only guards against Bun's error page.
    error: () => new Response("Internal server error", { status: 500, headers: { "Content-Type": "text/plain" } }),
  };
}

function listen(addr: SocketAddr, app: ReturnType<typeof buildApp>, bodyTimeoutMs: number, reusePort: boolean): Bun.Server<undefined> {
  try {
    return Bun.serve({
      ...serveOptions(app),
      hostname: addr.host,
      port: addr.port,
      reusePort,
      idleTimeout: Math.min(MAX_IDLE_TIMEOUT_S, Math.ceil(bodyTimeoutMs / 1000) + 10),
    });
  } catch (err) {
    throw listenError(addr, "--http-addr", err);
  }
}

