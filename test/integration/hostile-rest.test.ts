/**
 * Hostile and careless REST clients (issue #12), against the server process over the Core 30
 * fixture (--offline): requests without a Host header route as with one; a multi-address body
 * that repeats an address counts it once, and a 300-entry body is cheap and does not hold up
 * other clients; a busy listen address stops the start before the store is touched.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { spawnApp, type AppProcess } from "../helpers/app-process.ts";
import { FIXTURE_BLOCKS, loadExpected } from "../helpers/fixture.ts";
import { startFixtureServer, stopApp } from "../helpers/rest-client.ts";
import { tempDir } from "../helpers/tmp.ts";

const T = 120_000;
const e = loadExpected();
const POPULAR = e.scripts[0]!; // 601 txs, has an address
const ADDR = POPULAR.address!;
const TX = Object.keys(e.txs).find((t) => e.txs[t]!.height === 120 && e.txs[t]!.pos === 1)!;
/** 300 distinct addresses, the popular one first. */
const ADDRS_300 = e.scripts.flatMap((s) => (s.address ? [s.address] : [])).slice(0, 300);

let tmp: ReturnType<typeof tempDir>;
let app: AppProcess;
let base: string;
let port: number;

beforeAll(async () => {
  tmp = tempDir();
  ({ app, base } = await startFixtureServer(join(tmp.path, "db")));
  port = Number(new URL(base).port);
  expect(ADDRS_300).toHaveLength(300);
}, T);

afterAll(async () => {
  await stopApp(app);
  tmp?.[Symbol.dispose]();
});

interface RawAnswer {
  status: number;
  contentType: string | null;
  body: string;
}

/** One request written as is over TCP, the answer read until the server closes. */
function rawRequest(head: string, body = "", timeoutMs = 10_000): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1");
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer to ${JSON.stringify(head)} within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.on("data", (d: Buffer) => chunks.push(d));
    socket.on("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    socket.on("close", () => {
      clearTimeout(timer);
      const text = Buffer.concat(chunks).toString("utf8");
      const end = text.indexOf("\r\n\r\n");
      const headers = text.slice(0, end).split("\r\n");
      const header = (name: string) => headers.find((h) => h.toLowerCase().startsWith(name + ":"))?.slice(name.length + 1).trim() ?? null;
      let payload = text.slice(end + 4);
      if (header("transfer-encoding") === "chunked") payload = unchunk(payload);
      resolve({ status: Number(headers[0]!.split(" ")[1]), contentType: header("content-type"), body: payload });
    });
    socket.write(head + (body ? `Content-Length: ${Buffer.byteLength(body)}\r\n` : "") + "\r\n" + body);
  });
}

function unchunk(s: string): string {
  let out = "";
  for (let i = 0; ; ) {
    const nl = s.indexOf("\r\n", i);
    const size = parseInt(s.slice(i, nl), 16);
    if (!size) return out;
    out += s.slice(nl + 2, nl + 2 + size);
    i = nl + 2 + size + 2;
  }
}

describe("requests without a Host header route as with one", () => {
  const cases: { method: "GET" | "POST"; path: string; body?: string }[] = [
    { method: "GET", path: "/blocks/tip/height" },
    { method: "GET", path: "/blocks/tip/hash" },
    { method: "GET", path: "/blocks/" }, // an empty segment: matched outside Elysia's router
    { method: "GET", path: "/block-height/5" },
    { method: "GET", path: `/tx/${TX}` },
    { method: "GET", path: `/tx/${TX}/status` },
    { method: "GET", path: `/address/${ADDR}` },
    { method: "GET", path: `/address/${ADDR}/txs/chain?max_txs=3` },
    { method: "GET", path: `/scripthash/${POPULAR.scripthash}/utxo?limit=2` },
    { method: "GET", path: "/health/ready" },
    { method: "GET", path: "/mempool" },
    { method: "GET", path: "/no/such/route" },
    { method: "GET", path: "//blocks/tip/height" },
    { method: "POST", path: "/addresses/txs/summary", body: JSON.stringify([ADDR]) },
    { method: "POST", path: "/addresses/txs", body: JSON.stringify([ADDR]) },
  ];
  test("HTTP/1.0 without Host, and HTTP/1.1 with an empty Host, on every kind of route", async () => {
    const wrong: string[] = [];
    for (const c of cases) {
      // The reference on a raw socket too: fetch would rewrite a leading `//`.
      const want = await rawRequest(`${c.method} ${c.path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: close\r\n`, c.body);
      expect(want.status).toBe(c.path.includes("//") || c.path.startsWith("/no/") ? 404 : 200);
      const http10 = await rawRequest(`${c.method} ${c.path} HTTP/1.0\r\n`, c.body);
      const emptyHost = await rawRequest(`${c.method} ${c.path} HTTP/1.1\r\nHost:\r\nConnection: close\r\n`, c.body);
      for (const [how, got] of [["HTTP/1.0", http10], ["empty Host", emptyHost]] as const) {
        if (!Bun.deepEquals(got, want)) wrong.push(`${c.method} ${c.path} (${how}): ${got.status} ${got.body.slice(0, 80)}, want ${want.status} ${want.body.slice(0, 80)}`);
      }
    }
    expect(wrong).toEqual([]);
  }, T);
});

