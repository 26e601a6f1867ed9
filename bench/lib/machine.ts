/** Machine description printed with benchmark results, so numbers in the README can be compared. */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { availableParallelism, loadavg, release } from "node:os";
import { join } from "node:path";

export interface MachineInfo {
  nproc: number;
  cpuModel: string;
  ramGiB: number;
  kernel: string;
  bun: string;
  loadAvg1m: number;
}

export function machineInfo(): MachineInfo {
  return {
    nproc: availableParallelism(),
    cpuModel: procField("/proc/cpuinfo", "model name") ?? "unknown",
    ramGiB: Math.round((Number(procField("/proc/meminfo", "MemTotal")?.split(/\s+/)[0] ?? 0) / 1024 / 1024) * 10) / 10,
    kernel: release(),
    bun: Bun.version,
    loadAvg1m: loadavg()[0] ?? 0,
  };
}

/** First `key: value` line of a /proc file. */
export function procField(path: string, key: string): string | undefined {
  if (!existsSync(path)) return undefined;
  for (const line of readFileSync(path, "utf8").split("\n")) {
    const i = line.indexOf(":");
    if (i > 0 && line.slice(0, i).trim() === key) return line.slice(i + 1).trim();
  }
  return undefined;
}

/** A /proc/<pid>/status memory field (VmHWM, VmRSS) in bytes, or undefined when unreadable. */
export function procMemBytes(pid: number, field: string): number | undefined {
  const v = procField(`/proc/${pid}/status`, field);
  const m = v ? /^(\d+)\s*kB$/.exec(v) : null;
  return m ? Number(m[1]) * 1024 : undefined;
}

/** Apparent size (sum of file sizes) and allocated size of everything under `dir`. */
export function dirSize(dir: string): { bytes: number; allocated: number } {
  let bytes = 0;
  let allocated = 0;
  if (!existsSync(dir)) return { bytes, allocated };
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    const st = statSync(path);
    if (st.isDirectory()) {
      const sub = dirSize(path);
      bytes += sub.bytes;
      allocated += sub.allocated;
    } else {
      bytes += st.size;
      allocated += st.blocks * 512;
    }
  }
  return { bytes, allocated };
}
