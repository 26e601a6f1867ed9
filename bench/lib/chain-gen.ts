/**
 * Synthetic mainnet-like chain: the regtest genesis, then 100 coinbase-only blocks (as regtest's
 * `generatetoaddress 101`, so the first coinbase has matured), then full blocks of ~blockTxs
 * transactions spending the UTXO set. Everything is consensus-shaped except proof of signatures:
 * valid merkle roots, BIP34 heights, BIP141 witness commitments, coinbase maturity, no double
 * spends, value conservation, and even regtest proof of work (≈2 nonces per block).
 */
import { sha256d, sha256dParts } from "../../src/bitcoin/hash.ts";
import { hashToHex } from "../../src/bitcoin/bytes.ts";
import { regtestGenesisBlock } from "./genesis.ts";
import { Rng } from "./prng.ts";
import { P2PKH, P2SH, P2TR, P2WPKH, P2WSH, ScriptPool, writeScript } from "./scripts.ts";
import { TxidTable, UtxoPool } from "./utxos.ts";
import { ByteWriter, varintSize } from "./writer.ts";
import { copyBytes, HashScratch, sha256dInto } from "./fast-hash.ts";

export const COINBASE_MATURITY = 100;
/** Regtest halves the subsidy every 150 blocks. */
const HALVING_INTERVAL = 150;
const REGTEST_BITS = 0x207fffff;
const BLOCK_VERSION = 0x20000000;
const FIRST_BLOCK_TIME = 1_700_000_000;
/** Outputs of the height-1 coinbase, the seed of the whole UTXO set. */
const BOOTSTRAP_OUTPUTS = 1000;
/** Below this many UTXOs every tx is 1-in-3-out, growing the set quickly after bootstrap. */
const LOW_UTXOS = 3000;
/** Approximate vsize of an input by spent script type (fee estimation only). */
const INPUT_VSIZE = [68, 148, 91, 58, 105];
/** Random bytes for signatures, keys and hashes; copied from random offsets (cheaper than a PRNG call per 4 bytes). */
const NOISE_SIZE = 1 << 20;
const MAX_TX_SIZE = 4096;

export interface ChainOptions {
  /** Total transactions including the genesis coinbase. */
  txs: number;
  seed: number;
  /** Mean transactions per full block (jittered ±25 %). */
  blockTxs: number;
}

export interface BlockOut {
  height: number;
  hash: Uint8Array;
  bytes: Uint8Array;
  txCount: number;
}

export class ChainGenerator {
  private readonly rng: Rng;
  readonly scripts: ScriptPool;
  private readonly utxos = new UtxoPool();
  private readonly txids = new TxidTable();
  private readonly noise: Uint8Array;
  private readonly body = new ByteWriter(4 << 20);
  private readonly cb = new ByteWriter(1 << 16);
  private readonly header = new Uint8Array(80);
  private readonly headerView = new DataView(this.header.buffer);
  private readonly target: Uint8Array;
  /** Coinbase outputs waiting for maturity, by the height at which they become spendable. */
  private readonly maturing = new Map<number, { txNum: number; types: number[]; values: number[] }>();
  private blockTxids = new Uint8Array(0);
  private blockWtxids = new Uint8Array(0);
  private prevHash: Uint8Array = new Uint8Array(32);
  private height = -1;
  /** Transactions emitted so far (genesis coinbase included). */
  txCount = 0;
  // Per-tx scratch (at most 3 inputs and 3 outputs).
  private readonly inTxNum = [0, 0, 0];
  private readonly inVout = [0, 0, 0];
  private readonly inType = [0, 0, 0];
  private readonly outEntry = [0, 0, 0];
  private readonly outValue = [0, 0, 0];
  /** Non-witness serialization of the current tx, for its txid. */
  private readonly scratch = new HashScratch(MAX_TX_SIZE);
  private readonly hashOut = new Uint8Array(32);

