/**
 * History entries written as bytes (src/query/history-bytes.ts): the same text as the string
 * templates they replace, for every fixture tx (heights of one to three digits, height 0 included)
 * and for heights of up to ten digits, with and without a leading separator.
 */
import { afterEach, expect, test } from "bun:test";
import { HISTORY_ENTRY_JSON, STATUS_ENTRY_TEXT, writeHistoryEntries } from "../../../src/query/history-bytes.ts";
import type { StoreReader } from "../../../src/store/read.ts";
import { openFixture, type Fixture } from "../rest/harness.ts";
import { historyEntries } from "../../helpers/electrum-history.ts";

let fx: Fixture | null = null;
afterEach(() => {
  fx?.close();
  fx = null;
});

const jsonEntry = (e: { txidHex: string; height: number }) => `{"tx_hash":"${e.txidHex}","height":${e.height}}`;
const statusEntry = (e: { txidHex: string; height: number }) => `${e.txidHex}:${e.height}:`;

test("every fixture tx: get_history's JSON entries and the status text, byte for byte", async () => {
  fx = await openFixture();
  const reader = fx.indexer.reader;
  const tip = reader.tip()!;
  const last = tip.firstTxnum + tip.txCount;
  const txnums = Array.from({ length: last }, (_, i) => i);
  const entries = historyEntries(reader, txnums);
  expect(entries[0]!.height).toBe(0);
  expect(writeHistoryEntries(reader, txnums, HISTORY_ENTRY_JSON, false).toString("latin1")).toBe(entries.map(jsonEntry).join(","));
  expect(writeHistoryEntries(reader, txnums, HISTORY_ENTRY_JSON, true).toString("latin1")).toBe("," + entries.map(jsonEntry).join(","));
  expect(writeHistoryEntries(reader, txnums, STATUS_ENTRY_TEXT, false).toString("latin1")).toBe(entries.map(statusEntry).join(""));
  // Any order, repeats, one entry, none.
  const some = [last - 1, 0, 5, 5, 1];
  expect(writeHistoryEntries(reader, some, HISTORY_ENTRY_JSON, false).toString("latin1")).toBe(historyEntries(reader, some).map(jsonEntry).join(","));
  expect(writeHistoryEntries(reader, [3], HISTORY_ENTRY_JSON, true).toString("latin1")).toBe("," + jsonEntry(historyEntries(reader, [3])[0]!));
  expect(writeHistoryEntries(reader, [], HISTORY_ENTRY_JSON, true).length).toBe(0);
  // A tx number past the tip is refused, as heightsOf refuses it.
  expect(() => writeHistoryEntries(reader, [last], HISTORY_ENTRY_JSON, false)).toThrow(/not found/);
});

test("heights of up to ten digits are written as JSON writes them", () => {
  const heights = [0, 1, 9, 10, 99, 100, 999_999, 1_000_000, 2_147_483_647];
  const txidHex = "0123456789abcdef".repeat(4);
  // No chain has these heights: a reader of one txid at every tx number, whose height is the one listed.
  const reader = {
    heightsOf: (txnums: readonly number[]) => txnums.map((t) => heights[t]!),
    writeTxidHex: (_txnum: number, out: DataView, at: number) => {
      for (let i = 0; i < 64; i++) out.setUint8(at + i, txidHex.charCodeAt(i));
    },
  } as unknown as StoreReader;
  const txnums = heights.map((_, i) => i);
  const text = writeHistoryEntries(reader, txnums, HISTORY_ENTRY_JSON, false).toString("latin1");
  expect(JSON.parse(`[${text}]`)).toEqual(heights.map((height) => ({ tx_hash: txidHex, height })));
  expect(text).toBe(heights.map((height) => JSON.stringify({ tx_hash: txidHex, height })).join(","));
});
