/**
 * The mempool's view of bitcoind (MempoolNode) over the JSON-RPC client. Replies are checked here,
 * at the boundary, so the mempool can trust their types.
 */
import { hexToBytes } from "../bitcoin/bytes.ts";
import type { DaemonClient } from "../daemon/rpc.ts";
import { DaemonUnreachableError } from "../errors.ts";
import type { MempoolNode } from "./types.ts";

/** Core's RPC_INVALID_ADDRESS_OR_KEY: "No such mempool or blockchain transaction". */
const RPC_NOT_FOUND = -5;
const TXID_HEX = /^[0-9a-fA-F]{64}$/;
const LOWER_TXID_HEX = /^[0-9a-f]{64}$/;

function malformed(method: string, what: string): DaemonUnreachableError {
  return new DaemonUnreachableError(`bitcoind sent a malformed reply to ${method}: ${what}`);
}

export function mempoolNodeOf(rpc: DaemonClient): MempoolNode {
  return {
    async rawMempool() {
      const reply = await rpc.call<unknown>("getrawmempool", [false]);
      if (!Array.isArray(reply)) throw malformed("getrawmempool", "not an array");
      // The mempool keys its map by these strings: lowercase them (Core's are already).
      return reply.map((t: unknown) => {
        if (typeof t !== "string" || !TXID_HEX.test(t)) throw malformed("getrawmempool", `${JSON.stringify(t)} is not a txid`);
        return LOWER_TXID_HEX.test(t) ? t : t.toLowerCase();
      });
    },

    async rawTransactions(txidHexes) {
      if (txidHexes.length === 0) return [];
      // batchSettled chunks the batch (maxBatchSize) and keeps each element's RPC error in its slot.
      const settled = await rpc.batchSettled<unknown>(
        "getrawtransaction",
        txidHexes.map((txid) => [txid, false]),
      );
      return settled.map((s, i) => {
        if ("error" in s) {
          // A tx evicted or replaced since getrawmempool listed it is normal; anything else is not.
          // bcoin answers -1 "Transaction not found." where Core answers -5.
          if (s.error.code === RPC_NOT_FOUND || /not found/i.test(s.error.rpcMessage)) return null;
          throw s.error;
        }
        if (typeof s.result !== "string") {
          throw malformed("getrawtransaction", `${txidHexes[i]}: not a hex string`);
        }
        return hexToBytes(s.result);
      });
    },

    async bestBlockHash() {
      const reply = await rpc.call<unknown>("getbestblockhash");
      if (typeof reply !== "string" || !TXID_HEX.test(reply)) {
        throw malformed("getbestblockhash", "not a block hash");
      }
      return reply.toLowerCase();
    },
  };
}
