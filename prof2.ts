import { NETWORKS } from "./src/bitcoin/network.ts";
import { parseBlock } from "./src/bitcoin/block.ts";
import { openBlkFileIndex, offlineSource } from "./src/daemon/sources.ts";
import { indexBlock } from "./src/index/indexer.ts";
import { UtxoCache } from "./src/index/utxo-cache.ts";
import { silentLogger } from "./src/log.ts";
import { openDb } from "./src/store/db.ts";
import { createWriter } from "./src/store/write.ts";
import { rmSync } from "node:fs";
const log = silentLogger();
const src = offlineSource(openBlkFileIndex("bench/data/chain-200k", NETWORKS.regtest.magic, log), NETWORKS.regtest.genesisHashHex, log);
src.refresh();
const tip = await src.bestTip();
const hashes = (await src.hashesAt(Array.from({ length: tip.height + 1 }, (_, i) => i))) as Uint8Array[];
const blocks: Uint8Array[] = [];
for await (const b of src.blocks(0, hashes)) blocks.push(b.bytes);
const parsed = blocks.map(parseBlock);
const noop = { discard() {}, flush() {}, insertBlock() {}, insertTx() {}, insertOutput() {}, insertSpend() {}, truncateFrom: () => ({ blocks: 0, txs: 0 }), finalize() {} };
for (const mode of ["noop", "sqlite"]) {
  rmSync("/tmp/dbp2", { recursive: true, force: true });
  const db = openDb({ dir: "/tmp/dbp2", network: "regtest", log }); db.setBulkMode(true);
  const w = mode === "noop" ? noop : createWriter(db);
  const cache = new UtxoCache(null);
  let txnum = 0; const t = performance.now();
  db.sql.exec("BEGIN");
  parsed.forEach((b, h) => { txnum += indexBlock(b, h, txnum, cache, w as any, { indexUnspendables: false }).txs; });
  (w as any).flush(); db.sql.exec("COMMIT");
  console.log(mode, ((performance.now() - t) / 1000).toFixed(2), "s", Math.round(txnum / ((performance.now() - t) / 1000)), "tx/s");
}
