/**
 * The Esplora REST API end to end, through the server process as a user runs it (--offline over
 * the Bitcoin Core 30 regtest fixture), against Core's ground truth: every block, every tx and
 * every script of expected.json, the reorg, caching headers, content types and CORS.
 *
 * Mismatches are collected (Problems) so that one run lists all of them, not just the first.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { parseTx, parseTxExact, type Tx, type TxOut } from "../../src/bitcoin/block.ts";
import { bytesToHex, hashToHex, hexToBytes } from "../../src/bitcoin/bytes.ts";
import { NETWORKS } from "../../src/bitcoin/network.ts";
import { readBlock, scanBlocksDir } from "../../src/daemon/blkfiles.ts";
import { silentLogger } from "../../src/log.ts";
import { metricsUrl, spawnApp, type AppProcess } from "../helpers/app-process.ts";
import { FIXTURE_BLOCKS, loadExpected, type ExpectedBlock, type ExpectedScript } from "../helpers/fixture.ts";
import {
  KEY_ORDER,
  Problems,
  RestClient,
  TTL_LONG,
  TTL_SHORT,
  allowedScriptTypes,
  headerHash,
  isP2sh,
  isP2wsh,
  keyOrderProblem,
  lastPush,
  mapLimit,
  merkleRootOfProof,
  parseMerkleBlock,
  pollUntil,
  restUrl,
  rustBitcoinAsm,
  short,
  type EsploraBlock,
  type EsploraBlockStatus,
  type EsploraMerkleProof,
  type EsploraOutspend,
  type EsploraScriptInfo,
  type EsploraStats,
  type EsploraStatus,
  type EsploraSummary,
  type EsploraTx,
  type EsploraUtxo,
  type EsploraVin,
  type EsploraVout,
  type RestResponse,
} from "../helpers/rest-client.ts";
import { tempDir } from "../helpers/tmp.ts";

const T = 120_000;
const CONCURRENCY = 32;
const e = loadExpected();
const TIP = e.tip.height;

// ---------------------------------------------------------------------------------------------
// Ground truth derived from expected.json (and the blk files for raw blocks and stale blocks)

const txids = Object.keys(e.txs);
const parsed = new Map<string, Tx>();
for (const txid of txids) {
  const tx = parseTxExact(hexToBytes(e.txs[txid]!.hex));
  if (hashToHex(tx.txid) !== txid) throw new Error(`fixture tx ${txid} parses to ${hashToHex(tx.txid)}`);
  parsed.set(txid, tx);
}

const outputs = new Map<string, TxOut>();
const spends = new Map<string, { txid: string; vin: number; height: number }>();
for (const txid of txids) {
  const tx = parsed.get(txid)!;
  tx.outputs.forEach((o, vout) => outputs.set(`${txid}:${vout}`, o));
  if (tx.isCoinbase) continue;
  tx.inputs.forEach((inp, vin) => spends.set(`${hashToHex(inp.prevTxid)}:${inp.prevVout}`, { txid, vin, height: e.txs[txid]!.height }));
}
const addressOf = new Map<string, string | null>(e.scripts.map((s) => [s.script, s.address]));

const scan = scanBlocksDir(FIXTURE_BLOCKS, NETWORKS.regtest.magic, silentLogger());
const rawBlocks = new Map<string, Uint8Array>();
for (const loc of scan.locations) rawBlocks.set(hashToHex(loc.header.hash), readBlock(loc, FIXTURE_BLOCKS, scan.xorKey));
const staleTxids: string[] = [];
for (const hash of e.reorg.stale_blocks) {
  const raw = rawBlocks.get(hash);
  if (!raw) throw new Error(`stale block ${hash} not in the blk files`);
  // Walk the block's txs with the project's parser: header, varint count, txs.
  let off = 80;
  let count = raw[off]!;
  off += 1;
  if (count >= 0xfd) throw new Error("unexpected big stale block");
  for (; count > 0; count--) {
    const { tx, end } = parseTx(raw, off);
    staleTxids.push(hashToHex(tx.txid));
    off = end;
  }
}
/** Txids seen only in stale blocks (and the RBF-replaced one): absent from the best chain. */
const goneTxids = [...new Set([...staleTxids, e.reorg.replaced_txid])].filter((t) => !(t in e.txs));

const ttlByDepth = (height: number | null): number => (height !== null && TIP - height >= 10 ? TTL_LONG : TTL_SHORT);
const cacheControl = (ttl: number) => `public, max-age=${ttl}`;
const MEDIA = { json: "application/json", text: "text/plain", bin: "application/octet-stream" } as const;
const ZERO_STATS: EsploraStats = { tx_count: 0, funded_txo_count: 0, spent_txo_count: 0, funded_txo_sum: 0, spent_txo_sum: 0 };

function confirmedStatus(height: number): EsploraStatus {
  const b = e.blocks[height]!;
  return { confirmed: true, block_height: height, block_hash: b.hash, block_time: b.time };
}

function expectedBlockJson(b: ExpectedBlock): EsploraBlock {
  return {
    id: b.hash,
    height: b.height,
    version: b.version,
    timestamp: b.time,
    tx_count: b.nTx,
    size: b.size,
    weight: b.weight,
    merkle_root: b.merkleroot,
    previousblockhash: b.previousblockhash ?? null,
    mediantime: b.mediantime,
    nonce: b.nonce,
    bits: parseInt(b.bits, 16),
    difficulty: b.difficulty,
  };
}

/** History newest first: height descending, then block position descending. */
const newestFirst = (s: ExpectedScript) => [...s.history].sort((a, b) => b.height - a.height || b.pos - a.pos);

