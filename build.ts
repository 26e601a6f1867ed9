/**
 * `npm run build`: one executable, dist/electrs-bun, with the runtime, the indexer, the servers and
 * the SQL schema inside. It runs from any directory, without node_modules.
 */
import { rmSync } from "node:fs";

// `bun build.ts --outfile PATH` writes elsewhere (the tests build their own copy).
const at = process.argv.indexOf("--outfile");
const outfile = at > 0 && process.argv[at + 1] ? process.argv[at + 1]! : "dist/electrs-bun";
rmSync(outfile, { force: true });
const result = await Bun.build({
  // The initial sync's UTXO table runs in a Worker (src/index/utxo-thread.ts), and so does each serve worker
  // (src/serve/pool.ts): a worker's entry
  // point must be listed to be embedded in the executable.
  // It is found next to the main module there (index/utxo-thread.ts resolves "./utxo-worker.ts"
  // against import.meta.url, which is the executable's own module once bundled): hence the flat naming.
  entrypoints: ["src/main.ts", "src/index/utxo-worker.ts", "src/serve/serve-worker.ts"],
  naming: { entry: "[name].[ext]" },
  compile: { outfile },
  minify: false,
});
if (!result.success) {
  for (const log of result.logs) console.error(log);
  process.exit(1);
}
console.log(`built ${outfile}`);
