/**
 * What the index did since the last Electrum notification. The main loop's own update and any
 * catch-up a mempool update asks for (the node's tip moved under it) both record here, so blocks
 * indexed by a catch-up are notified like any other; `take` turns it, with the mempool's touched
 * scripts, into one ElectrumUpdate and starts over.
 */
import type { UpdateResult } from "../index/sync.ts";
import { scriptKeysOfBlocks } from "../query/electrum-history.ts";
import type { StoreReader } from "../store/read.ts";
import type { ElectrumUpdate } from "./subscriptions.ts";

export class PendingElectrumUpdate {
  /** Lowest height indexed since the last take (Infinity: none). */
  private fromHeight = Number.POSITIVE_INFINITY;
  private removed = 0;

  record(r: Pick<UpdateResult, "tipHeight" | "blocksAdded" | "blocksRemoved">): void {
    if (r.blocksAdded === 0 && r.blocksRemoved === 0) return;
    this.fromHeight = Math.min(this.fromHeight, r.tipHeight - r.blocksAdded + 1);
    this.removed += r.blocksRemoved;
  }

  /** The scripts of every block from the lowest recorded height to `tipHeight` (read from `reader`), plus the mempool's. */
  take(reader: StoreReader, tipHeight: number, mempoolTouched: ReadonlySet<string>): ElectrumUpdate {
    const touched = this.fromHeight <= tipHeight ? scriptKeysOfBlocks(reader, this.fromHeight, tipHeight) : new Set<string>();
    for (const k of mempoolTouched) touched.add(k);
    const update: ElectrumUpdate = {
      newTip: this.fromHeight !== Number.POSITIVE_INFINITY || this.removed > 0,
      touchedScriptKeysHex: touched,
      // The removed blocks' scripts are gone from the store: every subscription is rechecked.
      recheckAll: this.removed > 0,
    };
    this.fromHeight = Number.POSITIVE_INFINITY;
    this.removed = 0;
    return update;
  }
}