// ---------------------------------------------------------------------------------------------
// Checks

/** A 200 with the media type and Cache-Control of the route; false (and a problem) otherwise. */
function ok(p: Problems, label: string, r: RestResponse, media: keyof typeof MEDIA, ttl: number | null): boolean {
  if (r.status !== 200) {
    p.add(`${label}: expected 200, got ${r.status} ${short(r.text, 200)}`);
    return false;
  }
  p.eq(`${label} content-type`, r.contentType, MEDIA[media]);
  if (ttl !== null) p.eq(`${label} cache-control`, r.cacheControl, cacheControl(ttl));
  return true;
}

/** An error answer: status, text/plain, the exact body, no Cache-Control (spec §1.1). */
function err(p: Problems, label: string, r: RestResponse, status: number, text: string): void {
  if (r.status !== status || r.text !== text) {
    p.add(`${label}: expected ${status} ${JSON.stringify(text)}, got ${r.status} ${short(r.text, 200)}`);
    return;
  }
  p.eq(`${label} content-type`, r.contentType, "text/plain");
  p.eq(`${label} cache-control`, r.cacheControl, null);
}

/** Key order (spec §1.2); reported once per kind of object, with a count. */
function order(p: Problems, label: string, obj: unknown, keys: readonly string[]): void {
  const problem = keyOrderProblem(obj, keys);
  const kind = Object.entries(KEY_ORDER).find(([, v]) => v === keys)?.[0] ?? "object";
  if (problem) p.once(`key order of ${kind} objects`, `${label}: ${problem}`);
}

function expectedVout(actual: EsploraVout | undefined, out: TxOut): EsploraVout {
  const hex = bytesToHex(out.script);
  const types = allowedScriptTypes(out.script);
  const address = addressOf.get(hex) ?? null;
  const v: EsploraVout = {
    scriptpubkey: hex,
    scriptpubkey_asm: rustBitcoinAsm(out.script) ?? (typeof actual?.scriptpubkey_asm === "string" ? actual.scriptpubkey_asm : "<asm>"),
    scriptpubkey_type: actual && types.includes(actual.scriptpubkey_type) ? actual.scriptpubkey_type : types[0]!,
    value: out.valueSat,
  };
  if (address !== null) {
    return { scriptpubkey: v.scriptpubkey, scriptpubkey_asm: v.scriptpubkey_asm, scriptpubkey_type: v.scriptpubkey_type, scriptpubkey_address: address, value: v.value };
  }
  return v;
}

function asmOr(script: Uint8Array, actual: unknown): string {
  return rustBitcoinAsm(script) ?? (typeof actual === "string" ? actual : "<asm>");
}

function expectedVin(actual: EsploraVin | undefined, tx: Tx, i: number): EsploraVin {
  const inp = tx.inputs[i]!;
  const prev = tx.isCoinbase ? null : outputs.get(`${hashToHex(inp.prevTxid)}:${inp.prevVout}`);
  if (prev === undefined) throw new Error(`prevout of ${hashToHex(tx.txid)}:${i} not in the fixture`);
  // Built key by key, in serialization order (witness omitted when empty).
  const out: Record<string, unknown> = {
    txid: hashToHex(inp.prevTxid),
    vout: inp.prevVout,
    prevout: prev === null ? null : expectedVout(actual?.prevout ?? undefined, prev),
    scriptsig: bytesToHex(inp.scriptSig),
    scriptsig_asm: asmOr(inp.scriptSig, actual?.scriptsig_asm),
  };
  if (inp.witness.length > 0) out.witness = inp.witness.map((w) => bytesToHex(w));
  out.is_coinbase = tx.isCoinbase;
  out.sequence = inp.sequence >>> 0;
  if (prev) {
    let redeem: Uint8Array | null = null;
    if (isP2sh(prev.script)) {
      redeem = lastPush(inp.scriptSig);
      if (redeem !== null) out.inner_redeemscript_asm = asmOr(redeem, actual?.inner_redeemscript_asm);
    }
    if ((isP2wsh(prev.script) || (redeem !== null && isP2wsh(redeem))) && inp.witness.length > 0) {
      out.inner_witnessscript_asm = asmOr(inp.witness[inp.witness.length - 1]!, actual?.inner_witnessscript_asm);
    }
  }
  return out as unknown as EsploraVin;
}

/** Compares a Transaction object with Core's data, field by field (status passed in). */
function checkTx(p: Problems, label: string, actual: EsploraTx, txid: string, status: EsploraStatus): void {
  const exp = e.txs[txid]!;
  const tx = parsed.get(txid)!;
  order(p, `${label} keys`, actual, KEY_ORDER.tx);
  p.eq(`${label} txid`, actual.txid, txid);
  p.eq(`${label} version`, actual.version, tx.version >>> 0);
  p.eq(`${label} locktime`, actual.locktime, tx.lockTime >>> 0);
  p.eq(`${label} size`, actual.size, exp.size);
  p.eq(`${label} weight`, actual.weight, exp.weight);
  p.eq(`${label} fee`, actual.fee, exp.fee_sat ?? 0);
  p.eq(`${label} status`, actual.status, status);
  order(p, `${label} status keys`, actual.status, KEY_ORDER.status);
  if (!Array.isArray(actual.vin) || !Array.isArray(actual.vout)) {
    p.add(`${label}: vin/vout not arrays`);
    return;
  }
  p.eq(`${label} vin count`, actual.vin.length, tx.inputs.length);
  p.eq(`${label} vout count`, actual.vout.length, tx.outputs.length);
  tx.inputs.forEach((_, i) => {
    const a = actual.vin[i];
    p.eq(`${label} vin[${i}]`, a, expectedVin(a, tx, i));
    order(p, `${label} vin[${i}] keys`, a, KEY_ORDER.vin);
    if (a?.prevout) order(p, `${label} vin[${i}].prevout keys`, a.prevout, KEY_ORDER.vout);
  });
  tx.outputs.forEach((o, i) => {
    const a = actual.vout[i];
    p.eq(`${label} vout[${i}]`, a, expectedVout(a, o));
    order(p, `${label} vout[${i}] keys`, a, KEY_ORDER.vout);
  });
}

