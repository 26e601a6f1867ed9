/**
 * The hex helpers (src/bitcoin/bytes.ts), which use the runtime's native Uint8Array hex: the same
 * text as Buffer's encoding for every length and byte, display order for hashes, and our own
 * ParseError (reason and position) for what the native decoder refuses.
 */
import { describe, expect, test } from "bun:test";
import { bytesToHex, hashHexAt, hashToHex, HASH_HEX_BYTES, hexToBytes, hexToHash, reversed, writeHashHex } from "../../../src/bitcoin/bytes.ts";
import { ParseError } from "../../../src/errors.ts";

/** Deterministic bytes: every value 0..255 appears within the first 256. */
const sample = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (i * 151 + seed * 7 + (i >> 8)) & 255);

describe("hex", () => {
  test("bytesToHex and hexToBytes agree with Buffer for lengths 0 … 300 and big inputs, views included", () => {
    for (let n = 0; n <= 300; n++) {
      const b = sample(n, n);
      const hex = Buffer.from(b).toString("hex");
      expect(bytesToHex(b)).toBe(hex);
      expect(hexToBytes(hex)).toEqual(b);
      expect(hexToBytes(hex.toUpperCase())).toEqual(b);
    }
    const big = sample(322_560, 3);
    expect(bytesToHex(big)).toBe(Buffer.from(big).toString("hex"));
    // A view into a bigger buffer: only its own bytes.
    const backing = sample(100, 9);
    const view = backing.subarray(10, 42);
    expect(bytesToHex(view)).toBe(Buffer.from(view).toString("hex"));
  });

  test("writeHashHex writes hashHexAt's digits as ASCII at any offset of the target, and nothing else", () => {
    const source = sample(32 * 300, 5);
    for (let r = 0; r < 300; r++) {
      const at = r % 7; // odd and unaligned offsets too
      const out = new Uint8Array(at + HASH_HEX_BYTES + 3).fill(0x2e);
      writeHashHex(source, r * 32, new DataView(out.buffer), at);
      const text = new TextDecoder("latin1").decode(out);
      expect(text).toBe(".".repeat(at) + hashHexAt(source, r * 32) + "...");
      expect(text.slice(at, at + HASH_HEX_BYTES)).toBe(hashToHex(source.subarray(r * 32, r * 32 + 32)));
    }
  });

  test("hashes are shown in display (reversed) order, and back", () => {
    const hash = sample(32, 1);
    const display = Buffer.from(hash).reverse().toString("hex");
    expect(hashToHex(hash)).toBe(display);
    expect(hexToHash(display)).toEqual(hash);
    expect(reversed(reversed(hash))).toEqual(hash);
    expect(hash).toEqual(sample(32, 1)); // not reversed in place
    // The genesis block hash, as every explorer shows it.
    const genesis = hexToHash("000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f");
    expect(genesis[0]).toBe(0x6f);
    expect(hashToHex(genesis)).toBe("000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f");
  });

  test("refused hex gives our ParseError with the reason and where", () => {
    const reason = (hex: string) => {
      try {
        hexToBytes(hex);
      } catch (err) {
        expect(err).toBeInstanceOf(ParseError);
        return (err as Error).message;
      }
      return "accepted";
    };
    expect(reason("abc")).toBe("hex string has odd length 3");
    expect(reason("zz")).toBe("invalid hex character at 0");
    expect(reason("00ag")).toBe("invalid hex character at 2");
    expect(reason("00 1")).toBe("invalid hex character at 2");
    expect(reason("0x00")).toBe("invalid hex character at 0");
    expect(reason("éé")).toBe("invalid hex character at 0");
    expect(reason("")).toBe("accepted");
    expect(() => hexToHash("00".repeat(31))).toThrow("hash must be 64 hex characters, got 62");
  });
});