describe("multi-address bodies", () => {
  const post = async (path: string, entries: string[]) => {
    const r = await fetch(base + path, { method: "POST", body: JSON.stringify(entries) });
    expect(r.status).toBe(200);
    return (await r.json()) as unknown;
  };

  test("an address listed several times counts once", async () => {
    for (const [kind, key] of [["addresses", ADDR], ["scripthashes", POPULAR.scripthash]] as const) {
      for (const route of [`/${kind}/txs/summary`, `/${kind}/txs`]) {
        expect(await post(route, Array(10).fill(key))).toEqual(await post(route, [key]));
      }
    }
    const values = (await post("/addresses/txs/summary", [ADDR, ADDR, ADDR])) as { value: number }[];
    expect(values.reduce((n, x) => n + x.value, 0)).toBe(POPULAR.balance);
  }, T);

  test("a 300-entry summary costs at most 100 ms", async () => {
    const times: number[] = [];
    for (let i = 0; i < 3; i++) {
      const t0 = performance.now();
      const got = (await post("/addresses/txs/summary", ADDRS_300)) as unknown[];
      times.push(performance.now() - t0);
      expect(got.length).toBeGreaterThan(POPULAR.history.length);
    }
    // The best of three, so that another process's burst on the shared CPU does not decide it.
    expect(Math.min(...times)).toBeLessThanOrEqual(100);
  }, T);

  test("while 300-entry bodies are posted, another client's /blocks/tip/height answers within 250 ms", async () => {
    let posting = true;
    const poster = (async () => {
      try {
        for (let i = 0; i < 5; i++) await post("/addresses/txs/summary", ADDRS_300);
      } finally {
        posting = false;
      }
    })();
    const latencies: number[] = [];
    while (posting) {
      const t0 = performance.now();
      const r = await fetch(`${base}/blocks/tip/height`);
      await r.text();
      latencies.push(performance.now() - t0);
    }
    await poster;
    expect(latencies.length).toBeGreaterThan(0);
    expect(Math.max(...latencies)).toBeLessThan(250);
  }, T);
});

describe("a busy listen address stops the start before the store is touched", () => {
  const TLS = join(import.meta.dir, "..", "fixtures", "tls");
  test("each listen flag in turn: exit 1, one line naming the flag and the address, no db directory", async () => {
    for (const flag of ["--http-addr", "--electrum-rpc-addr", "--electrum-tls-addr", "--electrum-ws-addr", "--electrum-wss-addr", "--monitoring-addr"]) {
      using dir = tempDir();
      const db = join(dir.path, "db");
      const busy = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
      try {
        const addrs: Record<string, string> = {
          "--http-addr": "127.0.0.1:0",
          "--electrum-rpc-addr": "127.0.0.1:0",
          "--monitoring-addr": "127.0.0.1:0",
          [flag]: `127.0.0.1:${busy.port}`,
        };
        const tls = flag.includes("tls") || flag.includes("wss") ? ["--tls-cert", join(TLS, "cert.pem"), "--tls-key", join(TLS, "key.pem")] : [];
        const proc = spawnApp([
          "--network", "regtest", "--offline", "--blocks-dir", FIXTURE_BLOCKS, "--db-dir", db,
          ...Object.entries(addrs).flat(), ...tls,
        ]);
        expect(await proc.exited).toBe(1);
        const errors = proc.lines.filter((l) => l.startsWith("ERROR"));
        expect(errors).toHaveLength(1);
        expect(errors[0]).toContain(`cannot listen on 127.0.0.1:${busy.port} for ${flag}: address in use`);
        expect(existsSync(db)).toBe(false);
      } finally {
        busy.stop(true);
      }
    }
  }, T);
});
