/**
 * What route handlers are made of: the request they see, the reply they give, the shared context,
 * and the `parseX(value, …)` helpers that turn path segments, query params and bodies into typed
 * values at the boundary, with electrs' 400 texts. Nothing here knows about Elysia or Bun.serve.
 */
import type { TxJsonCache } from "./tx-json-cache.ts";
import { addressToScript } from "../bitcoin/address.ts";
import { hexToBytes, hexToHash } from "../bitcoin/bytes.ts";
import type { NetworkParams } from "../bitcoin/network.ts";
import type { Config } from "../config.ts";
import type { Logger } from "../log.ts";
import type { ChainQuery } from "../query/chain-query.ts";
import { scriptKeyFromHash, scriptKeyOf } from "../store/rows.ts";
import { HttpError } from "./errors.ts";
import type { BlockTemplates } from "./block-template.ts";
import type { FeeEstimates } from "./fees.ts";
import type { RestNode } from "./node.ts";

/** electrs' TTL_LONG (5 years), TTL_SHORT, TTL_MEMPOOL_RECENT and CONF_FINAL. */
export const TTL_LONG = 157_784_630;
export const TTL_SHORT = 10;
export const TTL_MEMPOOL_RECENT = 5;
const CONF_FINAL = 10;

export type RestConfig = Pick<
  Config,
  | "cors"
  | "utxosLimit"
  | "addressSearch"
  | "network"
  | "enableMiningRest"
  | "restDefaultBlockLimit"
  | "restDefaultChainTxsPerPage"
  | "restDefaultMaxMempoolTxs"
  | "restDefaultMaxAddressSummaryTxs"
  | "restMaxMempoolTxidPageSize"
  | "restMaxMempoolPageSize"
>;

export interface RestContext {
  readonly query: ChainQuery;
  readonly node: RestNode;
  readonly fees: FeeEstimates;
  /** `/block-template`'s kept answer (block-template.ts). */
  readonly blockTemplates: BlockTemplates;
  readonly config: RestConfig;
  readonly network: NetworkParams;
  /** Makes broadcast txs visible in the mempool answers before the broadcast is answered. */
  readonly onBroadcast: (txidHexes: string[]) => Promise<unknown>;
  readonly log: Logger;
  /** The JSON of confirmed txs (tx-json-cache.ts), emptied by the app on every reorg. */
  readonly txCache: TxJsonCache;
}

export interface RestRequest {
  /** Path parameters as matched (may be "" for an empty segment, as electrs' router gives). */
  readonly params: Readonly<Record<string, string | undefined>>;
  /** A query-string parameter; a repeated key keeps its last value (form_urlencoded into a HashMap). */
  query(name: string): string | undefined;
  /** The whole body, within the size and time limits (413, 408). */
  body(): Promise<Uint8Array>;
}

/** `cache`: seconds of `public, max-age`, or a literal Cache-Control value. */
export interface Reply {
  readonly status?: number;
  readonly type: "json" | "text" | "binary";
  readonly body: string | Uint8Array;
  readonly cache: number | string;
}

export type Handler = (req: RestRequest, ctx: RestContext) => Reply | Promise<Reply>;

export interface Route {
  readonly method: "GET" | "POST";
  /** Elysia path pattern, `:name` for a parameter. */
  readonly path: string;
  /** The `route` label of http_request_duration. */
  readonly name: string;
  readonly handler: Handler;
}

export const json = (value: unknown, cache: number | string): Reply => ({ type: "json", body: JSON.stringify(value), cache });
export const jsonText = (text: string, cache: number | string): Reply => ({ type: "json", body: text, cache });
export const text = (body: string, cache: number | string): Reply => ({ type: "text", body, cache });
export const binary = (body: Uint8Array, cache: number | string): Reply => ({ type: "binary", body, cache });

/** electrs' ttl_by_depth: 5 years once 10 blocks deep, else 10 s (also for unconfirmed). */
export function ttlByDepth(height: number | null, tipHeight: number): number {
  return height !== null && tipHeight - height >= CONF_FINAL ? TTL_LONG : TTL_SHORT;
}

// ---- parsers ----

const UINT = /^\+?[0-9]+$/;
const U32_MAX = 0xffff_ffffn;
const U64_MAX = 0xffff_ffff_ffff_ffffn;

