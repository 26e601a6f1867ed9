/**
 * The initial sync's flat blocks (index/flat-block.ts): the layout of what the table's thread hands
 * back, and the same index whether a block goes through indexBlock + writeSpends (live blocks) or
 * through flattenBlock + writeFlatBlock (the initial sync), with and without --index-unspendables
 * and --address-search, for blocks located in the blk files and for blocks whose bytes are stored.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { parseBlock } from "../../../src/bitcoin/block.ts";
import { NETWORKS } from "../../../src/bitcoin/network.ts";
import { offlineSource, openBlkFileIndex, type RawBlock } from "../../../src/daemon/sources.ts";
import { TX_INPUTS, TX_LENGTH, TX_OFFSET, TX_OUTPUTS, TX_WORDS, flattenBlock, writeFlatBlock, type FlattenOptions } from "../../../src/index/flat-block.ts";
import { indexBlock, writeSpends, type SpendSources } from "../../../src/index/indexer.ts";
import { OpsWriter } from "../../../src/index/prevout-ops.ts";
import { applyOps } from "../../../src/index/prevouts.ts";
import { UtxoTable } from "../../../src/index/utxo-table.ts";
import { silentLogger } from "../../../src/log.ts";
import { openDb } from "../../../src/store/db.ts";
import { SCRIPT_KEY_BYTES, isUnspendable, scriptKeyOf } from "../../../src/store/rows.ts";
import { createWriter } from "../../../src/store/write.ts";
import { FIXTURE_BLOCKS, fixtureBestChain, openBlkFiles } from "../../helpers/fixture.ts";
import { digestIndex } from "../../helpers/index-check.ts";

const log = silentLogger();
const blkFiles = openBlkFiles();
let blocks: RawBlock[];

beforeAll(async () => {
  blocks = await fixtureBestChain(offlineSource(openBlkFileIndex(FIXTURE_BLOCKS, NETWORKS.regtest.magic, log), NETWORKS.regtest.genesisHashHex, log));
});
afterAll(() => blkFiles.close());

/** The fixture's best chain is whole: a spend the table does not hold is a bug. */
const noSpill: SpendSources = {
  missed: (_txid, vout) => {
    throw new Error(`missed ${vout}`);
  },
  evicted: () => {
    throw new Error("evicted");
  },
};

/** The fixture indexed block by block through one path; its digest and its addresses. */
function indexWith(path: "objects" | "flat", opts: FlattenOptions, located: boolean): { digest: string; addresses: string[] } {
  const db = openDb({ dir: ":memory:", network: "regtest", log });
  const writer = createWriter(db);
  const table = new UtxoTable(1 << 14);
  const ops = new OpsWriter();
  let txnum = 0;
  try {
    db.sql.exec("BEGIN");
    for (const raw of blocks) {
      const block = parseBlock(raw.bytes, { witness: false });
      const file = located ? (raw.file ?? null) : null;
      if (path === "objects") {
        const counts = indexBlock(block, raw.height, txnum, writer, opts, file, ops);
        writeSpends(block, raw.height, txnum, applyOps(table, ops.take(), "evict"), writer, noSpill);
        txnum += counts.txs;
      } else {
        const flat = flattenBlock(block, txnum, opts, ops);
        writeFlatBlock(flat, { header: raw.bytes.slice(0, 80), size: raw.bytes.length, bytes: file ? null : raw.bytes }, raw.height, block.header.hash, txnum, file, applyOps(table, ops.take(), "evict"), writer, noSpill);
        txnum += flat.txCount;
      }
    }
    writer.flush();
    db.sql.exec("COMMIT");
    const addresses = db.sql.query<{ address: string }, []>("SELECT address FROM addresses ORDER BY address").all().map((r) => r.address);
    return { digest: digestIndex(db), addresses };
  } finally {
    writer.finalize();
    db.close();
  }
}

describe("flat blocks", () => {
  for (const opts of [{ indexUnspendables: false }, { indexUnspendables: true, addressSearch: "regtest" as const }]) {
    for (const located of [true, false]) {
      test(`give the index indexBlock and writeSpends give (${JSON.stringify(opts)}, ${located ? "located in the blk files" : "bytes stored"})`, () => {
        const objects = indexWith("objects", opts, located);
        const flat = indexWith("flat", opts, located);
        expect(flat.digest).toBe(objects.digest);
        expect(flat.addresses).toEqual(objects.addresses);
        if (opts.addressSearch) expect(flat.addresses.length).toBeGreaterThan(10);
        else expect(flat.addresses).toEqual([]);
      });
    }
  }

  test("the layout: per tx its place in the block, inputs and indexed outputs; per output its vout, key and value; per input its prevout", () => {
    let checkedUnspendable = false;
    let checkedSegwit = false;
    for (const raw of blocks) {
      const block = parseBlock(raw.bytes, { witness: false });
      const ops = new OpsWriter();
      const f = flattenBlock(block, 1000, { indexUnspendables: false }, ops);
      expect(f.txCount).toBe(block.txs.length);
      expect(f.weight).toBe(block.weight);
      expect(f.txs.length).toBe(block.txs.length * TX_WORDS);
      let o = 0;
      let n = 0;
      let adds = 0;
      block.txs.forEach((tx, pos) => {
        const t = pos * TX_WORDS;
        expect(raw.bytes.subarray(f.txs[t + TX_OFFSET]!, f.txs[t + TX_OFFSET]! + f.txs[t + TX_LENGTH]!)).toEqual(tx.raw);
        expect(f.txids.subarray(pos * 32, pos * 32 + 32)).toEqual(tx.txid);
        expect(f.txs[t + TX_INPUTS]).toBe(tx.isCoinbase ? 0 : tx.inputs.length);
        if (!tx.isCoinbase) {
          for (const input of tx.inputs) {
            expect(f.prevTxids.subarray(n * 32, n * 32 + 32)).toEqual(input.prevTxid);
            expect(f.prevVouts[n++]).toBe(input.prevVout);
          }
        }
        if (tx.hasWitness) checkedSegwit = true;
        const indexed = tx.outputs.map((out, vout) => ({ out, vout })).filter(({ out }) => !isUnspendable(out.script));
        if (indexed.length < tx.outputs.length) checkedUnspendable = true;
        expect(f.txs[t + TX_OUTPUTS]).toBe(indexed.length);
        for (const { out, vout } of indexed) {
          expect(f.outVouts[o]).toBe(vout);
          expect(f.outValues[o]).toBe(out.valueSat);
          expect(f.outKeys.subarray(o * SCRIPT_KEY_BYTES, (o + 1) * SCRIPT_KEY_BYTES)).toEqual(scriptKeyOf(out.script));
          o++;
        }
        adds += indexed.length;
      });
      expect(f.outVouts.length).toBe(o);
      expect(f.outKeys.length).toBe(o * SCRIPT_KEY_BYTES);
      expect(f.prevVouts.length).toBe(n);
      expect(f.addresses).toBeNull();
      // One op per input of a non-coinbase tx and per indexed output.
      expect(ops.count).toBe(n + adds);
    }
    expect(checkedUnspendable).toBe(true);
    expect(checkedSegwit).toBe(true);
  });
});
