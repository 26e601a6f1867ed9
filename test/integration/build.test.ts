/**
 * `npm run build` writes one executable that runs from any directory without node_modules: it
 * indexes the fixture offline (bun:sqlite, the schema, the metrics server are all inside).
 */
import { expect, test } from "bun:test";
import { copyFileSync, existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { FIXTURE_BLOCKS, loadExpected } from "../helpers/fixture.ts";
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

  const proc = Bun.spawn(
    [exe, "--offline", "--network", "regtest", "--blocks-dir", FIXTURE_BLOCKS, "--db-dir", join(tmp.path, "db"), "--monitoring-addr", "127.0.0.1:0"],
    { cwd: tmp.path, stdout: "pipe", stderr: "pipe", env: { PATH: "/usr/bin:/bin" } },
  );
  let log = "";
  const dec = new TextDecoder();
  for await (const chunk of proc.stderr as ReadableStream<Uint8Array>) {
    log += dec.decode(chunk);
    if (log.includes("index ready")) break;
  }
  expect(log).toContain(`index ready at height ${loadExpected().tip.height}`);
  const url = /serving Prometheus metrics on (\S+)/.exec(log)![1]!;
  expect(await (await fetch(url)).text()).toContain(`tip_height ${loadExpected().tip.height}`);
  proc.kill("SIGTERM");
  expect(await proc.exited).toBe(0);
}, 120_000);
