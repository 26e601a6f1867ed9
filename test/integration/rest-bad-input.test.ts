/**
 * Bad requests to every route of the REST API (spec §1.3, §1.4, §1.6), through the server process
 * over the Core 30 fixture (--offline: no node, so routes that need one answer with an error):
 * none may answer 500 or hang, errors are text/plain without Cache-Control and carry the spec's
 * exact text where §1 gives one, and the server keeps answering afterwards. Plus slow clients: a
 * body that stalls, headers that never end.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import type { AppProcess } from "../helpers/app-process.ts";
import { loadExpected } from "../helpers/fixture.ts";
import { Problems, RestClient, mapLimit, short, startFixtureServer, stopApp, type RestResponse } from "../helpers/rest-client.ts";
import { tempDir } from "../helpers/tmp.ts";

const T = 120_000;
const e = loadExpected();
const TIP = e.tip.height;

// Fixture identifiers
const BLOCK = e.blocks[5]!; // one tx, deep
const BIG_BLOCK = e.blocks.find((b) => b.nTx > 50)!;
const TX = Object.keys(e.txs).find((t) => e.txs[t]!.height === 120 && e.txs[t]!.pos === 1)!;
const POPULAR = e.scripts[0]!; // hundreds of txs, has an address
const ADDR = POPULAR.address!;
const SH = POPULAR.scripthash;
const UNKNOWN = "00".repeat(31) + "01"; // valid hex, no such block or tx
const TX_HEX = e.txs[TX]!.hex;

// Numbers as electrs parses them (usize for heights and indexes, u32 for vouts).
const NOT_A_NUMBER = ["x", "-1", "1e30", "1.5", "0x10", "%00", "%C3%A9", " 1", "1000000000000000000000000000000", "18446744073709551616"];
const TWO_53 = "9007199254740992";
const TWO_53_PLUS_1 = "9007199254740993";
const U64_MAX = "18446744073709551615";

// Hash segments that do not parse: `Invalid hex string` for txids and block hashes.
const BAD_HASHES = [
  "zz",
  "z".repeat(64),
  "ab".repeat(31) + "a", // 63
  "ab".repeat(33), // 66
  "ab".repeat(16), // 32
  "%00",
  "%C3%A9",
  "0x" + "ab".repeat(31),
  "ab".repeat(5000), // a long one
];

interface Case {
  method?: string;
  path: string;
  body?: string | Uint8Array;
  headers?: Record<string, string>;
  /** Allowed statuses. */
  status: number | readonly number[];
  /** Exact error text (or a pattern) where the spec gives one. */
  text?: string | RegExp;
  /** Further checks of a success: a problem description, or null. */
  check?: (r: RestResponse) => string | null;
}

const endpoint = (path: string) => `endpoint does not exist ${JSON.stringify(path)}`;
/** Broadcast-like routes with no node (--offline): an error, but not a 500. */
const NO_NODE = [400, 502, 503, 504] as const;

