/** The integer encodings of store/rows.ts that the index files depend on: changing one needs a SCHEMA_VERSION bump. */
import { describe, expect, test } from "bun:test";
import { SCHEMA_VERSION, TX_LOC_BITS, TX_LOC_SPAN, decodeTxLoc, encodeTxLoc } from "../../../src/store/rows.ts";

describe("txs.loc: byte offset in the block * 2^22 + byte length", () => {
  test("the layout", () => {
    expect(SCHEMA_VERSION).toBe(8);
    expect(TX_LOC_BITS).toBe(22);
    expect(TX_LOC_SPAN).toBe(4_194_304);
    // The coinbase of a block of 1 tx: after the 80-byte header and a 1-byte tx count.
    expect(encodeTxLoc(81, 204)).toBe(81 * 4_194_304 + 204);
    expect(encodeTxLoc(81, 204)).toBe(339_738_828);
    expect(decodeTxLoc(339_738_828)).toEqual({ byteOffset: 81, byteLength: 204 });
  });

  test("round trip up to the largest block, and a safe integer", () => {
    const max = TX_LOC_SPAN - 1;
    for (const [off, len] of [
      [0, 1],
      [81, 60],
      [3_999_000, 1_000],
      [max, 1],
      [1, max],
      [max, max],
    ] as const) {
      const loc = encodeTxLoc(off, len);
      expect(Number.isSafeInteger(loc)).toBe(true);
      expect(decodeTxLoc(loc)).toEqual({ byteOffset: off, byteLength: len });
    }
    expect(encodeTxLoc(max, max)).toBeLessThan(2 ** 44);
  });

  test("what does not fit is refused, never wrapped", () => {
    expect(() => encodeTxLoc(TX_LOC_SPAN, 1)).toThrow(RangeError);
    expect(() => encodeTxLoc(1, TX_LOC_SPAN)).toThrow(RangeError);
    expect(() => encodeTxLoc(-1, 1)).toThrow(RangeError);
    expect(() => encodeTxLoc(1, 0)).toThrow(RangeError);
    expect(() => encodeTxLoc(1.5, 1)).toThrow(RangeError);
  });
});

describe("indexes.sql computes ids with rows.ts's constants", () => {
  test("output id = txnum * IO_SPAN + vout, txnum = id >> IO_BITS, the txid key's bytes", async () => {
    const { IO_BITS, IO_SPAN, TXID_KEY_BYTES } = await import("../../../src/store/rows.ts");
    const text = await Bun.file(new URL("../../../src/store/indexes.sql", import.meta.url)).text();
    expect(IO_BITS).toBe(20);
    expect(text).toContain(`t.txnum * ${IO_SPAN} + d.vout`);
    expect(text).toContain(`(d.id >> ${IO_BITS})`);
    expect(text).toContain(`substr(txid, 1, ${TXID_KEY_BYTES}) AS key`);
  });
});
