/**
 * Addresses as electrs shows and parses them: rust-bitcoin 0.32's `Address::from_script` for
 * `scriptpubkey_address`, and its `Address::from_str` plus `is_valid_for_network` for the
 * `/address/:address` routes, with the same error texts (the REST API answers 400 with them).
 *
 * Every witness program gets an address, including v1 programs that are not valid taproot keys and
 * future versions (bech32m, BIP350): that is why this does not use bitcoinjs-lib, which refuses
 * those. P2PK, OP_RETURN, bare multisig and anything else have none.
 */
import { bech32, bech32m } from "bech32";
import { AddressError } from "../errors.ts";
import { encodeSegwitAddress } from "./bech32-encode.ts";
import { sha256d } from "./hash.ts";
import { NETWORK_NAMES, NETWORKS, type NetworkParams } from "./network.ts";
import { scriptType } from "./script.ts";

/** Base58Check alphabet (no 0, O, I, l). */
const B58_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
/** ASCII code → base58 digit, -1 for anything else. */
const B58_DIGITS: Int8Array = buildBase58Digits();

function buildBase58Digits(): Int8Array {
  const t = new Int8Array(128).fill(-1);
  for (let i = 0; i < B58_ALPHABET.length; i++) t[B58_ALPHABET.charCodeAt(i)] = i;
  return t;
}

/**
 * Version bytes and HRPs rust-bitcoin recognises at all, whatever the network. An address with
 * one of these but of another network is "on invalid network"; one with anything else does not
 * parse. Taken from NETWORKS so that no prefix is written twice.
 */
const KNOWN_BASE58_VERSIONS: ReadonlySet<number> = new Set(
  NETWORK_NAMES.flatMap((n) => [NETWORKS[n].p2pkhVersion, NETWORKS[n].p2shVersion]),
);
const KNOWN_HRPS: ReadonlySet<string> = new Set(NETWORK_NAMES.map((n) => NETWORKS[n].bech32Hrp));

/** Longest string rust-bitcoin tries as base58 (`LegacyAddressTooLongError`). */
const MAX_BASE58_ADDRESS_BYTES = 50;

// Display texts of rust-bitcoin 0.32 `address::ParseError` (address/error.rs). electrs builds
// with `std`, so `write_err!` prints only the outer message, never the source error.
const ERR_UNKNOWN_HRP = "tried to parse an unknown hrp";
const ERR_BASE58_TOO_LONG = "legacy address base58 string";
const ERR_BASE58 = "base58 error";
const ERR_BASE58_PAYLOAD_LENGTH = "legacy address base58 data";
const ERR_BASE58_PREFIX = "legacy address base58 prefix";
/** electrs' own text (rest.rs `address_to_scripthash`) when `is_valid_for_network` is false. */
const ERR_WRONG_NETWORK = "Address on invalid network";

/**
 * The address electrs shows for an output script on `network`, or null when rust-bitcoin's
 * `Address::from_script` gives none: P2PKH and P2SH in base58check with the network's version
 * byte; every witness program (version 0–16, 2–40 bytes, v0 only 20 or 32) in lower-case bech32
 * for v0 and bech32m for v1+, with the network's HRP.
 */
export function addressOf(script: Uint8Array, network: NetworkParams): string | null {
  const type = scriptType(script);
  if (type === "p2pkh") return base58Check(network.p2pkhVersion, script, 3);
  if (type === "p2sh") return base58Check(network.p2shVersion, script, 2);
  const version = witnessVersion(script);
  if (version < 0) return null;
  if (!validProgramLength(version, script.length - 2)) return null;
  return encodeSegwitAddress(network.bech32Hrp, version, script, 2);
}

/**
 * rust-bitcoin `Script::is_witness_program` plus the version: a version opcode (OP_0 or
 * OP_1..OP_16) followed by exactly one push of 2..40 bytes filling the script (4..42 bytes).
 * Returns the version, or -1.
 */
function witnessVersion(script: Uint8Array): number {
  const n = script.length;
  if (n < 4 || n > 42) return -1;
  const push = script[1]!;
  if (push < 2 || push > 40 || push !== n - 2) return -1;
  const op = script[0]!;
  if (op === 0x00) return 0;
  if (op >= 0x51 && op <= 0x60) return op - 0x50;
  return -1;
}

/** rust-bitcoin `WitnessProgram::new`: 2..40 bytes, and exactly 20 or 32 for version 0 (BIP141). */
function validProgramLength(version: number, length: number): boolean {
  if (length < 2 || length > 40) return false;
  return version !== 0 || length === 20 || length === 32;
}

/** Scratch of base58Check: the 25-byte payload, and one SHA256 result (addresses are built one at a time). */
const payloadScratch = new Uint8Array(25);
const payloadHead = payloadScratch.subarray(0, 21);
const hashScratch = new Uint8Array(32);