function blockRouteCases(): Case[] {
  const cases: Case[] = [];
  const subs = ["", "/status", "/txids", "/header", "/raw", "/txid/0", "/txs", "/txs/0", "/txs/25"];
  for (const bad of BAD_HASHES) for (const sub of subs) cases.push({ path: `/block/${bad}${sub}`, status: 400, text: "Invalid hex string" });
  // An empty hash segment, as electrs splits paths: `""` does not parse as a hash.
  for (const sub of ["/status", "/txids", "/header", "/raw", "/txid/0", "/txs"]) cases.push({ path: `/block/${sub}`, status: 400, text: "Invalid hex string" });
  cases.push({ path: "/block/", status: 400, text: "Invalid hex string" });
  // Unknown, well-formed hashes.
  for (const sub of ["", "/txids", "/header", "/raw", "/txid/0", "/txs", "/txs/0"]) cases.push({ path: `/block/${UNKNOWN}${sub}`, status: 404, text: "Block not found" });
  cases.push({ path: `/block/${UNKNOWN}/status`, status: 200, check: (r) => (r.text === `{"in_best_chain":false,"height":null,"next_best":null}` ? null : r.text) });
  // Upper-case hex is a valid hash.
  cases.push({ path: `/block/${BLOCK.hash.toUpperCase()}`, status: 200 });
  // Indexes.
  for (const n of NOT_A_NUMBER) cases.push({ path: `/block/${BLOCK.hash}/txid/${n}`, status: 400, text: "Invalid number" });
  cases.push({ path: `/block/${BLOCK.hash}/txid/`, status: 400, text: "Invalid number" });
  for (const n of [TWO_53, TWO_53_PLUS_1, U64_MAX, "1"]) cases.push({ path: `/block/${BLOCK.hash}/txid/${n}`, status: 404, text: "tx index out of range" });
  // /txs start index: non-numbers (and u32 overflows) are 0; not a multiple of 25; past the end.
  for (const n of ["x", "-1", "1e30", TWO_53, "%00"]) {
    cases.push({ path: `/block/${BLOCK.hash}/txs/${n}`, status: 200, check: (r) => ((r.json as { txid: string }[])[0]?.txid === BLOCK.txids[0] ? null : "not page 0") });
  }
  cases.push({ path: `/block/${BLOCK.hash}/txs/`, status: 200 });
  for (const n of ["1", "24", "26"]) cases.push({ path: `/block/${BIG_BLOCK.hash}/txs/${n}`, status: 400, text: /^start index must be a (multiple|multipication) of 25$/ });
  cases.push({ path: `/block/${BLOCK.hash}/txs/25`, status: [400, 404], text: "start index out of range" });
  cases.push({ path: `/block/${BIG_BLOCK.hash}/txs/4294967275`, status: [400, 404], text: "start index out of range" });
  // Heights.
  for (const n of NOT_A_NUMBER) cases.push({ path: `/block-height/${n}`, status: 400, text: "Invalid number" });
  cases.push({ path: "/block-height/", status: 400, text: "Invalid number" });
  for (const n of [String(TIP + 1), TWO_53, TWO_53_PLUS_1, U64_MAX]) cases.push({ path: `/block-height/${n}`, status: 404, text: "Block not found" });
  // /blocks/:start_height: a start that does not parse is the tip; above the tip is 404.
  const fromTip = (r: RestResponse) => ((r.json as { id: string }[])[0]?.id === e.tip.hash ? null : "does not start at the tip");
  for (const n of ["tip", "x", "-1", "1e30", "1.5", "%00", "1000000000000000000000000000000"]) cases.push({ path: `/blocks/${n}`, status: 200, check: fromTip });
  cases.push({ path: "/blocks/", status: 200, check: fromTip });
  for (const n of [String(TIP + 1), TWO_53, TWO_53_PLUS_1, U64_MAX]) cases.push({ path: `/blocks/${n}`, status: 404, text: "Block not found" });
  return cases;
}