function checkBlockJson(p: Problems, label: string, actual: EsploraBlock, b: ExpectedBlock): void {
  const exp = expectedBlockJson(b);
  order(p, `${label} keys`, actual, KEY_ORDER.block);
  // Core and rust-bitcoin compute the difficulty as doubles in different ways: allow the last bits.
  if (typeof actual.difficulty === "number" && Math.abs(actual.difficulty - exp.difficulty) <= Math.abs(exp.difficulty) * 1e-9) {
    exp.difficulty = actual.difficulty;
  }
  p.eq(label, actual, exp);
}

// ---------------------------------------------------------------------------------------------
// The server

let tmp: ReturnType<typeof tempDir>;
let app: AppProcess;
let rest: RestClient;

function serverArgs(db: string, extra: string[] = []): string[] {
  return [
    "--network", "regtest", "--offline", "--blocks-dir", FIXTURE_BLOCKS, "--db-dir", db,
    "--http-addr", "127.0.0.1:0", "--monitoring-addr", "127.0.0.1:0", "--electrum-rpc-addr", "127.0.0.1:0",
    ...extra,
  ];
}

async function startServer(db: string, extra: string[] = []): Promise<{ app: AppProcess; rest: RestClient }> {
  const proc = spawnApp(serverArgs(db, extra));
  const client = new RestClient(await restUrl(proc, 90_000));
  // The REST server may come up before the index is complete: wait for the fixture's tip.
  await pollUntil("the index at the fixture's tip", async () => ((await client.get("/blocks/tip/height")).text === String(TIP) ? true : undefined), 90_000, 100);
  return { app: proc, rest: client };
}

async function stop(proc: AppProcess | undefined): Promise<void> {
  if (!proc) return;
  proc.kill("SIGTERM");
  const code = await Promise.race([proc.exited, Bun.sleep(8_000).then(() => null)]);
  if (code === null) {
    proc.kill("SIGKILL");
    await proc.exited;
  }
}

beforeAll(async () => {
  tmp = tempDir();
  ({ app, rest } = await startServer(join(tmp.path, "db")));
}, T);

afterAll(async () => {
  await stop(app);
  tmp?.[Symbol.dispose]();
});

const run = <T>(items: readonly T[], fn: (item: T, index: number) => Promise<void>) => mapLimit(items, CONCURRENCY, fn);

// ---------------------------------------------------------------------------------------------

