/**
 * contrib/electrs-bun.service: systemd itself (systemd-analyze verify) finds nothing to warn about,
 * the hardening the README promises is there, and the flags of its ExecStart are ones this build accepts.
 */
import { describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseConfig } from "../../src/config.ts";
import { tempDir } from "../helpers/tmp.ts";

const UNIT = join(import.meta.dir, "..", "..", "contrib", "electrs-bun.service");
const text = readFileSync(UNIT, "utf8");

/** The unit's directives (continuation lines joined, comments dropped), by section. */
function directives(): Map<string, string[]> {
  const out = new Map<string, string[]>();
  let section = "";
  const joined = text.replace(/\\\n\s*/g, " ");
  for (const raw of joined.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const sec = /^\[(\w+)\]$/.exec(line);
    if (sec) {
      section = sec[1]!;
      continue;
    }
    const eq = line.indexOf("=");
    const key = `${section}.${line.slice(0, eq)}`;
    out.set(key, [...(out.get(key) ?? []), line.slice(eq + 1)]);
  }
  return out;
}

describe("the systemd unit", () => {
  test("systemd-analyze verify: no warning (ExecStart pointed at an existing binary)", () => {
    using tmp = tempDir();
    const copy = join(tmp.path, "electrs-bun.service");
    writeFileSync(copy, text.replaceAll("/usr/local/bin/electrs-bun", "/bin/true"));
    const r = Bun.spawnSync(["systemd-analyze", "verify", copy], { stdout: "pipe", stderr: "pipe" });
    const stderr = r.stderr.toString();
    if (stderr !== "") console.error(stderr);
    expect({ exit: r.exitCode, stderr }).toEqual({ exit: 0, stderr: "" });
  }, 30_000);

  test("hardening: read-only system, the index dir writable, the node's dir read-only, no new privileges, restart on failure", () => {
    const d = directives();
    const one = (k: string) => d.get(k)?.at(-1);
    expect(one("Service.ProtectSystem")).toBe("strict");
    expect(one("Service.ReadWritePaths")).toBe("/var/lib/electrs-bun");
    expect(one("Service.ReadOnlyPaths")).toBe("/var/lib/bitcoind");
    expect(one("Service.NoNewPrivileges")).toBe("true");
    expect(one("Service.Restart")).toBe("on-failure");
    expect(one("Service.Type")).toBe("simple");
    expect(one("Service.KillSignal")).toBe("SIGTERM");
  });

  test("ExecStart's flags parse with this build's config, into the directories the hardening names", () => {
    const exec = directives().get("Service.ExecStart")!.at(-1)!.split(/\s+/).filter(Boolean);
    expect(exec[0]).toBe("/usr/local/bin/electrs-bun");
    const parsed = parseConfig(exec.slice(1), {});
    if (parsed.kind !== "run") throw new Error(`not a run config: ${parsed.kind}`);
    expect(parsed.config.dbDir).toBe("/var/lib/electrs-bun");
    expect(parsed.config.daemonDir).toBe("/var/lib/bitcoind");
    expect(parsed.config.logFormat).toBe("json");
  });
});
