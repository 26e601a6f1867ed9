/**
 * Every byte layout and integer encoding of the index, declared once (pinned by test/unit/store/rows.test.ts).
 *
 * Transactions get a global number `txnum`: their position in the best chain (genesis coinbase = 0),
 * so chain order is integer order and a reorg is a delete of the tail. Outputs and inputs are keyed
 * by one integer each, `txnum * 2^20 + index`, so the tables that hold them are appended in key
 * order during a sync (rowid tables grow at their right edge: no random B-tree inserts).
 *   2^20 > 444,444: the most outputs (9 bytes each) or inputs (41 bytes each) a 4 MB block can hold.
 *   2^53 / 2^20 = 2^33 ≈ 8.6e9 transactions before an id leaves the safe-integer range.
 */

export const IO_BITS = 20;
export const IO_SPAN = 2 ** IO_BITS;
export const MAX_TXNUM = 2 ** (53 - IO_BITS) - 1;

/** Id of output `vout` of transaction `txnum` (the outputs table's rowid). */
export function outputId(txnum: number, vout: number): number {
  return txnum * IO_SPAN + vout;
}

/** Id of input `vin` of transaction `txnum` (spends_staging rowid; spends.id, spend_history.id). */
export function inputId(txnum: number, vin: number): number {
  return txnum * IO_SPAN + vin;
}

/** The txnum part of an output or input id. */
export function txnumOfId(id: number): number {
  return Math.floor(id / IO_SPAN);
}

/** The vout/vin part of an output or input id. */
export function indexOfId(id: number): number {
  return id % IO_SPAN;
}

/**
 * Script key stored in history rows: the first 11 bytes of sha256(scriptPubKey), as ElectrumX's
 * hashX. 88 bits keep the expected number of colliding pairs below 1e-7 at a billion scripts, and
 * save 21 bytes a row (and a row of every history index) against the full hash.
 */
export const SCRIPT_KEY_BYTES = 11;

export function scriptKeyFromHash(scriptHashBytes: Uint8Array): Uint8Array {
  return scriptHashBytes.subarray(0, SCRIPT_KEY_BYTES);
}

/** Hashing into one reused buffer saves the 32-byte result allocation (the hot path of the sync). */
const keyScratch = new Uint8Array(32);

export function scriptKeyOf(script: Uint8Array): Uint8Array {
  const key = new Uint8Array(SCRIPT_KEY_BYTES);
  scriptKeyInto(script, key);
  return key;
}

/** scriptKeyOf written into `out` (its first SCRIPT_KEY_BYTES bytes), for a caller that packs keys into one array. */
export function scriptKeyInto(script: Uint8Array, out: Uint8Array): void {
  Bun.SHA256.hash(script, keyScratch);
  out.set(keyScratch.subarray(0, SCRIPT_KEY_BYTES));
}

/**
 * Outpoints of the initial sync's UTXO table and deferred spends (index/utxo-table.ts, spends_deferred) are keyed
 * by the first 16 txid bytes and the vout: finding two txids with the same first 128 bits takes
 * ~2^64 work.
 */
export const UTXO_TXID_PREFIX_BYTES = 16;

/**
 * Key of a txid in the txid index: its first 8 internal-order bytes. A lookup compares the full
 * txid stored in the txs row, so prefix collisions cost one extra row read, never a wrong answer.
 */
export const TXID_KEY_BYTES = 8;

export function txidKey(txid: Uint8Array): Uint8Array {
  return txid.subarray(0, TXID_KEY_BYTES);
}

/**
 * Outputs that can never be spent are left out of the history unless --index-unspendables, as in
 * electrs: OP_RETURN scripts and scripts over 10,000 bytes (Bitcoin Core's CScript::IsUnspendable).
 */
export function isUnspendable(script: Uint8Array): boolean {
  return (script.length > 0 && script[0] === 0x6a) || script.length > 10_000;
}

/** Where a block sits in Bitcoin Core's blk files: blk<index>.dat, first (header) byte at dataPos. */
export interface BlkFilePos {
  readonly index: number;
  /** Byte offset of the block's header in the file (after the record's magic and size). */
  readonly dataPos: number;
}

/** Block meta as stored in the blocks table. */
export interface BlockRow {
  readonly height: number;
  readonly hash: Uint8Array; // internal byte order
  readonly header: Uint8Array; // 80 bytes
  readonly firstTxnum: number;
  readonly txCount: number;
  readonly size: number;
  readonly weight: number;
  /** The block's place in the blk files; null (or absent) when its txs' bytes are stored in the index. */
  readonly file?: BlkFilePos | null;
}

/**
 * A tx of a block located in the blk files is stored as `loc` = byteOffset * 2^22 + byteLength:
 * its bytes are [dataPos + byteOffset, dataPos + byteOffset + byteLength) of the block's file,
 * byteOffset counted from the block's first (header) byte. 2^22 = 4,194,304 > 4,000,000 (Core's
 * MAX_BLOCK_SERIALIZED_SIZE), so both parts fit; a loc is below 2^44, a safe integer.
 */
export const TX_LOC_BITS = 22;
export const TX_LOC_SPAN = 2 ** TX_LOC_BITS;

/**
 * Where a block's txs are read from: its place in the blk files when it has one and its txs'
 * offsets fit a tx location (no valid block is too large), else null (its txs' bytes are stored).
 */
export function locatedIn(file: BlkFilePos | null, blockSize: number): BlkFilePos | null {
  return file !== null && blockSize < TX_LOC_SPAN ? file : null;
}

export interface TxLoc {
  /** From the block's first (header) byte. */
  readonly byteOffset: number;
  readonly byteLength: number;
}

export function encodeTxLoc(byteOffset: number, byteLength: number): number {
  if (!Number.isInteger(byteOffset) || byteOffset < 0 || byteOffset >= TX_LOC_SPAN) throw new RangeError(`tx offset ${byteOffset} does not fit a tx location`);
  if (!Number.isInteger(byteLength) || byteLength <= 0 || byteLength >= TX_LOC_SPAN) throw new RangeError(`tx length ${byteLength} does not fit a tx location`);
  return byteOffset * TX_LOC_SPAN + byteLength;
}

export function decodeTxLoc(loc: number): TxLoc {
  return { byteOffset: Math.floor(loc / TX_LOC_SPAN), byteLength: loc % TX_LOC_SPAN };
}

/** The schema version stored in meta; bumped on any change of the layouts above or schema.sql. */
export const SCHEMA_VERSION = 8;