/** Base58Check of `version ‖ script[hashAt .. hashAt+20]`. */
function base58Check(version: number, script: Uint8Array, hashAt: number): string {
  const payload = payloadScratch;
  payload[0] = version;
  for (let i = 0; i < 20; i++) payload[1 + i] = script[hashAt + i]!;
  // SHA256d into the scratch: the checksum is its first four bytes.
  Bun.SHA256.hash(payloadHead, hashScratch);
  Bun.SHA256.hash(hashScratch, hashScratch);
  payload[21] = hashScratch[0]!;
  payload[22] = hashScratch[1]!;
  payload[23] = hashScratch[2]!;
  payload[24] = hashScratch[3]!;
  return base58Encode(payload);
}

/** 58^4, the radix of the limbs below: a limb × 2^24 + carry stays exact in a double (< 2^48). */
const B58_LIMB = 11_316_496;
const B58_CODES = Uint8Array.from(B58_ALPHABET, (c) => c.charCodeAt(0));
/** Digits of a base58 string being built, written from the end (a 25-byte payload needs 34). */
const digitScratch = new Uint8Array(64);
/** Limbs of base58Encode for inputs up to 40 bytes. */
const limbScratch = new Float64Array(16);
const latin1 = new TextDecoder("latin1");

/**
 * Base58 of `bytes` (leading zero bytes become '1'). Schoolbook radix conversion, but three input
 * bytes and four output digits at a time: on JSC this is ~4× faster than byte-by-digit, which
 * matters because every P2PKH/P2SH output served as JSON goes through here. The digits go into a
 * byte buffer and become a string once (prepending each to a string cost ~0.3 µs per address).
 */
function base58Encode(bytes: Uint8Array): string {
  const n = bytes.length;
  let zeros = 0;
  while (zeros < n && bytes[zeros] === 0) zeros++;
  // Limbs of four base-58 digits, least significant first; log(256)/log(58) < 1.37.
  const limbCount = Math.ceil(((n - zeros) * 1.37) / 4) + 1;
  // (Each limb is written before it is read: the scratch needs no clearing.)
  const limbs = limbCount <= limbScratch.length ? limbScratch : new Float64Array(limbCount);
  let used = 0;
  let i = zeros;
  // The first group takes the bytes that do not fill a group of three, so the rest are whole.
  let take = (n - zeros) % 3 || 3;
  while (i < n) {
    let carry = 0;
    let mul = 1;
    for (let k = 0; k < take; k++) {
      carry = carry * 256 + bytes[i++]!;
      mul *= 256;
    }
    for (let j = 0; j < used; j++) {
      const v = limbs[j]! * mul + carry;
      carry = Math.floor(v / B58_LIMB);
      limbs[j] = v - carry * B58_LIMB;
    }
    while (carry > 0) {
      const next = Math.floor(carry / B58_LIMB);
      limbs[used++] = carry - next * B58_LIMB;
      carry = next;
    }
    take = 3;
  }
  const size = zeros + used * 4;
  const out = size <= digitScratch.length ? digitScratch : new Uint8Array(size);
  let at = size;
  for (let j = 0; j < used; j++) {
    // Limbs are < 58^4 < 2^31: integer arithmetic from here (a double `%` is several times slower).
    let limb = limbs[j]! | 0;
    // All four digits of lower limbs; the top limb without its leading zero digits.
    for (let k = 0; k < 4 && (j < used - 1 || limb > 0); k++) {
      const q = (limb / 58) | 0;
      out[--at] = B58_CODES[limb - q * 58]!;
      limb = q;
    }
  }
  for (let z = 0; z < zeros; z++) out[--at] = 0x31; // '1'
  return latin1.decode(out.subarray(at, size));
}

/**
 * The output script an address stands for on `network`, following rust-bitcoin 0.32's
 * `Address::from_str` step by step so that the error is the one electrs answers:
 * 1. A string that decodes as a segwit address (BIP173/BIP350: one case, checksum variant matching
 *    the version, version ≤ 16, program length rules, zero padding, ≤ 90 characters) must have
 *    HRP bc, tb or bcrt, else "tried to parse an unknown hrp".
 * 2. Anything else is tried as base58check: longer than 50 bytes → "legacy address base58 string";
 *    bad character or checksum → "base58 error"; not 21 bytes → "legacy address base58 data";
 *    unknown version byte → "legacy address base58 prefix". So a mistyped bech32 address gets a
 *    base58 error, as in electrs.
 * 3. Then electrs' network check (`is_valid_for_network`), "Address on invalid network": base58
 *    versions are shared by testnet, testnet4, signet and regtest; HRP "tb" by the first three.
 */