describe("blocks", () => {
  test("every block: /block/:hash, /status, /header, /raw, /block-height/:h against Core", async () => {
    const p = new Problems();
    await run(e.blocks, async (b) => {
      const L = `block ${b.height}`;
      const r = await rest.get(`/block/${b.hash}`);
      if (ok(p, `${L} /block`, r, "json", TTL_LONG)) checkBlockJson(p, `${L} /block`, r.json as EsploraBlock, b);

      const s = await rest.get(`/block/${b.hash}/status`);
      if (ok(p, `${L} /status`, s, "json", ttlByDepth(b.height))) {
        const next = e.blocks[b.height + 1]?.hash ?? null;
        p.eq(`${L} /status`, s.json, { in_best_chain: true, height: b.height, next_best: next });
        order(p, `${L} /status keys`, s.json, KEY_ORDER.blockStatus);
      }

      const h = await rest.get(`/block/${b.hash}/header`);
      if (ok(p, `${L} /header`, h, "text", TTL_LONG)) {
        p.eq(`${L} /header`, h.text, b.header);
        if (/^[0-9a-f]{160}$/.test(h.text)) p.eq(`${L} /header hashes to the block hash`, headerHash(hexToBytes(h.text)), b.hash);
      }

      const raw = await rest.get(`/block/${b.hash}/raw`);
      if (ok(p, `${L} /raw`, raw, "bin", TTL_LONG)) {
        const fromFiles = rawBlocks.get(b.hash)!;
        p.ok(`${L} /raw equals the block bytes of the blk files`, Buffer.from(raw.bytes).equals(Buffer.from(fromFiles)), `${raw.bytes.length} bytes vs ${fromFiles.length}`);
        p.eq(`${L} /raw size`, raw.bytes.length, b.size);
        if (raw.bytes.length >= 80) p.eq(`${L} /raw header hash`, headerHash(raw.bytes), b.hash);
      }

      const bh = await rest.get(`/block-height/${b.height}`);
      if (ok(p, `${L} /block-height`, bh, "text", ttlByDepth(b.height))) p.eq(`${L} /block-height`, bh.text, b.hash);
    });
    expect(p.report()).toBe("");
  }, T);

  test("every block: /txids, /txid/:i, /txs[/:start] pages", async () => {
    const p = new Problems();
    await run(e.blocks, async (b) => {
      const L = `block ${b.height}`;
      const ids = await rest.get(`/block/${b.hash}/txids`);
      if (ok(p, `${L} /txids`, ids, "json", TTL_LONG)) p.eq(`${L} /txids`, ids.json, b.txids);

      for (let i = 0; i < b.txids.length; i++) {
        const r = await rest.get(`/block/${b.hash}/txid/${i}`);
        if (ok(p, `${L} /txid/${i}`, r, "text", TTL_LONG)) p.eq(`${L} /txid/${i}`, r.text, b.txids[i]);
      }
      const past = await rest.get(`/block/${b.hash}/txid/${b.txids.length}`);
      err(p, `${L} /txid/${b.txids.length}`, past, 404, "tx index out of range");

      const seen: string[] = [];
      for (let start = 0; start < b.nTx; start += 25) {
        const r = await rest.get(`/block/${b.hash}/txs/${start}`);
        if (!ok(p, `${L} /txs/${start}`, r, "json", ttlByDepth(b.height))) continue;
        const page = r.json as EsploraTx[];
        p.eq(`${L} /txs/${start} length`, page.length, Math.min(25, b.nTx - start));
        for (const tx of page) {
          seen.push(tx.txid);
          if (tx.txid in e.txs) checkTx(p, `${L} /txs/${start} ${tx.txid}`, tx, tx.txid, confirmedStatus(b.height));
        }
      }
      p.eq(`${L} /txs pages concatenated`, seen, b.txids);

      const first = await rest.get(`/block/${b.hash}/txs`);
      if (ok(p, `${L} /txs`, first, "json", ttlByDepth(b.height))) {
        p.eq(`${L} /txs = /txs/0`, (first.json as EsploraTx[]).map((t) => t.txid), b.txids.slice(0, 25));
      }
    });
    expect(p.report()).toBe("");
  }, T);

  test("/blocks, /blocks/:h for every height, /blocks/tip/hash|height", async () => {
    const p = new Problems();
    const tipHash = await rest.get("/blocks/tip/hash");
    if (ok(p, "/blocks/tip/hash", tipHash, "text", TTL_SHORT)) p.eq("/blocks/tip/hash", tipHash.text, e.tip.hash);
    const tipHeight = await rest.get("/blocks/tip/height");
    if (ok(p, "/blocks/tip/height", tipHeight, "text", TTL_SHORT)) p.eq("/blocks/tip/height", tipHeight.text, String(TIP));

    const listFrom = (h: number) => e.blocks.slice(Math.max(0, h - 9), h + 1).reverse();
    const checkList = (label: string, r: RestResponse, from: number) => {
      if (!ok(p, label, r, "json", TTL_SHORT)) return;
      const list = r.json as EsploraBlock[];
      const exp = listFrom(from);
      p.eq(`${label} ids`, list.map((b) => b.id), exp.map((b) => b.hash));
      list.forEach((b, i) => exp[i] && checkBlockJson(p, `${label}[${i}]`, b, exp[i]!));
    };
    checkList("/blocks", await rest.get("/blocks"), TIP);
    checkList("/blocks/tip", await rest.get("/blocks/tip"), TIP); // non-numeric: the tip
    await run(e.blocks, async (b) => checkList(`/blocks/${b.height}`, await rest.get(`/blocks/${b.height}`), b.height));
    err(p, `/blocks/${TIP + 1}`, await rest.get(`/blocks/${TIP + 1}`), 404, "Block not found");
    err(p, `/block-height/${TIP + 1}`, await rest.get(`/block-height/${TIP + 1}`), 404, "Block not found");
    expect(p.report()).toBe("");
  }, T);
});

