/**
 * A small client for the Esplora REST server of a running app process: the base URL from its
 * `REST server running on <host>:<port>` log line, requests with a deadline each, and the
 * Esplora JSON shapes (spec §1.2) for typed reads.
 */
import { spawnApp, type AppProcess } from "./app-process.ts";
import { FIXTURE_BLOCKS, loadExpected } from "./fixture.ts";

export const REST_LINE = /REST server running on (\S+):(\d+)/;

/** The server's base URL (`http://127.0.0.1:<port>`), from its start-up line. */
export async function restUrl(app: AppProcess, timeoutMs = 60_000): Promise<string> {
  const line = await app.waitFor(REST_LINE, timeoutMs);
  const m = REST_LINE.exec(line)!;
  const host = m[1]!.includes(":") ? `[${m[1]}]` : m[1]!;
  return `http://${host}:${m[2]}`;
}

export interface RestResponse {
  readonly status: number;
  readonly headers: Headers;
  /** The media type of Content-Type, without parameters ("" when absent). */
  readonly contentType: string;
  readonly cacheControl: string | null;
  readonly bytes: Uint8Array;
  readonly text: string;
  /** The body parsed as JSON; throws (with the body) when it is not JSON. */
  readonly json: unknown;
}

export interface RequestOptions {
  body?: string | Uint8Array;
  headers?: Record<string, string>;
  /** Per-request deadline (default: the client's). */
  timeoutMs?: number;
}

export class RestClient {
  constructor(
    readonly base: string,
    readonly timeoutMs = 10_000,
  ) {}

  get(path: string, opts: RequestOptions = {}): Promise<RestResponse> {
    return this.request("GET", path, opts);
  }

  post(path: string, body: string | Uint8Array, opts: RequestOptions = {}): Promise<RestResponse> {
    return this.request("POST", path, { ...opts, body });
  }

  async request(method: string, path: string, opts: RequestOptions = {}): Promise<RestResponse> {
    const url = this.base + path;
    let res: Response;
    try {
      res = await fetch(url, {
        method,
        body: opts.body,
        headers: opts.headers,
        signal: AbortSignal.timeout(opts.timeoutMs ?? this.timeoutMs),
      });
    } catch (err) {
      throw new Error(`${method} ${path}: ${err instanceof Error ? err.message : String(err)}`);
    }
    const bytes = new Uint8Array(await res.arrayBuffer());
    return toRestResponse(res.status, res.headers, bytes, `${method} ${path}`);
  }

  /** GET that must answer 200 with JSON; returns the parsed body. */
  async json<T>(path: string): Promise<T> {
    const r = await this.get(path);
    if (r.status !== 200) throw new Error(`GET ${path}: expected 200, got ${r.status} ${r.text.slice(0, 300)}`);
    return r.json as T;
  }

  /** GET that must answer 200; returns the body as text. */
  async text(path: string): Promise<string> {
    const r = await this.get(path);
    if (r.status !== 200) throw new Error(`GET ${path}: expected 200, got ${r.status} ${r.text.slice(0, 300)}`);
    return r.text;
  }
}

export function toRestResponse(status: number, headers: Headers, bytes: Uint8Array, what: string): RestResponse {
  const text = new TextDecoder().decode(bytes);
  let parsed: { value: unknown } | null = null;
  return {
    status,
    headers,
    contentType: (headers.get("content-type") ?? "").split(";")[0]!.trim().toLowerCase(),
    cacheControl: headers.get("cache-control"),
    bytes,
    text,
    get json(): unknown {
      if (parsed === null) {
        try {
          parsed = { value: JSON.parse(text) };
        } catch {
          throw new Error(`${what}: the body is not JSON (status ${status}): ${text.slice(0, 300)}`);
        }
      }
      return parsed.value;
    },
  };
}

/** Runs `fn` over `items` with at most `limit` calls in flight; results in input order. */
export { pool as mapLimit } from "../../bench/lib/stats.ts";

/**
 * Polls `probe` until it returns a value other than undefined, or throws after `timeoutMs`.
 * `fatal` (checked before each probe) ends the wait at once with its message, e.g. when the
 * server process has exited.
 */
