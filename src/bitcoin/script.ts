/**
 * Script classification and rendering exactly as Blockstream's electrs shows them in Esplora JSON
 * (`scriptpubkey_type`, `scriptpubkey_asm`, `scriptsig_asm`, `inner_*script_asm`). electrs takes
 * all of these from rust-bitcoin 0.32, whose rules differ from Bitcoin Core's in places (asm
 * names, P2PK without a key check), so the rules below follow rust-bitcoin, not Core.
 *
 * Called for every input and output of every transaction served as JSON: no per-call tables, and
 * inner scripts are returned as views into the caller's bytes rather than copies.
 */
import { bytesToHex } from "./bytes.ts";

/**
 * electrs' `scriptpubkey_type` values (Bitcoin only; Liquid adds "fee"). `provably_unspendable` is
 * part of the vocabulary but never produced: electrs tests `is_op_return()` for it a second time,
 * after the `op_return` branch has already taken every such script.
 */
export type ScriptType =
  | "empty"
  | "op_return"
  | "p2pk"
  | "p2pkh"
  | "p2sh"
  | "v0_p2wpkh"
  | "v0_p2wsh"
  | "v1_p2tr"
  | "provably_unspendable"
  | "unknown";

const OP_0 = 0x00;
const OP_PUSHBYTES_20 = 0x14;
const OP_PUSHBYTES_32 = 0x20;
const OP_PUSHBYTES_33 = 0x21;
const OP_PUSHBYTES_65 = 0x41;
const OP_PUSHBYTES_75 = 0x4b;
const OP_PUSHDATA1 = 0x4c;
const OP_PUSHDATA2 = 0x4d;
const OP_PUSHDATA4 = 0x4e;
const OP_PUSHNUM_1 = 0x51;
const OP_RETURN = 0x6a;
const OP_DUP = 0x76;
const OP_EQUAL = 0x87;
const OP_EQUALVERIFY = 0x88;
const OP_HASH160 = 0xa9;
const OP_CHECKSIG = 0xac;

/**
 * The first matching type in electrs' order (rest.rs `TxOutValue::new`): empty, op_return, p2pk,
 * p2pkh, p2sh, v0_p2wpkh, v0_p2wsh, v1_p2tr, unknown. Each test is rust-bitcoin's `is_*` shape
 * check on the raw bytes; none looks at keys or hashes.
 */
export function scriptType(script: Uint8Array): ScriptType {
  const n = script.length;
  if (n === 0) return "empty";
  const first = script[0]!;
  if (first === OP_RETURN) return "op_return";
  if (isP2pk(script)) return "p2pk";
  if (n === 25 && first === OP_DUP && script[1] === OP_HASH160 && script[2] === OP_PUSHBYTES_20 && script[23] === OP_EQUALVERIFY && script[24] === OP_CHECKSIG) {
    return "p2pkh";
  }
  if (isP2sh(script)) return "p2sh";
  if (n === 22 && first === OP_0 && script[1] === OP_PUSHBYTES_20) return "v0_p2wpkh";
  if (isP2wsh(script)) return "v0_p2wsh";
  if (n === 34 && first === OP_PUSHNUM_1 && script[1] === OP_PUSHBYTES_32) return "v1_p2tr";
  return "unknown";
}

/**
 * rust-bitcoin 0.32 `Script::is_p2pk`: a 65- or 33-byte push then OP_CHECKSIG. Deliberately no
 * check of the key's 02/03/04 prefix or curve point: rust-bitcoin documents that `is_p2pk` is true
 * even when `p2pk_public_key()` cannot parse the key, and electrs uses `is_p2pk`.
 */
function isP2pk(script: Uint8Array): boolean {
  const n = script.length;
  if (n === 67) return script[0] === OP_PUSHBYTES_65 && script[66] === OP_CHECKSIG;
  if (n === 35) return script[0] === OP_PUSHBYTES_33 && script[34] === OP_CHECKSIG;
  return false;
}

function isP2sh(script: Uint8Array): boolean {
  return script.length === 23 && script[0] === OP_HASH160 && script[1] === OP_PUSHBYTES_20 && script[22] === OP_EQUAL;
}

function isP2wsh(script: Uint8Array): boolean {
  return script.length === 34 && script[0] === OP_0 && script[1] === OP_PUSHBYTES_32;
}

