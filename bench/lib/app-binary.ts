/**
 * The compiled binary a benchmark runs (dist/electrs-bun), rebuilt with `bun build.ts` when it is
 * missing or older than src/ or build.ts, and an identity of the build measured (mtime + hash), so
 * that results can say which build they came from. Shared by the REST and Electrum benchmarks.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join, resolve } from "node:path";

const ROOT = resolve(import.meta.dir, "..", "..");
export const DEFAULT_BINARY = join(ROOT, "dist", "electrs-bun");

function newestMtime(path: string): number {
  const st = statSync(path);
  if (!st.isDirectory()) return st.mtimeMs;
  let newest = st.mtimeMs;
  for (const name of readdirSync(path)) newest = Math.max(newest, newestMtime(join(path, name)));
  return newest;
}

/** `explicit` if given (it must exist), else dist/electrs-bun, rebuilt when missing or stale. */
export async function ensureBinary(explicit: string | undefined): Promise<string> {
  if (explicit) {
    const bin = resolve(explicit);
    if (!existsSync(bin)) throw new Error(`--binary ${bin} does not exist`);
    return bin;
  }
  const sources = Math.max(newestMtime(join(ROOT, "src")), newestMtime(join(ROOT, "build.ts")));
  if (existsSync(DEFAULT_BINARY) && statSync(DEFAULT_BINARY).mtimeMs >= sources) return DEFAULT_BINARY;
  console.log(existsSync(DEFAULT_BINARY) ? "dist/electrs-bun is older than src/: rebuilding…" : "building dist/electrs-bun…");
  const t0 = performance.now();
  const proc = Bun.spawn([process.execPath, "build.ts"], { cwd: ROOT, stdout: "inherit", stderr: "inherit" });
  if ((await proc.exited) !== 0) throw new Error("npm run build failed");
  console.log(`built in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  return DEFAULT_BINARY;
}

/** Identifies the build measured: mtime and a hash of the executable's bytes. */
export function binaryId(path: string): { mtime: string; bytes: number; wyhash: string } {
  const data = readFileSync(path);
  return { mtime: statSync(path).mtime.toISOString(), bytes: data.length, wyhash: Bun.hash(data).toString(16) };
}