function txRouteCases(): Case[] {
  const cases: Case[] = [];
  const subs = ["", "/hex", "/raw", "/status", "/merkle-proof", "/merkleblock-proof", "/outspend/0", "/outspends"];
  for (const bad of BAD_HASHES) for (const sub of subs) cases.push({ path: `/tx/${bad}${sub}`, status: 400, text: "Invalid hex string" });
  for (const sub of ["/hex", "/raw", "/status", "/merkle-proof", "/outspends", "/outspend/0"]) cases.push({ path: `/tx/${sub}`, status: 400, text: "Invalid hex string" });
  cases.push({ path: "/tx/", status: 400, text: "Invalid hex string" });
  for (const sub of ["", "/hex", "/raw", "/outspends"]) cases.push({ path: `/tx/${UNKNOWN}${sub}`, status: 404, text: "Transaction not found" });
  for (const sub of ["/merkle-proof", "/merkleblock-proof"]) cases.push({ path: `/tx/${UNKNOWN}${sub}`, status: 404, text: "Transaction not found or is unconfirmed" });
  cases.push({ path: `/tx/${UNKNOWN}/status`, status: 200, check: (r) => (r.text === `{"confirmed":false}` ? null : r.text) });
  cases.push({ path: `/tx/${UNKNOWN}/outspend/0`, status: 200, check: (r) => (r.text === `{"spent":false}` ? null : r.text) });
  // vout is a u32.
  for (const n of [...NOT_A_NUMBER, TWO_53, "4294967296"]) cases.push({ path: `/tx/${TX}/outspend/${n}`, status: 400, text: "Invalid number" });
  cases.push({ path: `/tx/${TX}/outspend/`, status: 400, text: "Invalid number" });
  cases.push({ path: `/tx/${TX}/outspend/4294967295`, status: 200, check: (r) => (r.text === `{"spent":false}` ? null : r.text) });
  // /txs/outspends (MP).
  cases.push({ path: "/txs/outspends", status: 400, text: "No txids specified" });
  const many = Array.from({ length: 51 }, () => TX).join(",");
  cases.push({ path: `/txs/outspends?txids=${many}`, status: 400, text: "Too many txids requested" });
  for (const q of ["zz", `${TX},zz`, ",", `${UNKNOWN}`, "%00"]) cases.push({ path: `/txs/outspends?txids=${q}`, status: [200, 400] });
  return cases;
}

function scriptRouteCases(): Case[] {
  const cases: Case[] = [];
  const subs = ["", "/txs", "/txs/chain", `/txs/chain/${TX}`, "/txs/mempool", "/utxo", "/txs/summary"];
  for (const bad of ["zz", "z".repeat(64), "ab".repeat(31) + "a", "ab".repeat(33), "ab".repeat(16), "%00", "%C3%A9", "ab".repeat(5000)]) {
    for (const sub of subs) cases.push({ path: `/scripthash/${bad}${sub}`, status: 400, text: "Invalid scripthash" });
  }
  cases.push({ path: "/scripthash/", status: 400, text: "Invalid scripthash" });
  for (const sub of subs) {
    // Addresses of another network.
    for (const other of ["bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4", "1BoatSLRHtKNngkdXEeobR76b53LETtpyT", "tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx"]) {
      cases.push({ path: `/address/${other}${sub}`, status: 400, text: "Address on invalid network" });
    }
    // Not addresses at all: the text is the address parser's (not fixed by the spec).
    for (const junk of ["notanaddress", "%00", "%C3%A9", "bcrt1qzzzzzz", ADDR.slice(0, -1) + (ADDR.endsWith("q") ? "p" : "q"), "x".repeat(5000)]) {
      cases.push({ path: `/address/${junk}${sub}`, status: 400 });
    }
  }
  cases.push({ path: "/address/", status: 400 });
  // Cursors: an unparseable last_seen is ignored; a valid one not in the history gives []; MP's
  // after_txid and summary cursors that are not found give 422.
  for (const base of [`/scripthash/${SH}`, `/address/${ADDR}`]) {
    const nonEmpty = (r: RestResponse) => ((r.json as unknown[]).length > 0 ? null : "empty");
    cases.push({ path: `${base}/txs/chain/zz`, status: 200, check: nonEmpty });
    cases.push({ path: `${base}/txs/chain/`, status: 200, check: nonEmpty });
    cases.push({ path: `${base}/txs/chain/${UNKNOWN}`, status: 200, check: (r) => (r.text === "[]" ? null : short(r.text, 100)) });
    cases.push({ path: `${base}/txs/summary/${UNKNOWN}`, status: 422, text: "after_txid not found" });
    cases.push({ path: `${base}/txs?after_txid=${UNKNOWN}`, status: 422, text: "after_txid not found" });
    cases.push({ path: `${base}/txs?after_txid=zz`, status: 200, check: nonEmpty });
    cases.push({ path: `${base}/txs/summary/zz`, status: 200, check: nonEmpty });
    // Bad numbers in query params are ignored (the default applies); the last of a repeated key wins.
    for (const q of ["abc", "-1", "1e30", "1.5", "", "99999999999999999999999", "%00"]) {
      for (const sub of ["/txs", "/txs/chain", "/txs/mempool", "/txs/summary"]) cases.push({ path: `${base}${sub}?max_txs=${q}`, status: 200 });
    }
    cases.push({ path: `${base}/txs/chain?max_txs=abc&max_txs=3`, status: 200, check: (r) => ((r.json as unknown[]).length === 3 ? null : `${(r.json as unknown[]).length} txs, not 3`) });
    // /utxo paging (an electrs-bun extension): bad values are refused, never a 500.
    for (const q of ["limit=abc", "limit=-1", "limit=0", "limit=1e30", "after=zz", `after=${TX}`, `after=${TX}:x`, `after=${TX}:-1`, "after=:", "limit=&after="]) {
      cases.push({ path: `${base}/utxo?${q}`, status: [200, 400] });
    }
  }
  cases.push({ path: "/address-prefix/bcrt1q", status: 400, text: "address search disabled" });
  cases.push({ path: "/address-prefix/", status: 400, text: "address search disabled" });
  return cases;
}

