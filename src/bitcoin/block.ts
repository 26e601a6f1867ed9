/**
 * Block, header and transaction parsing (Bitcoin wire format, BIP144 segwit serialization).
 *
 * Everything returned holds views into the caller's buffer rather than copies (empty scriptSigs
 * and witness items share one frozen empty array): a block is parsed once and indexed right away.
 * The caller must therefore not reuse or mutate the buffer while the result is in use.
 *
 * Speed matters here (initial indexing parses every block once; target ≥ 1M tx/s on one core).
 * On Bun, each `subarray` view costs ~60 ns and each native hash call ~80-100 ns, which together
 * outweigh the parsing itself; see bench/parse-bench.ts and the notes at the hashing helpers.
 */
import { ParseError } from "../errors.ts";
import { sha256d, sha256dParts } from "./hash.ts";
import { Reader } from "./reader.ts";

export const HEADER_SIZE = 80;

export interface BlockHeader {
  /** sha256d of the 80 header bytes, internal byte order. */
  readonly hash: Uint8Array;
  readonly version: number;
  /** Internal byte order (view). */
  readonly prevHash: Uint8Array;
  /** Internal byte order (view). */
  readonly merkleRoot: Uint8Array;
  /** Unix seconds. */
  readonly time: number;
  /** Compact target (nBits) as an unsigned 32-bit integer. */
  readonly bits: number;
  readonly nonce: number;
  /** The 80 header bytes (view). */
  readonly raw: Uint8Array;
}

export interface TxIn {
  /** Internal byte order (view); all zeros for a coinbase. */
  readonly prevTxid: Uint8Array;
  /** 0xffffffff for a coinbase. */
  readonly prevVout: number;
  readonly scriptSig: Uint8Array;
  readonly sequence: number;
  /** Witness stack items (views); the shared empty array when the input has none. */
  readonly witness: readonly Uint8Array[];
}

export interface TxOut {
  readonly valueSat: number;
  readonly script: Uint8Array;
}

export interface Tx {
  /** Internal byte order: sha256d of the serialization without witness. */
  readonly txid: Uint8Array;
  readonly version: number;
  readonly lockTime: number;
  readonly inputs: readonly TxIn[];
  readonly outputs: readonly TxOut[];
  /** Total serialized size in bytes, witness included. */
  readonly size: number;
  /** BIP141 weight: base size × 3 + total size. */
  readonly weight: number;
  /** ceil(weight / 4). */
  readonly vsize: number;
  /** Serialized with the BIP144 marker and flag. */
  readonly hasWitness: boolean;
  /** A single input spending the null prevout (zero txid, index 0xffffffff). */
  readonly isCoinbase: boolean;
  /** The exact serialized bytes of this tx (view). */
  readonly raw: Uint8Array;
}

export interface Block {
  readonly header: BlockHeader;
  readonly txs: readonly Tx[];
  readonly size: number;
  readonly weight: number;
}

/** Shared by every input without witness so that legacy inputs allocate nothing for it. */
const NO_WITNESS: readonly Uint8Array[] = Object.freeze([]);
const EMPTY_BYTES: Uint8Array = Object.freeze(new Uint8Array(0)) as Uint8Array;

/** Smallest possible serialized input (32 + 4 + 1 + 4) and output (8 + 1): bounds for counts. */
const MIN_INPUT_SIZE = 41;
const MIN_OUTPUT_SIZE = 9;

/** Parses the 80-byte header at `offset`. */
export function parseHeader(bytes: Uint8Array, offset = 0): BlockHeader {
  const r = new Reader(bytes, offset);
  return readHeader(r);
}

function readHeader(r: Reader): BlockHeader {
  const start = r.pos;
  r.need(HEADER_SIZE, "block header");
  const version = r.i32le();
  const prevHash = r.bytes(32);
  const merkleRoot = r.bytes(32);
  const time = r.u32le();
  const bits = r.u32le();
  const nonce = r.u32le();
  const raw = r.data.subarray(start, start + HEADER_SIZE);
  return { hash: sha256d(raw), version, prevHash, merkleRoot, time, bits, nonce, raw };
}

export interface ParseOptions {
  /**
   * Materialize witness items (default true). With false, every `TxIn.witness` is left empty
   * (`hasWitness`, sizes, weight and `raw` are unaffected): the indexing path never looks at
   * witnesses, and on Bun each view costs about as much as parsing the rest of the input.
   * Re-parse `tx.raw` when the witness is needed.
   */
  readonly witness?: boolean;
}

