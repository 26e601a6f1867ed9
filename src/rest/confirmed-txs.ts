/**
 * The JSON of confirmed txs, through the cache of rendered ones (tx-json-cache.ts): what the cache
 * holds is taken from it, each run of neighbours it misses is rendered in one go (prevouts and
 * all) and stored. Used by the pages of a block and of a script's history.
 */
import { hashToHex } from "../bitcoin/bytes.ts";
import type { TxView } from "../query/types.ts";
import { txJsonText } from "./json.ts";
import type { RestContext } from "./route-kit.ts";

/**
 * The JSON of the txs whose txids are `keys` (display hex), in their order. `render(from, to)`
 * gives the txs of `keys[from]` … `keys[to - 1]`, in order; one it leaves out (no longer in the
 * chain) is left out of the answer too. Only confirmed ones are stored.
 */
export function cachedTxTexts(ctx: RestContext, keys: readonly string[], render: (from: number, to: number) => readonly TxView[]): string[] {
  const texts = keys.map((k) => ctx.txCache.get(k)?.text);
  for (let i = 0; i < keys.length; ) {
    if (texts[i] !== undefined) {
      i++;
      continue;
    }
    let end = i;
    while (end < keys.length && texts[end] === undefined) end++;
    const views = new Map(render(i, end).map((v) => [hashToHex(v.tx.txid), v]));
    for (let j = i; j < end; j++) {
      const v = views.get(keys[j]!);
      if (!v) continue;
      const text = txJsonText(v, ctx.network);
      if (v.status.confirmed) ctx.txCache.set(keys[j]!, text, v.status.height);
      texts[j] = text;
    }
    i = end;
  }
  return texts.filter((t) => t !== undefined);
}

/** cachedTxTexts of confirmed txs by tx number (a script's history). */
export function confirmedTxTexts(ctx: RestContext, txnums: readonly number[]): string[] {
  return cachedTxTexts(ctx, ctx.query.txidHexesOf(txnums), (from, to) => ctx.query.chainTxsByNum(txnums.slice(from, to)));
}
