/**
 * mempool/electrs' internal routes (spec §1.6), the ones mempool.space's backend calls: whole
 * blocks and mempools of full transactions, txs and outspends by lists in a POST body. As MP: a tx
 * whose prevouts cannot be found is left out of a list, an unknown txid is left out (or answered
 * `[]` / `{"spent":false}` in the outspends lists), and the POST lists of txs are not cached
 * (max-age 0). A list in a body is bounded by the body limit (body.ts), as every POST.
 */
import { hashToHex } from "../../bitcoin/bytes.ts";
import type { TxView } from "../../query/types.ts";
import { cachedTxTexts } from "../confirmed-txs.ts";
import { outspendJson, txJsonText } from "../json.ts";
import { blockNotFound } from "./blocks.ts";
import {
  json,
  jsonText,
  parseHash,
  parseStringArray,
  tryHash,
  tryUsize,
  ttlByDepth,
  TTL_SHORT,
  type RestContext,
  type RestRequest,
  type Route,
} from "../route-kit.ts";

/** The JSON array of txs: a confirmed one's text through the cache of confirmed txs (it is kept there too). */
function txsText(ctx: RestContext, views: readonly TxView[]): string {
  const texts = views.map((v) => {
    if (!v.status.confirmed) return txJsonText(v, ctx.network);
    const key = hashToHex(v.tx.txid);
    const cached = ctx.txCache.get(key);
    if (cached) return cached.text;
    const text = txJsonText(v, ctx.network);
    ctx.txCache.set(key, text, v.status.height);
    return text;
  });
  return `[${texts.join(",")}]`;
}

/** A body's txids: any one that is not a txid makes the whole request a 400 (MP). */
async function bodyTxids(req: RestRequest): Promise<Uint8Array[]> {
  return parseStringArray(await req.body()).map((s) => parseHash(s));
}

/** `txid:vout` as MP parses it, or null (then `{"spent":false}`). */
function parseOutpoint(s: string): { txid: Uint8Array; vout: number } | null {
  const [hash, index] = s.split(":");
  const txid = tryHash(hash);
  if (txid === null || index === undefined || !/^\d+$/.test(index)) return null;
  const vout = Number(index);
  return vout <= 0xffff_ffff ? { txid, vout } : null;
}

/** A POST body's list of strings, each answered by `answer`, as one JSON array. */
function eachOfBody(answer: (s: string, ctx: RestContext) => unknown) {
  return async (req: RestRequest, ctx: RestContext) => json(parseStringArray(await req.body()).map((s) => answer(s, ctx)), TTL_SHORT);
}

/** The mempool's txs after `last_seen` (txid byte order, as `/mempool/txids/page`), `max_txs` of them. */
function mempoolTxsPage(req: RestRequest, ctx: RestContext) {
  const limit = tryUsize(req.query("max_txs")) ?? ctx.config.restMaxMempoolPageSize;
  const txids = ctx.query.mempoolTxidsPage(tryHash(req.params.last_seen), limit);
  return jsonText(txsText(ctx, ctx.query.mempoolTxs(txids)), TTL_SHORT);
}

export const internalRoutes: readonly Route[] = [
  {
    method: "GET",
    path: "/internal/block/:hash/txs",
    name: "/internal/block/:hash/txs",
    // Every tx of the block, unpaged (mempool.space reads whole blocks this way).
    handler: (req, ctx) => {
      const block = ctx.query.blockByHash(parseHash(req.params.hash));
      if (!block) throw blockNotFound();
      const keys = ctx.query.txidHexesOf(Array.from({ length: block.txCount }, (_, i) => block.firstTxnum + i));
      const texts = cachedTxTexts(ctx, keys, (from, to) => ctx.query.blockTxs(block, from, to - from));
      return jsonText(`[${texts.join(",")}]`, ttlByDepth(block.height, ctx.query.tipHeight()));
    },
  },
  {
    method: "POST",
    path: "/internal/txs",
    name: "/internal/txs",
    handler: async (req, ctx) => jsonText(txsText(ctx, ctx.query.txs(await bodyTxids(req))), 0),
  },
  {
    method: "GET",
    path: "/internal/mempool/txs/all",
    name: "/internal/mempool/txs/all",
    handler: (_, ctx) => jsonText(txsText(ctx, ctx.query.mempoolTxs(ctx.query.mempoolTxidsPage(null, Number.MAX_SAFE_INTEGER))), TTL_SHORT),
  },
  { method: "GET", path: "/internal/mempool/txs", name: "/internal/mempool/txs", handler: mempoolTxsPage },
  { method: "GET", path: "/internal/mempool/txs/:last_seen", name: "/internal/mempool/txs/:last_seen", handler: mempoolTxsPage },
  {
    method: "POST",
    path: "/internal/mempool/txs",
    name: "/internal/mempool/txs",
    handler: async (req, ctx) => jsonText(txsText(ctx, ctx.query.mempoolTxs(await bodyTxids(req))), 0),
  },
  {
    method: "POST",
    path: "/internal/txs/outspends/by-txid",
    name: "/internal/txs/outspends/by-txid",
    // A string that is not a txid, or an unknown tx, is `[]` (MP).
    handler: eachOfBody((s, ctx) => {
      const txid = tryHash(s);
      return txid === null ? [] : (ctx.query.outspends(txid) ?? []).map(outspendJson);
    }),
  },
  {
    method: "POST",
    path: "/internal/txs/outspends/by-outpoint",
    name: "/internal/txs/outspends/by-outpoint",
    handler: eachOfBody((s, ctx) => {
      const o = parseOutpoint(s);
      return o === null ? { spent: false } : outspendJson(ctx.query.outspend(o.txid, o.vout));
    }),
  },
];
