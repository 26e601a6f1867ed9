/**
 * Flat blocks (index/flat-block.ts), the one way every block is indexed: the layout of what
 * flattenBlock gives (the initial sync's worker hands it back), and the fixture indexed block by
 * block through flattenBlock + writeFlatBlock into a live index (as the main loop indexes new
 * blocks) is the fixture's ground truth (Core's RPC), with and without --index-unspendables and
 * --address-search, for blocks located in the blk files and for blocks whose bytes are stored;
 * and the script keys it collects for the notifications are those its rows name.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { addressOf } from "../../../src/bitcoin/address.ts";
import { parseBlock } from "../../../src/bitcoin/block.ts";
import { NETWORKS } from "../../../src/bitcoin/network.ts";
import { offlineSource, openBlkFileIndex, type RawBlock } from "../../../src/daemon/sources.ts";
import { TX_INPUTS, TX_LENGTH, TX_OFFSET, TX_OUTPUTS, TX_WORDS, flattenBlock, writeFlatBlock, type FlattenOptions } from "../../../src/index/flat-block.ts";
import type { SpendSources } from "../../../src/index/indexer.ts";
import { OpsWriter } from "../../../src/index/prevout-ops.ts";
import { applyOps } from "../../../src/index/prevouts.ts";
import { UtxoTable } from "../../../src/index/utxo-table.ts";
import { silentLogger } from "../../../src/log.ts";
import { openDb } from "../../../src/store/db.ts";
import { StoreReader } from "../../../src/store/read.ts";
import { SCRIPT_KEY_BYTES, isUnspendable, scriptKeyOf } from "../../../src/store/rows.ts";
import { createWriter } from "../../../src/store/write.ts";
import { FIXTURE_BLOCKS, fixtureBestChain, loadExpected, openBlkFiles } from "../../helpers/fixture.ts";
import { checkBlocks, checkOutspends, checkScripts, checkSpendTables, checkTxs, scriptKeysOfBlocks } from "../../helpers/index-check.ts";

const log = silentLogger();
const blkFiles = openBlkFiles();
const expected = loadExpected();
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

describe("flat blocks", () => {
  for (const opts of [{ indexUnspendables: false }, { indexUnspendables: true, addressSearch: "regtest" as const }] satisfies FlattenOptions[]) {
    for (const located of [true, false]) {
      test(`indexed one by one into a live index: the fixture's ground truth (${JSON.stringify(opts)}, ${located ? "located in the blk files" : "bytes stored"})`, () => {
        const db = openDb({ dir: ":memory:", network: "regtest", log });
        const reader = new StoreReader(db, located ? blkFiles : null);
        const writer = createWriter(db, reader);
        writer.setLive(true);
        const table = new UtxoTable(1 << 14);
        const ops = new OpsWriter();
        const touched: Set<string>[] = [];
        const addresses = new Set<string>();
        let txnum = 0;
        try {
          for (const raw of blocks) {
            db.write(() => {
              const block = parseBlock(raw.bytes, { witness: false });
              const file = located ? (raw.file ?? null) : null;
              const flat = flattenBlock(block, txnum, opts, ops);
              const keys = new Set<string>();
              const bytes = { header: block.header.raw, size: raw.bytes.length, bytes: raw.bytes };
              const counts = writeFlatBlock(flat, bytes, raw.height, block.header.hash, txnum, file, applyOps(table, ops.take(), "clear"), writer, noSpill, keys);
              expect(counts.txs).toBe(block.txs.length);
              touched.push(keys);
              txnum += counts.txs;
              writer.flush();
              if (opts.addressSearch) {
                for (const tx of block.txs) for (const out of tx.outputs) {
                  const a = addressOf(out.script, NETWORKS.regtest);
                  if (a !== null) addresses.add(a);
                }
              }
            });
          }
          checkBlocks(reader, expected);
          checkTxs(reader, expected);
          if (!opts.indexUnspendables) {
            checkScripts(reader, expected);
            checkOutspends(reader, expected);
          }
          checkSpendTables(db);
          blocks.forEach((raw, i) => expect({ height: raw.height, keys: [...touched[i]!].sort() }).toEqual({ height: raw.height, keys: [...scriptKeysOfBlocks(reader, raw.height, raw.height)].sort() }));
          const stored = db.sql.query<{ address: string }, []>("SELECT address FROM addresses ORDER BY address").all().map((r) => r.address);
          expect(stored).toEqual([...addresses].sort());
          if (opts.addressSearch) expect(stored.length).toBeGreaterThan(10);
        } finally {
          writer.finalize();
          db.close();
        }
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
