/**
 * The Electrum method table (peers-and-protocol.md §1.8, §1.9), as data: name → the versions it
 * exists in, its parameter names (for by-name calls) and its handler. Handlers parse their
 * arguments with params.ts and call the query layer; they never build envelopes or error codes.
 */
import { hashToHex } from "../bitcoin/bytes.ts";
import type { NetworkParams } from "../bitcoin/network.ts";
import type { Logger } from "../log.ts";
import type { MempoolView } from "../mempool/types.ts";
import type { ChainQuery } from "../query/chain-query.ts";
import { mempoolEntries } from "../query/electrum-history.ts";
import { electrumBalanceSliced, electrumHistoryBytesSliced, jsonSegment, jsonSegmentsSliced, macrotask, SLICE_ROWS, type HistoryBytes, type JsonSegment } from "../query/sliced-history.ts";
import { HISTORY_ENTRY_JSON } from "../query/history-bytes.ts";
import type { StoreReader } from "../store/read.ts";
import type { HeaderMerkleCache } from "./header-merkle.ts";
import { blockHeader, blockHeaders, type HeaderChunkCache } from "./headers.ts";
import { JsonBytes, RPC_CODES, RpcError } from "./jsonrpc.ts";
import type { ElectrumNode } from "./node.ts";
import { bool, nonNegativeInt, rawTxHex, required, scriptHash, str, type Version } from "./params.ts";
import { negotiate, SERVER_VERSION } from "./negotiate.ts";
import type { Session, Subscriptions } from "./subscriptions.ts";
import { transactionGet, transactionGetMerkle, transactionIdFromPos } from "./transactions.ts";


export interface ElectrumConfig {
  /** --electrum-txs-limit (0 = no limit). */
  readonly txsLimit: number;
  /** --utxos-limit. */
  readonly utxosLimit: number;
  readonly banner: string;
  /** server.features `hosts`. */
  readonly hosts: Readonly<Record<string, { tcp_port: number | null; ssl_port: number | null }>>;
}

/** Everything a handler may use, shared by all connections. */
export interface ServerContext {
  readonly query: ChainQuery;
  /** Largest reply (--electrum-max-response-bytes): a history that cannot fit is refused before it is read. */
  readonly maxResponseBytes: number;
  /** cp_height proofs, shared by every connection. */
  readonly headerMerkle: HeaderMerkleCache;
  /** Serialized `blockchain.block.headers` answers of the current tip. */
  readonly headerChunks: HeaderChunkCache;
  readonly reader: StoreReader;
  readonly mempool: MempoolView;
  readonly node: ElectrumNode;
  readonly network: NetworkParams;
  readonly subs: Subscriptions;
  readonly config: ElectrumConfig;
  readonly onBroadcast: (txidHexes: string[]) => Promise<unknown>;
  readonly log: Logger;
}

export interface Call {
  readonly ctx: ServerContext;
  readonly session: Session;
  readonly args: readonly unknown[];
}

export interface MethodSpec {
  /** First protocol version with the method. */
  readonly since: Version;
  /** Parameter names in positional order (JSON-RPC by-name calls). */
  readonly params: readonly string[];
  readonly run: (c: Call) => unknown;
  /**
   * Only reads the index (no subscription, broadcast or session change): in a serve worker it is
   * read again when the main thread's commit overlapped it (dispatch.ts, chain-query.ts ReadGuard).
   */
  readonly reads?: boolean;
}

const V1_4: Version = [1, 4];
const V1_6: Version = [1, 6];

const ESTIMATE_MODES = new Set(["CONSERVATIVE", "ECONOMICAL", "UNSET"]);

function m(since: Version, params: readonly string[], run: (c: Call) => unknown, opts: { reads?: boolean } = {}): MethodSpec {
  return { since, params, run, ...opts };
}

/** A method that only reads the index (MethodSpec.reads). */
const reads = { reads: true };