describe("transactions", () => {
  test("every tx: /tx/:txid, /hex, /raw, /status against Core", async () => {
    const p = new Problems();
    await run(txids, async (txid) => {
      const exp = e.txs[txid]!;
      const L = `tx ${txid} (h${exp.height}#${exp.pos})`;
      const ttl = ttlByDepth(exp.height);
      const status = confirmedStatus(exp.height);
      const r = await rest.get(`/tx/${txid}`);
      if (ok(p, `${L} /tx`, r, "json", ttl)) checkTx(p, `${L} /tx`, r.json as EsploraTx, txid, status);

      const hex = await rest.get(`/tx/${txid}/hex`);
      if (ok(p, `${L} /hex`, hex, "text", ttl)) p.eq(`${L} /hex`, hex.text, exp.hex);
      const raw = await rest.get(`/tx/${txid}/raw`);
      if (ok(p, `${L} /raw`, raw, "bin", ttl)) p.eq(`${L} /raw`, bytesToHex(raw.bytes), exp.hex);
      const st = await rest.get(`/tx/${txid}/status`);
      if (ok(p, `${L} /status`, st, "json", ttl)) {
        p.eq(`${L} /status`, st.json, status);
        order(p, `${L} /status keys`, st.json, KEY_ORDER.status);
      }
    });
    expect(p.report()).toBe("");
  }, T);

  test("every tx: /merkle-proof gives the block's merkle root; /merkleblock-proof parses to it and holds the txid", async () => {
    const p = new Problems();
    await run(txids, async (txid) => {
      const exp = e.txs[txid]!;
      const b = e.blocks[exp.height]!;
      const L = `tx ${txid}`;
      const ttl = ttlByDepth(exp.height);
      const r = await rest.get(`/tx/${txid}/merkle-proof`);
      if (ok(p, `${L} /merkle-proof`, r, "json", ttl)) {
        const proof = r.json as EsploraMerkleProof;
        order(p, `${L} /merkle-proof keys`, proof, KEY_ORDER.merkleProof);
        p.eq(`${L} /merkle-proof block_height`, proof.block_height, exp.height);
        p.eq(`${L} /merkle-proof pos`, proof.pos, exp.pos);
        if (Array.isArray(proof.merkle) && proof.merkle.every((m) => /^[0-9a-f]{64}$/.test(m))) {
          p.eq(`${L} /merkle-proof root`, merkleRootOfProof(txid, proof.merkle, proof.pos), b.merkleroot);
        } else p.add(`${L} /merkle-proof merkle: ${short(proof.merkle)}`);
      }
      const mb = await rest.get(`/tx/${txid}/merkleblock-proof`);
      if (ok(p, `${L} /merkleblock-proof`, mb, "text", ttl)) {
        try {
          const m = parseMerkleBlock(mb.text);
          p.eq(`${L} /merkleblock-proof header hash`, m.blockHash, b.hash);
          p.eq(`${L} /merkleblock-proof header root`, m.headerMerkleRoot, b.merkleroot);
          p.eq(`${L} /merkleblock-proof computed root`, m.computedRoot, b.merkleroot);
          p.eq(`${L} /merkleblock-proof total txs`, m.totalTxs, b.nTx);
          p.eq(`${L} /merkleblock-proof matches`, m.matches, [{ txid, pos: exp.pos }]);
        } catch (x) {
          p.add(`${L} /merkleblock-proof does not parse: ${String(x)}`);
        }
      }
    });
    expect(p.report()).toBe("");
  }, T);

  test("every tx: /outspends and /outspend/:vout against the spends of the best chain", async () => {
    const p = new Problems();
    const expectedOutspend = (txid: string, vout: number): EsploraOutspend => {
      const s = spends.get(`${txid}:${vout}`);
      return s ? { spent: true, txid: s.txid, vin: s.vin, status: confirmedStatus(s.height) } : { spent: false };
    };
    await run(txids, async (txid) => {
      const tx = parsed.get(txid)!;
      const L = `tx ${txid}`;
      const r = await rest.get(`/tx/${txid}/outspends`);
      if (ok(p, `${L} /outspends`, r, "json", TTL_SHORT)) {
        const list = r.json as EsploraOutspend[];
        p.eq(`${L} /outspends`, list, tx.outputs.map((_, v) => expectedOutspend(txid, v)));
        list.forEach((o, v) => order(p, `${L} /outspends[${v}] keys`, o, KEY_ORDER.outspend));
      }
      for (let v = 0; v < tx.outputs.length; v++) {
        const exp = expectedOutspend(txid, v);
        const one = await rest.get(`/tx/${txid}/outspend/${v}`);
        const ttl = exp.spent ? ttlByDepth(exp.status!.block_height!) : TTL_SHORT;
        if (ok(p, `${L} /outspend/${v}`, one, "json", ttl)) p.eq(`${L} /outspend/${v}`, one.json, exp);
      }
      const past = await rest.get(`/tx/${txid}/outspend/${tx.outputs.length}`);
      if (ok(p, `${L} /outspend/${tx.outputs.length} (no such output)`, past, "json", TTL_SHORT)) {
        p.eq(`${L} /outspend/${tx.outputs.length}`, past.json, { spent: false });
      }
    });
    expect(p.report()).toBe("");
  }, T);
});

