/**
 * JSON-RPC envelopes for the Electrum protocol (peers-and-protocol.md §1.3, §1.4): parsing one
 * line into requests (1.0 or 2.0, single or batch), building reply lines, and the one place where
 * errors of every layer become JSON-RPC error codes (`toRpcError`).
 *
 * Replies always carry `"jsonrpc":"2.0"` (the server implements 2.0; 1.0 clients ignore the field,
 * as they do with electrs and ElectrumX).
 */
import { BlockFilesChangedError, DaemonError, DaemonUnreachableError, ParseError } from "../errors.ts";
import { QueryError } from "../query/errors.ts";

/** Codes of §1.4. */
export const RPC_CODES = Object.freeze({
  PARSE_ERROR: -32700,
  INVALID_REQUEST: -32600,
  METHOD_NOT_FOUND: -32601,
  INVALID_PARAMS: -32602,
  INTERNAL_ERROR: -32603,
  /** Generic application error: invalid hash, height out of range, unknown tx, bad version. */
  BAD_REQUEST: 1,
  /** bitcoind refused or could not be reached. */
  DAEMON_ERROR: 2,
  /** electrs' (BS-new) answer while the answers waiting for slow clients exceed the global budget: its daemon errors' number. */
  SERVER_BUSY: 2,
  /** Fulcrum's "limit exceeded": batch size, subscriptions per connection. */
  LIMIT_EXCEEDED: 4,
  /** Protocol 1.7's (and ElectrumX master's) "history too large". */
  HISTORY_TOO_LARGE: 10001,
});

export class RpcError extends Error {
  override name = "RpcError";
  constructor(
    readonly code: number,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export type RpcId = number | string | null;

export interface RpcRequest {
  readonly id: RpcId;
  /** No `id` member: a JSON-RPC notification, executed but never answered. */
  readonly notification: boolean;
  readonly method: string;
  /** Positional, or named (JSON-RPC 2.0 by-name). */
  readonly params: readonly unknown[] | Readonly<Record<string, unknown>>;
}

/** One element of a message: a request, or why it is not one (answered with `id`). */
export type RequestItem = { readonly ok: true; readonly request: RpcRequest } | { readonly ok: false; readonly id: RpcId; readonly error: RpcError };

export type ParsedMessage =
  | { readonly kind: "single"; readonly item: RequestItem }
  | { readonly kind: "batch"; readonly items: readonly RequestItem[] }
  /** Not JSON, or a JSON value that cannot be a request at all: answered with `id: null`. */
  | { readonly kind: "invalid"; readonly error: RpcError };

export function parseMessage(line: string): ParsedMessage {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return { kind: "invalid", error: new RpcError(RPC_CODES.PARSE_ERROR, "parse error") };
  }
  if (Array.isArray(value)) {
    if (value.length === 0) return { kind: "invalid", error: new RpcError(RPC_CODES.INVALID_REQUEST, "invalid request: empty batch") };
    return { kind: "batch", items: value.map(parseRequest) };
  }
  return { kind: "single", item: parseRequest(value) };
}

function parseRequest(value: unknown): RequestItem {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return invalid(null, "invalid request: not a JSON object");
  }
  const obj = value as Record<string, unknown>;
  const rawId = obj["id"];
  const hasId = "id" in obj;
  const id: RpcId = typeof rawId === "number" || typeof rawId === "string" ? rawId : null;
  if (hasId && rawId !== null && id === null) return invalid(null, "invalid request: id must be a number, a string or null");
  // 1e400 parses as Infinity (and would be echoed as null); an integer past 2^53 comes back rounded.
  if (typeof id === "number" && (!Number.isFinite(id) || (Number.isInteger(id) && !Number.isSafeInteger(id)))) {
    return invalid(null, "invalid request: id is a number JSON-RPC cannot echo exactly (not finite, or an integer beyond 2^53)");
  }
  if (obj["jsonrpc"] !== undefined && obj["jsonrpc"] !== "2.0") return invalid(id, 'invalid request: jsonrpc must be "2.0"');
  const method = obj["method"];
  if (typeof method !== "string") return invalid(id, "invalid request: method must be a string");
  const params = obj["params"] ?? [];
  if (typeof params !== "object" || params === null) {
    return { ok: false, id, error: new RpcError(RPC_CODES.INVALID_PARAMS, "invalid params: params must be an array or an object") };
  }
  return { ok: true, request: { id, notification: !hasId, method, params: params as RpcRequest["params"] } };
}

