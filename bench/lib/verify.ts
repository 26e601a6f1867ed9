/**
 * Self-check of a generated chain, reading the files back the way an indexer would: de-XOR,
 * split records, order blocks by prev links (the files are not in height order), parse every
 * block with src/bitcoin/block.ts, and replay the UTXO set to prove every spend valid.
 */
import { computeWtxid, parseBlock, parseHeader, type Block, type Tx } from "../../src/bitcoin/block.ts";
import { bytesEqual, hashToHex } from "../../src/bitcoin/bytes.ts";
import { sha256dParts } from "../../src/bitcoin/hash.ts";
import { readBlkFiles, type BlkFile, type BlkRecord } from "./blk-files.ts";
import { COINBASE_MATURITY, compactToTarget, hashMeetsTarget, merkleRootOf, subsidy } from "./chain-gen.ts";
import { REGTEST_GENESIS_HASH_HEX } from "./genesis.ts";

export interface ChainMeta {
  txs: number;
  blocks: number;
  bytes: number;
  tipHashHex: string;
  popularScripts: { scriptHex: string; outputs: number }[];
}

export interface VerifyReport {
  files: number;
  blocks: number;
  txs: number;
  bytes: number;
  tipHeight: number;
  tipHashHex: string;
  /** Records whose parent appears later in file order. */
  outOfOrder: number;
  segwitTxs: number;
  inputs: number;
  outputs: number;
  /** Spends of an output created earlier in the same block. */
  sameBlockSpends: number;
  utxosAtTip: number;
  /** Funding + spending rows of each popular script, by script hex. */
  popularHistory: Record<string, { outputs: number; spends: number }>;
  /** Problems found; empty when the chain is valid. */
  errors: string[];
}

interface Located {
  rec: BlkRecord;
  prevHex: string;
}

interface TxOutputs {
  values: number[];
  /** Index into the popular list, -1 otherwise. */
  popular: number[];
  height: number;
  coinbase: boolean;
  unspent: number;
}

const MAX_ERRORS = 20;

export function verifyChain(dir: string, meta?: ChainMeta): VerifyReport {
  const files = readBlkFiles(dir);
  const errors: string[] = [];
  const fail = (msg: string): void => {
    if (errors.length < MAX_ERRORS) errors.push(msg);
  };
  const { byHash, outOfOrder } = locateBlocks(files, fail);
  const order = bestChain(byHash, fail);

  const popularHex = (meta?.popularScripts ?? []).map((p) => p.scriptHex);
  const popularIndex = new Map(popularHex.map((h, i) => [h, i]));
  const popularOutputs = popularHex.map(() => 0);
  const popularSpends = popularHex.map(() => 0);
  const utxos = new Map<string, TxOutputs>();
  const target = compactToTarget(0x207fffff);
  const report: VerifyReport = {
    files: files.length,
    blocks: order.length,
    txs: 0,
    bytes: 0,
    tipHeight: order.length - 1,
    tipHashHex: order[order.length - 1] ?? "",
    outOfOrder,
    segwitTxs: 0,
    inputs: 0,
    outputs: 0,
    sameBlockSpends: 0,
    utxosAtTip: 0,
    popularHistory: {},
    errors,
  };

  let prevTime = 0;
  for (let height = 0; height < order.length; height++) {
    const { rec } = byHash.get(order[height]!)!;
    const file = files[rec.file]!;
    let block: Block;
    try {
      block = parseBlock(file.data.subarray(rec.offset, rec.offset + rec.size));
    } catch (e) {
      fail(`height ${height}: parseBlock failed: ${(e as Error).message}`);
      continue;
    }
    report.txs += block.txs.length;
    report.bytes += block.size;
    const where = `height ${height} (${order[height]})`;
    checkHeader(block, height, prevTime, target, where, fail);
    prevTime = block.header.time;
    if (height === 0) {
      // The genesis output never entered the UTXO set.
      continue;
    }
    checkCoinbaseShape(block, height, where, fail);

    let fees = 0;
    const blockStart = new Set<string>();
    for (let t = 0; t < block.txs.length; t++) {
      const tx = block.txs[t]!;
      if (tx.hasWitness) report.segwitTxs++;
      const txidHex = hashToHex(tx.txid);
      let inSum = 0;
      if (!tx.isCoinbase) {
        for (const input of tx.inputs) {
          report.inputs++;
          const prevHex = hashToHex(input.prevTxid);
          const prev = utxos.get(prevHex);
          const value = prev?.values[input.prevVout];
          if (!prev || value === undefined || value < 0) {
            fail(`${where} tx ${txidHex}: spends missing or spent output ${prevHex}:${input.prevVout}`);
            continue;
          }
          if (prev.coinbase && height - prev.height < COINBASE_MATURITY) {
            fail(`${where} tx ${txidHex}: spends immature coinbase ${prevHex}`);
          }
          if (blockStart.has(prevHex)) report.sameBlockSpends++;
          const p = prev.popular[input.prevVout]!;
          if (p >= 0) popularSpends[p]!++;
          inSum += value;
          prev.values[input.prevVout] = -1;
          if (--prev.unspent === 0) utxos.delete(prevHex);
        }
      }
      const entry = recordOutputs(tx, height, popularIndex, popularOutputs);
      report.outputs += tx.outputs.length;
      if (utxos.has(txidHex)) fail(`${where}: duplicate txid ${txidHex}`);
      if (entry.unspent > 0) utxos.set(txidHex, entry);
      blockStart.add(txidHex);
      if (!tx.isCoinbase) {
        const outSum = sumOutputs(tx);
        if (outSum > inSum) fail(`${where} tx ${txidHex}: outputs ${outSum} exceed inputs ${inSum}`);
        fees += inSum - outSum;
      }
    }
    const cbOut = sumOutputs(block.txs[0]!);
    if (cbOut > subsidy(height) + fees) fail(`${where}: coinbase pays ${cbOut} > subsidy + fees ${subsidy(height) + fees}`);
  }

  for (const e of utxos.values()) report.utxosAtTip += e.unspent;
  popularHex.forEach((h, i) => {
    report.popularHistory[h] = { outputs: popularOutputs[i]!, spends: popularSpends[i]! };
  });
  if (meta) checkMeta(report, meta, fail);
  return report;
}

