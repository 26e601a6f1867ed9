import { describe, expect, test } from "bun:test";
import { bech32, bech32m } from "bech32";
import { encodeSegwitAddress } from "../../../src/bitcoin/bech32-encode.ts";

/** The `bech32` package's encoding (BIP173/BIP350 reference behaviour), which ours replaces on the hot path. */
function reference(hrp: string, version: number, program: Uint8Array): string {
  const words = bech32.toWords(program);
  words.unshift(version);
  return version === 0 ? bech32.encode(hrp, words) : bech32m.encode(hrp, words);
}

describe("encodeSegwitAddress", () => {
  test("BIP173 and BIP350 test vectors", () => {
    const hex = (s: string) => Uint8Array.fromHex(s);
    expect(encodeSegwitAddress("bc", 0, hex("751e76e8199196d454941c45d1b3a323f1433bd6"))).toBe("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4");
    expect(encodeSegwitAddress("tb", 0, hex("1863143c14c5166804bd19203356da136c985678cd4d27a1b8c6329604903262"))).toBe(
      "tb1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3q0sl5k7",
    );
    expect(encodeSegwitAddress("bc", 1, hex("79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798"))).toBe(
      "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0",
    );
    expect(encodeSegwitAddress("bc", 16, hex("751e"))).toBe("bc1sw50qgdz25j");
    expect(encodeSegwitAddress("bc", 2, hex("751e76e8199196d454941c45d1b3a323"))).toBe("bc1zw508d6qejxtdg4y5r3zarvaryvaxxpcs");
  });

  test("every version and program length, on every network's HRP, as the bech32 package encodes them", () => {
    for (const hrp of ["bc", "tb", "bcrt"]) {
      for (let version = 0; version <= 16; version++) {
        for (let length = 2; length <= 40; length++) {
          for (const fill of ["random", "zeros", "ones"] as const) {
            const program = fill === "random" ? crypto.getRandomValues(new Uint8Array(length)) : new Uint8Array(length).fill(fill === "zeros" ? 0 : 0xff);
            expect(encodeSegwitAddress(hrp, version, program)).toBe(reference(hrp, version, program));
          }
        }
      }
    }
  });

  test("a program at an offset of a script (no view made) and repeated calls with the reused buffer", () => {
    const script = Uint8Array.of(0x00, 20, ...crypto.getRandomValues(new Uint8Array(20)));
    const first = encodeSegwitAddress("bcrt", 0, script, 2);
    expect(first).toBe(reference("bcrt", 0, script.subarray(2)));
    // A longer address in between must not leave its tail in the next one.
    encodeSegwitAddress("bcrt", 1, new Uint8Array(40).fill(7));
    expect(encodeSegwitAddress("bcrt", 0, script, 2)).toBe(first);
  });
});
