/**
 * Credentials for bitcoind's JSON-RPC: a fixed `user:password` (`--cookie`) or Bitcoin Core's
 * `.cookie` file, which the node rewrites with a fresh random password on every start. The daemon
 * client calls `refresh()` after a 401 or a lost connection so a restarted node is followed.
 */
import { readFileSync } from "node:fs";
import { ConfigError } from "../errors.ts";

export interface AuthSource {
  /** The value of the `Authorization` header: `Basic base64(user:password)`. */
  header(): string;
  /** Re-reads the credentials; true if they changed. Never throws: an unreadable file keeps the old value. */
  refresh(): boolean;
  /** For logs and error messages, without the secret: `cookie file /x/.cookie` or `user:***`. */
  describe(): string;
}

function basic(userPass: string): string {
  return "Basic " + Buffer.from(userPass, "utf8").toString("base64");
}

/** Fixed credentials `user:password`; the password may itself contain `:`. */
export function fromUserPass(userPass: string): AuthSource {
  const colon = userPass.indexOf(":");
  if (colon < 0) throw new ConfigError("bitcoind credentials must be given as user:password");
  const header = basic(userPass);
  const user = userPass.slice(0, colon);
  return {
    header: () => header,
    refresh: () => false,
    describe: () => `${user}:***`,
  };
}

/**
 * Bitcoin Core's cookie file (`<datadir>/[<chain>/].cookie`, content `__cookie__:<hex>`).
 * Read at once so a wrong path fails at startup with a message naming it.
 */
export function fromCookieFile(path: string): AuthSource {
  let current = readCookie(path);
  return {
    header: () => basic(current),
    refresh: () => {
      let next: string;
      try {
        next = readCookie(path);
      } catch {
        // The node deletes its cookie on shutdown and writes a new one on start; until then the
        // old value is as good as any, and the next 401 or reconnect tries again.
        return false;
      }
      if (next === current) return false;
      current = next;
      return true;
    },
    describe: () => `cookie file ${path}`,
  };
}

function readCookie(path: string): string {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === "ENOENT" ? "no such file (is bitcoind running with this datadir and network?)" : code ?? String(err);
    throw new ConfigError(`cannot read the bitcoind cookie file ${path}: ${why}`, { cause: err });
  }
  // Core writes no trailing newline, but a hand-made file often has one.
  const cookie = text.trim();
  if (!cookie.includes(":")) throw new ConfigError(`the bitcoind cookie file ${path} does not hold user:password`);
  return cookie;
}
