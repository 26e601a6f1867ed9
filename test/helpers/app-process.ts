/** The server as a user runs it: `bun src/main.ts …` in its own process, its log read line by line. */
import { join } from "node:path";

export const MAIN = join(import.meta.dir, "..", "..", "src", "main.ts");

export interface AppProcess {
  readonly proc: ReturnType<typeof Bun.spawn>;
  readonly lines: string[];
  /** Resolves with the first log line (already seen or future) matching `re`; rejects on exit or timeout. */
  waitFor(re: RegExp, timeoutMs?: number): Promise<string>;
  readonly exited: Promise<number>;
  kill(signal: NodeJS.Signals | number): void;
  /** The log so far, for failure messages. */
  log(): string;
}

export function spawnApp(args: string[], env: Record<string, string> = {}): AppProcess {
  // Servers a test does not name bind a free port, never the network's default one.
  const extra = [
    ...(args.includes("--http-addr") || "ELECTRS_HTTP_ADDR" in env ? [] : ["--http-addr", "127.0.0.1:0"]),
    ...(args.includes("--electrum-rpc-addr") || "ELECTRS_ELECTRUM_RPC_ADDR" in env ? [] : ["--electrum-rpc-addr", "127.0.0.1:0"]),
  ];
  return spawnCommand([process.execPath, MAIN, ...args, ...extra], { env: { ...process.env, ...env } });
}

/** Any command (the compiled binary, say), its output read to the end so that it never blocks or breaks on a full or closed pipe. */
export function spawnCommand(cmd: string[], opts: { cwd?: string; env?: Record<string, string | undefined> } = {}): AppProcess {
  const proc = Bun.spawn(cmd, { stdout: "pipe", stderr: "pipe", stdin: "ignore", cwd: opts.cwd, env: opts.env ?? process.env });
  const lines: string[] = [];
  const waiters: { re: RegExp; resolve: (l: string) => void }[] = [];
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    let buf = "";
    const dec = new TextDecoder();
    for await (const chunk of stream) {
      buf += dec.decode(chunk, { stream: true });
      let nl: number;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        lines.push(line);
        for (const w of waiters.splice(0)) {
          if (w.re.test(line)) w.resolve(line);
          else waiters.push(w);
        }
      }
    }
    if (buf) lines.push(buf);
  };
  const pumps = Promise.all([pump(proc.stdout as ReadableStream<Uint8Array>), pump(proc.stderr as ReadableStream<Uint8Array>)]);
  const exited = (async () => {
    const code = await proc.exited;
    await pumps;
    return code;
  })();
  return {
    proc,
    lines,
    exited,
    kill: (signal) => proc.kill(signal),
    log: () => lines.join("\n"),
    waitFor(re, timeoutMs = 20_000) {
      const seen = lines.find((l) => re.test(l));
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`timed out waiting for ${re} in:\n${lines.join("\n")}`)), timeoutMs);
        waiters.push({
          re,
          resolve: (l) => {
            clearTimeout(timer);
            resolve(l);
          },
        });
        exited.then((code) => {
          clearTimeout(timer);
          const late = lines.find((l) => re.test(l));
          if (late !== undefined) resolve(late);
          else reject(new Error(`exited with ${code} before ${re}:\n${lines.join("\n")}`));
        });
      });
    },
  };
}

/** The port of the metrics server, from its start-up line. */
export async function metricsUrl(app: AppProcess): Promise<string> {
  const line = await app.waitFor(/serving Prometheus metrics on (http:\S+)/);
  return /serving Prometheus metrics on (http:\S+)/.exec(line)![1]!;
}
