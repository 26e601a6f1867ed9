/**
 * `blockchain.transaction.get(tx_hash, true)`: the shape of bitcoind's `getrawtransaction <txid> 1`
 * (Core 30), built from our own index, so it needs neither -txindex nor a node. Differences from
 * Core: no `desc` in scriptPubKey (output descriptors are not computed) and no sighash-type
 * decoding (`[ALL]`) in scriptSig asm.
 */
import type { Tx } from "../bitcoin/block.ts";
import { bytesToHex, hashToHex } from "../bitcoin/bytes.ts";
import { computeWtxid } from "../bitcoin/block.ts";
import { addressOf } from "../bitcoin/address.ts";
import type { NetworkParams } from "../bitcoin/network.ts";
import { scriptAsm, scriptType, type ScriptType } from "../bitcoin/script.ts";

/** Where the tx is, for the block fields; null for a mempool tx. */
export interface VerboseBlockInfo {
  readonly blockHashHex: string;
  readonly confirmations: number;
  readonly time: number;
}

const CORE_TYPES: Readonly<Record<ScriptType, string>> = {
  empty: "nonstandard",
  op_return: "nulldata",
  p2pk: "pubkey",
  p2pkh: "pubkeyhash",
  p2sh: "scripthash",
  v0_p2wpkh: "witness_v0_keyhash",
  v0_p2wsh: "witness_v0_scripthash",
  v1_p2tr: "witness_v1_taproot",
  provably_unspendable: "nonstandard",
  unknown: "nonstandard",
};

const RENAMED: Readonly<Record<string, string>> = { OP_CLTV: "OP_CHECKLOCKTIMEVERIFY", OP_CSV: "OP_CHECKSEQUENCEVERIFY", OP_PUSHNUM_NEG1: "-1", OP_0: "0" };

/** Core's ScriptToAsmStr, from the rust-bitcoin style asm: pushes as hex (≤ 4 bytes as numbers), OP_n as n. */
export function coreAsm(script: Uint8Array): string {
  const tokens = scriptAsm(script).split(" ").filter((t) => t.length > 0);
  const out: string[] = [];
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    if (t.startsWith("OP_PUSHBYTES_") || t.startsWith("OP_PUSHDATA")) {
      const data = tokens[i + 1];
      if (data === undefined || data.startsWith("<")) {
        out.push("[error]");
        break;
      }
      i++;
      out.push(data.length <= 8 ? scriptNum(data) : data);
    } else if (t.startsWith("OP_PUSHNUM_")) {
      out.push(t === "OP_PUSHNUM_NEG1" ? "-1" : t.slice("OP_PUSHNUM_".length));
    } else if (t.startsWith("<")) {
      out.push("[error]");
      break;
    } else {
      out.push(RENAMED[t] ?? t);
    }
  }
  return out.join(" ");
}

/** CScriptNum of a minimal push of at most 4 bytes (little-endian, sign in the top bit). */
function scriptNum(hex: string): string {
  const bytes = Buffer.from(hex, "hex");
  if (bytes.length === 0) return "0";
  let n = 0;
  for (let i = bytes.length - 1; i >= 0; i--) n = n * 256 + (i === bytes.length - 1 ? bytes[i]! & 0x7f : bytes[i]!);
  return String(bytes[bytes.length - 1]! & 0x80 ? -n : n);
}

export function verboseTx(tx: Tx, network: NetworkParams, block: VerboseBlockInfo | null): Record<string, unknown> {
  const vin = tx.inputs.map((input) => {
    const witness = input.witness.length > 0 ? { txinwitness: input.witness.map(bytesToHex) } : {};
    if (tx.isCoinbase) return { coinbase: bytesToHex(input.scriptSig), ...witness, sequence: input.sequence };
    return {
      txid: hashToHex(input.prevTxid),
      vout: input.prevVout,
      scriptSig: { asm: coreAsm(input.scriptSig), hex: bytesToHex(input.scriptSig) },
      ...witness,
      sequence: input.sequence,
    };
  });
  const vout = tx.outputs.map((o, n) => {
    const address = addressOf(o.script, network);
    return {
      value: o.valueSat / 1e8,
      n,
      scriptPubKey: {
        asm: coreAsm(o.script),
        hex: bytesToHex(o.script),
        ...(address ? { address } : {}),
        type: CORE_TYPES[scriptType(o.script)],
      },
    };
  });
  return {
    txid: hashToHex(tx.txid),
    hash: hashToHex(tx.hasWitness ? computeWtxid(tx) : tx.txid),
    version: tx.version,
    size: tx.size,
    vsize: tx.vsize,
    weight: tx.weight,
    locktime: tx.lockTime,
    vin,
    vout,
    hex: bytesToHex(tx.raw),
    ...(block ? { blockhash: block.blockHashHex, confirmations: block.confirmations, time: block.time, blocktime: block.time } : {}),
  };
}
