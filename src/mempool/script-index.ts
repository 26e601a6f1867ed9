/**
 * The mempool's per-script history (electrs' `history: scripthash → Vec<TxHistoryInfo>`) and spend
 * edges (`edges: outpoint → (txid, vin)`), with the queries that read only them. Kept apart from
 * the node sync in mempool.ts so each stays small.
 *
 * Rows of one tx share its `tx.txid` array, so removal and de-duplication compare by identity.
 */
import type { Tx } from "../bitcoin/block.ts";
import { bytesToHex, hashToHex } from "../bitcoin/bytes.ts";
import type { Logger } from "../log.ts";
import { isUnspendable } from "../store/rows.ts";
import type { MempoolHistoryRow, MempoolPrevout, MempoolStats, MempoolUtxo } from "./types.ts";

interface Edge {
  readonly txid: Uint8Array;
  readonly vin: number;
}

export class MempoolScriptIndex {
  /** Script key hex → rows in insertion order. */
  private readonly rows = new Map<string, MempoolHistoryRow[]>();
  /** Outpoint key (see outpointKey) → the mempool input spending it. */
  private readonly edges = new Map<string, Edge>();

  constructor(
    private readonly log: Logger,
    /** --index-unspendables: funding rows for OP_RETURN (and oversize) outputs too. */
    private readonly indexUnspendables: boolean,
  ) {}

  /**
   * Funding rows (one per indexed output), then spending rows (one per input, under its prevout's
   * script), then the edges. Returns the distinct script keys (hex) it wrote to.
   */
  add(tx: Tx, outKeys: readonly Uint8Array[], prevouts: readonly MempoolPrevout[]): string[] {
    const txid = tx.txid;
    const keys = new Set<string>();
    const push = (scriptKey: Uint8Array, row: MempoolHistoryRow) => {
      const hex = bytesToHex(scriptKey);
      keys.add(hex);
      const rows = this.rows.get(hex);
      if (rows === undefined) this.rows.set(hex, [row]);
      else rows.push(row);
    };
    tx.outputs.forEach((o, vout) => {
      if (!this.indexUnspendables && isUnspendable(o.script)) return;
      push(outKeys[vout]!, { txid, kind: "funding", index: vout, valueSat: o.valueSat });
    });
    tx.inputs.forEach((input, vin) => {
      const p = prevouts[vin]!;
      push(p.scriptKey, { txid, kind: "spending", index: vin, valueSat: p.valueSat, prevTxid: input.prevTxid, prevVout: input.prevVout });
    });
    tx.inputs.forEach((input, vin) => {
      const op = outpointKey(input.prevTxid, input.prevVout);
      const other = this.edges.get(op);
      if (other !== undefined) {
        // Two mempool txs spending one outpoint: a replacement seen before the original left. The newer wins.
        this.log.debug(
          `mempool conflict on ${hashToHex(input.prevTxid)}:${input.prevVout}: ${hashToHex(txid)} replaces ${hashToHex(other.txid)}`,
        );
      }
      this.edges.set(op, { txid, vin });
    });
    return [...keys];
  }

  /** Drops a tx's rows under the keys `add` returned for it, and the edges it still owns. */
  remove(tx: Tx, scriptKeysHex: readonly string[]): void {
    const txid = tx.txid;
    for (const hex of scriptKeysHex) {
      const kept = (this.rows.get(hex) ?? []).filter((r) => r.txid !== txid);
      if (kept.length > 0) this.rows.set(hex, kept);
      else this.rows.delete(hex);
    }
    tx.inputs.forEach((input, vin) => {
      const op = outpointKey(input.prevTxid, input.prevVout);
      const edge = this.edges.get(op);
      // A conflicting newer spend may own the edge now (see add): leave it to that tx.
      if (edge !== undefined && edge.txid === txid && edge.vin === vin) this.edges.delete(op);
    });
  }

  history(scriptKey: Uint8Array): MempoolHistoryRow[] {
    return this.rows.get(bytesToHex(scriptKey))?.slice() ?? [];
  }

  historyTxids(scriptKey: Uint8Array): Uint8Array[] {
    const seen = new Set<Uint8Array>();
    for (const r of this.rows.get(bytesToHex(scriptKey)) ?? []) seen.add(r.txid);
    return [...seen];
  }

  stats(scriptKey: Uint8Array): MempoolStats {
    const seen = new Set<Uint8Array>();
    let fundedTxoCount = 0;
    let fundedTxoSum = 0;
    let spentTxoCount = 0;
    let spentTxoSum = 0;
    for (const r of this.rows.get(bytesToHex(scriptKey)) ?? []) {
      seen.add(r.txid);
      if (r.kind === "funding") {
        fundedTxoCount++;
        fundedTxoSum += r.valueSat;
      } else {
        spentTxoCount++;
        spentTxoSum += r.valueSat;
      }
    }
    return { txCount: seen.size, fundedTxoCount, fundedTxoSum, spentTxoCount, spentTxoSum };
  }

  /** Funding rows whose outpoint no mempool input spends, in insertion order. */
  utxos(scriptKey: Uint8Array): MempoolUtxo[] {
    const out: MempoolUtxo[] = [];
    for (const r of this.rows.get(bytesToHex(scriptKey)) ?? []) {
      if (r.kind === "funding" && !this.edges.has(outpointKey(r.txid, r.index))) {
        out.push({ txid: r.txid, vout: r.index, valueSat: r.valueSat });
      }
    }
    return out;
  }

  spendOf(txid: Uint8Array, vout: number): { txid: Uint8Array; vin: number } | null {
    const e = this.edges.get(outpointKey(txid, vout));
    return e ? { txid: e.txid, vin: e.vin } : null;
  }

  /** Number of script keys with rows and of edges (tests check that nothing stale is left). */
  get counts(): { scripts: number; edges: number } {
    return { scripts: this.rows.size, edges: this.edges.size };
  }
}

function outpointKey(txid: Uint8Array, vout: number): string {
  return `${bytesToHex(txid)}:${vout}`;
}
