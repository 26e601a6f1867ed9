import { describe, expect, test } from "bun:test";
import { computeWtxid, outputOfTx, parseBlock, parseHeader, parseTx, parseTxExact, txidOfExact, type Tx } from "../../../src/bitcoin/block.ts";
import { bytesEqual, concatBytes, hashToHex, hexToBytes } from "../../../src/bitcoin/bytes.ts";
import { sha256d } from "../../../src/bitcoin/hash.ts";
import { ParseError } from "../../../src/errors.ts";
import { expected, expectedTx } from "./fixture.ts";

const txEntries = Object.entries(expected.txs);
const parsedTxs = new Map<string, Tx>(txEntries.map(([txidHex, t]) => [txidHex, parseTxExact(hexToBytes(t.hex))]));

function parsed(txidHex: string): Tx {
  const tx = parsedTxs.get(txidHex);
  if (tx === undefined) throw new Error(`no parsed tx ${txidHex}`);
  return tx;
}

function varint(n: number): Uint8Array {
  if (n < 0xfd) return Uint8Array.of(n);
  return Uint8Array.of(0xfd, n & 0xff, n >> 8);
}

function assembleBlock(b: (typeof expected.blocks)[number]): Uint8Array {
  return concatBytes(hexToBytes(b.header), varint(b.txids.length), ...b.txids.map((id) => hexToBytes(expectedTx(id).hex)));
}

/** Throws unless `f` throws a ParseError (any other exception fails the test with its own message). */
function expectParseError(f: () => unknown, label: string): void {
  try {
    f();
  } catch (e) {
    if (e instanceof ParseError) return;
    throw new Error(`${label}: expected ParseError, got ${String(e)}`);
  }
  throw new Error(`${label}: expected ParseError, parsed without error`);
}

const legacyTxid = txEntries.find(([id]) => !parsed(id).hasWitness && !parsed(id).isCoinbase)?.[0];
/** The small segwit tx with the most witness items (a multisig P2WSH spend in this fixture). */
const segwitTxid = txEntries
  .filter(([id]) => parsed(id).hasWitness && !parsed(id).isCoinbase && parsed(id).size < 1000)
  .map(([id]) => [id, parsed(id).inputs.reduce((n, i) => n + i.witness.length, 0)] as const)
  .sort((a, b) => b[1] - a[1])[0]?.[0];
const coinbaseTxid = expected.blocks[5]!.txids[0]!;

