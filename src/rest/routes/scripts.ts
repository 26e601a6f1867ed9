/**
 * Address and scripthash routes (spec §1.3 rows 12–17, §1.6): every `/address/:address/…` route
 * also exists as `/scripthash/:scripthash/…`, and MP's multi-script POST routes.
 */
import { distinctBytes } from "../../query/history.ts";
import type { OutpointCursor } from "../../query/types.ts";
import { HttpError } from "../errors.ts";
import { scriptStatsJson, summaryJson, txJsonText, txListText, utxoJson } from "../json.ts";
import {
  TTL_SHORT,
  json,
  jsonText,
  parseHash,
  parseScriptKey,
  parseStringArray,
  parseU32,
  parseUsize,
  tryHash,
  tryScriptKey,
  tryUsize,
  type Handler,
  type RestContext,
  type RestRequest,
  type Route,
  type ScriptKind,
} from "../route-kit.ts";
import { macrotask, SLICE_ROWS } from "../../query/sliced-history.ts";
import { confirmedTxTexts } from "../confirmed-txs.ts";

/** electrs' ADDRESS_SEARCH_LIMIT and MP's MULTI_ADDRESS_LIMIT (the page sizes are flags: RestConfig). */
const ADDRESS_SEARCH_LIMIT = 10;
const MULTI_ADDRESS_LIMIT = 300;
/** MP refuses multi-script bodies longer than 72 bytes per allowed entry. */
const MULTI_ADDRESS_BODY_LIMIT = 72 * MULTI_ADDRESS_LIMIT;
/** Not in MP: `max_txs` is capped so that one request cannot ask for a whole big history at once. */
const MAX_TXS_CAP = 1000;
/** `/utxo?limit=` paging: default and largest page. */
const UTXO_PAGE_DEFAULT = 500;
const UTXO_PAGE_MAX = 10_000;

const PLURAL: Record<ScriptKind, string> = { address: "addresses", scripthash: "scripthashes" };

function keyOf(kind: ScriptKind, req: RestRequest, ctx: RestContext): Uint8Array {
  return parseScriptKey(kind, req.params[kind], ctx.network);
}

/** MP's `max_txs`: an unparseable value is ignored (`.parse().ok()`); capped at MAX_TXS_CAP. */
function maxTxs(req: RestRequest, cap = MAX_TXS_CAP): number | null {
  const n = tryUsize(req.query("max_txs"));
  return n === null ? null : Math.min(n, cap);
}

/**
 * `/txs`: without `max_txs`, electrs' page (50 mempool + 25 confirmed); with it, MP's page of at
 * most `max_txs` in all. `after_txid` continues after that tx (MP; unparseable: ignored).
 */
function historyReply(keys: readonly Uint8Array[], req: RestRequest, ctx: RestContext) {
  const total = maxTxs(req);
  const page = ctx.query.historyParts(keys, {
    afterTxid: tryHash(req.query("after_txid")),
    mempoolLimit: total ?? ctx.config.restDefaultMaxMempoolTxs,
    chainLimit: ctx.config.restDefaultChainTxsPerPage,
    totalLimit: total,
  });
  // The confirmed part through the cache of confirmed txs' JSON; mempool txs are rendered each time.
  const texts = [...page.mempool.map((t) => txJsonText(t, ctx.network)), ...confirmedTxTexts(ctx, page.chainTxnums)];
  return jsonText(`[${texts.join(",")}]`, TTL_SHORT);
}

async function summaryReply(keys: readonly Uint8Array[], req: RestRequest, ctx: RestContext) {
  const cap = ctx.config.restDefaultMaxAddressSummaryTxs;
  const limit = maxTxs(req, cap) ?? cap;
  // Sliced: a 300-address body reads thousands of rows (#12: other clients must not wait for it).
  const rows = await ctx.query.summary(keys, tryHash(req.params.last_seen), limit, SLICE_ROWS, macrotask);
  return json(rows.map(summaryJson), TTL_SHORT);
}

/** `?after=<txid>:<vout>`. */
function parseCursor(value: string): OutpointCursor {
  const colon = value.lastIndexOf(":");
  if (colon < 0) throw new HttpError(400, "Invalid after: expected <txid>:<vout>");
  return { txid: parseHash(value.slice(0, colon)), vout: parseU32(value.slice(colon + 1)) };
}

