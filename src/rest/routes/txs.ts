/** Transaction routes (spec §1.3 rows 18–27, §1.4 `/txs/package`, §1.6 `/txs/test`, `/txs/outspends`). */
import { bytesToHex, hashToHex } from "../../bitcoin/bytes.ts";
import { describeError } from "../../log.ts";
import type { TxStatus } from "../../query/types.ts";
import { HttpError } from "../errors.ts";
import { merkleProofJson, outspendJson, statusJson, txJsonText } from "../json.ts";
import {
  TTL_SHORT,
  binary,
  json,
  jsonText,
  parseHash,
  parseOptionalF64,
  parseStringArray,
  parseU32,
  text,
  ttlByDepth,
  utf8Text,
  type RestContext,
  type RestRequest,
  type Route,
} from "../route-kit.ts";

/** Core's MAX_PACKAGE_COUNT, the most txs `/txs/test` and `/txs/package` take. */
const MAX_PACKAGE_TXS = 25;
/** BS-new's pre-check: hex of more than 60 bytes and less than the 400 kWU standardness limit. */
const MIN_TX_HEX = 120;
const MAX_TX_HEX = 800_000;
/** MP: `/txs/outspends` takes at most 50 txids. */
const MAX_OUTSPENDS_TXIDS = 50;
const HEX = /^[0-9a-fA-F]*$/;

const depth = (s: TxStatus, ctx: RestContext) => ttlByDepth(s.confirmed ? s.height : null, ctx.query.tipHeight());
const notFound = () => new HttpError(404, "Transaction not found");
const notFoundOrUnconfirmed = () => new HttpError(404, "Transaction not found or is unconfirmed");

function rawTx(req: RestRequest, ctx: RestContext) {
  const found = ctx.query.rawTx(parseHash(req.params.txid));
  if (!found) throw notFound();
  return found;
}

/** Broadcast (electrs' broadcast_raw), then make the tx visible in our mempool before answering. */
async function broadcast(hex: string, ctx: RestContext) {
  const txid = await ctx.node.sendRawTransaction(hex);
  await added(ctx, [txid]);
  return text(txid, 0);
}

/** The node accepted these: the answer must not wait for the next mempool poll to show them. */
async function added(ctx: RestContext, txidHexes: string[]): Promise<void> {
  if (txidHexes.length === 0) return;
  try {
    await ctx.onBroadcast(txidHexes);
  } catch (err) {
    // The node has them; the next mempool update will add them.
    ctx.log.warn(`adding broadcast txs to the mempool: ${describeError(err)}`);
  }
}

/** `/txs/test` and `/txs/package` bodies: a JSON array of at most 25 tx hexes (BS-new's checks, in its order). */
async function packageBody(req: RestRequest): Promise<string[]> {
  const hexes = parseStringArray(await req.body());
  if (hexes.length > MAX_PACKAGE_TXS) throw new HttpError(400, `Exceeded maximum of ${MAX_PACKAGE_TXS} transactions`);
  return hexes;
}

function checkPackageItems(hexes: readonly string[]): void {
  hexes.forEach((hex, i) => {
    if (hex.length < MIN_TX_HEX || hex.length >= MAX_TX_HEX) throw new HttpError(400, `Invalid transaction size for item ${i}`);
    if (hex.length % 2 !== 0 || !HEX.test(hex)) throw new HttpError(400, `Invalid transaction hex for item ${i}`);
  });
}

/** The txids submitpackage accepted (`tx-results` entries without an `error`). */
function acceptedTxids(result: unknown): string[] {
  const results = (result as { "tx-results"?: unknown } | null)?.["tx-results"];
  if (typeof results !== "object" || results === null) return [];
  const out: string[] = [];
  for (const r of Object.values(results as Record<string, unknown>)) {
    const entry = r as { txid?: unknown; error?: unknown } | null;
    if (typeof entry?.txid === "string" && entry.error === undefined) out.push(entry.txid);
  }
  return out;
}

function outspendsOfList(req: RestRequest, ctx: RestContext) {
  const param = req.query("txids");
  if (param === undefined) throw new HttpError(400, "No txids specified");
  const txids = param.split(",");
  if (txids.length > MAX_OUTSPENDS_TXIDS) throw new HttpError(400, "Too many txids requested");
  const answers = txids.map(parseHash).map((txid) => (ctx.query.outspends(txid) ?? []).map(outspendJson));
  return json(answers, TTL_SHORT);
}

