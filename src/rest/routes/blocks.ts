/** Block routes (spec §1.3 rows 1–11). Handlers parse their input and call the query layer. */
import { bytesToHex, hashToHex } from "../../bitcoin/bytes.ts";
import type { BlockRow } from "../../store/rows.ts";
import { blockTemplateReply } from "../block-template.ts";
import { HttpError } from "../errors.ts";
import { blockJsonText, blockStatusJson } from "../json.ts";
import { cachedTxTexts } from "../confirmed-txs.ts";
import {
  TTL_LONG,
  TTL_SHORT,
  binary,
  json,
  jsonText,
  parseHash,
  parseUsize,
  text,
  tryUsize,
  ttlByDepth,
  type RestContext,
  type RestRequest,
  type Route,
} from "../route-kit.ts";


export const blockNotFound = () => new HttpError(404, "Block not found");

function blockOf(req: RestRequest, ctx: RestContext): BlockRow {
  const block = ctx.query.blockByHash(parseHash(req.params.hash));
  if (!block) throw blockNotFound();
  return block;
}

/** The committed tip, so that the hash and height agree with every other read of the answer. */
function tip(ctx: RestContext): BlockRow {
  const b = ctx.query.tip();
  if (!b) throw blockNotFound();
  return b;
}

/** `/blocks[/:start_height]`: a start that is not a number (`/blocks/tip`, `/blocks/`) means the tip. */
function blocks(req: RestRequest, ctx: RestContext) {
  const start = tryUsize(req.params.start_height);
  const top = tip(ctx).height;
  const from = start === null ? top : start;
  if (from > top) throw blockNotFound();
  const list = ctx.query.blocksFrom(from, ctx.config.restDefaultBlockLimit);
  return jsonText(`[${list.map(blockJsonText).join(",")}]`, TTL_SHORT);
}

function blockHeight(req: RestRequest, ctx: RestContext) {
  const height = parseUsize(req.params.height);
  const block = ctx.query.blockAt(height);
  if (!block) throw blockNotFound();
  return text(hashToHex(block.hash), ttlByDepth(height, ctx.query.tipHeight()));
}

/**
 * `/block/:hash/txs[/:start_index]`, with BS-new's fixes: the hash is checked first (404), a start
 * that is not a multiple of 25 says `multiple` (BS: `multipication`), and a start past the end is
 * a 400 (BS: 404). A start that is not a number is 0, as in electrs.
 */
function blockTxs(req: RestRequest, ctx: RestContext) {
  const block = blockOf(req, ctx);
  const start = tryU32OrZero(req.params.start_index);
  const perPage = ctx.config.restDefaultChainTxsPerPage;
  if (start % perPage !== 0) throw new HttpError(400, `start index must be a multiple of ${perPage}`);
  if (start >= block.txCount) throw new HttpError(400, "start index out of range");
  return blockTxsReply(ctx, block, start, Math.min(perPage, block.txCount - start));
}

/**
 * `count` txs of `block` from `start` on, as a JSON array: each tx's JSON from the cache of
 * confirmed txs, a run of neighbours it misses read as one span (also MP's whole-block route).
 */
export function blockTxsReply(ctx: RestContext, block: BlockRow, start: number, count: number) {
  const keys = ctx.query.txidHexesOf(Array.from({ length: count }, (_, i) => block.firstTxnum + start + i));
  const texts = cachedTxTexts(ctx, keys, (from, to) => ctx.query.blockTxs(block, start + from, to - from));
  return jsonText(`[${texts.join(",")}]`, ttlByDepth(block.height, ctx.query.tipHeight()));
}

/** electrs parses the start as a u32 and falls back to 0 (`unwrap_or(0)`). */
function tryU32OrZero(value: string | undefined): number {
  const n = tryUsize(value);
  return n === null || n > 0xffff_ffff ? 0 : n;
}

export const blockRoutes: readonly Route[] = [
  { method: "GET", path: "/blocks/tip/hash", name: "/blocks/tip/hash", handler: (_, ctx) => text(hashToHex(tip(ctx).hash), TTL_SHORT) },
  { method: "GET", path: "/blocks/tip/height", name: "/blocks/tip/height", handler: (_, ctx) => text(String(tip(ctx).height), TTL_SHORT) },
  { method: "GET", path: "/blocks", name: "/blocks", handler: blocks },
  { method: "GET", path: "/blocks/:start_height", name: "/blocks/:start_height", handler: blocks },
  { method: "GET", path: "/block-height/:height", name: "/block-height/:height", handler: blockHeight },
  {
    method: "GET",
    path: "/block/:hash",
    name: "/block/:hash",
    // TTL_LONG even for recent blocks, as electrs.
    handler: (req, ctx) => jsonText(blockJsonText(ctx.query.blockView(blockOf(req, ctx))), TTL_LONG),
  },
  {
    method: "GET",
    path: "/block/:hash/status",
    name: "/block/:hash/status",
    // Never 404: unknown and stale blocks are `in_best_chain: false`.
    handler: (req, ctx) => {
      const s = ctx.query.blockStatus(parseHash(req.params.hash));
      return json(blockStatusJson(s), ttlByDepth(s.height, ctx.query.tipHeight()));
    },
  },
  {
    method: "GET",
    path: "/block/:hash/txids",
    name: "/block/:hash/txids",
    handler: (req, ctx) => json(ctx.query.blockTxids(blockOf(req, ctx)).map(hashToHex), TTL_LONG),
  },
  {
    method: "GET",
    path: "/block/:hash/header",
    name: "/block/:hash/header",
    handler: (req, ctx) => text(bytesToHex(blockOf(req, ctx).header), TTL_LONG),
  },
  {
    method: "GET",
    path: "/block/:hash/raw",
    name: "/block/:hash/raw",
    handler: (req, ctx) => binary(ctx.query.blockRaw(blockOf(req, ctx)), TTL_LONG),
  },
  {
    method: "GET",
    path: "/block/:hash/txid/:index",
    name: "/block/:hash/txid/:index",
    handler: (req, ctx) => {
      // electrs' order: the hash, then the index (400), then the block (404).
      const hash = parseHash(req.params.hash);
      const index = parseUsize(req.params.index);
      const block = ctx.query.blockByHash(hash);
      if (!block) throw blockNotFound();
      const txid = ctx.query.blockTxidAt(block, index);
      if (!txid) throw new HttpError(404, "tx index out of range");
      return text(hashToHex(txid), TTL_LONG);
    },
  },
  { method: "GET", path: "/block/:hash/txs", name: "/block/:hash/txs", handler: blockTxs },
  {
    method: "GET",
    path: "/block-template",
    name: "/block-template",
    // BS-new's, with its --enable-mining-rest (403 without it).
    handler: async (_, ctx) => {
      if (!ctx.config.enableMiningRest) throw new HttpError(403, "mining REST endpoints are disabled");
      const tip = ctx.query.tip();
      return blockTemplateReply(await ctx.blockTemplates.get(tip ? hashToHex(tip.hash) : ""));
    },
  },
  { method: "GET", path: "/block/:hash/txs/:start_index", name: "/block/:hash/txs/:start_index", handler: blockTxs },
];
