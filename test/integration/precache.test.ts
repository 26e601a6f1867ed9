/**
 * --precache-scripts as a user runs it: electrs' `type,value` file, warmed in the background after
 * the servers start (a progress line), the stats saved in the store's cache table; bad lines are
 * reported and skipped; an unreadable file stops the start with one line.
 */
import { afterAll, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { NETWORKS } from "../../src/bitcoin/network.ts";
import { bytesToHex, hexToBytes } from "../../src/bitcoin/bytes.ts";
import { parsePrecacheList } from "../../src/query/precache.ts";
import { scriptKeyOf } from "../../src/store/rows.ts";
import { spawnApp } from "../helpers/app-process.ts";
import { FIXTURE_BLOCKS } from "../helpers/fixture.ts";
import { restUrl } from "../helpers/rest-client.ts";
import { tempDir } from "../helpers/tmp.ts";

const T = 60_000;
const tmp = tempDir();
afterAll(() => tmp[Symbol.dispose]());

// The fixture's popular address (850 history rows: above electrs' 100-row caching threshold).
const POPULAR = {
  address: "bcrt1qt94rsguawm9k4zfuufq7mpefj0v7ct3a024rl7",
  scripthash: "e9207036a6942aa1e7fce9915109662f5c41a46daf5d2a3f59d6bc048bc36430",
  script: "0014596a38239d76cb6a893ce241ed872993d9ec2e3d",
};
const SMALL_SCRIPT = "0014613408faedf572181f4e4247f3049bb7d586e512";

test("the list: each line type gives the script's key; duplicates once; bad lines reported with their number", () => {
  const text = [
    `address,${POPULAR.address}`,
    `scripthash,${POPULAR.scripthash}`,
    `scriptpubkey,${SMALL_SCRIPT}`,
    "",
    "# a comment",
    "address,bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq",
    "scripthash,xyz",
    "pubkey,00",
  ].join("\n");
  const list = parsePrecacheList(text, NETWORKS.regtest);
  expect(list.keys.map(bytesToHex)).toEqual([bytesToHex(scriptKeyOf(hexToBytes(POPULAR.script))), bytesToHex(scriptKeyOf(hexToBytes(SMALL_SCRIPT)))]);
  expect(list.errors).toEqual([
    "line 6: Address on invalid network",
    'line 7: invalid scripthash "xyz" (64 hex digits expected)',
    'line 8: unknown type "pubkey" (expected address, scripthash or scriptpubkey)',
  ]);
});

test("the server warms the listed scripts after it starts serving, and saves their stats", async () => {
  const list = join(tmp.path, "precache.csv");
  writeFileSync(list, `address,${POPULAR.address}\nscriptpubkey,${SMALL_SCRIPT}\nnonsense\n`);
  const db = join(tmp.path, "db");
  const app = spawnApp(["--network", "regtest", "--offline", "--blocks-dir", FIXTURE_BLOCKS, "--db-dir", db, "--monitoring-addr", "127.0.0.1:0", "--precache-scripts", list]);
  try {
    const base = await restUrl(app);
    await app.waitFor(/precached the stats of 2\/2 scripts in [\d.]+ s/, T);
    expect(app.log()).toMatch(/WARN .*--precache-scripts .*: line 3: unknown type "nonsense"/);
    expect(app.log()).toMatch(/precaching the stats of 2 scripts/);
    const sql = new Database(join(db, "regtest", "index.sqlite"), { readonly: true });
    const rows = sql.prepare("SELECT script, tx_count FROM script_stats").all() as { script: Uint8Array; tx_count: number }[];
    sql.close();
    // Only the long history is worth a cache row (electrs' MIN_HISTORY_ITEMS_TO_CACHE = 100).
    expect(rows.map((r) => bytesToHex(r.script))).toEqual([bytesToHex(scriptKeyOf(hexToBytes(POPULAR.script)))]);
    const stats = (await (await fetch(`${base}/address/${POPULAR.address}`)).json()) as { chain_stats: { tx_count: number } };
    expect(stats.chain_stats.tx_count).toBe(rows[0]!.tx_count);
  } finally {
    app.kill("SIGTERM");
    expect(await app.exited).toBe(0);
  }
}, T);

test("an unreadable list stops the start with one line, exit 1", async () => {
  const app = spawnApp([
    "--network", "regtest", "--offline", "--blocks-dir", FIXTURE_BLOCKS, "--db-dir", join(tmp.path, "db2"),
    "--monitoring-addr", "127.0.0.1:0", "--precache-scripts", join(tmp.path, "missing.csv"),
  ]);
  expect(await app.exited).toBe(1);
  expect(app.log()).toMatch(/cannot read --precache-scripts .*missing\.csv/);
}, T);
