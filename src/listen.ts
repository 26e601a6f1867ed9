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
