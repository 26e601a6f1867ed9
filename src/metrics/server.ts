/**
 * The Prometheus listener on --monitoring-addr. Like electrs' tiny_http loop it answers every
 * path and method with the exposition, so `/`, `/metrics` and anything else all work, except
 * `/status` and `/status.json`: the status page (status.ts), a GET each.
 */
import { listenError } from "../listen.ts";
import { formatAddr, type SocketAddr } from "../config.ts";
import { describeError, type Logger } from "../log.ts";
import type { Metrics } from "./metrics.ts";
import type { StatusBoard } from "./status.ts";

export interface MetricsServerOptions {
  addr: SocketAddr;
  metrics: Metrics;
  log: Logger;
  /** Named in the error when the address cannot be bound; defaults to "--monitoring-addr". */
  flagName?: string;
  /** Serves /status and /status.json when given. */
  status?: StatusBoard;
  /** The exposition to serve; default `metrics.exposition()` (the app sums its serve workers' in: serve/pool.ts). */
  exposition?: () => Promise<string>;
}

export interface MetricsServer {
  /** e.g. `http://127.0.0.1:24224/metrics` with the actual port (useful after binding port 0). */
  readonly url: string;
  readonly port: number;
  stop(): Promise<void>;
}

export function startMetricsServer(opts: MetricsServerOptions): MetricsServer {
  const { addr, metrics, log } = opts;
  const status = opts.status;
  const server = listen(addr, opts.flagName ?? "--monitoring-addr", (req) => {
    if (status && req.method === "GET") {
      const path = new URL(req.url, "http://localhost").pathname;
      if (path === "/status") return Promise.resolve(new Response(status.html(), { headers: { "content-type": "text/html; charset=utf-8", "cache-control": "no-store" } }));
      if (path === "/status.json") return statusJson(status, log);
    }
    return respond(opts.exposition ?? (() => metrics.exposition()), metrics.contentType, log);
  });
  // Read once: Bun's server.port no longer reports the bound port after stop().
  const port = server.port ?? addr.port;
  const url = `http://${formatAddr({ host: addr.host, port })}/metrics`;
  log.debug(`monitoring server listening on ${formatAddr({ host: addr.host, port })}`);
  return {
    url,
    port,
    stop: async () => {
      await server.stop(true);
    },
  };
}

function listen(addr: SocketAddr, flagName: string, fetch: (req: Request) => Promise<Response>): Bun.Server<undefined> {
  try {
    return Bun.serve({ hostname: addr.host, port: addr.port, fetch });
  } catch (err) {
    throw listenError(addr, flagName, err);
  }
}


async function respond(exposition: () => Promise<string>, contentType: string, log: Logger): Promise<Response> {
  try {
    const body = await exposition();
    return new Response(body, { headers: { "content-type": contentType } });
  } catch (err) {
    log.error(`http error: ${describeError(err)}`);
    return new Response("failed to render metrics\n", { status: 500 });
  }
}

async function statusJson(status: StatusBoard, log: Logger): Promise<Response> {
  try {
    return Response.json(await status.json(), { headers: { "cache-control": "no-store" } });
  } catch (err) {
    log.error(`status error: ${describeError(err)}`);
    return new Response("failed to render the status\n", { status: 500 });
  }
}