  constructor(private readonly opts: ChainOptions) {
    this.rng = new Rng(opts.seed);
    // Bounded: fresh scripts beyond capacity overwrite the cold half (see ScriptPool).
    this.scripts = new ScriptPool(this.rng, Math.min(1 << 22, Math.max(1 << 16, opts.txs * 2)));
    this.noise = new Uint8Array(NOISE_SIZE + 128);
    const words = new Uint32Array(this.noise.buffer);
    for (let i = 0; i < words.length; i++) words[i] = this.rng.u32();
    this.target = compactToTarget(REGTEST_BITS);
  }

  get done(): boolean {
    return this.txCount >= this.opts.txs;
  }

  /** The next block (genesis first); call while !done. */
  next(): BlockOut {
    const height = ++this.height;
    if (height === 0) return this.genesis();
    this.releaseMatured(height);
    const remaining = this.opts.txs - this.txCount;
    let count = 1;
    if (height > COINBASE_MATURITY) {
      const mean = this.opts.blockTxs;
      count = Math.max(1, Math.round(mean * (0.75 + 0.5 * this.rng.float())));
    }
    count = Math.min(count, remaining);
    return this.buildBlock(height, count);
  }

  private genesis(): BlockOut {
    const bytes = regtestGenesisBlock();
    const hash = sha256d(bytes.subarray(0, 80));
    this.prevHash = hash;
    this.txCount = 1;
    // The genesis output is not spendable (never entered Core's UTXO set): not pooled.
    return { height: 0, hash, bytes, txCount: 1 };
  }

  private releaseMatured(height: number): void {
    const m = this.maturing.get(height);
    if (!m) return;
    this.maturing.delete(height);
    for (let v = 0; v < m.types.length; v++) this.utxos.add(m.txNum, v, m.types[v]!, m.values[v]!);
  }

  private buildBlock(height: number, count: number): BlockOut {
    if (this.blockTxids.length < count * 32) {
      this.blockTxids = new Uint8Array(count * 64);
      this.blockWtxids = new Uint8Array(count * 64);
    }
    const body = this.body;
    body.reset();
    let fees = 0;
    for (let i = 1; i < count; i++) fees += this.writeTx(height, i);
    const coinbase = this.writeCoinbase(height, count, subsidy(height) + fees);
    const merkleRoot = merkleRootOf(this.blockTxids, count);
    const hash = this.writeHeader(height, merkleRoot);

    const bytes = new Uint8Array(80 + varintSize(count) + coinbase.length + body.pos);
    bytes.set(this.header, 0);
    const w = new ByteWriter(0);
    w.buf = bytes;
    w.pos = 80;
    w.varint(count);
    w.bytes(coinbase);
    w.bytes(body.view());
    this.prevHash = hash;
    this.txCount += count;
    return { height, hash, bytes, txCount: count };
  }

  /** Header with regtest PoW: nonces are tried from 0; about half of all hashes meet 0x207fffff. */
  private writeHeader(height: number, merkleRoot: Uint8Array): Uint8Array {
    const h = this.header;
    const dv = this.headerView;
    dv.setUint32(0, BLOCK_VERSION, true);
    h.set(this.prevHash, 4);
    h.set(merkleRoot, 36);
    // Strictly increasing, so always above the median time past.
    dv.setUint32(68, FIRST_BLOCK_TIME + height * 600 + this.rng.int(300), true);
    dv.setUint32(72, REGTEST_BITS, true);
    for (let nonce = 0; ; nonce++) {
      dv.setUint32(76, nonce, true);
      const hash = sha256d(h);
      if (hashMeetsTarget(hash, this.target)) return hash;
    }
  }