/** Parses one transaction at `offset`; `end` is the offset just past it. */
export function parseTx(
  bytes: Uint8Array,
  offset = 0,
  options?: ParseOptions,
): { readonly tx: Tx; readonly end: number } {
  const r = new Reader(bytes, offset);
  const tx = readTx(r, options?.witness !== false);
  return { tx, end: r.pos };
}

/** Parses a whole transaction and rejects trailing bytes (raw tx hex from RPC or a client). */
export function parseTxExact(bytes: Uint8Array, options?: ParseOptions): Tx {
  const r = new Reader(bytes, 0);
  const tx = readTx(r, options?.witness !== false);
  if (r.pos !== bytes.length) {
    throw new ParseError(`${bytes.length - r.pos} trailing bytes after transaction at offset ${r.pos}`);
  }
  return tx;
}

/**
 * The txid of a whole serialized transaction, read for its structure only: no object per input or
 * output, no view per field (what a stored tx's check against its txid needs, store/tx-bytes.ts).
 * The same checks as parseTxExact (counts against the bytes left, the segwit flag, an all-empty
 * witness record, no trailing bytes), but for the output values' range, which it does not read.
 * 0.25 µs a tx against 0.46 for parseTxExact(…, { witness: false }).txid (the fixture's 769 txs).
 */
export function txidOfExact(bytes: Uint8Array): Uint8Array {
  const r = new Reader(bytes, 0);
  r.skip(4, "tx version");
  const { bodyStart, inCount, hasWitness } = readInputCount(r);
  for (let i = 0; i < inCount; i++) {
    r.skip(36, "prevout");
    r.skip(r.varint("scriptSig"), "scriptSig");
    r.skip(4, "sequence");
  }
  const outCount = r.varint("output count");
  if (outCount * MIN_OUTPUT_SIZE > r.remaining) throw new ParseError(`output count ${outCount} at offset ${r.pos} exceeds the ${r.remaining} bytes left`);
  for (let i = 0; i < outCount; i++) {
    r.skip(8, "output value");
    r.skip(r.varint("scriptPubKey"), "scriptPubKey");
  }
  const outputsEnd = r.pos;
  if (hasWitness) {
    let anyWitness = false;
    for (let i = 0; i < inCount; i++) {
      const n = r.varint("witness item count");
      if (n > 0) anyWitness = true;
      for (let j = 0; j < n; j++) r.skip(r.varint("witness item"), "witness item");
    }
    if (!anyWitness) throw new ParseError("superfluous witness record in transaction at offset 0");
  }
  const lockTimePos = r.pos;
  r.skip(4, "lock time");
  if (r.pos !== bytes.length) throw new ParseError(`${bytes.length - r.pos} trailing bytes after transaction at offset ${r.pos}`);
  return hasWitness ? segwitTxid(bytes, 0, bodyStart, outputsEnd, lockTimePos, 4 + (outputsEnd - bodyStart) + 4) : sha256dView(bytes);
}

/**
 * Output `vout` of the serialized tx `bytes` (one tx, as txidOfExact reads), or null when it has
 * fewer outputs. A prevout needs one output of its funding tx: this walks to it (the inputs, then
 * the outputs before it) and makes one view, where a parse makes a view of every script, txid and
 * witness item of the tx (~0.1 µs each on JSC). It does not check the rest of the tx: take bytes
 * already checked (store/tx-bytes.ts compares their txid).
 */
export function outputOfTx(bytes: Uint8Array, vout: number): TxOut | null {
  const r = new Reader(bytes, 0);
  r.skip(4, "tx version");
  const { inCount } = readInputCount(r);
  for (let i = 0; i < inCount; i++) {
    r.skip(36, "prevout");
    r.skip(r.varint("scriptSig"), "scriptSig");
    r.skip(4, "sequence");
  }
  const outCount = r.varint("output count");
  if (vout >= outCount) return null;
  for (let i = 0; i < vout; i++) {
    r.skip(8, "output value");
    r.skip(r.varint("scriptPubKey"), "scriptPubKey");
  }
  const valueSat = r.u64le("output value");
  const script = r.bytes(r.varint("scriptPubKey"), "scriptPubKey");
  return { valueSat, script };
}