describe("parseTx on every fixture tx", () => {
  test(`all ${txEntries.length} txs: txid, size, vsize, weight`, () => {
    expect(txEntries.length).toBeGreaterThan(700);
    for (const [txidHex, t] of txEntries) {
      const tx = parsed(txidHex);
      expect(hashToHex(tx.txid)).toBe(txidHex);
      expect(tx.size).toBe(t.size);
      expect(tx.vsize).toBe(t.vsize);
      expect(tx.weight).toBe(t.weight);
      expect(tx.raw.length).toBe(t.size);
      expect(tx.isCoinbase).toBe(t.fee_sat === null);
    }
  });

  test("txid from raw: sha256d(raw) for legacy txs; wtxid is sha256d(raw) for all", () => {
    for (const [txidHex] of txEntries) {
      const tx = parsed(txidHex);
      expect(bytesEqual(computeWtxid(tx), sha256d(tx.raw))).toBe(true);
      if (!tx.hasWitness) {
        expect(hashToHex(sha256d(tx.raw))).toBe(txidHex);
        expect(computeWtxid(tx)).toBe(tx.txid);
      } else {
        expect(bytesEqual(computeWtxid(tx), tx.txid)).toBe(false);
      }
    }
  });

  test("fixture covers legacy, segwit and coinbase txs", () => {
    expect(legacyTxid).toBeDefined();
    expect(segwitTxid).toBeDefined();
    expect(parsed(coinbaseTxid).isCoinbase).toBe(true);
  });

  test("input and output values give Core's fee for every non-coinbase tx", () => {
    for (const [txidHex, t] of txEntries) {
      const tx = parsed(txidHex);
      const outSat = tx.outputs.reduce((s, o) => s + o.valueSat, 0);
      if (tx.isCoinbase) {
        expect(tx.inputs[0]!.prevVout).toBe(0xffffffff);
        continue;
      }
      let inSat = 0;
      for (const input of tx.inputs) {
        const prev = parsed(hashToHex(input.prevTxid));
        inSat += prev.outputs[input.prevVout]!.valueSat;
      }
      expect(inSat - outSat).toBe(t.fee_sat!);
    }
  });

  test("fields are views into the input buffer, witness only on segwit inputs", () => {
    const t = expectedTx(segwitTxid!);
    const buf = hexToBytes(t.hex);
    const tx = parseTxExact(buf);
    expect(tx.raw.buffer).toBe(buf.buffer);
    expect(tx.outputs[0]!.script.buffer).toBe(buf.buffer);
    expect(tx.inputs[0]!.prevTxid.buffer).toBe(buf.buffer);
    expect(tx.inputs.some((i) => i.witness.length > 0)).toBe(true);
    // Non-empty items are views; empty ones (the multisig dummy) share one empty array.
    for (const i of tx.inputs) for (const w of i.witness) if (w.length > 0) expect(w.buffer).toBe(buf.buffer);
    expect(tx.inputs.some((i) => i.witness.some((w) => w.length === 0))).toBe(true);
    expect(tx.inputs[0]!.scriptSig.length).toBe(0);
    const legacy = parsed(legacyTxid!);
    for (const i of legacy.inputs) expect(i.witness.length).toBe(0);
  });

  test("parseTx at an offset reports the end", () => {
    const a = hexToBytes(expectedTx(legacyTxid!).hex);
    const b = hexToBytes(expectedTx(segwitTxid!).hex);
    const buf = concatBytes(new Uint8Array(3), a, b);
    const first = parseTx(buf, 3);
    expect(first.end).toBe(3 + a.length);
    const second = parseTx(buf, first.end);
    expect(second.end).toBe(buf.length);
    expect(hashToHex(second.tx.txid)).toBe(segwitTxid!);
  });

  test("a legacy tx re-serialized with a witness keeps its txid", () => {
    const raw = hexToBytes(expectedTx(legacyTxid!).hex);
    const tx = parsed(legacyTxid!);
    const witnesses = tx.inputs.map(() => Uint8Array.of(1, 1, 0xab)); // one 1-byte item per input
    const segwit = concatBytes(raw.subarray(0, 4), Uint8Array.of(0, 1), raw.subarray(4, raw.length - 4), ...witnesses, raw.subarray(raw.length - 4));
    const sw = parseTxExact(segwit);
    expect(sw.hasWitness).toBe(true);
    expect(bytesEqual(sw.txid, tx.txid)).toBe(true);
    expect(sw.size).toBe(raw.length + 2 + 3 * tx.inputs.length);
    expect(sw.weight).toBe(raw.length * 3 + sw.size);
    expect(sw.vsize).toBe(Math.ceil(sw.weight / 4));
    expect(Array.from(sw.inputs[0]!.witness[0]!)).toEqual([0xab]);
  });
});

describe("txidOfExact (the structure only)", () => {
  test("every fixture tx: its txid", () => {
    for (const [txidHex, t] of txEntries) expect(hashToHex(txidOfExact(hexToBytes(t.hex)))).toBe(txidHex);
  });

  test("malformed: every truncation, trailing bytes, a bad segwit flag, a superfluous witness record", () => {
    for (const id of [legacyTxid!, segwitTxid!, coinbaseTxid]) {
      const raw = hexToBytes(expectedTx(id).hex);
      for (let n = 0; n < raw.length; n++) expectParseError(() => txidOfExact(raw.subarray(0, n)), `${id} truncated to ${n}`);
      expect(() => txidOfExact(concatBytes(raw, Uint8Array.of(0)))).toThrow(/1 trailing bytes after transaction/);
    }
    const raw = hexToBytes(expectedTx(legacyTxid!).hex);
    expect(() => txidOfExact(concatBytes(raw.subarray(0, 4), Uint8Array.of(0, 2), raw.subarray(4)))).toThrow(/unknown transaction optional data/);
    const n = parsed(legacyTxid!).inputs.length;
    const emptyWitness = concatBytes(raw.subarray(0, 4), Uint8Array.of(0, 1), raw.subarray(4, raw.length - 4), new Uint8Array(n), raw.subarray(raw.length - 4));
    expect(() => txidOfExact(emptyWitness)).toThrow(/superfluous witness record/);
  });
});