function bodyCases(): Case[] {
  const cases: Case[] = [];
  const big = "00".repeat(1_000_000); // 2 MB of hex
  // POST /tx and GET /broadcast: with no node, every broadcast is an error (never a 500).
  for (const body of ["", "zz", "abc", "00", TX_HEX, " ", "\u00e9", TX_HEX + "\n"]) cases.push({ method: "POST", path: "/tx", body, status: NO_NODE });
  cases.push({ method: "POST", path: "/tx", body: Uint8Array.of(0xff, 0xfe, 0x00), status: 400 });
  cases.push({ method: "POST", path: "/tx", body: big, status: 413, text: "Request body too large" });
  cases.push({ path: "/broadcast", status: 400, text: "Missing tx" });
  cases.push({ path: "/broadcast?nottx=00", status: 400, text: "Missing tx" });
  for (const q of ["zz", "", "00", TX_HEX, "%00"]) cases.push({ path: `/broadcast?tx=${q}`, status: NO_NODE });

  // /txs/test (MP) and /txs/package (BS-new): JSON array of hex, at most 25, size and hex pre-checks.
  const valid120 = "00".repeat(60);
  for (const route of ["/txs/test", "/txs/package"]) {
    for (const body of ["", "{", "not json", "{}", "[1]", '"00"', "[", "[null]", "\u0000"]) cases.push({ method: "POST", path: route, body, status: 400 });
    cases.push({ method: "POST", path: route, body: Uint8Array.of(0x5b, 0xff, 0x5d), status: 400 }); // invalid UTF-8
    cases.push({ method: "POST", path: route, body: JSON.stringify(Array.from({ length: 26 }, () => "00")), status: 400, text: "Exceeded maximum of 25 transactions" });
    cases.push({ method: "POST", path: route, body: '["00"]', status: 400, text: "Invalid transaction size for item 0" });
    cases.push({ method: "POST", path: route, body: JSON.stringify([valid120, "00"]), status: 400, text: "Invalid transaction size for item 1" });
    cases.push({ method: "POST", path: route, body: JSON.stringify(["zz".repeat(60)]), status: 400, text: "Invalid transaction hex for item 0" });
    cases.push({ method: "POST", path: route, body: JSON.stringify(["0".repeat(121)]), status: 400 }); // odd length
    cases.push({ method: "POST", path: route, body: JSON.stringify(["00".repeat(400_000)]), status: 400, text: "Invalid transaction size for item 0" });
    cases.push({ method: "POST", path: `${route}?maxfeerate=abc`, body: JSON.stringify([TX_HEX]), status: 400, text: "Invalid maxfeerate" });
    cases.push({ method: "POST", path: route, body: big, status: 413, text: "Request body too large" });
    cases.push({ method: "POST", path: route, body: JSON.stringify([TX_HEX]), status: NO_NODE });
  }
  // BS-new's 400 for `[]` is bitcoind's refusal of an empty package: with no node, the no-node error.
  cases.push({ method: "POST", path: "/txs/package", body: "[]", status: NO_NODE });
  cases.push({ method: "POST", path: "/txs/package?maxburnamount=abc", body: JSON.stringify([TX_HEX]), status: 400, text: "Invalid maxburnamount" });

  // POST /addresses/txs and friends (MP): at most 300 entries, 72×300 bytes; bad entries dropped.
  const addrs = e.scripts.filter((s) => s.address).map((s) => s.address!);
  for (const [route, entry] of [
    ["/addresses/txs", ADDR],
    ["/scripthashes/txs", SH],
    ["/addresses/txs/summary", ADDR],
    ["/scripthashes/txs/summary", SH],
  ] as const) {
    for (const body of ["", "{", "not json", "{}", "[1]", '"x"', "[null]"]) cases.push({ method: "POST", path: route, body, status: 400 });
    cases.push({ method: "POST", path: route, body: Uint8Array.of(0x5b, 0xff, 0x5d), status: 400 });
    cases.push({ method: "POST", path: route, body: JSON.stringify(Array.from({ length: 301 }, () => "x")), status: 422, text: "body too long" });
    cases.push({ method: "POST", path: route, body: JSON.stringify(Array.from({ length: 301 }, (_, i) => addrs[i % addrs.length]!)), status: 422, text: "body too long" });
    cases.push({ method: "POST", path: route, body: JSON.stringify(["y".repeat(72 * 300)]), status: 422, text: "body too long" });
    cases.push({ method: "POST", path: route, body: big, status: 413, text: "Request body too large" });
    cases.push({ method: "POST", path: route, body: JSON.stringify(["notanaddress", "zz", ""]), status: 200, check: (r) => (r.text === "[]" ? null : short(r.text, 100)) });
    cases.push({ method: "POST", path: route, body: "[]", status: 200 });
    cases.push({ method: "POST", path: `${route}?max_txs=abc`, body: JSON.stringify([entry]), status: 200 });
    cases.push({ method: "POST", path: `${route}/${UNKNOWN}`, body: JSON.stringify([entry]), status: route.endsWith("summary") ? 422 : 404, text: route.endsWith("summary") ? "after_txid not found" : endpoint(`${route}/${UNKNOWN}`) });
  }
  for (const q of ["abc", "-1", ""]) cases.push({ method: "POST", path: `/addresses/txs?after_txid=${q}`, body: JSON.stringify([ADDR]), status: 200 });
  cases.push({ method: "POST", path: `/addresses/txs?after_txid=${UNKNOWN}`, body: JSON.stringify([ADDR]), status: 422, text: "after_txid not found" });
  return cases;
}