export async function pollUntil<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs = 10_000,
  everyMs = 50,
  fatal: () => string | null = () => null,
): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  let last: unknown = undefined;
  for (;;) {
    const dead = fatal();
    if (dead !== null) throw new Error(`while waiting for ${what}: ${dead}`);
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (performance.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}` + (last ? `; last error: ${String(last)}` : ""));
    }
    await Bun.sleep(everyMs);
  }
}

/**
 * The server process on the Core 30 fixture (--offline), every port free, in `db`; resolves once
 * the REST server answers at the fixture's tip.
 */
export async function startFixtureServer(db: string, extra: string[] = [], timeoutMs = 90_000): Promise<{ app: AppProcess; base: string; rest: RestClient }> {
  const app = spawnApp([
    "--network", "regtest", "--offline", "--blocks-dir", FIXTURE_BLOCKS, "--db-dir", db,
    "--http-addr", "127.0.0.1:0", "--monitoring-addr", "127.0.0.1:0", "--electrum-rpc-addr", "127.0.0.1:0",
    ...extra,
  ]);
  const base = await restUrl(app, timeoutMs);
  const rest = new RestClient(base, 10_000);
  const tip = String(loadExpected().tip.height);
  await pollUntil("the index at the fixture's tip", async () => ((await rest.get("/blocks/tip/height")).text === tip ? true : undefined), timeoutMs, 100);
  return { app, base, rest };
}

/** SIGTERM, then SIGKILL if the process is still there after 8 s. */
export async function stopApp(app: AppProcess | undefined): Promise<void> {
  if (!app) return;
  app.kill("SIGTERM");
  if ((await Promise.race([app.exited, Bun.sleep(8_000).then(() => null)])) === null) {
    app.kill("SIGKILL");
    await app.exited;
  }
}

// ---------------------------------------------------------------------------------------------
// Esplora JSON shapes (spec §1.2), in serialization order

export const TTL_LONG = 157784630;
export const TTL_SHORT = 10;
export const TTL_MEMPOOL_RECENT = 5;

export interface EsploraStatus {
  confirmed: boolean;
  block_height?: number;
  block_hash?: string;
  block_time?: number;
}

export interface EsploraVout {
  scriptpubkey: string;
  scriptpubkey_asm: string;
  scriptpubkey_type: string;
  scriptpubkey_address?: string;
  value: number;
}

export interface EsploraVin {
  txid: string;
  vout: number;
  prevout: EsploraVout | null;
  scriptsig: string;
  scriptsig_asm: string;
  witness?: string[];
  is_coinbase: boolean;
  sequence: number;
  inner_redeemscript_asm?: string;
  inner_witnessscript_asm?: string;
}

export interface EsploraTx {
  txid: string;
  version: number;
  locktime: number;
  vin: EsploraVin[];
  vout: EsploraVout[];
  size: number;
  weight: number;
  sigops?: number;
  fee: number;
  status: EsploraStatus;
}

export interface EsploraBlock {
  id: string;
  height: number;
  version: number;
  timestamp: number;
  tx_count: number;
  size: number;
  weight: number;
  merkle_root: string;
  previousblockhash: string | null;
  mediantime: number;
  nonce: number;
  bits: number;
  difficulty: number;
}

export interface EsploraBlockStatus {
  in_best_chain: boolean;
  height: number | null;
  next_best: string | null;
}

export interface EsploraOutspend {
  spent: boolean;
  txid?: string;
  vin?: number;
  status?: EsploraStatus;
}

export interface EsploraUtxo {
  txid: string;
  vout: number;
  status: EsploraStatus;
  value: number;
}

export interface EsploraStats {
  tx_count: number;
  funded_txo_count: number;
  spent_txo_count: number;
  funded_txo_sum: number;
  spent_txo_sum: number;
}

export interface EsploraScriptInfo {
  address?: string;
  scripthash?: string;
  chain_stats: EsploraStats;
  mempool_stats: EsploraStats;
}

export interface EsploraMerkleProof {
  block_height: number;
  merkle: string[];
  pos: number;
}

export interface EsploraSummary {
  txid: string;
  height: number;
  value: number;
  time: number;
  tx_position: number;
}

export interface EsploraBacklog {
  count: number;
  vsize: number;
  total_fee: number;
  fee_histogram: [number, number][];
}

export interface EsploraRecent {
  txid: string;
  fee: number;
  vsize: number;
  value: number;
}

/** Key orders of §1.2 (struct order; `json!{}` objects alphabetical). */
export const KEY_ORDER = {
  tx: ["txid", "version", "locktime", "vin", "vout", "size", "weight", "sigops", "fee", "status"],
  vin: ["txid", "vout", "prevout", "scriptsig", "scriptsig_asm", "witness", "is_coinbase", "sequence", "inner_redeemscript_asm", "inner_witnessscript_asm"],
  vout: ["scriptpubkey", "scriptpubkey_asm", "scriptpubkey_type", "scriptpubkey_address", "value"],
  status: ["confirmed", "block_height", "block_hash", "block_time"],
  block: ["id", "height", "version", "timestamp", "tx_count", "size", "weight", "merkle_root", "previousblockhash", "mediantime", "nonce", "bits", "difficulty"],
  blockStatus: ["in_best_chain", "height", "next_best"],
  outspend: ["spent", "txid", "vin", "status"],
  utxo: ["txid", "vout", "status", "value"],
  /** Struct order (where a stats object is serialized as a struct). */
  stats: ["tx_count", "funded_txo_count", "spent_txo_count", "funded_txo_sum", "spent_txo_sum"],
  /**
   * `/address` and `/scripthash` build their answer with `json!{}`: the stats structs become
   * serde_json maps there, whose keys (without preserve_order) come out sorted, nested ones too.
   */
  statsInJsonMacro: ["funded_txo_count", "funded_txo_sum", "spent_txo_count", "spent_txo_sum", "tx_count"],
  merkleProof: ["block_height", "merkle", "pos"],
  summary: ["txid", "height", "value", "time", "tx_position"],
  backlog: ["count", "vsize", "total_fee", "fee_histogram"],
  recent: ["txid", "fee", "vsize", "value"],
} as const;

/** Null when the keys of `obj` appear in `order` (a subsequence); else a description of what is wrong. */
export function keyOrderProblem(obj: unknown, order: readonly string[]): string | null {
  if (obj === null || typeof obj !== "object" || Array.isArray(obj)) return `not an object: ${JSON.stringify(obj)?.slice(0, 100)}`;
  const keys = Object.keys(obj);
  let last = -1;
  for (const k of keys) {
    const i = order.indexOf(k);
    if (i < 0) return `unexpected key ${k} in [${keys.join(",")}]`;
    if (i < last) return `key order [${keys.join(",")}], expected the order [${order.join(",")}]`;
    last = i;
  }
  return null;
}

/** Collects mismatches so one run reports all of them (with a cap on the message). */
export class Problems {
  readonly list: string[] = [];
  private readonly repeats = new Map<string, number>();
  add(msg: string): void {
    this.list.push(msg);
  }
  /** Records `msg` the first time `kind` goes wrong, then only counts (one line per kind of mistake). */
  once(kind: string, msg: string): void {
    const n = this.repeats.get(kind);
    if (n === undefined) this.list.push(msg);
    this.repeats.set(kind, (n ?? 0) + 1);
  }
  eq(label: string, actual: unknown, expected: unknown): boolean {
    if (Bun.deepEquals(actual, expected, true)) return true;
    this.list.push(`${label}: expected ${short(expected)}, got ${short(actual)}`);
    return false;
  }
  ok(label: string, cond: boolean, detail = ""): boolean {
    if (!cond) this.list.push(detail ? `${label}: ${detail}` : label);
    return cond;
  }
  /** "" when there were none: for `expect(problems.report()).toBe("")`. */
  report(max = 40): string {
    if (this.list.length === 0) return "";
    const more = this.list.length > max ? `\n… and ${this.list.length - max} more` : "";
    const repeated = [...this.repeats].filter(([, n]) => n > 1).map(([kind, n]) => `(${kind}: ${n} times in all)`);
    return `${this.list.length} problem(s):\n` + this.list.slice(0, max).join("\n") + more + (repeated.length ? "\n" + repeated.join("\n") : "");
  }
}

export function short(v: unknown, max = 400): string {
  const s = v === undefined ? "undefined" : JSON.stringify(v);
  return s.length > max ? s.slice(0, max) + "…" : s;
}

// ---------------------------------------------------------------------------------------------
// Independent re-computations used by the checks (not the server's code)

const HEXB = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));
const hexOf = (b: Uint8Array): string => {
  let s = "";
  for (let i = 0; i < b.length; i++) s += HEXB[b[i]!];
  return s;
};

const OPCODE_NAMES: Record<number, string> = {
  0x4f: "OP_PUSHNUM_NEG1", 0x50: "OP_RESERVED", 0x61: "OP_NOP", 0x63: "OP_IF", 0x64: "OP_NOTIF", 0x67: "OP_ELSE",
  0x68: "OP_ENDIF", 0x69: "OP_VERIFY", 0x6a: "OP_RETURN", 0x75: "OP_DROP", 0x76: "OP_DUP", 0x82: "OP_SIZE",
  0x87: "OP_EQUAL", 0x88: "OP_EQUALVERIFY", 0xa8: "OP_SHA256", 0xa9: "OP_HASH160", 0xaa: "OP_HASH256",
  0xac: "OP_CHECKSIG", 0xad: "OP_CHECKSIGVERIFY", 0xae: "OP_CHECKMULTISIG", 0xaf: "OP_CHECKMULTISIGVERIFY",
  0xb1: "OP_CLTV", 0xb2: "OP_CSV", 0xba: "OP_CHECKSIGADD",
};

/**
 * rust-bitcoin's script asm (`OP_0`, `OP_PUSHBYTES_20 <hex>`, `OP_PUSHNUM_1`, …), or null when the
 * script holds an opcode outside the small table above or a push past its end (then the caller
 * does not compare the asm text).
 */
export function rustBitcoinAsm(script: Uint8Array): string | null {
  const out: string[] = [];
  let i = 0;
  while (i < script.length) {
    const op = script[i++]!;
    if (op === 0) {
      out.push("OP_0");
    } else if (op <= 0x4e) {
      let n: number;
      let name: string;
      if (op <= 0x4b) {
        n = op;
        name = `OP_PUSHBYTES_${op}`;
      } else {
        const w = op === 0x4c ? 1 : op === 0x4d ? 2 : 4;
        if (i + w > script.length) return null;
        n = 0;
        for (let k = w - 1; k >= 0; k--) n = n * 256 + script[i + k]!;
        i += w;
        name = op === 0x4c ? "OP_PUSHDATA1" : op === 0x4d ? "OP_PUSHDATA2" : "OP_PUSHDATA4";
      }
      if (i + n > script.length) return null;
      out.push(`${name} ${hexOf(script.subarray(i, i + n))}`);
      i += n;
    } else if (op >= 0x51 && op <= 0x60) {
      out.push(`OP_PUSHNUM_${op - 0x50}`);
    } else {
      const name = OPCODE_NAMES[op];
      if (name === undefined) return null;
      out.push(name);
    }
  }
  return out.join(" ");
}

/** The data of the last instruction when it is a push (rust-bitcoin `instructions().last()` = PushBytes). */
export function lastPush(script: Uint8Array): Uint8Array | null {
  let i = 0;
  let last: Uint8Array | null = null;
  while (i < script.length) {
    const op = script[i++]!;
    if (op <= 0x4e) {
      let n = op;
      if (op > 0x4b) {
        const w = op === 0x4c ? 1 : op === 0x4d ? 2 : 4;
        if (i + w > script.length) return null;
        n = 0;
        for (let k = w - 1; k >= 0; k--) n = n * 256 + script[i + k]!;
        i += w;
      }
      if (i + n > script.length) return null;
      last = script.subarray(i, i + n);
      i += n;
    } else {
      last = null;
    }
  }
  return last;
}

export const isP2sh = (s: Uint8Array): boolean => s.length === 23 && s[0] === 0xa9 && s[1] === 0x14 && s[22] === 0x87;
export const isP2wsh = (s: Uint8Array): boolean => s.length === 34 && s[0] === 0x00 && s[1] === 0x20;

/** The `scriptpubkey_type` values electrs may give (BS; MP's `anchor` and `multisig` accepted too). */
export function allowedScriptTypes(s: Uint8Array): string[] {
  const n = s.length;
  if (n === 0) return ["empty"];
  if (s[0] === 0x6a) return ["op_return"];
  if ((n === 35 && s[0] === 33 && s[34] === 0xac) || (n === 67 && s[0] === 65 && s[66] === 0xac)) return ["p2pk"];
  if (n === 25 && s[0] === 0x76 && s[1] === 0xa9 && s[2] === 0x14 && s[23] === 0x88 && s[24] === 0xac) return ["p2pkh"];
  if (isP2sh(s)) return ["p2sh"];
  if (n === 22 && s[0] === 0x00 && s[1] === 0x14) return ["v0_p2wpkh"];
  if (isP2wsh(s)) return ["v0_p2wsh"];
  if (n === 34 && s[0] === 0x51 && s[1] === 0x20) return ["v1_p2tr"];
  if (n === 4 && s[0] === 0x51 && s[1] === 0x02 && s[2] === 0x4e && s[3] === 0x73) return ["unknown", "anchor"];
  if (n >= 37 && s[n - 1] === 0xae && s[0]! >= 0x51 && s[0]! <= 0x60) return ["unknown", "multisig"];
  return ["unknown"];
}

function sha256dOf(data: Uint8Array): Uint8Array {
  const a = new Uint8Array(32);
  const b = new Uint8Array(32);
  Bun.SHA256.hash(data, a);
  Bun.SHA256.hash(a, b);
  return b;
}

const revHexToBytes = (hex: string): Uint8Array => Uint8Array.from(Buffer.from(hex, "hex").reverse());
const bytesToRevHex = (b: Uint8Array): string => Buffer.from(b).reverse().toString("hex");

/** Display-hex block hash of an 80-byte header. */
export function headerHash(header: Uint8Array): string {
  return bytesToRevHex(sha256dOf(header.subarray(0, 80)));
}

/** The merkle root (display hex) that an Electrum-style proof (`merkle` in display hex, `pos`) gives for `txid`. */
export function merkleRootOfProof(txid: string, merkle: readonly string[], pos: number): string {
  let h = revHexToBytes(txid);
  let p = pos;
  for (const sibling of merkle) {
    const s = revHexToBytes(sibling);
    const buf = new Uint8Array(64);
    if (p & 1) {
      buf.set(s, 0);
      buf.set(h, 32);
    } else {
      buf.set(h, 0);
      buf.set(s, 32);
    }
    h = sha256dOf(buf);
    p >>= 1;
  }
  return bytesToRevHex(h);
}

export interface ParsedMerkleBlock {
  /** Display hex of sha256d(header). */
  blockHash: string;
  /** Display hex of the header's merkle root field. */
  headerMerkleRoot: string;
  totalTxs: number;
  /** Display hex of the root the partial tree computes. */
  computedRoot: string;
  matches: { txid: string; pos: number }[];
}

/** Parses bitcoind's serialized CMerkleBlock (header + BIP37 partial merkle tree) and walks the tree. */
export function parseMerkleBlock(hex: string): ParsedMerkleBlock {
  const b = Uint8Array.from(Buffer.from(hex, "hex"));
  if (b.length < 84) throw new Error(`merkleblock too short: ${b.length} bytes`);
  let o = 0;
  const varint = (): number => {
    const first = b[o++]!;
    if (first < 0xfd) return first;
    const w = first === 0xfd ? 2 : first === 0xfe ? 4 : 8;
    let n = 0;
    for (let k = w - 1; k >= 0; k--) n = n * 256 + b[o + k]!;
    o += w;
    return n;
  };
  const header = b.subarray(0, 80);
  o = 80;
  const totalTxs = b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! * 0x1000000);
  o += 4;
  const nHashes = varint();
  const hashes: Uint8Array[] = [];
  for (let i = 0; i < nHashes; i++) {
    if (o + 32 > b.length) throw new Error("merkleblock: hashes past the end");
    hashes.push(b.slice(o, o + 32));
    o += 32;
  }
  const nFlagBytes = varint();
  const flags = b.subarray(o, o + nFlagBytes);
  o += nFlagBytes;
  if (o !== b.length) throw new Error(`merkleblock: ${b.length - o} trailing bytes`);
  const width = (height: number) => (totalTxs + (1 << height) - 1) >> height;
  let height = 0;
  while (width(height) > 1) height++;
  let bitsUsed = 0;
  let hashUsed = 0;
  const matches: { txid: string; pos: number }[] = [];
  const traverse = (h: number, pos: number): Uint8Array => {
    if (bitsUsed >= flags.length * 8) throw new Error("merkleblock: ran out of flag bits");
    const parentOfMatch = ((flags[bitsUsed >> 3]! >> (bitsUsed & 7)) & 1) === 1;
    bitsUsed++;
    if (h === 0 || !parentOfMatch) {
      if (hashUsed >= hashes.length) throw new Error("merkleblock: ran out of hashes");
      const hash = hashes[hashUsed++]!;
      if (h === 0 && parentOfMatch) matches.push({ txid: bytesToRevHex(hash), pos });
      return hash;
    }
    const left = traverse(h - 1, pos * 2);
    const right = pos * 2 + 1 < width(h - 1) ? traverse(h - 1, pos * 2 + 1) : left;
    const buf = new Uint8Array(64);
    buf.set(left, 0);
    buf.set(right, 32);
    return sha256dOf(buf);
  };
  const root = traverse(height, 0);
  if (hashUsed !== hashes.length) throw new Error(`merkleblock: ${hashes.length - hashUsed} hashes left unused`);
  return {
    blockHash: headerHash(header),
    headerMerkleRoot: bytesToRevHex(header.subarray(36, 68)),
    totalTxs,
    computedRoot: bytesToRevHex(root),
    matches,
  };
}
