/**
 * Watching a server process under benchmark from outside: its RSS over time, its CPU share next to
 * this process's and the rest of the machine's, its /proc I/O counters, its Prometheus metrics, and
 * waiting for a quiet moment on a shared machine.
 */
import { readFileSync } from "node:fs";
import { procMemBytes } from "./machine.ts";
import { cpuSecondsOf, machineCpuSeconds } from "./server-process.ts";

/**
 * Resident memory in bytes, from /proc/<pid>/status: VmRSS = RssAnon (heap, stacks) + RssFile
 * (pages of mapped files, e.g. a memory-mapped SQLite file: page cache the kernel can drop) +
 * RssShmem.
 */
export interface MemSample {
  rss: number;
  anon: number;
  file: number;
}

/** Memory sampled every `everyMs` (and on demand). */
export class RssSampler {
  readonly samples: ({ ms: number } & MemSample)[] = [];
  private readonly timer: ReturnType<typeof setInterval>;

  constructor(
    private readonly pid: number,
    everyMs = 100,
  ) {
    this.timer = setInterval(() => this.sample(), everyMs);
  }

  /** Samples now (zeros when unreadable). */
  sample(): MemSample {
    const m = { rss: procMemBytes(this.pid, "VmRSS") ?? 0, anon: procMemBytes(this.pid, "RssAnon") ?? 0, file: procMemBytes(this.pid, "RssFile") ?? 0 };
    if (m.rss > 0) this.samples.push({ ms: performance.now(), ...m });
    return m;
  }

  /** The highest value of each field over the samples taken at or after performance.now() = `ms` (each field's own maximum). */
  maxSince(ms: number): MemSample {
    const out = { rss: 0, anon: 0, file: 0 };
    for (const s of this.samples) {
      if (s.ms < ms) continue;
      out.rss = Math.max(out.rss, s.rss);
      out.anon = Math.max(out.anon, s.anon);
      out.file = Math.max(out.file, s.file);
    }
    return out;
  }

  stop(): void {
    clearInterval(this.timer);
  }
}

export interface CpuShares {
  seconds: number;
  /** Shares of one core over the window. */
  serverCpu: number;
  benchCpu: number;
  /** Everything else on the machine: noise from other processes. */
  otherCpu: number;
  serverCpuSeconds: number;
}

/** CPU used by the server, this process and everything else from construction to end(). */
export class CpuWindow {
  private readonly t0 = performance.now();
  private readonly server0: number;
  private readonly self0 = process.cpuUsage();
  private readonly machine0 = machineCpuSeconds().busy;

  constructor(private readonly serverPid: number) {
    this.server0 = cpuSecondsOf(serverPid);
  }

  end(): CpuShares {
    const seconds = (performance.now() - this.t0) / 1000;
    const server = cpuSecondsOf(this.serverPid) - this.server0;
    const u = process.cpuUsage(this.self0);
    const self = (u.user + u.system) / 1e6;
    const machine = machineCpuSeconds().busy - this.machine0;
    const share = (x: number) => (seconds > 0 ? x / seconds : 0);
    return { seconds, serverCpu: share(server), benchCpu: share(self), otherCpu: share(Math.max(0, machine - server - self)), serverCpuSeconds: server };
  }
}

/** The server's CPU share over `ms` while nothing is asked of it. */
export async function idleCpu(serverPid: number, ms = 3000): Promise<number> {
  const w = new CpuWindow(serverPid);
  await Bun.sleep(ms);
  return w.end().serverCpu;
}

/**
 * Waits (≤ `timeoutMs`) for a quiet second: the server below `maxServer` of a core and the rest of
 * the machine below `maxOther`. Returns whether it came, and the last second's shares.
 */
export async function waitQuiet(serverPid: number, maxServer: number, maxOther: number, timeoutMs = 30_000): Promise<{ quiet: boolean; last: CpuShares | null }> {
  const deadline = performance.now() + timeoutMs;
  let last: CpuShares | null = null;
  while (performance.now() < deadline) {
    const w = new CpuWindow(serverPid);
    await Bun.sleep(1000);
    last = w.end();
    if (last.serverCpu < maxServer && last.otherCpu < maxOther) return { quiet: true, last };
  }
  return { quiet: false, last };
}

/**
 * /proc/<pid>/io counters: rchar / wchar are bytes through read / write syscalls (page cache hits
 * included), read_bytes / write_bytes what went from / to storage.
 */
export function procIo(pid: number): Record<string, number> {
  const out: Record<string, number> = {};
  try {
    for (const line of readFileSync(`/proc/${pid}/io`, "utf8").split("\n")) {
      const [k, v] = line.split(":");
      if (k && v) out[k.trim()] = Number(v.trim());
    }
  } catch {
    // not readable: no I/O figures
  }
  return out;
}

export function ioDelta(before: Record<string, number>, after: Record<string, number>): Record<string, number> {
  return Object.fromEntries(["rchar", "wchar", "syscr", "syscw", "read_bytes", "write_bytes"].map((k) => [k, (after[k] ?? 0) - (before[k] ?? 0)]));
}

/** Values of a Prometheus text page, by `name{labels}` as written. */
export async function readMetrics(url: string): Promise<Map<string, number>> {
  const text = await (await fetch(url)).text();
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line.startsWith("#") || !line.trim()) continue;
    const i = line.lastIndexOf(" ");
    out.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return out;
}
