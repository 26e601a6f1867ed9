/**
 * Where the time of a REST `/tx/:txid` answer goes, step by step, on an index built by
 * bench:index (bench/data/db-<size>, kept with --keep-db): txid lookup, the tx's bytes, the parse,
 * the prevouts (lookup + bytes + parse of each funding tx), the JSON. Random txs of the chain, one
 * thread, no HTTP: the part of the answer that is ours.
 *
 *   bun bench/tx-path-profile.ts [--size 20m] [--samples 20000]
 */
import { join, resolve } from "node:path";
import { parseTxExact } from "../src/bitcoin/block.ts";
import { hashToHex } from "../src/bitcoin/bytes.ts";
import { NETWORKS } from "../src/bitcoin/network.ts";
import { openBlockReader, readXorKey } from "../src/daemon/blkfiles.ts";
import { silentLogger } from "../src/log.ts";
import type { MempoolView } from "../src/mempool/types.ts";
import { Resolver } from "../src/query/resolver.ts";
import { txJsonText } from "../src/rest/json.ts";
import { openDb, openReadDb } from "../src/store/db.ts";
import { StoreReader } from "../src/store/read.ts";
import { numberArg, parseArgs, stringArg } from "./lib/args.ts";

const args = parseArgs(process.argv.slice(2), []);
const size = stringArg(args, "size") ?? "20m";
const samples = numberArg(args, "samples", 20_000, "positive integer");
const ROOT = resolve(import.meta.dir, "..");
const blocksDir = join(ROOT, "bench", "data", `chain-${size}`);
const db = openDb({ dir: join(ROOT, "bench", "data", `db-${size}`, "regtest"), network: "regtest", log: silentLogger() });
const readDb = openReadDb(db);
const blk = openBlockReader(blocksDir, readXorKey(blocksDir), { maxOpenFiles: numberArg(args, "max-open-files", 8, "positive integer") });
const reader = new StoreReader(readDb, blk, { blockBounds: true, skipEmptyLevels: true });
const count = reader.txCount();
let seed = 12345;
const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
const txids = Array.from({ length: samples }, () => reader.txidAt(Math.floor(rand() * count)).slice());

function time(label: string, fn: (txid: Uint8Array) => unknown): void {
  for (let i = 0; i < Math.min(2000, samples); i++) fn(txids[i]!); // warm
  const t = performance.now();
  for (const txid of txids) fn(txid);
  const us = ((performance.now() - t) * 1000) / samples;
  console.log(`${label.padEnd(44)} ${us.toFixed(2).padStart(7)} µs`);
}

const net = NETWORKS.regtest;
/** Offline, nothing in the mempool: every tx and prevout comes from the index (Resolver only asks `get`). */
const EMPTY_MEMPOOL_VIEW = { get: () => null } as unknown as MempoolView;
let inputs = 0;
for (const txid of txids) inputs += parseTxExact(reader.tx(txid)!.raw).inputs.length;
console.log(`${size}: ${count} txs, ${samples} random ones, ${(inputs / samples).toFixed(2)} inputs each`);
time("txnumOf (txid index)", (t) => reader.txnumOf(t));
time("tx (txnumOf + txs row + blk bytes)", (t) => reader.tx(t));
time("tx + parse", (t) => parseTxExact(reader.tx(t)!.raw));
time("Resolver.tx (with prevouts)", (t) => new Resolver(reader, EMPTY_MEMPOOL_VIEW).tx(t));
const views = new Map(txids.map((t) => [hashToHex(t), new Resolver(reader, EMPTY_MEMPOOL_VIEW).tx(t)!]));
time("txJsonText alone", (t) => txJsonText(views.get(hashToHex(t))!, net));
time("Resolver.tx + txJsonText", (t) => txJsonText(new Resolver(reader, EMPTY_MEMPOOL_VIEW).tx(t)!, net));
db.close();
