/**
 * Esplora's JSON shapes (spec §1.2). Key order is part of the contract: objects that electrs
 * derives from structs keep declaration order, and are built here with literal keys in that order
 * (optional keys are appended in place or left out, never set to undefined); objects electrs
 * builds with `json!{}` (address stats wrapper, merkle-proof) have their keys sorted.
 *
 * Shapes holding an f64 (block difficulty, fee histogram, fee estimates) are written as text,
 * because serde prints floats unlike JavaScript (`1.0`, not `1`; `1e-6`, not `0.000001`).
 */
import type { TxIn, TxOut } from "../bitcoin/block.ts";
import { addressOf } from "../bitcoin/address.ts";
import { bytesEqual, bytesToHex, hashHexAt, hashToHex } from "../bitcoin/bytes.ts";
import type { NetworkParams } from "../bitcoin/network.ts";
import { innerRedeemScript, innerWitnessScript, scriptAsm, scriptType } from "../bitcoin/script.ts";
import type { BacklogStats, TxOverview } from "../mempool/types.ts";
import type {
  BlockStatusView,
  BlockView,
  MerkleProofView,
  OutspendView,
  ScriptStatsView,
  TxStatus,
  TxSummaryView,
  TxView,
  UtxoView,
} from "../query/types.ts";
import type { ScriptStats } from "../store/read.ts";

type Json = Record<string, unknown>;

export function statusJson(s: TxStatus): Json {
  if (!s.confirmed) return { confirmed: false };
  return { confirmed: true, block_height: s.height, block_hash: hashToHex(s.blockHash), block_time: s.blockTime };
}

/*
 * A tx's JSON is the bulk of /tx and of every page of txs, so it is written as text directly, in
 * the key order of the object shapes above (electrs' `TransactionValue`, `TxInValue`,
 * `TxOutValue`): JSON.stringify of an object built for it cost ~3.7 µs of a rendered tx's ~10 µs
 * of JSON (2026-12-07, 2 vCPU Xeon). Every string in it is hex, an address, a script type or asm
 * (opcode names, hex, "<unexpected end>", "<push past end>"), none of which JSON escapes; numbers
 * are integers below 2^53, which JSON.stringify prints as template literals do. Pinned against
 * JSON.stringify of the same fields built as objects (test/unit/rest/json.test.ts) and by the
 * fixture tests, byte for byte.
 */

/** The last status written: the txs of a page are mostly of one block (compared by value, never by identity). */
let lastStatus: { height: number; blockHash: Uint8Array; blockTime: number; text: string } | null = null;

function statusText(s: TxStatus): string {
  if (!s.confirmed) return `{"confirmed":false}`;
  const last = lastStatus;
  if (last !== null && last.height === s.height && last.blockTime === s.blockTime && bytesEqual(last.blockHash, s.blockHash)) return last.text;
  const text = `{"confirmed":true,"block_height":${s.height},"block_hash":"${hashHexAt(s.blockHash, 0)}","block_time":${s.blockTime}}`;
  lastStatus = { height: s.height, blockHash: s.blockHash.slice(), blockTime: s.blockTime, text };
  return text;
}

function voutText(out: TxOut, net: NetworkParams): string {
  const address = addressOf(out.script, net);
  const hex = bytesToHex(out.script);
  return (
    `{"scriptpubkey":"${hex}","scriptpubkey_asm":"${scriptAsm(out.script, hex)}","scriptpubkey_type":"${scriptType(out.script)}",` +
    (address !== null ? `"scriptpubkey_address":"${address}",` : "") +
    `"value":${out.valueSat}}`
  );
}

function vinText(input: TxIn, prevout: TxOut | null, isCoinbase: boolean, net: NetworkParams): string {
  const sigHex = bytesToHex(input.scriptSig);
  let o =
    `{"txid":"${hashHexAt(input.prevTxid, 0)}","vout":${input.prevVout},"prevout":${prevout ? voutText(prevout, net) : "null"},` +
    `"scriptsig":"${sigHex}","scriptsig_asm":"${scriptAsm(input.scriptSig, sigHex)}",`;
  const witness = input.witness;
  // The last item's hex, for the witness script's asm (innerWitnessScript gives that item, when any).
  let lastItemHex: string | null = null;
  if (witness.length > 0) {
    o += `"witness":["`;
    for (let i = 0; i < witness.length; i++) {
      lastItemHex = bytesToHex(witness[i]!);
      o += (i > 0 ? `","` : "") + lastItemHex;
    }
    o += `"],`;
  }
  o += `"is_coinbase":${isCoinbase},"sequence":${input.sequence}`;
  if (prevout) {
    const redeem = innerRedeemScript(input.scriptSig, prevout.script);
    if (redeem !== null) o += `,"inner_redeemscript_asm":"${scriptAsm(redeem)}"`;
    const witnessScript = innerWitnessScript(input.witness, prevout.script, redeem);
    if (witnessScript !== null) o += `,"inner_witnessscript_asm":"${scriptAsm(witnessScript, witnessScript === witness[witness.length - 1] ? lastItemHex : null)}"`;
  }
  return o + "}";
}

/** Txs rendered every time (mempool txs: the cache of confirmed ones does not hold them), as a JSON array. */
export function txListText(views: readonly TxView[], net: NetworkParams): string {
  return `[${views.map((v) => txJsonText(v, net)).join(",")}]`;
}