describe("outputOfTx (one output, walked to)", () => {
  test("every output of every fixture tx is the parser's, and past the last one there is none", () => {
    let outputs = 0;
    for (const [txidHex, t] of txEntries) {
      const raw = hexToBytes(t.hex);
      const tx = parsed(txidHex);
      tx.outputs.forEach((o, vout) => {
        const got = outputOfTx(raw, vout)!;
        expect(got.valueSat).toBe(o.valueSat);
        expect(bytesEqual(got.script, o.script)).toBe(true);
        outputs++;
      });
      expect(outputOfTx(raw, tx.outputs.length)).toBeNull();
    }
    expect(outputs).toBeGreaterThan(txEntries.length);
  });

  test("a tx cut short before its output: a ParseError, never another output", () => {
    const raw = hexToBytes(expectedTx(segwitTxid!).hex);
    const last = parsed(segwitTxid!).outputs.length - 1;
    // The output's bytes end before the witness: cutting anywhere up to there must throw.
    const end = raw.length - 4 - parsed(segwitTxid!).inputs.reduce((n, i) => n + 1 + i.witness.reduce((m, w) => m + 1 + w.length, 0), 0);
    for (let n = 0; n < end; n++) expectParseError(() => outputOfTx(raw.subarray(0, n), last), `cut to ${n}`);
  });
});

describe("parse options", () => {
  test("witness: false gives the same txids, sizes and weights with empty witnesses", () => {
    for (const b of expected.blocks) {
      const bytes = assembleBlock(b);
      const full = parseBlock(bytes);
      const lean = parseBlock(bytes, { witness: false });
      expect(lean.weight).toBe(full.weight);
      lean.txs.forEach((tx, i) => {
        const f = full.txs[i]!;
        expect(bytesEqual(tx.txid, f.txid)).toBe(true);
        expect([tx.size, tx.weight, tx.vsize, tx.hasWitness]).toEqual([f.size, f.weight, f.vsize, f.hasWitness]);
        expect(tx.inputs.every((input) => input.witness.length === 0)).toBe(true);
        expect(bytesEqual(parseTxExact(tx.raw).inputs[0]!.witness[0] ?? new Uint8Array(0), f.inputs[0]!.witness[0] ?? new Uint8Array(0))).toBe(true);
      });
    }
  });
});

describe("synthetic large segwit tx", () => {
  test("txid of a tx whose non-witness part exceeds the hashing scratch buffer", () => {
    const inputs = 500; // 500 × 41 bytes > 16 KiB
    const parts: Uint8Array[] = [Uint8Array.of(2, 0, 0, 0)];
    const body: Uint8Array[] = [varint(inputs)];
    for (let i = 0; i < inputs; i++) {
      const input = new Uint8Array(41);
      input[0] = i & 0xff;
      input[1] = i >> 8;
      input[36] = 0; // empty scriptSig
      body.push(input);
    }
    body.push(Uint8Array.of(1), new Uint8Array(8), Uint8Array.of(1, 0x51)); // one OP_TRUE output of 0 sat
    const witness = Array.from({ length: inputs }, () => Uint8Array.of(2, 0, 1, 0x07)); // [empty, 0x07]
    const lockTime = Uint8Array.of(9, 0, 0, 0);
    const legacy = concatBytes(parts[0]!, ...body, lockTime);
    const segwit = concatBytes(parts[0]!, Uint8Array.of(0, 1), ...body, ...witness, lockTime);
    const tx = parseTxExact(segwit);
    expect(txidOfExact(segwit)).toEqual(tx.txid);
    expect(legacy.length).toBeGreaterThan(16 * 1024);
    expect(bytesEqual(tx.txid, sha256d(legacy))).toBe(true);
    expect(bytesEqual(tx.txid, parseTxExact(legacy).txid)).toBe(true);
    expect(tx.weight).toBe(legacy.length * 3 + segwit.length);
    expect(tx.inputs[499]!.witness.map((w) => Array.from(w))).toEqual([[], [0x07]]);
    expect(tx.lockTime).toBe(9);
    expect(tx.isCoinbase).toBe(false);
  });
});