export function addressToScript(address: string, network: NetworkParams): Uint8Array {
  const segwit = decodeSegwit(address);
  if (segwit !== null) {
    if (!KNOWN_HRPS.has(segwit.hrp)) throw new AddressError(ERR_UNKNOWN_HRP);
    if (segwit.hrp !== network.bech32Hrp) throw new AddressError(ERR_WRONG_NETWORK);
    const { version, program } = segwit;
    const script = new Uint8Array(2 + program.length);
    script[0] = version === 0 ? 0x00 : 0x50 + version;
    script[1] = program.length;
    script.set(program, 2);
    return script;
  }

  if (utf8Length(address) > MAX_BASE58_ADDRESS_BYTES) throw new AddressError(ERR_BASE58_TOO_LONG);
  const data = base58CheckDecode(address);
  if (data === null) throw new AddressError(ERR_BASE58);
  if (data.length !== 21) throw new AddressError(ERR_BASE58_PAYLOAD_LENGTH);
  const version = data[0]!;
  if (!KNOWN_BASE58_VERSIONS.has(version)) throw new AddressError(ERR_BASE58_PREFIX);
  const hash = data.subarray(1);
  if (version === network.p2pkhVersion) {
    const script = new Uint8Array(25);
    script[0] = 0x76; // OP_DUP
    script[1] = 0xa9; // OP_HASH160
    script[2] = 0x14; // push 20
    script.set(hash, 3);
    script[23] = 0x88; // OP_EQUALVERIFY
    script[24] = 0xac; // OP_CHECKSIG
    return script;
  }
  if (version === network.p2shVersion) {
    const script = new Uint8Array(23);
    script[0] = 0xa9; // OP_HASH160
    script[1] = 0x14; // push 20
    script.set(hash, 2);
    script[22] = 0x87; // OP_EQUAL
    return script;
  }
  throw new AddressError(ERR_WRONG_NETWORK);
}

interface SegwitAddress {
  /** Lower case. */
  readonly hrp: string;
  readonly version: number;
  readonly program: Uint8Array;
}

/**
 * bech32 0.11 `segwit::decode` (used by rust-bitcoin 0.32): null unless `s` is a valid segwit
 * address of any HRP. Non-ASCII is refused up front: rust refuses it, while JS case mapping could
 * turn a non-ASCII letter (the Kelvin sign) into an ASCII one inside the bech32 package.
 */
function decodeSegwit(s: string): SegwitAddress | null {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 33 || c > 126) return null;
  }
  // Both the length limit (90) and the one-case rule are the bech32 package's defaults.
  let decoded = bech32.decodeUnsafe(s);
  let isBech32m = false;
  if (decoded === undefined) {
    decoded = bech32m.decodeUnsafe(s);
    isBech32m = true;
  }
  if (decoded === undefined || decoded.words.length === 0) return null;
  const version = decoded.words[0]!;
  // BIP350: v0 uses the bech32 checksum, v1..v16 bech32m; no string is valid under both.
  if (version > 16 || (version === 0) === isBech32m) return null;
  // fromWordsUnsafe refuses more than 4 bits of padding and non-zero padding (BIP173).
  const bytes = bech32.fromWordsUnsafe(decoded.words.slice(1));
  if (bytes === undefined || !validProgramLength(version, bytes.length)) return null;
  return { hrp: decoded.prefix, version, program: Uint8Array.from(bytes) };
}

/** Rust's `str::len()`: the address length limit is in UTF-8 bytes, not UTF-16 units. */
function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      // A surrogate pair is one 4-byte character.
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}

/**
 * base58ck `decode_check`: the payload without its 4-byte checksum, or null for a character
 * outside the alphabet, fewer than 4 bytes, or a checksum mismatch (all one "base58 error").
 */
function base58CheckDecode(s: string): Uint8Array | null {
  let zeros = 0;
  while (zeros < s.length && s.charCodeAt(zeros) === 49 /* '1' */) zeros++;
  // Base-256 digits, least significant first; log(58)/log(256) < 0.74 bytes per character.
  const bytes = new Uint8Array(Math.ceil((s.length - zeros) * 0.74) + 1);
  let used = 0;
  for (let i = zeros; i < s.length; i++) {
    const c = s.charCodeAt(i);
    let carry = c < 128 ? B58_DIGITS[c]! : -1;
    if (carry < 0) return null;
    for (let j = 0; j < used; j++) {
      carry += bytes[j]! * 58;
      bytes[j] = carry & 0xff;
      carry >>>= 8;
    }
    while (carry > 0) {
      bytes[used++] = carry & 0xff;
      carry >>>= 8;
    }
  }
  const total = zeros + used;
  if (total < 4) return null;
  const out = new Uint8Array(total);
  for (let j = 0; j < used; j++) out[total - 1 - j] = bytes[j]!;
  const body = out.subarray(0, total - 4);
  const check = sha256d(body);
  for (let k = 0; k < 4; k++) if (check[k] !== out[total - 4 + k]) return null;
  return body;
}