  /** Writes one non-coinbase tx to the block body; returns its fee. */
  private writeTx(height: number, slot: number): number {
    const rng = this.rng;
    const utxos = this.utxos;
    if (utxos.size === 0) throw new Error(`UTXO set empty at height ${height}`);
    const low = utxos.size < LOW_UTXOS;
    let nIn = low ? 1 : pickInputCount(rng);
    if (nIn > utxos.size) nIn = utxos.size;
    const nOut = low ? 3 : rng.float() < 0.75 ? 2 : 3;

    let inSum = 0;
    let vsize = 11 + 31 * nOut;
    let segwit = false;
    for (let i = 0; i < nIn; i++) {
      const u = utxos.pick(rng);
      this.inTxNum[i] = utxos.txNum[u]!;
      this.inVout[i] = utxos.vout[u]!;
      const type = utxos.type[u]!;
      this.inType[i] = type;
      inSum += utxos.value[u]!;
      utxos.remove(u);
      vsize += INPUT_VSIZE[type]!;
      if (type !== P2PKH) segwit = true;
    }
    const fee = Math.min(inSum, (1 + rng.int(30)) * vsize);
    this.splitValue(inSum - fee, nOut);
    for (let o = 0; o < nOut; o++) this.outEntry[o] = this.scripts.drawOutput();

    const w = this.body;
    w.ensure(MAX_TX_SIZE);
    const start = w.pos;
    w.u32(rng.float() < 0.9 ? 2 : 1);
    if (segwit) {
      w.u8(0); // BIP144 marker
      w.u8(1); // flag
    }
    const bodyStart = w.pos;
    w.varint(nIn);
    for (let i = 0; i < nIn; i++) {
      copyBytes(this.txids.data, this.inTxNum[i]! * 32, w.buf, w.pos, 32);
      w.pos += 32;
      w.u32(this.inVout[i]!);
      this.writeScriptSig(this.inType[i]!);
      w.u32(rng.float() < 0.7 ? 0xfffffffd : 0xffffffff); // RBF-signalling majority
    }
    w.varint(nOut);
    for (let o = 0; o < nOut; o++) {
      w.u64(this.outValue[o]!);
      const e = this.outEntry[o]!;
      writeScript(w, this.scripts.types[e]!, this.scripts.payloads, e * 32);
    }
    const outputsEnd = w.pos;
    if (segwit) for (let i = 0; i < nIn; i++) this.writeWitness(this.inType[i]!);
    const lockPos = w.pos;
    w.u32(rng.float() < 0.4 ? height - 1 : 0); // anti-fee-sniping locktime, as Core wallets set
    const txNum = this.hashTx(start, bodyStart, outputsEnd, lockPos, segwit, slot);
    for (let o = 0; o < nOut; o++) utxos.add(txNum, o, this.scripts.types[this.outEntry[o]!]!, this.outValue[o]!);
    return fee;
  }

  /**
   * Txid (and wtxid for the witness commitment) of the tx just written at body[start..pos):
   * the non-witness serialization is assembled in the scratch buffer, like Core's txid rule.
   */
  private hashTx(start: number, bodyStart: number, outputsEnd: number, lockPos: number, segwit: boolean, slot: number): number {
    const buf = this.body.buf;
    const end = this.body.pos;
    const s = this.scratch.buf;
    copyBytes(buf, start, s, 0, 4);
    const bodyLen = outputsEnd - bodyStart;
    copyBytes(buf, bodyStart, s, 4, bodyLen);
    copyBytes(buf, lockPos, s, 4 + bodyLen, 4);
    const out = this.hashOut;
    sha256dInto(this.scratch.view(8 + bodyLen), out);
    copyBytes(out, 0, this.blockTxids, slot * 32, 32);
    if (segwit) sha256dInto(buf.subarray(start, end), out);
    copyBytes(out, 0, this.blockWtxids, slot * 32, 32);
    return this.txids.add(this.blockTxids, slot * 32);
  }

  /** Payments take 5–55 % of what is left each, the last output is the change. */
  private splitValue(total: number, nOut: number): void {
    let left = total;
    for (let o = 0; o < nOut - 1; o++) {
      const v = Math.floor(left * (0.05 + 0.5 * this.rng.float()));
      this.outValue[o] = v;
      left -= v;
    }
    this.outValue[nOut - 1] = left;
  }

  private writeScriptSig(type: number): void {
    const w = this.body;
    if (type === P2PKH) {
      // <sig> <pubkey>: ~107 bytes.
      const sigLen = this.sigLen();
      w.u8(1 + sigLen + 1 + 33);
      w.u8(sigLen);
      this.writeSig(sigLen);
      w.u8(33);
      this.writePubkey();
    } else if (type === P2SH) {
      // Push of the P2WPKH redeem script 0014<20>.
      w.u8(23);
      w.u8(22);
      w.u8(0);
      w.u8(20);
      this.writeNoise(20);
    } else {
      w.u8(0);
    }
  }

