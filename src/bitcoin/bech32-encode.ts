/**
 * Segwit address encoding (BIP173 bech32 for version 0, BIP350 bech32m for 1–16): the hot half of
 * bech32 that every witness output served as JSON goes through (`scriptpubkey_address`).
 *
 * Our own code, not the `bech32` package's `toWords` + `encode` (which address.ts still uses to
 * decode): that path allocates a word array and an intermediate string per address and took
 * ~800 ns per P2WPKH address on JSC (2026-12-07, 2 vCPU Xeon), a third of a rendered tx's JSON.
 * This one converts the program's bits and runs the checksum in one pass over a reused buffer,
 * with the HRP's part of the checksum computed once per HRP. Pinned against the package on every
 * program length and version (test/unit/bitcoin/bech32-encode.test.ts).
 */

const CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";
const CHARSET_CODES = Uint8Array.from(CHARSET, (c) => c.charCodeAt(0));
/** The constant the checksum is XOR-ed with: BIP173 (bech32) and BIP350 (bech32m). */
const BECH32_CONST = 1;
const BECH32M_CONST = 0x2bc830a3;

function polymodStep(pre: number): number {
  const b = pre >>> 25;
  return (
    (((pre & 0x1ffffff) << 5) ^
      (-(b & 1) & 0x3b6a57b2) ^
      (-((b >>> 1) & 1) & 0x26508e6d) ^
      (-((b >>> 2) & 1) & 0x1ea119fa) ^
      (-((b >>> 3) & 1) & 0x3d4233dd) ^
      (-((b >>> 4) & 1) & 0x2a1462b3)) >>>
    0
  );
}

/** The checksum state after the expanded HRP (BIP173: high bits, a zero, low bits), by HRP. */
const hrpStates = new Map<string, number>();

function hrpState(hrp: string): number {
  let chk = hrpStates.get(hrp);
  if (chk !== undefined) return chk;
  chk = 1;
  for (let i = 0; i < hrp.length; i++) chk = polymodStep(chk) ^ (hrp.charCodeAt(i) >> 5);
  chk = polymodStep(chk);
  for (let i = 0; i < hrp.length; i++) chk = polymodStep(chk) ^ (hrp.charCodeAt(i) & 31);
  hrpStates.set(hrp, chk);
  return chk;
}

/** Data part of the longest address: version, 40 bytes as 64 words, 6 checksum words. */
const chars = new Uint8Array(1 + 64 + 6);
const decoder = new TextDecoder("latin1");

/**
 * `hrp` + "1" + the data part for witness `version` (0–16) and the program `bytes[from..]` (the
 * caller checks the lengths BIP141 allows; an offset, because a subarray costs ~0.1 µs on JSC):
 * bech32 for version 0, bech32m above. Lower case, as rust-bitcoin prints.
 */
export function encodeSegwitAddress(hrp: string, version: number, bytes: Uint8Array, from = 0): string {
  let chk = polymodStep(hrpState(hrp)) ^ version;
  let n = 0;
  chars[n++] = CHARSET_CODES[version]!;
  // 8-bit bytes to 5-bit words, most significant first; the last word is padded with zeros.
  let acc = 0;
  let bits = 0;
  for (let i = from; i < bytes.length; i++) {
    acc = ((acc << 8) | bytes[i]!) & 0xfff;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      const word = (acc >>> bits) & 31;
      chk = polymodStep(chk) ^ word;
      chars[n++] = CHARSET_CODES[word]!;
    }
  }
  if (bits > 0) {
    const word = (acc << (5 - bits)) & 31;
    chk = polymodStep(chk) ^ word;
    chars[n++] = CHARSET_CODES[word]!;
  }
  for (let i = 0; i < 6; i++) chk = polymodStep(chk);
  chk = (chk ^ (version === 0 ? BECH32_CONST : BECH32M_CONST)) >>> 0;
  for (let i = 0; i < 6; i++) chars[n++] = CHARSET_CODES[(chk >>> (5 * (5 - i))) & 31]!;
  return `${hrp}1${decoder.decode(chars.subarray(0, n))}`;
}
