/**
 * Output scripts of the synthetic chain: the mainnet-like type mix, and a pool that models
 * address reuse (a few very popular scripts, a Zipf-distributed body, mostly fresh outputs).
 */
import type { Rng } from "./prng.ts";
import { copyBytes } from "./fast-hash.ts";
import { ByteWriter } from "./writer.ts";

export const P2WPKH = 0;
export const P2PKH = 1;
/** Always P2SH-P2WPKH (wrapped segwit), the dominant P2SH use on mainnet. */
export const P2SH = 2;
export const P2TR = 3;
/** A 2-of-3 multisig witness script, the typical P2WSH spend. */
export const P2WSH = 4;

export const TYPE_NAMES = ["p2wpkh", "p2pkh", "p2sh-p2wpkh", "p2tr", "p2wsh"] as const;

/** Cumulative mix of fresh output scripts: 65 % P2WPKH, 15 % P2PKH, 10 % P2SH, 8 % P2TR, 2 % P2WSH. */
const TYPE_CDF = [0.65, 0.8, 0.9, 0.98, 1];

/** Serialized scriptPubKey length (without its CompactSize prefix), by type. */
export const SCRIPT_LEN = [22, 25, 23, 34, 34];

export function drawType(rng: Rng): number {
  const r = rng.float();
  let t = 0;
  while (r >= TYPE_CDF[t]!) t++;
  return t;
}

/** Writes CompactSize length + scriptPubKey of `type` whose hash/key bytes are at `src[off..]` (≥ 32 bytes). */
export function writeScript(w: ByteWriter, type: number, src: Uint8Array, off: number): void {
  const b = w.buf;
  let p = w.pos;
  b[p++] = SCRIPT_LEN[type]!;
  switch (type) {
    case P2WPKH:
      b[p++] = 0x00; // OP_0
      b[p++] = 0x14;
      copyBytes(src, off, b, p, 20);
      p += 20;
      break;
    case P2PKH:
      b[p++] = 0x76; // OP_DUP
      b[p++] = 0xa9; // OP_HASH160
      b[p++] = 0x14;
      copyBytes(src, off, b, p, 20);
      p += 20;
      b[p++] = 0x88; // OP_EQUALVERIFY
      b[p++] = 0xac; // OP_CHECKSIG
      break;
    case P2SH:
      b[p++] = 0xa9; // OP_HASH160
      b[p++] = 0x14;
      copyBytes(src, off, b, p, 20);
      p += 20;
      b[p++] = 0x87; // OP_EQUAL
      break;
    case P2TR:
      b[p++] = 0x51; // OP_1
      b[p++] = 0x20;
      copyBytes(src, off, b, p, 32);
      p += 32;
      break;
    case P2WSH:
      b[p++] = 0x00;
      b[p++] = 0x20;
      copyBytes(src, off, b, p, 32);
      p += 32;
      break;
    default:
      throw new Error(`unknown script type ${type}`);
  }
  w.pos = p;
}

/** The scriptPubKey bytes of a pool entry (for meta.json; not on the hot path). */
export function scriptBytes(type: number, payload: Uint8Array): Uint8Array {
  const tmp = new ByteWriter(64);
  writeScript(tmp, type, payload, 0);
  return tmp.buf.slice(1, tmp.pos);
}

/** Share of all outputs paid to each of the popular scripts (an exchange-like hot wallet and two services). */
export const POPULAR_SHARES = [0.04, 0.02, 0.01] as const;
const POPULAR_TYPES = [P2WPKH, P2PKH, P2SH] as const;
/** Coinbase outputs go to one of these mining-pool scripts. */
export const MINER_SCRIPTS = 4;
/** Among non-popular outputs, the share paid to an already used script (Zipf over the pool). */
const REUSE_SHARE = 0.3;
/** Entries below this index are tracked for meta.json (popular, miners, and the Zipf head). */
export const TRACKED = 24;

/**
 * All scripts ever created, as (type, 32-byte payload) entries. Index 0..2 are the popular scripts,
 * then the miners, then the reusable body in creation order: Zipf rank r is entry FIRST_BODY + r, so
 * the oldest addresses are the most reused (long-lived services), as on mainnet.
 */
export class ScriptPool {
  readonly types: Uint8Array;
  readonly payloads: Uint8Array;
  private readonly payloadWords: Uint32Array;
  size = 0;
  /** Outputs paid to each of the first TRACKED entries. */
  readonly counts = new Float64Array(TRACKED);
  readonly firstMiner = POPULAR_TYPES.length;
  readonly firstBody = POPULAR_TYPES.length + MINER_SCRIPTS;

  constructor(
    private readonly rng: Rng,
    readonly capacity: number,
  ) {
    this.types = new Uint8Array(capacity);
    this.payloads = new Uint8Array(capacity * 32);
    this.payloadWords = new Uint32Array(this.payloads.buffer);
    for (const t of POPULAR_TYPES) this.create(t);
    for (let i = 0; i < MINER_SCRIPTS; i++) this.create(i % 2 === 0 ? P2WPKH : P2PKH);
  }

  payload(index: number): Uint8Array {
    return this.payloads.subarray(index * 32, index * 32 + 32);
  }

  /** Picks the script of a new non-coinbase output and returns its entry index. */
  drawOutput(): number {
    const rng = this.rng;
    const r = rng.float();
    let index: number;
    if (r < POPULAR_SHARES[0]) index = 0;
    else if (r < POPULAR_SHARES[0] + POPULAR_SHARES[1]) index = 1;
    else if (r < POPULAR_SHARES[0] + POPULAR_SHARES[1] + POPULAR_SHARES[2]) index = 2;
    else if (this.size > this.firstBody && rng.float() < REUSE_SHARE) index = this.firstBody + this.zipfRank(this.size - this.firstBody);
    else index = this.create(drawType(rng));
    if (index < TRACKED) this.counts[index]!++;
    return index;
  }

  drawMiner(): number {
    const index = this.firstMiner + this.rng.int(MINER_SCRIPTS);
    this.counts[index]!++;
    return index;
  }

  /**
   * Rank in [0, n) with P(r) ∝ ln((r + 2) / (r + 1)) ≈ 1 / (r + 1): the continuous inverse CDF
   * of Zipf(s = 1), which needs no harmonic-number table and no rejection loop.
   */
  private zipfRank(n: number): number {
    const r = Math.floor(Math.exp(this.rng.float() * Math.log(n + 1))) - 1;
    return r < n ? r : n - 1;
  }

  /**
   * A fresh script with a random payload. Once the pool is full a fresh script overwrites a random
   * entry of the upper half: the reused head stays stable and memory stays bounded.
   */
  private create(type: number): number {
    let index: number;
    if (this.size < this.capacity) index = this.size++;
    else index = (this.capacity >>> 1) + this.rng.int(this.capacity >>> 1);
    this.types[index] = type;
    const w = this.payloadWords;
    const base = index * 8;
    for (let k = 0; k < 8; k++) w[base + k] = this.rng.u32();
    return index;
  }
}