describe("scripts", () => {
  const withAddress = e.scripts.filter((s) => s.address !== null);

  test("every script: /scripthash/:hash and /address/:address stats equal Core's", async () => {
    const p = new Problems();
    await run(e.scripts, async (s) => {
      const stats: EsploraStats = {
        tx_count: s.stats.tx_count,
        funded_txo_count: s.stats.funded_txo_count,
        spent_txo_count: s.stats.spent_txo_count,
        funded_txo_sum: s.stats.funded_txo_sum,
        spent_txo_sum: s.stats.spent_txo_sum,
      };
      const r = await rest.get(`/scripthash/${s.scripthash}`);
      if (ok(p, `scripthash ${s.scripthash}`, r, "json", TTL_SHORT)) {
        p.eq(`scripthash ${s.scripthash}`, r.json, { chain_stats: stats, mempool_stats: ZERO_STATS, scripthash: s.scripthash });
        p.eq(`scripthash ${s.scripthash} keys (alphabetical)`, Object.keys(r.json as object), ["chain_stats", "mempool_stats", "scripthash"]);
        const info = r.json as EsploraScriptInfo;
        for (const k of ["chain_stats", "mempool_stats"] as const) {
          const keys = Object.keys(info[k] ?? {});
          if (!Bun.deepEquals(keys, KEY_ORDER.statsInJsonMacro)) {
            p.once(`${k} key order`, `scripthash ${s.scripthash} ${k} keys: json!{} sorts them to ${short(KEY_ORDER.statsInJsonMacro)}, got ${short(keys)}`);
          }
        }
      }
      if (s.address === null) return;
      const a = await rest.get(`/address/${s.address}`);
      if (ok(p, `address ${s.address}`, a, "json", TTL_SHORT)) {
        p.eq(`address ${s.address}`, a.json, { address: s.address, chain_stats: stats, mempool_stats: ZERO_STATS });
        p.eq(`address ${s.address} keys (alphabetical)`, Object.keys(a.json as object), ["address", "chain_stats", "mempool_stats"]);
        const keys = Object.keys((a.json as EsploraScriptInfo).chain_stats ?? {});
        if (!Bun.deepEquals(keys, KEY_ORDER.statsInJsonMacro)) p.once("address chain_stats key order", `address ${s.address} chain_stats keys: ${short(keys)}`);
      }
    });
    expect(p.report()).toBe("");
  }, T);

  async function walkChain(p: Problems, label: string, base: string, s: ExpectedScript, maxTxs: number | null): Promise<void> {
    const exp = newestFirst(s);
    const pageSize = maxTxs ?? 25;
    const got: string[] = [];
    let cursor: string | null = null;
    for (let pages = 0; pages <= Math.ceil(exp.length / pageSize) + 1; pages++) {
      const path: string = `${base}/txs/chain${cursor ? `/${cursor}` : ""}${maxTxs !== null ? `?max_txs=${maxTxs}` : ""}`;
      const r = await rest.get(path);
      if (!ok(p, `${label} ${path}`, r, "json", TTL_SHORT)) return;
      const page = r.json as EsploraTx[];
      if (page.length === 0) break;
      const remaining = exp.length - got.length;
      p.eq(`${label} ${path} page length`, page.length, Math.min(pageSize, Math.max(remaining, 0)));
      for (const tx of page) {
        got.push(tx.txid);
        const t = e.txs[tx.txid];
        if (t) checkTx(p, `${label} ${path} ${tx.txid}`, tx, tx.txid, confirmedStatus(t.height));
        else p.add(`${label} ${path}: ${tx.txid} is not a best-chain tx`);
      }
      cursor = page[page.length - 1]!.txid;
    }
    p.eq(`${label} /txs/chain walked`, got, exp.map((h) => h.txid));
  }

  test("every script: /scripthash/:hash/txs/chain walked with last_seen_txid and max_txs=7 until empty", async () => {
    const p = new Problems();
    await run(e.scripts, (s) => walkChain(p, `scripthash ${s.scripthash}`, `/scripthash/${s.scripthash}`, s, 7));
    expect(p.report()).toBe("");
  }, T);

  test("every address: /address/:address/txs/chain walked with the default page size (25)", async () => {
    const p = new Problems();
    await run(withAddress, (s) => walkChain(p, `address ${s.address}`, `/address/${s.address}`, s, null));
    expect(p.report()).toBe("");
  }, T);

  test("every script: /txs (no mempool: the 25 newest chain txs) and /txs/mempool (empty)", async () => {
    const p = new Problems();
    await run(e.scripts, async (s) => {
      const exp = newestFirst(s).slice(0, 25).map((h) => h.txid);
      for (const base of [`/scripthash/${s.scripthash}`, ...(s.address ? [`/address/${s.address}`] : [])]) {
        const r = await rest.get(`${base}/txs`);
        if (ok(p, `${base}/txs`, r, "json", TTL_SHORT)) p.eq(`${base}/txs`, (r.json as EsploraTx[]).map((t) => t.txid), exp);
        const m = await rest.get(`${base}/txs/mempool`);
        if (ok(p, `${base}/txs/mempool`, m, "json", TTL_SHORT)) p.eq(`${base}/txs/mempool`, m.json, []);
      }
    });
    expect(p.report()).toBe("");
  }, T);

  test("every script: /txs/summary (MP) newest first with the net value per tx", async () => {
    const p = new Problems();
    await run(e.scripts, async (s) => {
      const exp: EsploraSummary[] = newestFirst(s).map((h) => {
        const funded = s.funded.filter((f) => f.txid === h.txid).reduce((a, f) => a + f.value, 0);
        const spent = s.spent.filter((x) => x.spending_txid === h.txid).reduce((a, x) => a + x.value, 0);
        return { txid: h.txid, height: h.height, value: funded - spent, time: e.blocks[h.height]!.time, tx_position: h.pos };
      });
      const r = await rest.get(`/scripthash/${s.scripthash}/txs/summary`);
      if (ok(p, `scripthash ${s.scripthash} /txs/summary`, r, "json", TTL_SHORT)) {
        p.eq(`scripthash ${s.scripthash} /txs/summary`, r.json, exp);
        const first = (r.json as unknown[])[0];
        if (first !== undefined) order(p, `scripthash ${s.scripthash} /txs/summary keys`, first, KEY_ORDER.summary);
      }
    });
    expect(p.report()).toBe("");
  }, T);

  const utxoKey = (u: { txid: string; vout: number }) => `${u.txid}:${u.vout}`;
  const expectedUtxos = (s: ExpectedScript): EsploraUtxo[] =>
    s.utxos
      .map((u) => ({ txid: u.txid, vout: u.vout, status: confirmedStatus(u.height), value: u.value }))
      .sort((a, b) => utxoKey(a).localeCompare(utxoKey(b)));

  test("every script: /utxo equals Core's UTXOs as a set (scripthash and address)", async () => {
    const p = new Problems();
    await run(e.scripts, async (s) => {
      const exp = expectedUtxos(s);
      for (const base of [`/scripthash/${s.scripthash}`, ...(s.address ? [`/address/${s.address}`] : [])]) {
        const r = await rest.get(`${base}/utxo`);
        if (!ok(p, `${base}/utxo`, r, "json", TTL_SHORT)) continue;
        const got = [...(r.json as EsploraUtxo[])].sort((a, b) => utxoKey(a).localeCompare(utxoKey(b)));
        p.eq(`${base}/utxo`, got, exp);
        if (got[0]) order(p, `${base}/utxo keys`, got[0], KEY_ORDER.utxo);
      }
    });
    expect(p.report()).toBe("");
  }, T);

  test("every script with UTXOs: /utxo?limit=2&after=<txid>:<vout> walks to the same set", async () => {
    const p = new Problems();
    await run(
      e.scripts.filter((s) => s.utxos.length > 0),
      async (s) => {
        const base = `/scripthash/${s.scripthash}/utxo`;
        const got: EsploraUtxo[] = [];
        let after: string | null = null;
        for (let pages = 0; pages <= s.utxos.length / 2 + 2; pages++) {
          const path: string = `${base}?limit=2${after ? `&after=${after}` : ""}`;
          const r = await rest.get(path);
          if (!ok(p, path, r, "json", TTL_SHORT)) return;
          const page = r.json as EsploraUtxo[];
          if (page.length > 2) p.add(`${path}: ${page.length} entries for limit=2`);
          if (page.length === 0) break;
          got.push(...page);
          after = utxoKey(page[page.length - 1]!);
        }
        const keys = got.map(utxoKey);
        p.eq(`${base} paged: no entry twice`, keys.length, new Set(keys).size);
        p.eq(`${base} paged`, [...got].sort((a, b) => utxoKey(a).localeCompare(utxoKey(b))), expectedUtxos(s));
      },
    );
    expect(p.report()).toBe("");
  }, T);
});

