/**
 * The initial sync's UTXO table on a thread of its own (entry of a Worker, see utxo-thread.ts): it
 * parses each block, flattens it (flat-block.ts) and applies its ops to the table (prevouts.ts
 * applyOps) while the main thread writes the rows of the blocks before it. Everything that touches
 * the store stays on the main thread, in its transactions: this thread holds the table and the
 * blocks in flight.
 */
import { parseBlock } from "../bitcoin/block.ts";
import { flatBuffers, flattenBlock, type FlattenOptions } from "./flat-block.ts";
import { OpsWriter, type Resolved } from "./prevout-ops.ts";
import { applyOps } from "./prevouts.ts";
import { GC_EVERY_BYTES, type ThreadReply, type ThreadRequest } from "./utxo-thread.ts";
import { UtxoTable } from "./utxo-table.ts";

declare const self: Worker;

let table: UtxoTable | null = null;
let nextTxnum = 0;
let flatten: FlattenOptions = { indexUnspendables: false };
const ops = new OpsWriter();
let bytesSinceGc = 0;

const post = (reply: ThreadReply, transfer: ArrayBuffer[] = []) => self.postMessage(reply, transfer);

const resolvedBuffers = (r: Resolved) => [r.spent.buffer as ArrayBuffer];

function handle(req: ThreadRequest): void {
  if (req.type === "open") {
    table = new UtxoTable(req.slots);
    nextTxnum = req.nextTxnum;
    flatten = req.flatten;
    return;
  }
  if (!table) throw new Error("the UTXO table was not opened");
  if (req.type === "block") {
    // The index never reads witnesses (tx.raw keeps them): skipping their views is ~25 % of the parse.
    const block = parseBlock(req.bytes, { witness: false });
    const firstTxnum = nextTxnum;
    const flat = flattenBlock(block, firstTxnum, flatten, ops);
    const r = applyOps(table, ops.take(), "evict");
    nextTxnum += flat.txCount;
    // The block's own buffer is never transferred back: JSC then keeps every view the parse made
    // of it (hundreds of thousands of Uint8Arrays and their objects) alive past full collections,
    // measured on the 2M chain as +300 MB of this thread's heap and a 1.8 GB peak RSS instead of
    // 1.0 GB. A copy has no views; the main thread asks for one only when it stores the txs' bytes.
    const bytes = req.keepBytes ? req.bytes.slice() : null;
    post({ type: "indexed", seq: req.seq, flat, resolved: r, firstTxnum, bytes }, [
      ...flatBuffers(flat),
      ...resolvedBuffers(r),
      ...(bytes ? [bytes.buffer as ArrayBuffer] : []),
    ]);
    // This thread's heap collects the parse garbage as the main thread's did (utxo-thread.ts GC_EVERY_BYTES).
    if ((bytesSinceGc += req.bytes.length) >= GC_EVERY_BYTES) {
      bytesSinceGc = 0;
      Bun.gc(true);
    }
    return;
  }
  const r = applyOps(table, req.ops, "evict");
  post({ type: "resolved", seq: req.seq, resolved: r }, resolvedBuffers(r));
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