/**
 * rust-bitcoin's opcode names (opcodes.rs `all_opcodes!`), indexed by byte. Byte 0 prints as
 * "OP_0" (fmt_asm special-cases OP_PUSHBYTES_0); 0xb1/0xb2 print as OP_CLTV/OP_CSV, 0xba as
 * OP_CHECKSIGADD, 0xbb–0xfe as OP_RETURN_<decimal byte>.
 */
const OPCODE_NAMES: readonly string[] = Object.freeze(buildOpcodeNames());

function buildOpcodeNames(): string[] {
  const names = new Array<string>(256);
  names[0] = "OP_0";
  for (let i = 1; i <= OP_PUSHBYTES_75; i++) names[i] = `OP_PUSHBYTES_${i}`;
  names[0x4c] = "OP_PUSHDATA1";
  names[0x4d] = "OP_PUSHDATA2";
  names[0x4e] = "OP_PUSHDATA4";
  names[0x4f] = "OP_PUSHNUM_NEG1";
  names[0x50] = "OP_RESERVED";
  for (let i = 1; i <= 16; i++) names[0x50 + i] = `OP_PUSHNUM_${i}`;
  const named: readonly string[] = [
    "OP_NOP", "OP_VER", "OP_IF", "OP_NOTIF", "OP_VERIF", "OP_VERNOTIF", "OP_ELSE", "OP_ENDIF", // 0x61-0x68
    "OP_VERIFY", "OP_RETURN", "OP_TOALTSTACK", "OP_FROMALTSTACK", "OP_2DROP", "OP_2DUP", "OP_3DUP", // 0x69-0x6f
    "OP_2OVER", "OP_2ROT", "OP_2SWAP", "OP_IFDUP", "OP_DEPTH", "OP_DROP", "OP_DUP", "OP_NIP", // 0x70-0x77
    "OP_OVER", "OP_PICK", "OP_ROLL", "OP_ROT", "OP_SWAP", "OP_TUCK", "OP_CAT", "OP_SUBSTR", // 0x78-0x7f
    "OP_LEFT", "OP_RIGHT", "OP_SIZE", "OP_INVERT", "OP_AND", "OP_OR", "OP_XOR", "OP_EQUAL", // 0x80-0x87
    "OP_EQUALVERIFY", "OP_RESERVED1", "OP_RESERVED2", "OP_1ADD", "OP_1SUB", "OP_2MUL", "OP_2DIV", // 0x88-0x8e
    "OP_NEGATE", "OP_ABS", "OP_NOT", "OP_0NOTEQUAL", "OP_ADD", "OP_SUB", "OP_MUL", "OP_DIV", // 0x8f-0x96
    "OP_MOD", "OP_LSHIFT", "OP_RSHIFT", "OP_BOOLAND", "OP_BOOLOR", "OP_NUMEQUAL", // 0x97-0x9c
    "OP_NUMEQUALVERIFY", "OP_NUMNOTEQUAL", "OP_LESSTHAN", "OP_GREATERTHAN", // 0x9d-0xa0
    "OP_LESSTHANOREQUAL", "OP_GREATERTHANOREQUAL", "OP_MIN", "OP_MAX", "OP_WITHIN", // 0xa1-0xa5
    "OP_RIPEMD160", "OP_SHA1", "OP_SHA256", "OP_HASH160", "OP_HASH256", "OP_CODESEPARATOR", // 0xa6-0xab
    "OP_CHECKSIG", "OP_CHECKSIGVERIFY", "OP_CHECKMULTISIG", "OP_CHECKMULTISIGVERIFY", // 0xac-0xaf
    "OP_NOP1", "OP_CLTV", "OP_CSV", "OP_NOP4", "OP_NOP5", "OP_NOP6", "OP_NOP7", "OP_NOP8", // 0xb0-0xb7
    "OP_NOP9", "OP_NOP10", "OP_CHECKSIGADD", // 0xb8-0xba
  ];
  for (let i = 0; i < named.length; i++) names[0x61 + i] = named[i]!;
  for (let i = 0xbb; i <= 0xfe; i++) names[i] = `OP_RETURN_${i}`;
  names[0xff] = "OP_INVALIDOPCODE";
  return names;
}

