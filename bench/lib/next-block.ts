/**
 * One more block on top of a synthetic chain, for the Electrum notification benchmark: built the
 * way bench/lib/chain-gen.ts builds its blocks (BIP34 height, BIP141 witness commitment, merkle
 * root, regtest proof of work), with payments chosen by the caller, and published as a new blk
 * file in Core's format (magic | u32le size | block, XOR-ed with xor.dat from file offset 0).
 *
 * Each payment is a 1-in-2-out wallet tx: it spends one real UTXO of a script (S) and pays part
 * of it to another script (P) with the change back to S, so that it touches exactly {S, P}.
 * Signatures are random bytes of realistic sizes (the indexer does not verify them).
 */
import { closeSync, fsyncSync, openSync, renameSync, writeSync } from "node:fs";
import { join } from "node:path";
import { computeWtxid, parseBlock, parseTxExact } from "../../src/bitcoin/block.ts";
import { hashToHex, hexToBytes, hexToHash } from "../../src/bitcoin/bytes.ts";
import { sha256d, sha256dParts } from "../../src/bitcoin/hash.ts";
import { merkleRoot } from "../../src/bitcoin/merkle.ts";
import { blkFileName, REGTEST_MAGIC, xorInPlace } from "./blk-files.ts";
import { coinbaseScriptSig, compactToTarget, hashMeetsTarget, subsidy } from "./chain-gen.ts";
import { Rng } from "./prng.ts";
import { ByteWriter } from "./writer.ts";

const BLOCK_VERSION = 0x20000000;
const REGTEST_BITS = 0x207fffff;

export interface Utxo {
  /** Display-order hex, as Electrum's listunspent gives it. */
  txidHex: string;
  vout: number;
  valueSat: number;
  scriptHex: string;
}

export interface Payment {
  spend: Utxo;
  payToScriptHex: string;
}

export interface NextBlockSpec {
  /** Internal byte order. */
  prevHash: Uint8Array;
  height: number;
  time: number;
  /** The coinbase pays subsidy + fees here. */
  minerScriptHex: string;
  payments: readonly Payment[];
  seed: number;
}

export interface BuiltBlock {
  height: number;
  /** Internal byte order. */
  hash: Uint8Array;
  hashHex: string;
  bytes: Uint8Array;
  /** Display-order hex of the payment txs (coinbase excluded). */
  txidsHex: string[];
}

export function buildNextBlock(spec: NextBlockSpec): BuiltBlock {
  const rng = new Rng(spec.seed);
  let fees = 0;
  const txs: Uint8Array[] = [];
  for (const p of spec.payments) {
    const fee = Math.min(Math.floor(p.spend.valueSat / 10), 200 * 141);
    fees += fee;
    txs.push(paymentTx(p, fee, rng));
  }
  const parsed = txs.map((t) => parseTxExact(t));
  // The coinbase's wtxid counts as zero in the witness tree (BIP141).
  const witnessRoot = merkleRoot([new Uint8Array(32), ...parsed.map(computeWtxid)]);
  const coinbase = coinbaseTx(spec, subsidy(spec.height) + fees, sha256dParts([witnessRoot, new Uint8Array(32)]), rng);
  const all = [coinbase, ...txs];
  const root = merkleRoot([parseTxExact(coinbase).txid, ...parsed.map((t) => t.txid)]);
  const header = mineHeader(spec, root);

  const w = new ByteWriter(1 << 16);
  w.ensure(80 + 9 + all.reduce((a, t) => a + t.length, 0));
  w.bytes(header);
  w.varint(all.length);
  for (const t of all) w.bytes(t);
  const bytes = w.buf.slice(0, w.pos);
  const block = parseBlock(bytes);
  return {
    height: spec.height,
    hash: block.header.hash,
    hashHex: hashToHex(block.header.hash),
    bytes,
    txidsHex: parsed.map((t) => hashToHex(t.txid)),
  };
}

/**
 * Publishes `block` as blkNNNNN.dat in `dir`: written under a temporary name, fsynced, then renamed,
 * so that a scan never sees half a record. Returns performance.now() right after the rename.
 */
export function publishBlockFile(dir: string, fileIndex: number, xorKey: Uint8Array, block: Uint8Array): number {
  const record = new Uint8Array(8 + block.length);
  record.set(REGTEST_MAGIC, 0);
  new DataView(record.buffer).setUint32(4, block.length, true);
  record.set(block, 8);
  xorInPlace(record, record.length, 0, xorKey);
  const name = blkFileName(fileIndex);
  const tmp = join(dir, `.${name}.tmp`);
  const fd = openSync(tmp, "w");
  try {
    writeSync(fd, record);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, join(dir, name));
  return performance.now();
}

