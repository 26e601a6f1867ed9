/**
 * mempool/electrs' internal routes (spec §1.6), the ones mempool.space's backend calls: whole
 * blocks and mempools of full transactions, txs and outspends by lists in a POST body. As MP: a tx
 * whose prevouts cannot be found is left out of a list, an unknown txid is left out (or answered
 * `[]` / `{"spent":false}` in the outspends lists), and the POST lists of txs are not cached
 * (max-age 0). A list in a body is bounded by the body limit (body.ts), as every POST.
 */
import { hashToHex } from "../../bitcoin/bytes.ts";
import { cachedTxTexts } from "../confirmed-txs.ts";
import { outspendJson, txListText } from "../json.ts";
import { blockNotFound, blockTxsReply } from "./blocks.ts";
import {
  json,
  jsonText,
  parseHash,
  parseStringArray,
  tryHash,
  tryUsize,
  TTL_SHORT,
  type RestContext,
  type RestRequest,
  type Route,
} from "../route-kit.ts";

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
  return jsonText(txListText(ctx.query.mempoolTxs(txids), ctx.network), TTL_SHORT);
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
      return blockTxsReply(ctx, block, 0, block.txCount);
    },
  },
  {
    method: "POST",
    path: "/internal/txs",
    name: "/internal/txs",
    // Confirmed ones through the cache of confirmed txs, before anything is read for them.
    handler: async (req, ctx) => {
      const txids = await bodyTxids(req);
      const texts = cachedTxTexts(ctx, txids.map(hashToHex), (from, to) => ctx.query.txs(txids.slice(from, to)));
      return jsonText(`[${texts.join(",")}]`, 0);
    },
  },
  {
    method: "GET",
    path: "/internal/mempool/txs/all",
    name: "/internal/mempool/txs/all",
    handler: (_, ctx) => jsonText(txListText(ctx.query.mempoolTxs(ctx.query.mempoolTxidsPage(null, Number.MAX_SAFE_INTEGER)), ctx.network), TTL_SHORT),
  },
  { method: "GET", path: "/internal/mempool/txs", name: "/internal/mempool/txs", handler: mempoolTxsPage },
  { method: "GET", path: "/internal/mempool/txs/:last_seen", name: "/internal/mempool/txs/:last_seen", handler: mempoolTxsPage },
  {
    method: "POST",
    path: "/internal/mempool/txs",
    name: "/internal/mempool/txs",
    handler: async (req, ctx) => jsonText(txListText(ctx.query.mempoolTxs(await bodyTxids(req)), ctx.network), 0),
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