function methodAndPathCases(): Case[] {
  const cases: Case[] = [];
  // Wrong methods: electrs matches (method, path) together, so these are unknown endpoints.
  for (const [method, path] of [
    ["POST", "/blocks/tip/height"],
    ["PUT", "/tx"],
    ["DELETE", `/block/${BLOCK.hash}`],
    ["PATCH", "/mempool"],
    ["POST", "/broadcast"],
    ["POST", `/tx/${TX}`],
    ["PUT", "/txs/test"],
    ["OPTIONS", "/blocks/tip/height"],
    ["OPTIONS", "/tx"],
    ["GET", "/tx"],
    ["GET", "/txs/test"],
    ["GET", "/txs/package"],
    ["GET", "/addresses/txs"],
    ["GET", "/scripthashes/txs/summary"],
    ["DELETE", "/nope"],
  ] as const) {
    cases.push({ method, path, body: method === "GET" || method === "OPTIONS" || method === "DELETE" ? undefined : "00", status: 404, text: endpoint(path) });
  }
  cases.push({ method: "HEAD", path: "/blocks/tip/height", status: 404 });
  // Trailing slashes: an empty last segment.
  for (const path of [
    "/blocks/tip/hash/", "/blocks/tip/height/", `/block/${BLOCK.hash}/`, `/block/${BLOCK.hash}/status/`, `/tx/${TX}/`, `/tx/${TX}/hex/`,
    "/mempool/", "/mempool/txids/", "/mempool/recent/", "/fee-estimates/", `/address/${ADDR}/`, `/address/${ADDR}/txs/`, `/address/${ADDR}/utxo/`,
    `/scripthash/${SH}/txs/mempool/`, "/health/ready/",
  ]) {
    cases.push({ path, status: 404, text: endpoint(path) });
  }
  // Unknown paths, odd characters, deep and long paths.
  // (Paths with a leading `//` are in the raw-socket test below: fetch rewrites them.)
  for (const path of ["/nope", "/", "/nope%00", "/%00", "/nope/%2F", `/tx/${TX}/nope`, `/block/${BLOCK.hash}/txs/0/extra`, "/blocks/tip", "/a/".repeat(500) + "b", "/" + "n".repeat(10_000)]) {
    if (path === "/blocks/tip") continue; // the tip (see blockRouteCases)
    cases.push({ path, status: 404, text: endpoint(path) });
  }
  cases.push({ path: "/ünïcode", status: 404, text: endpoint("/%C3%BCn%C3%AFcode") });
  cases.push({ path: "/blocks/tip/hash?x=1&x=2&%00=%zz", status: 200 });
  // Routes that need a flag or a node.
  cases.push({ path: "/block-template", status: 403, text: "mining REST endpoints are disabled" });
  cases.push({ path: "/fee-estimates", status: [200, ...NO_NODE] });
  cases.push({ path: "/health/ready", status: [200, 503] });
  cases.push({ path: "/mempool", status: 200 });
  cases.push({ path: "/mempool/txids", status: 200, check: (r) => (r.text === "[]" ? null : r.text) });
  cases.push({ path: "/mempool/recent", status: 200 });
  for (const q of ["", "/zz", `/${UNKNOWN}`, "?max_txs=abc", "?max_txs=-1", "?max_txs=1e30", "/%00"]) cases.push({ path: `/mempool/txids/page${q}`, status: 200 });
  // MP's internal routes: bad input is a 400, an unknown block a 404; what MP answers for a
  // string that is not a txid or an outpoint in an outspends list is an empty or unspent answer.
  for (const [method, path, body, status] of [
    ["GET", "/internal/block/zz/txs", undefined, 400],
    ["GET", `/internal/block/${UNKNOWN}/txs`, undefined, 404],
    ["POST", "/internal/txs", "{", 400],
    ["POST", "/internal/txs", '["zz"]', 400],
    ["GET", "/internal/mempool/txs/all", undefined, 200],
    ["GET", "/internal/mempool/txs/zz?max_txs=abc", undefined, 200],
    ["POST", "/internal/mempool/txs", "not json", 400],
    ["POST", "/internal/txs/outspends/by-txid", "[1]", 400],
    ["POST", "/internal/txs/outspends/by-txid", '["zz"]', 200],
    ["POST", "/internal/txs/outspends/by-outpoint", '["zz:x"]', 200],
  ] as const) {
    cases.push({ method, path, body, status });
  }
  return cases;
}