type ScriptKind = "p2wpkh" | "p2pkh" | "p2sh" | "p2tr" | "p2wsh";

function kindOf(script: Uint8Array): ScriptKind {
  if (script.length === 22 && script[0] === 0x00 && script[1] === 0x14) return "p2wpkh";
  if (script.length === 25 && script[0] === 0x76) return "p2pkh";
  if (script.length === 23 && script[0] === 0xa9) return "p2sh";
  if (script.length === 34 && script[0] === 0x51) return "p2tr";
  if (script.length === 34 && script[0] === 0x00) return "p2wsh";
  throw new Error(`unexpected script type ${Buffer.from(script).toString("hex")}`);
}

function paymentTx(p: Payment, feeSat: number, rng: Rng): Uint8Array {
  const spent = hexToBytes(p.spend.scriptHex);
  const kind = kindOf(spent);
  const segwit = kind !== "p2pkh";
  const payTo = hexToBytes(p.payToScriptHex);
  const left = p.spend.valueSat - feeSat;
  const paySat = Math.floor(left / 2);
  const w = new ByteWriter(1024);
  w.u32(2);
  if (segwit) {
    w.u8(0); // BIP144 marker
    w.u8(1); // flag
  }
  w.varint(1);
  w.bytes(hexToHash(p.spend.txidHex));
  w.u32(p.spend.vout);
  if (kind === "p2pkh") {
    const sig = noise(rng, 72);
    const pub = noise(rng, 33);
    w.varint(2 + sig.length + pub.length);
    pushData(w, sig);
    pushData(w, pub);
  } else if (kind === "p2sh") {
    // Push of the P2WPKH redeem script 0014<20>.
    w.u8(23);
    w.u8(22);
    w.u8(0);
    w.u8(20);
    w.bytes(noise(rng, 20));
  } else {
    w.u8(0);
  }
  w.u32(0xfffffffd);
  w.varint(2);
  w.u64(paySat);
  w.varint(payTo.length);
  w.bytes(payTo);
  w.u64(left - paySat);
  w.varint(spent.length);
  w.bytes(spent); // change back to the spender
  if (segwit) {
    const stack = kind === "p2tr" ? [noise(rng, 64)] : kind === "p2wsh" ? [new Uint8Array(0), noise(rng, 72), noise(rng, 72), noise(rng, 105)] : [noise(rng, 72), noise(rng, 33)];
    w.varint(stack.length);
    for (const item of stack) {
      w.varint(item.length);
      w.bytes(item);
    }
  }
  w.u32(0);
  return w.buf.slice(0, w.pos);
}

function coinbaseTx(spec: NextBlockSpec, rewardSat: number, commitment: Uint8Array, rng: Rng): Uint8Array {
  const miner = hexToBytes(spec.minerScriptHex);
  const w = new ByteWriter(256);
  w.u32(2);
  w.u8(0);
  w.u8(1);
  w.varint(1);
  w.zeros(32);
  w.u32(0xffffffff);
  const scriptSig = coinbaseScriptSig(spec.height, rng.u32(), rng.u32());
  w.varint(scriptSig.length);
  w.bytes(scriptSig);
  w.u32(0xffffffff);
  w.varint(2);
  w.u64(rewardSat);
  w.varint(miner.length);
  w.bytes(miner);
  w.u64(0);
  w.u8(38);
  w.bytes(Uint8Array.of(0x6a, 0x24, 0xaa, 0x21, 0xa9, 0xed)); // OP_RETURN push36 "aa21a9ed"
  w.bytes(commitment);
  w.u8(1); // witness: the 32-byte reserved value
  w.u8(32);
  w.zeros(32);
  w.u32(0);
  return w.buf.slice(0, w.pos);
}

function mineHeader(spec: NextBlockSpec, merkle: Uint8Array): Uint8Array {
  const h = new Uint8Array(80);
  const dv = new DataView(h.buffer);
  dv.setUint32(0, BLOCK_VERSION, true);
  h.set(spec.prevHash, 4);
  h.set(merkle, 36);
  dv.setUint32(68, spec.time, true);
  dv.setUint32(72, REGTEST_BITS, true);
  const target = compactToTarget(REGTEST_BITS);
  for (let nonce = 0; ; nonce++) {
    dv.setUint32(76, nonce, true);
    if (hashMeetsTarget(sha256d(h), target)) return h;
  }
}

function pushData(w: ByteWriter, data: Uint8Array): void {
  w.u8(data.length); // < 76 bytes: a direct push
  w.bytes(data);
}

function noise(rng: Rng, n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = rng.u32() & 0xff;
  return out;
}