/** Pass 1: header of every record, by hash. */
function locateBlocks(files: BlkFile[], fail: (m: string) => void): { byHash: Map<string, Located>; outOfOrder: number } {
  const byHash = new Map<string, Located>();
  let outOfOrder = 0;
  for (const file of files) {
    if (file.trailing > 0 && !file.trailingIsPadding) fail(`${file.name}: ${file.trailing} trailing bytes are not zero padding`);
    for (const rec of file.records) {
      const header = parseHeader(file.data, rec.offset);
      const hashHex = hashToHex(header.hash);
      const prevHex = hashToHex(header.prevHash);
      if (byHash.has(hashHex)) fail(`block ${hashHex} stored twice`);
      if (hashHex !== REGTEST_GENESIS_HASH_HEX && !byHash.has(prevHex)) outOfOrder++;
      byHash.set(hashHex, { rec, prevHex });
    }
  }
  return { byHash, outOfOrder };
}

/** Follows prev links from genesis; the chain must be linear and hold every stored block. */
function bestChain(byHash: Map<string, Located>, fail: (m: string) => void): string[] {
  const children = new Map<string, string[]>();
  for (const [hash, loc] of byHash) {
    if (hash === REGTEST_GENESIS_HASH_HEX) continue;
    if (!byHash.has(loc.prevHex)) fail(`block ${hash}: parent ${loc.prevHex} not found`);
    const list = children.get(loc.prevHex) ?? [];
    list.push(hash);
    children.set(loc.prevHex, list);
  }
  if (!byHash.has(REGTEST_GENESIS_HASH_HEX)) {
    fail("regtest genesis block not found");
    return [];
  }
  const order = [REGTEST_GENESIS_HASH_HEX];
  for (;;) {
    const next = children.get(order[order.length - 1]!);
    if (!next) break;
    if (next.length > 1) fail(`fork after ${order[order.length - 1]}: ${next.length} children`);
    order.push(next[0]!);
  }
  if (order.length !== byHash.size) fail(`${byHash.size - order.length} stored blocks are not on the chain`);
  return order;
}