function invalid(id: RpcId, message: string): RequestItem {
  return { ok: false, id, error: new RpcError(RPC_CODES.INVALID_REQUEST, message) };
}

/**
 * JSON already serialized, as UTF-8 bytes in parts: a big result built a slice at a time
 * (query/sliced-history.ts), or a cached one shared by many answers (headers.ts). A reply made
 * of it is written out part by part and never joined: joining, measuring and encoding a 9 MB
 * history as one string held the loop ~25-35 ms (#12).
 */
export class JsonBytes {
  readonly byteLength: number;

  constructor(readonly parts: readonly Uint8Array[]) {
    let n = 0;
    for (const p of parts) n += p.length;
    this.byteLength = n;
  }

  static of(text: string): JsonBytes {
    return new JsonBytes([Buffer.from(text, "utf8")]);
  }

  /** The text (a copy: for a transport that needs one string, or a batch). */
  toString(): string {
    return Buffer.concat(this.parts).toString("utf8");
  }
}

/** One reply line (without its newline): text, or bytes in parts. */
export type ReplyMessage = string | JsonBytes;

export const replyBytes = (m: ReplyMessage): number => (typeof m === "string" ? Buffer.byteLength(m) : m.byteLength);
export const replyText = (m: ReplyMessage): string => (typeof m === "string" ? m : m.toString());

const RESULT_END = Buffer.from("}");

export function resultJson(id: RpcId, result: unknown): ReplyMessage {
  // The same bytes JSON.stringify gives for the object below.
  if (result instanceof JsonBytes) return new JsonBytes([Buffer.from(`{"jsonrpc":"2.0","id":${JSON.stringify(id)},"result":`), ...result.parts, RESULT_END]);
  return JSON.stringify({ jsonrpc: "2.0", id, result: result === undefined ? null : result });
}

export function errorJson(id: RpcId, error: RpcError): string {
  return JSON.stringify({ jsonrpc: "2.0", id, error: { code: error.code, message: error.message } });
}

export function notificationJson(method: string, params: readonly unknown[]): string {
  return JSON.stringify({ jsonrpc: "2.0", method, params });
}

/**
 * Every error a handler can throw, as a JSON-RPC error (the only such mapping in src/electrum).
 * Unexpected errors become -32603 without their text (which may name internals); the caller logs them.
 */
export function toRpcError(err: unknown): { error: RpcError; unexpected: boolean } {
  if (err instanceof RpcError) return { error: err, unexpected: false };
  if (err instanceof QueryError) {
    const code =
      err.kind === "too-large" ? RPC_CODES.HISTORY_TOO_LARGE : err.kind === "response-too-large" ? RPC_CODES.INVALID_REQUEST : RPC_CODES.BAD_REQUEST;
    return { error: new RpcError(code, err.message, { cause: err }), unexpected: false };
  }
  if (err instanceof DaemonError) return { error: new RpcError(RPC_CODES.DAEMON_ERROR, err.rpcMessage, { cause: err }), unexpected: false };
  if (err instanceof DaemonUnreachableError) return { error: new RpcError(RPC_CODES.DAEMON_ERROR, err.message, { cause: err }), unexpected: false };
  if (err instanceof ParseError) return { error: new RpcError(RPC_CODES.BAD_REQUEST, err.message, { cause: err }), unexpected: false };
  // The operator's problem, not the client's: its text (with the reindex hint) is the answer, and it is logged.
  if (err instanceof BlockFilesChangedError) return { error: new RpcError(RPC_CODES.INTERNAL_ERROR, err.message, { cause: err }), unexpected: true };
  return { error: new RpcError(RPC_CODES.INTERNAL_ERROR, "internal error", { cause: err }), unexpected: true };
}