/** Parses a serialized block; it must span `bytes` exactly. */
export function parseBlock(bytes: Uint8Array, options?: ParseOptions): Block {
  const keepWitness = options?.witness !== false;
  const r = new Reader(bytes, 0);
  const header = readHeader(r);
  const count = r.varint("tx count");
  if (count === 0) throw new ParseError("block has no transactions");
  const countEnd = r.pos;
  const txs: Tx[] = [];
  // Block weight = 4 × (header + tx count) + Σ tx weight, since only tx bytes can be witness.
  let weight = countEnd * 4;
  for (let i = 0; i < count; i++) {
    const tx = readTx(r, keepWitness);
    weight += tx.weight;
    txs.push(tx);
  }
  if (r.pos !== bytes.length) {
    throw new ParseError(`${bytes.length - r.pos} trailing bytes after the last of ${count} transactions at offset ${r.pos}`);
  }
  return { header, txs, size: bytes.length, weight };
}

/** Mutable while being built (witnesses are read after all inputs); exposed as readonly TxIn. */
interface TxInBuild {
  prevTxid: Uint8Array;
  prevVout: number;
  scriptSig: Uint8Array;
  sequence: number;
  witness: readonly Uint8Array[];
}

/**
 * After a tx's version: the segwit marker and flag if any, then the input count, checked against
 * the bytes left. `bodyStart`: where the input count is, the non-witness serialization resuming
 * there after marker and flag.
 */
function readInputCount(r: Reader): { bodyStart: number; inCount: number; hasWitness: boolean } {
  let bodyStart = r.pos;
  let inCount = r.varint("input count");
  let hasWitness = false;
  if (inCount === 0) {
    // BIP144: an empty input list in this position is the segwit marker; the flag must be 1.
    // (Core would read flag 0 as a tx with no inputs and no outputs, which no block can hold.)
    const flag = r.u8("segwit flag");
    if (flag !== 1) throw new ParseError(`unknown transaction optional data (flag 0x${flag.toString(16)}) at offset ${r.pos - 1}`);
    hasWitness = true;
    bodyStart = r.pos;
    inCount = r.varint("input count");
  }
  if (inCount * MIN_INPUT_SIZE > r.remaining) {
    throw new ParseError(`input count ${inCount} at offset ${bodyStart} exceeds the ${r.remaining} bytes left`);
  }
  return { bodyStart, inCount, hasWitness };
}

function readTx(r: Reader, keepWitness: boolean): Tx {
  const data = r.data;
  const start = r.pos;
  const version = r.i32le("tx version");
  const { bodyStart, inCount, hasWitness } = readInputCount(r);

  const inputs: TxInBuild[] = [];
  for (let i = 0; i < inCount; i++) {
    const prevTxid = r.bytes(32, "prevout txid");
    const prevVout = r.u32le("prevout index");
    const scriptSigLen = r.varint("scriptSig");
    // Segwit inputs have an empty scriptSig: share one empty array rather than make a view each.
    const scriptSig = scriptSigLen === 0 ? EMPTY_BYTES : r.bytes(scriptSigLen, "scriptSig");
    const sequence = r.u32le("sequence");
    inputs.push({ prevTxid, prevVout, scriptSig, sequence, witness: NO_WITNESS });
  }

  const outCount = r.varint("output count");
  if (outCount * MIN_OUTPUT_SIZE > r.remaining) {
    throw new ParseError(`output count ${outCount} at offset ${r.pos} exceeds the ${r.remaining} bytes left`);
  }
  const outputs: TxOut[] = [];
  for (let i = 0; i < outCount; i++) {
    const valueSat = r.u64le("output value");
    const script = r.varBytes("scriptPubKey");
    outputs.push({ valueSat, script });
  }
  const outputsEnd = r.pos;

  if (hasWitness) {
    let anyWitness = false;
    for (let i = 0; i < inCount; i++) {
      const n = r.varint("witness item count");
      if (n === 0) continue;
      anyWitness = true;
      if (!keepWitness) {
        for (let j = 0; j < n; j++) r.skip(r.varint("witness item"), "witness item");
        continue;
      }
      const items: Uint8Array[] = [];
      for (let j = 0; j < n; j++) {
        const len = r.varint("witness item");
        // Empty items are common (the CHECKMULTISIG dummy): share one array instead of a view each.
        items.push(len === 0 ? EMPTY_BYTES : r.bytes(len, "witness item"));
      }
      inputs[i]!.witness = items;
    }
    // Core refuses a marker with all-empty witnesses: that tx would have two serializations.
    if (!anyWitness) throw new ParseError(`superfluous witness record in transaction at offset ${start}`);
  }

  const lockTimePos = r.pos;
  const lockTime = r.u32le("lock time");
  const end = r.pos;
  const raw = data.subarray(start, end);
  const size = end - start;

  let txid: Uint8Array;
  let baseSize: number;
  if (hasWitness) {
    baseSize = 4 + (outputsEnd - bodyStart) + 4;
    txid = segwitTxid(data, start, bodyStart, outputsEnd, lockTimePos, baseSize);
  } else {
    baseSize = size;
    txid = sha256dView(raw);
  }
  const weight = baseSize * 3 + size;

  let isCoinbase = false;
  if (inCount === 1) {
    const in0 = inputs[0]!;
    isCoinbase = in0.prevVout === 0xffffffff && isZeroHash(in0.prevTxid);
  }

  return {
    txid,
    version,
    lockTime,
    inputs,
    outputs,
    size,
    weight,
    vsize: Math.ceil(weight / 4),
    hasWitness,
    isCoinbase,
    raw,
  };
}

