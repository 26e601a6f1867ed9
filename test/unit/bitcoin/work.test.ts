import { describe, expect, test } from "bun:test";
import { decodeCompact, targetFromBits, workFromBits } from "../../../src/bitcoin/work.ts";
import { ParseError } from "../../../src/errors.ts";
import { expected } from "./fixture.ts";

describe("targetFromBits", () => {
  test("known targets", () => {
    expect(targetFromBits(0x1d00ffff)).toBe(0xffffn << 208n);
    expect(targetFromBits(0x207fffff)).toBe(0x7fffffn << 232n);
    // Mainnet block 840000's bits.
    expect(targetFromBits(0x17034219)).toBe(0x034219n << 160n);
    // Exponent ≤ 3 shifts the mantissa right.
    expect(targetFromBits(0x01123456)).toBe(0x12n);
    expect(targetFromBits(0x02123456)).toBe(0x1234n);
    expect(targetFromBits(0x03123456)).toBe(0x123456n);
  });

  test("negative and overflowing encodings", () => {
    expect(decodeCompact(0x04923456).negative).toBe(true);
    expect(decodeCompact(0x01fedcba).negative).toBe(true);
    expect(decodeCompact(0x00800000).negative).toBe(false); // zero mantissa is not negative
    expect(decodeCompact(0xff123456).overflow).toBe(true);
    expect(decodeCompact(0x22000100).overflow).toBe(true);
    expect(decodeCompact(0x21010000).overflow).toBe(true);
    expect(decodeCompact(0x2000ffff).overflow).toBe(false);
    expect(() => targetFromBits(0x04923456)).toThrow(ParseError);
    expect(() => targetFromBits(0xff123456)).toThrow(ParseError);
  });
});

describe("workFromBits (Core's GetBlockProof)", () => {
  test("known values", () => {
    expect(workFromBits(0x1d00ffff)).toBe(4295032833n);
    expect(workFromBits(0x207fffff)).toBe(2n);
    expect(workFromBits(0x17034219)).toBe((1n << 256n) / ((0x034219n << 160n) + 1n));
  });

  test("invalid or zero targets have zero work", () => {
    expect(workFromBits(0)).toBe(0n);
    expect(workFromBits(0x04923456)).toBe(0n);
    expect(workFromBits(0xff123456)).toBe(0n);
  });

  test("fixture chain: 138 regtest blocks at 2 work each", () => {
    const total = expected.blocks.reduce((s, b) => s + workFromBits(Number.parseInt(b.bits, 16)), 0n);
    expect(total).toBe(2n * BigInt(expected.blocks.length));
  });
});