export const METHODS: ReadonlyMap<string, MethodSpec> = new Map<string, MethodSpec>([
  // ---- server ----
  ["server.version", m(V1_4, ["client_name", "protocol_version"], (c) => negotiate(c.session, c.args))],
  ["server.ping", m(V1_4, [], () => null)],
  ["server.banner", m(V1_4, [], (c) => c.ctx.config.banner)],
  ["server.donation_address", m(V1_4, [], () => "")],
  ["server.peers.subscribe", m(V1_4, [], () => [])],
  // Peer discovery is not implemented: peers are never accepted.
  ["server.add_peer", m(V1_4, ["features"], () => false)],
  [
    "server.features",
    m(V1_4, [], (c) => ({
      hosts: c.ctx.config.hosts,
      genesis_hash: c.ctx.network.genesisHashHex,
      hash_function: "sha256",
      server_version: SERVER_VERSION,
      protocol_min: "1.4",
      protocol_max: "1.6",
      pruning: null,
    })),
  ],
  // ---- headers ----
  ["blockchain.headers.subscribe", m(V1_4, [], (c) => c.ctx.subs.subscribeHeaders(c.session))],
  ["blockchain.block.header", m(V1_4, ["height", "cp_height"], (c) => blockHeader(c.ctx.reader, c.ctx.headerMerkle, c.args), reads)],
  ["blockchain.block.headers", m(V1_4, ["start_height", "count", "cp_height"], (c) => blockHeaders(c.ctx.reader, c.ctx.headerMerkle, c.args, c.session.version, c.ctx.headerChunks), reads)],
  // ---- fees ----
  ["blockchain.estimatefee", m(V1_4, ["number", "mode"], estimateFee)],
  // Kept at every version (removed from 1.6 by the spec; clients that still call it get an answer).
  ["blockchain.relayfee", m(V1_4, [], (c) => c.ctx.node.relayFee())],
  ["mempool.get_fee_histogram", m(V1_4, [], (c) => c.ctx.mempool.feeHistogram().filter(([, vsize]) => vsize > 0))],
  ["mempool.get_info", m(V1_6, [], (c) => c.ctx.node.mempoolInfo())],
  // ---- scripthash ----
  [
    "blockchain.scripthash.get_balance",
    m(V1_4, ["scripthash"], async (c) => {
      // A script with many UTXOs is summed a slice at a time, yielding to the other clients in between.
      const b = await electrumBalanceSliced(c.ctx.reader, c.ctx.mempool, scriptHash(required(c.args, 0, "scripthash")).key);
      return { confirmed: b.confirmedSat, unconfirmed: b.unconfirmedSat };
    }, reads),
  ],
  [
    "blockchain.scripthash.get_history",
    m(V1_4, ["scripthash"], async (c) => {
      const key = scriptHash(required(c.args, 0, "scripthash")).key;
      // A big history is read and written a slice at a time, yielding to the other clients in between.
      const h = await electrumHistoryBytesSliced(c.ctx.reader, c.ctx.mempool, key, c.ctx.config.txsLimit, c.ctx.maxResponseBytes, HISTORY_ENTRY_JSON);
      return historyResult(h);
    }, reads),
  ],
  [
    "blockchain.scripthash.get_mempool",
    m(V1_4, ["scripthash"], async (c) => {
      const entries = mempoolEntries(c.ctx.mempool, scriptHash(required(c.args, 0, "scripthash")).key);
      const limit = c.ctx.config.txsLimit;
      if (limit > 0 && entries.length > limit) {
        throw new RpcError(RPC_CODES.HISTORY_TOO_LARGE, `history too large: more than ${limit} transactions (--electrum-txs-limit)`);
      }
      return arrayResult(jsonSegment(entries, mempoolEntryJson));
    }),
  ],
  [
    "blockchain.scripthash.listunspent",
    m(V1_4, ["scripthash"], async (c) => {
      const key = scriptHash(required(c.args, 0, "scripthash")).key;
      const utxos = await c.ctx.query.utxosSliced(key, c.ctx.config.utxosLimit, SLICE_ROWS, macrotask);
      return arrayResult(
        jsonSegment(utxos, (u) => `{"tx_hash":"${hashToHex(u.txid)}","tx_pos":${u.vout},"height":${u.status.confirmed ? u.status.height : 0},"value":${u.valueSat}}`),
      );
    }, reads),
  ],
  ["blockchain.scripthash.subscribe", m(V1_4, ["scripthash"], (c) => c.ctx.subs.subscribeScript(c.session, scriptHash(required(c.args, 0, "scripthash"))))],
  // 1.4.2 in the spec; offered from 1.4 as electrs does.
  ["blockchain.scripthash.unsubscribe", m(V1_4, ["scripthash"], (c) => c.ctx.subs.unsubscribeScript(c.session, scriptHash(required(c.args, 0, "scripthash"))))],
  // ---- transactions ----
  ["blockchain.transaction.broadcast", m(V1_4, ["raw_tx"], broadcast)],
  ["blockchain.transaction.broadcast_package", m(V1_6, ["raw_txs", "verbose"], broadcastPackage)],
  ["blockchain.transaction.get", m(V1_4, ["tx_hash", "verbose"], (c) => transactionGet(c.ctx, c.args), reads)],
  ["blockchain.transaction.get_merkle", m(V1_4, ["tx_hash", "height"], (c) => transactionGetMerkle(c.ctx, c.args), reads)],
  ["blockchain.transaction.id_from_pos", m(V1_4, ["height", "tx_pos", "merkle"], (c) => transactionIdFromPos(c.ctx, c.args), reads)],
]);

