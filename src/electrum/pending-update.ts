/**
 * What the index did since the last Electrum notification. The main loop's own update and any
 * catch-up a mempool update asks for (the node's tip moved under it) both record here, so blocks
 * indexed by a catch-up are notified like any other; `take` turns it, with the mempool's touched
 * scripts, into one ElectrumUpdate and starts over.
 */
import type { UpdateResult } from "../index/sync.ts";
import type { ElectrumUpdate } from "./subscriptions.ts";

export class PendingElectrumUpdate {
  private tipChanged = false;
  private removed = 0;
  private touched = new Set<string>();

  record(r: Pick<UpdateResult, "blocksAdded" | "blocksRemoved" | "touchedScriptKeysHex">): void {
    if (r.blocksAdded === 0 && r.blocksRemoved === 0) return;
    this.tipChanged = true;
    this.removed += r.blocksRemoved;
    for (const k of r.touchedScriptKeysHex) this.touched.add(k);
  }

  /** The scripts the recorded blocks touched (collected as they were indexed), plus the mempool's. */
  take(mempoolTouched: ReadonlySet<string>): ElectrumUpdate {
    const touched = this.touched;
    for (const k of mempoolTouched) touched.add(k);
    const update: ElectrumUpdate = {
      newTip: this.tipChanged,
      touchedScriptKeysHex: touched,
      // The removed blocks' scripts are gone from the store: every subscription is rechecked.
      recheckAll: this.removed > 0,
    };
    this.tipChanged = false;
    this.removed = 0;
    this.touched = new Set();
    return update;
  }
}