/**
 * `/utxo`: without paging parameters electrs' answer (all of them, refused over --utxos-limit
 * with BS-new's `Too many unspent outputs`); with `limit` and/or `after=<txid>:<vout>`, a page of
 * the same sequence, so that big addresses can be listed.
 */
function utxos(kind: ScriptKind): Handler {
  return (req, ctx) => {
    const key = keyOf(kind, req, ctx);
    const limitParam = req.query("limit");
    const afterParam = req.query("after");
    let paging: { after: OutpointCursor | null; limit: number } | null = null;
    if (limitParam !== undefined || afterParam !== undefined) {
      const limit = limitParam === undefined ? UTXO_PAGE_DEFAULT : parseUsize(limitParam);
      if (limit === 0) throw new HttpError(400, "Invalid limit");
      paging = { after: afterParam === undefined ? null : parseCursor(afterParam), limit: Math.min(limit, UTXO_PAGE_MAX) };
    }
    return json(ctx.query.utxos(key, paging, ctx.config.utxosLimit).map(utxoJson), TTL_SHORT);
  };
}

/**
 * MP's multi-script body: at most 300 entries (422 `body too long`); entries that do not parse are
 * dropped, and so are repeats (MP's summary counts a script listed twice twice: a fix).
 */
async function multiKeys(kind: ScriptKind, req: RestRequest, ctx: RestContext): Promise<Uint8Array[]> {
  const body = await req.body();
  if (body.length > MULTI_ADDRESS_BODY_LIMIT) throw new HttpError(422, "body too long");
  const entries = parseStringArray(body);
  if (entries.length > MULTI_ADDRESS_LIMIT) throw new HttpError(422, "body too long");
  const keys: Uint8Array[] = [];
  for (const e of entries) {
    const k = tryScriptKey(kind, e, ctx.network);
    if (k) keys.push(k);
  }
  return distinctBytes(keys);
}

function scriptRoutes(kind: ScriptKind): Route[] {
  const base = `/${kind}/:${kind}`;
  const multi = `/${PLURAL[kind]}`;
  const route = (method: "GET" | "POST", path: string, handler: Handler): Route => ({ method, path, name: path, handler });
  return [
    route("GET", base, (req, ctx) => json(scriptStatsJson(kind, req.params[kind] ?? "", ctx.query.scriptStats(keyOf(kind, req, ctx))), TTL_SHORT)),
    route("GET", `${base}/txs`, (req, ctx) => historyReply([keyOf(kind, req, ctx)], req, ctx)),
    ...[`${base}/txs/chain`, `${base}/txs/chain/:last_seen`].map((path) =>
      route("GET", path, (req, ctx) => {
        const key = keyOf(kind, req, ctx);
        const txnums = ctx.query.chainHistoryTxnums([key], tryHash(req.params.last_seen), maxTxs(req) ?? ctx.config.restDefaultChainTxsPerPage);
        return jsonText(`[${confirmedTxTexts(ctx, txnums).join(",")}]`, TTL_SHORT);
      }),
    ),
    route("GET", `${base}/txs/mempool`, (req, ctx) => {
      const txs = ctx.query.mempoolHistory([keyOf(kind, req, ctx)], maxTxs(req) ?? ctx.config.restDefaultMaxMempoolTxs);
      return jsonText(txListText(txs, ctx.network), TTL_SHORT);
    }),
    ...[`${base}/txs/summary`, `${base}/txs/summary/:last_seen`].map((path) =>
      route("GET", path, (req, ctx) => summaryReply([keyOf(kind, req, ctx)], req, ctx)),
    ),
    route("GET", `${base}/utxo`, utxos(kind)),
    route("POST", `${multi}/txs`, async (req, ctx) => historyReply(await multiKeys(kind, req, ctx), req, ctx)),
    ...[`${multi}/txs/summary`, `${multi}/txs/summary/:last_seen`].map((path) =>
      route("POST", path, async (req, ctx) => summaryReply(await multiKeys(kind, req, ctx), req, ctx)),
    ),
  ];
}

export const scriptRouteTable: readonly Route[] = [
  ...scriptRoutes("address"),
  ...scriptRoutes("scripthash"),
  {
    method: "GET",
    path: "/address-prefix/:prefix",
    name: "/address-prefix/:prefix",
    handler: (req, ctx) => {
      if (!ctx.config.addressSearch) throw new HttpError(400, "address search disabled");
      return json(ctx.query.addressSearch(req.params.prefix ?? "", ADDRESS_SEARCH_LIMIT), TTL_SHORT);
    },
  },
];