function isZeroHash(h: Uint8Array): boolean {
  for (let i = 0; i < h.length; i++) if (h[i] !== 0) return false;
  return true;
}

/**
 * wtxid (internal byte order): sha256d of the full serialization, the txid itself without
 * witness. Computed on demand rather than in parseBlock: nothing on the indexing path needs it,
 * and a second double hash per segwit tx would cost about a third of the parse time.
 */
export function computeWtxid(tx: Tx): Uint8Array {
  return tx.hasWitness ? sha256d(tx.raw) : tx.txid;
}

// ---- Hashing on the hot path ----
// On Bun (JSC) every typed-array view costs ~60 ns and each native hash call ~80-100 ns of
// overhead, more than the SHA-256 work on a typical tx; reading `.buffer` of a natively returned
// digest costs another ~250 ns. So: hash into preallocated 32-byte buffers, and hash a segwit tx's
// non-witness parts from a reused scratch buffer through a cached view of each length, instead of
// three fresh views through a new hasher (sha256dParts: ~1.4 µs vs ~0.35 µs for a 1-in-2-out tx).
// The view cache holds at most one view per length up to SCRATCH_SIZE (well under 1 MB).

const HASH1 = new Uint8Array(32);
/** Segwit txs whose non-witness serialization is larger use sha256dParts (rare, amortised). */
const SCRATCH_SIZE = 16 * 1024;
const SCRATCH = new Uint8Array(SCRATCH_SIZE);
const scratchViews: (Uint8Array | undefined)[] = new Array<Uint8Array | undefined>(SCRATCH_SIZE + 1).fill(undefined);

function sha256dView(bytes: Uint8Array): Uint8Array {
  Bun.SHA256.hash(bytes, HASH1);
  const out = new Uint8Array(32);
  Bun.SHA256.hash(HASH1, out);
  return out;
}

/** sha256d(version ‖ inputs ‖ outputs ‖ lockTime), skipping marker, flag and witnesses. */
function segwitTxid(
  data: Uint8Array,
  start: number,
  bodyStart: number,
  outputsEnd: number,
  lockTimePos: number,
  baseSize: number,
): Uint8Array {
  if (baseSize > SCRATCH_SIZE) {
    return sha256dParts([
      data.subarray(start, start + 4),
      data.subarray(bodyStart, outputsEnd),
      data.subarray(lockTimePos, lockTimePos + 4),
    ]);
  }
  const s = SCRATCH;
  s[0] = data[start]!;
  s[1] = data[start + 1]!;
  s[2] = data[start + 2]!;
  s[3] = data[start + 3]!;
  const bodyLen = outputsEnd - bodyStart;
  if (bodyLen <= 64) {
    for (let i = 0; i < bodyLen; i++) s[4 + i] = data[bodyStart + i]!;
  } else {
    s.set(data.subarray(bodyStart, outputsEnd), 4);
  }
  const t = 4 + bodyLen;
  s[t] = data[lockTimePos]!;
  s[t + 1] = data[lockTimePos + 1]!;
  s[t + 2] = data[lockTimePos + 2]!;
  s[t + 3] = data[lockTimePos + 3]!;
  let view = scratchViews[baseSize];
  if (view === undefined) {
    view = SCRATCH.subarray(0, baseSize);
    scratchViews[baseSize] = view;
  }
  return sha256dView(view);
}