/**
 * rust-bitcoin 0.32 `Script::fmt_asm` (what electrs' `to_asm()` strips out of `Script(...)`):
 * space-separated opcode names, each push followed by its data in hex. Malformed scripts end the
 * way rust-bitcoin ends them, which is not symmetric:
 * - a push longer than the rest of the script prints its name, then `<push past end>`;
 * - OP_PUSHDATA1/2/4 whose length bytes are cut off prints `<unexpected end>` in place of the
 *   opcode, with no separating space (rust-bitcoin writes it before the separator).
 * Non-minimal pushes are shown as written (OP_PUSHDATA1 for 3 bytes stays OP_PUSHDATA1).
 *
 * `hex` is the whole script's hex when the caller has it (JSON shows both): each push's hex is then
 * a slice of it, where a subarray and its own hex cost ~0.2 µs per push on JSC.
 */
export function scriptAsm(script: Uint8Array, hex: string | null = null): string {
  const n = script.length;
  let out = "";
  let any = false;
  let i = 0;
  while (i < n) {
    const op = script[i++]!;
    let len = 0;
    if (op <= OP_PUSHBYTES_75) {
      len = op;
    } else if (op <= OP_PUSHDATA4) {
      const size = op === OP_PUSHDATA1 ? 1 : op === OP_PUSHDATA2 ? 2 : 4;
      if (n - i < size) {
        out += "<unexpected end>";
        break;
      }
      len = readLength(script, i, size);
      i += size;
    }
    if (any) out += " ";
    any = true;
    out += OPCODE_NAMES[op]!;
    if (len > 0) {
      out += " ";
      if (len > n - i) {
        out += "<push past end>";
        break;
      }
      out += hex !== null ? hex.slice(2 * i, 2 * (i + len)) : bytesToHex(script.subarray(i, i + len));
      i += len;
    }
  }
  return out;
}

/** Little-endian push length after OP_PUSHDATA1/2/4 (`size` bytes at `at`, known to be present). */
function readLength(script: Uint8Array, at: number, size: number): number {
  if (size === 1) return script[at]!;
  if (size === 2) return script[at]! | (script[at + 1]! << 8);
  return (script[at]! | (script[at + 1]! << 8) | (script[at + 2]! << 16) | (script[at + 3]! << 24)) >>> 0;
}

/**
 * The redeem script of a P2SH spend, as electrs' `get_innerscripts`: only when the prevout is
 * P2SH, and only when the last instruction of the scriptSig (rust-bitcoin's non-minimal
 * `instructions()`) is a data push. OP_0 counts as an empty push (so the result can be empty);
 * OP_1..OP_16 do not. A scriptSig that fails to parse anywhere has none, because rust-bitcoin's
 * iterator ends with the error. Returns a view into `scriptSig`.
 */
export function innerRedeemScript(scriptSig: Uint8Array, prevoutScript: Uint8Array): Uint8Array | null {
  if (!isP2sh(prevoutScript)) return null;
  const n = scriptSig.length;
  let lastStart = -1;
  let lastEnd = -1;
  let i = 0;
  while (i < n) {
    const op = scriptSig[i++]!;
    let len: number;
    if (op <= OP_PUSHBYTES_75) {
      len = op;
    } else if (op <= OP_PUSHDATA4) {
      const size = op === OP_PUSHDATA1 ? 1 : op === OP_PUSHDATA2 ? 2 : 4;
      if (n - i < size) return null;
      len = readLength(scriptSig, i, size);
      i += size;
    } else {
      lastStart = -1;
      continue;
    }
    if (len > n - i) return null;
    lastStart = i;
    lastEnd = i + len;
    i += len;
  }
  return lastStart < 0 ? null : scriptSig.subarray(lastStart, lastEnd);
}

/**
 * The witness script of a P2WSH or P2SH-P2WSH spend, as electrs' `get_innerscripts`: the last
 * witness item when the prevout is P2WSH, or when it is P2SH and `redeemScript` (the result of
 * `innerRedeemScript` for the same input) is a v0 32-byte program. Nothing for an empty witness.
 * electrs does not look at the item: for a P2SH-P2WSH spend it is taken as is.
 */
export function innerWitnessScript(
  witness: readonly Uint8Array[],
  prevoutScript: Uint8Array,
  redeemScript: Uint8Array | null,
): Uint8Array | null {
  const wrapped = redeemScript !== null && isP2sh(prevoutScript) && isP2wsh(redeemScript);
  if (!wrapped && !isP2wsh(prevoutScript)) return null;
  return witness.length === 0 ? null : witness[witness.length - 1]!;
}