// ---------------------------------------------------------------------------------------------

let tmp: ReturnType<typeof tempDir>;
let app: AppProcess;
let rest: RestClient;
let base: string;

beforeAll(async () => {
  tmp = tempDir();
  ({ app, base, rest } = await startFixtureServer(join(tmp.path, "db")));
}, T);

afterAll(async () => {
  await stopApp(app);
  tmp?.[Symbol.dispose]();
});

function checkCase(p: Problems, c: Case, r: RestResponse): void {
  const label = `${c.method ?? "GET"} ${c.path.length > 120 ? c.path.slice(0, 120) + "…" : c.path}`;
  const allowed = typeof c.status === "number" ? [c.status] : c.status;
  if (r.status === 500) {
    p.add(`${label}: 500 ${short(r.text, 200)}`);
    return;
  }
  if (!allowed.includes(r.status)) {
    p.add(`${label}: expected ${allowed.join("|")}${c.text ? ` ${c.text instanceof RegExp ? c.text : JSON.stringify(c.text)}` : ""}, got ${r.status} ${short(r.text, 200)}`);
    return;
  }
  if (r.status >= 400) {
    if ((c.method ?? "GET") !== "HEAD") p.eq(`${label} (${r.status}) content-type`, r.contentType, "text/plain");
    p.eq(`${label} (${r.status}) cache-control`, r.cacheControl, null);
    if (c.text !== undefined) {
      const good = typeof c.text === "string" ? r.text === c.text : c.text.test(r.text);
      if (!good) p.add(`${label}: expected the text ${c.text instanceof RegExp ? c.text : JSON.stringify(c.text)}, got ${short(r.text, 200)}`);
    }
  } else if (c.check) {
    try {
      const problem = c.check(r);
      if (problem) p.add(`${label}: ${problem}`);
    } catch (x) {
      p.add(`${label}: ${String(x)}`);
    }
  }
}

