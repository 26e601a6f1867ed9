/** What every server says when it cannot bind its address (metrics, REST, Electrum): one line naming the flag. */
import { isIP } from "node:net";
import { formatAddr, type SocketAddr } from "./config.ts";

export function listenError(addr: SocketAddr, flagName: string, err: unknown): Error {
  return new Error(`cannot listen on ${formatAddr(addr)} for ${flagName}: ${bindFailure(addr, err)}`, { cause: err });
}

/** Bun reports an unresolvable hostname as EADDRINUSE too, so only claim "in use" for IP literals. */
function bindFailure(addr: SocketAddr, err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  if (code === "EADDRINUSE") return isIP(addr.host) ? "address in use" : "address in use, or host cannot be resolved";
  if (code === "EADDRNOTAVAIL") return "address not available on this machine";
  if (code === "EACCES") return "permission denied";
  return err instanceof Error ? err.message : String(err);
}

/** The listen addresses reserved at start-up (reservePorts), released just before the real servers bind. */
export interface PortReservation {
  release(): void;
}

/**
 * Binds every listen address at once (port 0 needs no check), so that a busy port stops the start
 * with listenError's line before the node and the store are touched; electrs found a busy
 * --http-addr or --electrum-rpc-addr only after the initial sync, hours on mainnet.
 *
 * A reservation held through the sync, not the real servers bound early: the servers need the
 * index to be built (Electrum's and REST's are made from the query side, which opens after the
 * sync), and electrs refuses connections during the sync rather than accepting them unanswered.
 * Held rather than only tested, so that no other process can take a port during a long sync; a
 * connection that comes meanwhile is closed at once. Released right before the real bind.
 */
export function reservePorts(listeners: readonly { addr: SocketAddr; flagName: string }[]): PortReservation {
  const held: { stop(closeActive?: boolean): void }[] = [];
  const release = () => {
    for (const l of held.splice(0)) l.stop(true);
  };
  try {
    for (const { addr, flagName } of listeners) {
      if (addr.port === 0) continue;
      try {
        held.push(Bun.listen({ hostname: addr.host, port: addr.port, socket: { open: (s) => void s.end(), data() {} } }));
      } catch (err) {
        throw listenError(addr, flagName, err);
      }
    }
  } catch (err) {
    release();
    throw err;
  }
  return { release };
}