  private writeWitness(type: number): void {
    const w = this.body;
    switch (type) {
      case P2PKH:
        w.u8(0); // legacy input inside a segwit tx: empty stack
        break;
      case P2WPKH:
      case P2SH: {
        w.u8(2);
        const sigLen = this.sigLen();
        w.u8(sigLen);
        this.writeSig(sigLen);
        w.u8(33);
        this.writePubkey();
        break;
      }
      case P2TR:
        w.u8(1);
        w.u8(64); // Schnorr key-path signature, default sighash
        this.writeNoise(64);
        break;
      case P2WSH: {
        // 2-of-3 multisig: <> <sig> <sig> <52 21..21..21.. 53 ae>
        w.u8(4);
        w.u8(0);
        for (let k = 0; k < 2; k++) {
          const sigLen = this.sigLen();
          w.u8(sigLen);
          this.writeSig(sigLen);
        }
        w.u8(105);
        w.u8(0x52);
        for (let k = 0; k < 3; k++) {
          w.u8(33);
          this.writePubkey();
        }
        w.u8(0x53);
        w.u8(0xae);
        break;
      }
      default:
        throw new Error(`unknown script type ${type}`);
    }
  }

  /** DER signature + sighash byte: 71 or 72 bytes, as low-R grinding is not universal. */
  private sigLen(): number {
    return this.rng.float() < 0.5 ? 71 : 72;
  }

  private writeSig(len: number): void {
    this.body.u8(0x30);
    this.writeNoise(len - 2);
    this.body.u8(0x01); // SIGHASH_ALL
  }

  private writePubkey(): void {
    this.body.u8(0x02 | (this.rng.u32() & 1));
    this.writeNoise(32);
  }

  private writeNoise(n: number): void {
    const w = this.body;
    copyBytes(this.noise, this.rng.u32() & (NOISE_SIZE - 1), w.buf, w.pos, n);
    w.pos += n;
  }

  /**
   * Coinbase (slot 0): BIP34 height, reward to a mining-pool script (at height 1: split over
   * BOOTSTRAP_OUTPUTS fresh scripts to seed the UTXO set), BIP141 witness commitment.
   */
  private writeCoinbase(height: number, count: number, reward: number): Uint8Array {
    const rng = this.rng;
    const outEntries: number[] = [];
    const outValues: number[] = [];
    if (height === 1) {
      const each = Math.floor(reward / BOOTSTRAP_OUTPUTS);
      for (let i = 0; i < BOOTSTRAP_OUTPUTS; i++) {
        outEntries.push(this.scripts.drawOutput());
        outValues.push(i === BOOTSTRAP_OUTPUTS - 1 ? reward - each * (BOOTSTRAP_OUTPUTS - 1) : each);
      }
    } else if (rng.float() < 0.8) {
      outEntries.push(this.scripts.drawMiner());
      outValues.push(reward);
    } else {
      // Some pools pay part of the reward straight to a second script.
      const part = Math.floor(reward * 0.1);
      outEntries.push(this.scripts.drawMiner(), this.scripts.drawMiner());
      outValues.push(reward - part, part);
    }

    // wtxid of the coinbase counts as zero in the witness merkle tree.
    this.blockWtxids.fill(0, 0, 32);
    const witnessRoot = merkleRootOf(this.blockWtxids, count);
    const witnessNonce = new Uint8Array(32);
    const commitment = sha256dParts([witnessRoot, witnessNonce]);

    const w = this.cb;
    w.reset();
    w.ensure(100 + 40 * outEntries.length);
    w.u32(2);
    w.u8(0);
    w.u8(1);
    const bodyStart = w.pos;
    w.varint(1);
    w.zeros(32);
    w.u32(0xffffffff);
    const scriptSig = coinbaseScriptSig(height, rng.u32(), rng.u32());
    w.varint(scriptSig.length);
    w.bytes(scriptSig);
    w.u32(0xffffffff);
    w.varint(outEntries.length + 1);
    for (let o = 0; o < outEntries.length; o++) {
      w.u64(outValues[o]!);
      const e = outEntries[o]!;
      writeScript(w, this.scripts.types[e]!, this.scripts.payloads, e * 32);
    }
    w.u64(0);
    w.u8(38);
    w.bytes(Uint8Array.of(0x6a, 0x24, 0xaa, 0x21, 0xa9, 0xed)); // OP_RETURN push36 "aa21a9ed"
    w.bytes(commitment);
    const outputsEnd = w.pos;
    w.u8(1); // witness: the 32-byte reserved value
    w.u8(32);
    w.bytes(witnessNonce);
    const lockPos = w.pos;
    w.u32(0);
    const buf = w.buf;
    const txid = sha256dParts([buf.subarray(0, 4), buf.subarray(bodyStart, outputsEnd), buf.subarray(lockPos, lockPos + 4)]);
    this.blockTxids.set(txid, 0);
    const txNum = this.txids.add(txid, 0);
    this.maturing.set(height + COINBASE_MATURITY, {
      txNum,
      types: outEntries.map((e) => this.scripts.types[e]!),
      values: outValues,
    });
    return w.view();
  }

}

