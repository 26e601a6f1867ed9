/**
 * A real Electrum wallet for tests: Debian's `electrum` 4.3.4 (`apt-get install -y
 * --no-install-recommends electrum`) on regtest, its data dir in a temp dir, its daemon a child
 * process of the test (run in the foreground, not with `-d`, so that the test holds its pid and
 * can always kill it), talking to one server only (`-s HOST:PORT:t -1`).
 *
 * Every CLI call is a separate `electrum` process (≈ 0.5 s of Python start-up each) bounded by a
 * timeout; the CLI asks the daemon over its local RPC socket, as from a user's shell.
 */
import { spawnCommand, type AppProcess } from "./app-process.ts";

export const ELECTRUM_BIN = "electrum";
const CLI_TIMEOUT_MS = 20_000;
/** How long a daemon may answer load_wallet with "false" before it is replaced, and how many are started. */
const LOAD_FALSE_MS = 3_000;
const DAEMON_STARTS = 3;

export class ElectrumCliError extends Error {}

export interface ElectrumBalance {
  /** BTC as decimal strings, as the CLI prints them; absent fields are zero. */
  confirmed: string;
  unconfirmed?: string;
  unmatured?: string;
}

export interface ElectrumHistoryItem {
  tx_hash: string;
  height: number;
  fee?: number;
}

export interface ElectrumWallet {
  /** The electrum data dir (`-D`). */
  readonly dir: string;
  /** Runs `electrum --regtest -D dir <args>`; resolves with its stdout (trimmed), throws on a non-zero exit or timeout. */
  cli(args: string[], timeoutMs?: number): Promise<string>;
  /** cli() with the output parsed as JSON (commands returning strings print them bare: use cli()). */
  json<T>(args: string[], timeoutMs?: number): Promise<T>;
  /** Starts the daemon against `host:port` (plain TCP, this server only) and loads the default wallet. */
  startDaemon(host: string, port: number): Promise<void>;
  /** The daemon's log so far (electrum -v), for failure messages. */
  daemonLog(): string;
  /** Non-null once a started daemon exited without stop(): its exit code and last lines. */
  daemonGone(): string | null;
  /** `electrum stop`, then SIGKILL if the daemon has not exited within a few seconds. Safe to call twice or without a daemon. */
  stop(): Promise<void>;
}

/** BTC decimal string (as electrum prints it) → satoshis, exactly. */
export function btcToSat(btc: string | undefined): number {
  if (btc === undefined) return 0;
  const m = /^(-?)(\d+)(?:\.(\d{1,8}))?$/.exec(btc);
  if (!m) throw new Error(`not a BTC amount: ${btc}`);
  const sat = Number(m[2]) * 1e8 + Number((m[3] ?? "").padEnd(8, "0"));
  return m[1] ? -sat : sat;
}

/** Satoshis → the BTC decimal string electrum's CLI accepts. */
export function satToBtc(sat: number): string {
  const whole = Math.floor(sat / 1e8);
  const frac = String(sat % 1e8).padStart(8, "0").replace(/0+$/, "");
  return frac ? `${whole}.${frac}` : String(whole);
}

/** Whether the `electrum` executable is installed (the CI installs it with apt). */
export function electrumInstalled(): boolean {
  return Bun.which(ELECTRUM_BIN) !== null;
}

/**
 * Creates a regtest wallet in `dir` from `seed` (an Electrum seed phrase, so the addresses are
 * the same on every run), without a password and offline.
 */