describe("the reorg of the fixture", () => {
  test("stale blocks: /block 404, /status not in the best chain, their other routes 404", async () => {
    const p = new Problems();
    for (const hash of e.reorg.stale_blocks) {
      err(p, `stale ${hash} /block`, await rest.get(`/block/${hash}`), 404, "Block not found");
      const s = await rest.get(`/block/${hash}/status`);
      if (ok(p, `stale ${hash} /status`, s, "json", TTL_SHORT)) {
        p.eq(`stale ${hash} /status`, s.json, { in_best_chain: false, height: null, next_best: null } satisfies EsploraBlockStatus);
      }
      err(p, `stale ${hash} /header`, await rest.get(`/block/${hash}/header`), 404, "Block not found");
      err(p, `stale ${hash} /raw`, await rest.get(`/block/${hash}/raw`), 404, "Block not found");
      err(p, `stale ${hash} /txids`, await rest.get(`/block/${hash}/txids`), 404, "Block not found");
      err(p, `stale ${hash} /txid/0`, await rest.get(`/block/${hash}/txid/0`), 404, "Block not found");
      err(p, `stale ${hash} /txs`, await rest.get(`/block/${hash}/txs`), 404, "Block not found");
    }
    expect(p.report()).toBe("");
  }, T);

  test("the replaced tx and the stale-only txs are unknown; /status says unconfirmed", async () => {
    const p = new Problems();
    expect(goneTxids).toContain(e.reorg.replaced_txid);
    for (const txid of goneTxids) {
      const L = `gone tx ${txid}`;
      err(p, `${L} /tx`, await rest.get(`/tx/${txid}`), 404, "Transaction not found");
      err(p, `${L} /hex`, await rest.get(`/tx/${txid}/hex`), 404, "Transaction not found");
      err(p, `${L} /raw`, await rest.get(`/tx/${txid}/raw`), 404, "Transaction not found");
      err(p, `${L} /outspends`, await rest.get(`/tx/${txid}/outspends`), 404, "Transaction not found");
      err(p, `${L} /merkle-proof`, await rest.get(`/tx/${txid}/merkle-proof`), 404, "Transaction not found or is unconfirmed");
      err(p, `${L} /merkleblock-proof`, await rest.get(`/tx/${txid}/merkleblock-proof`), 404, "Transaction not found or is unconfirmed");
      const st = await rest.get(`/tx/${txid}/status`);
      if (ok(p, `${L} /status`, st, "json", TTL_SHORT)) p.eq(`${L} /status`, st.text, `{"confirmed":false}`);
      const os = await rest.get(`/tx/${txid}/outspend/0`);
      if (ok(p, `${L} /outspend/0`, os, "json", TTL_SHORT)) p.eq(`${L} /outspend/0`, os.text, `{"spent":false}`);
    }
    expect(p.report()).toBe("");
  }, T);

  test("re-confirmed txs and the replacement show their best-chain block", async () => {
    const p = new Problems();
    const again = [...e.reorg.reconfirmed_txids, e.reorg.replacement_txid].filter((t) => t in e.txs);
    expect(again.length).toBeGreaterThan(0);
    for (const txid of again) {
      const exp = e.txs[txid]!;
      const r = await rest.get(`/tx/${txid}`);
      if (ok(p, `tx ${txid}`, r, "json", ttlByDepth(exp.height))) checkTx(p, `tx ${txid}`, r.json as EsploraTx, txid, confirmedStatus(exp.height));
      const st = await rest.get(`/tx/${txid}/status`);
      if (ok(p, `tx ${txid} /status`, st, "json", ttlByDepth(exp.height))) p.eq(`tx ${txid} /status`, st.json, confirmedStatus(exp.height));
    }
    expect(p.report()).toBe("");
  }, T);
});

