/**
 * Stand-in for src/main.ts to test the benchmark harness on its own:
 *   bun bench/index-bench.ts --sizes 200k --entry bench/lib/fake-indexer.ts
 * Accepts the indexer's flags, parses every block, stores txids in a SQLite file under --db-dir,
 * logs the same "initial sync complete" line, and waits for SIGTERM like the real server.
 */
import { Database } from "bun:sqlite";
import { join } from "node:path";
import { parseBlock } from "../../src/bitcoin/block.ts";
import { parseArgs, stringArg } from "./args.ts";
import { readBlkFiles } from "./blk-files.ts";

const args = parseArgs(process.argv.slice(2), ["offline"]);
const blocksDir = stringArg(args, "blocks-dir")!;
const dbDir = stringArg(args, "db-dir")!;
const t0 = performance.now();
const db = new Database(join(dbDir, "fake.sqlite"));
// Installed first: the harness may send SIGTERM right after the sync line.
process.on("SIGTERM", () => {
  db.close();
  process.exit(0);
});
db.run("CREATE TABLE txs (txid BLOB PRIMARY KEY) WITHOUT ROWID");
const insert = db.prepare("INSERT INTO txs VALUES (?)");
let blocks = 0;
let txs = 0;
let bytes = 0;
for (const file of readBlkFiles(blocksDir)) {
  db.run("BEGIN");
  for (const rec of file.records) {
    const block = parseBlock(file.data.subarray(rec.offset, rec.offset + rec.size));
    for (const tx of block.txs) insert.run(tx.txid);
    blocks++;
    txs += block.txs.length;
    bytes += block.size;
  }
  db.run("COMMIT");
}
const seconds = (performance.now() - t0) / 1000;
console.error(`INFO initial sync phases: load=${seconds.toFixed(1)}`);
console.error(`INFO initial sync complete: height=${blocks - 1} txs=${txs} bytes=${bytes} seconds=${seconds.toFixed(3)}`);
console.error("INFO startup complete: (fake indexer)");
setInterval(() => {}, 1 << 30); // stay up like a server until stopped
