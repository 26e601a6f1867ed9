/**
 * Shared by the REST and query unit tests: the regtest-core30 fixture indexed into ":memory:" (up
 * to a chosen height), the real Mempool over a scripted node (the node is the only double), a
 * ChainQuery, and a REST server on 127.0.0.1 port 0 with a scripted RestNode.
 */
import { hashToHex, hexToBytes, hexToHash } from "../../../src/bitcoin/bytes.ts";
import { NETWORKS } from "../../../src/bitcoin/network.ts";
import { parseConfig, type Config } from "../../../src/config.ts";
import { offlineSource, openBlkFileIndex, type ChainSource } from "../../../src/daemon/sources.ts";
import { Indexer, noopSyncMetrics, type UpdateResult } from "../../../src/index/sync.ts";
import { createLogger, type Logger } from "../../../src/log.ts";
import { noopMetrics, type Metrics } from "../../../src/metrics/metrics.ts";
import { dropConfirmed, mempoolChainOf } from "../../../src/mempool/follow.ts";
import { Mempool, noopMempoolMetrics } from "../../../src/mempool/mempool.ts";
import type { MempoolNode } from "../../../src/mempool/types.ts";
import { ChainQuery } from "../../../src/query/chain-query.ts";
import type { RestNode } from "../../../src/rest/node.ts";
import { startRestServer, type RestServer } from "../../../src/rest/server.ts";
import type { TxJsonCache } from "../../../src/rest/tx-json-cache.ts";
import type { RestConfig } from "../../../src/rest/route-kit.ts";
import { openDb, type Db } from "../../../src/store/db.ts";
import { FIXTURE_BLOCKS, loadExpected, openBlkFiles, type Expected } from "../../helpers/fixture.ts";

export const expected: Expected = loadExpected();
export const regtest = NETWORKS.regtest;

/** A logger that keeps its lines (tests look for "REST server running on …" and error lines). */
export function memoryLogger(): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  return { log: createLogger({ verbosity: 0, timestamp: false, sink: (l) => lines.push(l) }), lines };
}

/** The fixture's blk files, as if the node's tip were `maxHeight`. */
function cappedSource(inner: ChainSource, maxHeight: number): ChainSource {
  return {
    name: inner.name,
    async bestTip() {
      await inner.bestTip(); // the blk-file source scans its files here
      const [hash] = await inner.hashesAt([maxHeight]);
      return { height: maxHeight, hash: hash! };
    },
    async hashesAt(heights) {
      const hashes = await inner.hashesAt(heights);
      return hashes.map((h, i) => (heights[i]! > maxHeight ? null : h));
    },
    blocks: (first, hashes) => inner.blocks(first, hashes),
    close: () => inner.close(),
  };
}

/** The node as the mempool sees it: a scripted list of raw txs and a tip. */
export class ScriptedMempoolNode implements MempoolNode {
  readonly txs = new Map<string, Uint8Array>();
  /** When set, the node reports this tip (display hex) instead of the index's: a node ahead of us. */
  tipOverrideHex: string | null = null;
  constructor(private readonly tipHex: () => string) {}
  add(raw: Uint8Array, txidHex: string): void {
    this.txs.set(txidHex, raw);
  }
  async rawMempool() {
    return [...this.txs.keys()];
  }
  async rawTransactions(txidHexes: readonly string[]) {
    return txidHexes.map((t) => this.txs.get(t) ?? null);
  }
  async bestBlockHash() {
    return this.tipOverrideHex ?? this.tipHex();
  }
}

export interface Fixture {
  readonly db: Db;
  readonly indexer: Indexer;
  readonly mempool: Mempool;
  readonly node: ScriptedMempoolNode;
  readonly query: ChainQuery;
  /** Indexes the rest of the chain (up to the fixture's tip), dropping confirmed txs from the mempool. */
  indexToTip(): Promise<UpdateResult>;
  close(): void;
}

