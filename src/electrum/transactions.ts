/** `blockchain.transaction.get`, `get_merkle` and `id_from_pos`. */
import { parseTxExact } from "../bitcoin/block.ts";
import { bytesToHex, hashToHex } from "../bitcoin/bytes.ts";
import { merkleBranch } from "../bitcoin/merkle.ts";
import type { ServerContext } from "./methods.ts";
import { badRequest, bool, nonNegativeInt, required, txHash } from "./params.ts";
import { verboseTx } from "./tx-verbose.ts";

export function transactionGet(ctx: ServerContext, args: readonly unknown[]): unknown {
  const txid = txHash(required(args, 0, "tx_hash"));
  const verbose = bool(args[1], "verbose", false);
  const found = ctx.query.rawTx(txid);
  if (!found) throw badRequest(`transaction ${hashToHex(txid)} not found`);
  if (!verbose) return bytesToHex(found.raw);
  const s = found.status;
  const block = s.confirmed
    ? { blockHashHex: hashToHex(s.blockHash), confirmations: ctx.query.tipHeight() - s.height + 1, time: s.blockTime }
    : null;
  return verboseTx(parseTxExact(found.raw), ctx.network, block);
}

export function transactionGetMerkle(ctx: ServerContext, args: readonly unknown[]): unknown {
  const txid = txHash(required(args, 0, "tx_hash"));
  const height = nonNegativeInt(required(args, 1, "height"), "height");
  const proof = ctx.query.merkleProof(txid);
  if (!proof) throw badRequest(`transaction ${hashToHex(txid)} is not confirmed`);
  if (proof.height !== height) throw badRequest(`transaction ${hashToHex(txid)} is not in the block at height ${height}`);
  return { block_height: proof.height, merkle: proof.branch.map(hashToHex), pos: proof.pos };
}

export function transactionIdFromPos(ctx: ServerContext, args: readonly unknown[]): unknown {
  const height = nonNegativeInt(required(args, 0, "height"), "height");
  const pos = nonNegativeInt(required(args, 1, "tx_pos"), "tx_pos");
  const merkle = bool(args[2], "merkle", false);
  const block = ctx.query.blockAt(height);
  if (!block) throw badRequest(`height ${height} out of range`);
  if (pos >= block.txCount) throw badRequest(`no tx at position ${pos} in the block at height ${height}`);
  if (!merkle) return hashToHex(ctx.query.blockTxidAt(block, pos)!);
  const txids = ctx.query.blockTxids(block);
  return { tx_hash: hashToHex(txids[pos]!), merkle: merkleBranch(txids, pos).map(hashToHex) };
}
