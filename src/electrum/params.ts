/**
 * Parameter parsers for the method table: each takes the raw JSON value and the parameter's name
 * and returns a typed value or throws an RpcError naming the parameter. Wrong types are -32602
 * (invalid params); well-typed but invalid values (bad hex, a height past the tip) are code 1
 * (BAD_REQUEST), as ElectrumX answers them.
 */
import { hexToBytes, reversed } from "../bitcoin/bytes.ts";
import { scriptKeyFromHash } from "../store/rows.ts";
import { RPC_CODES, RpcError } from "./jsonrpc.ts";

export type Version = readonly number[];

export function invalidParams(message: string): RpcError {
  return new RpcError(RPC_CODES.INVALID_PARAMS, `invalid params: ${message}`);
}

export function badRequest(message: string): RpcError {
  return new RpcError(RPC_CODES.BAD_REQUEST, message);
}

/** Named (by-name) params to positional, in the method's declared order; unknown names ignored (1.6). */
export function positional(params: readonly unknown[] | Readonly<Record<string, unknown>>, names: readonly string[]): unknown[] {
  if (Array.isArray(params)) return params as unknown[];
  const obj = params as Readonly<Record<string, unknown>>;
  const out = names.map((n) => obj[n]);
  while (out.length > 0 && out[out.length - 1] === undefined) out.pop();
  return out;
}

export function required(args: readonly unknown[], i: number, name: string): unknown {
  const v = args[i];
  if (v === undefined) throw invalidParams(`missing parameter ${name}`);
  return v;
}

/** A non-negative safe integer (ElectrumX's non_negative_integer; numeric strings are accepted too). */
export function nonNegativeInt(v: unknown, name: string): number {
  const n = typeof v === "string" && /^\d{1,15}$/.test(v) ? Number(v) : v;
  if (typeof n !== "number" || !Number.isSafeInteger(n)) throw invalidParams(`${name} must be a non-negative integer`);
  if (n < 0) throw badRequest(`${name} must be a non-negative integer: ${n}`);
  return n;
}

export function optionalInt(v: unknown, name: string, dflt: number): number {
  return v === undefined || v === null ? dflt : nonNegativeInt(v, name);
}

export function bool(v: unknown, name: string, dflt: boolean): boolean {
  if (v === undefined || v === null) return dflt;
  if (typeof v !== "boolean") throw invalidParams(`${name} must be a boolean`);
  return v;
}

export function str(v: unknown, name: string): string {
  if (typeof v !== "string") throw invalidParams(`${name} must be a string`);
  return v;
}

const HASH_HEX = /^[0-9a-fA-F]{64}$/;

/** A display-order txid (64 hex characters) → internal-order bytes. */
export function txHash(v: unknown, name = "tx_hash"): Uint8Array {
  const s = str(v, name);
  if (!HASH_HEX.test(s)) throw badRequest(`${name} ${JSON.stringify(s.slice(0, 80))} is not a valid transaction hash`);
  return reversed(hexToBytes(s));
}

export interface ScriptHashParam {
  /** As the client sent it, lower-cased: notifications echo it. */
  readonly hex: string;
  /** The store's 11-byte key (first bytes of sha256(script) in natural order). */
  readonly key: Uint8Array;
  readonly keyHex: string;
}

/** Electrum's scripthash: sha256(scriptPubKey) as reversed hex (§1.6). */
export function scriptHash(v: unknown): ScriptHashParam {
  const s = str(v, "scripthash");
  if (!HASH_HEX.test(s)) throw badRequest(`${JSON.stringify(s.slice(0, 80))} is not a valid script hash`);
  const hex = s.toLowerCase();
  const key = scriptKeyFromHash(reversed(hexToBytes(hex)));
  return { hex, key, keyHex: Buffer.from(key).toString("hex") };
}

/** Raw tx hex (non-empty, even length, hex digits only) → bytes. */
export function rawTxHex(v: unknown, name = "raw_tx"): string {
  const s = str(v, name);
  if (s.length === 0 || s.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(s)) throw badRequest(`${name} is not valid hex`);
  return s;
}

/** "1.4", "1.4.2" → [1, 4, 2]; null if not a dotted number with at least one dot. */
export function parseVersion(s: unknown): Version | null {
  if (typeof s !== "string" || !/^\d{1,4}(\.\d{1,4}){1,2}$/.test(s)) return null;
  return s.split(".").map(Number);
}

export function compareVersions(a: Version, b: Version): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

export function formatVersion(v: Version): string {
  return v.join(".");
}