async function runTable(cases: readonly Case[]): Promise<string> {
  const p = new Problems();
  await mapLimit(cases, 16, async (c) => {
    let r: RestResponse;
    try {
      r = await rest.request(c.method ?? "GET", c.path, { body: c.body, headers: c.headers, timeoutMs: 10_000 });
    } catch (x) {
      p.add(`${c.method ?? "GET"} ${c.path.slice(0, 120)}: no answer: ${String(x).slice(0, 200)}`);
      return;
    }
    checkCase(p, c, r);
  });
  // Still serving afterwards.
  const tip = await rest.get("/blocks/tip/height");
  p.eq("/blocks/tip/height after the table", `${tip.status} ${tip.text}`, `200 ${TIP}`);
  return p.report(80);
}

describe("bad input to every route: no 500, no hang, the spec's texts", () => {
  test("block routes: hashes, indexes, heights, start indexes", async () => {
    expect(await runTable(blockRouteCases())).toBe("");
  }, T);

  test("tx routes: hashes, vouts, /txs/outspends", async () => {
    expect(await runTable(txRouteCases())).toBe("");
  }, T);

  test("script routes: scripthashes, addresses, cursors, query params", async () => {
    expect(await runTable(scriptRouteCases())).toBe("");
  }, T);

  test("POST bodies: broadcast, /txs/test, /txs/package, multi-address routes, 2 MB", async () => {
    expect(await runTable(bodyCases())).toBe("");
  }, T);

  test("wrong methods, trailing slashes, unknown and odd paths, routes needing a node or a flag", async () => {
    expect(await runTable(methodAndPathCases())).toBe("");
  }, T);
});