describe("parseHeader on every fixture header", () => {
  test(`${expected.blocks.length} headers: hash, chain links, fields`, () => {
    let prev: Uint8Array | undefined;
    for (const b of expected.blocks) {
      const h = parseHeader(hexToBytes(b.header));
      expect(hashToHex(h.hash)).toBe(b.hash);
      expect(h.version).toBe(b.version);
      expect(h.time).toBe(b.time);
      expect(h.nonce).toBe(b.nonce);
      expect(h.bits).toBe(Number.parseInt(b.bits, 16));
      expect(hashToHex(h.merkleRoot)).toBe(b.merkleroot);
      expect(h.raw.length).toBe(80);
      if (prev === undefined) {
        expect(b.previousblockhash).toBeNull();
        expect(h.prevHash.every((x) => x === 0)).toBe(true);
      } else {
        expect(bytesEqual(h.prevHash, prev)).toBe(true);
        expect(hashToHex(h.prevHash)).toBe(b.previousblockhash!);
      }
      prev = h.hash;
    }
    expect(hashToHex(prev!)).toBe(expected.blocks.at(-1)!.hash);
    expect(expected.blocks[0]!.hash).toBe(expected.genesis);
  });

  test("header at an offset; truncated header throws", () => {
    const raw = hexToBytes(expected.blocks[3]!.header);
    const h = parseHeader(concatBytes(new Uint8Array(7), raw), 7);
    expect(hashToHex(h.hash)).toBe(expected.blocks[3]!.hash);
    expectParseError(() => parseHeader(raw.subarray(0, 79)), "79-byte header");
    expectParseError(() => parseHeader(raw, 1), "header at offset 1");
  });
});

describe("parseBlock on blocks reassembled from the fixture", () => {
  test(`${expected.blocks.length} blocks: size, weight, txids in order`, () => {
    for (const b of expected.blocks) {
      const bytes = assembleBlock(b);
      const block = parseBlock(bytes);
      expect(hashToHex(block.header.hash)).toBe(b.hash);
      expect(block.size).toBe(b.size);
      expect(block.weight).toBe(b.weight);
      expect(block.txs.map((t) => hashToHex(t.txid))).toEqual([...b.txids]);
      expect(block.txs[0]!.isCoinbase).toBe(true);
      expect(block.txs.slice(1).some((t) => t.isCoinbase)).toBe(false);
    }
  });

  test("a block with more than 0xfc txs exercises the 3-byte tx count", () => {
    const b = expected.blocks.find((x) => x.txids.length >= 2)!;
    const txs = b.txids.map((id) => hexToBytes(expectedTx(id).hex));
    const many: Uint8Array[] = [];
    for (let i = 0; i < 300; i++) many.push(txs[i % txs.length]!);
    const block = parseBlock(concatBytes(hexToBytes(b.header), varint(300), ...many));
    expect(block.txs.length).toBe(300);
  });
});

