/**
 * The Prometheus listener on --monitoring-addr. Like electrs' tiny_http loop it answers every
 * path and method with the exposition, so `/`, `/metrics` and anything else all work.
 */
import { listenError } from "../listen.ts";
import { formatAddr, type SocketAddr } from "../config.ts";
import { describeError, type Logger } from "../log.ts";
import type { Metrics } from "./metrics.ts";

export interface MetricsServerOptions {
  addr: SocketAddr;
  metrics: Metrics;
  log: Logger;
  /** Named in the error when the address cannot be bound; defaults to "--monitoring-addr". */
  flagName?: string;
}

export interface MetricsServer {
  /** e.g. `http://127.0.0.1:24224/metrics` with the actual port (useful after binding port 0). */
  readonly url: string;
  readonly port: number;
  stop(): Promise<void>;
}

export function startMetricsServer(opts: MetricsServerOptions): MetricsServer {
  const { addr, metrics, log } = opts;
  const server = listen(addr, opts.flagName ?? "--monitoring-addr", () => respond(metrics, log));
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

function listen(addr: SocketAddr, flagName: string, fetch: () => Promise<Response>): Bun.Server<undefined> {
  try {
    return Bun.serve({ hostname: addr.host, port: addr.port, fetch });
  } catch (err) {
    throw listenError(addr, flagName, err);
  }
}


async function respond(metrics: Metrics, log: Logger): Promise<Response> {
  try {
    const body = await metrics.exposition();
    return new Response(body, { headers: { "content-type": metrics.contentType } });
  } catch (err) {
    log.error(`http error: ${describeError(err)}`);
    return new Response("failed to render metrics\n", { status: 500 });
  }
}
