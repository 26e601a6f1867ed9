/**
 * A server under benchmark in its own process: its log read line by line (so that it never blocks
 * on a full pipe), waiting for a log line, CPU time from /proc, and a clean stop.
 */
import { readFileSync } from "node:fs";
import { createServer } from "node:net";

const TAIL_LINES = 60;
/** USER_HZ: the unit of utime/stime in /proc/<pid>/stat (100 on every Linux platform Bun runs on). */
const CLOCK_TICKS = 100;

export class ServerProcess {
  readonly proc: ReturnType<typeof Bun.spawn>;
  private readonly tail: string[] = [];
  private readonly waiters: { re: RegExp; resolve: (m: RegExpExecArray) => void }[] = [];
  readonly exited: Promise<number>;

  constructor(
    readonly name: string,
    cmd: string[],
    opts: { cwd?: string; echo?: boolean } = {},
  ) {
    const proc = Bun.spawn(cmd, { cwd: opts.cwd, stdout: "pipe", stderr: "pipe", stdin: "ignore" });
    this.proc = proc;
    const onLine = (line: string): void => {
      if (opts.echo) console.log(`  ${name} | ${line}`);
      this.tail.push(line);
      if (this.tail.length > TAIL_LINES) this.tail.shift();
      for (const w of this.waiters.splice(0)) {
        const m = w.re.exec(line);
        if (m) w.resolve(m);
        else this.waiters.push(w);
      }
    };
    const pumps = Promise.all([
      eachLine(proc.stdout, onLine),
      eachLine(proc.stderr, onLine),
    ]);
    this.exited = (async () => {
      const code = await proc.exited;
      await pumps;
      return code;
    })();
  }

  get pid(): number {
    return this.proc.pid;
  }

  /** The last log lines, for error messages. */
  log(): string {
    return this.tail.map((l) => `  ${this.name} | ${l}`).join("\n");
  }

  /** Resolves with the match of the first future line matching `re`; rejects on exit or timeout. */
  waitFor(re: RegExp, timeoutMs: number): Promise<RegExpExecArray> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.name}: no line matching ${re} within ${timeoutMs / 1000} s\n${this.log()}`)), timeoutMs);
      this.waiters.push({
        re,
        resolve: (m) => {
          clearTimeout(timer);
          resolve(m);
        },
      });
      void this.exited.then((code) => {
        clearTimeout(timer);
        reject(new Error(`${this.name} exited (code ${code}) before a line matching ${re}\n${this.log()}`));
      });
    });
  }

  /** User + system CPU seconds used so far (0 when /proc is unreadable). */
  cpuSeconds(): number {
    return cpuSecondsOf(this.proc.pid);
  }

  /** SIGTERM, then SIGKILL after `timeoutMs`; returns the exit code (null when killed). */
  async stop(timeoutMs = 60_000): Promise<number | null> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return this.proc.exitCode;
    this.proc.kill("SIGTERM");
    const stopped = await Promise.race([this.exited.then(() => true), Bun.sleep(timeoutMs).then(() => false)]);
    if (!stopped) {
      console.log(`${this.name} did not exit within ${timeoutMs / 1000} s of SIGTERM: killed`);
      this.proc.kill("SIGKILL");
      await this.exited;
      return null;
    }
    return this.proc.exitCode;
  }

  /** Waits until the process uses less than `maxShare` of a CPU over `windowMs` (after start-up work). */
  async waitIdle(maxShare = 0.05, windowMs = 2000, timeoutMs = 120_000): Promise<boolean> {
    const deadline = performance.now() + timeoutMs;
    let before = this.cpuSeconds();
    while (performance.now() < deadline) {
      await Bun.sleep(windowMs);
      const now = this.cpuSeconds();
      if ((now - before) / (windowMs / 1000) < maxShare) return true;
      before = now;
    }
    return false;
  }
}

export function cpuSecondsOf(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the command name (which may hold spaces) start at state = field 3.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS; // utime (14), stime (15)
  } catch {
    return 0;
  }
}

/** Busy and total CPU seconds of the whole machine so far (all cores), from /proc/stat. */
export function machineCpuSeconds(): { busy: number; total: number } {
  try {
    const line = readFileSync("/proc/stat", "utf8").split("\n")[0]!;
    const v = line.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal (guest time is already inside user)
    const total = v.slice(0, 8).reduce((a, b) => a + b, 0);
    const idle = (v[3] ?? 0) + (v[4] ?? 0);
    return { busy: (total - idle) / CLOCK_TICKS, total: total / CLOCK_TICKS };
  } catch {
    return { busy: 0, total: 0 };
  }
}

/** A TCP port free on 127.0.0.1 right now (the OS picks it; closed again before returning). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      srv.close(() => (port ? resolve(port) : reject(new Error("no port"))));
    });
  });
}

/** Calls `onLine` for each line of `stream`; resolves at its end. */
export async function eachLine(stream: ReadableStream<Uint8Array>, onLine: (line: string) => void): Promise<void> {
  const decoder = new TextDecoder();
  let pending = "";
  for await (const chunk of stream) {
    pending += decoder.decode(chunk, { stream: true });
    let nl: number;
    while ((nl = pending.indexOf("\n")) >= 0) {
      onLine(pending.slice(0, nl));
      pending = pending.slice(nl + 1);
    }
  }
  if (pending) onLine(pending);
}
