/** What every server says when it cannot bind its address (metrics, REST, Electrum): one line naming the flag. */
import { chmodSync, lstatSync, unlinkSync } from "node:fs";
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

/** listenError's line for a Unix-socket path. */
function socketError(path: string, flagName: string, why: string, cause?: unknown): Error {
  return new Error(`cannot listen on unix:${path} for ${flagName}: ${why}`, { cause });
}

/** Mode of a REST Unix socket: the owner and its group (a reverse proxy in the group) may connect. */
export const SOCKET_FILE_MODE = 0o660;

/**
 * Makes `path` free for a Unix-socket listener: nothing there is fine; a socket nobody listens on
 * (left by a crash or kill -9) is removed; a socket a running server answers on, or anything that
 * is not a socket, is refused with one line naming the flag, and left alone.
 */
export async function freeSocketPath(path: string, flagName: string): Promise<void> {
  let isSocket: boolean;
  try {
    isSocket = lstatSync(path).isSocket();
  } catch (err) {
    if ((err as { code?: string }).code === "ENOENT") return;
    throw socketError(path, flagName, (err as Error).message, err);
  }
  if (!isSocket) throw socketError(path, flagName, "the path exists and is not a socket (not removed)");
  const live = await Bun.connect({ unix: path, socket: { data() {}, open: (s) => void s.end() } }).then(
    () => true,
    () => false,
  );
  if (live) throw socketError(path, flagName, "a running server answers on it");
  unlinkSync(path);
}

/** Binds a Unix-socket listener at a path freeSocketPath cleared, with SOCKET_FILE_MODE; `bind` is the server's own listen call. */
export function bindSocketFile<T>(path: string, flagName: string, bind: () => T): T {
  let server: T;
  try {
    server = bind();
  } catch (err) {
    throw socketError(path, flagName, (err as Error).message, err);
  }
  chmodSync(path, SOCKET_FILE_MODE);
  return server;
}

/** Removes a socket file at a clean stop (nothing if it is gone or was replaced by something else). */
export function removeSocketFile(path: string): void {
  try {
    if (lstatSync(path).isSocket()) unlinkSync(path);
  } catch {
    // already gone
  }
}
