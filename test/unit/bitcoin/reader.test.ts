import { describe, expect, test } from "bun:test";
import { hexToBytes } from "../../../src/bitcoin/bytes.ts";
import { MAX_COMPACT_SIZE, Reader } from "../../../src/bitcoin/reader.ts";
import { ParseError } from "../../../src/errors.ts";

const r = (hex: string) => new Reader(hexToBytes(hex));

describe("Reader fixed-width integers", () => {
  test("little-endian reads and position", () => {
    const rd = r("ff" + "3412" + "78563412" + "feffffff" + "0100000002000000");
    expect(rd.u8()).toBe(0xff);
    expect(rd.u16le()).toBe(0x1234);
    expect(rd.u32le()).toBe(0x12345678);
    expect(rd.i32le()).toBe(-2);
    expect(rd.u64le()).toBe(2 * 2 ** 32 + 1);
    expect(rd.pos).toBe(19);
    expect(rd.remaining).toBe(0);
  });

  test("u32le is unsigned, i32le signed", () => {
    expect(r("ffffffff").u32le()).toBe(0xffffffff);
    expect(r("ffffffff").i32le()).toBe(-1);
  });

  test("u64le accepts 2^53-1 and rejects 2^53", () => {
    expect(r("ffffffffffff1f00").u64le()).toBe(Number.MAX_SAFE_INTEGER);
    expect(() => r("0000000000002000").u64le()).toThrow(ParseError);
    expect(() => r("ffffffffffffffff").u64le("output value")).toThrow(/output value at offset 0 exceeds 2\^53-1/);
  });

  test("truncation names the field and offset", () => {
    const rd = r("010203");
    rd.u8();
    expect(() => rd.u32le("sequence")).toThrow("truncated sequence at offset 1: need 4 bytes, 2 left");
    expect(rd.pos).toBe(1); // a failed read does not move the cursor
    expect(() => r("").u8()).toThrow(ParseError);
    expect(() => r("0102").u16le()).not.toThrow();
    expect(() => r("01020304050607").u64le()).toThrow(ParseError);
  });

  test("constructor rejects an offset outside the buffer", () => {
    expect(() => new Reader(new Uint8Array(2), 3)).toThrow(ParseError);
    expect(new Reader(new Uint8Array(2), 2).remaining).toBe(0);
  });
});

describe("Reader CompactSize", () => {
  test("canonical encodings", () => {
    expect(r("00").varint()).toBe(0);
    expect(r("fc").varint()).toBe(0xfc);
    expect(r("fdfd00").varint()).toBe(0xfd);
    expect(r("fdffff").varint()).toBe(0xffff);
    expect(r("fe00000100").varint()).toBe(0x10000);
    expect(r("fe00000002").varint()).toBe(MAX_COMPACT_SIZE);
  });

  test("non-canonical encodings throw", () => {
    for (const hex of ["fdfc00", "fd0000", "feffff0000", "fe00000000", "ffffffffff00000000", "ff0000000000000000"]) {
      expect(() => r(hex).varint()).toThrow(/non-canonical/);
    }
  });

  test("values above MAX_SIZE throw", () => {
    expect(() => r("fe01000002").varint()).toThrow(/MAX_SIZE/);
    expect(() => r("ff0000000001000000").varint()).toThrow(/MAX_SIZE/);
    expect(() => r("ffffffffffffffffff").varint()).toThrow(ParseError);
  });

  test("truncated CompactSize throws ParseError", () => {
    for (const hex of ["", "fd", "fd01", "fe010203", "ff01020304050607"]) {
      expect(() => r(hex).varint()).toThrow(ParseError);
    }
  });

  test("bytes() returns a view, varBytes reads a length prefix", () => {
    const data = hexToBytes("03aabbccdd");
    const rd = new Reader(data);
    const v = rd.varBytes();
    expect(Array.from(v)).toEqual([0xaa, 0xbb, 0xcc]);
    expect(v.buffer).toBe(data.buffer);
    expect(v.byteOffset).toBe(1);
    expect(() => rd.bytes(2)).toThrow(ParseError);
    expect(() => r("05aabb").varBytes("script")).toThrow(/truncated script at offset 1/);
  });
});
