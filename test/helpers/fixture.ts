/** The Bitcoin Core 30 regtest fixture (test/fixtures/regtest-core30, copied from shared/). */
import { join } from "node:path";
import { readFileSync } from "node:fs";
import { NETWORKS } from "../../src/bitcoin/network.ts";
import { openBlockReader, readXorKey, type BlockReader } from "../../src/daemon/blkfiles.ts";
import { offlineSource, openBlkFileIndex, type ChainSource, type RawBlock } from "../../src/daemon/sources.ts";
import { Indexer, noopSyncMetrics } from "../../src/index/sync.ts";
import type { Logger } from "../../src/log.ts";
import { openDb } from "../../src/store/db.ts";

export const FIXTURE_DIR = join(import.meta.dir, "..", "fixtures", "regtest-core30");
export const FIXTURE_BLOCKS = join(FIXTURE_DIR, "blocks");

export interface ExpectedBlock {
  hash: string;
  height: number;
  version: number;
  merkleroot: string;
  time: number;
  mediantime: number;
  nonce: number;
  bits: string;
  difficulty: number;
  nTx: number;
  size: number;
  weight: number;
  previousblockhash: string | null;
  header: string;
  txids: string[];
}

export interface ExpectedTx {
  hex: string;
  height: number;
  blockhash: string;
  pos: number;
  size: number;
  vsize: number;
  weight: number;
  fee_sat: number | null;
}

export interface ExpectedScript {
  scripthash: string;
  electrum_scripthash: string;
  script: string;
  type: string;
  address: string | null;
  history: { txid: string; height: number; pos: number }[];
  funded: { txid: string; vout: number; height: number; value: number }[];
  spent: { txid: string; vout: number; spending_txid: string; vin: number; height: number; value: number }[];
  utxos: { txid: string; vout: number; height: number; value: number }[];
  stats: { tx_count: number; funded_txo_count: number; funded_txo_sum: number; spent_txo_count: number; spent_txo_sum: number };
  balance: number;
  electrum_status: string | null;
}

export interface Expected {
  network: string;
  genesis: string;
  tip: { height: number; hash: string };
  xor_key: string;
  reorg: { stale_blocks: string[]; replaced_txid: string; replacement_txid: string; reconfirmed_txids: string[] };
  blocks: ExpectedBlock[];
  txs: Record<string, ExpectedTx>;
  scripts: ExpectedScript[];
}

/** Positioned reads of the blk files of `blocksDir` (the fixture's by default): where an index built from them reads its txs. */
export function openBlkFiles(blocksDir = FIXTURE_BLOCKS): BlockReader {
  return openBlockReader(blocksDir, readXorKey(blocksDir));
}

let cached: Expected | null = null;
export function loadExpected(): Expected {
  cached ??= JSON.parse(readFileSync(join(FIXTURE_DIR, "expected.json"), "utf8")) as Expected;
  return cached;
}

export interface FixtureIndexerOptions {
  /** The blk files (default: the fixture's). */
  readonly blocksDir?: string;
  /** Index directory (default ":memory:"). */
  readonly dbDir?: string;
  readonly log: Logger;
  readonly batchBlocks?: number;
  readonly utxoCacheBytes?: number;
  readonly recentMergeRows?: number;
  readonly levelFanout?: number;
}

/**
 * An indexer over blk files with the offline source, as the server runs it; `close` closes it and
 * everything it opened (also pushed to `cleanups`, for an afterEach).
 */
export function openFixtureIndexer(opts: FixtureIndexerOptions, cleanups: (() => void)[]) {
  const blocksDir = opts.blocksDir ?? FIXTURE_BLOCKS;
  const db = openDb({ dir: opts.dbDir ?? ":memory:", network: "regtest", log: opts.log });
  const blkFiles = openBlkFiles(blocksDir);
  const indexer = new Indexer(db, opts.log, noopSyncMetrics, {
    indexUnspendables: false,
    batchBlocks: opts.batchBlocks,
    blkFiles,
    utxoCacheBytes: opts.utxoCacheBytes,
    recentMergeRows: opts.recentMergeRows,
    levelFanout: opts.levelFanout,
  });
  const source = offlineSource(openBlkFileIndex(blocksDir, NETWORKS.regtest.magic, opts.log), NETWORKS.regtest.genesisHashHex, opts.log);
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    source.close();
    indexer.close();
    db.close();
    blkFiles.close();
  };
  cleanups.push(close);
  return { db, indexer, source, close };
}

/** `source` as if its best chain ended at `height`: the blocks above it are not there yet. */
export function cappedAt(source: ChainSource, height: number): ChainSource {
  return {
    name: source.name,
    async bestTip() {
      await source.bestTip(); // (the offline source reads the blk files' new blocks here)
      const [hash] = await source.hashesAt([height]);
      return { height, hash: hash! };
    },
    hashesAt: async (heights) => (await source.hashesAt(heights)).map((h, i) => (heights[i]! > height ? null : h)),
    blocks: (first, hashes) => source.blocks(first, hashes),
    close: () => {},
  };
}

/** Every best-chain block of `source`, in height order (the source is closed afterwards). */
export async function fixtureBestChain(source: ChainSource): Promise<RawBlock[]> {
  const tip = await source.bestTip();
  const hashes = (await source.hashesAt(Array.from({ length: tip.height + 1 }, (_, h) => h))) as Uint8Array[];
  const out: RawBlock[] = [];
  for await (const raw of source.blocks(0, hashes)) out.push(raw);
  source.close();
  return out;
}