describe("raw sockets: slow clients do not hold up others; request targets fetch would rewrite", () => {
  /** A raw TCP client: what fetch will not do (stall mid-request). */
  async function rawConnect(): Promise<{ write(s: string): void; received(): string; closed: Promise<void>; close(): void }> {
    const url = new URL(base);
    let data = "";
    let onClose: () => void = () => {};
    const closed = new Promise<void>((resolve) => (onClose = resolve));
    const socket = await Bun.connect({
      hostname: url.hostname,
      port: Number(url.port),
      socket: {
        data(_s, chunk) {
          data += new TextDecoder().decode(chunk);
        },
        close() {
          onClose();
        },
        error() {
          onClose();
        },
      },
    });
    return {
      write: (s) => void socket.write(s),
      received: () => data,
      closed,
      close: () => socket.end(),
    };
  }

  test("a body that stalls (Content-Length 100, 10 bytes sent) and headers that never end", async () => {
    const stalled = await Promise.all(Array.from({ length: 20 }, () => rawConnect()));
    try {
      stalled.forEach((c, i) => {
        if (i % 2 === 0) c.write(`POST /tx HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\nContent-Length: 100\r\n\r\n0123456789`);
        else c.write(`GET /blocks/tip/height HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: `);
      });
      // Meanwhile other clients are served promptly, many times over.
      const t0 = performance.now();
      for (let i = 0; i < 20; i++) {
        const r = await rest.get("/blocks/tip/height", { timeoutMs: 2_000 });
        expect(`${r.status} ${r.text}`).toBe(`200 ${TIP}`);
        const b = await rest.post("/txs/test", '["00"]', { timeoutMs: 2_000 });
        expect(b.status).toBe(400);
      }
      expect(performance.now() - t0).toBeLessThan(5_000);
      // The stalled requests got no answer yet (their bodies are incomplete), or a 408/400.
      for (const c of stalled) expect(c.received()).not.toMatch(/HTTP\/1\.1 500/);
    } finally {
      for (const c of stalled) c.close();
    }
    const r = await rest.get("/blocks/tip/height", { timeoutMs: 2_000 });
    expect(`${r.status} ${r.text}`).toBe(`200 ${TIP}`);
  }, T);

  /** One request on a raw socket (fetch rewrites some targets, e.g. a leading `//`); reads to the close. */
  async function rawHttp(target: string, method = "GET"): Promise<{ status: number; contentType: string; body: string }> {
    const c = await rawConnect();
    c.write(`${method} ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`);
    await Promise.race([c.closed, Bun.sleep(5_000).then(() => c.close())]);
    const text = c.received();
    const split = text.indexOf("\r\n\r\n");
    const head = text.slice(0, split).split("\r\n");
    const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head[0] ?? "")?.[1] ?? 0);
    const header = (name: string) => head.find((h) => h.toLowerCase().startsWith(name + ":"))?.slice(name.length + 1).trim() ?? "";
    let body = text.slice(split + 4);
    if (/chunked/i.test(header("transfer-encoding"))) {
      let out = "";
      for (let i = 0; ; ) {
        const nl = body.indexOf("\r\n", i);
        const n = parseInt(body.slice(i, nl), 16);
        if (!(n > 0)) break;
        out += body.slice(nl + 2, nl + 2 + n);
        i = nl + 2 + n + 2;
      }
      body = out;
    }
    return { status, contentType: header("content-type").split(";")[0]!.trim(), body };
  }

  test("request targets fetch would rewrite (leading `//`), on a raw socket: electrs' 404 names the path as sent", async () => {
    const p = new Problems();
    for (const target of ["//", "///", "//nope", "//blocks/tip/height", `//tx/${TX}`]) {
      const r = await rawHttp(target);
      p.eq(`GET ${target}`, `${r.status} ${r.contentType} ${r.body}`, `404 text/plain ${endpoint(target)}`);
    }
    // The same socket path serves ordinary requests.
    const ok = await rawHttp("/blocks/tip/height");
    p.eq("GET /blocks/tip/height on a raw socket", `${ok.status} ${ok.body}`, `200 ${TIP}`);
    expect(p.report()).toBe("");
  }, T);

  test("a body that stops, then the client leaves: the server carries on", async () => {
    const c = await rawConnect();
    c.write(`POST /txs/test HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000\r\n\r\n["00`);
    c.close();
    await c.closed;
    const r = await rest.get("/blocks/tip/height", { timeoutMs: 2_000 });
    expect(`${r.status} ${r.text}`).toBe(`200 ${TIP}`);
  }, T);
});