describe("protocol details", () => {
  test("unknown paths, unknown ids, status routes of unknown ids, no CORS header without --cors", async () => {
    const p = new Problems();
    err(p, "/nope", await rest.get("/nope"), 404, `endpoint does not exist "/nope"`);
    err(p, "/", await rest.get("/"), 404, `endpoint does not exist "/"`);
    err(p, "/blocks/tip/hash/x", await rest.get("/blocks/tip/hash/x"), 404, `endpoint does not exist "/blocks/tip/hash/x"`);
    const unknown = "00".repeat(31) + "01";
    err(p, "unknown block", await rest.get(`/block/${unknown}`), 404, "Block not found");
    err(p, "unknown tx", await rest.get(`/tx/${unknown}`), 404, "Transaction not found");
    const bs = await rest.get(`/block/${unknown}/status`);
    if (ok(p, "unknown block /status", bs, "json", TTL_SHORT)) p.eq("unknown block /status", bs.json, { in_best_chain: false, height: null, next_best: null });
    const ts = await rest.get(`/tx/${unknown}/status`);
    if (ok(p, "unknown tx /status", ts, "json", TTL_SHORT)) p.eq("unknown tx /status", ts.text, `{"confirmed":false}`);
    const os = await rest.get(`/tx/${unknown}/outspend/0`);
    if (ok(p, "unknown tx /outspend/0", os, "json", TTL_SHORT)) p.eq("unknown tx /outspend/0", os.text, `{"spent":false}`);
    const sh = await rest.get(`/scripthash/${"ab".repeat(32)}`);
    if (ok(p, "unknown scripthash", sh, "json", TTL_SHORT)) {
      p.eq("unknown scripthash", sh.json, { chain_stats: ZERO_STATS, mempool_stats: ZERO_STATS, scripthash: "ab".repeat(32) });
    }
    // A cursor not in the script's history gives an empty page; an unparseable one is ignored.
    const s = e.scripts[0]!;
    const foreign = await rest.get(`/scripthash/${s.scripthash}/txs/chain/${e.blocks[1]!.txids[0]}`);
    if (ok(p, "foreign cursor", foreign, "json", TTL_SHORT)) p.eq("foreign cursor", foreign.json, []);
    const junk = await rest.get(`/scripthash/${s.scripthash}/txs/chain/zz`);
    if (ok(p, "junk cursor", junk, "json", TTL_SHORT)) {
      p.eq("junk cursor = first page", (junk.json as EsploraTx[]).map((t) => t.txid), newestFirst(s).slice(0, 25).map((h) => h.txid));
    }
    for (const path of ["/blocks/tip/height", "/nope", `/tx/${unknown}`, "/tx/zz"]) {
      p.eq(`${path} has no Access-Control-Allow-Origin without --cors`, (await rest.get(path)).headers.get("access-control-allow-origin"), null);
    }
    expect(p.report()).toBe("");
  }, T);

  test("--cors '*': every response, errors included, carries Access-Control-Allow-Origin", async () => {
    using tmp2 = tempDir();
    const { app: corsApp, rest: cors } = await startServer(join(tmp2.path, "db"), ["--cors", "*"]);
    try {
      const p = new Problems();
      const b = e.blocks[5]!;
      const cases: [string, string, string | undefined][] = [
        ["GET", "/blocks/tip/height", undefined],
        ["GET", `/block/${b.hash}`, undefined],
        ["GET", `/block/${b.hash}/raw`, undefined],
        ["GET", `/tx/${b.txids[0]}`, undefined],
        ["GET", "/nope", undefined],
        ["GET", "/tx/zz", undefined],
        ["GET", `/tx/${"00".repeat(32)}`, undefined],
        ["GET", "/block-height/x", undefined],
        ["POST", "/tx", "00"],
        ["POST", "/tx", "00".repeat(1_000_000)], // 413
        ["POST", "/addresses/txs", JSON.stringify(Array.from({ length: 301 }, () => "x"))], // 422
        ["POST", "/txs/test", "{"],
        ["POST", "/blocks/tip/height", "x"],
        ["OPTIONS", "/blocks/tip/height", undefined],
        ["DELETE", "/tx/zz", undefined],
      ];
      for (const [method, path, body] of cases) {
        const r = await cors.request(method, path, { body });
        p.ok(`${method} ${path} (${r.status}) not 500`, r.status !== 500);
        p.eq(`${method} ${path} (${r.status}) Access-Control-Allow-Origin`, r.headers.get("access-control-allow-origin"), "*");
      }
      expect(p.report()).toBe("");
    } finally {
      await stop(corsApp);
    }
  }, T);
});

describe("metrics", () => {
  test("/metrics carries query_duration, http_request_duration by route and status, and the mempool series", async () => {
    await rest.get("/nope");
    const text = await (await fetch(await metricsUrl(app))).text();
    for (const name of ["stats", "history", "utxo", "lookup_txn"]) expect(text).toMatch(new RegExp(`query_duration_count\\{name="${name}"\\} [1-9]`));
    expect(text).toMatch(/http_request_duration_count\{route="\/tx\/:txid",status="200"\} [1-9]/);
    expect(text).toMatch(/http_request_duration_count\{route="\/tx\/:txid",status="404"\} [1-9]/);
    expect(text).toMatch(/http_request_duration_count\{route="unmatched",status="404"\} [1-9]/);
    expect(text).toMatch(/mempool_count\{type="txs"\} 0/);
    expect(text).toMatch(/mempool_latency_count\{part="update"\} [1-9]/);
    expect(text).toContain("# TYPE mempool_delta histogram");
    // The cache of confirmed txs' JSON: the tests above asked for many txs more than once.
    const series = (re: RegExp) => Number(re.exec(text)?.[1] ?? NaN);
    expect(series(/electrs_bun_rest_tx_cache_lookups_total\{result="hit"\} (\d+)/)).toBeGreaterThan(0);
    expect(series(/electrs_bun_rest_tx_cache_lookups_total\{result="miss"\} (\d+)/)).toBeGreaterThan(0);
    const entries = series(/electrs_bun_rest_tx_cache_held\{unit="entries"\} (\d+)/);
    expect(entries).toBeGreaterThan(0);
    expect(series(/electrs_bun_rest_tx_cache_held\{unit="bytes"\} (\d+)/)).toBeGreaterThan(entries * 160);
  }, T);
});