/** A tx as Esplora's JSON text (`/tx/:txid`, and each tx of a page). */
export function txJsonText(v: TxView, net: NetworkParams): string {
  const tx = v.tx;
  let vin = "";
  for (let i = 0; i < tx.inputs.length; i++) vin += (i > 0 ? "," : "") + vinText(tx.inputs[i]!, v.prevouts[i] ?? null, tx.isCoinbase, net);
  let vout = "";
  for (let i = 0; i < tx.outputs.length; i++) vout += (i > 0 ? "," : "") + voutText(tx.outputs[i]!, net);
  return (
    `{"txid":"${hashHexAt(tx.txid, 0)}","version":${tx.version >>> 0},"locktime":${tx.lockTime},"vin":[${vin}],"vout":[${vout}],` +
    `"size":${tx.size},"weight":${tx.weight},"fee":${v.feeSat},"status":${statusText(v.status)}}`
  );
}

/**
 * serde_json's f64 text (the ryu crate's layout over the shortest round-trip digits, which
 * JavaScript computes too): integers keep `.0`, plain notation for decimal exponents -5..15,
 * scientific (`1e16`, `1.5e-7`) outside.
 */
export function formatF64(x: number): string {
  if (!Number.isFinite(x)) return "null";
  if (x === 0) return Object.is(x, -0) ? "-0.0" : "0.0";
  const sign = x < 0 ? "-" : "";
  const [mantissa, exp] = Math.abs(x).toExponential().split("e") as [string, string];
  const digits = mantissa.replace(".", "");
  const kk = Number(exp) + 1; // position of the decimal point relative to the digits
  const n = digits.length;
  if (kk >= n && kk <= 16) return `${sign}${digits}${"0".repeat(kk - n)}.0`;
  if (kk > 0 && kk <= 16) return `${sign}${digits.slice(0, kk)}.${digits.slice(kk)}`;
  if (kk > -5 && kk <= 0) return `${sign}0.${"0".repeat(-kk)}${digits}`;
  const e = kk - 1;
  return `${sign}${digits[0]}${n > 1 ? "." + digits.slice(1) : ""}e${e}`;
}

/** Block JSON as text (it holds the f64 difficulty). */
export function blockJsonText(b: BlockView): string {
  const h = b.header;
  const prev = b.row.height === 0 ? "null" : `"${hashToHex(h.prevHash)}"`;
  return (
    `{"id":"${hashToHex(b.row.hash)}","height":${b.row.height},"version":${h.version >>> 0},"timestamp":${h.time},` +
    `"tx_count":${b.row.txCount},"size":${b.row.size},"weight":${b.row.weight},"merkle_root":"${hashToHex(h.merkleRoot)}",` +
    `"previousblockhash":${prev},"mediantime":${b.mediantime},"nonce":${h.nonce},"bits":${h.bits},"difficulty":${formatF64(b.difficulty)}}`
  );
}

export function blockStatusJson(s: BlockStatusView): Json {
  return { in_best_chain: s.inBestChain, height: s.height, next_best: s.nextBest ? hashToHex(s.nextBest) : null };
}

export function outspendJson(o: OutspendView): Json {
  if (!o.spent) return { spent: false };
  return { spent: true, txid: hashToHex(o.txid), vin: o.vin, status: statusJson(o.status) };
}

export function utxoJson(u: UtxoView): Json {
  return { txid: hashToHex(u.txid), vout: u.vout, status: statusJson(u.status), value: u.valueSat };
}

/**
 * ScriptStats as it comes out of electrs' `json!{}` wrapper: `json!` turns the struct into a
 * serde_json Map (a BTreeMap), so its keys are sorted too, not in struct order.
 */
function statsJson(s: ScriptStats): Json {
  return {
    funded_txo_count: s.fundedTxoCount,
    funded_txo_sum: s.fundedTxoSum,
    spent_txo_count: s.spentTxoCount,
    spent_txo_sum: s.spentTxoSum,
    tx_count: s.txCount,
  };
}

/** `json!({ <kind>: input, "chain_stats", "mempool_stats" })`: keys sorted, so `scripthash` comes last. */
export function scriptStatsJson(kind: "address" | "scripthash", input: string, s: ScriptStatsView): Json {
  const chain_stats = statsJson(s.chain);
  const mempool_stats = statsJson(s.mempool);
  return kind === "address" ? { address: input, chain_stats, mempool_stats } : { chain_stats, mempool_stats, scripthash: input };
}

/** `json!({ "block_height", "merkle", "pos" })`, keys sorted. */
export function merkleProofJson(p: MerkleProofView): Json {
  return { block_height: p.height, merkle: p.branch.map(hashToHex), pos: p.pos };
}

export function summaryJson(s: TxSummaryView): Json {
  return { txid: hashToHex(s.txid), height: s.height, value: s.valueSat, time: s.time, tx_position: s.position };
}

export function recentJson(t: TxOverview): Json {
  return { txid: t.txidHex, fee: t.feeSat, vsize: t.vsize, value: t.valueSat };
}

export function backlogJsonText(b: BacklogStats): string {
  const bins = b.feeHistogram.map(([rate, vsize]) => `[${formatF64(rate)},${vsize}]`).join(",");
  return `{"count":${b.count},"vsize":${b.vsize},"total_fee":${b.totalFeeSat},"fee_histogram":[${bins}]}`;
}

/** `{ "<target>": sat/vB }`; electrs' HashMap order is arbitrary, ascending targets here. */
export function feeEstimatesJsonText(estimates: ReadonlyMap<number, number>): string {
  const parts = [...estimates].sort((a, b) => a[0] - b[0]).map(([target, rate]) => `"${target}":${formatF64(rate)}`);
  return `{${parts.join(",")}}`;
}