/**
 * An array result: the segments' elements one after the other, each written by its template, not
 * JSON.stringify of an object each (the same text: hex strings and integers need no escaping; all
 * ASCII). A big one is written a slice at a time (sliced-history.ts): writing 106k history entries
 * in one step held the loop ~10 ms, the other clients' p99.
 */
async function arrayResult(...segments: JsonSegment<never>[]): Promise<JsonBytes> {
  let n = 0;
  for (const s of segments) n += s.items.length;
  if (n <= SLICE_ROWS) return JsonBytes.of(`[${segments.flatMap((s) => s.items.map((x) => s.toJson(x))).join(",")}]`);
  return new JsonBytes(await jsonSegmentsSliced(segments, macrotask, SLICE_ROWS, true));
}

const ARRAY_START = Buffer.from("[");
const ARRAY_END = Buffer.from("]");

/**
 * get_history's array: the confirmed entries' parts as written (history-bytes.ts), then the
 * mempool's by template. An answer of one slice is one buffer.
 */
function historyResult(h: HistoryBytes): JsonBytes {
  const pool = h.mempool.length === 0 ? "" : (h.confirmedCount > 0 ? "," : "") + h.mempool.map(mempoolEntryJson).join(",");
  const parts = [ARRAY_START, ...h.confirmed, Buffer.from(pool, "latin1"), ARRAY_END];
  return new JsonBytes(h.confirmed.length <= 1 ? [Buffer.concat(parts)] : parts);
}

/** A mempool entry of a history (`fee` in sat, 0 when unknown), by template. */
function mempoolEntryJson(e: { txidHex: string; height: number; feeSat?: number }): string {
  return `{"tx_hash":"${e.txidHex}","height":${e.height},"fee":${e.feeSat ?? 0}}`;
}

async function estimateFee(c: Call): Promise<number> {
  const target = nonNegativeInt(required(c.args, 0, "number"), "number");
  const rawMode = c.args[1];
  let mode: string | null = null;
  if (rawMode !== undefined && rawMode !== null) {
    mode = str(rawMode, "mode").toUpperCase();
    if (!ESTIMATE_MODES.has(mode)) throw new RpcError(RPC_CODES.BAD_REQUEST, `unknown estimatefee mode: ${JSON.stringify(rawMode)}`);
  }
  // -1 when the node cannot estimate (§1.3), also when it answers an error (bcoin past 15 blocks,
  // Core past 1008) or is unreachable: Electrum disconnects on any error here and reconnects in a loop.
  try {
    const rate = await c.ctx.node.estimateSmartFee(Math.max(1, target), mode);
    return rate ?? -1;
  } catch (err) {
    c.ctx.log.debug(`estimatefee ${target}: ${(err as Error).message}; answering -1`);
    return -1;
  }
}

async function broadcast(c: Call): Promise<string> {
  const hex = rawTxHex(required(c.args, 0, "raw_tx"));
  const txid = await c.ctx.node.sendRawTransaction(hex);
  await notifyBroadcast(c.ctx, [txid]);
  return txid;
}

async function broadcastPackage(c: Call): Promise<unknown> {
  const list = required(c.args, 0, "raw_txs");
  if (!Array.isArray(list) || list.length === 0) throw new RpcError(RPC_CODES.INVALID_PARAMS, "invalid params: raw_txs must be a non-empty array of hex strings");
  const hexes = list.map((h: unknown, i) => rawTxHex(h, `raw_txs[${i}]`));
  const verbose = bool(c.args[1], "verbose", false);
  const res = await c.ctx.node.submitPackage(hexes);
  const results = (res as { ["tx-results"]?: Record<string, { txid?: unknown; error?: unknown }> } | null)?.["tx-results"] ?? {};
  const accepted: string[] = [];
  const errors: { txid: string; error: string }[] = [];
  for (const r of Object.values(results)) {
    if (typeof r?.txid !== "string") continue;
    if (r.error !== undefined && r.error !== null) errors.push({ txid: r.txid, error: String(r.error) });
    else accepted.push(r.txid);
  }
  if (accepted.length > 0) await notifyBroadcast(c.ctx, accepted);
  if (verbose) return res;
  const success = (res as { package_msg?: unknown } | null)?.package_msg === "success";
  return success && errors.length === 0 ? { success: true } : { success: false, errors };
}

async function notifyBroadcast(ctx: ServerContext, txids: string[]): Promise<void> {
  try {
    await ctx.onBroadcast(txids);
  } catch (err) {
    // The node accepted it: the answer stands; the mempool picks the tx up on its next update.
    ctx.log.warn(`after broadcast of ${txids.join(",")}: ${(err as Error).message}`);
  }
}

