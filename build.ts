/**
 * `npm run build`: one executable, dist/electrs-bun, with the runtime, the indexer, the servers and
 * the SQL schema inside. It runs from any directory, without node_modules.
 */
import { rmSync } from "node:fs";

const outfile = "dist/electrs-bun";
rmSync(outfile, { force: true });
const result = await Bun.build({
  entrypoints: ["src/main.ts"],
  compile: { outfile },
  minify: false,
});
if (!result.success) {
  for (const log of result.logs) console.error(log);
  process.exit(1);
}
console.log(`built ${outfile}`);