describe("malformed input throws ParseError, never anything else", () => {
  test("every truncation of a legacy, a segwit and a coinbase tx", () => {
    for (const id of [legacyTxid!, segwitTxid!, coinbaseTxid]) {
      const raw = hexToBytes(expectedTx(id).hex);
      for (let n = 0; n < raw.length; n++) {
        expectParseError(() => parseTx(raw.subarray(0, n)), `${id} truncated to ${n}`);
        expectParseError(() => parseTx(raw.subarray(0, n), 0, { witness: false }), `${id} truncated to ${n}, no witness`);
      }
    }
  });

  test("every truncation of a small multi-tx block", () => {
    const b = expected.blocks.find((x) => x.txids.length >= 3 && x.size < 2000)!;
    const bytes = assembleBlock(b);
    for (let n = 0; n < bytes.length; n++) {
      expectParseError(() => parseBlock(bytes.subarray(0, n)), `block ${b.height} truncated to ${n}`);
    }
  });

  test("trailing bytes after a tx (exact parse) and after a block", () => {
    const raw = hexToBytes(expectedTx(segwitTxid!).hex);
    expect(() => parseTxExact(concatBytes(raw, Uint8Array.of(0)))).toThrow(/1 trailing bytes after transaction/);
    expect(parseTx(concatBytes(raw, Uint8Array.of(0))).end).toBe(raw.length);
    const block = assembleBlock(expected.blocks[10]!);
    expect(() => parseBlock(concatBytes(block, new Uint8Array(5)))).toThrow(/5 trailing bytes after the last of/);
  });

  test("non-canonical and oversized counts", () => {
    const raw = hexToBytes(expectedTx(legacyTxid!).hex);
    const inCount = raw[4]!;
    expect(inCount).toBeLessThan(0xfd);
    const nonCanonical = concatBytes(raw.subarray(0, 4), Uint8Array.of(0xfd, inCount, 0), raw.subarray(5));
    expect(() => parseTx(nonCanonical)).toThrow(/non-canonical input count at offset 4/);
    const huge = concatBytes(raw.subarray(0, 4), Uint8Array.of(0xfe, 0, 0, 0, 1), raw.subarray(5));
    expectParseError(() => parseTx(huge), "input count 2^24");
    const header = hexToBytes(expected.blocks[1]!.header);
    expectParseError(() => parseBlock(concatBytes(header, Uint8Array.of(0xfd, 1, 0), raw)), "non-canonical tx count");
    expect(() => parseBlock(concatBytes(header, Uint8Array.of(0)))).toThrow(/no transactions/);
  });

  test("an output value above 2^53-1", () => {
    const tx = parsed(legacyTxid!);
    const raw = hexToBytes(expectedTx(legacyTxid!).hex);
    // The value is the 8 bytes before the script's 1-byte length prefix.
    const scriptOffset = tx.outputs[0]!.script.byteOffset - tx.raw.byteOffset;
    const valueOffset = scriptOffset - 1 - 8;
    raw[valueOffset + 7] = 0x01; // 2^56 + original
    expect(() => parseTx(raw)).toThrow(/output value at offset \d+ exceeds 2\^53-1/);
  });

  test("segwit flag other than 1, and a superfluous witness record", () => {
    const raw = hexToBytes(expectedTx(legacyTxid!).hex);
    const badFlag = concatBytes(raw.subarray(0, 4), Uint8Array.of(0, 2), raw.subarray(4));
    expect(() => parseTx(badFlag)).toThrow(/unknown transaction optional data/);
    const zeroFlag = concatBytes(raw.subarray(0, 4), Uint8Array.of(0, 0), raw.subarray(4));
    expectParseError(() => parseTx(zeroFlag), "flag 0");
    const n = parsed(legacyTxid!).inputs.length;
    const emptyWitness = concatBytes(raw.subarray(0, 4), Uint8Array.of(0, 1), raw.subarray(4, raw.length - 4), new Uint8Array(n), raw.subarray(raw.length - 4));
    expect(() => parseTx(emptyWitness)).toThrow(/superfluous witness record/);
  });

  test("seeded random byte mutations only ever throw ParseError", () => {
    let seed = 0x9e3779b9;
    const rand = () => {
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      return (seed >>> 0) / 2 ** 32;
    };
    const sources = [legacyTxid!, segwitTxid!, coinbaseTxid].map((id) => hexToBytes(expectedTx(id).hex));
    let parsedOk = 0;
    for (let i = 0; i < 3000; i++) {
      const raw = sources[i % sources.length]!.slice();
      const flips = 1 + Math.floor(rand() * 3);
      for (let f = 0; f < flips; f++) raw[Math.floor(rand() * raw.length)] = Math.floor(rand() * 256);
      try {
        const full = parseTxExact(raw);
        const lean = parseTxExact(raw, { witness: false });
        expect(bytesEqual(lean.txid, full.txid)).toBe(true);
        parsedOk++;
      } catch (e) {
        if (!(e instanceof ParseError)) throw new Error(`mutation ${i}: ${String(e)}`);
      }
    }
    expect(parsedOk).toBeGreaterThan(0); // most flips land in scripts/signatures and still parse
  });
});
