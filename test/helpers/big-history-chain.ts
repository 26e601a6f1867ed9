/**
 * A regtest chain, written as Core's blk files, whose one script has a big history: after the
 * genesis block, a coinbase, then `txs` transactions in a chain (each spends the previous one's
 * change) that each pay 1,000 sat to BIG_SCRIPT, and every 10,000th also to SMALL_SCRIPT; with
 * `spread` = k, tx n also pays 500 sat to the (n mod k)-th of k more scripts (spreadScriptHex), so
 * that k addresses each have txs/k txs (a multi-address body of ordinary histories). Built
 * in a few seconds (100k txs: ~7 MB), for the hostile-client tests of big answers. Legacy
 * serialization (no witness), empty scriptSigs: the indexer does not validate scripts.
 */
import { BlkWriter } from "../../bench/lib/blk-files.ts";
import { coinbaseScriptSig, compactToTarget, hashMeetsTarget, merkleRootOf } from "../../bench/lib/chain-gen.ts";
import { GENESIS_TIME, REGTEST_GENESIS_HASH_HEX, regtestGenesisBlock } from "../../bench/lib/genesis.ts";
import { hexToHash } from "../../src/bitcoin/bytes.ts";
import { sha256d } from "../../src/bitcoin/hash.ts";

export const BIG_SCRIPT_HEX = "0014" + "b1".repeat(20);
export const SMALL_SCRIPT_HEX = "0014" + "5a".repeat(20);
const CHANGE_SCRIPT = Uint8Array.from(Buffer.from("0014" + "c4".repeat(20), "hex"));
const BIG = Uint8Array.from(Buffer.from(BIG_SCRIPT_HEX, "hex"));
const SMALL = Uint8Array.from(Buffer.from(SMALL_SCRIPT_HEX, "hex"));
const BITS = 0x207fffff;

/** The i-th of the `spread` scripts (writeBigHistoryChain): P2WPKH of a program that holds i. */
export function spreadScriptHex(i: number): string {
  return "0014" + i.toString(16).padStart(8, "0") + "d7".repeat(16);
}

class Bytes {
  private buf = new Uint8Array(1 << 16);
  private view = new DataView(this.buf.buffer);
  pos = 0;
  private room(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.pos + n));
    next.set(this.buf);
    this.buf = next;
    this.view = new DataView(next.buffer);
  }
  u8(v: number): this {
    this.room(1);
    this.buf[this.pos++] = v;
    return this;
  }
  u32(v: number): this {
    this.room(4);
    this.view.setUint32(this.pos, v >>> 0, true);
    this.pos += 4;
    return this;
  }
  u64(v: number): this {
    this.room(8);
    this.view.setBigUint64(this.pos, BigInt(v), true);
    this.pos += 8;
    return this;
  }
  varint(v: number): this {
    if (v < 0xfd) return this.u8(v);
    this.u8(0xfd);
    this.room(2);
    this.view.setUint16(this.pos, v, true);
    this.pos += 2;
    return this;
  }
  bytes(b: Uint8Array): this {
    this.room(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
    return this;
  }
  take(): Uint8Array {
    return this.buf.slice(0, this.pos);
  }
}

function tx(prevTxid: Uint8Array, prevVout: number, scriptSig: Uint8Array, outputs: [Uint8Array, number][]): Uint8Array {
  const w = new Bytes().u32(2).varint(1).bytes(prevTxid).u32(prevVout).varint(scriptSig.length).bytes(scriptSig).u32(0xffffffff);
  w.varint(outputs.length);
  for (const [script, value] of outputs) w.u64(value).varint(script.length).bytes(script);
  return w.u32(0).take();
}

function block(prevHash: Uint8Array, time: number, txs: Uint8Array[]): { hash: Uint8Array; bytes: Uint8Array } {
  const txids = new Uint8Array(txs.length * 32);
  txs.forEach((t, i) => txids.set(sha256d(t), i * 32));
  const target = compactToTarget(BITS);
  const header = new Bytes().u32(0x20000000).bytes(prevHash).bytes(merkleRootOf(txids, txs.length)).u32(time).u32(BITS).u32(0).take();
  const view = new DataView(header.buffer);
  let hash = sha256d(header);
  for (let nonce = 1; !hashMeetsTarget(hash, target); nonce++) {
    view.setUint32(76, nonce, true);
    hash = sha256d(header);
  }
  const w = new Bytes().bytes(header).varint(txs.length);
  for (const t of txs) w.bytes(t);
  return { hash, bytes: w.take() };
}

/** Writes the chain into `blocksDir` (xor.dat included); returns the tip height. */
export function writeBigHistoryChain(blocksDir: string, opts: { txs: number; perBlock: number; spread?: number }): number {
  const spread = Array.from({ length: opts.spread ?? 0 }, (_, i) => Uint8Array.from(Buffer.from(spreadScriptHex(i), "hex")));
  const writer = new BlkWriter(blocksDir, Uint8Array.of(0x5e, 0x11, 0x2a, 0x07, 0x90, 0x3c, 0xd4, 0x81));
  writer.write(regtestGenesisBlock());
  let prevHash = hexToHash(REGTEST_GENESIS_HASH_HEX);
  let height = 0;
  let time = GENESIS_TIME;
  const coinbase = (h: number) => tx(new Uint8Array(32), 0xffffffff, coinbaseScriptSig(h, 0, 0), [[CHANGE_SCRIPT, 5_000_000_000]]);
  // Height 1: the coinbase the chain of txs starts from.
  let prev = coinbase(1);
  let prevVout = 0;
  let change = 5_000_000_000;
  let b = block(prevHash, ++time, [prev]);
  writer.write(b.bytes);
  prevHash = b.hash;
  height = 1;
  for (let done = 0; done < opts.txs; ) {
    height++;
    const txs = [coinbase(height)];
    for (let i = 0; i < opts.perBlock && done < opts.txs; i++, done++) {
      const outs: [Uint8Array, number][] = [[BIG, 1_000]];
      change -= 1_000 + 200;
      if (done % 10_000 === 0) {
        outs.push([SMALL, 2_000]);
        change -= 2_000;
      }
      if (spread.length > 0) {
        outs.push([spread[done % spread.length]!, 500]);
        change -= 500;
      }
      // The change is output 1 of every tx (output 0 of the height-1 coinbase).
      outs.splice(1, 0, [CHANGE_SCRIPT, change]);
      const t = tx(sha256d(prev), prevVout, new Uint8Array(0), outs);
      txs.push(t);
      prev = t;
      prevVout = 1;
    }
    b = block(prevHash, ++time, txs);
    writer.write(b.bytes);
    prevHash = b.hash;
  }
  writer.finish(false);
  return height;
}