function pickInputCount(rng: Rng): number {
  const r = rng.float();
  return r < 0.55 ? 1 : r < 0.85 ? 2 : 3;
}

export function subsidy(height: number): number {
  const halvings = Math.floor(height / HALVING_INTERVAL);
  return halvings >= 64 ? 0 : Math.floor(5_000_000_000 / 2 ** halvings);
}

/** BIP34 height as Core's `CScript() << height` (OP_1..OP_16 or a minimal CScriptNum push), then an extranonce and a tag. */
export function coinbaseScriptSig(height: number, extra1: number, extra2: number): Uint8Array {
  const w = new ByteWriter(64);
  if (height >= 1 && height <= 16) {
    w.u8(0x50 + height);
  } else {
    const num: number[] = [];
    for (let v = height; v > 0; v = Math.floor(v / 256)) num.push(v & 0xff);
    if (num[num.length - 1]! & 0x80) num.push(0); // keep it positive
    w.u8(num.length);
    for (const b of num) w.u8(b);
  }
  w.u8(8);
  w.u32(extra1);
  w.u32(extra2);
  const tag = new TextEncoder().encode("/electrs-bun bench/");
  w.u8(tag.length);
  w.bytes(tag);
  return w.buf.slice(0, w.pos);
}

/** Bitcoin's merkle root over `count` 32-byte hashes in `hashes` (the last one duplicated on odd levels). */
export function merkleRootOf(hashes: Uint8Array, count: number): Uint8Array {
  if (count === 1) return hashes.slice(0, 32);
  const level = hashes.slice(0, count * 32);
  const pair = new Uint8Array(64);
  const out = new Uint8Array(32);
  let n = count;
  while (n > 1) {
    const half = Math.ceil(n / 2);
    for (let i = 0; i < half; i++) {
      const l = 2 * i;
      const r = l + 1 < n ? l + 1 : l;
      copyBytes(level, l * 32, pair, 0, 32);
      copyBytes(level, r * 32, pair, 32, 32);
      sha256dInto(pair, out);
      copyBytes(out, 0, level, i * 32, 32);
    }
    n = half;
  }
  return level.slice(0, 32);
}

/** 256-bit target of a compact nBits, little-endian like the hashes it is compared with. */
export function compactToTarget(bits: number): Uint8Array {
  const exponent = bits >>> 24;
  const mantissa = bits & 0x7fffff;
  const target = new Uint8Array(32);
  for (let i = 0; i < 3; i++) {
    const pos = exponent - 3 + i;
    if (pos >= 0 && pos < 32) target[pos] = (mantissa >>> (8 * i)) & 0xff;
  }
  return target;
}

export function hashMeetsTarget(hash: Uint8Array, target: Uint8Array): boolean {
  for (let i = 31; i >= 0; i--) {
    if (hash[i]! !== target[i]!) return hash[i]! < target[i]!;
  }
  return true;
}

export function blockHashHex(hash: Uint8Array): string {
  return hashToHex(hash);
}
