/**
 * --http-socket-file (electrs' flag): the REST API on a Unix socket, as Esplora deployments put
 * nginx in front. Checked with curl (a real HTTP client) and Bun's fetch over the socket: the mode,
 * removal at a clean stop, a stale socket from kill -9 replaced at the next start, and a socket in
 * use or a regular file at the path refused with one line, left alone.
 */
import { describe, expect, test } from "bun:test";
import { existsSync, lstatSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { spawnApp } from "../helpers/app-process.ts";
import { FIXTURE_BLOCKS, loadExpected } from "../helpers/fixture.ts";
import { tempDir } from "../helpers/tmp.ts";

const T = 60_000;
const tip = loadExpected().tip.height;

const args = (dir: string, sock: string) => [
  "--offline", "--network", "regtest", "--blocks-dir", FIXTURE_BLOCKS, "--db-dir", join(dir, "db"),
  "--monitoring-addr", "127.0.0.1:0", "--http-socket-file", sock,
];

function curl(sock: string, path: string): { status: string; body: string } {
  const r = Bun.spawnSync(["curl", "-sS", "--max-time", "10", "--unix-socket", sock, "-w", "\n%{http_code}", `http://localhost${path}`], { stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`curl: ${r.stderr.toString()}`);
  const out = r.stdout.toString();
  const nl = out.lastIndexOf("\n");
  return { body: out.slice(0, nl), status: out.slice(nl + 1) };
}

describe("--http-socket-file", () => {
  test("serves REST on the socket (mode 0660), removed at a clean stop; kill -9 leaves a stale socket that the next start replaces", async () => {
    using tmp = tempDir();
    const sock = join(tmp.path, "rest.sock");
    let app = spawnApp(args(tmp.path, sock));
    await app.waitFor(new RegExp(`startup complete: REST on unix:${sock.replaceAll("/", "\\/")}`), T);
    const st = lstatSync(sock);
    expect(st.isSocket()).toBe(true);
    expect(st.mode & 0o777).toBe(0o660);
    expect(curl(sock, "/blocks/tip/height")).toEqual({ status: "200", body: String(tip) });
    expect(curl(sock, "/no/such/route").status).toBe("404");
    const viaFetch = await fetch("http://localhost/blocks/tip/height", { unix: sock } as RequestInit);
    expect(await viaFetch.text()).toBe(String(tip));
    app.kill("SIGTERM");
    expect(await app.exited).toBe(0);
    expect(existsSync(sock)).toBe(false);

    app = spawnApp(args(tmp.path, sock));
    await app.waitFor(/startup complete/, T);
    app.kill("SIGKILL");
    await app.exited;
    expect(lstatSync(sock).isSocket()).toBe(true); // stale: nobody listens on it

    app = spawnApp(args(tmp.path, sock));
    await app.waitFor(/startup complete/, T);
    expect(curl(sock, "/blocks/tip/height")).toEqual({ status: "200", body: String(tip) });
    app.kill("SIGTERM");
    expect(await app.exited).toBe(0);
  }, T);

  test("a socket a running server answers on, or a file that is not a socket: exit 1, one line, nothing touched", async () => {
    using tmp = tempDir();
    const sock = join(tmp.path, "rest.sock");
    const first = spawnApp(args(tmp.path, sock));
    await first.waitFor(/startup complete/, T);
    const second = spawnApp(args(join(tmp.path, "second"), sock));
    expect(await second.exited).toBe(1);
    expect(second.lines.filter((l) => l.startsWith("ERROR"))).toEqual([`ERROR cannot listen on unix:${sock} for --http-socket-file: a running server answers on it`]);
    expect(existsSync(join(tmp.path, "second", "db"))).toBe(false);
    expect(curl(sock, "/blocks/tip/height").body).toBe(String(tip)); // the first one still serves
    first.kill("SIGTERM");
    expect(await first.exited).toBe(0);

    const plain = join(tmp.path, "not-a-socket");
    writeFileSync(plain, "keep me");
    const third = spawnApp(args(join(tmp.path, "third"), plain));
    expect(await third.exited).toBe(1);
    expect(third.lines.filter((l) => l.startsWith("ERROR"))).toEqual([`ERROR cannot listen on unix:${plain} for --http-socket-file: the path exists and is not a socket (not removed)`]);
    expect(readFileSync(plain, "utf8")).toBe("keep me");
    expect(existsSync(join(tmp.path, "third", "db"))).toBe(false);
  }, T);
});

describe("--rpc-socket-file (MP's flag)", () => {
  /** One JSON-RPC request over the Unix socket, its reply line. */
  async function electrumOverSocket(sock: string, request: object): Promise<{ result?: unknown; error?: unknown }> {
    const { promise, resolve, reject } = Promise.withResolvers<string>();
    let buf = "";
    const socket = await Bun.connect({
      unix: sock,
      socket: {
        data(_s, chunk) {
          buf += chunk.toString();
          const nl = buf.indexOf("\n");
          if (nl >= 0) resolve(buf.slice(0, nl));
        },
        error: (_s, err) => reject(err),
        close: () => reject(new Error("closed before the answer")),
      },
    });
    socket.write(JSON.stringify(request) + "\n");
    try {
      return JSON.parse(await promise);
    } finally {
      socket.end();
    }
  }

  test("Electrum on the socket (mode 0660) instead of TCP, with two serving threads; removed at a clean stop; a stale one replaced", async () => {
    using tmp = tempDir();
    const sock = join(tmp.path, "electrum.sock");
    // The TCP address it must not bind: a free port, checked free again afterwards.
    const probe = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    const tcpPort = probe.port;
    probe.stop(true);
    const argv = [
      "--offline", "--network", "regtest", "--blocks-dir", FIXTURE_BLOCKS, "--db-dir", join(tmp.path, "db"),
      "--monitoring-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--electrum-rpc-addr", `127.0.0.1:${tcpPort}`,
      "--rpc-socket-file", sock, "--serve-workers", "2",
    ];
    let app = spawnApp(argv);
    await app.waitFor(new RegExp(`startup complete: REST on \\S+, Electrum on unix:${sock.replaceAll("/", "\\/")}`), T);
    expect(lstatSync(sock).mode & 0o777).toBe(0o660);
    expect((await electrumOverSocket(sock, { id: 1, method: "blockchain.headers.subscribe", params: [] })).result).toMatchObject({ height: tip });
    await expect(Bun.connect({ hostname: "127.0.0.1", port: tcpPort, socket: { data() {} } })).rejects.toThrow();
    app.kill("SIGTERM");
    expect(await app.exited).toBe(0);
    expect(existsSync(sock)).toBe(false);

    app = spawnApp(argv);
    await app.waitFor(/startup complete/, T);
    app.kill("SIGKILL");
    await app.exited;
    expect(lstatSync(sock).isSocket()).toBe(true); // stale
    app = spawnApp(argv);
    await app.waitFor(/startup complete/, T);
    expect((await electrumOverSocket(sock, { id: 2, method: "server.ping", params: [] })).result).toBeNull();
    app.kill("SIGTERM");
    expect(await app.exited).toBe(0);
  }, T);
});