export async function openFixture(
  opts: { maxHeight?: number; metrics?: Metrics; addressSearch?: boolean; /** A copy of the fixture's blocks dir. */ blocksDir?: string } = {},
): Promise<Fixture> {
  const blocksDir = opts.blocksDir ?? FIXTURE_BLOCKS;
  const log = createLogger({ verbosity: 0, timestamp: false, sink: () => {} });
  const db = openDb({ dir: ":memory:", network: "regtest", log });
  const blkFiles = openBlkFiles(blocksDir);
  const indexer = new Indexer(db, log, noopSyncMetrics, {
    indexUnspendables: false,
    blkFiles,
    addressSearch: opts.addressSearch ? "regtest" : undefined,
  });
  const files = () => offlineSource(openBlkFileIndex(blocksDir, regtest.magic, log), regtest.genesisHashHex, log);
  const source = files();
  await indexer.update(opts.maxHeight === undefined ? source : cappedSource(source, opts.maxHeight));
  source.close();
  const reader = indexer.reader;
  const tipHex = () => {
    const t = reader.tip();
    return t ? hashToHex(t.hash) : "";
  };
  const node = new ScriptedMempoolNode(tipHex);
  const mempool = new Mempool({
    node,
    chain: mempoolChainOf(reader, () => reader.tip()?.hash ?? null),
    log,
    metrics: noopMempoolMetrics(),
    indexUnspendables: false,
  });
  indexer.onCommit((from, to) => dropConfirmed(mempool, reader, from, to));
  const query = new ChainQuery({
    reader,
    mempool,
    network: regtest,
    tipHeight: () => reader.tip()?.height ?? -1,
    metrics: opts.metrics ?? noopMetrics(),
  });
  return {
    db,
    indexer,
    mempool,
    node,
    query,
    async indexToTip() {
      const s = files();
      try {
        return await indexer.update(s);
      } finally {
        s.close();
      }
    },
    close() {
      indexer.close();
      db.close();
      blkFiles.close();
    },
  };
}

// ---- building mempool txs (no signatures: the mempool does not validate scripts) ----

export interface TxSpec {
  inputs: { txidHex: string; vout: number }[];
  outputs: { scriptHex: string; value: number }[];
}

function u32(n: number): number[] {
  return [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff];
}

/** A version-2 legacy-serialized tx with empty scriptSigs. */
export function buildTx(spec: TxSpec): { raw: Uint8Array; txidHex: string } {
  const bytes: number[] = [...u32(2), spec.inputs.length];
  for (const i of spec.inputs) bytes.push(...hexToHash(i.txidHex), ...u32(i.vout), 0, ...u32(0xfffffffd));
  bytes.push(spec.outputs.length);
  for (const o of spec.outputs) {
    const script = hexToBytes(o.scriptHex);
    bytes.push(...u32(o.value % 2 ** 32), ...u32(Math.floor(o.value / 2 ** 32)), script.length, ...script);
  }
  bytes.push(...u32(0));
  const raw = Uint8Array.from(bytes);
  const h1 = new Uint8Array(32);
  const h2 = new Uint8Array(32);
  Bun.SHA256.hash(raw, h1);
  Bun.SHA256.hash(h1, h2);
  return { raw, txidHex: hashToHex(h2) };
}

/** A node for the REST layer that answers from a script, recording calls. */
export class ScriptedRestNode implements RestNode {
  readonly calls: { method: string; params: unknown[] }[] = [];
  sendRawTransaction: (hex: string) => Promise<string> = async () => {
    throw new Error("not scripted");
  };
  testMempoolAccept: (hexes: readonly string[], maxFeeRate: number | null) => Promise<unknown> = async () => [];
  submitPackage: (hexes: readonly string[], maxFeeRate: number | null, maxBurn: number | null) => Promise<unknown> = async () => ({});
  estimateSmartFee: (targets: readonly number[]) => Promise<(number | null)[]> = async (t) => t.map(() => null);
  getBlockTemplate: () => Promise<unknown> = async () => {
    throw new Error("not scripted");
  };
}

/** The server's own defaults for regtest (config.ts), with electrs' 500 UTXOs as the tests' limit. */
export const REST_CONFIG: RestConfig = { ...regtestDefaults(), utxosLimit: 500 };

function regtestDefaults(): Config {
  const r = parseConfig(["--network", "regtest"], {}, { home: "/nonexistent" });
  if (r.kind !== "run") throw new Error("the defaults did not parse");
  return r.config;
}

export interface ServerUnderTest {
  readonly server: RestServer;
  readonly lines: string[];
  get(path: string, init?: RequestInit): Promise<Response>;
}

export function startServer(
  fx: Fixture,
  opts: {
    node?: RestNode;
    config?: Partial<RestConfig>;
    metrics?: Metrics;
    bodyTimeoutMs?: number;
    onBroadcast?: (t: string[]) => Promise<unknown>;
    txCache?: TxJsonCache;
  } = {},
): ServerUnderTest {
  const { log, lines } = memoryLogger();
  const server = startRestServer({
    addr: { host: "127.0.0.1", port: 0 },
    query: fx.query,
    rpc: opts.node ?? new ScriptedRestNode(),
    config: { ...REST_CONFIG, ...opts.config },
    log,
    metrics: opts.metrics ?? noopMetrics(),
    ...(opts.bodyTimeoutMs !== undefined ? { bodyTimeoutMs: opts.bodyTimeoutMs } : {}),
    ...(opts.onBroadcast ? { onBroadcast: opts.onBroadcast } : {}),
    ...(opts.txCache ? { txCache: opts.txCache } : {}),
  });
  return { server, lines, get: (path, init) => fetch(server.url + path, init) };
}
