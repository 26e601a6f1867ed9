/** Mempool, fee and health routes (spec §1.3 rows 28–31, §1.4 `/health/ready`, §1.6 `/mempool/txids/page`). */
import { hashToHex } from "../../bitcoin/bytes.ts";
import { backlogJsonText, feeEstimatesJsonText, recentJson } from "../json.ts";
import {
  TTL_MEMPOOL_RECENT,
  TTL_SHORT,
  json,
  jsonText,
  tryHash,
  tryUsize,
  type RestContext,
  type RestRequest,
  type Route,
} from "../route-kit.ts";

/** MP's --rest-max-mempool-txid-page-size is the default and largest page of `/mempool/txids/page`. */
function txidsPage(req: RestRequest, ctx: RestContext) {
  const max = ctx.config.restMaxMempoolTxidPageSize;
  const limit = Math.min(tryUsize(req.query("max_txs")) ?? max, max);
  return json(ctx.query.mempoolTxidsPage(tryHash(req.params.last_seen), limit).map(hashToHex), TTL_SHORT);
}

export const mempoolRoutes: readonly Route[] = [
  {
    method: "GET",
    path: "/health/ready",
    name: "/health/ready",
    // BS-new: 503 until the mempool completed one sync (the chain is synced before we listen).
    handler: (_, ctx) => {
      const synced = ctx.query.mempoolSynced;
      return { status: synced ? 200 : 503, type: "json", body: `{"chain_synced":true,"mempool_synced":${synced}}`, cache: "no-cache" };
    },
  },
  { method: "GET", path: "/mempool", name: "/mempool", handler: (_, ctx) => jsonText(backlogJsonText(ctx.query.mempoolBacklog()), TTL_SHORT) },
  {
    method: "GET",
    path: "/mempool/txids",
    name: "/mempool/txids",
    handler: (_, ctx) => json(ctx.query.mempoolTxids().map(hashToHex), TTL_SHORT),
  },
  { method: "GET", path: "/mempool/txids/page", name: "/mempool/txids/page", handler: txidsPage },
  { method: "GET", path: "/mempool/txids/page/:last_seen", name: "/mempool/txids/page/:last_seen", handler: txidsPage },
  {
    method: "GET",
    path: "/mempool/recent",
    name: "/mempool/recent",
    handler: (_, ctx) => json(ctx.query.mempoolRecent().map(recentJson), TTL_MEMPOOL_RECENT),
  },
  {
    method: "GET",
    path: "/fee-estimates",
    name: "/fee-estimates",
    handler: async (_, ctx) => jsonText(feeEstimatesJsonText(await ctx.fees.get()), TTL_SHORT),
  },
];
