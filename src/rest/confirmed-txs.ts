/**
 * The JSON of confirmed txs by tx number, through the cache of rendered ones (tx-json-cache.ts):
 * what the cache holds is taken from it, the rest is rendered (prevouts and all) and stored. Used
 * by the pages of a script's history; a block's pages read their txs as one span (routes/blocks.ts).
 */
import { hashToHex } from "../bitcoin/bytes.ts";
import { txJson } from "./json.ts";
import type { RestContext } from "./route-kit.ts";

/** In the order of `txnums`; a tx that is not in the chain (any more) is left out, as the uncached page did. */
export function confirmedTxTexts(ctx: RestContext, txnums: readonly number[]): string[] {
  const keys = ctx.query.txidHexesOf(txnums);
  const texts = keys.map((k) => ctx.txCache.get(k)?.text);
  const missing = txnums.filter((_, i) => texts[i] === undefined);
  if (missing.length > 0) {
    const views = new Map(ctx.query.chainTxsByNum(missing).map((v) => [hashToHex(v.tx.txid), v]));
    keys.forEach((k, i) => {
      const v = texts[i] === undefined ? views.get(k) : undefined;
      if (!v?.status.confirmed) return;
      const text = JSON.stringify(txJson(v, ctx.network));
      ctx.txCache.set(k, text, v.status.height);
      texts[i] = text;
    });
  }
  return texts.filter((t) => t !== undefined);
}