export const txRoutes: readonly Route[] = [
  {
    method: "GET",
    path: "/tx/:txid",
    name: "/tx/:txid",
    handler: (req, ctx) => {
      const txid = parseHash(req.params.txid);
      const key = hashToHex(txid);
      const cached = ctx.txCache.get(key);
      if (cached) return jsonText(cached.text, ttlByDepth(cached.height, ctx.query.tipHeight()));
      const tx = ctx.query.tx(txid);
      if (!tx) throw notFound();
      const text = txJsonText(tx, ctx.network);
      if (tx.status.confirmed) ctx.txCache.set(key, text, tx.status.height);
      return jsonText(text, depth(tx.status, ctx));
    },
  },
  {
    method: "GET",
    path: "/tx/:txid/hex",
    name: "/tx/:txid/hex",
    handler: (req, ctx) => {
      const t = rawTx(req, ctx);
      return text(bytesToHex(t.raw), depth(t.status, ctx));
    },
  },
  {
    method: "GET",
    path: "/tx/:txid/raw",
    name: "/tx/:txid/raw",
    handler: (req, ctx) => {
      const t = rawTx(req, ctx);
      return binary(t.raw, depth(t.status, ctx));
    },
  },
  {
    method: "GET",
    path: "/tx/:txid/status",
    name: "/tx/:txid/status",
    // Unknown txids are `{"confirmed":false}` with 200, as electrs (it looks at the chain only).
    handler: (req, ctx) => {
      const s = ctx.query.txStatus(parseHash(req.params.txid));
      return json(statusJson(s), depth(s, ctx));
    },
  },
  {
    method: "GET",
    path: "/tx/:txid/merkle-proof",
    name: "/tx/:txid/merkle-proof",
    handler: (req, ctx) => {
      const p = ctx.query.merkleProof(parseHash(req.params.txid));
      if (!p) throw notFoundOrUnconfirmed();
      return json(merkleProofJson(p), ttlByDepth(p.height, ctx.query.tipHeight()));
    },
  },
  {
    method: "GET",
    path: "/tx/:txid/merkleblock-proof",
    name: "/tx/:txid/merkleblock-proof",
    handler: (req, ctx) => {
      const p = ctx.query.merkleBlockProof(parseHash(req.params.txid));
      if (!p) throw notFoundOrUnconfirmed();
      return text(bytesToHex(p.proof), ttlByDepth(p.height, ctx.query.tipHeight()));
    },
  },
  {
    method: "GET",
    path: "/tx/:txid/outspend/:vout",
    name: "/tx/:txid/outspend/:vout",
    // Unknown txs and outputs are `{"spent":false}`; the TTL follows the spending tx's depth.
    handler: (req, ctx) => {
      const txid = parseHash(req.params.txid);
      const o = ctx.query.outspend(txid, parseU32(req.params.vout));
      return json(outspendJson(o), o.spent ? depth(o.status, ctx) : TTL_SHORT);
    },
  },
  {
    method: "GET",
    path: "/tx/:txid/outspends",
    name: "/tx/:txid/outspends",
    handler: (req, ctx) => {
      const list = ctx.query.outspends(parseHash(req.params.txid));
      if (!list) throw notFound();
      return json(list.map(outspendJson), TTL_SHORT);
    },
  },
  { method: "GET", path: "/txs/outspends", name: "/txs/outspends", handler: outspendsOfList },
  {
    method: "POST",
    path: "/tx",
    name: "/tx",
    // Fix over electrs: surrounding whitespace (a trailing newline from `curl -d @file`) is ignored.
    handler: async (req, ctx) => broadcast(utf8Text(await req.body()).trim(), ctx),
  },
  {
    method: "GET",
    path: "/broadcast",
    name: "/broadcast",
    handler: async (req, ctx) => {
      const hex = req.query("tx");
      if (hex === undefined) throw new HttpError(400, "Missing tx");
      return broadcast(hex.trim(), ctx);
    },
  },
  {
    method: "POST",
    path: "/txs/test",
    name: "/txs/test",
    handler: async (req, ctx) => {
      const hexes = await packageBody(req);
      const maxFeeRate = parseOptionalF64(req.query("maxfeerate"), "maxfeerate");
      checkPackageItems(hexes);
      return json(await ctx.node.testMempoolAccept(hexes, maxFeeRate), TTL_SHORT);
    },
  },
  {
    method: "POST",
    path: "/txs/package",
    name: "/txs/package",
    handler: async (req, ctx) => {
      const hexes = await packageBody(req);
      const maxFeeRate = parseOptionalF64(req.query("maxfeerate"), "maxfeerate");
      const maxBurnAmount = parseOptionalF64(req.query("maxburnamount"), "maxburnamount");
      checkPackageItems(hexes);
      const result = await ctx.node.submitPackage(hexes, maxFeeRate, maxBurnAmount);
      await added(ctx, acceptedTxids(result));
      return json(result, TTL_SHORT);
    },
  },
];
