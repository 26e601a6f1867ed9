/**
 * `npm run build` writes one executable that runs from any directory without node_modules: it
 * indexes the fixture offline (bun:sqlite, the schema, the metrics server and the status page are all inside).
 */
import { expect, test } from "bun:test";
import { copyFileSync, existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { FIXTURE_BLOCKS, loadExpected } from "../helpers/fixture.ts";
import { metricsUrl, spawnCommand } from "../helpers/app-process.ts";
import { tempDir } from "../helpers/tmp.ts";

const ROOT = join(import.meta.dir, "..", "..");

test("dist/electrs-bun runs alone from another directory", async () => {
  const build = Bun.spawnSync([process.execPath, "build.ts"], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
  expect(build.exitCode).toBe(0);
  expect(readdirSync(join(ROOT, "dist"))).toEqual(["electrs-bun"]);

  using tmp = tempDir();
  const exe = join(tmp.path, "electrs-bun");
  copyFileSync(join(ROOT, "dist", "electrs-bun"), exe);
  Bun.spawnSync(["chmod", "+x", exe]);
  expect(existsSync(join(tmp.path, "node_modules"))).toBe(false);
  const version = Bun.spawnSync([exe, "--version"], { cwd: tmp.path, stdout: "pipe" });
  expect(version.stdout.toString()).toMatch(/^electrs-bun 0\.1\.0/);

  const app = spawnCommand(
    [exe, "--offline", "--network", "regtest", "--blocks-dir", FIXTURE_BLOCKS, "--db-dir", join(tmp.path, "db"), "--monitoring-addr", "127.0.0.1:0"],
    { cwd: tmp.path, env: { PATH: "/usr/bin:/bin" } },
  );
  const url = await metricsUrl(app);
  await app.waitFor(new RegExp(`index ready at height ${loadExpected().tip.height}`));
  expect(await (await fetch(url)).text()).toContain(`tip_height ${loadExpected().tip.height}`);
  // The status page is inside the binary too.
  const base = url.replace(/\/metrics$/, "");
  expect(await (await fetch(`${base}/status`)).text()).toContain("<title>electrs-bun status</title>");
  expect(((await (await fetch(`${base}/status.json`)).json()) as { index: { height: number } }).index.height).toBe(loadExpected().tip.height);
  app.kill("SIGTERM");
  expect(await app.exited).toBe(0);
}, 120_000);
