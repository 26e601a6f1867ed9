/**
 * The initial sync's UTXO table on a thread of its own (entry of a Worker, see utxo-thread.ts): it
 * answers each block's ops (prevouts.ts applyOps) while the main thread parses the next blocks and
 * writes their rows. Everything that touches the store (the spill) stays on the main thread, in
 * its transactions: this thread only holds the table.
 */
import { applyOps, dumpChunk } from "./prevouts.ts";
import type { ThreadReply, ThreadRequest } from "./utxo-thread.ts";
import { UtxoTable } from "./utxo-table.ts";

declare const self: Worker;

let table: UtxoTable | null = null;

const post = (reply: ThreadReply, transfer: ArrayBuffer[] = []) => self.postMessage(reply, transfer);

function handle(req: ThreadRequest): void {
  if (req.type === "open") {
    table = new UtxoTable(req.slots);
    return;
  }
  if (!table) throw new Error("the UTXO table was not opened");
  if (req.type === "ops") {
    const r = applyOps(table, req.ops, "evict");
    post({ type: "resolved", seq: req.seq, resolved: r }, [r.spent.buffer as ArrayBuffer, ...r.evictions.map((e) => e.entries.buffer as ArrayBuffer)]);
    return;
  }
  const { entries, next } = dumpChunk(table, req.fromSlot, req.perChunk);
  post({ type: "dumped", seq: req.seq, entries, next }, [entries.buffer as ArrayBuffer]);
}

self.onmessage = (event: MessageEvent<ThreadRequest>) => {
  const req = event.data;
  try {
    handle(req);
  } catch (err) {
    const e = err instanceof Error ? err : new Error(String(err));
    post({ type: "error", seq: "seq" in req ? req.seq : -1, name: e.name, message: e.message });
  }
};