/** Rust's `str::parse::<u64/usize>` (a leading `+` is allowed); may exceed 2^53 (then only compared). */
export function parseUsize(value: string | undefined): number {
  return parseUint(value, U64_MAX);
}

export function parseU32(value: string | undefined): number {
  return parseUint(value, U32_MAX);
}

function parseUint(value: string | undefined, max: bigint): number {
  if (value === undefined || !UINT.test(value) || BigInt(value) > max) throw new HttpError(400, "Invalid number");
  return Number(value);
}

/** Like parseUsize, but null instead of an error (electrs' `.parse().ok()`). */
export function tryUsize(value: string | undefined): number | null {
  return value !== undefined && UINT.test(value) && BigInt(value) <= U64_MAX ? Number(value) : null;
}

/** A txid or block hash in display hex; electrs' `Invalid hex string` otherwise. */
export function parseHash(value: string | undefined): Uint8Array {
  try {
    return hexToHash(value ?? "");
  } catch {
    throw new HttpError(400, "Invalid hex string");
  }
}

/** Like parseHash, but null instead of an error (an unparseable paging cursor is ignored). */
export function tryHash(value: string | undefined): Uint8Array | null {
  try {
    return value === undefined ? null : hexToHash(value);
  } catch {
    return null;
  }
}

export type ScriptKind = "address" | "scripthash";

/**
 * The 11-byte store key of `/address/:a` (electrs' address texts, `Address on invalid network`)
 * or `/scripthash/:h` (sha256 of the script in natural hex).
 * BS's text for every bad scripthash, `Invalid scripthash` (MP says `Invalid hex string` for non-hex).
 */
export function parseScriptKey(kind: ScriptKind, value: string | undefined, network: NetworkParams): Uint8Array {
  const v = value ?? "";
  if (kind === "address") return scriptKeyOf(addressToScript(v, network));
  let hash: Uint8Array;
  try {
    hash = hexToBytes(v);
  } catch {
    throw new HttpError(400, "Invalid scripthash");
  }
  if (hash.length !== 32) throw new HttpError(400, "Invalid scripthash");
  return scriptKeyFromHash(hash);
}

/** Like parseScriptKey, but null for an entry that does not parse (MP drops them from multi-script bodies). */
export function tryScriptKey(kind: ScriptKind, value: string, network: NetworkParams): Uint8Array | null {
  try {
    return parseScriptKey(kind, value, network);
  } catch {
    return null;
  }
}

/** An optional f64 query param (Rust's `parse::<f64>`); `what` names it in the 400 text. */
export function parseOptionalF64(value: string | undefined, what: string): number | null {
  if (value === undefined) return null;
  const m = F64.exec(value);
  if (!m) throw new HttpError(400, `Invalid ${what}`);
  if (m[1] !== undefined) return Number(value);
  const special = value.replace(SIGN, "").toLowerCase();
  if (special === "nan") return Number.NaN;
  return value.startsWith("-") ? Number.NEGATIVE_INFINITY : Number.POSITIVE_INFINITY;
}

/** Rust's f64 grammar: decimal with optional exponent, or inf / infinity / nan, any case, optional sign. */
const F64 = /^[+-]?(?:((?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)|inf|infinity|nan)$/i;
const SIGN = /^[+-]/;

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** A body as UTF-8 text (electrs: `String::from_utf8`, a 400 with the error text otherwise). */
export function utf8Text(body: Uint8Array): string {
  try {
    return utf8.decode(body);
  } catch {
    throw new HttpError(400, "invalid utf-8 sequence");
  }
}

/** A JSON body that must be an array of strings (serde's `Vec<String>`); its errors are 400s. */
export function parseStringArray(body: Uint8Array): string[] {
  let value: unknown;
  try {
    value = JSON.parse(utf8Text(body));
  } catch (err) {
    if (err instanceof HttpError) throw err;
    throw new HttpError(400, `invalid JSON: ${(err as Error).message}`);
  }
  if (!Array.isArray(value)) throw new HttpError(400, "invalid type: expected a sequence");
  if (!value.every((v): v is string => typeof v === "string")) throw new HttpError(400, "invalid type: expected a string");
  return value;
}
