/**
 * `server.version(client_name, protocol_version)` (peers-and-protocol.md §1.5): the first one
 * negotiates min(client max, server max) if that is at least max(client min, server min); no
 * common version is an error and the connection is closed after the reply. A second call is an
 * error. Extra arguments are ignored (1.6).
 */
import { RPC_CODES, RpcError } from "./jsonrpc.ts";
import { compareVersions, formatVersion, parseVersion, type Version } from "./params.ts";
import type { Session } from "./subscriptions.ts";
import { NAME, VERSION } from "../version.ts";

export const SERVER_VERSION = `${NAME} ${VERSION}`;
const MIN: Version = [1, 4];
const MAX: Version = [1, 6];
/** ElectrumX keeps the first 100 characters of the client name. */
const MAX_CLIENT_NAME = 100;

export function negotiate(session: Session, args: readonly unknown[]): [string, string] {
  if (session.versionSent) throw new RpcError(RPC_CODES.BAD_REQUEST, "server.version already sent");
  session.versionSent = true;
  const name = args[0];
  session.clientName = typeof name === "string" ? name.slice(0, MAX_CLIENT_NAME) : "";
  const requested = args[1] ?? "1.4";
  let clientMin: Version | null;
  let clientMax: Version | null;
  if (Array.isArray(requested) && requested.length === 2) {
    clientMin = parseVersion(requested[0]);
    clientMax = parseVersion(requested[1]);
  } else {
    clientMin = clientMax = parseVersion(requested);
  }
  const lower = clientMin && compareVersions(clientMin, MIN) > 0 ? clientMin : MIN;
  const chosen = clientMax && compareVersions(clientMax, MAX) < 0 ? clientMax : MAX;
  if (!clientMin || !clientMax || compareVersions(chosen, lower) < 0) {
    session.closeAfterReply = true;
    throw new RpcError(RPC_CODES.BAD_REQUEST, `unsupported protocol version: ${JSON.stringify(requested)}`);
  }
  session.version = chosen;
  return [SERVER_VERSION, formatVersion(chosen)];
}