function checkHeader(
  block: Block,
  height: number,
  prevTime: number,
  target: Uint8Array,
  where: string,
  fail: (m: string) => void,
): void {
  const h = block.header;
  const txids = new Uint8Array(block.txs.length * 32);
  block.txs.forEach((tx, i) => txids.set(tx.txid, i * 32));
  if (!bytesEqual(merkleRootOf(txids, block.txs.length), h.merkleRoot)) fail(`${where}: merkle root mismatch`);
  if (height === 0) return;
  if (h.bits !== 0x207fffff) fail(`${where}: bits ${h.bits.toString(16)}`);
  if (!hashMeetsTarget(h.hash, target)) fail(`${where}: hash above the regtest target`);
  if (h.time <= prevTime) fail(`${where}: time ${h.time} not after ${prevTime}`);
  if (!block.txs[0]!.isCoinbase) fail(`${where}: first tx is not a coinbase`);
  for (let i = 1; i < block.txs.length; i++) if (block.txs[i]!.isCoinbase) fail(`${where}: second coinbase at ${i}`);
}

/** BIP34 height push and BIP141 witness commitment. */
function checkCoinbaseShape(block: Block, height: number, where: string, fail: (m: string) => void): void {
  const cb = block.txs[0]!;
  const sig = cb.inputs[0]!.scriptSig;
  const pushed = sig[0]! >= 0x51 && sig[0]! <= 0x60 ? sig[0]! - 0x50 : readScriptNum(sig);
  if (pushed !== height) fail(`${where}: BIP34 height ${pushed}`);

  const commitOut = cb.outputs.find((o) => o.script.length >= 38 && o.script[0] === 0x6a && o.script[1] === 0x24 && o.script[2] === 0xaa && o.script[3] === 0x21 && o.script[4] === 0xa9 && o.script[5] === 0xed);
  if (!commitOut) {
    if (block.txs.some((t) => t.hasWitness)) fail(`${where}: witness txs without a commitment`);
    return;
  }
  const wtxids = new Uint8Array(block.txs.length * 32);
  block.txs.forEach((tx, i) => {
    if (i > 0) wtxids.set(computeWtxid(tx), i * 32);
  });
  const nonce = cb.inputs[0]!.witness[0] ?? new Uint8Array(32);
  const expected = sha256dParts([merkleRootOf(wtxids, block.txs.length), nonce]);
  if (!bytesEqual(expected, commitOut.script.subarray(6, 38))) fail(`${where}: witness commitment mismatch`);
}

function readScriptNum(script: Uint8Array): number {
  const len = script[0]!;
  let v = 0;
  for (let i = len; i >= 1; i--) v = v * 256 + script[i]!;
  return v;
}

function recordOutputs(tx: Tx, height: number, popularIndex: Map<string, number>, popularOutputs: number[]): TxOutputs {
  const values: number[] = [];
  const popular: number[] = [];
  let unspent = 0;
  for (const out of tx.outputs) {
    const spendable = out.script[0] !== 0x6a; // OP_RETURN never enters the UTXO set
    values.push(spendable ? out.valueSat : -1);
    if (spendable) unspent++;
    let p = -1;
    if (popularIndex.size > 0) {
      p = popularIndex.get(Buffer.from(out.script.buffer, out.script.byteOffset, out.script.length).toString("hex")) ?? -1;
      if (p >= 0) popularOutputs[p]!++;
    }
    popular.push(p);
  }
  return { values, popular, height, coinbase: tx.isCoinbase, unspent };
}

function sumOutputs(tx: Tx): number {
  let s = 0;
  for (const o of tx.outputs) s += o.valueSat;
  return s;
}

function checkMeta(r: VerifyReport, meta: ChainMeta, fail: (m: string) => void): void {
  if (r.txs !== meta.txs) fail(`meta.txs ${meta.txs} but the files hold ${r.txs}`);
  if (r.blocks !== meta.blocks) fail(`meta.blocks ${meta.blocks} but the chain has ${r.blocks}`);
  if (r.bytes !== meta.bytes) fail(`meta.bytes ${meta.bytes} but blocks total ${r.bytes}`);
  if (r.tipHashHex !== meta.tipHashHex) fail(`meta.tipHashHex ${meta.tipHashHex} but the tip is ${r.tipHashHex}`);
  for (const p of meta.popularScripts) {
    const seen = r.popularHistory[p.scriptHex]?.outputs ?? 0;
    if (seen !== p.outputs) fail(`popular script ${p.scriptHex}: meta says ${p.outputs} outputs, files hold ${seen}`);
  }
}