export async function restoreWallet(dir: string, seed: string): Promise<ElectrumWallet> {
  const base = [ELECTRUM_BIN, "--regtest", "-D", dir];
  let daemon: AppProcess | null = null;
  /** The last daemon started, still readable after stop(). */
  let lastDaemon: AppProcess | null = null;
  let unexpectedExit: string | null = null;

  const cli = async (args: string[], timeoutMs = CLI_TIMEOUT_MS): Promise<string> => {
    const proc = Bun.spawn([...base, ...args], { stdout: "pipe", stderr: "pipe", stdin: "ignore" });
    const timer = setTimeout(() => proc.kill("SIGKILL"), timeoutMs);
    const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
    clearTimeout(timer);
    if (proc.signalCode === "SIGKILL") throw new ElectrumCliError(`electrum ${args.join(" ")}: no answer within ${timeoutMs} ms`);
    // electrum prints some failures ("Daemon not running", "This command cannot be run offline") on stdout with exit 1.
    if (code !== 0) throw new ElectrumCliError(`electrum ${args.join(" ")} exited with ${code}: ${(err + out).trim()}`);
    return out.trim();
  };

  const json = async <T>(args: string[], timeoutMs?: number): Promise<T> => {
    const out = await cli(args, timeoutMs);
    try {
      return JSON.parse(out) as T;
    } catch {
      throw new ElectrumCliError(`electrum ${args.join(" ")}: not JSON: ${out.slice(0, 300)}`);
    }
  };

  const stop = async () => {
    const d = daemon;
    if (d === null) return;
    daemon = null;
    // Ask politely (the daemon saves the wallet), but never wait long for it.
    await cli(["stop"], 5_000).catch(() => {});
    if ((await Promise.race([d.exited, Bun.sleep(5_000).then(() => null)])) === null) {
      d.kill("SIGKILL");
      await d.exited;
    }
  };

  /**
   * Starts the daemon and loads the wallet; true once loaded, false if the daemon answered
   * load_wallet with "false" for LOAD_FALSE_MS (it is then stopped, for the caller to start anew).
   */
  const startOnce = async (host: string, port: number): Promise<boolean> => {
    // Foreground (no -d): the daemon is our child, so afterAll can always kill it by its pid.
    const started = spawnCommand([...base, "-v", "daemon", "-s", `${host}:${port}:t`, "-1"]);
    daemon = lastDaemon = started;
    void started.exited.then((code) => {
      if (daemon === started) unexpectedExit = `the electrum daemon exited with ${code}:\n${started.lines.slice(-30).join("\n")}`;
    });
    // The CLI finds the daemon through its lockfile; until it is written, commands answer "Daemon not running".
    const deadline = performance.now() + CLI_TIMEOUT_MS;
    let falseSince: number | null = null;
    for (;;) {
      const d = daemon;
      if (d === null) throw new Error("the electrum daemon was stopped while starting");
      const gone = await Promise.race([d.exited, Bun.sleep(0).then(() => null)]);
      if (gone !== null) throw new Error(`the electrum daemon exited with ${gone}:\n${d.log()}`);
      try {
        if ((await cli(["load_wallet"])) === "true") return true;
        // Seen in CI runs of the whole suite (2 of 3 on a fresh clone; never when the file runs
        // alone): a daemon that answers every load_wallet with false, without opening the wallet
        // file (its log has no "wallet path" line). A new daemon loads it.
        falseSince ??= performance.now();
        if (performance.now() - falseSince > LOAD_FALSE_MS) {
          console.error(`electrum load_wallet answered false for ${LOAD_FALSE_MS} ms: restarting the daemon; its log:\n${d.log()}`);
          await stop();
          return false;
        }
      } catch (err) {
        if (!(err instanceof ElectrumCliError) || !/Daemon not running/.test(err.message) || performance.now() > deadline) {
          throw new Error(`electrum load_wallet: ${(err as Error).message}\ndaemon log:\n${d.log()}`);
        }
      }
      await Bun.sleep(100);
    }
  };

  const startDaemon = async (host: string, port: number) => {
    if (daemon !== null) throw new Error("the electrum daemon is already running");
    for (let attempt = 1; attempt <= DAEMON_STARTS; attempt++) {
      if (await startOnce(host, port)) return;
    }
    throw new Error(`electrum load_wallet: the wallet was not loaded by ${DAEMON_STARTS} daemons in a row\nlast daemon log:\n${lastDaemon?.log() ?? ""}`);
  };

  const out = await cli(["--offline", "restore", seed]);
  if (!out.includes("default_wallet")) throw new Error(`electrum restore: unexpected output ${out}`);

  return {
    dir,
    cli,
    json,
    startDaemon,
    daemonLog: () => lastDaemon?.log() ?? "",
    daemonGone: () => unexpectedExit,
    stop,
  };
}

/**
 * One Electrum protocol request straight to a server over plain TCP (no wallet in between):
 * connects, sends `{"jsonrpc":"2.0","id":1,method,params}`, resolves with the reply's `result`,
 * rejects with its `error`, on a closed connection or after `timeoutMs`.
 */
export async function electrumRequest<T>(port: number, method: string, params: unknown[] = [], timeoutMs = 10_000): Promise<T> {
  let buf = "";
  let settle!: { resolve: (line: string) => void; reject: (err: Error) => void };
  const firstLine = new Promise<string>((resolve, reject) => (settle = { resolve, reject }));
  const socket = await Bun.connect({
    hostname: "127.0.0.1",
    port,
    socket: {
      data: (_s, chunk) => {
        buf += chunk.toString("utf8");
        const nl = buf.indexOf("\n");
        if (nl >= 0) settle.resolve(buf.slice(0, nl));
      },
      close: () => settle.reject(new Error(`${method}: connection closed before a reply`)),
      error: (_s, err) => settle.reject(err),
    },
  });
  const timer = setTimeout(() => settle.reject(new Error(`${method}: no reply within ${timeoutMs} ms`)), timeoutMs);
  try {
    socket.write(JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }) + "\n");
    const reply = JSON.parse(await firstLine) as { id?: unknown; result?: T; error?: { code: number; message: string } };
    if (reply.error) throw new Error(`${method}: error ${reply.error.code} ${reply.error.message}`);
    if (reply.id !== 1 || !("result" in reply)) throw new Error(`${method}: unexpected reply ${JSON.stringify(reply).slice(0, 300)}`);
    return reply.result as T;
  } finally {
    clearTimeout(timer);
    socket.end();
  }
}

/** The Electrum script hash of an output script: SHA-256, byte-reversed, hex. */
export function electrumScriptHash(script: Uint8Array): string {
  const digest = new Bun.CryptoHasher("sha256").update(script).digest();
  return Buffer.from(digest).reverse().toString("hex");
}
